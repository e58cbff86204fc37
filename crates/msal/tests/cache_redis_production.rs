//! The Redis level as production runs it, against real `redis-server`s: TLS only with an ACL
//! user (Azure Cache for Redis's default), and a three-node Redis Cluster that loses a node
//! mid-run. `scripts/test` installs `redis-server` and `redis-cli`; without them these fail.

mod common;
#[path = "support/redis_production.rs"]
mod redis_production;

use std::sync::Arc;
use std::time::Duration;

use common::{MockIdp, app_token};
use msal::cache::{DistributedCacheOptions, RedisCache, TokenCache};
use msal::error::codes;
use msal::{ConfidentialClientApplication, ErrorKind, TokenSource};
use redis_production::{PASSWORD, RedisCluster, TestPki, TlsRedis, USER};

const SCOPE: &str = "api://msal-emulator-api/.default";

/// One machine: an app with its own in-memory L1 over the shared L2.
fn machine(
    idp: &MockIdp,
    l2: RedisCache,
    options: DistributedCacheOptions,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret-value")
        .token_cache(TokenCache::with_distributed(Arc::new(l2), options))
        .build()
        .unwrap()
}

/// Strict, so that a TLS or authentication failure is an error, not a silent miss.
fn strict() -> DistributedCacheOptions {
    DistributedCacheOptions::new()
        .strict(true)
        .timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn tls_with_an_acl_user_shares_tokens_between_machines() {
    let pki = TestPki::generate();
    let redis = TlsRedis::start(&pki);
    let idp = MockIdp::start().await;
    let l2 = || {
        RedisCache::new(&redis.url(USER, PASSWORD))
            .unwrap()
            .root_certificate_pem(pki.ca_pem.as_bytes())
    };
    idp.push_token(app_token("at-tls", SCOPE));
    let a = machine(&idp, l2(), strict());
    let r = a.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);

    let b = machine(&idp, l2(), strict());
    let r = b.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::Cache);
    assert_eq!(r.access_token.secret(), "at-tls");
    assert_eq!(idp.token_requests().len(), 1, "machine b made no request");
}

#[tokio::test]
async fn tls_refuses_an_untrusted_server_and_acl_refuses_a_wrong_password() {
    let pki = TestPki::generate();
    let redis = TlsRedis::start(&pki);
    let idp = MockIdp::start().await;

    // The system's trust anchors do not know the test CA.
    let untrusted = RedisCache::new(&redis.url(USER, PASSWORD)).unwrap();
    // Another CA is not the server's either.
    let other_ca = TestPki::generate().ca_pem;
    let wrong_ca = RedisCache::new(&redis.url(USER, PASSWORD))
        .unwrap()
        .root_certificate_pem(other_ca.as_bytes());
    let wrong_password = RedisCache::new(&redis.url(USER, "not-the-password"))
        .unwrap()
        .root_certificate_pem(pki.ca_pem.as_bytes());
    for (what, l2) in [
        ("untrusted", untrusted),
        ("wrong CA", wrong_ca),
        ("wrong password", wrong_password),
    ] {
        let debug = format!("{l2:?}");
        assert!(
            !debug.contains(PASSWORD) && !debug.contains("not-the-password"),
            "{debug}"
        );
        let e = machine(&idp, l2, strict())
            .acquire_token_for_client([SCOPE])
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Client, "{what}: {e}");
        assert_eq!(e.code(), codes::CACHE_PERSISTENCE, "{what}: {e}");
        assert!(!e.description().contains(PASSWORD), "{what}: {e}");
    }
    assert!(
        idp.token_requests().is_empty(),
        "strict: no request without the L2"
    );
}

#[tokio::test]
async fn a_cluster_shares_tokens_and_a_killed_node_fails_no_lenient_call() {
    let mut cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let idp = MockIdp::start().await;
    let lenient = DistributedCacheOptions::new().timeout(Duration::from_secs(2));
    // One partition per prefix: twelve keys spread over the three nodes' slots.
    let prefixes: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
    let urls = cluster.urls();
    let l2 = |prefix: &str| {
        RedisCache::cluster(&urls)
            .unwrap()
            .key_prefix(prefix)
            .connect_timeout(Duration::from_millis(500))
    };

    for (i, prefix) in prefixes.iter().enumerate() {
        idp.push_token(app_token(&format!("at-{i}"), SCOPE));
        let a = machine(&idp, l2(prefix), strict());
        let r = a.acquire_token_for_client([SCOPE]).send().await.unwrap();
        assert_eq!(r.source, TokenSource::IdentityProvider);
        let b = machine(&idp, l2(prefix), strict());
        let r = b.acquire_token_for_client([SCOPE]).send().await.unwrap();
        assert_eq!(
            r.source,
            TokenSource::Cache,
            "{prefix}: shared through the cluster"
        );
        assert_eq!(r.access_token.secret(), format!("at-{i}"));
    }
    assert_eq!(idp.token_requests().len(), prefixes.len());

    // Kill the node holding the most partitions (every node holds some, or the test says so).
    let keys: Vec<Vec<String>> = (0..3).map(|n| cluster.keys_on(n)).collect();
    assert_eq!(keys.iter().map(Vec::len).sum::<usize>(), prefixes.len());
    let victim = (0..3).max_by_key(|n| keys[*n].len()).unwrap();
    let lost: Vec<&String> = prefixes
        .iter()
        .filter(|p| keys[victim].iter().any(|k| k.starts_with(&format!("{p}:"))))
        .collect();
    assert!(!lost.is_empty() && lost.len() < prefixes.len(), "{keys:?}");
    cluster.kill(victim);

    // A new machine per prefix, lenient: every call succeeds, from the cache where its node is
    // up, from the identity provider where it is not; and none waits on the dead node for long.
    for (i, prefix) in prefixes.iter().enumerate() {
        if lost.contains(&prefix) {
            idp.push_token(app_token(&format!("again-{i}"), SCOPE));
        }
        let c = machine(&idp, l2(prefix), lenient);
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            c.acquire_token_for_client([SCOPE]).send(),
        )
        .await
        .expect("bounded by the cache's timeout")
        .expect("a lenient call never fails on the L2");
        if lost.contains(&prefix) {
            assert_eq!(
                r.source,
                TokenSource::IdentityProvider,
                "{prefix}: its node is down"
            );
            assert_eq!(r.access_token.secret(), format!("again-{i}"));
        } else {
            assert_eq!(r.source, TokenSource::Cache, "{prefix}: its node is up");
            assert_eq!(r.access_token.secret(), format!("at-{i}"));
        }
    }
}
