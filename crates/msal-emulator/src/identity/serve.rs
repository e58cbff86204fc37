//! The handlers of the managed identity sources. Each checks, in the source's order, the
//! header that proves the caller is on the host, Azure Arc's key, the API version, the
//! resource and the identity, then answers with a token of that identity for that resource.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use sha2::Digest as _;
use subtle::ConstantTimeEq;

use crate::records::IssuedMiToken;
use crate::shared::Shared;
use crate::state::now_secs;
use crate::token::{MiToken, issue_mi_token};
use crate::wire::{Ctx, Incoming, MiFault, Reply};

use super::arc::check_key;
use super::source::{Proof, Source};

/// A cached token is handed out again only while it has at least this long to live.
const REUSE_MARGIN_SECS: u64 = 300;

/// At most this many cached tokens are kept (the resource is the client's to choose).
const MAX_CACHED: usize = 10_000;

macro_rules! source_handler {
    ($(#[$doc:meta])* $name:ident, $source:expr) => {
        $(#[$doc])*
        pub(crate) async fn $name(
            State(shared): State<Arc<Shared>>,
            Extension(ctx): Extension<Ctx>,
            Extension(inc): Extension<Arc<Incoming>>,
            fault: Option<Extension<MiFault>>,
        ) -> Reply {
            serve($source, &shared, &ctx, &inc, fault.map(|Extension(f)| f))
        }
    };
}

source_handler!(
    /// `GET /metadata/identity/oauth2/token`: IMDS.
    imds,
    Source::Imds
);
source_handler!(
    /// `GET /msi/app-service/token`: App Service and Functions.
    app_service,
    Source::AppService
);
source_handler!(
    /// `GET /msi/service-fabric/token`, on the Service Fabric TLS listener.
    service_fabric,
    Source::ServiceFabric
);
source_handler!(
    /// `GET /msi/azure-ml/token`: Azure Machine Learning.
    azure_ml,
    Source::AzureMl
);
source_handler!(
    /// `POST /msi/cloud-shell/token`: Cloud Shell.
    cloud_shell,
    Source::CloudShell
);
source_handler!(
    /// `GET /msi/arc/token`: Azure Arc.
    arc,
    Source::Arc
);

/// `GET /metadata/instance/compute/location`: the region of the emulated VM, which MSAL's
/// regional endpoint detection asks for (`?format=text&api-version=...`, `Metadata: true`),
/// as IMDS answers it: the name as text with `format=text`, else as a JSON string; 400
/// without the header or the API version; 404 when the emulator is configured with no region
/// (as off Azure, where nothing answers).
pub(crate) async fn location(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    let bad = |why: &str| {
        Reply::json(
            400,
            &serde_json::json!({ "error": "invalid_request", "error_description": why }),
        )
    };
    if !inc
        .header("metadata")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return bad("Required metadata header not specified");
    }
    if inc.q("api-version").is_none() {
        return bad("Bad request. api-version was not specified in the request");
    }
    let region = shared.st().options.region.clone();
    if region.is_empty() {
        return Reply::json(404, &serde_json::json!({ "error": "not_found" }));
    }
    if inc.q("format") == Some("text") {
        Reply::new(200, "text/plain; charset=utf-8", region)
    } else {
        Reply::json(200, &serde_json::Value::String(region))
    }
}

fn serve(
    source: Source,
    shared: &Shared,
    ctx: &Ctx,
    inc: &Incoming,
    fault: Option<MiFault>,
) -> Reply {
    match serve_inner(source, shared, ctx, inc, fault) {
        Ok(r) | Err(r) => r,
    }
}

fn serve_inner(
    source: Source,
    shared: &Shared,
    ctx: &Ctx,
    inc: &Incoming,
    fault: Option<MiFault>,
) -> Result<Reply, Reply> {
    let bad = |code: &str, msg: &str| source.error(ctx, 400, code, msg);
    match source.proof() {
        Proof::Metadata => {
            if !inc
                .header("metadata")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                return Err(bad(
                    "invalid_request",
                    "Required metadata header not specified",
                ));
            }
        }
        Proof::Secret(header) => {
            let Some(presented) = inc.header(header) else {
                return Err(bad(
                    "SecretHeaderNotFound",
                    &format!("The '{header}' header is missing from the request."),
                ));
            };
            let expected = shared.st().options.identity_header_secret.clone();
            let same = sha2::Sha256::digest(presented.as_bytes())
                .ct_eq(&sha2::Sha256::digest(expected.as_bytes()));
            if !bool::from(same) {
                return Err(source.error(
                    ctx,
                    401,
                    "SecretHeaderNotMatch",
                    &format!("The '{header}' header does not match the identity secret."),
                ));
            }
        }
    }
    if source == Source::Arc {
        check_key(shared, ctx, inc, fault == Some(MiFault::ArcChallengeDenied))?;
    }
    if let Some(want) = source.api_version() {
        match source.param(inc, "api-version") {
            None => {
                return Err(bad(
                    "invalid_request",
                    "Required api-version parameter not specified",
                ));
            }
            Some(v) if v != want => {
                return Err(bad(
                    "invalid_request",
                    &format!("api-version '{v}' is not supported; use '{want}'."),
                ));
            }
            Some(_) => {}
        }
    }
    let Some(resource) = source.param(inc, "resource") else {
        return Err(bad(
            "invalid_request",
            "Required resource parameter not specified",
        ));
    };
    let (selector, selector_name) = source
        .selector(inc)
        .map_err(|m| bad("invalid_request", &m))?;
    if source == Source::CloudShell && selector_name.is_some() {
        return Err(bad(
            "invalid_request",
            "User-assigned managed identities are not supported in Cloud Shell.",
        ));
    }
    if fault == Some(MiFault::IdentityNotFound) {
        return Err(source.identity_not_found(ctx));
    }
    let mut st = shared.st();
    let Some(identity) = st.managed_identity(&selector) else {
        return Err(source.identity_not_found(ctx));
    };
    let xms_cc: Vec<String> = if source.caches() {
        source
            .param(inc, "xms_cc")
            .map(|v| {
                v.split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let key = (source.name(), identity.client_id.clone(), resource.clone());
    let now = now_secs();
    let cached = source
        .caches()
        .then(|| st.mi_tokens.get(&key).cloned())
        .flatten()
        .filter(|t| t.expires_on > now + REUSE_MARGIN_SECS)
        .filter(|t| {
            // The client found the cached token bad (a claims challenge): a new one, unless
            // the client's bad token is an older one than this.
            let revoked = source
                .param(inc, "token_sha256_to_refresh")
                .is_some_and(|h| {
                    let mine: String = sha2::Sha256::digest(t.access_token.as_bytes())
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    h.eq_ignore_ascii_case(&mine)
                });
            !revoked
        });
    let token = match cached {
        Some(t) => MiToken {
            access_token: t.access_token,
            expires_in: t.expires_on.saturating_sub(now),
            expires_on: t.expires_on,
            not_before: t.not_before,
        },
        None => {
            let t = issue_mi_token(shared, &st, &identity, &resource, &xms_cc)
                .map_err(|e| source.error(ctx, 500, "server_error", &e.text()))?;
            if source.caches() {
                if st.mi_tokens.len() >= MAX_CACHED {
                    st.mi_tokens.clear();
                }
                st.mi_tokens.insert(
                    key,
                    IssuedMiToken {
                        access_token: t.access_token.clone(),
                        expires_on: t.expires_on,
                        not_before: t.not_before,
                    },
                );
            }
            t
        }
    };
    let echo = selector_name.and_then(|n| source.param(inc, n).map(|v| (n, v)));
    Ok(source.answer(
        &token,
        &resource,
        &identity.client_id,
        echo.as_ref().map(|(n, v)| (*n, v.as_str())),
    ))
}
