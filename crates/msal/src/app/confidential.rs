//! The confidential client: services and daemons that hold a credential.

use std::sync::Arc;

use super::SilentRequest;
use super::auth_code::{AuthCodeFlow, AuthCodeFlowRequest, InitiateAuthCodeFlowRequest};
use super::obo::OnBehalfOfRequest;
use super::pipeline::{CacheQuery, Claims, Context, Request, Steps};
use super::ropc::UsernamePasswordRequest;
use super::{AppCore, ScopeSet, TenantEntry, normalize_scopes};
use crate::cache::TokenCache;
use crate::error::Error;
use crate::http::BoxFuture;
use crate::oauth::TokenResponse;
use crate::result::AuthenticationResult;
use crate::secret::{Assertion, Password};

/// A service or daemon application with a credential.
///
/// ```no_run
/// # async fn run() -> Result<(), msal::Error> {
/// use msal::ConfidentialClientApplication;
/// let app = ConfidentialClientApplication::builder("my-client-id")
///     .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
///     .client_secret(std::env::var("CLIENT_SECRET").unwrap_or_default())
///     .build()?;
/// let token = app
///     .acquire_token_for_client(["https://graph.microsoft.com/.default"])
///     .send()
///     .await?;
/// println!("expires on {}", token.expires_on);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ConfidentialClientApplication {
    pub(crate) core: Arc<AppCore>,
}

impl ConfidentialClientApplication {
    /// The application's client id.
    pub fn client_id(&self) -> &str {
        &self.core.client_id
    }

    /// The application's authority.
    pub fn authority(&self) -> &crate::Authority {
        &self.core.authority
    }

    /// The application's token cache.
    pub fn token_cache(&self) -> &TokenCache {
        &self.core.cache
    }

