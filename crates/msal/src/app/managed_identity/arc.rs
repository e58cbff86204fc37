//! Azure Arc's challenge: the agent answers the first request with `401` and
//! `WWW-Authenticate: Basic realm=<path of a key file>`; whoever can read that file (root or
//! the `himds` group) proves it by sending its content back as `Authorization: Basic`.
//!
//! The path comes from an HTTP answer, so it is checked before anything is read: it must name
//! a `.key` file directly in the agent's token directory (after resolving symlinks), of at
//! most 4096 bytes. Otherwise anyone able to answer on the endpoint's port could make the
//! library read, and send, any file the process can read.

use std::io::Read;
use std::path::{Component, Path};

use crate::error::{Error, codes};
use crate::http::{HeaderValue, HttpResponse};
use crate::secret::ManagedIdentitySecret;

/// The largest key file read (as MSAL's).
pub(crate) const MAX_KEY_FILE_SIZE: u64 = 4096;

fn refused(why: impl std::fmt::Display) -> Error {
    Error::client(
        codes::MANAGED_IDENTITY_INVALID_CHALLENGE,
        format!("the Azure Arc agent's challenge was refused: {why}"),
    )
}

/// The key file path of a `WWW-Authenticate: Basic realm=<path>` header.
fn realm(resp: &HttpResponse) -> Result<&str, Error> {
    let header = resp
        .headers
        .get(http::header::WWW_AUTHENTICATE)
        .ok_or_else(|| refused("the 401 answer has no WWW-Authenticate header"))?
        .to_str()
        .map_err(|_| refused("its WWW-Authenticate header is not text"))?
        .trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .ok_or_else(|| refused("its WWW-Authenticate header is not `Basic realm=<path>`"))?;
    let path = rest
        .trim()
        .strip_prefix("realm=")
        .filter(|_| scheme.eq_ignore_ascii_case("basic"))
        .ok_or_else(|| refused("its WWW-Authenticate header is not `Basic realm=<path>`"))?;
    let path = path.trim().trim_matches('"');
    if path.is_empty() {
        return Err(refused("its WWW-Authenticate header names no file"));
    }
    Ok(path)
}

/// Reads the key file that the challenge names, once it is found to be a `.key` file of at
/// most [`MAX_KEY_FILE_SIZE`] bytes directly in `directory`.
pub(crate) fn read_key(
    resp: &HttpResponse,
    directory: &Path,
) -> Result<ManagedIdentitySecret, Error> {
    let named = Path::new(realm(resp)?);
    let is_key = |p: &Path| p.extension().is_some_and(|e| e == "key");
    if !is_key(named) {
        return Err(refused("the file it names does not end in .key"));
    }
    if !named.is_absolute()
        || named
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(refused(
            "the file it names is not an absolute path without `..`",
        ));
    }
    let dir = directory.canonicalize().map_err(|e| {
        refused(format_args!(
            "the token directory {} cannot be resolved: {e}",
            directory.display()
        ))
    })?;
    // Resolves every symlink: a link in the directory to a file elsewhere is refused below.
    let file = named
        .canonicalize()
        .map_err(|e| refused(format_args!("the file it names cannot be resolved: {e}")))?;
    if file.parent() != Some(dir.as_path()) || !is_key(&file) {
        return Err(refused(format_args!(
            "the file it names is not a .key file in {}",
            dir.display()
        )));
    }
    let meta = std::fs::metadata(&file)
        .map_err(|e| refused(format_args!("the file it names cannot be read: {e}")))?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_SIZE {
        return Err(refused(format_args!(
            "the file it names is not a file of at most {MAX_KEY_FILE_SIZE} bytes"
        )));
    }
    // Read with a bound too: the file may have grown since its size was read.
    let mut content = zeroize::Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    std::fs::File::open(&file)
        .and_then(|f| f.take(MAX_KEY_FILE_SIZE + 1).read_to_end(&mut content))
        .map_err(|e| refused(format_args!("the file it names cannot be read: {e}")))?;
    if content.len() as u64 > MAX_KEY_FILE_SIZE {
        return Err(refused(format_args!(
            "the file it names is larger than {MAX_KEY_FILE_SIZE} bytes"
        )));
    }
    let text = std::str::from_utf8(&content)
        .map_err(|_| refused("the key file is not text"))?
        .trim();
    Ok(ManagedIdentitySecret::new(text))
}

/// The `Authorization: Basic <key>` header, marked sensitive.
pub(crate) fn authorization(key: &ManagedIdentitySecret) -> Result<HeaderValue, Error> {
    let value = zeroize::Zeroizing::new(format!("Basic {}", key.secret()));
    let mut v = HeaderValue::from_str(&value)
        .map_err(|_| refused("the key file's content cannot be sent in an HTTP header"))?;
    v.set_sensitive(true);
    Ok(v)
}
