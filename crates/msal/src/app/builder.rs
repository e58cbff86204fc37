//! Builders of the client applications. Like reqwest's, they record the first configuration
//! error and return it from `build()`, so a chain of calls needs one `?`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::credential::{AssertionContext, ClientCredential};
use super::{AppCore, ConfidentialClientApplication, PublicClientApplication};
use crate::authority::{Authority, AuthorityOptions, AuthorityResolver};
use crate::cache::TokenCache;
use crate::error::{Error, codes};
use crate::http::throttle::ThrottleStore;
use crate::http::{BoxFuture, HttpClient, ReqwestHttpClient, RetryPolicy};
use crate::oauth::assertion::ClientCertificate;
use crate::secret::{Assertion, ClientSecret};

/// Entra's multi-tenant authority, the default.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/common";

#[derive(Debug, Default)]
struct Config {
    client_id: String,
    authority: Option<String>,
    oidc: bool,
    allow_insecure_loopback: bool,
    instance_discovery: Option<bool>,
    http: Option<Arc<dyn HttpClient>>,
    timeout: Option<Duration>,
    ca_files: Vec<PathBuf>,
    cache: Option<TokenCache>,
    capabilities: Vec<String>,
    retry: Option<RetryPolicy>,
    credential: Option<ClientCredential>,
    error: Option<Error>,
}

impl Config {
    fn new(client_id: &str) -> Self {
        let mut c = Config {
            client_id: client_id.trim().to_owned(),
            ..Default::default()
        };
        if c.client_id.is_empty() {
            c.fail(Error::client(
                codes::INVALID_CONFIGURATION,
                "the client id is empty",
            ));
        }
        c
    }

    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn build(self, public: bool) -> Result<AppCore, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let opts = AuthorityOptions {
            allow_insecure_loopback: self.allow_insecure_loopback,
        };
        let url = self.authority.as_deref().unwrap_or(DEFAULT_AUTHORITY);
        let authority = if self.oidc {
            Authority::parse_oidc(url, &opts)?
        } else {
            Authority::parse(url, &opts)?
        };
        if !public && self.credential.is_none() {
            return Err(Error::client(
                codes::MISSING_CREDENTIAL,
                "a confidential client needs a credential: a client secret, a certificate or an assertion",
            ));
        }
        let http: Arc<dyn HttpClient> = match self.http {
            Some(h) => h,
            None => {
                let mut b = ReqwestHttpClient::builder();
                if let Some(t) = self.timeout {
                    b = b.timeout(t);
                }
                for f in &self.ca_files {
                    b = b.add_ca_file(f);
                }
                Arc::new(b.build()?)
            }
        };
        Ok(AppCore {
            client_id: self.client_id,
            authority,
            http,
            retry: self.retry.unwrap_or_default(),
            resolver: AuthorityResolver::default(),
            cache: self.cache.unwrap_or_default(),
            throttle: ThrottleStore::default(),
            instance_discovery: self.instance_discovery.unwrap_or(!self.oidc),
            client_capabilities: self.capabilities,
            credential: self.credential,
            public,
            tenants: Default::default(),
            inflight: Default::default(),
            refreshing: Default::default(),
            scope_sets: Default::default(),
            own_tenant: Default::default(),
        })
    }
}

