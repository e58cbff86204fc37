//! Builders of the client applications. Like reqwest's, they record the first configuration
//! error and return it from `build()`, so a chain of calls needs one `?`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::credential::{AssertionContext, ClientCredential};
use super::managed_identity::ManagedIdentityApplication;
use super::region::{Region, RegionDetection, Regional};
use super::token_file::FederatedTokenFile;
use super::{AppCore, ConfidentialClientApplication, PublicClientApplication};
use crate::authority::{Authority, AuthorityOptions, AuthorityResolver};
use crate::cache::TokenCache;
use crate::error::{Error, codes};
use crate::http::throttle::ThrottleStore;
use crate::http::{BoxFuture, HttpClient, ReqwestHttpClient, RetryPolicy};
use crate::oauth::assertion::ClientCertificate;
use crate::secret::{Assertion, ClientSecret};

/// The audience of a managed identity token used as a federated credential (public cloud).
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

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
    extra_query: Vec<(String, String)>,
    pii_logging: bool,
    region: Option<Region>,
    region_detection: RegionDetection,
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
        let regional = Regional::new(self.region, self.region_detection, authority.kind())?;
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
            resolver: AuthorityResolver::default().with_pii_logging(self.pii_logging),
            cache: {
                let cache = self.cache.unwrap_or_default();
                if self.pii_logging {
                    cache.log_pii();
                }
                cache
            },
            throttle: ThrottleStore::default(),
            instance_discovery: self.instance_discovery.unwrap_or(!self.oidc),
            client_capabilities: self.capabilities,
            credential: self.credential,
            public,
            extra_query: self.extra_query,
            tenants: Default::default(),
            inflight: Default::default(),
            refreshing: Default::default(),
            scope_sets: Default::default(),
            own_tenant: Default::default(),
            telemetry: Default::default(),
            pii_logging: self.pii_logging,
            regional,
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

        /// Shows personal data (user names, account and object ids, tenant ids, authority
        /// URLs, the server's error descriptions) in the library's `tracing` events; off by
        /// default, when they are replaced by a marker (`[pii:<salted hash prefix>]`) that
        /// tells values apart within one run. MSAL's `enablePiiLogging`. Tokens, secrets,
        /// passwords, assertions and codes are never logged either way.
        pub fn enable_pii_logging(mut self, enable: bool) -> Self {
            self.cfg.pii_logging = enable;
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

        /// Query parameters appended to the URL of every request to the identity provider
        /// (token endpoint, device code endpoint, authorize URL), e.g. a test slice's
        /// `[("slice", "testslice")]`; a request's own
        /// `with_extra_query_parameters` win on the same name. A parameter the library sets
        /// itself (`client_id`, `grant_type`, `scope`, `client_secret`, ...) is a `Client`
        /// error `invalid_argument` from `build()`.
        pub fn extra_query_parameters<I, K, V>(mut self, params: I) -> Self
        where
            I: IntoIterator<Item = (K, V)>,
            K: Into<String>,
            V: Into<String>,
        {
            self.cfg.extra_query = super::extra_query::collect(params).collect();
            if let Err(e) = super::extra_query::check(&self.cfg.extra_query) {
                self.cfg.fail(e);
            }
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

    /// Authenticates with the federated token in a file (workload identity federation), read
    /// at each token request, so a rotation by Kubernetes is never missed.
    pub fn client_assertion_file(mut self, path: impl Into<PathBuf>) -> Self {
        let file = FederatedTokenFile::new(path);
        self.cfg.credential = Some(ClientCredential::AssertionFile(Arc::new(file)));
        self
    }

    /// Authenticates with a managed identity as the app's federated credential: each assertion
    /// is the identity's token for `api://AzureADTokenExchange` (the public cloud's audience),
    /// cached and refreshed by `mi` like any of its tokens. The app registration trusts the
    /// identity with a federated identity credential.
    pub fn managed_identity_assertion(self, mi: ManagedIdentityApplication) -> Self {
        self.managed_identity_assertion_for(mi, TOKEN_EXCHANGE_AUDIENCE)
    }

    /// [`managed_identity_assertion`](Self::managed_identity_assertion) with another audience,
    /// such as a national cloud's (`api://AzureADTokenExchangeUSGov`, ...).
    pub fn managed_identity_assertion_for(
        self,
        mi: ManagedIdentityApplication,
        audience: impl Into<String>,
    ) -> Self {
        let scope: Arc<str> = format!("{}/.default", audience.into().trim_end_matches('/')).into();
        self.client_assertion(move |_ctx| {
            let (mi, scope) = (mi.clone(), scope.clone());
            Box::pin(async move {
                let token = mi.acquire_token_for_client(&*scope).send().await?;
                Ok(Assertion::new(token.access_token.secret()))
            })
        })
    }

    /// Asks the app's own tokens (client credentials) of Entra ID's endpoint in this Azure
    /// region (ESTS-R), as MSAL does: `{region}.login.microsoft.com` for the public cloud,
    /// `{region}.{host}` for another cloud. User flows stay on the global endpoint, and the
    /// tokens are cached under the global environment (shared with apps that use no region).
    ///
    /// ```no_run
    /// # fn run() -> Result<(), msal::Error> {
    /// use msal::{ConfidentialClientApplication, Region};
    /// let app = ConfidentialClientApplication::builder("my-client-id")
    ///     .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
    ///     .client_secret("...")
    ///     .azure_region(Region::named("westus2")) // or Region::AutoDetect
    ///     .build()?;
    /// # let _ = app; Ok(()) }
    /// ```
    ///
    /// [`Region::AutoDetect`] reads `REGION_NAME`, else asks the instance metadata service
    /// of the Azure VM (at most 2 s, see [`region_detection`](Self::region_detection)), once
    /// per application; when neither tells, the global endpoint is used and a warning logged.
    /// A named region that is not one DNS label (letters, digits, `-`) is a `Client` error
    /// `invalid_region` from `build()`. Only Entra ID authorities are regionalised (not B2C,
    /// AD FS, CIAM or generic OpenID Connect issuers, whose tokens come from their own
    /// endpoints, logged).
    pub fn azure_region(mut self, region: Region) -> Self {
        self.cfg.region = Some(region);
        self
    }

    /// Where [`Region::AutoDetect`] looks (default: the process's environment, then
    /// `http://169.254.169.254` with a 2 s timeout).
    pub fn region_detection(mut self, detection: RegionDetection) -> Self {
        self.cfg.region_detection = detection;
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

    /// A builder for workload identity federation as AKS sets it up, from the process's
    /// environment: `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE` and
    /// `AZURE_AUTHORITY_HOST` (default `https://login.microsoftonline.com/`). A missing variable
    /// is reported by `build()`.
    pub fn workload_identity() -> ConfidentialClientApplicationBuilder {
        Self::workload_identity_from(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// [`workload_identity`](Self::workload_identity) from these variables instead of the
    /// process's environment.
    pub fn workload_identity_from<I, K, V>(vars: I) -> ConfidentialClientApplicationBuilder
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut client_id = None;
        let mut tenant = None;
        let mut file = None;
        let mut host = None;
        for (k, v) in vars {
            let slot = match k.as_ref() {
                "AZURE_CLIENT_ID" => &mut client_id,
                "AZURE_TENANT_ID" => &mut tenant,
                "AZURE_FEDERATED_TOKEN_FILE" => &mut file,
                "AZURE_AUTHORITY_HOST" => &mut host,
                _ => continue,
            };
            *slot = Some(v.into()).filter(|v: &String| !v.trim().is_empty());
        }
        let mut b = ConfidentialClientApplicationBuilder::new(client_id.as_deref().unwrap_or(""));
        let missing = [
            ("AZURE_CLIENT_ID", client_id.is_none()),
            ("AZURE_TENANT_ID", tenant.is_none()),
            ("AZURE_FEDERATED_TOKEN_FILE", file.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, missing)| missing.then_some(name))
        .collect::<Vec<_>>();
        if !missing.is_empty() {
            // Before the empty client id's own error, which says less.
            b.cfg.error = Some(Error::client(
                codes::INVALID_CONFIGURATION,
                format!(
                    "workload identity needs the environment variable(s) {}",
                    missing.join(", ")
                ),
            ));
            return b;
        }
        let host = host.unwrap_or_else(|| "https://login.microsoftonline.com/".to_owned());
        let authority = format!(
            "{}/{}",
            host.trim_end_matches('/'),
            tenant.unwrap_or_default().trim()
        );
        b.authority(authority)
            .client_assertion_file(file.unwrap_or_default())
    }
}

impl PublicClientApplication {
    /// A builder for the application with this client id.
    pub fn builder(client_id: &str) -> PublicClientApplicationBuilder {
        PublicClientApplicationBuilder::new(client_id)
    }
}
