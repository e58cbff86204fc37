//! Entra-shaped error answers and the plumbing shared by every handler.

use serde_json::{Value, json};

use crate::aadsts::lookup;

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
