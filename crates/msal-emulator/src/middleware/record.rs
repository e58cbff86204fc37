//! The request log.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::shared::{Shared, lock};
use crate::wire::{Incoming, Severed};

/// Appends the request and its answer (status, headers, body) to the log before the answer
/// leaves; a request that gets no answer (hang, dropped connection) is logged with status 0.
pub(crate) async fn record(
    State(shared): State<Arc<Shared>>,
    Extension(inc): Extension<Arc<Incoming>>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    let mut entry = inc.record();
    if resp.extensions().get::<Severed>().is_some() {
        lock(&shared.log).push(entry);
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // The emulator's own answers are built in memory: reading them back cannot fail.
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    entry.status = parts.status.as_u16();
    entry.response_body = String::from_utf8_lossy(&body).into_owned();
    entry.response_headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    lock(&shared.log).push(entry);
    Response::from_parts(parts, Body::from(body))
}
