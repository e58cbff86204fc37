//! Client applications: what a program creates once and asks for tokens.
//!
//! - [`ConfidentialClientApplication`]: services and daemons that hold a credential (client
//!   credentials, on-behalf-of, web-app auth code, username/password).
//! - [`PublicClientApplication`]: CLIs and desktop apps that sign users in (interactive,
//!   device code, username/password, silent with family refresh tokens).
//! - [`ManagedIdentityApplication`]: services on Azure that get tokens for the managed
//!   identity of the resource they run on.
//!
//! Both are cheap to clone (`Arc` inside) and share one token cache per application.

/// The option setters that request types share, generated from the names of the fields each
/// request has (`claims`, `force_refresh`, `accept_partial`, `correlation_id`,
/// `extra_query`, `tenant`, `auth_scheme`).
macro_rules! request_options {
    (@one claims) => {
        /// Sends a claims request (e.g. the claims of a claims challenge, or of an error's
        /// [`crate::Error::claims`]); it bypasses cached access tokens.
        pub fn with_claims(mut self, claims: impl Into<String>) -> Self {
            self.claims = Some(claims.into());
            self
        }
    };
    (@one force_refresh) => {
        /// Skips cached access tokens and asks the identity provider.
        pub fn force_refresh(mut self, force: bool) -> Self {
            self.force_refresh = force;
            self
        }
    };
    (@one partial_scopes) => {
        /// Accepts an answer that grants fewer scopes than asked for: the result lists the
        /// others in `declined_scopes`, instead of a `declined_scopes` error.
        pub fn allow_partial_scopes(mut self, allow: bool) -> Self {
            self.accept_partial = allow;
            self
        }
    };
    (@one correlation_id) => {
        /// Uses this correlation id (sent as `client-request-id`) instead of a fresh one.
        pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
            self.correlation_id = Some(id.into());
            self
        }
    };
    (@one extra_query) => {
        /// Appends these query parameters to the URL of every request of this call to the
        /// identity provider (token endpoint, device code endpoint, authorize URL), e.g.
        /// `[("dc", "ESTS-PUB-WUS2-AZ1-FD000-TEST1")]`; they replace the app's
        /// [`extra_query_parameters`](crate::ConfidentialClientApplicationBuilder::extra_query_parameters)
        /// of the same name. A parameter the library sets itself (`client_id`, `grant_type`,
        /// `scope`, `code`, `redirect_uri`, `client_secret`, `client_assertion`,
        /// `refresh_token`, `username`, `password`, `claims`, ...) is refused with a `Client`
        /// error `invalid_argument` when the request is sent.
        pub fn with_extra_query_parameters<I, K, V>(mut self, params: I) -> Self
        where
            I: IntoIterator<Item = (K, V)>,
            K: Into<String>,
            V: Into<String>,
        {
            self.extra_query.extend($crate::app::extra_query::collect(params));
            self
        }
    };
    (@one tenant) => {
        /// Asks this tenant (a tenant id or a domain name) instead of the application's:
        /// the request goes to `{instance}/{tenant}/oauth2/v2.0/...` (token, device code and
        /// authorize endpoints) and the user's tokens are cached under the tenant of the
        /// answer. Only Entra ID (and External ID) authorities take one; on a B2C, ADFS or
        /// generic OIDC authority, or a name that is not a tenant's, the request fails with a
        /// `Client` error `invalid_authority` before anything is sent.
        pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
            self.tenant = Some(tenant.into());
            self
        }
    };
    (@one auth_scheme) => {
        /// Asks for a proof-of-possession token bound to `key` (`token_type=pop`, `req_cnf`)
        /// instead of a bearer token. The result's access token is a signed HTTP request
        /// (SHR) for `method` on `url`, made afresh for each call (from the cache too): send
        /// it as `Authorization: PoP <token>`. Tokens are cached apart from bearer tokens, by
        /// the key's id.
        pub fn with_proof_of_possession(
            mut self,
            key: $crate::pop::PopKey,
            method: &str,
            url: url::Url,
        ) -> Self {
            self.auth_scheme = Some($crate::pop::AuthScheme::pop(key, method, url));
            self
        }

        /// Asks for an SSH certificate (`token_type=ssh-cert`) for the SSH public key given as
        /// a JWK (JSON text, sent as `req_cnf`), identified by `key_id`. The result's access
        /// token is the certificate. Certificates are cached apart from bearer tokens, by
        /// key id.
        pub fn with_ssh_certificate(
            mut self,
            public_key_jwk: impl Into<String>,
            key_id: impl Into<String>,
        ) -> Self {
            self.auth_scheme = Some($crate::pop::AuthScheme::Ssh {
                jwk: public_key_jwk.into(),
                key_id: key_id.into(),
            });
            self
        }
    };
    ($($option:ident),+) => {
        $(request_options!(@one $option);)+
    };
}
pub(crate) use request_options;

