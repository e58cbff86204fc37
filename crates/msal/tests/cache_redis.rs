//! Client credentials with a two-level token cache on a real `redis-server`: two "machines"
//! (two apps, each with its own in-memory cache) share tokens through Redis, and a Redis
//! outage never fails a token call.
//!
//! Needs `redis-server` (`scripts/test` installs it); fails, does not skip, without it.

mod common;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::Duration;

use common::{MockIdp, app_token};
use msal::cache::{DistributedCacheOptions, RedisCache, TokenCache};
use msal::error::codes;
use msal::{ConfidentialClientApplication, TokenSource};
use redis_server::RedisServer;

const SCOPE: &str = "api://msal-emulator-api/.default";

/// One machine: an app with its own in-memory L1 over the shared Redis.
fn machine(idp: &MockIdp, redis: &RedisServer, strict: bool) -> ConfidentialClientApplication {
    let l2 = RedisCache::new(&redis.url()).unwrap();
    let cache =
        TokenCache::with_distributed(Arc::new(l2), DistributedCacheOptions::new().strict(strict));
    ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret-value")
        .token_cache(cache)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_token_acquired_on_one_machine_serves_another() {
    let redis = RedisServer::start();
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", SCOPE));
    let a = machine(&idp, &redis, false);
    let b = machine(&idp, &redis, false);

    let r = a.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(idp.token_requests().len(), 1);

    let r = b.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::Cache);
    assert_eq!(r.access_token.secret(), "at-1");
    assert_eq!(
        idp.token_requests().len(),
        1,
        "no network call on machine b"
    );
}

#[tokio::test]
async fn token_calls_go_on_while_redis_is_down_and_share_again_after() {
    let mut redis = RedisServer::start();
    let idp = MockIdp::start().await;
    let a = machine(&idp, &redis, false);
    let strict = machine(&idp, &redis, true);

    redis.stop();
    // Down: the call goes to the identity provider and succeeds (the L2 write fails, logged).
    idp.push_token(app_token("while-down", SCOPE));
    let r = a.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(r.access_token.secret(), "while-down");
    // Served from L1 meanwhile.
    let r = a.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::Cache);
    // Strict mode: the outage fails the call with a typed error, before any network call.
    let requests = idp.token_requests().len();
    let e = strict
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), codes::CACHE_PERSISTENCE);
    assert_eq!(idp.token_requests().len(), requests);

    // Back: a new token reaches Redis, and another machine uses it without a network call.
    redis.restart();
    let mut shared = false;
    for i in 0..50 {
        let scope = format!("api://after-restart-{i}/.default");
        idp.push_token(app_token(&format!("after-{i}"), &scope));
        let r = a.acquire_token_for_client([&scope]).send().await.unwrap();
        assert_eq!(r.source, TokenSource::IdentityProvider);
        let requests = idp.token_requests().len();
        let b = machine(&idp, &redis, false);
        idp.push_token(app_token(&format!("b-{i}"), &scope));
        let r = b.acquire_token_for_client([&scope]).send().await.unwrap();
        if r.source == TokenSource::Cache {
            assert_eq!(r.access_token.secret(), format!("after-{i}"));
            assert_eq!(idp.token_requests().len(), requests);
            shared = true;
            break;
        }
        // The first write after the restart can meet the old, broken connection.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        shared,
        "tokens are shared through Redis again after its restart"
    );
}
