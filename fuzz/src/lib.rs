//! What the fuzz targets share: an identity provider that answers discovery properly and
//! then hands the token endpoint's answer (and the device authorization endpoint's) over to
//! the fuzzer.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use msal::http::{
    BoxFuture, HeaderMap, HeaderValue, HttpClient, HttpRequest, HttpResponse, StatusCode,
    TransportError,
};
use msal::{ConfidentialClientApplication, PublicClientApplication, http::RetryPolicy};

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

/// Entra's discovery answers (instance discovery and OpenID configuration, with a device
/// authorization endpoint), or `None` for any other path.
fn discovery(path: &str) -> Option<HttpResponse> {
    let json = |v: serde_json::Value| {
        HttpResponse::new(StatusCode::OK, HeaderMap::new(), v.to_string().into_bytes())
    };
    if path.ends_with("/discovery/instance") {
        Some(json(serde_json::json!({
            "tenant_discovery_endpoint":
                format!("{BASE}/t/v2.0/.well-known/openid-configuration"),
            "metadata": [{"preferred_network": "login.microsoftonline.com",
                          "preferred_cache": "login.windows.net",
                          "aliases": ["login.microsoftonline.com", "login.windows.net"]}],
        })))
    } else if path.ends_with("openid-configuration") {
        Some(json(serde_json::json!({
            "issuer": format!("{BASE}/t/v2.0"),
            "authorization_endpoint": format!("{BASE}/t/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{BASE}/t/oauth2/v2.0/token"),
            "device_authorization_endpoint": format!("{BASE}/t/oauth2/v2.0/devicecode"),
        })))
    } else {
        None
    }
}

impl HttpClient for HostileIdp {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            Ok(discovery(req.url.path()).unwrap_or_else(|| {
                HttpResponse::new(self.status, self.headers.clone(), self.body.clone())
            }))
        })
    }
}

/// A device code flow whose numbers the fuzzer chose: the device authorization endpoint's
/// answer, then some `authorization_pending` or `slow_down` polls, then the token endpoint's
/// answer (for every further poll too).
#[derive(Debug)]
pub struct HostileDeviceFlow {
    /// The device authorization endpoint's body.
    pub device_code: Vec<u8>,
    /// The error codes of the polls before the last answer.
    pub pending: Mutex<VecDeque<&'static str>>,
    /// The token endpoint's last body.
    pub token: Vec<u8>,
}

impl HostileDeviceFlow {
    /// Reads the pending polls from the first byte (count in the low 3 bits, then one bit per
    /// poll: `slow_down` when set), then the device code body and the token body, split at the
    /// first NUL (without one, the token body is a plain token).
    pub fn from_bytes(data: &[u8]) -> Self {
        let (head, rest) = data.split_first().unwrap_or((&0, &[]));
        let pending = (0..head & 7)
            .map(|i| {
                if head >> (3 + i % 5) & 1 == 1 {
                    "slow_down"
                } else {
                    "authorization_pending"
                }
            })
            .collect();
        let (device_code, token) = match rest.iter().position(|b| *b == 0) {
            Some(i) => (rest[..i].to_vec(), rest[i + 1..].to_vec()),
            None => (
                rest.to_vec(),
                br#"{"token_type":"Bearer","expires_in":3599,"access_token":"at"}"#.to_vec(),
            ),
        };
        HostileDeviceFlow {
            device_code,
            pending: Mutex::new(pending),
            token,
        }
    }
}

impl HttpClient for HostileDeviceFlow {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let path = req.url.path();
            if let Some(r) = discovery(path) {
                return Ok(r);
            }
            let ok = |body: Vec<u8>| HttpResponse::new(StatusCode::OK, HeaderMap::new(), body);
            if path.ends_with("/devicecode") {
                return Ok(ok(self.device_code.clone()));
            }
            let pending = self
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            Ok(match pending {
                Some(code) => HttpResponse::new(
                    StatusCode::BAD_REQUEST,
                    HeaderMap::new(),
                    serde_json::json!({"error": code}).to_string().into_bytes(),
                ),
                None => ok(self.token.clone()),
            })
        })
    }
}

/// A public client whose every request goes to `idp`, with no retries.
pub fn public_app(idp: HostileDeviceFlow) -> PublicClientApplication {
    PublicClientApplication::builder("p")
        .authority(format!("{BASE}/t"))
        .retry_policy(RetryPolicy::none())
        .http_client(Arc::new(idp))
        .build()
        .expect("a valid configuration")
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

/// A runtime for one input whose clock only moves when every task waits: a device code flow's
/// polling takes no real time, and how long it waited can be measured.
pub fn virtual_time_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}
