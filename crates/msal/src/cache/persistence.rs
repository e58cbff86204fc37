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

/// Where a [`TokenCache`](super::TokenCache) loads its contents from before each access and
/// saves them to after each change: MSAL's before-access and after-access hooks.
///
/// Implement [`load`](Self::load) and [`save`](Self::save); override
/// [`load_if_changed`](Self::load_if_changed) and [`save_versioned`](Self::save_versioned)
/// too when the store can tell cheaply whether it changed, so an unchanged cache is not read
/// and parsed again on every access. The cache serializes its own calls (one load or
/// save at a time per cache); coordinating several processes is up to the implementation.
///
/// Errors should be `Client` errors with the code
/// [`cache_persistence_error`](crate::error::codes::CACHE_PERSISTENCE) for I/O failures and
/// [`cache_corrupt`](crate::error::codes::CACHE_CORRUPT) for unreadable data.
pub trait CachePersistence: Send + Sync + std::fmt::Debug {
    /// Reads the stored cache: MSAL's JSON, or `None` when nothing is stored.
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, Error>>;

    /// Stores the cache (MSAL's JSON), replacing what was stored.
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
}
