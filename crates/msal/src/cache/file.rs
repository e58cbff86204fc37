//! A cache file, as the CLI's `--cache FILE` uses: MSAL's JSON, replaced atomically, shared
//! safely between processes through a lock file, optionally encrypted.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::crypto::{self, EncryptionFallback, EncryptionKey, KeyStore, KeyStoreErrorKind};
use super::file_io::{
    acquire_lock, check_file, io_error, is_symlink, move_aside, open_no_follow, untrusted,
    version_of, write_atomic,
};
use super::persistence::{CachePersistence, CacheVersion, LoadOutcome, PersistenceLock};
use crate::error::{Error, codes};
use crate::http::BoxFuture;

/// The version of a missing file.
const MISSING: CacheVersion = CacheVersion::from_parts([u64::MAX; 4]);

/// How long [`CachePersistence::lock`] waits for another process by default: as long as MSAL
/// .NET's `CrossPlatLock` (600 tries, 100 ms apart).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// Keeps a token cache in a file, in MSAL's JSON (the format MSAL Python's
/// `SerializableTokenCache` reads and writes), by default unencrypted.
///
/// - A missing or empty file is an empty cache. A file that is not a valid cache is a
///   `Client` error with the code `cache_corrupt`, and the file is left as it is; or, with
///   [`recover_corrupt(true)`](Self::recover_corrupt), it is renamed to
///   `<file>.corrupt-<UTC time>` (with a warning through `tracing`) and the cache starts empty.
/// - Saving writes a temporary file in the same directory (mode `0600` on Unix), flushes it
///   to disk, then renames it over the cache file, so a reader never sees a partial file.
///   Missing parent directories are created (mode `0700` on Unix).
/// - Before each access the file is read again only when its length, modification time or
///   inode changed since this process last read or wrote it: one `stat` per access otherwise.
/// - Each change a [`TokenCache`](super::TokenCache) makes is one step across processes: it
///   takes an OS file lock on `<file>.lockfile` (the name msal-extensions uses), reloads the
///   file if another process changed it, applies the change, saves, and unlocks. Processes
///   sharing the file merge their changes instead of overwriting each other's. A lock whose
///   holder died is released by the operating system; waiting for a live holder is bounded
///   by [`lock_timeout`](Self::lock_timeout) (60 s by default), then a
///   `cache_persistence_error`.
/// - A file another local user could have planted is refused with a `cache_persistence_error`
///   and left as it is: on Unix, a cache file or lock file that is a symbolic link or not a
///   regular file, or is owned by another user, and a cache file that other users can write.
/// - With [`encrypted`](Self::encrypted), the file is encrypted with a key kept in a
///   [`KeyStore`] (the OS secret store through
///   `KeyringKeyStore` with the `keyring` feature).
#[derive(Debug, Clone)]
pub struct FileCachePersistence {
    path: PathBuf,
    lock_path: PathBuf,
    lock_timeout: Duration,
    recover_corrupt: bool,
    encryption: Option<Arc<Encryption>>,
    held: HeldLock,
}

/// The lock file handle of the lock this value holds, if it holds one. The blocking writes
/// made under the lock (a save, moving a corrupt file aside) keep a handle too, so the OS
/// lock lasts until they end even when the caller's future is dropped first: otherwise a
/// cancelled save could rename its file after another process took the lock and saved,
/// undoing that process's change. Not shared between clones, which lock on their own.
#[derive(Debug, Default)]
struct HeldLock(Mutex<Weak<File>>);

impl HeldLock {
    fn set(&self, file: &Arc<File>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(file);
    }

    /// The lock file handle while the lock is held, to keep it held.
    fn get(&self) -> Option<Arc<File>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .upgrade()
    }
}

impl Clone for HeldLock {
    fn clone(&self) -> Self {
        HeldLock::default()
    }
}

/// The encryption of a file: its key store, the fallback, and what was found so far.
#[derive(Debug)]
struct Encryption {
    store: Arc<dyn KeyStore>,
    fallback: EncryptionFallback,
    state: Mutex<KeyState>,
}

#[derive(Debug, Clone)]
enum KeyState {
    /// Not asked yet, or no key stored yet.
    Unknown,
    /// The key, as stored.
    Key(EncryptionKey),
    /// No secret store, and the fallback is plain text (warned once).
    PlainText,
}

