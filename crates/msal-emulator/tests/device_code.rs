//! Device code flow: pending, slow_down, approved (handle, admin API and the HTML page),
//! declined, expired.

mod common;

use std::time::Duration;

use common::*;
use msal_emulator::{EmulatorConfig, EmulatorHandle, UserConfig, defaults};
use serde_json::{Value, json};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn start_flow(emu: &EmulatorHandle, scope: &str) -> Value {
    let a = post_form(
        &format!("{}/oauth2/v2.0/devicecode", emu.authority("organizations")),
        &[("client_id", defaults::PUBLIC_CLIENT_ID), ("scope", scope)],
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    a.json
}

async fn poll(emu: &EmulatorHandle, device_code: &str) -> Answer {
    poll_as(emu, GRANT, device_code).await
}

async fn poll_as(emu: &EmulatorHandle, grant: &str, device_code: &str) -> Answer {
    token(
        emu,
        "organizations",
        &[
            ("grant_type", grant),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("device_code", device_code),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn device_code_answer_shape_and_states() {
    let emu = start().await;
    let dc = start_flow(&emu, "User.Read openid profile offline_access").await;
    let user_code = dc["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 8);
    assert!(user_code.chars().all(|c| c.is_ascii_uppercase()));
    let uri = format!("{}devicelogin", emu.base_url());
    assert_eq!(dc["verification_uri"], uri);
    assert_eq!(dc["expires_in"], 900);
    assert_eq!(dc["interval"], 1);
    assert_eq!(
        dc["message"],
        format!(
            "To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."
        )
    );
    let device_code = dc["device_code"].as_str().unwrap();

    let p = poll(&emu, device_code).await;
    assert_aad_error(&p, 400, "authorization_pending", 70016);
    // Polling again at once is too fast.
    let p = poll(&emu, device_code).await;
    assert_eq!(p.status, 400);
    assert_eq!(p.json["error"], "slow_down");

    // Approve through the handle.
    assert!(
        emu.approve_device_code("NOPE1234", defaults::USER_USERNAME)
            .is_err()
    );
    assert!(emu.approve_device_code(user_code, "ghost@x").is_err());
    emu.approve_device_code(user_code, defaults::USER_USERNAME)
        .unwrap();
    let p = poll(&emu, device_code).await;
    assert_eq!(p.status, 200, "{:?}", p.json);
    assert_eq!(p.json["scope"], "User.Read openid profile offline_access");
    assert!(p.json["refresh_token"].is_string());
    assert!(p.json["id_token"].is_string());
    assert!(p.json["client_info"].is_string());
    // A device code is single use.
    let p = poll(&emu, device_code).await;
    assert_eq!(p.status, 400);
    assert_eq!(p.json["error"], "invalid_grant");
}

/// Entra also accepts `grant_type=device_code`, which msal-node and MSAL.NET send instead of the
/// RFC 8628 URN; an unknown grant type is still refused.
#[tokio::test]
async fn device_code_short_grant_type_is_accepted() {
    let emu = start().await;
    let dc = start_flow(&emu, "User.Read").await;
    let device_code = dc["device_code"].as_str().unwrap();
    let p = poll_as(&emu, "device_code", device_code).await;
    assert_aad_error(&p, 400, "authorization_pending", 70016);
    emu.approve_device_code(dc["user_code"].as_str().unwrap(), defaults::USER_USERNAME)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p = poll_as(&emu, "device_code", device_code).await;
    assert_eq!(p.status, 200, "{:?}", p.json);
    assert!(p.json["access_token"].is_string());
    let p = poll_as(&emu, "devicecode", device_code).await;
    assert_aad_error(&p, 400, "unsupported_grant_type", 70003);
}

#[tokio::test]
async fn device_code_declined_and_approved_through_admin_api() {
    let emu = start().await;
    let dc = start_flow(&emu, "User.Read").await;
    let admin = |path: &'static str, body: Value| {
        let url = format!("{}_emulator/{path}", emu.base_url());
        let tok = emu.admin_token().to_string();
        async move {
            client()
                .post(url)
                .bearer_auth(tok)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        admin("devicecode/deny", json!({"user_code": dc["user_code"]})).await,
        200
    );
    let p = poll(&emu, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(p.status, 400);
    assert_eq!(p.json["error"], "authorization_declined");

    let dc = start_flow(&emu, "User.Read").await;
    assert_eq!(
        admin(
            "devicecode/approve",
            json!({"user_code": dc["user_code"], "username": defaults::MFA_USER_USERNAME})
        )
        .await,
        200
    );
    // Approving twice is refused.
    assert_eq!(
        admin(
            "devicecode/approve",
            json!({"user_code": dc["user_code"], "username": defaults::USER_USERNAME})
        )
        .await,
        400
    );
    let p = poll(&emu, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(p.status, 200, "{:?}", p.json);
    let c = jwt_claims(p.json["access_token"].as_str().unwrap());
    assert_eq!(c["preferred_username"], defaults::MFA_USER_USERNAME);
}

#[tokio::test]
async fn device_code_expires() {
    let mut cfg = EmulatorConfig::default_directory();
    cfg.options.device_code_expires_in_secs = 1;
    cfg.options.device_code_interval_secs = 0;
    let emu = start_with(cfg).await;
    let dc = start_flow(&emu, "User.Read").await;
    assert_eq!(dc["expires_in"], 1);
    assert_eq!(dc["interval"], 0);
    let device_code = dc["device_code"].as_str().unwrap();
    // With interval 0 there is no slow_down.
    assert_eq!(
        poll(&emu, device_code).await.json["error"],
        "authorization_pending"
    );
    assert_eq!(
        poll(&emu, device_code).await.json["error"],
        "authorization_pending"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let p = poll(&emu, device_code).await;
    assert_aad_error(&p, 400, "expired_token", 70019);
    assert!(
        emu.approve_device_code(dc["user_code"].as_str().unwrap(), defaults::USER_USERNAME)
            .is_err()
    );
}

#[tokio::test]
async fn device_login_page_signs_in_with_mfa_and_consent() {
    let emu = start().await;
    let dc = start_flow(&emu, "User.Read Mail.Read").await;
    let page_url = format!("{}devicelogin", emu.base_url());
    let html = client()
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"user-code\""));
    assert!(html.contains("id=\"submit\""));

    let post = |form: Vec<(&'static str, String)>| {
        let url = page_url.clone();
        async move {
            client()
                .post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    // A wrong code.
    let html = post(vec![
        ("step", "code".into()),
        ("user_code", "ZZZZZZZZ".into()),
    ])
    .await;
    assert!(html.contains("That code didn"), "{html}");
    // The right one (lower case is fine) leads to the sign-in page.
    let html = post(vec![
        ("step", "code".into()),
        (
            "user_code",
            dc["user_code"].as_str().unwrap().to_lowercase(),
        ),
    ])
    .await;
    assert!(html.contains("id=\"username\"") && html.contains("id=\"password\""));
    let txn = hidden_value(&html, "txn");
    // The MFA user needs a code, then consent for Mail.Read.
    let html = post(vec![
        ("txn", txn.clone()),
        ("step", "login".into()),
        ("username", defaults::NO_CONSENT_USER_USERNAME.into()),
        ("password", "wrong".into()),
    ])
    .await;
    assert!(html.contains("Your account or password is incorrect"));
    emu.set_user(UserConfig {
        mfa_required: true,
        ..UserConfig::new(defaults::NO_CONSENT_USER_USERNAME, defaults::USER_PASSWORD)
    });
    let html = post(vec![
        ("txn", txn.clone()),
        ("step", "login".into()),
        ("username", defaults::NO_CONSENT_USER_USERNAME.into()),
        ("password", defaults::USER_PASSWORD.into()),
    ])
    .await;
    assert!(
        html.contains("id=\"mfa-code\"") && html.contains(defaults::MFA_CODE),
        "{html}"
    );
    let html = post(vec![
        ("txn", txn.clone()),
        ("step", "mfa".into()),
        ("mfa_code", "000000".into()),
    ])
    .await;
    assert!(html.contains("id=\"mfa-code\"") && html.contains("class=\"error\""));
    let html = post(vec![
        ("txn", txn.clone()),
        ("step", "mfa".into()),
        ("mfa_code", defaults::MFA_CODE.into()),
    ])
    .await;
    assert!(
        html.contains("id=\"accept\"") && html.contains("id=\"cancel\""),
        "{html}"
    );
    assert!(html.contains("Mail.Read"));
    let html = post(vec![
        ("txn", txn.clone()),
        ("step", "consent".into()),
        ("decision", "accept".into()),
    ])
    .await;
    assert!(html.contains("id=\"success\""), "{html}");
    let p = poll(&emu, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(p.status, 200, "{:?}", p.json);
    assert_eq!(p.json["scope"], "User.Read Mail.Read");
    assert!(
        jwt_claims(p.json["access_token"].as_str().unwrap())["amr"]
            .as_array()
            .unwrap()
            .contains(&json!("mfa"))
    );
    // The consent given on the page is remembered: ROPC for Mail.Read works now (MFA off).
    emu.set_user(UserConfig::new(
        defaults::NO_CONSENT_USER_USERNAME,
        defaults::USER_PASSWORD,
    ));
    let r = ropc(&emu, defaults::NO_CONSENT_USER_USERNAME, "Mail.Read").await;
    assert_eq!(r.status, 200, "{:?}", r.json);
}

/// The value of a hidden input.
fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.split(&marker)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"))
        .to_string()
}
