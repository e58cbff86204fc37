//! A two-level token cache for services on several machines: L1 in memory, L2 a shared store
//! (Redis, through `RedisCache` with the `redis` feature), kept per
//! partition.
//!
//! A [`TokenCache`](super::TokenCache) made with
//! [`with_distributed`](super::TokenCache::with_distributed) reads a partition from the L2 when
//! a lookup misses in memory, and writes the entries a token response changed to their
//! partition after saving them in memory. Partitions are keyed as MSAL .NET suggests:
//!
//! | tokens                     | partition                        |
//! |----------------------------|----------------------------------|
//! | app (client credentials)   | client id and tenant             |
//! | user (refresh, silent)     | home account id                  |
//! | on-behalf-of               | hash of the incoming assertion   |
//!
//! Each L2 call is bounded by [`DistributedCacheOptions::timeout`]. When the L2 fails or is
//! slow, the token call goes on with L1 and the identity provider, and a warning is logged
//! (once per outage; the recovery is logged too); in
//! [strict](DistributedCacheOptions::strict) mode the token call fails instead.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{Error, codes};
use crate::http::BoxFuture;

/// Which tokens a [`CachePartition`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PartitionKind {
    /// An app's own tokens in one tenant (client credentials).
    App,
    /// One user's tokens, accounts and id tokens (every app of the cache).
    User,
    /// The on-behalf-of tokens obtained with one incoming assertion.
    OnBehalfOf,
}

/// One partition of a distributed cache: what the L2 stores under one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CachePartition {
    kind: PartitionKind,
    id: String,
}

impl CachePartition {
    /// The app tokens of `client_id` in `tenant`.
    pub fn app(client_id: &str, tenant: &str) -> Self {
        CachePartition {
            kind: PartitionKind::App,
            id: format!(
                "app:{}:{}",
                client_id.to_ascii_lowercase(),
                tenant.to_ascii_lowercase()
            ),
        }
    }

    /// The tokens of the user `home_account_id` (`<uid>.<utid>`).
    pub fn user(home_account_id: &str) -> Self {
        CachePartition {
            kind: PartitionKind::User,
            id: format!("user:{}", home_account_id.to_ascii_lowercase()),
        }
    }

    /// The on-behalf-of tokens of the assertion whose hash is `assertion_hash`.
    pub fn on_behalf_of(assertion_hash: &str) -> Self {
        CachePartition {
            kind: PartitionKind::OnBehalfOf,
            id: format!("obo:{assertion_hash}"),
        }
    }

    /// What the partition holds.
    pub fn kind(&self) -> PartitionKind {
        self.kind
    }

    /// A stable name of the partition (`app:<client id>:<tenant>`, `user:<home account id>`,
    /// `obo:<assertion hash>`), to build the L2's key from.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for CachePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// The change of one partition after a write: entries to set and to delete, and how long the
/// partition must be kept at least.
///
/// Entries are named `<section>|<key>` (the section and key of MSAL's cache format, e.g.
/// `AccessToken|-login.microsoftonline.com-accesstoken-...`); their values are the entries'
/// JSON objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionWrite {
    /// Entries to add or replace: name and JSON.
    pub upserts: Vec<(String, String)>,
    /// Names of entries to delete.
    pub removals: Vec<String>,
    /// How long the partition should live from now: until its last access token expires, or
    /// [`DistributedCacheOptions::refresh_token_ttl`] when it holds a refresh token, an id token
    /// or an account. An L2 should only ever extend a partition's lifetime, so a shorter write
    /// of one machine does not cut another's tokens short.
    pub ttl: Duration,
}

/// The shared second level of a [`TokenCache`](super::TokenCache), per partition: a
/// [`CachePersistence`](super::CachePersistence) for many machines.
///
/// Errors should be `Client` errors with the code
/// [`cache_persistence_error`](crate::error::codes::CACHE_PERSISTENCE). The cache bounds each
/// call by [`DistributedCacheOptions::timeout`] (dropping the future when it runs out).
pub trait DistributedCache: Send + Sync + fmt::Debug {
    /// The entries of the partition (name and JSON, as in [`PartitionWrite`]); empty when the
    /// L2 has none.
    fn read_partition<'a>(
        &'a self,
        partition: &'a CachePartition,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, Error>>;

