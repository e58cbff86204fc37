//! The tokens themselves: signing, the user token answer (access, refresh and ID tokens),
//! `client_info`, and verifying a token this emulator issued.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::config::{TenantConfig, UserConfig};
use crate::records::{ClaimsReq, Granted, RefreshGrant};
use crate::shared::Shared;
use crate::state::{App, State, now_secs, random_token};
use crate::wire::{AadErr, Incoming, Reply};

/// Signs claims with the emulator's key (RS256, `kid` and `x5t` set).
pub(super) fn sign(shared: &Shared, claims: &Value) -> Result<String, AadErr> {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("JWT".into());
    header.kid = Some(shared.key.kid.clone());
    header.x5t = Some(shared.key.kid.clone());
    jsonwebtoken::encode(&header, claims, &shared.key.encoding).map_err(|e| {
        AadErr::new(90000)
            .error("server_error")
            .status(500)
            .desc(format!("The emulator could not sign a token: {e}"))
    })
}

fn pairwise_sub(oid: &str, client_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(
        format!("{oid}:{client_id}").as_bytes(),
    ))
}

/// What a user token answer is made of.
pub(super) struct UserIssue<'a> {
    pub app: &'a App,
    pub user: &'a UserConfig,
    pub granted: Granted,
    pub nonce: Option<String>,
    pub claims: ClaimsReq,
    pub mfa: bool,
    pub azpacr: &'a str,
}

fn user_tenant(st: &State, user: &UserConfig) -> Result<TenantConfig, AadErr> {
    st.home_tenant(user.tenant.as_deref())
        .ok_or_else(|| AadErr::new(50034))
}

/// The token answer for a user: the access token, and a refresh token (`offline_access`)
/// and an ID token (`openid`) when asked for.
pub(super) fn issue_user_tokens(
    shared: &Shared,
    st: &mut State,
    inc: &Incoming,
    p: UserIssue<'_>,
) -> Result<Reply, AadErr> {
    let tenant = user_tenant(st, p.user)?;
    let now = now_secs();
    let lifetime = st.options.access_token_lifetime_secs;
    let oid = p.user.oid();
    let client_id = &p.app.cfg.client_id;
    let mut amr = vec!["pwd"];
    if p.mfa {
        amr.push("mfa");
    }
    let mut at_claims = json!({
        "aud": p.granted.resource.identifier,
        "iss": shared.issuer(&tenant.id),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "aio": random_token(24),
        "amr": amr,
        "azp": client_id,
        "appid": client_id,
        "azpacr": p.azpacr,
        "idtyp": "user",
        "name": p.user.display_name,
        "oid": oid,
        "preferred_username": p.user.username,
        "rh": "0.emulator",
        "scp": p.granted.scp(),
        "sub": pairwise_sub(&oid, client_id),
        "tid": tenant.id,
        "unique_name": p.user.username,
        "upn": p.user.username,
        "uti": random_token(16),
        "ver": "2.0",
    });
    if !p.claims.xms_cc.is_empty() {
        at_claims["xms_cc"] = json!(p.claims.xms_cc);
    }
    if !p.claims.acrs.is_empty() {
        at_claims["acrs"] = json!(p.claims.acrs);
    }
    let access_token = sign(shared, &at_claims)?;
    let mut out = Map::new();
    out.insert("token_type".into(), json!("Bearer"));
    out.insert("scope".into(), json!(p.granted.response_scope()));
    out.insert("expires_in".into(), json!(lifetime));
    out.insert("ext_expires_in".into(), json!(lifetime));
    if st.options.include_refresh_in {
        out.insert("refresh_in".into(), json!(lifetime / 2));
    }
    out.insert("access_token".into(), json!(access_token));
    if p.granted.oidc.iter().any(|s| s == "offline_access") {
        let rt = random_token(64);
        st.refresh_tokens.insert(
            rt.clone(),
            RefreshGrant {
                username: p.user.username.to_ascii_lowercase(),
                client_id: client_id.clone(),
                foci: p.app.cfg.foci,
                granted: p.granted.clone(),
                claims: p.claims.clone(),
                mfa: p.mfa,
                last_used: now,
            },
        );
        out.insert("refresh_token".into(), json!(rt));
    }
    if p.granted.oidc.iter().any(|s| s == "openid") {
        let mut id_claims = json!({
            "aud": client_id,
            "iss": shared.issuer(&tenant.id),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "auth_time": now,
            "name": p.user.display_name,
            "oid": oid,
            "preferred_username": p.user.username,
            "rh": "0.emulator",
            "sub": pairwise_sub(&oid, client_id),
            "tid": tenant.id,
            "uti": random_token(16),
            "ver": "2.0",
        });
        if let Some(n) = &p.nonce {
            id_claims["nonce"] = json!(n);
        }
        if p.granted.oidc.iter().any(|s| s == "email") {
            id_claims["email"] = json!(p.user.username);
        }
        out.insert("id_token".into(), json!(sign(shared, &id_claims)?));
    }
    if inc.param("client_info") == Some("1") {
        out.insert("client_info".into(), json!(client_info(&oid, &tenant.id)));
    }
    if p.app.cfg.foci {
        out.insert("foci".into(), json!("1"));
    }
    Ok(Reply::json(200, &Value::Object(out)))
}

/// base64url of `{"uid": oid, "utid": tid}`.
pub(crate) fn client_info(oid: &str, tid: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({"uid": oid, "utid": tid}).to_string())
}

pub(crate) enum OwnTokenError {
    Expired,
    Invalid(String),
}

/// Verifies a token this emulator issued (signature, issuer, expiry); answers its claims.
pub(crate) fn verify_own_token(shared: &Shared, token: &str) -> Result<Value, OwnTokenError> {
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iss"]);
    v.leeway = 0;
    let data =
        jsonwebtoken::decode::<Value>(token, &shared.key.decoding, &v).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => OwnTokenError::Expired,
                _ => OwnTokenError::Invalid(format!("the token is not valid: {e}")),
            }
        })?;
    let iss = data
        .claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let tid = data
        .claims
        .get("tid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss != shared.issuer(tid) {
        return Err(OwnTokenError::Invalid(format!(
            "the issuer '{iss}' is not this emulator"
        )));
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_encodes_uid_and_utid() {
        let ci = client_info("u", "t");
        let raw = URL_SAFE_NO_PAD.decode(ci).unwrap();
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v, json!({"uid": "u", "utid": "t"}));
    }
}
