//! [`RedisCache`]: Redis as the shared L2 of a [`TokenCache`](super::TokenCache).

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionInfo, IntoConnectionInfo, TlsCertificates};
use tokio::sync::OnceCell;

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
/// One server ([`new`](Self::new)) or a Redis Cluster ([`cluster`](Self::cluster)); over TLS
/// with `rediss://` URLs (Azure Cache for Redis serves TLS only), with the system's trust
/// anchors or [`root_certificate_pem`](Self::root_certificate_pem); with a user and password
/// (Redis 6 ACLs) or a password alone in the URL. The connection is made on first use and made
/// again after a server restarts or a cluster node fails; failures are reported to the cache,
/// whose [`DistributedCacheOptions`](super::DistributedCacheOptions) decide what they do.
///
/// ```no_run
/// # fn f() -> Result<(), msal::Error> {
/// use std::sync::Arc;
/// use msal::cache::{DistributedCacheOptions, RedisCache, TokenCache};
///
/// let l2 = RedisCache::new("rediss://msal:secret@contoso.redis.cache.windows.net:6380/")?;
/// let cache = TokenCache::with_distributed(Arc::new(l2), DistributedCacheOptions::default());
/// # Ok(()) }
/// ```
pub struct RedisCache {
    nodes: Vec<ConnectionInfo>,
    cluster: bool,
    root_certificate: Option<Vec<u8>>,
    prefix: String,
    connect_timeout: Duration,
    conn: OnceCell<Conn>,
}

/// A connection to one server (a manager that reconnects) or to a cluster (which follows
/// the slots and reconnects to nodes); both are cheap clones of a shared connection.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> redis::RedisResult<T> {
        match self.clone() {
            Conn::Single(mut c) => cmd.query_async(&mut c).await,
            Conn::Cluster(mut c) => cmd.query_async(&mut c).await,
        }
    }
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection info can hold a user name and a password: show the addresses only.
        let addrs: Vec<String> = self.nodes.iter().map(|n| n.addr().to_string()).collect();
        f.debug_struct("RedisCache")
            .field("addr", &addrs.join(","))
            .field("cluster", &self.cluster)
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

fn parse_url(url: &str) -> Result<ConnectionInfo, Error> {
    url.into_connection_info().map_err(|e| {
        // The URL can hold a password: the error names the problem, not the URL.
        Error::client(
            codes::INVALID_CONFIGURATION,
            format!("not a Redis URL: {e}"),
        )
        .with_source(e)
    })
}

impl RedisCache {
    /// A cache in the Redis at `url`: `redis://[[user]:password@]host[:port][/db]`, or
    /// `rediss://` for TLS. Does not connect yet.
    ///
    /// # Errors
    ///
    /// `invalid_configuration` when `url` is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, Error> {
        Ok(Self::with_nodes(vec![parse_url(url)?], false))
    }

    /// A cache in the Redis Cluster that these nodes belong to (the others are discovered);
    /// every node is given in the same form (`redis://` or `rediss://`, same user and
    /// password). Does not connect yet.
    ///
    /// # Errors
    ///
    /// `invalid_configuration` when a node is not a Redis URL, or none is given.
    pub fn cluster<I, S>(nodes: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes = nodes
            .into_iter()
            .map(|n| parse_url(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if nodes.is_empty() {
            return Err(Error::client(
                codes::INVALID_CONFIGURATION,
                "a Redis Cluster needs at least one node",
            ));
        }
        Ok(Self::with_nodes(nodes, true))
    }

    fn with_nodes(nodes: Vec<ConnectionInfo>, cluster: bool) -> Self {
        RedisCache {
            nodes,
            cluster,
            root_certificate: None,
            prefix: "msal".to_owned(),
            connect_timeout: Duration::from_secs(1),
            conn: OnceCell::new(),
        }
    }

    /// Trusts this CA (PEM) for `rediss://` instead of the system's trust anchors (a private
    /// CA, or a test's own).
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificate = Some(pem.into());
        self
    }

    /// The prefix of the partitions' keys (`msal` by default), to keep several caches apart in
    /// one Redis.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one connection attempt, and one command to a cluster node, may take (1 s by
    /// default; each cache call is bounded by the cache's own timeout too).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The Redis key of a partition.
    pub fn key_of(&self, partition: &CachePartition) -> String {
        format!("{}:{}", self.prefix, partition.id())
    }

    fn tls_certificates(&self) -> Option<TlsCertificates> {
        self.root_certificate.as_ref().map(|pem| TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.clone()),
        })
    }

    /// The connection, made on first use (it needs a Tokio runtime); a failed attempt is
    /// tried again by the next call.
    async fn connection(&self) -> Result<Conn, Error> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                if self.cluster {
                    self.connect_cluster().await
                } else {
                    self.connect_single()
                }
            })
            .await
            .map_err(|e| redis_error("connect", e))?;
        Ok(conn.clone())
    }

    fn connect_single(&self) -> redis::RedisResult<Conn> {
        let info = self.nodes[0].clone();
        let client = match self.tls_certificates() {
            Some(certs) => redis::Client::build_with_tls(info, certs)?,
            None => redis::Client::open(info)?,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(200));
        ConnectionManager::new_lazy_with_config(client, config).map(Conn::Single)
    }

    async fn connect_cluster(&self) -> redis::RedisResult<Conn> {
        // Few, short retries: a node that is down must not hold a token call for seconds (the
        // cache's own timeout ends the call anyway, and the next call tries again).
        let mut b = ClusterClientBuilder::new(self.nodes.clone())
            .retries(1)
            .min_retry_wait(10)
            .max_retry_wait(100)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.connect_timeout);
        if let Some(certs) = self.tls_certificates() {
            b = b.certs(certs);
        }
        let client = b.build()?;
        client.get_async_connection().await.map(Conn::Cluster)
    }
}

impl DistributedCache for RedisCache {
    fn read_partition<'a>(
        &'a self,
        partition: &'a CachePartition,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, Error>> {
        Box::pin(async move {
            let con = self.connection().await?;
            let fields: Vec<(String, String)> = con
                .query(redis::cmd("HGETALL").arg(self.key_of(partition)))
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
            let con = self.connection().await?;
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
            let _: i64 = con
                .query(&cmd)
                .await
                .map_err(|e| redis_error("write a partition", e))?;
            Ok(())
        })
    }
}
