//! Managed identity: tokens for the identity Azure gives the resource a program runs on (a
//! VM, App Service, Functions, Service Fabric, Azure ML, Cloud Shell, an Arc-enabled server),
//! from the platform's local endpoint, without any secret of the program's own.
//!
//! [`ManagedIdentityApplication`] detects the source from the environment in MSAL's order
//! (`source.rs`), sends the source's request (with Arc's challenge, `arc.rs`; Service
//! Fabric's TLS, `service_fabric.rs`), retries as MSAL .NET does (`retry.rs`), and reads the
//! answer (`response.rs`). The request runs through the one pipeline of every flow, so the
//! tokens are cached in the token cache (MSAL's schema: client id the user-assigned id, or
//! `system_assigned_managed_identity`; realm `managed_identity`), shared by concurrent
//! callers, refreshed in the background past their `refresh_on`, and throttled after a
//! `Retry-After`.

mod arc;
mod response;
mod retry;
mod service_fabric;
mod source;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use retry::ManagedIdentityRetryPolicy;
pub use source::ManagedIdentitySource;

use super::pipeline::{CacheQuery, Claims, Context, Request, Steps};
use super::tenant_key::TenantKey;
use super::{AppCore, ScopeSet, TenantAuthority, TenantData, TenantEntry, Tenants, now_unix};
use crate::authority::{Authority, AuthorityOptions, AuthorityResolver, Metadata};
use crate::cache::{AccessTokenQuery, TokenCache};
use crate::error::{Error, codes};
use crate::http::throttle::ThrottleStore;
use crate::http::{BoxFuture, HttpClient, ReqwestHttpClient, RetryPolicy, standard_headers};
use crate::oauth::TokenResponse;
use crate::result::AuthenticationResult;
use source::{Endpoint, Env};

/// The client id under which MSAL caches the tokens of a system-assigned identity.
const SYSTEM_ASSIGNED_CLIENT_ID: &str = "system_assigned_managed_identity";
/// The realm (tenant) under which MSAL caches managed identity tokens.
const REALM: &str = "managed_identity";
/// The environment under which MSAL .NET caches managed identity tokens.
const ENVIRONMENT: &str = "login.microsoftonline.com";

/// Which managed identity to get tokens for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentityId {
    /// The identity of the resource itself.
    SystemAssigned,
    /// A user-assigned identity, by its client (application) id.
    ClientId(String),
    /// A user-assigned identity, by its object (principal) id.
    ObjectId(String),
    /// A user-assigned identity, by its Azure resource id
    /// (`/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…`).
    ResourceId(String),
}

impl ManagedIdentityId {
    /// The query parameter selecting a user-assigned identity, under the source's names.
    fn selector<'a>(
        &'a self,
        client_id: &'static str,
        object_id: &'static str,
        resource_id: &'static str,
    ) -> Option<(&'static str, &'a str)> {
        match self {
            Self::SystemAssigned => None,
            Self::ClientId(v) => Some((client_id, v)),
            Self::ObjectId(v) => Some((object_id, v)),
            Self::ResourceId(v) => Some((resource_id, v)),
        }
    }

    /// The client id the tokens are cached under (MSAL's convention).
    fn cache_client_id(&self) -> &str {
        match self {
            Self::SystemAssigned => SYSTEM_ASSIGNED_CLIENT_ID,
            Self::ClientId(v) | Self::ObjectId(v) | Self::ResourceId(v) => v,
        }
    }
}

/// What a managed identity application holds besides the core of every application.
#[derive(Debug)]
struct Source {
    id: ManagedIdentityId,
    endpoint: Endpoint,
    retry: ManagedIdentityRetryPolicy,
    arc_directory: PathBuf,
}

/// An application that gets tokens for a managed identity.
///
/// ```no_run
/// # async fn run() -> Result<(), msal::Error> {
/// use msal::{ManagedIdentityApplication, ManagedIdentityId};
/// let app = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned).build()?;
/// let token = app
///     .acquire_token_for_client("https://management.azure.com/.default")
///     .send()
///     .await?;
/// println!("{} token from {}", app.source(), token.expires_on);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ManagedIdentityApplication {
    core: Arc<AppCore>,
    source: Arc<Source>,
}

