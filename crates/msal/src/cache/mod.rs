//! The token cache, in MSAL's unified cache schema.
//!
//! A [`TokenCache`] holds access tokens, refresh tokens, id tokens, accounts and app metadata
//! exactly as every MSAL writes them (sections `AccessToken`, `RefreshToken`, `IdToken`,
//! `Account`, `AppMetadata`, MSAL's field names and keys), so a cache file written by MSAL
//! Python can be read by this library and the other way round. Fields and sections written
//! by other MSALs that this library does not know are kept and written back untouched.
//!
//! Lookups are O(1) in the number of tenants and accounts: app tokens are partitioned by
//! client id and tenant, user tokens by home account id (and client id and tenant).
//!
//! A cache lives in memory; give it a [`CachePersistence`] (such as
//! [`FileCachePersistence`]) to load it before each access and save it after each change, or
//! a [`DistributedCache`] (such as `RedisCache`, with the `redis` feature) as a second level
//! shared by several machines.
//!
//! - Files shared between processes: [`FileCachePersistence`] locks `<file>.lockfile` around
//!   each change, so processes merge their changes; it can move a corrupt file aside
//!   ([`FileCachePersistence::recover_corrupt`]) and encrypt the file with a key from a
//!   [`KeyStore`] ([`FileCachePersistence::encrypted`]; the OS secret store is
//!   `KeyringKeyStore` with the `keyring` feature).
//! - Services on several machines: [`TokenCache::with_distributed`] (see [`distributed`]).
//!
//! ```no_run
//! # async fn f() -> Result<(), msal::Error> {
//! use std::sync::Arc;
//! use msal::cache::{FileCachePersistence, TokenCache};
//!
//! let cache = TokenCache::with_persistence(Arc::new(FileCachePersistence::new("tokens.json")));
//! println!("{}", cache.serialize());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

// This file: the `TokenCache` handle, which runs the levels around the in-memory store
// (reload from and save to a persistence, read through to and write behind a distributed L2).
// One job per file below it, and none imports this one:
// - `query`: what the app layer asks and gets back (a response to write, a lookup, a hit);
// - `index`: the in-memory store, its indexes and lookups;
// - `write_rules`: what a response writes and replaces, what signing out removes;
// - `json`: MSAL's JSON, read and written;
// - `l2_merge`: partitions, write diffs and merges of the distributed L2;
// - `key`, `schema`: cache keys and the typed view of entries; `distributed`, `persistence`,
//   `file`, `file_io`, `crypto`, `redis_l2`: the backends.

mod crypto;
pub mod distributed;
mod file;
mod file_io;
mod index;
mod json;
mod key;
mod l2_merge;
mod obo_sessions;
mod persistence;
mod query;
#[cfg(feature = "redis")]
mod redis_l2;
mod schema;
mod write_rules;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

#[cfg(feature = "keyring")]
pub use crypto::KeyringKeyStore;
pub use crypto::{
    EncryptionFallback, EncryptionKey, KeyStore, KeyStoreError, KeyStoreErrorKind, MemoryKeyStore,
};
use distributed::Distributed;
pub use distributed::{
    CachePartition, DistributedCache, DistributedCacheOptions, PartitionKind, PartitionWrite,
};
pub use file::{DEFAULT_LOCK_TIMEOUT, FileCachePersistence};
pub use persistence::{CachePersistence, CacheVersion, LoadOutcome, PersistenceLock};
#[cfg(feature = "redis")]
pub use redis_l2::RedisCache;

pub(crate) use key::BoundKey;
pub(crate) use key::request_bloom;
pub(crate) use query::{
    AccessTokenQuery, CacheWrite, CachedAccessToken, CachedRefreshToken, Saved,
};

use futures_util::FutureExt;

use crate::account::Account;
use crate::error::{Error, codes};
use index::Store;
use l2_merge::WriteScope;