    /// Applies `write` to the partition, atomically when the store can.
    fn write_partition<'a>(
        &'a self,
        partition: &'a CachePartition,
        write: PartitionWrite,
    ) -> BoxFuture<'a, Result<(), Error>>;
}

/// How a [`TokenCache`](super::TokenCache) uses its [`DistributedCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DistributedCacheOptions {
    /// The longest an L2 call may take; a slower call counts as a failure. 200 ms by default.
    pub timeout: Duration,
    /// `false` (the default): an L2 failure never fails a token call; the cache goes on with
    /// L1 (and the identity provider), logging a warning. `true`: an L2 failure fails the call
    /// with a `cache_persistence_error`.
    pub strict: bool,
    /// How long a partition that holds refresh tokens, id tokens or accounts is kept: 90 days
    /// (a refresh token's longest life) by default.
    pub refresh_token_ttl: Duration,
}

impl Default for DistributedCacheOptions {
    fn default() -> Self {
        DistributedCacheOptions {
            timeout: Duration::from_millis(200),
            strict: false,
            refresh_token_ttl: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

impl DistributedCacheOptions {
    /// The defaults: 200 ms per call, lenient, 90 days for refresh tokens.
    pub fn new() -> Self {
        DistributedCacheOptions::default()
    }

    /// Sets [`timeout`](Self::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`strict`](Self::strict).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Sets [`refresh_token_ttl`](Self::refresh_token_ttl).
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_token_ttl = ttl;
        self
    }
}

/// The second level of a two-level cache.
pub(super) struct Distributed {
    pub(super) backend: Arc<dyn DistributedCache>,
    pub(super) options: DistributedCacheOptions,
    /// Whether the last call succeeded: failures are logged once per outage.
    pub(super) healthy: AtomicBool,
    /// Whether log events show partitions whole (they name tenants and accounts): set by
    /// an application with PII logging on that uses the cache.
    pub(super) pii_logging: AtomicBool,
}

impl Distributed {
    /// Runs an L2 call within the timeout. A failure is `Err` in strict mode, and `Ok(None)`
    /// with a warning (once per outage) otherwise.
    pub(super) async fn call<T>(
        &self,
        what: &str,
        partition: &CachePartition,
        f: impl Future<Output = Result<T, Error>>,
    ) -> Result<Option<T>, Error> {
        let result = if tokio::runtime::Handle::try_current().is_err() {
            Err(Error::client(
                codes::CACHE_PERSISTENCE,
                "the distributed token cache needs a Tokio runtime",
            ))
        } else {
            match tokio::time::timeout(self.options.timeout, f).await {
                Ok(r) => r,
                Err(elapsed) => Err(Error::client(
                    codes::CACHE_PERSISTENCE,
                    format!(
                        "the distributed token cache did not {what} within {} ms",
                        self.options.timeout.as_millis()
                    ),
                )
                .with_source(elapsed)),
            }
        };
        let pii = self.pii_logging.load(Ordering::Relaxed);
        let partition = crate::pii::pii(partition.id(), pii);
        match result {
            Ok(v) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!(%partition, "the distributed token cache is back");
                }
                Ok(Some(v))
            }
            Err(e) if self.options.strict => Err(e),
            Err(e) => {
                if self.healthy.swap(false, Ordering::Relaxed) {
                    tracing::warn!(
                        %partition,
                        error = %crate::pii::pii_error(&e, pii),
                        "the distributed token cache failed; going on with the in-memory cache \
                         and the identity provider until it is back"
                    );
                } else {
                    tracing::debug!(%partition, error = %crate::pii::pii_error(&e, pii), "the distributed token cache failed again");
                }
                Ok(None)
            }
        }
    }
}
