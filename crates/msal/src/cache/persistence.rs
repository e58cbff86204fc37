//! Where a [`TokenCache`](super::TokenCache) keeps its serialized state between processes.

use std::fmt;

use crate::error::Error;
use crate::http::BoxFuture;

/// An opaque fingerprint of a persisted cache state (for a file: its length, modification
/// time and inode). Two equal versions mean the stored data did not change in between.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheVersion([u64; 4]);

impl CacheVersion {
    /// A version from the parts that identify a stored state.
    pub const fn from_parts(parts: [u64; 4]) -> Self {
        CacheVersion(parts)
    }
}

impl fmt::Debug for CacheVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheVersion({:x?})", self.0)
    }
}

/// What [`CachePersistence::load_if_changed`] found.
#[derive(Debug)]
#[non_exhaustive]
pub enum LoadOutcome {
    /// The stored state is still the version the cache last loaded or saved: keep the
    /// in-memory contents.
    Unchanged,
    /// The stored state, to replace the in-memory contents.
    Loaded {
        /// The serialized cache; `None` when nothing is stored (an empty cache).
        data: Option<String>,
        /// Its version, when the persistence can tell; `None` makes the next access load
        /// again.
        version: Option<CacheVersion>,
    },
}

/// A cross-process lock on a persisted cache, held until dropped (see
/// [`CachePersistence::lock`]).
#[must_use = "the lock is released when the guard is dropped"]
pub struct PersistenceLock {
    held: Option<Box<dyn Send + Sync>>,
}

impl PersistenceLock {
    /// A guard that holds nothing: for persistences that no other process shares.
    pub fn none() -> Self {
        PersistenceLock { held: None }
    }

    /// A guard holding `lock` (a file handle, a connection...) until it is dropped.
    pub fn new(lock: impl Send + Sync + 'static) -> Self {
        PersistenceLock {
            held: Some(Box::new(lock)),
        }
    }
}

impl fmt::Debug for PersistenceLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistenceLock")
            .field("held", &self.held.is_some())
            .finish()
    }
}

/// Where a [`TokenCache`](super::TokenCache) loads its contents from before each access and
/// saves them to after each change: MSAL's before-access and after-access hooks.
///
/// Implement [`load`](Self::load) and [`save`](Self::save); override
/// [`load_if_changed`](Self::load_if_changed) and [`save_versioned`](Self::save_versioned)
/// too when the store can tell cheaply whether it changed, so an unchanged cache is not read
/// and parsed again on every access. The cache serializes its own calls (one load or
/// save at a time per cache).
///
/// When several processes share the store, override [`lock`](Self::lock): the cache then
/// makes each change one step across processes — lock, reload if changed, apply the change
/// to what was just loaded, save, unlock — so concurrent writers merge their changes instead
/// of overwriting each other's.
///
/// Errors should be `Client` errors with the code
/// [`cache_persistence_error`](crate::error::codes::CACHE_PERSISTENCE) for I/O failures and
/// [`cache_corrupt`](crate::error::codes::CACHE_CORRUPT) for unreadable data.
pub trait CachePersistence: Send + Sync + std::fmt::Debug {
    /// Reads the stored cache: MSAL's JSON, or `None` when nothing is stored.
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, Error>>;

    /// Stores the cache (MSAL's JSON), replacing what was stored. (A caller other than the
    /// cache that shares the store with other processes holds [`lock`](Self::lock) around its
    /// load and save, as the cache does.)
    fn save(&self, data: String) -> BoxFuture<'_, Result<(), Error>>;

    /// The before-access hook: reads the stored cache unless it is still at version `last`
    /// (`None`: the cache has not loaded anything yet, always read). The default always
    /// reads through [`load`](Self::load).
    fn load_if_changed(
        &self,
        last: Option<CacheVersion>,
    ) -> BoxFuture<'_, Result<LoadOutcome, Error>> {
        let _ = last;
        Box::pin(async move {
            Ok(LoadOutcome::Loaded {
                data: self.load().await?,
                version: None,
            })
        })
    }

    /// The after-access hook: stores the cache through [`save`](Self::save) and returns the
    /// version now stored, when known (the default does not know).
    fn save_versioned(&self, data: String) -> BoxFuture<'_, Result<Option<CacheVersion>, Error>> {
        Box::pin(async move {
            self.save(data).await?;
            Ok(None)
        })
    }

    /// Takes the cross-process lock that the cache holds around each change (load, change,
    /// save), waiting for another holder to release it. The cache takes it once per change and
    /// never twice at a time; reads do not take it (a store replaced atomically is never seen
    /// half-written). The default holds nothing: right for a store no other process writes.
    ///
    /// A save can outlive its future: when the caller drops it, a write already handed to
    /// a blocking thread goes on. A persistence whose saves can do so keeps the lock until
    /// the write ends (as [`FileCachePersistence`](super::FileCachePersistence) does), so
    /// that a write cannot land after another process took the lock and saved.
    ///
    /// # Errors
    ///
    /// A `cache_persistence_error` when the lock cannot be had (for example, in time).
    fn lock(&self) -> BoxFuture<'_, Result<PersistenceLock, Error>> {
        Box::pin(async { Ok(PersistenceLock::none()) })
    }

    /// Called, with the [`lock`](Self::lock) held, when the stored data that the cache just
    /// loaded is not a valid cache (`error`, a `cache_corrupt` error). Return `Ok(())` after
    /// moving the data out of the way (it must not be thrown away silently): the cache then
    /// starts empty. The default returns `error`, so the access fails and the data is left as
    /// it is.
    fn recover_corrupt(&self, error: Error) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move { Err(error) })
    }
}
