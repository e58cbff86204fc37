//! The HTTP layer: a small [`HttpClient`] trait (so tests and hosts can see or replace every
//! request), the default client on reqwest with rustls, MSAL's retry policy and `Retry-After`.

mod reqwest_client;
mod retry;
pub(crate) mod throttle;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use bytes::Bytes;
// At the bottom with the error that reads it; public here, where callers look for it.
pub use crate::error::retry_after::{MAX_RETRY_AFTER, parse_retry_after};
use http::HeaderName;
pub use http::{HeaderMap, HeaderValue, Method, StatusCode};
pub use reqwest_client::{ReqwestHttpClient, ReqwestHttpClientBuilder};
pub use retry::RetryPolicy;
pub(crate) use retry::{send_built_with_retry, send_with_retry, within_limit};
use url::Url;
pub use zeroize::Zeroizing;

/// A boxed future, as [`HttpClient::execute`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One HTTP request the library wants sent.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// GET or POST.
    pub method: Method,
    /// The full URL, query included.
    pub url: Url,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (form-encoded for token requests), empty for GET. It carries secrets (client
    /// secrets, assertions, codes, refresh tokens), so it is zeroed on drop.
    pub body: Zeroizing<Vec<u8>>,
}

impl HttpRequest {
    /// A GET request.
    pub fn get(url: Url) -> Self {
        HttpRequest {
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            body: Zeroizing::new(Vec::new()),
        }
    }

    /// A POST of `application/x-www-form-urlencoded` fields.
    pub fn post_form<'a>(url: Url, fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let fields: Vec<(&str, &str)> = fields.into_iter().collect();
        // Room for the longest encoding (`%XX` for every byte, `=` and `&` for every pair), so
        // the buffer never grows: a reallocation would leave a copy of the secrets behind.
        let longest: usize = fields
            .iter()
            .map(|(k, v)| 3 * (k.len() + v.len()) + 2)
            .sum();
        let body = url::form_urlencoded::Serializer::new(String::with_capacity(longest))
            .extend_pairs(fields)
            .finish()
            .into_bytes();
        let body = Zeroizing::new(body);
        // Room for MSAL's headers (the content type, the correlation id and the five standard
        // ones, the two of telemetry) and those an HTTP client adds (user agent, accept): the
        // map is allocated once, never grown.
        let mut headers = HeaderMap::with_capacity(12);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded;charset=utf-8"),
        );
        HttpRequest {
            method: Method::POST,
            url,
            headers,
            body,
        }
    }

    /// The form fields of the body, decoded (for tests and diagnostics).
    pub fn form_fields(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

// The body carries secrets (client secrets, assertions, codes, refresh tokens): never print it.
impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// One HTTP answer.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl HttpResponse {
    /// An answer from its parts.
    pub fn new(status: StatusCode, headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        HttpResponse {
            status,
            headers,
            body: body.into(),
        }
    }
}

// Token responses carry tokens: never print the body.
impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Why no answer came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The request timed out.
    Timeout,
    /// No connection: refused, reset, DNS or TLS failure.
    Connect,
    /// The answer was cut off or unreadable.
    Body,
    /// The answer's body is larger than the client reads: it was refused without being read
    /// whole. Build it with [`TransportError::response_too_large`]; the library reports it as a
    /// `Service` error `response_too_large` with the answer's HTTP status.
    ResponseTooLarge,
    /// The client needs an async runtime that is not running (the default client needs Tokio);
    /// the library reports it as a `Client` error `no_async_runtime`.
    NoAsyncRuntime,
    /// Anything else.
    Other,
}

/// A failure to get an answer, as an [`HttpClient`] reports it; the library turns it into an
/// [`crate::Error`] of kind `Transport` that keeps this error (and its source) in its chain.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    status: Option<StatusCode>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl TransportError {
    /// A transport error with the underlying error kept as its source.
    pub fn new(
        kind: TransportErrorKind,
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        TransportError {
            kind,
            message: message.into(),
            status: None,
            source,
        }
    }

    /// An answer with this status whose body is larger than `limit` bytes, refused without
    /// reading it whole (kind [`TransportErrorKind::ResponseTooLarge`]).
    pub fn response_too_large(status: StatusCode, limit: usize) -> Self {
        TransportError {
            kind: TransportErrorKind::ResponseTooLarge,
            message: format!(
                "the HTTP {} answer's body is larger than {limit} bytes",
                status.as_u16()
            ),
            status: Some(status),
            source: None,
        }
    }

    /// Why no answer came back.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The status of the answer, when one came whose body was refused.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<TransportError> for crate::Error {
    fn from(e: TransportError) -> Self {
        use crate::error::codes;
        let code = match e.kind {
            TransportErrorKind::Timeout => codes::REQUEST_TIMEOUT,
            TransportErrorKind::ResponseTooLarge => {
                let status = e.status.map(|s| s.as_u16());
                let msg = format!("the identity provider's answer was refused: {}", e.message);
                let err = crate::Error::service(codes::RESPONSE_TOO_LARGE, msg).with_source(e);
                return match status {
                    Some(s) => err.with_http_status(s),
                    None => err,
                };
            }
            TransportErrorKind::NoAsyncRuntime => {
                let msg = format!("the HTTP client cannot run here: {}", e.message);
                return crate::Error::client(codes::NO_ASYNC_RUNTIME, msg).with_source(e);
            }
            _ => codes::NETWORK_ERROR,
        };
        let msg = format!("no usable answer from the identity provider: {}", e.message);
        crate::Error::transport(code, msg, e)
    }
}

