//! The default [`HttpClient`]: reqwest with rustls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use zeroize::Zeroizing;

use super::{
    BoxFuture, HttpClient, HttpRequest, HttpResponse, MAX_RESPONSE_SIZE, TransportError,
    TransportErrorKind,
};
use crate::error::{Error, codes};

/// The default HTTP client: reqwest 0.13 with rustls, a per-request timeout, no redirects
/// (a token endpoint that redirects is answering something else), a cap on the size of
/// answers (read chunk by chunk, never past the cap), and optional extra trust anchors. Cheap
/// to clone. It needs a Tokio runtime: outside one, a request fails with a `Client` error
/// `no_async_runtime`.
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
    max_response_size: usize,
}

/// Builds a [`ReqwestHttpClient`].
#[derive(Debug, Default)]
pub struct ReqwestHttpClientBuilder {
    timeout: Option<Duration>,
    ca_files: Vec<PathBuf>,
    max_response_size: Option<usize>,
    tls: Option<rustls::ClientConfig>,
}

impl ReqwestHttpClientBuilder {
    /// The per-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The largest answer body read, in bytes (default and most
    /// [`MAX_RESPONSE_SIZE`], 1 MiB, which the library enforces whatever the client). A larger
    /// body is refused (a `Service` error `response_too_large` with the HTTP status) as soon as
    /// `Content-Length` announces it, or as soon as more arrived, without reading the rest.
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = Some(bytes);
        self
    }

    /// Trusts the certificates of a PEM file in addition to the system's roots.
    pub fn add_ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca_files.push(path.as_ref().to_owned());
        self
    }

    /// Uses this TLS configuration instead of the default one (e.g. Service Fabric's, which
    /// accepts one certificate by its thumbprint); CA files are then not used.
    pub(crate) fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Builds the client; a `Client` error when a CA file cannot be read.
    pub fn build(self) -> Result<ReqwestHttpClient, Error> {
        let mut b = reqwest::Client::builder()
            .timeout(self.timeout.unwrap_or(Duration::from_secs(30)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("msal-rs/", env!("CARGO_PKG_VERSION")));
        let mut extra = Vec::new();
        for path in &self.ca_files {
            let pem = std::fs::read(path).map_err(|e| {
                Error::client(
                    codes::INVALID_CERTIFICATE,
                    format!("cannot read CA file {}: {e}", path.display()),
                )
                .with_source(e)
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::client(
                    codes::INVALID_CERTIFICATE,
                    format!("CA file {} holds no usable PEM certificate", path.display()),
                )
                .with_source(e)
            })?;
            if certs.is_empty() {
                return Err(Error::client(
                    codes::INVALID_CERTIFICATE,
                    format!("CA file {} holds no PEM certificate", path.display()),
                ));
            }
            extra.extend(certs);
        }
        if let Some(tls) = self.tls {
            b = b.tls_backend_preconfigured(tls);
        } else if !extra.is_empty() {
            b = b.tls_certs_merge(extra);
        }
        let client = b.build().map_err(|e| {
            Error::client(
                codes::INVALID_CONFIGURATION,
                format!("cannot build the HTTP client: {e}"),
            )
            .with_source(e)
        })?;
        Ok(ReqwestHttpClient {
            client,
            max_response_size: self
                .max_response_size
                .unwrap_or(MAX_RESPONSE_SIZE)
                .min(MAX_RESPONSE_SIZE),
        })
    }
}

impl ReqwestHttpClient {
    /// A builder.
    pub fn builder() -> ReqwestHttpClientBuilder {
        ReqwestHttpClientBuilder::default()
    }

    /// A client with the defaults.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }
}

fn classify(e: reqwest::Error) -> TransportError {
    let kind = if e.is_timeout() {
        TransportErrorKind::Timeout
    } else if e.is_connect() {
        TransportErrorKind::Connect
    } else if e.is_body() || e.is_decode() {
        TransportErrorKind::Body
    } else {
        TransportErrorKind::Other
    };
    // reqwest's message names the URL, which holds no secret (secrets travel in bodies).
    let message = e.to_string();
    TransportError::new(kind, message, Some(Box::new(e)))
}

impl HttpClient for ReqwestHttpClient {
    fn execute(
        &self,
        mut request: HttpRequest,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            // reqwest's connections and timers are Tokio's: outside a runtime they would panic.
            if !crate::runtime::has_tokio() {
                return Err(TransportError::new(
                    TransportErrorKind::NoAsyncRuntime,
                    "the default HTTP client (reqwest) needs a Tokio runtime, and none is running \
                     on this thread; run the call inside one or give the application an HttpClient \
                     for your executor",
                    None,
                ));
            }
            // Built directly rather than with a `RequestBuilder`, which would insert each header
            // into a map of its own (hashing every name again): the map is moved in as it is.
            let mut req = reqwest::Request::new(request.method, request.url);
            *req.headers_mut() = std::mem::take(&mut request.headers);
            if !request.body.is_empty() {
                // The body holds secrets: reqwest gets it without a copy, and it is zeroed when
                // the last reference to it is dropped.
                let body = Zeroizing::new(std::mem::take(&mut *request.body));
                *req.body_mut() = Some(Bytes::from_owner(body).into());
            }
            let mut resp = self.client.execute(req).await.map_err(classify)?;
            let status = resp.status();
            // Taken, not copied: nothing reads them from the response again.
            let headers = std::mem::take(resp.headers_mut());
            let limit = self.max_response_size;
            let too_large = || TransportError::response_too_large(status, limit);
            // Refused before a byte of the body is read; dropping the answer closes the
            // connection instead of draining it.
            let announced = resp.content_length();
            if announced.is_some_and(|n| n > limit as u64) {
                return Err(too_large());
            }
            // A body in one chunk (a token answer, mostly) is kept as it came, without a copy.
            let Some(first) = resp.chunk().await.map_err(classify)? else {
                return Ok(HttpResponse {
                    status,
                    headers,
                    body: Bytes::new(),
                });
            };
            if first.len() > limit {
                return Err(too_large());
            }
            let Some(second) = resp.chunk().await.map_err(classify)? else {
                return Ok(HttpResponse {
                    status,
                    headers,
                    body: first,
                });
            };
            // More chunks: gathered, each checked against what is left of the limit.
            let mut body =
                BytesMut::with_capacity((announced.unwrap_or(0) as usize).max(first.len()));
            body.extend_from_slice(&first);
            let mut next = Some(second);
            while let Some(chunk) = next {
                if chunk.len() > limit - body.len() {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
                next = resp.chunk().await.map_err(classify)?;
            }
            Ok(HttpResponse {
                status,
                headers,
                body: body.freeze(),
            })
        })
    }
}
