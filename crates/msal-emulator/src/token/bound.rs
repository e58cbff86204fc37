//! Tokens bound to a key: proof-of-possession (`token_type=pop`, `req_cnf` = base64url of
//! `{"kid": ...}`) and SSH certificates (`token_type=ssh-cert`, `req_cnf` = the public key as a
//! JWK, `key_id`). Whatever the grant, its bearer answer is turned into the bound one: a PoP
//! access token carries `cnf: {"kid": ...}`; an SSH "access token" is an OpenSSH certificate
//! (well-formed text, not a real certificate).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::shared::Shared;
use crate::wire::{AadErr, Incoming, Reply};

use super::issue::{sign, verify_own_token};

/// The largest `req_cnf` accepted.
const MAX_REQ_CNF: usize = 16 * 1024;

/// The token type a request asks for.
pub(super) enum Bound {
    Bearer,
    Pop { kid: String },
    Ssh { key_id: String },
}

/// AADSTS9002313: the request is malformed.
fn malformed(what: &str) -> AadErr {
    AadErr::new(9002313).error("invalid_request").desc(format!(
        "Invalid request. Request is malformed or invalid: {what}"
    ))
}

/// Reads `token_type`, `req_cnf` and `key_id`.
pub(super) fn requested(inc: &Incoming) -> Result<Bound, AadErr> {
    let Some(token_type) = inc.f("token_type") else {
        return Ok(Bound::Bearer);
    };
    let req_cnf = || {
        let c = inc.f("req_cnf").ok_or_else(|| AadErr::missing("req_cnf"))?;
        if c.len() > MAX_REQ_CNF {
            return Err(malformed("req_cnf is too large."));
        }
        Ok(c)
    };
    match token_type.to_ascii_lowercase().as_str() {
        "bearer" => Ok(Bound::Bearer),
        "pop" => {
            let raw = URL_SAFE_NO_PAD
                .decode(req_cnf()?.trim_end_matches('='))
                .map_err(|_| malformed("req_cnf is not base64url."))?;
            let cnf: Value = serde_json::from_slice(&raw)
                .map_err(|_| malformed("req_cnf is not a JSON object."))?;
            match cnf.get("kid").and_then(Value::as_str) {
                Some(kid) if !kid.is_empty() => Ok(Bound::Pop { kid: kid.into() }),
                _ => Err(malformed("req_cnf has no 'kid'.")),
            }
        }
        "ssh-cert" => {
            let jwk: Value =
                serde_json::from_str(req_cnf()?).map_err(|_| malformed("req_cnf is not a JWK."))?;
            if !jwk.get("kty").is_some_and(Value::is_string) {
                return Err(malformed("req_cnf is not a JWK (no 'kty')."));
            }
            let key_id = inc.f("key_id").ok_or_else(|| AadErr::missing("key_id"))?;
            if key_id.is_empty() {
                return Err(malformed("key_id is empty."));
            }
            Ok(Bound::Ssh {
                key_id: key_id.into(),
            })
        }
        other => Err(malformed(&format!(
            "token_type '{other}' is not supported."
        ))),
    }
}

/// Turns a successful bearer answer into the bound one asked for.
pub(super) fn bind(shared: &Shared, bound: &Bound, reply: Reply) -> Result<Reply, AadErr> {
    if matches!(bound, Bound::Bearer) || reply.status != 200 {
        return Ok(reply);
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&reply.body) else {
        return Ok(reply);
    };
    let Some(at) = body.get("access_token").and_then(Value::as_str) else {
        return Ok(reply);
    };
    match bound {
        Bound::Bearer => {}
        Bound::Pop { kid } => {
            let mut claims = verify_own_token(shared, at)
                .map_err(|_| malformed("the access token could not be bound."))?;
            claims["cnf"] = json!({ "kid": kid });
            body["access_token"] = json!(sign(shared, &claims)?);
            body["token_type"] = json!("pop");
        }
        Bound::Ssh { key_id } => {
            // The wire form of an OpenSSH certificate: its type, then base64 of a blob that
            // starts with the type as an SSH string (a fake body, naming the key id).
            let kind = b"ssh-rsa-cert-v01@openssh.com";
            let mut blob = u32::try_from(kind.len())
                .unwrap_or(0)
                .to_be_bytes()
                .to_vec();
            blob.extend_from_slice(kind);
            blob.extend_from_slice(format!("emulator:{key_id}").as_bytes());
            body["access_token"] = json!(format!(
                "ssh-rsa-cert-v01@openssh.com {}",
                STANDARD.encode(blob)
            ));
            body["token_type"] = json!("ssh-cert");
        }
    }
    let mut out = Reply::json(200, &body);
    out.headers = reply.headers;
    Ok(out)
}