impl ManagedIdentityApplication {
    /// A builder for the application of this identity.
    pub fn builder(id: ManagedIdentityId) -> ManagedIdentityApplicationBuilder {
        ManagedIdentityApplicationBuilder {
            id,
            capabilities: Vec::new(),
            cache: None,
            http: None,
            timeout: None,
            retry: None,
            source: None,
            env: Env::default(),
            arc_directory: None,
        }
    }

    /// The source tokens come from (detected from the environment, or the one forced).
    pub fn source(&self) -> ManagedIdentitySource {
        self.source.endpoint.source
    }

    /// The identity asked for.
    pub fn identity(&self) -> &ManagedIdentityId {
        &self.source.id
    }

    /// The application's token cache.
    pub fn token_cache(&self) -> &TokenCache {
        &self.core.cache
    }

    /// A token for the identity, for one scope `<resource>/.default` (the resource is sent),
    /// from the cache when it holds a valid one.
    pub fn acquire_token_for_client(&self, scope: impl AsRef<str>) -> ManagedIdentityRequest {
        ManagedIdentityRequest {
            app: self.clone(),
            scopes: self.core.scope_sets.get([scope]),
            claims: None,
            force_refresh: false,
            correlation_id: None,
        }
    }
}

/// Builds a [`ManagedIdentityApplication`].
#[derive(Debug)]
pub struct ManagedIdentityApplicationBuilder {
    id: ManagedIdentityId,
    capabilities: Vec<String>,
    cache: Option<TokenCache>,
    http: Option<Arc<dyn HttpClient>>,
    timeout: Option<Duration>,
    retry: Option<ManagedIdentityRetryPolicy>,
    source: Option<ManagedIdentitySource>,
    env: Env,
    arc_directory: Option<PathBuf>,
}

impl ManagedIdentityApplicationBuilder {
    /// Declares client capabilities (e.g. `cp1`); Service Fabric and App Service receive them
    /// as `xms_cc`.
    pub fn client_capabilities<I, S>(mut self, caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities = caps.into_iter().map(Into::into).collect();
        self
    }

    /// Uses this token cache. Default: a new in-memory cache.
    pub fn token_cache(mut self, cache: TokenCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Sends requests through this client instead of the default reqwest client. For Service
    /// Fabric, the client must then check the endpoint's certificate itself (the default one
    /// accepts exactly the certificate whose thumbprint is `IDENTITY_SERVER_THUMBPRINT`).
    pub fn http_client(mut self, client: Arc<dyn HttpClient>) -> Self {
        self.http = Some(client);
        self
    }

    /// The per-request timeout of the default HTTP client (30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The retry policy (default: MSAL .NET's, see [`ManagedIdentityRetryPolicy`]).
    pub fn retry_policy(mut self, policy: ManagedIdentityRetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Uses this source instead of the one the environment points at; its endpoint and
    /// secret are still read from the environment.
    pub fn source(mut self, source: ManagedIdentitySource) -> Self {
        self.source = Some(source);
        self
    }

    /// Reads the managed identity variables from these pairs instead of the process's
    /// environment (for tests, and hosts that keep their configuration elsewhere). The Azure
    /// Arc agent then counts as installed only when [`arc_agent_installed`] says so.
    ///
    /// [`arc_agent_installed`]: Self::arc_agent_installed
    pub fn environment<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.env.vars = Some(vars);
        self
    }

    /// Whether the Azure Arc agent is installed, instead of looking for its `himds` file
    /// (`/opt/azcmagent/bin/himds`; on Windows `%ProgramFiles%\AzureConnectedMachineAgent\himds.exe`).
    pub fn arc_agent_installed(mut self, installed: bool) -> Self {
        self.env.arc_agent_installed = Some(installed);
        self
    }

    /// The directory the Azure Arc agent's key files must lie in (default
    /// `/var/opt/azcmagent/tokens`; on Windows `%ProgramData%\AzureConnectedMachineAgent\Tokens`).
    pub fn arc_token_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.arc_directory = Some(dir.into());
        self
    }

