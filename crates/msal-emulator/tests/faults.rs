//! Fault injection: every action, matching, times and presets.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use msal_emulator::{EmulatorConfig, Endpoint, FaultAction, FaultRule, RetryAfter, defaults};
use serde_json::json;

fn cc_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
        ("client_secret", defaults::CLIENT_SECRET),
        ("scope", defaults::API_SCOPE_DEFAULT),
    ]
}

#[tokio::test]
async fn aad_errors_and_times_then_normal() {
    let emu = start().await;
    let id = emu.add_fault(FaultRule::preset("consent_required").unwrap().times(2));
    assert!(id > 0);
    assert_eq!(emu.faults()[0].0, id);
    assert_eq!(emu.faults()[0].2, Some(2));
    for _ in 0..2 {
        let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
        assert_aad_error(&a, 400, "invalid_grant", 65001);
        assert_eq!(a.json["suberror"], "consent_required");
    }
    let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
    assert_eq!(a.status, 200);
    assert_eq!(emu.faults()[0].2, Some(0));
    assert!(emu.remove_fault(id));
    assert!(!emu.remove_fault(id));

    // Override of suberror and claims.
    emu.add_fault(
        FaultRule::new(FaultAction::AadError {
            code: 50158,
            suberror: Some("custom".into()),
            claims: Some("{\"x\":1}".into()),
        })
        .once(),
    );
    let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
    assert_aad_error(&a, 400, "interaction_required", 50158);
    assert_eq!(a.json["suberror"], "custom");
    assert_eq!(a.json["claims"], "{\"x\":1}");

    for (preset, status, error, code) in [
        ("mfa_required", 400, "interaction_required", 50076),
        ("password_expired", 400, "invalid_grant", 50055),
        ("conditional_access_blocked", 400, "invalid_grant", 53003),
        ("protection_policy_required", 400, "invalid_grant", 53005),
        (
            "grant_not_supported_on_common",
            400,
            "invalid_request",
            90010,
        ),
        ("claims_challenge", 400, "interaction_required", 50158),
    ] {
        emu.add_fault(FaultRule::preset(preset).unwrap().once());
        let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
        assert_aad_error(&a, status, error, code);
        if preset == "protection_policy_required" {
            assert_eq!(a.json["suberror"], "protection_policy_required");
        }
        if preset == "conditional_access_blocked" {
            assert_eq!(a.json["suberror"], "message_only");
        }
        if preset == "claims_challenge" {
            assert_eq!(a.json["claims"], msal_emulator::CLAIMS_CHALLENGE_JSON);
        }
    }
}

#[tokio::test]
async fn status_faults_with_retry_after() {
    let emu = start().await;
    emu.add_fault(FaultRule::preset("throttled").unwrap().once());
    let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
    assert_eq!(a.status, 429);
    assert_eq!(a.header("retry-after"), Some("5"));
    assert_eq!(a.json["error"], "temporarily_unavailable");

    emu.add_fault(FaultRule::preset("service_unavailable").unwrap().once());
    let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
    assert_eq!(a.status, 503);
    assert!(a.header("retry-after").is_none());

    emu.add_fault(FaultRule::preset("temporarily_unavailable").unwrap().once());
    let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.header("retry-after"), Some("1"));

    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    emu.add_fault(
        FaultRule::new(FaultAction::Status {
            status: 429,
            retry_after: Some(RetryAfter::HttpDate(when)),
            body: Some("slow down".into()),
        })
        .once(),
    );
    let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
    assert_eq!(a.status, 429);
    assert_eq!(
        a.header("retry-after"),
        Some("Wed, 18 May 2033 03:33:20 GMT")
    );
    assert_eq!(a.json, json!("slow down"));
    assert_eq!(
        token(&emu, defaults::TENANT_ID, &cc_form()).await.status,
        200
    );
}

#[tokio::test]
async fn delay_hang_and_dropped_connection() {
    let emu = start().await;
    emu.add_fault(FaultRule::delay(400).once());
    let t0 = Instant::now();
    let a = token(&emu, defaults::TENANT_ID, &cc_form()).await;
    assert_eq!(a.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(400));

    emu.add_fault(FaultRule::hang().once());
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = c
        .post(emu.token_endpoint(defaults::TENANT_ID))
        .form(&cc_form())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    emu.add_fault(FaultRule::preset("network_drop").unwrap().once());
    let err = client()
        .post(emu.token_endpoint(defaults::TENANT_ID))
        .form(&cc_form())
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout() && !err.is_status(), "{err:?}");
    // Back to normal afterwards.
    assert_eq!(
        token(&emu, defaults::TENANT_ID, &cc_form()).await.status,
        200
    );

    // The log shows the unanswered requests with status 0.
    let statuses: Vec<u16> = emu.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 0, 0, 200]);
    emu.shutdown().await;
}

