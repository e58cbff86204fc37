//! The admin API under `/_emulator/`: loopback peers only, `Authorization: Bearer <admin
//! token>` required ([`authorize`], a layer in front of every admin route). One handler per
//! endpoint; the routes are in `router.rs`. Admin requests are not logged.
//!
//! | method and path | body | effect |
//! | --- | --- | --- |
//! | `GET /_emulator/faults` | | installed rules: `[{"id", "remaining", "rule"}]` |
//! | `POST /_emulator/faults` | a [`FaultRule`] or `{"preset": "...", ...}` | installs it: `{"id"}` |
//! | `DELETE /_emulator/faults` | | removes every rule |
//! | `DELETE /_emulator/faults/{id}` | | removes one rule |
//! | `GET /_emulator/faults/presets` | | `{"presets": [names]}` |
//! | `GET /_emulator/requests` | | the request log, oldest first, secrets redacted |
//! | `DELETE /_emulator/requests` | | empties the log |
//! | `POST /_emulator/devicecode/approve` | `{"user_code", "username"}` | approves |
//! | `POST /_emulator/devicecode/deny` | `{"user_code"}` | denies |
//! | `GET /_emulator/users` | | the users |
//! | `POST /_emulator/users` | a [`UserConfig`] | adds or replaces it |
//! | `POST /_emulator/refresh-tokens/revoke` | `{"username"}` | revokes the user's refresh tokens |
//! | `GET /_emulator/apps` | | the apps |
//! | `POST /_emulator/apps` | an [`AppConfig`] | adds or replaces it |
//! | `POST /_emulator/settings` | `{"api_claims_challenge": bool, "authorization_response_iss": bool}` | changes options |
//! | `POST /_emulator/federation/token` | `{"sub", "aud", "lifetime_secs"}`, all optional | a service account token (served by `identity::federation`) |

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{AppConfig, UserConfig};
use crate::faults::{FaultRule, MANAGED_IDENTITY_PRESET_NAMES, PRESET_NAMES};
use crate::route::admin_rest;
use crate::shared::{Shared, lock};
use crate::wire::{Incoming, RecordedRequest, Reply};

fn bad(msg: impl std::fmt::Display) -> Reply {
    Reply::json(
        400,
        &json!({"error": "invalid_request", "error_description": msg.to_string()}),
    )
}

fn ok(v: Value) -> Reply {
    Reply::json(200, &v)
}

