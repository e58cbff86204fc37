//! Support for the crate's benchmarks (`benches/cache.rs`) and for the cache tests that check
//! the benchmarks measure hits: fills a cache through its crate-internal write path and looks
//! tokens up through its crate-internal read path, which the public API reaches only through a
//! whole token request. Not part of the API: hidden from the docs, and no production module
//! uses it (it sits above the cache, which knows nothing of it).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::cache::{AccessTokenQuery, CacheWrite, TokenCache};

/// Polls a future once: the cache's futures are ready at once without persistence.
fn ready<F: Future>(f: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// An in-memory cache of app tokens: `tenants` tenants with `per_tenant` tokens each
/// (scope `https://api{j}.example/.default`), and the queries that hit them.
pub struct AppTokens {
    cache: TokenCache,
    client_id: String,
    environments: Vec<String>,
    realms: Vec<String>,
    scopes: Vec<Vec<String>>,
    now: i64,
}

impl AppTokens {
    /// Fills the cache through the regular write path.
    pub fn new(tenants: usize, per_tenant: usize) -> Self {
        let now = 1_700_000_000;
        let client_id = "6a0b2d54-6d1c-4d0e-9a3c-3f0e5a7b9c11".to_owned();
        let environments = vec!["login.microsoftonline.com".to_owned()];
        let realms: Vec<String> = (0..tenants)
            .map(|i| format!("{i:08x}-0000-4000-8000-000000000000"))
            .collect();
        let scopes: Vec<Vec<String>> = (0..per_tenant)
            .map(|j| vec![format!("https://api{j}.example/.default")])
            .collect();
        let cache = TokenCache::new();
        for realm in &realms {
            for s in &scopes {
                let _ = ready(cache.save_response(CacheWrite {
                    client_id: &client_id,
                    environment: &environments[0],
                    realm,
                    scopes: s,
                    access_token: Some("eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.c2ln"),
                    token_type: "Bearer",
                    expires_in: 3600,
                    ext_expires_in: None,
                    refresh_in: None,
                    refresh_token: None,
                    family_id: None,
                    id_token: None,
                    id_token_claims: None,
                    home_account_id: None,
                    user_assertion_hash: None,
                    key_id: None,
                    now,
                }));
            }
        }
        AppTokens {
            cache,
            client_id,
            environments,
            realms,
            scopes,
            now,
        }
    }

    /// Looks up token `i` (tenant `i / per_tenant`, scope `i % per_tenant`, wrapping)
    /// through `find_access_token`; `true` on a hit.
    pub fn hit(&self, i: usize) -> bool {
        let per_tenant = self.scopes.len().max(1);
        let (Some(realm), Some(scopes)) = (
            self.realms.get((i / per_tenant) % self.realms.len().max(1)),
            self.scopes.get(i % per_tenant),
        ) else {
            return false;
        };
        let query = AccessTokenQuery {
            client_id: &self.client_id,
            environments: &self.environments,
            realm,
            scopes,
            home_account_id: None,
            user_assertion_hash: None,
            bound: None,
            now: self.now,
            scope_bloom: None,
            partition: None,
        };
        matches!(
            ready(self.cache.find_access_token(&query)),
            Some(Ok(Some(_)))
        )
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.realms.len() * self.scopes.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(feature = "redis")]
pub use redis_l2::L2Hit;

/// Support for the `redis_l2_hit` benchmark.
#[cfg(feature = "redis")]
mod redis_l2 {
    use std::sync::Arc;

    use crate::cache::{
        AccessTokenQuery, CacheWrite, DistributedCacheOptions, RedisCache, TokenCache,
    };
    use crate::clock::now_unix;
    use crate::error::Error;

    /// One app token in Redis, and lookups that miss L1 and hit it in Redis.
    pub struct L2Hit {
        l2: Arc<RedisCache>,
        client_id: String,
        environments: Vec<String>,
        realm: String,
        scopes: Vec<String>,
        now: i64,
    }

    impl L2Hit {
        /// Writes the token to the Redis at `url` (under the key prefix `bench`).
        pub async fn new(url: &str) -> Result<Self, Error> {
            let l2 = Arc::new(RedisCache::new(url)?.key_prefix("bench"));
            let t = L2Hit {
                l2,
                client_id: "6a0b2d54-6d1c-4d0e-9a3c-3f0e5a7b9c11".to_owned(),
                environments: vec!["login.microsoftonline.com".to_owned()],
                realm: "00000001-0000-4000-8000-000000000000".to_owned(),
                scopes: vec!["https://api.example/.default".to_owned()],
                now: now_unix(),
            };
            let cache = t.cache(true);
            cache
                .save_response(CacheWrite {
                    client_id: &t.client_id,
                    environment: &t.environments[0],
                    realm: &t.realm,
                    scopes: &t.scopes,
                    access_token: Some("eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.c2ln"),
                    token_type: "Bearer",
                    expires_in: 3600,
                    ext_expires_in: None,
                    refresh_in: None,
                    refresh_token: None,
                    family_id: None,
                    id_token: None,
                    id_token_claims: None,
                    home_account_id: None,
                    user_assertion_hash: None,
                    key_id: None,
                    now: t.now,
                })
                .await?;
            Ok(t)
        }

        fn cache(&self, strict: bool) -> TokenCache {
            TokenCache::with_distributed(
                self.l2.clone(),
                DistributedCacheOptions::new().strict(strict),
            )
        }

        /// Looks the token up in a new cache (an empty L1): `true` when Redis had it.
        pub async fn hit(&self) -> bool {
            let query = AccessTokenQuery {
                client_id: &self.client_id,
                environments: &self.environments,
                realm: &self.realm,
                scopes: &self.scopes,
                home_account_id: None,
                user_assertion_hash: None,
                bound: None,
                now: self.now,
                scope_bloom: None,
                partition: None,
            };
            matches!(
                self.cache(true).find_access_token(&query).await,
                Ok(Some(_))
            )
        }
    }
}
