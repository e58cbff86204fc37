//! The request's trace id and correlation id, and the answer headers that carry them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};

use crate::shared::Shared;
use crate::wire::{Ctx, Severed};

/// Puts the request's [`Ctx`] in its extensions: a new trace id, the `client-request-id` sent
/// (else a new one) as the correlation id. Every answer then carries `x-ms-request-id`, and
/// `client-request-id` when the request had `return-client-request-id: true`, as Entra's do.
pub(crate) async fn correlate(
    State(shared): State<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    let ctx = {
        let header = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok());
        Ctx {
            trace_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: header("client-request-id")
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            echo_correlation: header("return-client-request-id")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            base: shared.base.clone(),
        }
    };
    req.extensions_mut().insert(ctx.clone());
    let mut resp = next.run(req).await;
    if resp.extensions().get::<Severed>().is_none() {
        let mut add = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                resp.headers_mut().append(HeaderName::from_static(name), v);
            }
        };
        add("x-ms-request-id", &ctx.trace_id);
        if ctx.echo_correlation {
            add("client-request-id", &ctx.correlation_id);
        }
    }
    resp
}
