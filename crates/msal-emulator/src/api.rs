//! `GET /api/me`: a sample protected API that validates the emulator's access tokens and can
//! demand a claims challenge (as Microsoft Graph does with continuous access evaluation).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use base64::Engine;
use serde_json::{Value, json};

use crate::faults::CLAIMS_CHALLENGE_JSON;
use crate::shared::Shared;
use crate::token::{OwnTokenError, verify_own_token};
use crate::wire::{Incoming, Reply};

fn unauthorized(shared: &Shared, error: &str, description: &str, claims: Option<&str>) -> Reply {
    let mut www = format!(
        "Bearer realm=\"\", authorization_uri=\"{}common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\", error=\"{error}\", error_description=\"{}\"",
        shared.base,
        description.replace('"', "'")
    );
    if let Some(c) = claims {
        www.push_str(&format!(
            ", claims=\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(c)
        ));
    }
    let code = "InvalidAuthenticationToken";
    Reply::json(
        401,
        &json!({"error": {"code": code, "message": description}}),
    )
    .header("www-authenticate", www)
}

/// `GET /api/me`.
pub(crate) async fn me(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    let shared = &*shared;
    let Some(token) = inc
        .header("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return unauthorized(shared, "invalid_token", "Access token is empty.", None);
    };
    let claims = match verify_own_token(shared, token) {
        Ok(c) => c,
        Err(OwnTokenError::Expired) => {
            return unauthorized(
                shared,
                "invalid_token",
                "Lifetime validation failed, the token is expired.",
                None,
            );
        }
        Err(OwnTokenError::Invalid(why)) => {
            return unauthorized(
                shared,
                "invalid_token",
                &format!("Access token validation failure: {why}."),
                None,
            );
        }
    };
    let st = shared.st();
    let aud = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !st
        .resources
        .iter()
        .any(|r| r.identifier.eq_ignore_ascii_case(aud))
    {
        return unauthorized(
            shared,
            "invalid_token",
            &format!("Invalid audience '{aud}'."),
            None,
        );
    }
    let tid = claims.get("tid").cloned().unwrap_or(Value::Null);
    if claims.get("idtyp").and_then(Value::as_str) == Some("app") {
        return Reply::json(
            200,
            &json!({
                "appId": claims.get("azp"),
                "roles": claims.get("roles").cloned().unwrap_or_else(|| json!([])),
                "tenantId": tid,
                "audience": aud,
            }),
        );
    }
    let oid = claims
        .get("oid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(user) = st.user_by_oid(oid) else {
        return unauthorized(
            shared,
            "invalid_token",
            "The user of the token no longer exists.",
            None,
        );
    };
    let challenge = user.require_claims_challenge || st.options.api_claims_challenge;
    let has_acrs = claims
        .get("acrs")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "c1"));
    if challenge && !has_acrs {
        return unauthorized(
            shared,
            "insufficient_claims",
            "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp",
            Some(CLAIMS_CHALLENGE_JSON),
        );
    }
    let scopes: Vec<&str> = claims
        .get("scp")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    Reply::json(
        200,
        &json!({
            "id": oid,
            "displayName": user.display_name,
            "userPrincipalName": user.username,
            "mail": user.username,
            "tenantId": tid,
            "audience": aud,
            "scopes": scopes,
        }),
    )
}