/// Sends HTTP requests for the library. Implement it to route requests through your own stack,
/// or to see the exact requests in tests; the default is [`ReqwestHttpClient`].
pub trait HttpClient: Send + Sync + fmt::Debug {
    /// Sends one request and reads the whole answer. Any status is an `Ok` answer; only a
    /// failure to get an answer is an `Err`. A body larger than [`MAX_RESPONSE_SIZE`] is
    /// refused by the library anyway: stop reading it early with
    /// [`TransportError::response_too_large`].
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// The largest answer body the library takes from the identity provider: 1 MiB, far above
/// any token, device code, discovery or error answer. A larger body, from any [`HttpClient`],
/// is a `Service` error `response_too_large` carrying the HTTP status; the default client stops
/// reading it past this size (or at once, when `Content-Length` says it is larger).
pub const MAX_RESPONSE_SIZE: usize = 1024 * 1024;

/// The headers MSAL sends on every request to the identity provider: the correlation id
/// (`client-request-id`, asked back with `return-client-request-id`), the library's identity
/// (`x-client-SKU`, `x-client-Ver`, `x-client-OS`) and its capabilities
/// (`x-ms-lib-capability: retry-after, h429`: it honours `Retry-After` and HTTP 429).
pub fn standard_headers(correlation_id: &str) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(STANDARD_HEADERS.len() + 1);
    put_standard_headers(&mut h, correlation_id);
    h
}

/// The names and fixed values of the [`standard_headers`] after `client-request-id`: built at
/// compile time, so a request neither parses them nor allocates for them (and a copy of the
/// request kept for a retry shares them).
static STANDARD_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (
        HeaderName::from_static("return-client-request-id"),
        HeaderValue::from_static("true"),
    ),
    (
        HeaderName::from_static("x-client-sku"),
        HeaderValue::from_static("msal.rust"),
    ),
    (
        HeaderName::from_static("x-client-ver"),
        HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
    ),
    (
        HeaderName::from_static("x-client-os"),
        HeaderValue::from_static(std::env::consts::OS),
    ),
    (
        HeaderName::from_static("x-ms-lib-capability"),
        HeaderValue::from_static("retry-after, h429"),
    ),
];

/// Adds the [`standard_headers`] to `headers`.
pub(crate) fn put_standard_headers(headers: &mut HeaderMap, correlation_id: &str) {
    static CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
    headers.reserve(STANDARD_HEADERS.len() + 1);
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        headers.insert(CLIENT_REQUEST_ID.clone(), v);
    }
    // Clones of static names and values: no allocation.
    for (name, value) in &STANDARD_HEADERS {
        headers.insert(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_debug_hides_the_body() {
        let r = HttpRequest::post_form(
            Url::parse("https://login.example/t/token").unwrap(),
            [("client_secret", "s3cret")],
        );
        assert!(!format!("{r:?}").contains("s3cret"));
        assert_eq!(
            r.form_fields(),
            vec![("client_secret".into(), "s3cret".into())]
        );
    }

    #[test]
    fn the_form_body_is_zeroizing_and_never_reallocated() {
        let secret = "s3cret &=+/ é".repeat(50);
        let r = HttpRequest::post_form(
            Url::parse("https://login.example/t/token").unwrap(),
            [("client_secret", secret.as_str()), ("scope", "a b")],
        );
        // The type is what zeroes the body on drop: a change to a plain `Vec` fails here.
        let body: &Zeroizing<Vec<u8>> = &r.body;
        let longest = 3 * ("client_secret".len() + secret.len() + "scope".len() + 3) + 4;
        assert_eq!(
            body.capacity(),
            longest,
            "allocated once, at the longest encoding"
        );
        assert_eq!(r.form_fields()[0].1, secret);
    }
}
