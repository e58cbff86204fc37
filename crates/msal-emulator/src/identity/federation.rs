//! The emulator's own service account issuer, as a Kubernetes cluster with workload identity
//! has: its metadata at `/federation/.well-known/openid-configuration`, its keys at
//! `/federation/jwks`, and service account tokens signed on request (the admin API's
//! `POST /_emulator/federation/token`, or [`crate::EmulatorHandle::service_account_token`]).
//! Apps whose federated credential names `{base}federation` accept these tokens as client
//! assertions.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use jsonwebtoken::{Algorithm, Header};
use serde::Deserialize;
use serde_json::json;

use crate::config::defaults;
use crate::shared::Shared;
use crate::state::now_secs;
use crate::wire::{Incoming, Reply};

/// `GET /federation/.well-known/openid-configuration`.
pub(crate) async fn federation_discovery(State(shared): State<Arc<Shared>>) -> Reply {
    let iss = shared.federation_issuer();
    Reply::json(
        200,
        &json!({
            "issuer": iss,
            "jwks_uri": format!("{iss}/jwks"),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }),
    )
}

/// `GET /federation/jwks`.
pub(crate) async fn federation_keys(State(shared): State<Arc<Shared>>) -> Reply {
    Reply::json(200, &json!({"keys": [shared.federation_key.jwk]}))
}

/// The body of `POST /_emulator/federation/token`; every field is optional.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct TokenBody {
    /// `system:serviceaccount:<namespace>:<name>`.
    sub: Option<String>,
    /// The audience (`api://AzureADTokenExchange` by default).
    aud: Option<String>,
    /// Seconds from now to expiry (3600 by default); negative for an expired token.
    lifetime_secs: Option<i64>,
}

/// A service account token of the emulator's issuer for `sub` and `aud`, valid
/// `lifetime_secs` from now (negative: already expired), in the shape of a Kubernetes
/// projected token.
pub(crate) fn sign_service_account_token(
    shared: &Shared,
    sub: &str,
    aud: &str,
    lifetime_secs: i64,
) -> Result<String, String> {
    let now = now_secs();
    let exp = now.saturating_add_signed(lifetime_secs);
    let mut parts = sub.splitn(4, ':').skip(2);
    let namespace = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    let claims = json!({
        "aud": [aud],
        "exp": exp,
        "iat": now,
        "nbf": now.min(exp),
        "iss": shared.federation_issuer(),
        "sub": sub,
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {
                "name": name,
                "uid": crate::config::derived_guid(&format!("sa:{sub}")),
            },
        },
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(shared.federation_key.kid.clone());
    jsonwebtoken::encode(&header, &claims, &shared.federation_key.encoding)
        .map_err(|e| format!("cannot sign the service account token: {e}"))
}

/// `POST /_emulator/federation/token`: a service account token, as the body (`application/jwt`),
/// ready to be written to `AZURE_FEDERATED_TOKEN_FILE`. The JSON body (optional) may set
/// `sub`, `aud` and `lifetime_secs`.
pub(crate) async fn service_account_token(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    let body: TokenBody = if inc.body.iter().all(u8::is_ascii_whitespace) {
        TokenBody::default()
    } else {
        match serde_json::from_slice(&inc.body) {
            Ok(b) => b,
            Err(e) => {
                return Reply::json(
                    400,
                    &json!({"error": "invalid_request", "error_description": format!("invalid JSON body: {e}")}),
                );
            }
        }
    };
    let sub = body
        .sub
        .unwrap_or_else(|| defaults::SERVICE_ACCOUNT_SUBJECT.to_string());
    let aud = body
        .aud
        .unwrap_or_else(|| defaults::TOKEN_EXCHANGE_AUDIENCE.to_string());
    match sign_service_account_token(&shared, &sub, &aud, body.lifetime_secs.unwrap_or(3600)) {
        Ok(t) => Reply::new(200, "application/jwt", t.into_bytes()),
        Err(e) => Reply::json(
            500,
            &json!({"error": "server_error", "error_description": e}),
        ),
    }
}
