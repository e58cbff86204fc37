//! Helpers shared by the integration tests.
// Each test binary compiles this module and uses only some of its helpers; every helper is
// used by at least one test, so the rest would be reported as dead in each binary.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, defaults};
use serde_json::Value;

pub async fn start() -> EmulatorHandle {
    start_with(EmulatorConfig::default_directory()).await
}

pub async fn start_with(cfg: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(cfg).await.expect("emulator starts")
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct Answer {
    pub status: u16,
    pub json: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn post_form(url: &str, form: &[(&str, &str)]) -> Answer {
    send(client().post(url).form(form)).await
}

/// Sends a request and reads its answer, within 20 s.
pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = tokio::time::timeout(std::time::Duration::from_secs(20), req.send())
        .await
        .expect("an answer in time")
        .expect("an answer");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        json,
        headers,
    }
}

pub async fn token(emu: &EmulatorHandle, tenant: &str, form: &[(&str, &str)]) -> Answer {
    post_form(&emu.token_endpoint(tenant), form).await
}

/// The payload of a JWT, unverified.
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// ROPC for a default user with the public client.
pub async fn ropc(emu: &EmulatorHandle, username: &str, scope: &str) -> Answer {
    token(
        emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "password"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("username", username),
            ("password", defaults::USER_PASSWORD),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await
}

/// Asserts an Entra-shaped error answer.
pub fn assert_aad_error(a: &Answer, status: u16, error: &str, code: u64) {
    assert_eq!(a.status, status, "status of {:?}", a.json);
    assert_eq!(a.json["error"], error, "error of {:?}", a.json);
    assert_eq!(a.json["error_codes"][0], code, "code of {:?}", a.json);
    let desc = a.json["error_description"].as_str().unwrap();
    assert!(
        desc.starts_with(&format!("AADSTS{code}: ")),
        "description {desc}"
    );
    assert!(desc.contains("Trace ID: "));
    assert!(a.json["trace_id"].is_string());
    assert!(a.json["correlation_id"].is_string());
    assert!(a.json["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a.header("x-ms-request-id"), a.json["trace_id"].as_str());
}
