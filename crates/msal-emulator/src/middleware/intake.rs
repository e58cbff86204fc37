//! The outermost layer: buffers and decodes the request, and routes it by its canonical path.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::Uri;
use http::request::Parts;

use crate::route::{NOT_FOUND_PATH, Route};
use crate::wire::{Incoming, Reply};

/// The maximum request body size.
const MAX_BODY: usize = 1 << 20;

/// Reads the body (answering 413 beyond [`MAX_BODY`]), puts the decoded request
/// (`Arc<Incoming>`) and its [`Route`] in the request's extensions, and rewrites the URI's path
/// to the route's canonical one for the router to match.
pub(crate) async fn intake(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return Reply::new(
            413,
            "application/json",
            &br#"{"error":"invalid_request","error_description":"The request body is too large."}"#
                [..],
        )
        .into_response();
    };
    let inc = incoming(&parts, body.clone(), peer);
    let route = Route::parse(&inc.path);
    parts.uri = canonical_uri(&parts.uri, &route);
    parts.extensions.insert(Arc::new(inc));
    parts.extensions.insert(route);
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// The request with its form (when the body is `application/x-www-form-urlencoded`) and query
/// decoded.
fn incoming(parts: &Parts, body: bytes::Bytes, peer: SocketAddr) -> Incoming {
    let query = parts.uri.query().map(str::to_string);
    let is_form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form: Vec<(String, String)> = if is_form {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let query_params: Vec<(String, String)> = query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    Incoming {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query,
        query_params,
        headers: parts.headers.clone(),
        body,
        form,
        peer,
    }
}

/// The URI with the route's canonical path (and the query as sent).
fn canonical_uri(uri: &Uri, route: &Route) -> Uri {
    let path = route.canonical_path();
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    // The canonical path is made of characters valid in a path, and the query was valid:
    // this does not fail; if it did, the unmatched URI would reach the not-found answer.
    Uri::builder()
        .path_and_query(path_and_query)
        .build()
        .unwrap_or_else(|_| Uri::from_static(NOT_FOUND_PATH))
}