/// A token cache: cheap to clone (clones share the contents), safe to share between tasks
/// and threads. Its `Debug` shows entry counts, never a token.
///
/// What a token response writes, as MSAL does:
///
/// - the access token, for the granted scopes (`target`, sorted, space-separated). It
///   replaces the tokens of the same account (or app), environment, client id, tenant and
///   on-behalf-of assertion whose scopes intersect its own, and drops expired ones there;
/// - for a user: the refresh token (replacing the app's previous one for that account; with
///   its `family_id` for a family (FOCI) token, which every app of the family can use), the
///   id token, the account (`preferred_username`, `oid` and `tid` of the id token's claims);
/// - the app's metadata (its family).
///
/// An access token with less than five minutes left is treated as expired; `refresh_in` is
/// stored as `refresh_on`.
#[derive(Clone, Default)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    store: RwLock<Store>,
    persistence: Option<Persisted>,
    distributed: Option<Distributed>,
    /// Changes with every write (see [`TokenCache::generation`]).
    generation: AtomicU64,
}

struct Persisted {
    backend: Arc<dyn CachePersistence>,
    /// The version last loaded or saved (`None`: load before the next access). The lock also
    /// makes the load, change and save of each write one step, so saves land in order.
    version: tokio::sync::Mutex<Option<CacheVersion>>,
}

impl TokenCache {
    /// An empty in-memory cache.
    pub fn new() -> Self {
        TokenCache::default()
    }

