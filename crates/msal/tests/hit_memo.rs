//! A cache hit is remembered per request (tenant and scope list) for the second it was read in,
//! while nothing is written to the cache (`src/app/hit_memo.rs`). These tests check that what
//! is remembered never answers in place of the cache: after a write, a replaced cache, a
//! claims request, or the clock passing the expiry margin, the answer is the cache's (or the
//! identity provider's), counted on the wire.

mod common;

use std::time::Duration;

use common::{Answer, MockIdp, app_token};
use msal::{ConfidentialClientApplication, TokenSource};
use serde_json::json;

const A: &str = "api://a/.default";
const B: &str = "api://b/.default";

fn app(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("memo-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap()
}

async fn token(app: &ConfidentialClientApplication, scope: &str) -> (String, TokenSource) {
    let r = app.acquire_token_for_client([scope]).send().await.unwrap();
    (r.access_token.secret().to_owned(), r.source)
}

#[tokio::test]
async fn a_token_written_after_a_hit_is_served_instead_of_the_remembered_one() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", A));
    idp.push_token(app_token("at-2", A));
    let app = app(&idp);

    assert_eq!(token(&app, A).await.1, TokenSource::IdentityProvider);
    for _ in 0..3 {
        assert_eq!(token(&app, A).await, ("at-1".into(), TokenSource::Cache));
    }
    // A result the caller still holds keeps the replaced token alive: only the cache's
    // generation tells that it was replaced.
    let held = app.acquire_token_for_client([A]).send().await.unwrap();
    let forced = app
        .acquire_token_for_client([A])
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(forced.access_token.secret(), "at-2");
    assert_eq!(token(&app, A).await, ("at-2".into(), TokenSource::Cache));
    assert_eq!(held.access_token.secret(), "at-1");
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn a_replaced_cache_is_read_instead_of_the_remembered_hit() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", A));
    idp.push_token(app_token("at-2", A));
    let app = app(&idp);

    token(&app, A).await;
    let held = app.acquire_token_for_client([A]).send().await.unwrap();
    assert_eq!(held.source, TokenSource::Cache);
    app.token_cache().deserialize("").unwrap();
    assert_eq!(
        token(&app, A).await,
        ("at-2".into(), TokenSource::IdentityProvider)
    );
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn each_scope_list_and_tenant_has_its_own_hit() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-a", A));
    idp.push_token(app_token("at-b", B));
    idp.push_token(app_token("at-a-other", A));
    let app = app(&idp);

    let other_tenant = || async {
        let r = app
            .acquire_token_for_client([A])
            .with_tenant("other-tenant.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.access_token.secret(), "at-a-other");
        assert_eq!(r.tenant_id.as_deref(), Some("other-tenant.example"));
        r.source
    };
    token(&app, A).await;
    token(&app, B).await;
    assert_eq!(other_tenant().await, TokenSource::IdentityProvider);
    for _ in 0..3 {
        assert_eq!(token(&app, A).await, ("at-a".into(), TokenSource::Cache));
        assert_eq!(token(&app, B).await, ("at-b".into(), TokenSource::Cache));
        assert_eq!(other_tenant().await, TokenSource::Cache);
    }
    assert_eq!(idp.token_requests().len(), 3);
}

#[tokio::test]
async fn claims_and_forced_refreshes_are_never_answered_from_a_remembered_hit() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", A));
    idp.push_token(app_token("at-claims", A));
    let app = app(&idp);

    token(&app, A).await;
    token(&app, A).await;
    let r = app
        .acquire_token_for_client([A])
        .with_claims(r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(r.access_token.secret(), "at-claims");
    let reqs = idp.token_requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].field("claims").is_some());
}

#[tokio::test]
async fn a_remembered_hit_is_not_served_past_the_expiry_margin() {
    let idp = MockIdp::start().await;
    // Two seconds past the five minutes' margin: a hit now, expired two or three seconds on.
    idp.push_token(Answer::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 302, "access_token": "short", "scope": A}),
    ));
    idp.push_token(app_token("fresh", A));
    let app = app(&idp);

    token(&app, A).await;
    assert_eq!(token(&app, A).await, ("short".into(), TokenSource::Cache));
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        token(&app, A).await,
        ("fresh".into(), TokenSource::IdentityProvider)
    );
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn a_hit_carries_its_own_correlation_id() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", A));
    let app = app(&idp);

    token(&app, A).await;
    let given = app
        .acquire_token_for_client([A])
        .with_correlation_id("my-id")
        .send()
        .await
        .unwrap();
    assert_eq!(given.correlation_id, "my-id");
    let a = app.acquire_token_for_client([A]).send().await.unwrap();
    let b = app.acquire_token_for_client([A]).send().await.unwrap();
    assert_eq!(a.source, TokenSource::Cache);
    assert_ne!(a.correlation_id, b.correlation_id);
    let id = uuid::Uuid::parse_str(&a.correlation_id).unwrap();
    assert_eq!(id.get_version_num(), 4);
    assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
    assert_eq!(idp.token_requests().len(), 1);
}

/// Concurrent hits while the token is replaced again and again: a hit that starts after a
/// replacement finished never gets an older token (what is remembered is never fresher than
/// the cache, nor staler than the last write that finished).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_hits_never_see_a_token_older_than_the_last_finished_write() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    const WRITES: u64 = 40;
    let idp = MockIdp::start().await;
    for k in 0..=WRITES {
        idp.push_token(app_token(&format!("at-{k}"), A));
    }
    let app = app(&idp);
    token(&app, A).await;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (app, done, stop) = (app.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                let mut hits = 0u64;
                while !stop.load(Ordering::Acquire) {
                    let floor = done.load(Ordering::Acquire);
                    let r = app.acquire_token_for_client([A]).send().await.unwrap();
                    let k: u64 = r.access_token.secret()["at-".len()..].parse().unwrap();
                    assert!(k >= floor, "served at-{k} after at-{floor} was written");
                    hits += 1;
                    tokio::task::yield_now().await;
                }
                hits
            })
        })
        .collect();
    for k in 1..=WRITES {
        let r = app
            .acquire_token_for_client([A])
            .force_refresh(true)
            .send()
            .await
            .unwrap();
        assert_eq!(r.access_token.secret(), format!("at-{k}"));
        done.store(k, Ordering::Release);
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Release);
    let mut hits = 0;
    for r in readers {
        hits += r.await.unwrap();
    }
    assert!(hits > 0);
    assert_eq!(idp.token_requests().len() as u64, WRITES + 1);
}