macro_rules! common_builder_methods {
    () => {
        /// The authority: an Entra-style URL such as `https://login.microsoftonline.com/<tenant>`
        /// (B2C, ADFS and CIAM too). Default: `https://login.microsoftonline.com/common`.
        pub fn authority(mut self, url: impl Into<String>) -> Self {
            self.cfg.authority = Some(url.into());
            self.cfg.oidc = false;
            self
        }

        /// Any OpenID Connect issuer instead of an Entra authority; its metadata is read from
        /// `<issuer>/.well-known/openid-configuration`.
        pub fn oidc_authority(mut self, issuer: impl Into<String>) -> Self {
            self.cfg.authority = Some(issuer.into());
            self.cfg.oidc = true;
            self
        }

        /// Allows `http://` authorities on loopback hosts only (127.0.0.0/8, ::1, localhost),
        /// for local emulators and tests.
        pub fn allow_insecure_loopback(mut self, allow: bool) -> Self {
            self.cfg.allow_insecure_loopback = allow;
            self
        }

        /// Turns instance discovery and authority validation on or off (on by default for
        /// Entra authorities). Off trusts the authority as given.
        pub fn instance_discovery(mut self, enabled: bool) -> Self {
            self.cfg.instance_discovery = Some(enabled);
            self
        }

        /// Sends requests through this client instead of the default reqwest client.
        pub fn http_client(mut self, client: Arc<dyn HttpClient>) -> Self {
            self.cfg.http = Some(client);
            self
        }

        /// The per-request timeout of the default HTTP client (30 s).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.cfg.timeout = Some(timeout);
            self
        }

        /// Trusts the certificates of this PEM file, besides the system's roots.
        pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
            self.cfg.ca_files.push(path.into());
            self
        }

        /// Uses this token cache (e.g. one with file persistence, or one shared with another
        /// application). Default: a new in-memory cache.
        pub fn token_cache(mut self, cache: TokenCache) -> Self {
            self.cfg.cache = Some(cache);
            self
        }

        /// Declares client capabilities (e.g. `cp1` for continuous access evaluation); they are
        /// sent as `xms_cc` in the claims of every request.
        pub fn client_capabilities<I, S>(mut self, caps: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.cfg.capabilities = caps.into_iter().map(Into::into).collect();
            self
        }

        /// The retry policy (default: one retry of a 5xx after 1 s, one of a timeout).
        pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
            self.cfg.retry = Some(policy);
            self
        }
    };
}

/// Builds a [`PublicClientApplication`].
#[derive(Debug)]
pub struct PublicClientApplicationBuilder {
    cfg: Config,
}

impl PublicClientApplicationBuilder {
    pub(crate) fn new(client_id: &str) -> Self {
        PublicClientApplicationBuilder {
            cfg: Config::new(client_id),
        }
    }

    common_builder_methods!();

    /// Builds the application, or returns the first configuration error.
    pub fn build(self) -> Result<PublicClientApplication, Error> {
        Ok(PublicClientApplication {
            core: Arc::new(self.cfg.build(true)?),
        })
    }
}

/// Builds a [`ConfidentialClientApplication`].
#[derive(Debug)]
pub struct ConfidentialClientApplicationBuilder {
    cfg: Config,
}

impl ConfidentialClientApplicationBuilder {
    pub(crate) fn new(client_id: &str) -> Self {
        ConfidentialClientApplicationBuilder {
            cfg: Config::new(client_id),
        }
    }

    common_builder_methods!();

    /// Authenticates with a client secret.
    pub fn client_secret(mut self, secret: impl Into<ClientSecret>) -> Self {
        let secret = secret.into();
        if secret.secret().is_empty() {
            self.cfg.fail(Error::client(
                codes::MISSING_CREDENTIAL,
                "the client secret is empty",
            ));
        }
        self.cfg.credential = Some(ClientCredential::Secret(secret));
        self
    }

    /// Authenticates with a certificate (each request carries a freshly signed assertion).
    pub fn certificate(mut self, certificate: ClientCertificate) -> Self {
        self.cfg.credential = Some(ClientCredential::Certificate(certificate));
        self
    }

    /// Authenticates with a PEM file holding the private key and the certificate; an unreadable
    /// file is reported by `build()`.
    pub fn certificate_pem_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        match ClientCertificate::from_pem_file(path) {
            Ok(c) => self.cfg.credential = Some(ClientCredential::Certificate(c)),
            Err(e) => self.cfg.fail(e),
        }
        self
    }

    /// Authenticates with assertions your callback produces for each request.
    pub fn client_assertion<F>(mut self, provider: F) -> Self
    where
        F: Fn(AssertionContext) -> BoxFuture<'static, Result<Assertion, Error>>
            + Send
            + Sync
            + 'static,
    {
        self.cfg.credential = Some(ClientCredential::Assertion(Arc::new(provider)));
        self
    }

    /// Builds the application, or returns the first configuration error.
    pub fn build(self) -> Result<ConfidentialClientApplication, Error> {
        Ok(ConfidentialClientApplication {
            core: Arc::new(self.cfg.build(false)?),
        })
    }
}

// The apps' `builder()` live here, beside the builders, so that the apps' modules need not
// import this one (which imports them).
impl ConfidentialClientApplication {
    /// A builder for the application with this client id.
    pub fn builder(client_id: &str) -> ConfidentialClientApplicationBuilder {
        ConfidentialClientApplicationBuilder::new(client_id)
    }
}

impl PublicClientApplication {
    /// A builder for the application with this client id.
    pub fn builder(client_id: &str) -> PublicClientApplicationBuilder {
        PublicClientApplicationBuilder::new(client_id)
    }
}
