//! What the fuzz targets share: an identity provider that answers discovery properly and
//! then hands the token endpoint's answer over to the fuzzer.
#![forbid(unsafe_code)]

use std::sync::Arc;

use msal::http::{
    BoxFuture, HeaderMap, HeaderValue, HttpClient, HttpRequest, HttpResponse, StatusCode,
    TransportError,
};
use msal::{ConfidentialClientApplication, http::RetryPolicy};

const BASE: &str = "https://login.microsoftonline.com";

/// Discovery answers as Entra does; the token endpoint answers whatever the fuzzer chose.
#[derive(Debug)]
pub struct HostileIdp {
    /// The token endpoint's status.
    pub status: StatusCode,
    /// The token endpoint's headers.
    pub headers: HeaderMap,
    /// The token endpoint's body.
    pub body: Vec<u8>,
}

impl HostileIdp {
    /// Reads status, an optional `Retry-After` and the body from fuzzer bytes.
    pub fn from_bytes(data: &[u8]) -> Self {
        let (head, body) = data.split_at(data.len().min(3));
        let status = match head {
            [a, b, ..] => 100 + (u16::from_le_bytes([*a, *b]) % 500),
            _ => 200,
        };
        let mut headers = HeaderMap::new();
        if let [_, _, flags] = head
            && flags & 1 == 1
        {
            // Part of the body doubles as the header value: digits, dates and garbage.
            let n = usize::from(flags >> 1).min(body.len());
            if let Ok(v) = HeaderValue::from_bytes(&body[..n]) {
                headers.insert("retry-after", v);
            }
        }
        HostileIdp {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers,
            body: body.to_vec(),
        }
    }
}

impl HttpClient for HostileIdp {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let path = req.url.path();
            let json = |v: serde_json::Value| {
                Ok(HttpResponse::new(
                    StatusCode::OK,
                    HeaderMap::new(),
                    v.to_string().into_bytes(),
                ))
            };
            if path.ends_with("/discovery/instance") {
                json(serde_json::json!({
                    "tenant_discovery_endpoint":
                        format!("{BASE}/t/v2.0/.well-known/openid-configuration"),
                    "metadata": [{"preferred_network": "login.microsoftonline.com",
                                  "preferred_cache": "login.windows.net",
                                  "aliases": ["login.microsoftonline.com", "login.windows.net"]}],
                }))
            } else if path.ends_with("openid-configuration") {
                json(serde_json::json!({
                    "issuer": format!("{BASE}/t/v2.0"),
                    "authorization_endpoint": format!("{BASE}/t/oauth2/v2.0/authorize"),
                    "token_endpoint": format!("{BASE}/t/oauth2/v2.0/token"),
                }))
            } else {
                Ok(HttpResponse::new(
                    self.status,
                    self.headers.clone(),
                    self.body.clone(),
                ))
            }
        })
    }
}

/// A confidential client whose every request goes to `idp`, with no retries (a retry would
/// only wait).
pub fn app(idp: HostileIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("c")
        .authority(format!("{BASE}/t"))
        .client_secret("s")
        .retry_policy(RetryPolicy::none())
        .http_client(Arc::new(idp))
        .build()
        .expect("a valid configuration")
}

/// A runtime for one input.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime")
}