impl FileCachePersistence {
    /// A persistence in the file at `path` (created on the first save), unencrypted, with the
    /// lock file `<path>.lockfile`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lockfile");
        FileCachePersistence {
            path,
            lock_path: PathBuf::from(lock_path),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            recover_corrupt: false,
            encryption: None,
            held: HeldLock::default(),
        }
    }

    /// How long to wait for the cross-process lock before failing with a
    /// `cache_persistence_error` (60 s by default). A timeout too large to add to the current
    /// time (such as `Duration::MAX`) waits as long as it takes.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Whether a corrupt file (not a valid cache, not UTF-8, or not decryptable) is moved
    /// aside to `<file>.corrupt-<UTC time>` and replaced by an empty cache (`true`), or reported
    /// as a `cache_corrupt` error and left as it is (`false`, the default).
    pub fn recover_corrupt(mut self, recover: bool) -> Self {
        self.recover_corrupt = recover;
        self
    }

    /// Encrypts the file with a random 256-bit key kept in `key_store` (generated and stored
    /// on the first save), with XChaCha20-Poly1305. Where the key store is unavailable
    /// (headless Linux), `fallback` decides: a `cache_persistence_error`, or a plain-text file
    /// (mode `0600`) and a warning.
    ///
    /// A plain-text cache file found where an encrypted one is expected is read (it is
    /// encrypted on the next save); an encrypted file that does not decrypt with the stored
    /// key is `cache_corrupt`.
    pub fn encrypted(mut self, key_store: Arc<dyn KeyStore>, fallback: EncryptionFallback) -> Self {
        self.encryption = Some(Arc::new(Encryption {
            store: key_store,
            fallback,
            state: Mutex::new(KeyState::Unknown),
        }));
        self
    }

    /// The path of the cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the lock file (`<file>.lockfile`).
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }
}

impl Encryption {
    fn state(&self) -> KeyState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_state(&self, state: KeyState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// What to do when the key store is unavailable.
    fn unavailable(&self, path: &Path, e: crypto::KeyStoreError) -> Result<KeyState, Error> {
        match self.fallback {
            EncryptionFallback::Fail => Err(Error::client(
                codes::CACHE_PERSISTENCE,
                format!(
                    "the token cache file {} is to be encrypted but {e}; choose \
                     EncryptionFallback::PlainText to keep it in plain text instead",
                    path.display()
                ),
            )
            .with_source(e)),
            EncryptionFallback::PlainText => {
                tracing::warn!(
                    path = %path.display(),
                    reason = %e,
                    "no secret store to keep the token cache key in: the token cache file is \
                     kept in plain text (mode 0600)"
                );
                self.set_state(KeyState::PlainText);
                Ok(KeyState::PlainText)
            }
        }
    }

    /// The key (or the plain-text fallback); with `create`, a key is generated and stored when
    /// none is (the caller holds the file lock, so two processes do not both create one).
    fn resolve(&self, path: &Path, create: bool) -> Result<KeyState, Error> {
        match self.state() {
            KeyState::Unknown => {}
            known => return Ok(known),
        }
        let store_error = |e: crypto::KeyStoreError| {
            Error::client(
                codes::CACHE_PERSISTENCE,
                format!(
                    "cannot get the key of the token cache file {}: {e}",
                    path.display()
                ),
            )
            .with_source(e)
        };
        match self.store.load_key() {
            Ok(Some(key)) => {
                self.set_state(KeyState::Key(key.clone()));
                return Ok(KeyState::Key(key));
            }
            Ok(None) if !create => return Ok(KeyState::Unknown),
            Ok(None) => {}
            Err(e) if e.kind() == KeyStoreErrorKind::Unavailable => {
                return self.unavailable(path, e);
            }
            Err(e) => return Err(store_error(e)),
        }
        let key = EncryptionKey::generate();
        match self.store.store_key(&key) {
            Ok(()) => {}
            Err(e) if e.kind() == KeyStoreErrorKind::Unavailable => {
                return self.unavailable(path, e);
            }
            Err(e) => return Err(store_error(e)),
        }
        // Read back what the store keeps, in case another writer stored a key meanwhile.
        let key = match self.store.load_key() {
            Ok(Some(stored)) => stored,
            Ok(None) => key,
            Err(e) => return Err(store_error(e)),
        };
        self.set_state(KeyState::Key(key.clone()));
        Ok(KeyState::Key(key))
    }

    /// The file's bytes, decrypted when they are encrypted.
    fn decode(&self, path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
        if !crypto::is_encrypted(&bytes) {
            // Plain text (empty, or written before encryption was turned on, or by the
            // plain-text fallback): read as it is, encrypted on the next save.
            return Ok(bytes);
        }
        let what = path.display().to_string();
        match self.resolve(path, false)? {
            KeyState::Key(key) => crypto::open(&key, &bytes, &what),
            KeyState::Unknown => Err(Error::client(
                codes::CACHE_CORRUPT,
                format!(
                    "the token cache file {what} is encrypted but the key store has no key \
                     for it"
                ),
            )),
            KeyState::PlainText => Err(Error::client(
                codes::CACHE_CORRUPT,
                format!(
                    "the token cache file {what} is encrypted and there is no secret store to \
                     get its key from"
                ),
            )),
        }
    }

    /// The bytes to write for `data`.
    fn encode(&self, path: &Path, data: &str) -> Result<Vec<u8>, Error> {
        match self.resolve(path, true)? {
            KeyState::Key(key) => crypto::seal(&key, data.as_bytes()),
            _ => Ok(data.as_bytes().to_vec()),
        }
    }
}

/// Reads the file and the version of what was read (from the open file, so they agree),
/// decrypting it when it is encrypted. A file that is not safe to trust is refused (see
/// [`check_file`]).
fn read(
    path: &Path,
    encryption: Option<&Encryption>,
) -> Result<(Option<String>, CacheVersion), Error> {
    let mut file = match open_no_follow(path, std::fs::OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, MISSING)),
        Err(_) if is_symlink(path) => {
            return Err(untrusted("file", path, "is a symbolic link"));
        }
        Err(e) => return Err(io_error("read", path, e)),
    };
    let meta = file.metadata().map_err(|e| io_error("read", path, e))?;
    if meta.is_dir() {
        return Err(Error::client(
            codes::CACHE_PERSISTENCE,
            format!("the token cache file {} is a directory", path.display()),
        ));
    }
    check_file("file", path, &meta, true)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(|e| io_error("read", path, e))?;
    if let Some(encryption) = encryption {
        bytes = encryption.decode(path, bytes)?;
    }
    let mut data = String::from_utf8(bytes).map_err(|e| {
        Error::client(
            codes::CACHE_CORRUPT,
            format!(
                "the token cache file {} is corrupt: it is not UTF-8 text",
                path.display()
            ),
        )
        .with_source(e)
    })?;
    if data.starts_with('\u{feff}') {
        data.drain(..'\u{feff}'.len_utf8());
    }
    Ok((Some(data), version_of(&meta)))
}