mod auth_code;
mod builder;
mod by_refresh_token;
mod confidential;
mod correlation;
mod credential;
mod exchange;
pub(crate) mod extra_query;
mod flight;
mod hit_memo;
mod interactive;
mod long_running;
mod loopback;
mod managed_identity;
mod obo;
mod pipeline;
mod public;
mod region;
mod request;
mod ropc;
mod scopes;
mod telemetry;
mod tenant_key;
mod token_file;

use std::collections::HashMap;
use std::sync::Arc;

use time::OffsetDateTime;

pub use auth_code::{AuthCodeFlow, AuthCodeFlowRequest, InitiateAuthCodeFlowRequest, Prompt};
pub use builder::{
    ConfidentialClientApplicationBuilder, PublicClientApplicationBuilder, TOKEN_EXCHANGE_AUDIENCE,
};
pub use by_refresh_token::RefreshTokenRequest;
pub use confidential::{ClientCredentialsRequest, ConfidentialClientApplication};
pub use credential::{AssertionContext, AssertionProvider, ClientCredential};
pub use interactive::{
    Browser, BrowserCallback, DEFAULT_INTERACTIVE_TIMEOUT, DEFAULT_REDIRECT_URI, InteractiveRequest,
};
pub use long_running::LongRunningOnBehalfOfRequest;
pub use managed_identity::{
    ManagedIdentityApplication, ManagedIdentityApplicationBuilder, ManagedIdentityId,
    ManagedIdentityRequest, ManagedIdentityRetryPolicy, ManagedIdentitySource,
};
pub use obo::{OnBehalfOfRequest, user_assertion_hash};
pub use public::{DeviceCodeRequest, PublicClientApplication, SilentRequest};
pub use region::{DEFAULT_IMDS_TIMEOUT, REGION_NAME_VAR, Region, RegionDetection};
pub use ropc::UsernamePasswordRequest;
pub use token_file::{FederatedTokenFile, MAX_TOKEN_FILE_SIZE};

pub(crate) use correlation::correlation_id;
use scopes::graph_short_form;
pub(crate) use scopes::{ScopeInterner, ScopeSet};
use tenant_key::TenantKey;

use crate::authority::{Authority, AuthorityResolver, Metadata};
use crate::cache::TokenCache;
use crate::error::{Error, codes};
use crate::http::throttle::ThrottleStore;
use crate::http::{HttpClient, RetryPolicy};
use crate::oauth::RESERVED_SCOPES;
use crate::result::AuthenticationResult;

/// What every application holds.
#[derive(Debug)]
pub(crate) struct AppCore {
    pub client_id: String,
    pub authority: Authority,
    pub http: Arc<dyn HttpClient>,
    pub retry: RetryPolicy,
    pub resolver: AuthorityResolver,
    pub cache: TokenCache,
    pub throttle: ThrottleStore,
    pub instance_discovery: bool,
    pub client_capabilities: Vec<String>,
    pub credential: Option<ClientCredential>,
    pub public: bool,
    /// The app's extra query parameters, sent with every request (checked when built).
    pub extra_query: Vec<(String, String)>,
    /// Per-request tenants already resolved: the authority and its metadata, so a cache hit
    /// for a tenant parses no URL and builds no key (the hot path of multi-tenant daemons).
    /// At most [`MAX_TENANTS`]: tenant names may come from untrusted input.
    pub tenants: std::sync::RwLock<Tenants>,
    /// Requests to the identity provider under way, by request identity: concurrent callers
    /// of the same request share one (single-flight). The keys are SHA-256 digests, hashed
    /// with foldhash (seeded): SipHash's rounds buy nothing over them.
    pub inflight: std::sync::Mutex<HashMap<[u8; 32], Flight, foldhash::fast::RandomState>>,
    /// When a background (proactive) refresh of a request last started.
    pub refreshing:
        std::sync::Mutex<HashMap<[u8; 32], std::time::Instant, foldhash::fast::RandomState>>,
    /// The scope lists callers asked for, normalised once.
    pub scope_sets: ScopeInterner,
    /// The app's own tenant, once resolved: what a cache hit without a per-request tenant
    /// needs, without a lookup.
    pub own_tenant: std::sync::OnceLock<TenantEntry>,
    /// The server telemetry since the last successful token request.
    pub telemetry: telemetry::ServerTelemetry,
    /// Whether log events show personal data (user names, ids, tenants) as they are.
    pub pii_logging: bool,
    /// The regional endpoint (ESTS-R) of the app's own tokens: its region, or how to find it.
    pub regional: region::Regional,
}

