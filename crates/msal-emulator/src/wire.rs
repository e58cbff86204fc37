//! The request and answer types every layer of the server shares: the buffered request
//! ([`Incoming`]), the per-request context ([`Ctx`]), Entra-shaped errors ([`AadErr`]), answers
//! ([`Reply`]) and the request log's entries ([`RecordedRequest`]).
//!
//! This module sits at the bottom of the server: it imports nothing of the emulator's own but
//! the AADSTS table, so that handlers and middleware can all use it without import cycles.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::aadsts::lookup;

/// One request the emulator received and the answer it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Request headers (names lower case), in order.
    pub headers: Vec<(String, String)>,
    /// Decoded body fields when the body was `application/x-www-form-urlencoded`.
    pub form: Vec<(String, String)>,
    /// The body as text (lossy UTF-8).
    pub body: String,
    /// The answer's status; 0 when no answer was sent (hang, dropped connection).
    pub status: u16,
    /// The answer's body as text (lossy UTF-8).
    pub response_body: String,
    /// The answer's headers (names lower case).
    pub response_headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first form field with this name.
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first request header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The host the client asked for (its `Host` header, `host[:port]`): the emulator's own,
    /// or another name that reaches it, such as a regional alias `westus2.localhost:{port}`.
    pub fn host(&self) -> Option<&str> {
        self.header("host")
    }
}

/// A request, its body read and its form and query decoded.
pub(crate) struct Incoming {
    pub method: Method,
    /// The path as the client sent it.
    pub path: String,
    pub query: Option<String>,
    pub query_params: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub form: Vec<(String, String)>,
    pub peer: SocketAddr,
}

impl Incoming {
    /// A non-empty form field.
    pub fn f(&self, k: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A non-empty query parameter.
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query_params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A form field, else a query parameter.
    pub fn param(&self, k: &str) -> Option<&str> {
        self.f(k).or_else(|| self.q(k))
    }

    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        for v in self.headers.get_all(http::header::COOKIE) {
            let Ok(s) = v.to_str() else { continue };
            for part in s.split(';') {
                if let Some((k, val)) = part.trim().split_once('=')
                    && k == name
                {
                    return Some(val.to_string());
                }
            }
        }
        None
    }

    /// The request half of its log entry (the answer's fields empty, status 0).
    pub fn record(&self) -> RecordedRequest {
        RecordedRequest {
            method: self.method.to_string(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            form: self.form.clone(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
            status: 0,
            response_body: String::new(),
            response_headers: Vec::new(),
        }
    }
}

/// A fault's verdict that the request gets no answer at all. The fault layer answers with an
/// empty response carrying this extension; the request log records it with status 0 and the
/// `sever` layer then hangs or drops the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severed {
    /// Never answer.
    Hang,
    /// Close the connection without an answer.
    Drop,
}

impl Severed {
    /// The empty response that carries this verdict out through the layers.
    pub fn response(self) -> axum::response::Response {
        let mut resp = axum::response::Response::default();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// The scopes `DeclineScope` fault rules took out of a token request: the fault layer puts
/// them in the request's extensions for the token endpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeclinedScopes(pub Vec<String>);

/// A fault rule's verdict that a managed identity source answers as it does in that case;
/// the fault layer puts it in the request's extensions for the source's handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MiFault {
    /// The identity asked for does not exist.
    IdentityNotFound,
    /// Azure Arc's challenge names no key file, and every key is refused.
    ArcChallengeDenied,
}

/// Per-request facts used when rendering answers.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub trace_id: String,
    pub correlation_id: String,
    pub echo_correlation: bool,
    /// `http://127.0.0.1:PORT/` (with trailing slash).
    pub base: String,
}

impl Ctx {
    pub fn timestamp() -> String {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
        time::OffsetDateTime::now_utc()
            .format(&fmt)
            .unwrap_or_else(|_| "1970-01-01 00:00:00Z".to_string())
    }
}

/// An Entra error about to be sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AadErr {
    pub code: u32,
    pub error: Option<String>,
    pub description: Option<String>,
    pub suberror: Option<String>,
    pub claims: Option<String>,
    pub status: Option<u16>,
}

impl AadErr {
    pub fn new(code: u32) -> Self {
        AadErr {
            code,
            error: None,
            description: None,
            suberror: None,
            claims: None,
            status: None,
        }
    }

    pub fn error(mut self, e: impl Into<String>) -> Self {
        self.error = Some(e.into());
        self
    }