fn parse<T: for<'de> Deserialize<'de>>(inc: &Incoming) -> Result<T, Reply> {
    serde_json::from_slice(&inc.body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
struct ApproveBody {
    user_code: String,
    username: String,
}

#[derive(Deserialize)]
struct UserCodeBody {
    user_code: String,
}

#[derive(Deserialize)]
struct UsernameBody {
    username: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    api_claims_challenge: Option<bool>,
    authorization_response_iss: Option<bool>,
}

/// Whether an `Authorization` header carries the admin token. The SHA-256 digests of both are
/// compared in constant time: how long the comparison takes tells nothing about how much of the
/// token a guess got right, nor about its length (the digests are of one length).
fn presents_admin_token(authorization: Option<&str>, admin_token: &str) -> bool {
    let Some((scheme, presented)) = authorization.and_then(|h| h.split_once(' ')) else {
        return false;
    };
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(admin_token.as_bytes());
    scheme.eq_ignore_ascii_case("bearer") && bool::from(presented.ct_eq(&expected))
}

/// Lets a request through to the admin API only from a loopback peer presenting the admin
/// token; answers 401 otherwise.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
    req: Request,
    next: Next,
) -> Response {
    let authorized = inc.peer.ip().is_loopback()
        && presents_admin_token(inc.header("authorization"), &shared.admin_token);
    if !authorized {
        return Reply::json(
            401,
            &json!({"error": "unauthorized", "error_description": "The admin API needs 'Authorization: Bearer <admin token>' from a loopback address."}),
        )
        .header("www-authenticate", "Bearer realm=\"msal-emulator-admin\"")
        .into_response();
    }
    next.run(req).await
}

/// The admin API's part of the request's path.
fn rest(inc: &Incoming) -> &str {
    admin_rest(&inc.path).unwrap_or_default()
}

/// Any method or path the admin API does not serve.
pub(crate) async fn not_found(Extension(inc): Extension<Arc<Incoming>>) -> Reply {
    Reply::json(
        404,
        &json!({"error": "not_found", "error_description": format!("no admin endpoint {} /_emulator/{}", inc.method, rest(&inc))}),
    )
}

/// `GET /_emulator/faults`.
pub(crate) async fn list_faults(State(shared): State<Arc<Shared>>) -> Reply {
    let st = shared.st();
    let list: Vec<Value> = st
        .faults
        .iter()
        .map(|f| json!({"id": f.id, "remaining": f.remaining, "rule": f.rule}))
        .collect();
    ok(json!(list))
}

/// `POST /_emulator/faults`.
pub(crate) async fn add_fault(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Result<Reply, Reply> {
    let rule: FaultRule = parse(&inc)?;
    let id = shared.st().add_fault(rule);
    Ok(Reply::json(201, &json!({"id": id})))
}

/// `DELETE /_emulator/faults`.
pub(crate) async fn clear_faults(State(shared): State<Arc<Shared>>) -> Reply {
    let mut st = shared.st();
    let n = st.faults.len();
    st.faults.clear();
    ok(json!({"removed": n}))
}

/// `GET /_emulator/faults/presets`.
pub(crate) async fn presets() -> Reply {
    let names: Vec<&str> = PRESET_NAMES
        .iter()
        .chain(MANAGED_IDENTITY_PRESET_NAMES)
        .copied()
        .collect();
    ok(json!({"presets": names}))
}

/// `DELETE /_emulator/faults/{id}`.
pub(crate) async fn remove_fault(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Result<Reply, Reply> {
    let id = rest(&inc).strip_prefix("faults/").unwrap_or_default();
    let Ok(id) = id.parse::<u64>() else {
        return Err(bad("the fault id must be a number"));
    };
    let mut st = shared.st();
    let before = st.faults.len();
    st.faults.retain(|f| f.id != id);
    if st.faults.len() == before {
        return Err(Reply::json(
            404,
            &json!({"error": "not_found", "error_description": format!("no fault rule {id}")}),
        ));
    }
    Ok(ok(json!({"removed": 1})))
}

/// `GET /_emulator/requests`.
pub(crate) async fn requests(State(shared): State<Arc<Shared>>) -> Reply {
    // Served redacted: whoever holds the admin token gets to see what was asked and
    // answered, not the users' passwords, the apps' secrets or the tokens issued.
    let log = lock(&shared.log);
    let list: Vec<RecordedRequest> = log.entries.iter().map(|r| r.redacted()).collect();
    ok(json!(list))
}

/// `DELETE /_emulator/requests`.
pub(crate) async fn clear_requests(State(shared): State<Arc<Shared>>) -> Reply {
    lock(&shared.log).entries.clear();
    ok(json!({"cleared": true}))
}

/// `POST /_emulator/devicecode/approve`.
pub(crate) async fn approve_device_code(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Result<Reply, Reply> {
    let b: ApproveBody = parse(&inc)?;
    shared
        .st()
        .approve_device_code(&b.user_code, &b.username)
        .map_err(bad)?;
    Ok(ok(json!({"approved": true})))
}

/// `POST /_emulator/devicecode/deny`.
pub(crate) async fn deny_device_code(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Result<Reply, Reply> {
    let b: UserCodeBody = parse(&inc)?;
    shared.st().deny_device_code(&b.user_code).map_err(bad)?;
    Ok(ok(json!({"denied": true})))
}

/// `GET /_emulator/users`.
pub(crate) async fn users(State(shared): State<Arc<Shared>>) -> Reply {
    ok(json!(shared.st().users))
}

/// `POST /_emulator/users`.
pub(crate) async fn save_user(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Result<Reply, Reply> {
    let u: UserConfig = parse(&inc)?;
    shared.st().upsert_user(u).map_err(bad)?;
    Ok(ok(json!({"saved": true})))
}

/// `POST /_emulator/refresh-tokens/revoke`.
pub(crate) async fn revoke_refresh_tokens(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Result<Reply, Reply> {
    let b: UsernameBody = parse(&inc)?;
    shared.st().revoke_refresh_tokens(&b.username);
    Ok(ok(json!({"revoked": true})))
}

/// `GET /_emulator/apps`.
pub(crate) async fn apps(State(shared): State<Arc<Shared>>) -> Reply {
    let st = shared.st();
    let apps: Vec<&AppConfig> = st.apps.iter().map(|a| &a.cfg).collect();
    ok(json!(apps))
}

/// `POST /_emulator/apps`.
pub(crate) async fn save_app(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Result<Reply, Reply> {
    let a: AppConfig = parse(&inc)?;
    shared.st().upsert_app(a).map_err(bad)?;
    Ok(ok(json!({"saved": true})))
}

/// `POST /_emulator/settings`.
pub(crate) async fn settings(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Result<Reply, Reply> {
    let b: SettingsBody = parse(&inc)?;
    let mut st = shared.st();
    if let Some(v) = b.api_claims_challenge {
        st.options.api_claims_challenge = v;
    }
    if let Some(v) = b.authorization_response_iss {
        st.options.authorization_response_iss = v;
    }
    Ok(ok(json!({
        "api_claims_challenge": st.options.api_claims_challenge,
        "authorization_response_iss": st.options.authorization_response_iss,
    })))
}

#[cfg(test)]
mod tests {
    use super::presents_admin_token;

    #[test]
    fn only_the_bearer_admin_token_is_accepted() {
        let t = "0123456789abcdef0123";
        assert!(presents_admin_token(Some(&format!("Bearer {t}")), t));
        assert!(presents_admin_token(Some(&format!("bearer {t}")), t));
        for wrong in [
            None,
            Some(String::new()),
            Some(t.to_string()),
            Some(format!("Basic {t}")),
            Some(format!("Bearer {t}x")),
            Some(format!("Bearer {}", &t[1..])),
            Some("Bearer 0123456789abcdef0124".to_string()),
            Some("Bearer ".to_string()),
        ] {
            assert!(!presents_admin_token(wrong.as_deref(), t), "{wrong:?}");
        }
    }
}
