//! A client assertion read from a file: workload identity federation.
//!
//! On Kubernetes (AKS workload identity) the platform projects a service account token into a
//! file and rotates it about every hour, by swapping the symlink the file's path goes through.
//! The app presents that token as its client assertion. The file is read at every request
//! that needs an assertion: only a cache miss does, so a read costs nothing beside the token
//! request it precedes, and no rotation can be missed (a stamp of inode, length and time can
//! repeat when the kubelet rewrites the file within one timestamp tick).
//!
//! The file is small (a JWT of a few KiB); it is read with blocking I/O on the caller's task,
//! which costs less than a hop to a blocking thread and works on any executor.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, codes};
use crate::secret::Assertion;

/// The largest token file read; a service account token is a few KiB.
pub const MAX_TOKEN_FILE_SIZE: u64 = 64 * 1024;

/// A federated token file: the client assertion of workload identity federation.
pub struct FederatedTokenFile {
    path: PathBuf,
}

impl fmt::Debug for FederatedTokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedTokenFile")
            .field("path", &self.path)
            .finish()
    }
}

impl FederatedTokenFile {
    /// The token file at `path`, read at each request that needs an assertion.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FederatedTokenFile { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The assertion: the file's current content, trimmed.
    pub(crate) fn assertion(&self) -> Result<Assertion, Error> {
        let meta = std::fs::metadata(&self.path).map_err(|e| self.unreadable(e))?;
        self.read(&meta)
    }

    fn read(&self, meta: &std::fs::Metadata) -> Result<Assertion, Error> {
        if !meta.is_file() {
            return Err(self.invalid("is not a regular file"));
        }
        if meta.len() > MAX_TOKEN_FILE_SIZE {
            return Err(self.invalid("is larger than 64 KiB"));
        }
        let file = std::fs::File::open(&self.path).map_err(|e| self.unreadable(e))?;
        // The file may grow between the check and the read: read one byte past the limit.
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        file.take(MAX_TOKEN_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.unreadable(e))?;
        if bytes.len() as u64 > MAX_TOKEN_FILE_SIZE {
            return Err(self.invalid("is larger than 64 KiB"));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| self.invalid("is not UTF-8 text"))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(self.invalid("is empty"));
        }
        if token
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(self.invalid("holds more than one token"));
        }
        Ok(Assertion::new(token))
    }

    fn unreadable(&self, e: std::io::Error) -> Error {
        Error::client(
            codes::INVALID_ASSERTION_FILE,
            format!(
                "the federated token file {} cannot be read: {e}",
                self.path.display()
            ),
        )
        .with_source(e)
    }

    fn invalid(&self, why: &str) -> Error {
        Error::client(
            codes::INVALID_ASSERTION_FILE,
            format!("the federated token file {} {why}", self.path.display()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        // A new file renamed over the old one, as a rotation does.
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn reads_trims_and_follows_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        write(&path, "eyJ.first.sig\n");
        let f = FederatedTokenFile::new(&path);
        assert_eq!(f.assertion().unwrap().secret(), "eyJ.first.sig");
        write(&path, "eyJ.second.sig");
        assert_eq!(f.assertion().unwrap().secret(), "eyJ.second.sig");
    }

    #[test]
    fn refuses_missing_empty_huge_and_odd_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = FederatedTokenFile::new(dir.path().join("none"));
        let e = missing.assertion().unwrap_err();
        assert_eq!(e.code(), codes::INVALID_ASSERTION_FILE);
        assert!(std::error::Error::source(&e).is_some());

        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("empty", b" \n".to_vec(), "is empty"),
            ("huge", vec![b'a'; 64 * 1024 + 1], "larger than 64 KiB"),
            ("binary", vec![0xff, 0xfe], "not UTF-8"),
            ("two", b"a.b.c d.e.f".to_vec(), "more than one token"),
        ];
        for (name, bytes, why) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let e = FederatedTokenFile::new(&path).assertion().unwrap_err();
            assert_eq!(e.code(), codes::INVALID_ASSERTION_FILE, "{name}");
            assert!(e.description().contains(why), "{name}: {}", e.description());
        }
        let e = FederatedTokenFile::new(dir.path()).assertion().unwrap_err();
        assert!(e.description().contains("not a regular file"));
    }

    #[test]
    fn debug_shows_the_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        write(&path, "eyJ.secret.sig");
        let f = FederatedTokenFile::new(&path);
        f.assertion().unwrap();
        let d = format!("{f:?}");
        assert!(d.contains("token") && !d.contains("secret.sig"), "{d}");
    }
}