    /// A token for a signed-in user of a web app without interaction: from the cache, else
    /// with the refresh token (sent with the app's credential). Fails with
    /// [`crate::ErrorKind::UiRequired`] when only the user can help.
    pub fn acquire_token_silent<I, S>(&self, scopes: I, account: &crate::Account) -> SilentRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let scopes = self.core.scope_sets.get(scopes);
        SilentRequest::new(self.core.clone(), scopes, account.clone())
    }

    /// Redeems a refresh token obtained elsewhere (e.g. migrated from another token store)
    /// for `scopes`; the result, and the account and refresh token cached, are as for any
    /// user sign-in, so [`acquire_token_silent`](Self::acquire_token_silent) is served
    /// afterwards. See [`RefreshTokenRequest`](crate::RefreshTokenRequest).
    pub fn acquire_token_by_refresh_token<I, S>(
        &self,
        refresh_token: impl Into<crate::RefreshToken>,
        scopes: I,
    ) -> crate::RefreshTokenRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        crate::RefreshTokenRequest::new(
            self.core.clone(),
            normalize_scopes(scopes),
            refresh_token.into(),
        )
    }

    /// The accounts in the cache that this application can use.
    pub async fn accounts(&self) -> Result<Vec<crate::Account>, Error> {
        self.core.accounts().await
    }

    /// Removes the account and its tokens from the cache: signs a user out of this web app.
    pub async fn remove_account(&self, account: &crate::Account) -> Result<(), Error> {
        self.core
            .cache
            .remove_account(account, &self.core.client_id)
            .await
    }

    /// A token for the application itself (client credentials grant), from the cache when it
    /// holds a valid one. Scopes are usually `<resource>/.default`.
    pub fn acquire_token_for_client<I, S>(&self, scopes: I) -> ClientCredentialsRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ClientCredentialsRequest {
            scopes: self.core.scope_sets.get(scopes),
            core: self.core.clone(),
            claims: None,
            force_refresh: false,
            correlation_id: None,
            tenant: None,
            extra_query: Vec::new(),
            auth_scheme: None,
        }
    }

    /// A token for a downstream API on behalf of the user who called this web API with
    /// `assertion` (the incoming access token): the jwt-bearer grant with
    /// `requested_token_use=on_behalf_of`. Tokens are cached per incoming assertion (keyed by
    /// [`user_assertion_hash`](super::user_assertion_hash)): the same assertion and scopes
    /// are served from the cache.
    pub fn acquire_token_on_behalf_of<I, S>(
        &self,
        scopes: I,
        assertion: impl Into<Assertion>,
    ) -> OnBehalfOfRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        OnBehalfOfRequest {
            core: self.core.clone(),
            scopes: normalize_scopes(scopes),
            assertion: assertion.into(),
            claims: None,
            force_refresh: false,
            accept_partial: false,
            correlation_id: None,
            extra_query: Vec::new(),
            tenant: None,
            auth_scheme: None,
        }
    }

    /// Starts a web app's sign-in (the authorization code flow with PKCE): send the user to
    /// [`AuthCodeFlow::auth_uri`], keep the flow in the session, and on the redirect back to
    /// `redirect_uri` call
    /// [`acquire_token_by_auth_code_flow`](Self::acquire_token_by_auth_code_flow).
    ///
    /// ```no_run
    /// # async fn run(app: msal::ConfidentialClientApplication) -> Result<(), msal::Error> {
    /// let flow = app
    ///     .initiate_auth_code_flow(["User.Read"], "https://app.example/auth/callback")
    ///     .send()
    ///     .await?;
    /// // ... redirect to flow.auth_uri(), store `flow` in the session; on the callback:
    /// let query: Vec<(String, String)> = vec![/* the callback's query parameters */];
    /// let token = app.acquire_token_by_auth_code_flow(&flow, query).send().await?;
    /// # let _ = token; Ok(()) }
    /// ```
    pub fn initiate_auth_code_flow<I, S>(
        &self,
        scopes: I,
        redirect_uri: impl Into<String>,
    ) -> InitiateAuthCodeFlowRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        InitiateAuthCodeFlowRequest {
            core: self.core.clone(),
            scopes: normalize_scopes(scopes),
            redirect_uri: redirect_uri.into(),
            claims: None,
            auth: Default::default(),
            correlation_id: None,
            extra_query: Vec::new(),
            tenant: None,
        }
    }

    /// Finishes a web app's sign-in with the query (or `form_post`) parameters of the
    /// redirect: checks `state` (`state_mismatch`) and, where the server sends or announces
    /// it, `iss` (RFC 9207, `issuer_mismatch`), turns an `error` into a typed error (`access_denied` is
    /// `Cancelled`; `login_required`, `interaction_required`, `consent_required` are
    /// `UiRequired`; others `Service`), and redeems the code.
    pub fn acquire_token_by_auth_code_flow<I, K, V>(
        &self,
        flow: &AuthCodeFlow,
        params: I,
    ) -> AuthCodeFlowRequest
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        AuthCodeFlowRequest {
            core: self.core.clone(),
            flow: flow.clone(),
            params: params
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            claims: None,
            accept_partial: false,
            correlation_id: None,
            extra_query: Vec::new(),
            tenant: None,
            auth_scheme: None,
        }
    }

    /// Signs a cloud user in with their user name and password (ROPC), as a confidential
    /// client. See [`UsernamePasswordRequest`].
    pub fn acquire_token_by_username_password<I, S>(
        &self,
        scopes: I,
        username: impl Into<String>,
        password: impl Into<Password>,
    ) -> UsernamePasswordRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.core
            .username_password(normalize_scopes(scopes), username.into(), password.into())
    }
}

/// A client credentials request; set options, then [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct ClientCredentialsRequest {
    core: Arc<AppCore>,
    scopes: Result<ScopeSet, Error>,
    claims: Option<String>,
    force_refresh: bool,
    correlation_id: Option<String>,
    tenant: Option<RequestTenant>,
    extra_query: Vec<(String, String)>,
    auth_scheme: Option<crate::pop::AuthScheme>,
}

/// A request's own tenant: resolved already (found by its name when the request was built),
/// or a name to resolve.
#[derive(Debug, Clone)]
enum RequestTenant {
    Named(String),
    Known(TenantEntry),
}

impl ClientCredentialsRequest {
    super::request_options!(
        claims,
        force_refresh,
        correlation_id,
        extra_query,
        auth_scheme
    );

    /// Asks this tenant instead of the application's (a multi-tenant daemon serving many
    /// customers); the tokens are cached per tenant.
    pub fn with_tenant(mut self, tenant: impl AsRef<str>) -> Self {
        let tenant = tenant.as_ref();
        // A tenant this app resolved before is taken as resolved: no copy of its name, and
        // a cache hit looks nothing up.
        self.tenant = Some(match self.core.known_tenant(tenant) {
            Some(entry) => RequestTenant::Known(entry),
            None => RequestTenant::Named(tenant.to_owned()),
        });
        self
    }

