//! Server telemetry on the wire: `x-client-current-telemetry` and `x-client-last-telemetry`
//! in MSAL Python's format (schema 4), on token endpoint requests only; failed requests
//! reported on the next one, then cleared; the failed list bounded.

mod common;

use std::time::Duration;

use common::{Answer, MockIdp, app_token, user_token};
use msal::http::RetryPolicy;
use msal::{ConfidentialClientApplication, PublicClientApplication};
use serde_json::json;

const CURRENT: &str = "x-client-current-telemetry";
const LAST: &str = "x-client-last-telemetry";
const SCOPE: &str = "api://msal-emulator-api/.default";
const GRANTED: &str = "User.Read openid profile offline_access";

fn daemon(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret-value")
        .retry_policy(RetryPolicy {
            delay: Duration::from_millis(10),
            ..Default::default()
        })
        .build()
        .unwrap()
}

fn public(idp: &MockIdp) -> PublicClientApplication {
    PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap()
}

fn managed() -> Answer {
    Answer::json(
        200,
        json!({"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.onmicrosoft.com",
               "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}),
    )
}

/// The two telemetry headers of the `i`-th token request.
fn telemetry(idp: &MockIdp, i: usize) -> (String, String) {
    let t = &idp.token_requests()[i];
    (
        t.header(CURRENT).unwrap().to_owned(),
        t.header(LAST).unwrap().to_owned(),
    )
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the request finished")
}

#[tokio::test]
async fn client_credentials_first_request_cache_hits_and_force_refresh() {
    let idp = MockIdp::start().await;
    let app = daemon(&idp);
    idp.push_token(app_token("at-1", SCOPE));
    idp.push_token(app_token("at-2", SCOPE));
    bounded(app.acquire_token_for_client([SCOPE]).send())
        .await
        .unwrap();
    assert_eq!(
        telemetry(&idp, 0),
        ("4|730,2|".to_owned(), "4|0|||".to_owned())
    );
    // Two tokens served from the cache, then a forced refresh reports them.
    for _ in 0..2 {
        bounded(app.acquire_token_for_client([SCOPE]).send())
            .await
            .unwrap();
    }
    bounded(
        app.acquire_token_for_client([SCOPE])
            .force_refresh(true)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        telemetry(&idp, 1),
        ("4|730,1|".to_owned(), "4|2|||".to_owned())
    );
    // Only the token endpoint gets them: not discovery, not metadata.
    for r in idp.requests() {
        if !r.path.ends_with("/oauth2/v2.0/token") {
            assert_eq!(r.header(CURRENT), None, "{}", r.path);
            assert_eq!(r.header(LAST), None, "{}", r.path);
        }
    }
}

#[tokio::test]
async fn a_failed_request_is_reported_on_the_next_then_cleared() {
    let idp = MockIdp::start().await;
    let app = daemon(&idp);
    idp.push_token(Answer::oauth_error(400, "invalid_client", 7000215, None));
    let e = bounded(
        app.acquire_token_for_client([SCOPE])
            .with_correlation_id("cid-failed-1")
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "invalid_client");
    // A 500 after the retry: one failure, with the code of the last answer.
    idp.push_token(Answer::oauth_error(500, "server_error", 50000, None));
    idp.push_token(Answer::oauth_error(500, "server_error", 50000, None));
    let e = bounded(
        app.acquire_token_for_client(["api://other/.default"])
            .with_correlation_id("cid-failed-2")
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "server_error");
    assert_eq!(idp.token_requests().len(), 3);
    // The retry carries the same headers as the first attempt.
    assert_eq!(telemetry(&idp, 2), telemetry(&idp, 1));
    assert_eq!(telemetry(&idp, 1).1, "4|0|730,cid-failed-1|invalid_client|");

    idp.push_token(app_token("at-1", SCOPE));
    bounded(app.acquire_token_for_client([SCOPE]).send())
        .await
        .unwrap();
    assert_eq!(
        telemetry(&idp, 3),
        (
            "4|730,2|".to_owned(),
            "4|0|730,cid-failed-1,730,cid-failed-2|invalid_client,server_error|".to_owned()
        )
    );
    // Reported by a request that succeeded: cleared.
    idp.push_token(app_token("at-2", SCOPE));
    bounded(
        app.acquire_token_for_client([SCOPE])
            .force_refresh(true)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(telemetry(&idp, 4).1, "4|0|||");
}

#[tokio::test]
async fn a_hostile_error_code_is_sanitised_and_the_failed_list_is_capped() {
    let idp = MockIdp::start().await;
    let app = daemon(&idp);
    let hostile = format!("bad|code,{}", "x".repeat(500));
    for i in 0..20 {
        idp.push_token(Answer::json(400, json!({"error": hostile})));
        let e = bounded(
            app.acquire_token_for_client([format!("api://app{i}/.default")])
                .with_correlation_id("00000000-0000-0000-0000-00000000000a")
                .send(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), hostile);
    }
    idp.push_token(app_token("at", SCOPE));
    bounded(app.acquire_token_for_client([SCOPE]).send())
        .await
        .unwrap();
    let (_, last) = telemetry(&idp, 20);
    let code = format!("bad_code_{}", "x".repeat(64 - 9));
    // ",730,<36>,<64>" is 106 characters: three fit below MSAL Python's 350.
    let entry = "730,00000000-0000-0000-0000-00000000000a";
    assert_eq!(
        last,
        format!("4|0|{entry},{entry},{entry}|{code},{code},{code}|")
    );
    assert!(last.len() < 400);
}

#[tokio::test]
async fn each_user_flow_sends_its_api_id() {
    let idp = MockIdp::start().await;
    let app = public(&idp);
    // Device code: every poll carries the same headers; the pending answers are no failures.
    idp.push_devicecode(Answer::json(
        200,
        json!({"device_code": "DC", "user_code": "U", "verification_uri": "https://microsoft.com/devicelogin",
               "expires_in": 900, "interval": 1, "message": "m"}),
    ));
    idp.push_token(Answer::oauth_error(
        400,
        "authorization_pending",
        70016,
        None,
    ));
    idp.push_token(user_token("at-1", "rt-1", GRANTED));
    let r = bounded(app.acquire_token_by_device_code(["User.Read"]).send())
        .await
        .unwrap();
    assert_eq!(
        telemetry(&idp, 0),
        ("4|622,0|".to_owned(), "4|0|||".to_owned())
    );
    assert_eq!(telemetry(&idp, 1), telemetry(&idp, 0));
    // The device code endpoint gets none.
    let dc = idp
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/devicecode"))
        .unwrap();
    assert_eq!(dc.header(CURRENT), None);

    // Silent: from the cache (a hit), then forced to the refresh token.
    let account = r.account.unwrap();
    bounded(app.acquire_token_silent(["User.Read"], &account).send())
        .await
        .unwrap();
    idp.push_token(user_token("at-2", "rt-2", GRANTED));
    bounded(
        app.acquire_token_silent(["User.Read"], &account)
            .force_refresh(true)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        telemetry(&idp, 2),
        ("4|84,1|".to_owned(), "4|1|||".to_owned())
    );

    // Username/password: refused, then reported by the next request.
    idp.push_realm(managed());
    idp.push_token(Answer::oauth_error(400, "invalid_grant", 50126, None));
    let e = bounded(
        app.acquire_token_by_username_password(["User.Read"], "alice@contoso.com", "pw")
            .with_correlation_id("ropc-cid")
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "invalid_grant");
    assert_eq!(
        telemetry(&idp, 3),
        ("4|301,0|".to_owned(), "4|0|||".to_owned())
    );
    idp.push_token(user_token("at-3", "rt-3", GRANTED));
    bounded(
        app.acquire_token_by_refresh_token("rt-x", ["User.Read"])
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        telemetry(&idp, 4),
        (
            "4|85,0|".to_owned(),
            "4|0|301,ropc-cid|invalid_grant|".to_owned()
        )
    );
}

#[tokio::test]
async fn on_behalf_of_sends_its_api_id() {
    let idp = MockIdp::start().await;
    let app = daemon(&idp);
    idp.push_token(user_token("obo-at", "obo-rt", GRANTED));
    let incoming = common::jwt(json!({"aud": "api://daemon-app", "oid": common::UID}));
    bounded(
        app.acquire_token_on_behalf_of(["User.Read"], incoming)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        telemetry(&idp, 0),
        ("4|523,0|".to_owned(), "4|0|||".to_owned())
    );
}