#[tokio::test]
async fn malformed_and_html_bodies() {
    let emu = start().await;
    emu.add_fault(FaultRule::malformed_json().once());
    let r = client()
        .post(emu.token_endpoint(defaults::TENANT_ID))
        .form(&cc_form())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
    assert!(text.starts_with('{'));

    emu.add_fault(FaultRule::new(FaultAction::MalformedJson { status: 400 }).once());
    let r = token(&emu, defaults::TENANT_ID, &cc_form()).await;
    assert_eq!(r.status, 400);
    assert!(r.json.is_string());

    emu.add_fault(FaultRule::preset("html_proxy_error").unwrap().once());
    let r = client()
        .post(emu.token_endpoint(defaults::TENANT_ID))
        .form(&cc_form())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains("<h1>502 Bad Gateway</h1>"));
}

#[tokio::test]
async fn declined_scope_and_matching() {
    let emu = start().await;
    emu.add_fault(FaultRule::preset("declined_scope").unwrap());
    let a = ropc(
        &emu,
        defaults::USER_USERNAME,
        "User.Read Mail.Read offline_access",
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["scope"], "User.Read offline_access");
    assert_eq!(
        jwt_claims(a.json["access_token"].as_str().unwrap())["scp"],
        "User.Read"
    );
    emu.clear_faults();

    // Matching on user, grant type, scope, tenant and endpoint.
    emu.add_fault(FaultRule::aad_error(53003).for_user(defaults::USER_USERNAME.to_uppercase()));
    assert_eq!(
        ropc(&emu, defaults::USER_USERNAME, "User.Read").await.json["error_codes"][0],
        53003
    );
    assert_eq!(
        ropc(&emu, defaults::CLAIMS_CHALLENGE_USER_USERNAME, "User.Read")
            .await
            .status,
        200
    );
    emu.clear_faults();
    emu.add_fault(
        FaultRule::aad_error(53003)
            .for_scope("mail.read")
            .for_grant_type("password"),
    );
    assert_eq!(
        ropc(&emu, defaults::USER_USERNAME, "User.Read")
            .await
            .status,
        200
    );
    assert_eq!(
        ropc(&emu, defaults::USER_USERNAME, "Mail.Read")
            .await
            .status,
        400
    );
    emu.clear_faults();
    emu.add_fault(FaultRule::status(500).for_tenant(defaults::TENANT_DOMAIN));
    assert_eq!(
        token(&emu, defaults::TENANT_ID, &cc_form()).await.status,
        500
    );
    emu.clear_faults();
    emu.add_fault(
        FaultRule::status(503)
            .on(Endpoint::Discovery)
            .for_client("x"),
    );
    assert_eq!(
        token(&emu, defaults::TENANT_ID, &cc_form()).await.status,
        200
    );
    emu.clear_faults();
    // Probability 0 never applies.
    emu.add_fault(FaultRule::status(500).with_probability(0.0));
    assert_eq!(
        token(&emu, defaults::TENANT_ID, &cc_form()).await.status,
        200
    );
    emu.clear_faults();

    // Discovery faults.
    emu.add_fault(FaultRule::status(503).on(Endpoint::Discovery).once());
    let url = format!(
        "{}/v2.0/.well-known/openid-configuration",
        emu.authority(defaults::TENANT_ID)
    );
    assert_eq!(client().get(&url).send().await.unwrap().status(), 503);
    assert_eq!(client().get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn faults_from_toml_configuration() {
    let cfg = EmulatorConfig::from_toml_str(
        r#"
        include_defaults = true
        [[faults]]
        preset = "throttled"
        times = 1
        "#,
    )
    .unwrap();
    let emu = start_with(cfg).await;
    assert_eq!(
        token(&emu, defaults::TENANT_ID, &cc_form()).await.status,
        429
    );
    assert_eq!(
        token(&emu, defaults::TENANT_ID, &cc_form()).await.status,
        200
    );
}