/// The resolved tenants of an application, by name (see [`tenant_key`]).
pub(crate) type Tenants = HashMap<TenantKey, TenantEntry, foldhash::fast::RandomState>;

/// One shared request to the identity provider.
pub(crate) type Flight = Arc<tokio::sync::OnceCell<Result<AuthenticationResult, Error>>>;

/// The most per-request tenants remembered in [`AppCore::tenants`]; past it, arbitrary ones
/// are evicted (they are resolved again, from the resolver's own bounded cache, when asked for).
pub(crate) const MAX_TENANTS: usize = 4096;

/// An authority for one tenant with its metadata.
#[derive(Debug)]
pub(crate) struct TenantAuthority {
    pub authority: Authority,
    pub metadata: Arc<Metadata>,
}

/// The key of a per-request tenant in [`AppCore::tenants`]: the tenant as named, and `/`
/// for the app's own tenant, which no tenant name can be: a name that is not a tenant's is
/// refused here, before the map is read.
fn tenant_key<'a>(tenant: Option<&'a str>, correlation_id: &str) -> Result<&'a str, Error> {
    match tenant {
        None => Ok("/"),
        Some(t) if crate::authority::is_tenant_name(t) => Ok(t),
        Some(t) => Err(Error::client(
            codes::INVALID_AUTHORITY,
            format!(
                "a request cannot name the tenant {t:?}: a tenant is a tenant id or a domain name"
            ),
        )
        .with_correlation_id(correlation_id)),
    }
}

/// A resolved per-request tenant in [`AppCore::tenants`]. What a cache hit needs is in the
/// entry (its remembered hits, then the environments the tokens are cached under: a list
/// interned per host, shared by every tenant of the host, so it stays in the CPU cache), and
/// the map's key is inline, so a hit among many tenants reads few cache lines.
///
/// Shared (one reference count per request that names the tenant, one cache line).
pub(crate) type TenantEntry = Arc<TenantData>;

/// What [`TenantEntry`] shares.
///
/// `repr(C)`, the memo first: a hit reads the reference count and the memo, which then share
/// the entry's first cache line more often than not.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct TenantData {
    /// The last hit of each of the tenant's app token requests (see `hit_memo.rs`).
    pub hits: hit_memo::HitMemo,
    pub aliases: Arc<[String]>,
    pub resolved: Arc<TenantAuthority>,
    /// The realm of the tenant's app tokens: the tenant as named, or the app's own.
    pub realm: Arc<str>,
    /// The cache partition of the tenant's app tokens (hashed once, here).
    pub app_partition: u64,
}

/// One request to the token endpoint, as [`AppCore::token_request`] sends it.
pub(crate) struct TokenRequest<'a> {
    pub metadata: &'a Metadata,
    /// The grant's own fields; the credential and the claims are added.
    pub form: Vec<(&'a str, &'a str)>,
    pub claims: Option<&'a str>,
    /// The request's throttling identity; `None` for requests that cannot repeat (a code).
    pub throttle: Option<&'a dyn ThrottleIdentity>,
    /// Whether it is a silent request (throttled after `UiRequired`).
    pub silent: bool,
    /// Whether the grant needs a confidential client.
    pub credential_required: bool,
    pub correlation_id: &'a str,
    /// The extra query parameters, appended to the endpoint's URL (the app's and the request's).
    pub extra_query: &'a [(&'a str, &'a str)],
    /// The flow's name, for its telemetry.
    pub flow: &'static str,
    /// Why the cache did not answer, for the telemetry.
    pub cache_refresh: telemetry::CacheRefresh,
    /// Whether it goes to the app's regional endpoint, when it has one (app tokens only).
    pub regional: bool,
}

/// What a request's throttling key is computed from. The key (a SHA-256 over the request's
/// identity) is computed only when the throttling store needs it: after a failure, or while a
/// window is open; a success with nothing throttled computes none.
pub(crate) trait ThrottleIdentity: Sync {
    /// The request's throttling key.
    fn key(&self) -> [u8; 32];
}