    /// Builds the application: detects the source and reads its endpoint, or returns why it
    /// cannot (`invalid_managed_identity_endpoint` for an endpoint that is not an http(s) URL).
    pub fn build(self) -> Result<ManagedIdentityApplication, Error> {
        let id = match self.id {
            ManagedIdentityId::ClientId(v) if v.trim().is_empty() => None,
            ManagedIdentityId::ObjectId(v) if v.trim().is_empty() => None,
            ManagedIdentityId::ResourceId(v) if v.trim().is_empty() => None,
            ManagedIdentityId::ClientId(v) => Some(ManagedIdentityId::ClientId(v.trim().into())),
            ManagedIdentityId::ObjectId(v) => Some(ManagedIdentityId::ObjectId(v.trim().into())),
            ManagedIdentityId::ResourceId(v) => {
                Some(ManagedIdentityId::ResourceId(v.trim().into()))
            }
            ManagedIdentityId::SystemAssigned => Some(ManagedIdentityId::SystemAssigned),
        }
        .ok_or_else(|| {
            Error::client(
                codes::INVALID_CONFIGURATION,
                "the user-assigned managed identity's id is empty",
            )
        })?;
        let source = self.source.unwrap_or_else(|| self.env.detect());
        let endpoint = Endpoint::from_env(&self.env, source)?;
        tracing::debug!(%source, "managed identity source");
        let http: Arc<dyn HttpClient> = match (self.http, &endpoint.thumbprint) {
            (Some(h), _) => h,
            (None, Some(t)) => Arc::new(service_fabric::client(t, self.timeout)?),
            (None, None) => {
                let mut b = ReqwestHttpClient::builder();
                if let Some(t) = self.timeout {
                    b = b.timeout(t);
                }
                Arc::new(b.build()?)
            }
        };
        let core = core(&id, http, self.cache.unwrap_or_default(), self.capabilities)?;
        let arc_directory = self
            .arc_directory
            .unwrap_or_else(|| self.env.arc_token_directory());
        Ok(ManagedIdentityApplication {
            core: Arc::new(core),
            source: Arc::new(Source {
                id,
                endpoint,
                retry: self.retry.unwrap_or_default(),
                arc_directory,
            }),
        })
    }
}

/// The core of the application: keyed as MSAL caches managed identity tokens, with the
/// "authority" already resolved (there is none to ask: its metadata only names the cache's
/// environment), so the pipeline never looks one up.
fn core(
    id: &ManagedIdentityId,
    http: Arc<dyn HttpClient>,
    cache: TokenCache,
    capabilities: Vec<String>,
) -> Result<AppCore, Error> {
    let base = format!("https://{ENVIRONMENT}/{REALM}");
    let authority = Authority::parse(&base, &AuthorityOptions::default())?;
    let url = |p: &str| {
        url::Url::parse(&format!("{base}/{p}"))
            .map_err(|e| Error::client(codes::INVALID_CONFIGURATION, format!("{e}")))
    };
    let aliases: Arc<[String]> = Arc::new([ENVIRONMENT.to_owned()]);
    let metadata = Arc::new(Metadata {
        issuer: String::new(),
        authorization_endpoint: url("oauth2/v2.0/authorize")?,
        token_endpoint: url("oauth2/v2.0/token")?,
        device_authorization_endpoint: None,
        environment: ENVIRONMENT.to_owned(),
        aliases: aliases.clone(),
        authorization_response_iss: false,
    });
    let client_id = id.cache_client_id().to_owned();
    let own: TenantEntry = Arc::new(TenantData {
        aliases,
        resolved: Arc::new(TenantAuthority {
            authority: authority.clone(),
            metadata,
        }),
        realm: Arc::from(REALM),
        app_partition: cache.app_partition(&client_id, REALM),
        hits: Default::default(),
    });
    let mut tenants = Tenants::default();
    // "/" is the key of the app's own tenant, the only one a managed identity request has.
    tenants.insert(TenantKey::new("/"), own.clone());
    let own_tenant = std::sync::OnceLock::new();
    let _ = own_tenant.set(own);
    Ok(AppCore {
        client_id,
        authority,
        http,
        retry: RetryPolicy::none(),
        resolver: AuthorityResolver::default(),
        cache,
        throttle: ThrottleStore::default(),
        instance_discovery: false,
        client_capabilities: capabilities,
        credential: None,
        public: false,
        extra_query: Vec::new(),
        tenants: std::sync::RwLock::new(tenants),
        inflight: Default::default(),
        refreshing: Default::default(),
        scope_sets: Default::default(),
        own_tenant,
        telemetry: Default::default(),
        pii_logging: false,
        regional: Default::default(),
    })
}

/// A managed identity token request; set options, then [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct ManagedIdentityRequest {
    app: ManagedIdentityApplication,
    scopes: Result<ScopeSet, Error>,
    claims: Option<String>,
    force_refresh: bool,
    correlation_id: Option<String>,
}

impl ManagedIdentityRequest {
    super::request_options!(claims, force_refresh, correlation_id);

