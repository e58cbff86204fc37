//! The admin API, the request log, HTTPS with the generated CA, and the command line.

mod common;

use std::time::Duration;

use clap::Parser;
use common::*;
use msal_emulator::{CliArgs, CliError, Emulator, EmulatorConfig, defaults};
use serde_json::{Value, json};

async fn admin(
    emu: &msal_emulator::EmulatorHandle,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, format!("{}_emulator/{path}", emu.base_url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admin_api_requires_the_token_and_manages_everything() {
    let emu = start().await;
    let tok = emu.admin_token().to_string();
    assert!(tok.len() >= 20);
    use reqwest::Method as M;
    assert_eq!(admin(&emu, M::GET, "faults", None, None).await.0, 401);
    assert_eq!(
        admin(&emu, M::GET, "faults", Some("wrong"), None).await.0,
        401
    );
    assert_eq!(admin(&emu, M::GET, "faults", Some(&tok), None).await.0, 200);
    assert_eq!(
        admin(&emu, M::GET, "nothing", Some(&tok), None).await.0,
        404
    );

    // Faults: presets by name, with overrides; list, delete one, clear.
    let (s, v) = admin(
        &emu,
        M::POST,
        "faults",
        Some(&tok),
        Some(json!({"preset": "throttled", "times": 1})),
    )
    .await;
    assert_eq!(s, 201);
    let id = v["id"].as_u64().unwrap();
    let (s, _) = admin(
        &emu,
        M::POST,
        "faults",
        Some(&tok),
        Some(json!({"preset": "no-such-preset"})),
    )
    .await;
    assert_eq!(s, 400);
    let (_, list) = admin(&emu, M::GET, "faults", Some(&tok), None).await;
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["rule"]["action"]["type"], "status");
    assert_eq!(list[0]["rule"]["action"]["retry_after"], 5);
    let cc = [
        ("grant_type", "client_credentials"),
        ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
        ("client_secret", defaults::CLIENT_SECRET),
        ("scope", defaults::API_SCOPE_DEFAULT),
    ];
    assert_eq!(token(&emu, defaults::TENANT_ID, &cc).await.status, 429);
    assert_eq!(token(&emu, defaults::TENANT_ID, &cc).await.status, 200);
    let (s, v) = admin(
        &emu,
        M::POST,
        "faults",
        Some(&tok),
        Some(json!({"endpoint": "token", "action": {"type": "aad_error", "code": 50079}})),
    )
    .await;
    assert_eq!(s, 201);
    let id2 = v["id"].as_u64().unwrap();
    assert_eq!(
        token(&emu, defaults::TENANT_ID, &cc).await.json["error_codes"][0],
        50079
    );
    assert_eq!(
        admin(&emu, M::DELETE, &format!("faults/{id2}"), Some(&tok), None)
            .await
            .0,
        200
    );
    assert_eq!(
        admin(&emu, M::DELETE, &format!("faults/{id2}"), Some(&tok), None)
            .await
            .0,
        404
    );
    assert_eq!(token(&emu, defaults::TENANT_ID, &cc).await.status, 200);
    let (_, presets) = admin(&emu, M::GET, "faults/presets", Some(&tok), None).await;
    assert!(
        presets["presets"]
            .as_array()
            .unwrap()
            .contains(&json!("network_drop"))
    );
    assert_eq!(
        admin(&emu, M::DELETE, "faults", Some(&tok), None).await.0,
        200
    );

    // Users and apps.
    let (s, _) = admin(
        &emu,
        M::POST,
        "users",
        Some(&tok),
        Some(json!({"username": "zed@contoso.onmicrosoft.com", "password": "pw", "consent_given": true})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = admin(
        &emu,
        M::POST,
        "apps",
        Some(&tok),
        Some(json!({"client_id": "app-new", "name": "New", "public_client": true})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = admin(
        &emu,
        M::POST,
        "users",
        Some(&tok),
        Some(json!({"bogus": 1})),
    )
    .await;
    assert_eq!(s, 400);
    let a = token(
        &emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "password"),
            ("client_id", "app-new"),
            ("username", "zed@contoso.onmicrosoft.com"),
            ("password", "pw"),
            ("scope", "User.Read offline_access"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let (s, _) = admin(
        &emu,
        M::POST,
        "refresh-tokens/revoke",
        Some(&tok),
        Some(json!({"username": "zed@contoso.onmicrosoft.com"})),
    )
    .await;
    assert_eq!(s, 200);
    let r = token(
        &emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "app-new"),
            ("refresh_token", a.json["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(r.json["error_codes"][0], 50173);

    // Settings: the sample API challenges everyone.
    let (s, v) = admin(
        &emu,
        M::POST,
        "settings",
        Some(&tok),
        Some(json!({"api_claims_challenge": true})),
    )
    .await;
    assert_eq!((s, v["api_claims_challenge"].as_bool()), (200, Some(true)));
    let at = ropc(&emu, defaults::USER_USERNAME, "User.Read").await;
    let resp = client()
        .get(format!("{}api/me", emu.base_url()))
        .bearer_auth(at.json["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Settings: RFC 9207. Off by default, as on Entra: no `iss` in redirects, none announced.
    let metadata = |tenant: &'static str| {
        let url = format!(
            "{}/v2.0/.well-known/openid-configuration",
            emu.authority(tenant)
        );
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let prompt_none = |tenant: &'static str| {
        let url = format!(
            "{}/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri=http://localhost:5000/&scope=openid&state=s1&prompt=none",
            emu.authority(tenant),
            defaults::PUBLIC_CLIENT_ID
        );
        async move {
            let resp = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(url)
                .send()
                .await
                .unwrap();
            let location = resp.headers()["location"].to_str().unwrap().to_owned();
            url::Url::parse(&location)
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect::<Vec<(String, String)>>()
        }
    };
    let iss_of =
        |q: &[(String, String)]| q.iter().find(|(k, _)| k == "iss").map(|(_, v)| v.clone());
    assert!(
        metadata(defaults::TENANT_ID)
            .await
            .get("authorization_response_iss_parameter_supported")
            .is_none()
    );
    assert_eq!(iss_of(&prompt_none(defaults::TENANT_ID).await), None);
    let (s, v) = admin(
        &emu,
        M::POST,
        "settings",
        Some(&tok),
        Some(json!({"authorization_response_iss": true})),
    )
    .await;
    assert_eq!(
        (s, v["authorization_response_iss"].as_bool()),
        (200, Some(true))
    );
    for tenant in [defaults::TENANT_ID, "organizations"] {
        let m = metadata(tenant).await;
        assert_eq!(m["authorization_response_iss_parameter_supported"], true);
        // Error redirects carry it too, the metadata's issuer verbatim (RFC 9207 section 2).
        let q = prompt_none(tenant).await;
        assert_eq!(
            q.iter()
                .find(|(k, _)| k == "error")
                .map(|(_, v)| v.as_str()),
            Some("login_required")
        );
        assert_eq!(iss_of(&q).as_deref(), m["issuer"].as_str(), "{tenant}");
    }
}

#[tokio::test]
async fn request_log_records_requests_and_answers() {
    let emu = start().await;
    let resp = client()
        .post(emu.token_endpoint(defaults::TENANT_ID))
        .header("x-client-sku", "msal.rust")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", defaults::CLIENT_SECRET),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ])
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap();
    client()
        .get(format!(
            "{}/v2.0/.well-known/openid-configuration?x=1",
            emu.authority("common")
        ))
        .send()
        .await
        .unwrap();
    // Admin calls are not recorded.
    admin(
        &emu,
        reqwest::Method::GET,
        "faults",
        Some(emu.admin_token()),
        None,
    )
    .await;

    let log = emu.requests();
    assert_eq!(log.len(), 2);
    let r = &log[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/{}/oauth2/v2.0/token", defaults::TENANT_ID)
    );
    assert_eq!(r.form_value("grant_type"), Some("client_credentials"));
    assert_eq!(r.form_value("client_secret"), Some(defaults::CLIENT_SECRET));
    assert_eq!(r.header("x-client-sku"), Some("msal.rust"));
    assert!(r.body.contains("grant_type=client_credentials"));
    assert_eq!(r.status, 200);
    assert_eq!(r.response_body, body);
    assert!(
        r.response_headers
            .iter()
            .any(|(k, _)| k == "x-ms-request-id")
    );
    assert_eq!(log[1].method, "GET");
    assert_eq!(log[1].query.as_deref(), Some("x=1"));
    assert!(log[1].form.is_empty());

    let (s, v) = admin(
        &emu,
        reqwest::Method::GET,
        "requests",
        Some(emu.admin_token()),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["form"][0], json!(["grant_type", "client_credentials"]));
    let (s, _) = admin(
        &emu,
        reqwest::Method::DELETE,
        "requests",
        Some(emu.admin_token()),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(emu.requests().is_empty());
    client().get(emu.base_url()).send().await.unwrap();
    assert_eq!(emu.requests().len(), 1);
    emu.clear_requests();
    assert!(emu.requests().is_empty());

    // A bounded log.
    let mut cfg = EmulatorConfig::default_directory();
    cfg.options.request_log_capacity = 2;
    let small = start_with(cfg).await;
    for i in 0..4 {
        client()
            .get(format!("{}?n={i}", small.base_url()))
            .send()
            .await
            .unwrap();
    }
    let q: Vec<_> = small
        .requests()
        .into_iter()
        .map(|r| r.query.unwrap())
        .collect();
    assert_eq!(q, vec!["n=2", "n=3"]);
}

#[tokio::test]
async fn admin_token_of_the_same_length_is_refused() {
    let emu = start().await;
    let tok = emu.admin_token().to_string();
    // The right length, one character off at the start, in the middle, at the end.
    for i in [0, tok.len() / 2, tok.len() - 1] {
        let mut wrong = tok.clone().into_bytes();
        wrong[i] = if wrong[i] == b'a' { b'b' } else { b'a' };
        let wrong = String::from_utf8(wrong).unwrap();
        assert_eq!(wrong.len(), tok.len());
        let (s, v) = admin(&emu, reqwest::Method::GET, "requests", Some(&wrong), None).await;
        assert_eq!((s, v["error"].as_str()), (401, Some("unauthorized")), "{i}");
    }
    let (s, _) = admin(&emu, reqwest::Method::GET, "requests", Some(&tok), None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn admin_request_log_redacts_secrets() {
    let emu = start().await;
    let cc = token(
        &emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", defaults::CLIENT_SECRET),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ],
    )
    .await;
    let ropc = ropc(&emu, defaults::USER_USERNAME, "openid offline_access").await;
    let access_token = cc.json["access_token"].as_str().unwrap().to_string();
    let refresh_token = ropc.json["refresh_token"].as_str().unwrap().to_string();
    let refreshed = token(
        &emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("refresh_token", &refresh_token),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200);
    let secrets = [
        defaults::CLIENT_SECRET,
        defaults::USER_PASSWORD,
        &access_token,
        &refresh_token,
        ropc.json["id_token"].as_str().unwrap(),
    ];

    let resp = client()
        .get(format!("{}_emulator/requests", emu.base_url()))
        .bearer_auth(emu.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    for secret in secrets {
        // Also percent-encoded, as in a form body.
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        assert!(
            !text.contains(secret) && !text.contains(&encoded),
            "a secret leaks through the admin API: {text}"
        );
    }
    let log: Vec<msal_emulator::RecordedRequest> = serde_json::from_str(&text).unwrap();
    assert_eq!(log.len(), 3);
    let redacted = Some(msal_emulator::REDACTED);
    assert_eq!(log[0].form_value("client_secret"), redacted);
    assert_eq!(
        log[0].form_value("client_id"),
        Some(defaults::CONFIDENTIAL_CLIENT_ID)
    );
    assert!(log[0].body.contains("client_secret=[redacted]"));
    let answer: Value = serde_json::from_str(&log[0].response_body).unwrap();
    assert_eq!(answer["access_token"].as_str(), redacted);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(log[1].form_value("password"), redacted);
    assert_eq!(log[1].form_value("username"), Some(defaults::USER_USERNAME));
    let answer: Value = serde_json::from_str(&log[1].response_body).unwrap();
    assert_eq!(answer["refresh_token"].as_str(), redacted);
    assert_eq!(answer["id_token"].as_str(), redacted);
    assert_eq!(log[2].form_value("refresh_token"), redacted);
    // In process, the log keeps what was sent, for tests that assert the wire.
    assert_eq!(
        emu.requests()[0].form_value("client_secret"),
        Some(defaults::CLIENT_SECRET)
    );
}

#[tokio::test]
async fn https_with_the_generated_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    let emu = Emulator::start_tls(EmulatorConfig::default_directory(), 0, &ca_path)
        .await
        .unwrap();
    let base = emu.base_url();
    assert_eq!(base.scheme(), "https");
    let pem = std::fs::read(&ca_path).unwrap();
    assert!(String::from_utf8_lossy(&pem).contains("BEGIN CERTIFICATE"));
    let trusted = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let port = base.port().unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let doc: Value = trusted
            .get(format!(
                "https://{host}:{port}/{}/v2.0/.well-known/openid-configuration",
                defaults::TENANT_ID
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            doc["issuer"],
            format!("https://127.0.0.1:{port}/{}/v2.0", defaults::TENANT_ID)
        );
    }
    let a = trusted
        .post(emu.token_endpoint(defaults::TENANT_ID))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", defaults::CLIENT_SECRET),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);
    // Without the CA the certificate is not trusted.
    let untrusted = reqwest::Client::builder()
        .tls_certs_only([])
        .build()
        .unwrap();
    let err = untrusted.get(base.as_str()).send().await.unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    emu.shutdown().await;
}

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: CliArgs,
}

#[tokio::test]
async fn cli_prints_the_banner_and_stops() {
    let w = Wrapper::try_parse_from(["x", "--port", "0"]).unwrap();
    let mut out = Vec::new();
    msal_emulator::run_cli_until(
        w.args,
        &mut out,
        tokio::time::sleep(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("MSAL emulator listening on http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains(&format!("/{}", defaults::TENANT_ID)));
    assert!(text.contains("admin token: "));
    assert!(text.contains(defaults::USER_USERNAME));

    // TLS with a CA file and a fixed admin token.
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let w = Wrapper::try_parse_from([
        "x",
        "--tls",
        "--ca-out",
        ca.to_str().unwrap(),
        "--admin-token",
        "letmein",
    ])
    .unwrap();
    let mut out = Vec::new();
    msal_emulator::run_cli_until(w.args, &mut out, async {})
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("listening on https://127.0.0.1:"), "{text}");
    assert!(text.contains("admin token: letmein"));
    assert!(ca.exists());

    // --ca-out needs --tls; a bad config file is an error, not a panic.
    assert!(Wrapper::try_parse_from(["x", "--ca-out", "f"]).is_err());
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "tenants = 1").unwrap();
    let w = Wrapper::try_parse_from(["x", "--config", bad.to_str().unwrap()]).unwrap();
    let err = msal_emulator::run_cli_until(w.args, &mut Vec::new(), async {})
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::Config(_)));
}