    pub fn desc(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    pub fn suberror(mut self, s: impl Into<String>) -> Self {
        self.suberror = Some(s.into());
        self
    }

    pub fn claims(mut self, c: impl Into<String>) -> Self {
        self.claims = Some(c.into());
        self
    }

    pub fn status(mut self, s: u16) -> Self {
        self.status = Some(s);
        self
    }

    /// A missing request parameter (AADSTS900144).
    pub fn missing(param: &str) -> Self {
        AadErr::new(900144).desc(format!(
            "The request body must contain the following parameter: '{param}'."
        ))
    }

    pub fn oauth_error(&self) -> String {
        self.error.clone().unwrap_or_else(|| {
            lookup(self.code)
                .map(|e| e.error.to_string())
                .unwrap_or_else(|| "invalid_request".to_string())
        })
    }

    pub fn http_status(&self) -> u16 {
        self.status
            .unwrap_or_else(|| lookup(self.code).map(|e| e.status).unwrap_or(400))
    }

    pub fn text(&self) -> String {
        self.description.clone().unwrap_or_else(|| {
            lookup(self.code)
                .map(|e| e.description.to_string())
                .unwrap_or_else(|| "The emulator was told to fail this request.".to_string())
        })
    }

    pub fn sub(&self) -> Option<String> {
        self.suberror
            .clone()
            .or_else(|| lookup(self.code).and_then(|e| e.suberror.map(str::to_string)))
    }

    /// The `error_description` value.
    pub fn full_description(&self, ctx: &Ctx, timestamp: &str) -> String {
        format!(
            "AADSTS{}: {}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}",
            self.code,
            self.text(),
            ctx.trace_id,
            ctx.correlation_id,
            timestamp
        )
    }

    /// The JSON body Entra sends.
    pub fn body(&self, ctx: &Ctx) -> Value {
        let ts = Ctx::timestamp();
        let mut v = json!({
            "error": self.oauth_error(),
            "error_description": self.full_description(ctx, &ts),
            "error_codes": [self.code],
            "timestamp": ts,
            "trace_id": ctx.trace_id,
            "correlation_id": ctx.correlation_id,
            "error_uri": format!("{}error?code={}", ctx.base, self.code),
        });
        if let Some(s) = self.sub() {
            v["suberror"] = json!(s);
        }
        if let Some(c) = &self.claims {
            v["claims"] = json!(c);
        }
        v
    }

    pub fn reply(&self, ctx: &Ctx) -> Reply {
        Reply::json(self.http_status(), &self.body(ctx))
    }
}

/// A complete answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn json(status: u16, v: &Value) -> Self {
        let mut r = Reply::new(
            status,
            "application/json; charset=utf-8",
            v.to_string().into_bytes(),
        );
        r.headers
            .push(("cache-control".into(), "no-store, no-cache".into()));
        r.headers.push(("pragma".into(), "no-cache".into()));
        r
    }

    pub fn html(status: u16, body: String) -> Self {
        let mut r = Reply::new(status, "text/html; charset=utf-8", body.into_bytes());
        r.headers
            .push(("cache-control".into(), "no-store, no-cache".into()));
        r
    }

    pub fn redirect(location: &str) -> Self {
        let mut r = Reply::new(302, "text/html; charset=utf-8", Vec::new());
        r.headers.push(("location".into(), location.to_string()));
        r.body = format!(
            "<html><head><title>Object moved</title></head><body><h2>Object moved to <a href=\"{}\">here</a>.</h2></body></html>",
            html_escape(location)
        )
        .into_bytes();
        r
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

impl axum::response::IntoResponse for Reply {
    /// The answer as sent; a header that is not a valid HTTP header is left out.
    fn into_response(self) -> axum::response::Response {
        let mut resp = axum::response::Response::new(axum::body::Body::from(self.body));
        *resp.status_mut() =
            http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::BAD_REQUEST);
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(&v),
            ) {
                resp.headers_mut().append(k, v);
            }
        }
        resp
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_entra_shape() {
        let ctx = Ctx {
            trace_id: "t".into(),
            correlation_id: "c".into(),
            echo_correlation: false,
            base: "http://127.0.0.1:1/".into(),
        };
        let b = AadErr::new(65001).claims("{}").body(&ctx);
        assert_eq!(b["error"], "invalid_grant");
        assert_eq!(b["suberror"], "consent_required");
        assert_eq!(b["error_codes"][0], 65001);
        assert_eq!(b["claims"], "{}");
        assert!(
            b["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS65001: ")
        );
        assert!(
            b["error_description"]
                .as_str()
                .unwrap()
                .contains("Correlation ID: c")
        );
        let unknown = AadErr::new(1);
        assert_eq!(unknown.oauth_error(), "invalid_request");
        assert_eq!(unknown.http_status(), 400);
        assert_eq!(
            html_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