/// Runs blocking file I/O off the async executor when there is a Tokio runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await.map_err(|e| {
            Error::client(
                codes::CACHE_PERSISTENCE,
                "the token cache file task did not complete",
            )
            .with_source(e)
        }),
        Err(_) => Ok(f()),
    }
}

impl CachePersistence for FileCachePersistence {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, Error>> {
        Box::pin(async move {
            let path = self.path.clone();
            let encryption = self.encryption.clone();
            Ok(blocking(move || read(&path, encryption.as_deref()))
                .await??
                .0)
        })
    }

    fn save(&self, data: String) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move { self.save_versioned(data).await.map(|_| ()) })
    }

    fn load_if_changed(
        &self,
        last: Option<CacheVersion>,
    ) -> BoxFuture<'_, Result<LoadOutcome, Error>> {
        Box::pin(async move {
            if let Some(last) = last {
                // One stat: cheap enough to run inline. Of the name itself: a link put in the
                // file's place is not the file read last, and `read` refuses it.
                match std::fs::symlink_metadata(&self.path) {
                    Ok(m) if version_of(&m) == last => return Ok(LoadOutcome::Unchanged),
                    Err(e) if e.kind() == io::ErrorKind::NotFound && last == MISSING => {
                        return Ok(LoadOutcome::Unchanged);
                    }
                    _ => {}
                }
            }
            let path = self.path.clone();
            let encryption = self.encryption.clone();
            let (data, version) = blocking(move || read(&path, encryption.as_deref())).await??;
            Ok(LoadOutcome::Loaded {
                data,
                version: Some(version),
            })
        })
    }

    fn save_versioned(&self, data: String) -> BoxFuture<'_, Result<Option<CacheVersion>, Error>> {
        Box::pin(async move {
            let path = self.path.clone();
            let encryption = self.encryption.clone();
            // Under the lock, the write keeps it until the renamed file is in place (see
            // `HeldLock`).
            let held = self.held.get();
            let version = blocking(move || {
                let _held = held;
                let bytes = match &encryption {
                    Some(e) => e.encode(&path, &data)?,
                    None => data.into_bytes(),
                };
                write_atomic(&path, &bytes)
            })
            .await??;
            Ok(Some(version))
        })
    }

    fn lock(&self) -> BoxFuture<'_, Result<PersistenceLock, Error>> {
        Box::pin(async move {
            let lock_path = self.lock_path.clone();
            let timeout = self.lock_timeout;
            let file = Arc::new(blocking(move || acquire_lock(&lock_path, timeout)).await??);
            self.held.set(&file);
            Ok(PersistenceLock::new(file))
        })
    }

    fn recover_corrupt(&self, error: Error) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            if !self.recover_corrupt {
                return Err(error);
            }
            let path = self.path.clone();
            // Called under the lock: the rename keeps it until done (see `HeldLock`).
            let held = self.held.get();
            let moved = blocking(move || {
                let _held = held;
                move_aside(&path)
            })
            .await??;
            if let Some(moved) = moved {
                tracing::warn!(
                    path = %self.path.display(),
                    moved_to = %moved.display(),
                    error = %error,
                    "the token cache file is corrupt: moved aside, starting with an empty cache"
                );
            }
            Ok(())
        })
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