/// What a token answer is saved and reported with.
pub(crate) struct Completion<'a> {
    pub metadata: &'a Metadata,
    /// The tenant of the authority the request went to: the realm of app tokens.
    pub tenant: &'a str,
    pub requested: &'a [String],
    pub correlation_id: &'a str,
    pub user_flow: bool,
    pub user_assertion_hash: Option<&'a str>,
    pub accept_partial: bool,
    /// The bound token asked for (proof-of-possession, SSH certificate); `None`: bearer.
    pub scheme: Option<&'a crate::pop::AuthScheme>,
}

pub(crate) use crate::clock::{from_unix, now_unix};

/// `now` plus a number of seconds, saturating (the lifetimes are capped, so it never does).
fn unix_after(now: i64, secs: u64) -> OffsetDateTime {
    from_unix(now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)))
}

/// Checks and normalises the requested scopes (see [`scopes::normalize_scope_list`]).
pub(crate) fn normalize_scopes<I, S>(scopes: I) -> Result<ScopeSet, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    ScopeSet::new(scopes)
}

/// Whether a tenant is a tenant id (rather than a domain name or `common`).
pub(crate) fn looks_like_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Whether `granted` covers `requested` (case-insensitive; Entra answers Microsoft Graph scopes
/// in their short form).
fn scope_granted(requested: &str, granted: &[String]) -> bool {
    let short = graph_short_form(requested);
    granted.iter().any(|g| {
        g.eq_ignore_ascii_case(requested) || short.is_some_and(|s| g.eq_ignore_ascii_case(s))
    })
}

/// The requested scopes the server did not grant (never the reserved OIDC scopes, and never for
/// a `/.default` request, whose answer lists the consented scopes instead).
pub(crate) fn declined_scopes(requested: &[String], granted: &[String]) -> Vec<String> {
    if requested.iter().any(|s| s.ends_with("/.default")) {
        return Vec::new();
    }
    requested
        .iter()
        .filter(|r| !RESERVED_SCOPES.iter().any(|x| x.eq_ignore_ascii_case(r)))
        .filter(|r| !scope_granted(r, granted))
        .cloned()
        .collect()
}

impl AppCore {
    /// The authority's metadata (fetched once, then from memory).
    pub(crate) async fn metadata(&self, correlation_id: &str) -> Result<Arc<Metadata>, Error> {
        self.metadata_for(&self.authority, correlation_id).await
    }

    /// The authority and metadata for a per-request tenant (`None`: the app's own), resolved
    /// once per tenant; a tenant that discovery refused is remembered by the resolver for a
    /// while. A tenant that the authority cannot take is a `Client` error
    /// ([`Authority::for_tenant`]).
    pub(crate) async fn tenant_authority(
        &self,
        tenant: Option<&str>,
        correlation_id: &str,
    ) -> Result<Arc<TenantAuthority>, Error> {
        Ok(self.tenant(tenant, correlation_id).await?.resolved.clone())
    }

    /// The environments under which a per-request tenant's tokens are cached (its realm is
    /// the tenant itself, or the app's own). The cache-hit path of multi-tenant daemons.
    pub(crate) async fn tenant_aliases(
        &self,
        tenant: Option<&str>,
        correlation_id: &str,
    ) -> Result<Arc<[String]>, Error> {
        Ok(self.tenant(tenant, correlation_id).await?.aliases.clone())
    }

    /// The tenant's entry: from memory when it was resolved before, else resolved now.
    async fn tenant(
        &self,
        tenant: Option<&str>,
        correlation_id: &str,
    ) -> Result<TenantEntry, Error> {
        if let Some(t) = self
            .tenants_read()
            .get(tenant_key(tenant, correlation_id)?.as_bytes())
        {
            return Ok(t.clone());
        }
        // Boxed: the state of a metadata lookup is not carried by the future of every call
        // (cache hits included), only by a tenant's first.
        Box::pin(self.tenant_entry(tenant, correlation_id)).await
    }

    /// The realm a user's tokens for a per-request tenant are cached under: the tenant id.
    /// A tenant named by its domain stands for the id in the issuer of its metadata (Entra
    /// names a tenant's issuer `{instance}/{tenant id}/v2.0`) once it was resolved; before,
    /// the name itself, which finds nothing (the answer is cached under the id).
    pub(crate) fn user_realm<'a>(&self, tenant: &'a str) -> std::borrow::Cow<'a, str> {
        if looks_like_guid(tenant) {
            return tenant.into();
        }
        let tid = self.known_tenant(tenant).and_then(|entry| {
            let issuer = url::Url::parse(&entry.resolved.metadata.issuer).ok()?;
            let tid = issuer.path_segments()?.next()?;
            looks_like_guid(tid).then(|| tid.to_owned())
        });
        tid.map_or(tenant.into(), Into::into)
    }

    /// A per-request tenant already resolved, if it is (never the app's own, `/`).
    pub(crate) fn known_tenant(&self, tenant: &str) -> Option<TenantEntry> {
        if tenant == "/" {
            return None;
        }
        self.tenants_read().get(tenant.as_bytes()).cloned()
    }

    fn tenants_read(&self) -> std::sync::RwLockReadGuard<'_, Tenants> {
        self.tenants.read().unwrap_or_else(|p| p.into_inner())
    }

    async fn tenant_entry(
        &self,
        tenant: Option<&str>,
        correlation_id: &str,
    ) -> Result<TenantEntry, Error> {
        let key = tenant_key(tenant, correlation_id)?;
        if let Some(t) = self.tenants_read().get(key.as_bytes()) {
            return Ok(t.clone());
        }
        let authority = match tenant {
            Some(t) => self
                .authority
                .for_tenant(t)
                .map_err(|e| e.with_correlation_id(correlation_id))?,
            None => self.authority.clone(),
        };
        let metadata = self.metadata_for(&authority, correlation_id).await?;
        let realm: Arc<str> = Arc::from(tenant.unwrap_or(self.authority.tenant()));
        let entry = Arc::new(TenantData {
            aliases: metadata.aliases.clone(),
            resolved: Arc::new(TenantAuthority {
                authority,
                metadata,
            }),
            app_partition: self.cache.app_partition(&self.client_id, &realm),
            realm,
            hits: hit_memo::HitMemo::default(),
        });
        if tenant.is_none() {
            // Set once; a later resolution of the same tenant is equivalent.
            let _ = self.own_tenant.set(entry.clone());
        }
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        if tenants.len() >= MAX_TENANTS && !tenants.contains_key(key.as_bytes()) {
            // Down to seven eighths, so that this runs once per many new tenants.
            let excess = tenants.len() - (MAX_TENANTS - MAX_TENANTS / 8);
            let victims: Vec<TenantKey> = tenants.keys().take(excess).cloned().collect();
            for v in victims {
                tenants.remove(&v);
            }
        }
        tenants.insert(TenantKey::new(key), entry.clone());
        Ok(entry)
    }

    /// The metadata of another authority of the same app (a per-request tenant).
    pub(crate) async fn metadata_for(
        &self,
        authority: &Authority,
        correlation_id: &str,
    ) -> Result<Arc<Metadata>, Error> {
        self.resolver
            .metadata(
                authority,
                self.http.as_ref(),
                self.instance_discovery,
                correlation_id,
            )
            .await
            .map_err(|e| e.with_correlation_id(correlation_id))
    }

    /// The merged claims of a request and the app's client capabilities.
    pub(crate) fn claims(&self, claims: Option<&str>) -> Result<Option<String>, Error> {
        crate::claims::merge_claims(claims, &self.client_capabilities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn unix_times_beyond_the_calendar_saturate_on_their_side_of_now() {
        let now = now_unix();
        assert_eq!(from_unix(1_700_000_000).unix_timestamp(), 1_700_000_000);
        assert!(from_unix(i64::MAX).unix_timestamp() > now);
        assert!(from_unix(i64::MIN).unix_timestamp() < 0);
        assert!(unix_after(now, u64::MAX).unix_timestamp() > now);
        assert_eq!(unix_after(now, 60).unix_timestamp(), now + 60);
    }

    #[test]
    fn scopes_are_split_deduplicated_and_required() {
        assert_eq!(
            scopes::normalize_scope_list(["a b", "A", "c"]).unwrap(),
            v(&["a", "b", "c"])
        );
        let e = normalize_scopes(["  "]).unwrap_err();
        assert_eq!(e.code(), codes::EMPTY_SCOPES);
        assert_eq!(e.kind(), crate::ErrorKind::Client);
    }

    #[test]
    fn declined_scopes_ignore_reserved_default_and_graph_short_forms() {
        let req = v(&[
            "https://graph.microsoft.com/User.Read",
            "Mail.Read",
            "openid",
        ]);
        assert_eq!(
            declined_scopes(&req, &v(&["User.Read", "profile"])),
            v(&["Mail.Read"])
        );
        assert!(declined_scopes(&req, &v(&["user.read", "mail.read"])).is_empty());
        assert!(declined_scopes(&v(&["api://x/.default"]), &v(&["api://x/a"])).is_empty());
    }
}
