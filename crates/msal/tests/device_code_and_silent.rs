//! Device code polling and silent acquisition on the wire.

mod common;

use std::sync::{Arc, Mutex};

use common::{Answer, MockIdp, TENANT, UID, user_token};
use msal::{ErrorKind, PublicClientApplication, TokenSource, UiRequiredClassification};
use serde_json::json;

const SCOPE: &str = "https://graph.microsoft.com/User.Read";

fn app(idp: &MockIdp) -> PublicClientApplication {
    PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap()
}

fn code_answer(interval: u64, expires_in: u64) -> Answer {
    Answer::json(
        200,
        json!({
            "device_code": "DC-secret", "user_code": "ABCD1234",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": expires_in, "interval": interval,
            "message": "To sign in, open https://microsoft.com/devicelogin and enter ABCD1234.",
        }),
    )
}

async fn sign_in(idp: &MockIdp, app: &PublicClientApplication) -> msal::AuthenticationResult {
    idp.push_devicecode(code_answer(1, 900));
    idp.push_token(user_token(
        "at-1",
        "rt-1",
        "User.Read openid profile offline_access",
    ));
    app.acquire_token_by_device_code([SCOPE])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn device_code_polls_until_the_user_signs_in() {
    let idp = MockIdp::start().await;
    idp.push_devicecode(code_answer(1, 900));
    idp.push_token(Answer::oauth_error(
        400,
        "authorization_pending",
        70016,
        None,
    ));
    idp.push_token(user_token(
        "at-1",
        "rt-1",
        "User.Read openid profile offline_access",
    ));
    let seen = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let r = app(&idp)
        .acquire_token_by_device_code([SCOPE])
        .on_code(move |c| *seen2.lock().unwrap() = Some(c.message.clone()))
        .send()
        .await
        .unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .as_deref()
            .unwrap()
            .contains("ABCD1234")
    );
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let account = r.account.unwrap();
    assert_eq!(account.home_account_id, format!("{UID}.{TENANT}"));
    assert_eq!(account.username, "alice@contoso.onmicrosoft.com");
    assert_eq!(r.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(r.id_token_claims.unwrap()["name"], "Alice");

    let reqs = idp.requests();
    let dc = reqs
        .iter()
        .find(|r| r.path.ends_with("/devicecode"))
        .unwrap();
    assert_eq!(dc.field_names(), vec!["client_id", "scope"]);
    assert_eq!(
        dc.field("scope"),
        Some(&*format!("{SCOPE} openid profile offline_access"))
    );
    let polls = idp.token_requests();
    assert_eq!(polls.len(), 2);
    for p in &polls {
        assert_eq!(
            p.field("grant_type"),
            Some("urn:ietf:params:oauth:grant-type:device_code")
        );
        assert_eq!(p.field("device_code"), Some("DC-secret"));
        assert_eq!(p.field("client_id"), Some("public-client"));
        assert_eq!(p.field("client_info"), Some("1"));
        assert_eq!(
            p.header("client-request-id"),
            dc.header("client-request-id")
        );
    }
}

#[tokio::test]
async fn declined_is_cancelled_and_expired_is_a_service_error() {
    let idp = MockIdp::start().await;
    idp.push_devicecode(code_answer(1, 900));
    idp.push_token(Answer::oauth_error(
        400,
        "authorization_declined",
        70002,
        None,
    ));
    let e = app(&idp)
        .acquire_token_by_device_code([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(e.code(), "authorization_declined");
    assert_eq!(e.classification(), None);

    idp.push_devicecode(code_answer(1, 900));
    idp.push_token(Answer::oauth_error(400, "expired_token", 70019, None));
    let e = app(&idp)
        .acquire_token_by_device_code([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Service, "expired_token"));
    assert_eq!(e.aadsts_codes(), &[70019]);
}

#[tokio::test]
async fn the_caller_can_cancel_polling() {
    let idp = MockIdp::start().await;
    idp.push_devicecode(code_answer(1, 900));
    for _ in 0..10 {
        idp.push_token(Answer::oauth_error(
            400,
            "authorization_pending",
            70016,
            None,
        ));
    }
    let e = app(&idp)
        .acquire_token_by_device_code([SCOPE])
        .with_cancellation(tokio::time::sleep(std::time::Duration::from_millis(1500)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(e.code(), "authentication_canceled");
    assert_eq!(
        idp.token_requests().len(),
        1,
        "one poll in 1.5 s at a 1 s interval"
    );
}

#[tokio::test]
async fn slow_down_adds_five_seconds() {
    let idp = MockIdp::start().await;
    idp.push_devicecode(code_answer(1, 900));
    idp.push_token(Answer::oauth_error(400, "slow_down", 70016, None));
    idp.push_token(user_token("at", "rt", SCOPE));
    let started = std::time::Instant::now();
    app(&idp)
        .acquire_token_by_device_code([SCOPE])
        .send()
        .await
        .unwrap();
    // 1 s before the first poll, 6 s before the second: the wait is behaviour, not a timing goal.
    assert!(started.elapsed() >= std::time::Duration::from_secs(7));
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn silent_serves_the_cache_then_redeems_the_refresh_token() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    let first = sign_in(&idp, &app).await;
    let account = first.account.clone().unwrap();
    assert_eq!(app.accounts().await.unwrap(), vec![account.clone()]);

    let hit = app
        .acquire_token_silent([SCOPE], &account)
        .send()
        .await
        .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(hit.access_token.secret(), "at-1");
    assert_eq!(hit.account.as_ref(), Some(&account));
    assert_eq!(idp.token_requests().len(), 1);

    idp.push_token(user_token(
        "at-2",
        "rt-2",
        "User.Read openid profile offline_access",
    ));
    let refreshed = app
        .acquire_token_silent([SCOPE], &account)
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.source, TokenSource::IdentityProvider);
    assert_eq!(refreshed.access_token.secret(), "at-2");
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(
        t.field_names(),
        vec![
            "client_id",
            "client_info",
            "grant_type",
            "refresh_token",
            "scope"
        ]
    );
    assert_eq!(t.field("grant_type"), Some("refresh_token"));
    assert_eq!(t.field("refresh_token"), Some("rt-1"));
    assert_eq!(
        t.field("scope"),
        Some(&*format!("{SCOPE} openid profile offline_access"))
    );

    // The rotated refresh token is used next.
    idp.push_token(user_token(
        "at-3",
        "rt-3",
        "User.Read openid profile offline_access",
    ));
    app.acquire_token_silent([SCOPE], &account)
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        idp.token_requests().pop().unwrap().field("refresh_token"),
        Some("rt-2")
    );

    // A new scope is not in the cache: the refresh token gets it.
    idp.push_token(user_token("at-mail", "rt-4", "Mail.Read"));
    let mail = app
        .acquire_token_silent(["Mail.Read"], &account)
        .send()
        .await
        .unwrap();
    assert_eq!(mail.access_token.secret(), "at-mail");

    app.remove_account(&account).await.unwrap();
    assert!(app.accounts().await.unwrap().is_empty());
    let e = app
        .acquire_token_silent([SCOPE], &account)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.classification(),
        Some(UiRequiredClassification::AcquireTokenSilentFailed)
    );
}

#[tokio::test]
async fn silent_without_tokens_is_ui_required_without_a_request() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    let ghost = msal::Account::new(format!("{UID}.{TENANT}"), "127.0.0.1", "bob", UID, TENANT);
    let e = app
        .acquire_token_silent([SCOPE], &ghost)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(e.code(), "no_tokens_found");
    assert_eq!(
        e.classification(),
        Some(UiRequiredClassification::AcquireTokenSilentFailed)
    );
    assert!(e.http_status().is_none());
    assert!(idp.token_requests().is_empty());
}

#[tokio::test]
async fn invalid_grant_is_classified_and_throttled_for_silent_calls() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    let account = sign_in(&idp, &app).await.account.unwrap();
    idp.push_token(Answer::oauth_error(
        400,
        "invalid_grant",
        65001,
        Some("consent_required"),
    ));
    let e = app
        .acquire_token_silent([SCOPE], &account)
        .force_refresh(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(e.code(), "invalid_grant");
    assert_eq!(e.suberror(), Some("consent_required"));
    assert_eq!(
        e.classification(),
        Some(UiRequiredClassification::ConsentRequired)
    );
    assert_eq!(e.aadsts_codes(), &[65001]);
    let before = idp.token_requests().len();

    let again = app
        .acquire_token_silent([SCOPE], &account)
        .force_refresh(true)
        .send()
        .await
        .unwrap_err();
    assert!(again.is_client_throttled());
    assert_eq!(
        again.classification(),
        Some(UiRequiredClassification::ConsentRequired)
    );
    assert!(again.retry_after().unwrap() > std::time::Duration::from_secs(100));
    assert_eq!(
        idp.token_requests().len(),
        before,
        "throttled for 120 s: no request"
    );
}

#[tokio::test]
async fn public_clients_throttle_a_5xx_without_retry_after() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    let account = sign_in(&idp, &app).await.account.unwrap();
    idp.push_token(Answer::raw(500, "oops", "text/plain"));
    idp.push_token(Answer::raw(500, "oops", "text/plain"));
    let e = app
        .acquire_token_silent([SCOPE], &account)
        .force_refresh(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.http_status(), Some(500));
    let n = idp.token_requests().len();
    let t = app
        .acquire_token_silent([SCOPE], &account)
        .force_refresh(true)
        .send()
        .await
        .unwrap_err();
    assert!(t.is_client_throttled());
    assert!(t.retry_after().unwrap() > std::time::Duration::from_secs(50));
    assert_eq!(idp.token_requests().len(), n);
}

