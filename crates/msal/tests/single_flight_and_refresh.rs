//! Single-flight (concurrent callers share one request) and proactive refresh (`refresh_on`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Answer, MockIdp, app_token};
use msal::{ConfidentialClientApplication, TokenSource};
use msal_emulator::defaults as d;
use msal_emulator::{Emulator, EmulatorConfig};
use serde_json::json;

const SCOPE: &str = "api://msal-emulator-api/.default";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_calls_on_a_cold_cache_make_one_token_request() {
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap();
    let app = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
        .authority(emu.authority(d::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_secret(d::CLIENT_SECRET)
        .build()
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let app = app.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            app.acquire_token_for_client([SCOPE]).send().await
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        tokens.insert(r.access_token.secret().to_owned());
    }
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    let token_requests = emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .count();
    assert_eq!(
        token_requests, 1,
        "exactly one request reached the identity provider"
    );
    let discovery = emu
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("openid-configuration"))
        .count();
    assert_eq!(discovery, 1, "and one metadata request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_are_shared_too() {
    let idp = MockIdp::start().await;
    idp.push_token(
        Answer::oauth_error(400, "invalid_scope", 70011, None).delayed(Duration::from_millis(200)),
    );
    let app = ConfidentialClientApplication::builder("daemon")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap();
    let calls = (0..50).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { app.acquire_token_for_client([SCOPE]).send().await })
    });
    for c in calls.collect::<Vec<_>>() {
        assert_eq!(c.await.unwrap().unwrap_err().code(), "invalid_scope");
    }
    assert_eq!(idp.token_requests().len(), 1);
}

async fn wait_for_token_requests(idp: &MockIdp, n: usize) {
    for _ in 0..100 {
        if idp.token_requests().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} token requests, saw {}",
        idp.token_requests().len()
    );
}

fn refreshable(at: &str, refresh_in: u64) -> Answer {
    Answer::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
               "refresh_in": refresh_in, "access_token": at, "scope": SCOPE}),
    )
}

#[tokio::test]
async fn past_refresh_on_the_cached_token_is_returned_and_refreshed_in_the_background() {
    let idp = MockIdp::start().await;
    idp.push_token(refreshable("at-1", 0));
    idp.push_token(app_token("at-2", SCOPE));
    let app = ConfidentialClientApplication::builder("daemon")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap();
    let first = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert!(first.refresh_on.is_some());

    let second = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(second.source, TokenSource::Cache);
    assert_eq!(
        second.access_token.secret(),
        "at-1",
        "answered at once from the cache"
    );
    wait_for_token_requests(&idp, 2).await;
    let refresh = &idp.token_requests()[1];
    assert_eq!(refresh.field("grant_type"), Some("client_credentials"));

    // Once the background refresh saved it, the new token is served.
    let mut third = None;
    for _ in 0..50 {
        let r = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
        if r.access_token.secret() == "at-2" {
            third = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let third = third.expect("the refreshed token reaches the cache");
    assert_eq!(third.source, TokenSource::Cache);
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn a_failed_background_refresh_keeps_the_valid_cached_token() {
    let idp = MockIdp::start().await;
    idp.push_token(refreshable("at-1", 0));
    idp.push_token(Answer::raw(500, "down", "text/plain"));
    idp.push_token(Answer::raw(500, "down", "text/plain"));
    let app = ConfidentialClientApplication::builder("daemon")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .retry_policy(msal::http::RetryPolicy {
            delay: Duration::from_millis(10),
            ..Default::default()
        })
        .build()
        .unwrap();
    app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    wait_for_token_requests(&idp, 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.source, TokenSource::Cache);
    assert_eq!(r.access_token.secret(), "at-1");
    assert_eq!(
        idp.token_requests().len(),
        3,
        "no second background refresh within its window"
    );
}

#[tokio::test]
async fn long_lived_tokens_get_a_half_life_refresh_on() {
    let idp = MockIdp::start().await;
    idp.push_token(Answer::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 86399, "access_token": "long", "scope": SCOPE}),
    ));
    idp.push_token(app_token("short", "api://other/.default"));
    let app = ConfidentialClientApplication::builder("daemon")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap();
    let long = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    let half = (long.refresh_on.unwrap() - time::OffsetDateTime::now_utc()).whole_seconds();
    assert!((43_000..=43_200).contains(&half), "{half}");
    let short = app
        .acquire_token_for_client(["api://other/.default"])
        .send()
        .await
        .unwrap();
    assert_eq!(
        short.refresh_on, None,
        "an hour-long token has no proactive refresh"
    );
    let cached = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(cached.refresh_on, long.refresh_on, "refresh_on is cached");
}