    /// Gets the token.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        // The same request served from the cache in this second (see `hit_memo.rs`); a
        // request of several scopes fails its check before it is ever served, so it is never
        // remembered.
        if let Some(hit) = self.app.core.remembered(&self.request()) {
            return Ok(hit);
        }
        Box::pin(async move { self.app.core.execute(self.request(), &self).await }).await
    }

    /// The request as the pipeline runs it.
    fn request(&self) -> Request<'_> {
        Request {
            correlation_id: self.correlation_id.as_deref(),
            claims: Claims::Caller(self.claims.as_deref()),
            known_tenant: self.app.core.own_tenant.get(),
            cache: Some(CacheQuery {
                realm: REALM,
                home_account_id: None,
                account: None,
            }),
            single_flight: true,
            force_refresh: self.force_refresh,
            credential_required: false,
            ..Request::app("managed_identity", &self.scopes)
        }
    }

    /// The resource of the scope: the scope without its `/.default`.
    fn resource(scope: &str) -> &str {
        scope.strip_suffix("/.default").unwrap_or(scope)
    }

    /// The SHA-256 (hex) of the cached token a claims request replaces, for the sources that
    /// take it.
    async fn token_to_refresh(&self, cx: &Context<'_>, scopes: &[String]) -> Option<String> {
        let caller_claims = self.claims.as_deref().is_some_and(|c| !c.trim().is_empty());
        if !caller_claims || !self.app.source().supports_revocation() {
            return None;
        }
        let query = AccessTokenQuery {
            client_id: &cx.core.client_id,
            environments: &cx.metadata().aliases,
            realm: REALM,
            scopes,
            scope_bloom: None,
            partition: None,
            home_account_id: None,
            user_assertion_hash: None,
            bound: None,
            now: now_unix(),
        };
        match cx.core.cache.find_access_token(&query).await {
            Ok(found) => found.map(|at| crate::hash::hex_sha256(at.secret.secret())),
            Err(e) => {
                tracing::warn!(error = %crate::pii::pii_error(&e, cx.core.pii_logging), "the token to refresh could not be read from the cache");
                None
            }
        }
    }

    async fn fetch(&self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        let src = &self.app.source;
        let scopes = self.scopes.as_deref().map_err(Error::clone)?;
        let resource = Self::resource(&scopes[0]);
        let hash = self.token_to_refresh(cx, scopes).await;
        let mut req = src.endpoint.request(
            &src.id,
            resource,
            (hash.as_deref(), &cx.core.client_capabilities),
        )?;
        req.headers.extend(standard_headers(cx.correlation_id));
        let source = src.endpoint.source;
        let http = cx.core.http.as_ref();
        let mut resp = retry::send(http, req.clone(), source, &src.retry).await?;
        if source == ManagedIdentitySource::AzureArc && resp.status.as_u16() == 401 {
            let key = arc::read_key(&resp, &src.arc_directory)?;
            req.headers
                .insert(http::header::AUTHORIZATION, arc::authorization(&key)?);
            resp = retry::send(http, req, source, &src.retry).await?;
        }
        if !resp.status.is_success() {
            return Err(response::error(resp, source, cx.correlation_id));
        }
        response::parse_token(&resp, source, &src.id, now_unix(), cx.correlation_id)
    }
}

impl Steps for &ManagedIdentityRequest {
    fn check(&mut self) -> Result<(), Error> {
        match &self.scopes {
            Ok(s) if s.len() != 1 => Err(Error::client(
                codes::INVALID_ARGUMENT,
                "a managed identity token is for one scope, `<resource>/.default`",
            )),
            _ => Ok(()),
        }
    }

    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        cx.core.throttle.check_with(|| cx.throttle_key(&[]))?;
        tracing::debug!(correlation_id = %cx.correlation_id, source = %self.app.source(), scope = %cx.scope, "managed identity: requesting a token");
        let answer = self.fetch(cx).await;
        cx.core
            .throttle
            .settle(|| cx.throttle_key(&[]), &answer, false, false);
        answer
    }

    fn refresh_in_background(
        &self,
    ) -> Option<BoxFuture<'static, Result<AuthenticationResult, Error>>> {
        let again = ManagedIdentityRequest {
            app: self.app.clone(),
            scopes: self.scopes.clone(),
            claims: None,
            force_refresh: true,
            correlation_id: None,
        };
        Some(Box::pin(again.send()))
    }
}