#[tokio::test]
async fn protection_policy_and_client_mismatch_are_service_errors() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    let account = sign_in(&idp, &app).await.account.unwrap();
    idp.push_token(Answer::oauth_error(
        400,
        "invalid_grant",
        53005,
        Some("protection_policy_required"),
    ));
    let e = app
        .acquire_token_silent(["Files.Read"], &account)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "protection_policy_required")
    );
    assert_eq!(e.suberror(), Some("protection_policy_required"));
    idp.push_token(Answer::oauth_error(
        400,
        "invalid_grant",
        70000,
        Some("client_mismatch"),
    ));
    let e = app
        .acquire_token_silent(["Mail.Read"], &account)
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Service, "invalid_grant"));
}

#[tokio::test]
async fn a_web_app_redeems_the_refresh_token_with_its_credential() {
    let idp = MockIdp::start().await;
    let app = msal::ConfidentialClientApplication::builder("web-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("web-secret")
        .build()
        .unwrap();
    idp.push_token(user_token(
        "at-1",
        "rt-1",
        "User.Read openid profile offline_access",
    ));
    let first = app
        .acquire_token_by_username_password([SCOPE], "alice@contoso.onmicrosoft.com", "pw")
        .send()
        .await
        .unwrap();
    let account = first.account.unwrap();
    assert_eq!(app.accounts().await.unwrap(), vec![account.clone()]);
    let hit = app
        .acquire_token_silent([SCOPE], &account)
        .send()
        .await
        .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);

    idp.push_token(user_token(
        "at-2",
        "rt-2",
        "User.Read openid profile offline_access",
    ));
    let r = app
        .acquire_token_silent([SCOPE], &account)
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-2");
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.field("grant_type"), Some("refresh_token"));
    assert_eq!(t.field("refresh_token"), Some("rt-1"));
    assert_eq!(t.field("client_secret"), Some("web-secret"));
    assert_eq!(t.field("client_id"), Some("web-app"));
}
