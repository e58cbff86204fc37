//! Tokens bound to a key: proof-of-possession (`token_type=pop` with `req_cnf`) and SSH
//! certificates (`token_type=ssh-cert` with `req_cnf` and `key_id`), and the refusal of a
//! malformed `req_cnf`.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use msal_emulator::defaults;
use serde_json::json;

const JWK: &str = r#"{"kty":"RSA","n":"wO7xNmdbkbxgmkMqPvx0mJ1C4bi3XqlWQjsQjqX2MwE","e":"AQAB"}"#;

fn cc<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
        ("client_secret", defaults::CLIENT_SECRET),
        ("scope", defaults::API_SCOPE_DEFAULT),
    ];
    form.extend_from_slice(extra);
    form
}

#[tokio::test]
async fn pop_tokens_carry_the_cnf_kid() {
    let emu = start().await;
    let cnf = URL_SAFE_NO_PAD.encode(json!({"kid": "key-thumbprint-1"}).to_string());
    let a = token(
        &emu,
        defaults::TENANT_ID,
        &cc(&[("token_type", "pop"), ("req_cnf", &cnf)]),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["token_type"], "pop");
    let c = jwt_claims(a.json["access_token"].as_str().unwrap());
    assert_eq!(c["cnf"], json!({"kid": "key-thumbprint-1"}));
    assert_eq!(c["aud"], defaults::API_RESOURCE);
    // Without token_type: a bearer token, no cnf.
    let b = token(&emu, defaults::TENANT_ID, &cc(&[])).await;
    assert_eq!(b.json["token_type"], "Bearer");
    assert!(
        jwt_claims(b.json["access_token"].as_str().unwrap())
            .get("cnf")
            .is_none()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn ssh_certificates_are_openssh_certificate_text() {
    let emu = start().await;
    let a = token(
        &emu,
        defaults::TENANT_ID,
        &cc(&[
            ("token_type", "ssh-cert"),
            ("req_cnf", JWK),
            ("key_id", "k1"),
        ]),
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["token_type"], "ssh-cert");
    let cert = a.json["access_token"].as_str().unwrap();
    let (kind, blob) = cert.split_once(' ').unwrap();
    assert_eq!(kind, "ssh-rsa-cert-v01@openssh.com");
    let blob = STANDARD.decode(blob).unwrap();
    assert_eq!(&blob[..4], &28u32.to_be_bytes());
    assert_eq!(&blob[4..32], kind.as_bytes());
    emu.shutdown().await;
}

#[tokio::test]
async fn malformed_req_cnf_and_missing_key_id_are_invalid_requests() {
    let emu = start().await;
    let t = defaults::TENANT_ID;
    let not_json = URL_SAFE_NO_PAD.encode("not json");
    let no_kid = URL_SAFE_NO_PAD.encode(json!({"x": 1}).to_string());
    for (tt, cnf) in [
        ("pop", "%%%"),
        ("pop", not_json.as_str()),
        ("pop", no_kid.as_str()),
        ("ssh-cert", "not a jwk"),
        ("ssh-cert", "{}"),
        ("mtls", "x"),
    ] {
        let extra = [("token_type", tt), ("req_cnf", cnf), ("key_id", "k")];
        let a = token(&emu, t, &cc(&extra)).await;
        assert_aad_error(&a, 400, "invalid_request", 9002313);
    }
    let a = token(&emu, t, &cc(&[("token_type", "pop")])).await;
    assert_aad_error(&a, 400, "invalid_request", 900144);
    let a = token(
        &emu,
        t,
        &cc(&[("token_type", "ssh-cert"), ("req_cnf", JWK)]),
    )
    .await;
    assert_aad_error(&a, 400, "invalid_request", 900144);
    emu.shutdown().await;
}