    /// A cache kept in `p`: loaded before each access (when it changed), saved after each
    /// change.
    pub fn with_persistence(p: Arc<dyn CachePersistence>) -> Self {
        TokenCache {
            inner: Arc::new(Inner {
                store: RwLock::default(),
                persistence: Some(Persisted {
                    backend: p,
                    version: tokio::sync::Mutex::new(None),
                }),
                distributed: None,
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// A two-level cache: L1 in memory, L2 `l2` shared with other machines, per partition (see
    /// [`distributed`]). A lookup that misses in memory reads its partition from the L2; a
    /// write goes to memory, then its changed entries to the L2. L2 calls are bounded by
    /// `options.timeout`; unless `options.strict`, an L2 failure never fails a token call.
    ///
    /// [`accounts`](crate::PublicClientApplication::accounts) lists the accounts in memory
    /// only (the L2 is read per user).
    pub fn with_distributed(
        l2: Arc<dyn DistributedCache>,
        options: DistributedCacheOptions,
    ) -> Self {
        TokenCache {
            inner: Arc::new(Inner {
                store: RwLock::default(),
                persistence: None,
                distributed: Some(Distributed {
                    backend: l2,
                    options,
                    healthy: AtomicBool::new(true),
                    pii_logging: AtomicBool::new(false),
                }),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// Shows partitions (they name tenants and accounts) whole in the cache's log events:
    /// an application with PII logging on turns it on for the cache it uses.
    pub(crate) fn log_pii(&self) {
        if let Some(d) = &self.inner.distributed {
            d.pii_logging.store(true, Ordering::Relaxed);
        }
    }

    /// The cache in MSAL's JSON, as MSAL Python's `SerializableTokenCache.serialize` writes
    /// it (four-space indentation; sections without entries left out unless they were read).
    pub fn serialize(&self) -> String {
        // `to_json` cannot fail in practice; an empty string would read back as empty.
        self.store().to_json().unwrap_or_default()
    }

    /// Replaces the cache's contents with MSAL's JSON. An empty string is an empty cache.
    ///
    /// # Errors
    ///
    /// A `Client` error with the code `cache_corrupt` when `json` is not a valid cache (not
    /// JSON, truncated, a field of the wrong type); the contents are then left unchanged.
    pub fn deserialize(&self, json: &str) -> Result<(), Error> {
        let hasher = self.store().hasher();
        let store = Store::from_json(json, hasher)?;
        *self.store_mut() = store;
        Ok(())
    }

    fn store(&self) -> RwLockReadGuard<'_, Store> {
        self.inner
            .store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The store to change. Every write goes through here, so here the generation moves on:
    /// after the write lock is taken, so that a reader that saw the old generation cannot
    /// have read the new contents under it.
    fn store_mut(&self) -> RwLockWriteGuard<'_, Store> {
        let guard = self
            .inner
            .store
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        guard
    }

    /// A number that changes with every write to the contents. An answer read from memory
    /// after the generation was `g` is still the answer while the generation is `g` (and the
    /// clock has not moved on): what lets an application remember a hit (see
    /// `app/hit_memo.rs`).
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Whether lookups are answered from memory alone: the cache has no persistence to
    /// reload first (another process may have written its file).
    pub(crate) fn answers_from_memory(&self) -> bool {
        self.inner.persistence.is_none()
    }

    /// Loads from the persistence unless it is at `version` already.
    async fn try_load(
        &self,
        p: &Persisted,
        version: &mut Option<CacheVersion>,
    ) -> Result<(), Error> {
        match p.backend.load_if_changed(*version).await? {
            LoadOutcome::Unchanged => Ok(()),
            LoadOutcome::Loaded { data, version: v } => {
                let hasher = self.store().hasher();
                let store = Store::from_json(data.as_deref().unwrap_or(""), hasher)?;
                *self.store_mut() = store;
                *version = v;
                Ok(())
            }
        }
    }

    /// Loads from the persistence unless it is at `version` already. Corrupt stored data is
    /// handed to [`CachePersistence::recover_corrupt`], under the persistence's lock (taken
    /// here unless `locked`) and after reading it again (another process may have replaced it
    /// meanwhile); when it recovers, the cache starts empty.
    async fn load(
        &self,
        p: &Persisted,
        version: &mut Option<CacheVersion>,
        locked: bool,
    ) -> Result<(), Error> {
        match self.try_load(p, version).await {
            Err(e) if e.code() == codes::CACHE_CORRUPT => {}
            other => return other,
        }
        let _lock = if locked {
            None
        } else {
            Some(p.backend.lock().await?)
        };
        *version = None;
        match self.try_load(p, version).await {
            Err(e) if e.code() == codes::CACHE_CORRUPT => {
                p.backend.recover_corrupt(e).await?;
                let hasher = self.store().hasher();
                *self.store_mut() = Store::from_json("", hasher)?;
                // Load again on the next access, whatever is stored then.
                *version = None;
                Ok(())
            }
            other => other,
        }
    }

    /// The before-access hook of a read. Without persistence it does nothing (and the
    /// caller does not await at all).
    async fn before_read(&self, p: &Persisted) -> Result<(), Error> {
        let mut version = p.version.lock().await;
        self.load(p, &mut version, false).await
    }

    /// Applies `change`. With a persistence: under its cross-process lock, between a load (of
    /// what another process may have saved) and a save (skipped when nothing changed). With a
    /// distributed cache: then writes what changed in the scope's partition to the L2.
    async fn write<R>(
        &self,
        scope: WriteScope<'_>,
        change: impl FnOnce(&mut Store) -> Result<R, Error>,
    ) -> Result<R, Error> {
        // The levels' futures are boxed: a cache in memory alone (the common case) carries
        // none of their state in the futures of every token call.
        if let Some(d) = &self.inner.distributed {
            return Box::pin(self.write_distributed(d, scope, change)).await;
        }
        let Some(p) = &self.inner.persistence else {
            return change(&mut self.store_mut());
        };
        Box::pin(self.write_persisted(p, change)).await
    }

    /// [`write`](Self::write) under the persistence's lock, between a load and a save.
    async fn write_persisted<R>(
        &self,
        p: &Persisted,
        change: impl FnOnce(&mut Store) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut version = p.version.lock().await;
        let _lock = p.backend.lock().await?;
        self.load(p, &mut version, true).await?;
        let (result, data) = {
            let mut store = self.store_mut();
            let before = store.generation();
            let result = change(&mut store)?;
            let data = if store.generation() == before {
                None
            } else {
                Some(store.to_json()?)
            };
            (result, data)
        };
        if let Some(data) = data {
            *version = p.backend.save_versioned(data).await?;
        }
        Ok(result)
    }

    /// [`write`](Self::write) to L1, then to the L2: the entries of the scope's partition that
    /// the change added, replaced or removed.
    async fn write_distributed<R>(
        &self,
        d: &Distributed,
        scope: WriteScope<'_>,
        change: impl FnOnce(&mut Store) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let (result, write) = {
            let mut store = self.store_mut();
            let before = store.partition_snapshot(&scope);
            let result = change(&mut store)?;
            let after = store.partition_snapshot(&scope);
            let write = after.changes_since(
                &before,
                d.options.refresh_token_ttl,
                crate::clock::now_unix(),
            );
            (result, write)
        };
        if write.upserts.is_empty() && write.removals.is_empty() {
            return Ok(result);
        }
        let partition = scope.partition();
        d.call(
            "save",
            &partition,
            d.backend.write_partition(&partition, write),
        )
        .await?;
        Ok(result)
    }

    /// Reads through the levels: the persistence first (reloaded when it changed), then
    /// memory; on a miss, the partition from the distributed cache, then memory again.
    async fn read_through<T>(
        &self,
        partition: impl FnOnce() -> CachePartition,
        find: impl Fn() -> Option<T>,
    ) -> Result<Option<T>, Error> {
        // The levels' futures are boxed, as in `write`.
        if let Some(p) = &self.inner.persistence {
            Box::pin(self.before_read(p)).await?;
        }
        if let Some(hit) = find() {
            return Ok(Some(hit));
        }
        // Without a distributed cache, a miss is final (and the hot path builds no partition).
        if self.inner.distributed.is_none() || !Box::pin(self.fill_from_l2(partition())).await? {
            return Ok(None);
        }
        Ok(find())
    }

    /// Reads a partition from the L2 into L1 (after an L1 miss). Returns whether anything was
    /// added.
    async fn fill_from_l2(&self, partition: CachePartition) -> Result<bool, Error> {
        let Some(d) = &self.inner.distributed else {
            return Ok(false);
        };
        let Some(fields) = d
            .call("answer", &partition, d.backend.read_partition(&partition))
            .await?
        else {
            return Ok(false);
        };
        if fields.is_empty() {
            return Ok(false);
        }
        let (merged, error) = self.store_mut().merge_partition(fields);
        match error {
            Some(e) if d.options.strict => Err(e),
            Some(e) => {
                let pii = d.pii_logging.load(Ordering::Relaxed);
                tracing::warn!(
                    partition = %crate::pii::pii(partition.id(), pii),
                    error = %crate::pii::pii_error(&e, pii),
                    "skipped corrupt entries of the distributed token cache"
                );
                Ok(merged > 0)
            }
            None => Ok(merged > 0),
        }
    }

    /// Whether a write goes to memory alone: no persistence to save to, no L2 to write
    /// through (then [`save_in_memory`](Self::save_in_memory) is the whole write).
    pub(crate) fn writes_in_memory(&self) -> bool {
        self.inner.distributed.is_none() && self.inner.persistence.is_none()
    }

    /// [`save_response_shared`](Self::save_response_shared) to a cache that
    /// [`writes_in_memory`](Self::writes_in_memory), without a future.
    pub(crate) fn save_in_memory(&self, w: &CacheWrite<'_>) -> Result<Saved, Error> {
        self.store_mut().save_response(w)
    }

    /// Writes the tokens, id token, account and app metadata of a token response. Returns
    /// the account for user responses.
    pub(crate) fn save_response<'a>(
        &'a self,
        w: CacheWrite<'a>,
    ) -> impl Future<Output = Result<Option<Account>, Error>> + Send + 'a {
        self.save_response_shared(w)
            .map(|saved| saved.map(|s| s.account))
    }

    /// [`save_response`](Self::save_response), with the parts of the access token written,
    /// which the answer's result shares instead of copying them. (The pipeline writes a
    /// cache in memory alone with [`save_in_memory`](Self::save_in_memory), without a future.)
    pub(crate) async fn save_response_shared(&self, w: CacheWrite<'_>) -> Result<Saved, Error> {
        let scope = WriteScope {
            client_id: w.client_id,
            realm: w.realm,
            home_account_id: w.home_account_id.filter(|h| !h.is_empty()),
            user_assertion_hash: w.user_assertion_hash.filter(|h| !h.is_empty()),
        };
        self.write(scope, |store| store.save_response(&w)).await
    }

    /// The hash of the partition of the app tokens of `client_id` in `realm`, for
    /// [`AccessTokenQuery::partition`]: the hasher is the cache's for its whole life.
    pub(crate) fn app_partition(&self, client_id: &str, realm: &str) -> u64 {
        self.store().hasher.partition("", client_id, realm)
    }

    /// The cached access token for the query, if one has five minutes or more left.
    pub(crate) async fn find_access_token(
        &self,
        q: &AccessTokenQuery<'_>,
    ) -> Result<Option<CachedAccessToken>, Error> {
        self.read_through(
            || {
                WriteScope {
                    client_id: q.client_id,
                    realm: q.realm,
                    home_account_id: q.home_account_id.filter(|h| !h.is_empty()),
                    user_assertion_hash: q.user_assertion_hash.filter(|h| !h.is_empty()),
                }
                .partition()
            },
            || {
                self.store()
                    .find_access_token(q)
                    .map(query::cached_access_token)
                    .filter(|t| t.is_for(q.home_account_id))
            },
        )
        .await
    }

    /// The app's own refresh token for the account (`family == false`), or any family (FOCI)
    /// refresh token of the account (`family == true`).
    pub(crate) async fn find_refresh_token(
        &self,
        home_account_id: &str,
        environments: &[String],
        client_id: &str,
        family: bool,
    ) -> Result<Option<CachedRefreshToken>, Error> {
        self.read_through(
            || CachePartition::user(home_account_id),
            || {
                self.store()
                    .find_refresh_token(home_account_id, environments, client_id, family)
                    .map(|e| CachedRefreshToken {
                        secret: e.secret.clone(),
                        family_id: e.family_id.clone(),
                        client_id: e.client_id.clone(),
                    })
            },
        )
        .await
    }

    /// The account with this home account id in one of `environments` (its home-tenant
    /// entry when it has several).
    pub(crate) async fn find_account(
        &self,
        home_account_id: &str,
        environments: &[String],
    ) -> Result<Option<Account>, Error> {
        self.read_through(
            || CachePartition::user(home_account_id),
            || {
                self.store()
                    .find_account(home_account_id, environments)
                    .cloned()
            },
        )
        .await
    }

    /// The claims of the account's cached id token for this app and tenant, decoded without
    /// validation.
    ///
    /// # Errors
    ///
    /// `cache_corrupt` when the cached id token is not a JWT with a JSON payload.
    pub(crate) async fn id_token_claims(
        &self,
        home_account_id: &str,
        environments: &[String],
        client_id: &str,
        realm: &str,
    ) -> Result<Option<serde_json::Value>, Error> {
        let found = self
            .read_through(
                || CachePartition::user(home_account_id),
                || {
                    self.store()
                        .find_id_token(home_account_id, environments, client_id, realm)
                        .map(|e| e.secret.clone())
                },
            )
            .await?;
        match found {
            Some(jwt) => schema::jwt_claims(&jwt).map(Some),
            None => Ok(None),
        }
    }

    /// The accounts that have a refresh token or id token of this app or of its family, one
    /// per home account id.
    pub(crate) async fn accounts(
        &self,
        client_id: &str,
        environments: &[String],
    ) -> Result<Vec<Account>, Error> {
        if let Some(p) = &self.inner.persistence {
            self.before_read(p).await?;
        }
        Ok(self.store().accounts(client_id, environments))
    }

    /// Signs the account out of this app: removes its access tokens, id tokens and refresh
    /// tokens of this app (and the family refresh tokens of the app's family) and its
    /// account entries.
    pub(crate) async fn remove_account(
        &self,
        account: &Account,
        client_id: &str,
    ) -> Result<(), Error> {
        if self.inner.distributed.is_some() {
            // Sign out of what other machines wrote too.
            self.fill_from_l2(CachePartition::user(&account.home_account_id))
                .await?;
        }
        let scope = WriteScope {
            client_id,
            realm: &account.realm,
            home_account_id: Some(&account.home_account_id),
            user_assertion_hash: None,
        };
        self.write(scope, |store| Ok(store.remove_account(account, client_id)))
            .await
            .map(|_| ())
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TokenCache");
        let counts = match self.inner.store.try_read() {
            Ok(store) => Some(store.counts()),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner().counts()),
            Err(TryLockError::WouldBlock) => None,
        };
        match counts {
            Some([ats, rts, idts, accounts, app_metadata]) => {
                d.field("access_tokens", &ats)
                    .field("refresh_tokens", &rts)
                    .field("id_tokens", &idts)
                    .field("accounts", &accounts)
                    .field("app_metadata", &app_metadata);
            }
            None => {
                d.field("contents", &"<locked>");
            }
        }
        d.field(
            "persistence",
            &self.inner.persistence.as_ref().map(|p| &p.backend),
        )
        .field(
            "distributed",
            &self.inner.distributed.as_ref().map(|d| &d.backend),
        )
        .finish()
    }
}

#[cfg(test)]
mod tests;
