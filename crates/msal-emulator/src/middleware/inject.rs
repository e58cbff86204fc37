//! Fault injection: the fault rules that match a request decide its answer, or delay it, or
//! take scopes out of what the token endpoint grants.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::faults::{Endpoint, FaultAction, MatchFacts};
use crate::pages::authorize_fault;
use crate::records::DeviceStatus;
use crate::route::Route;
use crate::shared::Shared;
use crate::state::{State as Directory, TenantSel};
use crate::wire::{AadErr, Ctx, DeclinedScopes, Incoming, MiFault, Reply, Severed};

/// The state of one endpoint's fault layer: the emulator and which endpoint this is.
#[derive(Clone)]
pub(crate) struct FaultPoint {
    pub shared: Arc<Shared>,
    pub endpoint: Endpoint,
}

/// Applies the fault rules that match the request, in order: `Delay` rules wait, and
/// `DeclineScope` rules take scopes out (given to the token endpoint as [`DeclinedScopes`]);
/// the first other rule decides the answer instead of the endpoint, or that there is none
/// ([`Severed`]).
pub(crate) async fn inject_faults(
    State(point): State<FaultPoint>,
    Extension(route): Extension<Route>,
    Extension(ctx): Extension<Ctx>,
    Extension(inc): Extension<Arc<Incoming>>,
    mut req: Request,
    next: Next,
) -> Response {
    let shared = &point.shared;
    let effects = {
        let mut st = shared.st();
        let facts = match_facts(&st, point.endpoint, route.tenant(), &inc);
        st.evaluate_faults(&facts)
    };
    if effects.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(effects.delay_ms)).await;
    }
    let declined = match effects.terminal {
        None => effects.declined,
        Some(FaultAction::IdentityNotFound) => {
            req.extensions_mut().insert(MiFault::IdentityNotFound);
            effects.declined
        }
        Some(FaultAction::ArcChallengeDenied) => {
            req.extensions_mut().insert(MiFault::ArcChallengeDenied);
            effects.declined
        }
        Some(action) => {
            let authorize_tenant = match &route {
                Route::Authorize(tenant) => Some(tenant.as_str()),
                _ => None,
            };
            match fault_answer(shared, &ctx, authorize_tenant, &inc, action) {
                Some(answer) => return answer,
                None => Vec::new(),
            }
        }
    };
    req.extensions_mut().insert(DeclinedScopes(declined));
    next.run(req).await
}

/// What fault rules match on: the endpoint, the form, the tenant segment and its tenant, and
/// the user the request is about.
fn match_facts<'a>(
    st: &Directory,
    ep: Endpoint,
    tenant: Option<&str>,
    inc: &'a Incoming,
) -> MatchFacts<'a> {
    let mut tenant_names = Vec::new();
    if let Some(seg) = tenant {
        tenant_names.push(seg.to_string());
        if let Some(TenantSel::Specific(t)) = st.resolve_tenant(seg) {
            tenant_names.push(t.id);
            tenant_names.push(t.domain);
        }
    }
    let username = if let Some(u) = inc.param("username") {
        Some(u.to_string())
    } else if let Some(rt) = inc.f("refresh_token") {
        st.refresh_tokens.get(rt).map(|g| g.username.clone())
    } else if let Some(dc) = inc.f("device_code") {
        st.device_codes.get(dc).and_then(|g| match &g.status {
            DeviceStatus::Approved { username, .. } => Some(username.clone()),
            _ => None,
        })
    } else if let Some(code) = inc.f("code") {
        st.codes.get(code).map(|g| g.username.clone())
    } else {
        inc.q("login_hint").map(str::to_string)
    };
    // The managed identity sources name a resource where the token endpoint has a scope, and
    // Azure ML spells the client id `clientid`.
    MatchFacts {
        endpoint: Some(ep),
        grant_type: inc.f("grant_type"),
        client_id: inc.param("client_id").or_else(|| inc.param("clientid")),
        username,
        scope: inc.param("scope").or_else(|| inc.param("resource")),
        tenant_names,
    }
}

/// The answer a terminal fault action gives (`None`: the action is not terminal).
fn fault_answer(
    shared: &Shared,
    ctx: &Ctx,
    authorize_tenant: Option<&str>,
    inc: &Incoming,
    action: FaultAction,
) -> Option<Response> {
    Some(match action {
        FaultAction::AadError {
            code,
            suberror,
            claims,
        } => {
            let mut err = AadErr::new(code);
            if let Some(s) = suberror {
                err = err.suberror(s);
            }
            if let Some(c) = claims {
                err = err.claims(c);
            }
            if let Some(tenant) = authorize_tenant {
                return Some(authorize_fault(shared, ctx, tenant, inc, err).into_response());
            }
            err.reply(ctx).into_response()
        }
        FaultAction::Status {
            status,
            retry_after,
            body,
        } => {
            let mut reply = match body {
                Some(b) => {
                    let ct = if b.trim_start().starts_with('{') || b.trim_start().starts_with('[')
                    {
                        "application/json; charset=utf-8"
                    } else {
                        "text/plain; charset=utf-8"
                    };
                    Reply::new(status, ct, b.into_bytes())
                }
                None => {
                    let (error, text) = match status {
                        429 => (
                            "temporarily_unavailable",
                            "The server is throttling this client: too many requests. Retry later.",
                        ),
                        503 | 504 => (
                            "temporarily_unavailable",
                            "The server is temporarily unavailable. Retry later.",
                        ),
                        s if s >= 500 => ("server_error", "The server encountered an error."),
                        _ => ("invalid_request", "The request was refused by the emulator."),
                    };
                    let ts = Ctx::timestamp();
                    Reply::json(
                        status,
                        &json!({
                            "error": error,
                            "error_description": format!(
                                "{text}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {ts}",
                                ctx.trace_id, ctx.correlation_id
                            ),
                            "error_codes": [],
                            "timestamp": ts,
                            "trace_id": ctx.trace_id,
                            "correlation_id": ctx.correlation_id,
                        }),
                    )
                }
            };
            if let Some(ra) = retry_after {
                reply = reply.header("retry-after", ra.header_value());
            }
            reply.into_response()
        }
        FaultAction::Hang => Severed::Hang.response(),
        FaultAction::DropConnection => Severed::Drop.response(),
        FaultAction::MalformedJson { status } => Reply::new(
            status,
            "application/json; charset=utf-8",
            &br#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1Ni"#[..],
        )
        .into_response(),
        FaultAction::HtmlBody { status } => {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            Reply::new(
                status,
                "text/html",
                format!(
                    "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n<body><center><h1>{status} {reason}</h1></center>\n<hr><center>corporate-proxy/1.0</center>\n</body></html>\n"
                ),
            )
            .into_response()
        }
        // Never terminal (the evaluation of the rules goes on past them), or answered by the
        // managed identity sources themselves.
        FaultAction::Delay { .. }
        | FaultAction::DeclineScope { .. }
        | FaultAction::IdentityNotFound
        | FaultAction::ArcChallengeDenied => return None,
    })
}