    /// Gets the token.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        // The same request served from the cache in this second: answered here, before any
        // of the pipeline's state is built (see `hit_memo.rs`).
        if let Some(hit) = self.core.remembered(&self.request()) {
            return Ok(hit);
        }
        // Boxed: the pipeline's state is not carried by the future of every call.
        Box::pin(async move { self.core.execute(self.request(), &self).await }).await
    }

    /// The request as the pipeline runs it.
    fn request(&self) -> Request<'_> {
        let (tenant, known) = match &self.tenant {
            None => (None, self.core.own_tenant.get()),
            Some(RequestTenant::Named(t)) => (Some(t.as_str()), None),
            Some(RequestTenant::Known(e)) => (Some(&*e.realm), Some(e)),
        };
        // App tokens are cached under the tenant as named (which `for_tenant` keeps).
        let realm = tenant.unwrap_or(self.core.authority.tenant());
        Request {
            correlation_id: self.correlation_id.as_deref(),
            claims: Claims::Caller(self.claims.as_deref()),
            tenant,
            known_tenant: known,
            cache: Some(CacheQuery {
                realm,
                home_account_id: None,
                account: None,
            }),
            single_flight: true,
            force_refresh: self.force_refresh,
            extra_query: &self.extra_query,
            regional: true,
            scheme: self.auth_scheme.as_ref(),
            ..Request::app("client_credentials", &self.scopes)
        }
    }
}

impl Steps for &ClientCredentialsRequest {
    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        tracing::debug!(correlation_id = %cx.correlation_id, scope = %cx.scope, "client credentials: requesting a token");
        cx.token_request("client_credentials", &[]).await
    }

    fn refresh_in_background(
        &self,
    ) -> Option<BoxFuture<'static, Result<AuthenticationResult, Error>>> {
        let again = ClientCredentialsRequest {
            core: self.core.clone(),
            scopes: self.scopes.clone(),
            claims: None,
            force_refresh: true,
            correlation_id: None,
            tenant: self.tenant.clone(),
            extra_query: self.extra_query.clone(),
            auth_scheme: self.auth_scheme.clone(),
        };
        Some(Box::pin(again.send()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::http::{
        BoxFuture, HeaderMap, HttpClient, HttpRequest, HttpResponse, StatusCode, TransportError,
    };

    /// Serves OpenID Connect metadata for any tenant, and counts the requests.
    #[derive(Debug, Default)]
    struct AnyTenant(AtomicUsize);

    impl HttpClient for AnyTenant {
        fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                let tenant = req.url.path().trim_start_matches('/');
                let tenant = tenant.split('/').next().unwrap_or_default();
                let base = format!("https://login.microsoftonline.com/{tenant}");
                let doc = serde_json::json!({
                    "issuer": format!("{base}/v2.0"),
                    "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
                    "token_endpoint": format!("{base}/oauth2/v2.0/token"),
                });
                Ok(HttpResponse::new(
                    StatusCode::OK,
                    HeaderMap::new(),
                    doc.to_string(),
                ))
            })
        }
    }

    #[tokio::test]
    async fn per_request_tenants_are_remembered_up_to_a_bound() {
        let http = Arc::new(AnyTenant::default());
        let app = ConfidentialClientApplication::builder("daemon")
            .authority("https://login.microsoftonline.com/home-tenant")
            .instance_discovery(false)
            .client_secret("s")
            .http_client(http.clone())
            .build()
            .unwrap();
        let n = super::super::MAX_TENANTS + 300;
        for i in 0..n {
            let t = format!("tenant-{i}.example");
            let resolved = app.core.tenant_authority(Some(&t), "c").await.unwrap();
            assert_eq!(resolved.authority.tenant(), t);
            let remembered = app.core.tenants.read().unwrap().len();
            assert!(remembered <= super::super::MAX_TENANTS, "{remembered}");
        }
        assert_eq!(http.0.load(Ordering::SeqCst), n, "one lookup per tenant");
        // A tenant still remembered is served from memory.
        let kept = app
            .core
            .tenants
            .read()
            .unwrap()
            .values()
            .next()
            .map(|t| t.realm.to_string())
            .unwrap();
        app.core.tenant_authority(Some(&kept), "c").await.unwrap();
        assert_eq!(http.0.load(Ordering::SeqCst), n);
    }
}
