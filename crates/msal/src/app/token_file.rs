//! A client assertion read from a file: workload identity federation.
//!
//! On Kubernetes (AKS workload identity) the platform projects a service account token into a
//! file and rotates it about every hour, by swapping the symlink the file's path goes through.
//! The app presents that token as its client assertion. The file is read again only when it
//! changed (its device, inode, length or modification time), so that a busy service does not
//! read a file per request, yet never sends a token the platform has already replaced.
//!
//! The file is small (a JWT of a few KiB); it is read with blocking I/O on the caller's task,
//! which costs less than a hop to a blocking thread and works on any executor.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::{Error, codes};
use crate::secret::Assertion;

/// The largest token file read; a service account token is a few KiB.
pub const MAX_TOKEN_FILE_SIZE: u64 = 64 * 1024;

/// What identifies one version of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Stamp {
            dev,
            ino,
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// A federated token file: the client assertion of workload identity federation.
pub struct FederatedTokenFile {
    path: PathBuf,
    last: Mutex<Option<(Stamp, Assertion)>>,
}

impl fmt::Debug for FederatedTokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedTokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FederatedTokenFile {
    /// The token file at `path` (read at each request that needs it, if it changed).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FederatedTokenFile {
            path: path.into(),
            last: Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The assertion: the file's current content, trimmed.
    pub(crate) fn assertion(&self) -> Result<Assertion, Error> {
        let meta = std::fs::metadata(&self.path).map_err(|e| self.unreadable(e))?;
        let stamp = Stamp::of(&meta);
        if let Some((seen, assertion)) = &*self.lock()
            && *seen == stamp
        {
            return Ok(assertion.clone());
        }
        let assertion = self.read(&meta)?;
        *self.lock() = Some((stamp, assertion.clone()));
        Ok(assertion)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Stamp, Assertion)>> {
        // A panic elsewhere while the lock was held leaves a consistent value behind.
        self.last.lock().unwrap_or_else(|p| p.into_inner())
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
    fn an_unchanged_file_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        write(&path, "eyJ.first.sig");
        let f = FederatedTokenFile::new(&path);
        f.assertion().unwrap();
        // The same length, inode and modification time: the remembered assertion is served.
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std::io::Write::write_all(&mut &file, b"eyJ.other.sig").unwrap();
        file.set_modified(modified).unwrap();
        drop(file);
        assert_eq!(f.assertion().unwrap().secret(), "eyJ.first.sig");
        // A later modification time: read again.
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_modified(modified + std::time::Duration::from_secs(1))
            .unwrap();
        drop(file);
        assert_eq!(f.assertion().unwrap().secret(), "eyJ.other.sig");
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
