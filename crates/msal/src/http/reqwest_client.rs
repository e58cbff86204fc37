//! The default [`HttpClient`]: reqwest with rustls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{BoxFuture, HttpClient, HttpRequest, HttpResponse, TransportError, TransportErrorKind};
use crate::error::{Error, codes};

/// The default HTTP client: reqwest 0.13 with rustls, a per-request timeout, no redirects
/// (a token endpoint that redirects is answering something else), and optional extra trust
/// anchors. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: reqwest::Client,
}

/// Builds a [`ReqwestHttpClient`].
#[derive(Debug, Default)]
pub struct ReqwestHttpClientBuilder {
    timeout: Option<Duration>,
    ca_files: Vec<PathBuf>,
}

impl ReqwestHttpClientBuilder {
    /// The per-request timeout (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Trusts the certificates of a PEM file in addition to the system's roots.
    pub fn add_ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca_files.push(path.as_ref().to_owned());
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
        if !extra.is_empty() {
            b = b.tls_certs_merge(extra);
        }
        let client = b.build().map_err(|e| {
            Error::client(
                codes::INVALID_CONFIGURATION,
                format!("cannot build the HTTP client: {e}"),
            )
            .with_source(e)
        })?;
        Ok(ReqwestHttpClient { client })
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
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let mut rb = self
                .client
                .request(request.method, request.url)
                .headers(request.headers);
            if !request.body.is_empty() {
                rb = rb.body(request.body);
            }
            let resp = rb.send().await.map_err(classify)?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(classify)?;
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    }
}
