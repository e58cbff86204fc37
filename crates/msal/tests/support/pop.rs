//! Helpers of the proof-of-possession tests: the SHR checked with the app's public key.

#![allow(dead_code)]

use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::PopKey;
use serde_json::Value;

/// An SSH public key as a JWK.
pub const SSH_JWK: &str = r#"{"kty":"RSA","n":"wO7xNmdbkbxgmkMqPvx0mJ1C4bi3XqlWQjsQjqX2MwFBEKT8Kb3SdYOR9c4RcGwbQ0k6xbI2wNcbFDG8bM0GWw","e":"AQAB"}"#;

pub fn url() -> url::Url {
    url::Url::parse("https://api.contoso.test:8443/orders/42?expand=lines").unwrap()
}

pub fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Verifies an ES256 SHR with the key's public JWK, and returns its header and claims.
pub fn verify_es256(shr: &str, key: &PopKey) -> (Value, Value) {
    let (input, sig) = shr.rsplit_once('.').unwrap();
    let jwk = key.public_jwk();
    let mut point = vec![4u8];
    for c in ["x", "y"] {
        point.extend(URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap());
    }
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
        .expect("the SHR verifies with the app's public key");
    let (h, c) = input.split_once('.').unwrap();
    (decode_part(h), decode_part(c))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("bounded")
}
