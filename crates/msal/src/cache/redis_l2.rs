//! [`RedisCache`]: Redis as the shared L2 of a [`TokenCache`](super::TokenCache).

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::distributed::{CachePartition, DistributedCache, PartitionWrite};
use crate::error::{Error, codes};
use crate::http::BoxFuture;

/// Sets and deletes the entries of one partition (a hash) and extends its time to live, in one
/// atomic step. `KEYS[1]`: the partition; `ARGV[1]`: the TTL in seconds; `ARGV[2]`: the number
/// of upserts; then each upsert's field and value; then the fields to delete. Only ever
/// extends the TTL (works on Redis 2.6 and later, unlike `EXPIRE ... GT`).
const WRITE_SCRIPT: &str = r"
local key = KEYS[1]
local ttl = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', key, ARGV[i])
  i = i + 1
end
if redis.call('EXISTS', key) == 1 then
  local current = redis.call('TTL', key)
  if current < ttl then
    redis.call('EXPIRE', key, ttl)
  end
end
return 1
";

/// Redis (or Valkey) as the L2 of a two-level [`TokenCache`](super::TokenCache): each
/// partition is a hash `<prefix>:<partition id>` (prefix `msal` by default) with one field per
/// cache entry (`<section>|<key>`, the entry's JSON), expiring with its tokens.
///
/// The connection (a `redis` connection manager) is made on first use and made again after
/// Redis restarts; failures are reported to the cache, whose
/// [`DistributedCacheOptions`](super::DistributedCacheOptions) decide what they do.
///
/// ```no_run
/// # fn f() -> Result<(), msal::Error> {
/// use std::sync::Arc;
/// use msal::cache::{DistributedCacheOptions, RedisCache, TokenCache};
///
/// let l2 = RedisCache::new("redis://127.0.0.1:6379/")?;
/// let cache = TokenCache::with_distributed(Arc::new(l2), DistributedCacheOptions::default());
/// # Ok(()) }
/// ```
pub struct RedisCache {
    client: redis::Client,
    prefix: String,
    connect_timeout: Duration,
    manager: OnceLock<Result<ConnectionManager, String>>,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection info can hold a password: show the address only.
        f.debug_struct("RedisCache")
            .field(
                "addr",
                &self.client.get_connection_info().addr().to_string(),
            )
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn redis_error(action: &str, e: redis::RedisError) -> Error {
    Error::client(
        codes::CACHE_PERSISTENCE,
        format!("the distributed token cache (Redis) failed to {action}: {e}"),
    )
    .with_source(e)
}

impl RedisCache {
    /// A cache in the Redis at `url` (`redis://[:password@]host[:port][/db]`, or `rediss://`
    /// where the `redis` crate is built with TLS). Does not connect yet.
    ///
    /// # Errors
    ///
    /// `invalid_configuration` when `url` is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(|e| {
            Error::client(
                codes::INVALID_CONFIGURATION,
                format!("not a Redis URL: {e}"),
            )
            .with_source(e)
        })?;
        Ok(RedisCache {
            client,
            prefix: "msal".to_owned(),
            connect_timeout: Duration::from_secs(1),
            manager: OnceLock::new(),
        })
    }

    /// The prefix of the partitions' keys (`msal` by default), to keep several caches apart in
    /// one Redis.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one connection attempt may take (1 s by default; each cache call is bounded
    /// by the cache's own timeout too).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The Redis key of a partition.
    pub fn key_of(&self, partition: &CachePartition) -> String {
        format!("{}:{}", self.prefix, partition.id())
    }

    /// The connection manager, made on first use (it needs a Tokio runtime).
    fn connection(&self) -> Result<ConnectionManager, Error> {
        let made = self.manager.get_or_init(|| {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(10))
                .set_max_delay(Duration::from_millis(200));
            ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                .map_err(|e| e.to_string())
        });
        match made {
            Ok(m) => Ok(m.clone()),
            Err(e) => Err(Error::client(
                codes::CACHE_PERSISTENCE,
                format!("the distributed token cache (Redis) cannot be set up: {e}"),
            )),
        }
    }
}

impl DistributedCache for RedisCache {
    fn read_partition<'a>(
        &'a self,
        partition: &'a CachePartition,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, Error>> {
        Box::pin(async move {
            let mut con = self.connection()?;
            let fields: Vec<(String, String)> = redis::cmd("HGETALL")
                .arg(self.key_of(partition))
                .query_async(&mut con)
                .await
                .map_err(|e| redis_error("read a partition", e))?;
            Ok(fields)
        })
    }

    fn write_partition<'a>(
        &'a self,
        partition: &'a CachePartition,
        write: PartitionWrite,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            if write.upserts.is_empty() && write.removals.is_empty() {
                return Ok(());
            }
            let mut con = self.connection()?;
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(WRITE_SCRIPT)
                .arg(1)
                .arg(self.key_of(partition))
                .arg(write.ttl.as_secs().max(1))
                .arg(write.upserts.len());
            for (field, value) in &write.upserts {
                cmd.arg(field).arg(value);
            }
            for field in &write.removals {
                cmd.arg(field);
            }
            let _: i64 = cmd
                .query_async(&mut con)
                .await
                .map_err(|e| redis_error("write a partition", e))?;
            Ok(())
        })
    }
}
