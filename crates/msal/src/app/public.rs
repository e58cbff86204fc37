//! The public client: CLIs and desktop apps that sign users in, and silent acquisition (shared
//! with confidential clients).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::ScopeSet;
use super::interactive::InteractiveRequest;
use super::pipeline::{CacheQuery, Claims, Context, Request, Steps};
use super::ropc::UsernamePasswordRequest;
use super::{AppCore, correlation_id, looks_like_guid, normalize_scopes};
use crate::account::Account;
use crate::cache::{CachedRefreshToken, TokenCache};
use crate::error::{Error, UiRequiredClassification, codes};
use crate::hash::hex_sha256;
use crate::http::BoxFuture;
use crate::oauth::device_code::{self, DeviceCodeInfo};
use crate::oauth::{DEVICE_CODE_GRANT, TokenResponse};
use crate::result::AuthenticationResult;
use crate::secret::Password;

/// A CLI or desktop application that signs users in.
///
/// ```no_run
/// # async fn run() -> Result<(), msal::Error> {
/// use msal::{ErrorKind, PublicClientApplication};
/// let app = PublicClientApplication::builder("my-client-id")
///     .authority("https://login.microsoftonline.com/organizations")
///     .build()?;
/// let scopes = ["User.Read"];
/// let accounts = app.accounts().await?;
/// let result = match accounts.first() {
///     Some(account) => app.acquire_token_silent(scopes, account).send().await,
///     None => Err(msal::Error::client("no_account", "nobody signed in yet")),
/// };
/// let token = match result {
///     Ok(t) => t,
///     Err(e) if e.kind() == ErrorKind::UiRequired || accounts.is_empty() => {
///         app.acquire_token_by_device_code(scopes)
///             .on_code(|code| eprintln!("{}", code.message))
///             .send()
///             .await?
///     }
///     Err(e) => return Err(e),
/// };
/// # let _ = token; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PublicClientApplication {
    pub(crate) core: Arc<AppCore>,
}

type CodeCallback = Box<dyn Fn(&DeviceCodeInfo) + Send + Sync>;
type CancelFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

impl PublicClientApplication {
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

    /// Signs a user in with the device code flow: the user opens a page on any device and types
    /// a code. Set [`DeviceCodeRequest::on_code`] to show them the server's message.
    pub fn acquire_token_by_device_code<I, S>(&self, scopes: I) -> DeviceCodeRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        DeviceCodeRequest {
            core: self.core.clone(),
            scopes: normalize_scopes(scopes),
            claims: None,
            on_code: None,
            cancel: None,
            correlation_id: None,
            accept_partial: false,
            extra_query: Vec::new(),
            tenant: None,
            auth_scheme: None,
        }
    }

    /// Signs a user in with the system browser: the authorization code flow with PKCE and a
    /// loopback redirect. See [`InteractiveRequest`] for the options and errors.
    pub fn acquire_token_interactive<I, S>(&self, scopes: I) -> InteractiveRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        InteractiveRequest::new(self.core.clone(), self.core.scope_sets.get(scopes))
    }

    /// Signs a cloud user in with their user name and password (ROPC). Not for federated
    /// users, users with MFA, or personal Microsoft accounts: prefer
    /// [`acquire_token_interactive`](Self::acquire_token_interactive) or the device code flow.
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

    /// A token for a signed-in user without interaction: from the cache, else with the refresh
    /// token. Fails with [`crate::ErrorKind::UiRequired`] when only the user can help.
    pub fn acquire_token_silent<I, S>(&self, scopes: I, account: &Account) -> SilentRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        SilentRequest::new(
            self.core.clone(),
            self.core.scope_sets.get(scopes),
            account.clone(),
        )
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
    pub async fn accounts(&self) -> Result<Vec<Account>, Error> {
        self.core.accounts().await
    }

    /// The account with this home account id or user name (case-insensitive), if cached.
    pub async fn get_account(&self, id_or_username: &str) -> Result<Option<Account>, Error> {
        Ok(self.core.accounts().await?.into_iter().find(|a| {
            a.home_account_id == id_or_username || a.username.eq_ignore_ascii_case(id_or_username)
        }))
    }

    /// Removes the account and its tokens from the cache (signs it out of this app).
    pub async fn remove_account(&self, account: &Account) -> Result<(), Error> {
        self.core
            .cache
            .remove_account(account, &self.core.client_id)
            .await
    }
}

impl AppCore {
    pub(crate) fn username_password(
        self: &Arc<Self>,
        scopes: Result<ScopeSet, Error>,
        username: String,
        password: Password,
    ) -> UsernamePasswordRequest {
        UsernamePasswordRequest {
            core: self.clone(),
            scopes,
            username,
            password,
            claims: None,
            accept_partial: false,
            correlation_id: None,
            extra_query: Vec::new(),
            tenant: None,
            auth_scheme: None,
        }
    }

    pub(crate) async fn accounts(&self) -> Result<Vec<Account>, Error> {
        let cid = correlation_id(None);
        let metadata = self.metadata(&cid).await?;
        self.cache
            .accounts(&self.client_id, &metadata.aliases)
            .await
    }
}

/// A device code request; set options, then [`send`](Self::send) it.
#[must_use = "a request does nothing until it is sent"]
pub struct DeviceCodeRequest {
    core: Arc<AppCore>,
    scopes: Result<ScopeSet, Error>,
    claims: Option<String>,
    on_code: Option<CodeCallback>,
    cancel: Option<CancelFuture>,
    correlation_id: Option<String>,
    accept_partial: bool,
    extra_query: Vec<(String, String)>,
    tenant: Option<String>,
    auth_scheme: Option<crate::pop::AuthScheme>,
}

impl std::fmt::Debug for DeviceCodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeRequest")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeRequest {
    super::request_options!(
        claims,
        partial_scopes,
        correlation_id,
        extra_query,
        tenant,
        auth_scheme
    );

    /// Called once with the code and the server's message, which you show to the user.
    pub fn on_code(mut self, f: impl Fn(&DeviceCodeInfo) + Send + Sync + 'static) -> Self {
        self.on_code = Some(Box::new(f));
        self
    }

    /// Stops polling, with a `Cancelled` error, when this future completes (e.g. Ctrl-C).
    pub fn with_cancellation(mut self, cancel: impl Future<Output = ()> + Send + 'static) -> Self {
        self.cancel = Some(Box::pin(cancel));
        self
    }

    /// Runs the flow until the user signed in, declined, or the code expired.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let DeviceCodeRequest {
            core,
            scopes,
            claims,
            on_code,
            cancel,
            correlation_id,
            accept_partial,
            extra_query,
            tenant,
            auth_scheme,
        } = self;
        let req = Request {
            correlation_id: correlation_id.as_deref(),
            claims: Claims::Caller(claims.as_deref()),
            accept_partial,
            extra_query: &extra_query,
            tenant: tenant.as_deref(),
            scheme: auth_scheme.as_ref(),
            ..Request::user("device_code", &scopes)
        };
        core.execute(req, DeviceCodePolling { on_code, cancel })
            .await
    }
}

/// The device code flow's own steps: the code, the user's part, the polling.
struct DeviceCodePolling {
    on_code: Option<CodeCallback>,
    cancel: Option<CancelFuture>,
}

impl Steps for DeviceCodePolling {
    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        let core = cx.core;
        let cid = cx.correlation_id;
        let endpoint = cx
            .metadata()
            .device_authorization_endpoint
            .as_ref()
            .ok_or_else(|| {
                Error::client(
                    codes::NOT_SUPPORTED,
                    "the authority has no device authorization endpoint",
                )
            })?;
        let mut form: Vec<(&str, &str)> = vec![("client_id", &core.client_id), ("scope", cx.scope)];
        if let Some(c) = cx.claims {
            form.push(("claims", c));
        }
        let endpoint = super::extra_query::append(endpoint, cx.extra_query);
        let info =
            device_code::request_code(core.http.as_ref(), &core.retry, &endpoint, &form, cid)
                .await?;
        tracing::info!(correlation_id = %cid, verification_uri = %info.verification_uri, "device code issued; waiting for the user");
        if let Some(cb) = &self.on_code {
            cb(&info);
        }
        // Polled until the user is done: no credential, no throttling (the polling follows the
        // server's interval and `slow_down`).
        let mut poll_form: Vec<(&str, &str)> = vec![
            ("grant_type", DEVICE_CODE_GRANT),
            ("client_id", &core.client_id),
            ("device_code", &info.device_code),
            ("client_info", "1"),
        ];
        if let Some(c) = cx.claims {
            poll_form.push(("claims", c));
        }
        poll_form.extend(cx.scheme_fields());
        let cancel = self
            .cancel
            .unwrap_or_else(|| Box::pin(std::future::pending()));
        let token_endpoint =
            super::extra_query::append(&cx.metadata().token_endpoint, cx.extra_query);
        // Every poll carries the same telemetry; only the outcome of the flow is recorded.
        let report = core.telemetry.report("device_code", cx.cache_refresh());
        let answer = device_code::poll(
            core.http.as_ref(),
            &core.retry,
            device_code::PollRequest {
                token_endpoint: &token_endpoint,
                form: &poll_form,
                correlation_id: cid,
                telemetry: &report.headers(),
            },
            &info,
            cancel,
        )
        .await;
        core.telemetry_outcome(&report, cid, &answer);
        answer
    }
}

/// A silent request; set options, then [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct SilentRequest {
    core: Arc<AppCore>,
    scopes: Result<ScopeSet, Error>,
    account: Account,
    claims: Option<String>,
    force_refresh: bool,
    accept_partial: bool,
    correlation_id: Option<String>,
    extra_query: Vec<(String, String)>,
    tenant: Option<String>,
    auth_scheme: Option<crate::pop::AuthScheme>,
}

impl SilentRequest {
    super::request_options!(
        claims,
        force_refresh,
        partial_scopes,
        correlation_id,
        extra_query,
        tenant,
        auth_scheme
    );

    pub(crate) fn new(
        core: Arc<AppCore>,
        scopes: Result<ScopeSet, Error>,
        account: Account,
    ) -> Self {
        SilentRequest {
            core,
            scopes,
            account,
            claims: None,
            force_refresh: false,
            accept_partial: false,
            correlation_id: None,
            extra_query: Vec::new(),
            tenant: None,
            auth_scheme: None,
        }
    }

    /// Gets the token.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let core = &self.core;
        let account = &self.account;
        let home = account.home_account_id.as_str();
        // The request's tenant, or a tenanted authority, names the realm; `common` and friends
        // use the account's home.
        let tenant_realm = self.tenant.as_deref().map(|t| core.user_realm(t));
        let realm = match tenant_realm.as_deref() {
            Some(t) => t,
            None if core.authority.is_tenantless() || !looks_like_guid(core.authority.tenant()) => {
                account.realm.as_str()
            }
            None => core.authority.tenant(),
        };
        let identity = [home];
        let req = Request {
            correlation_id: self.correlation_id.as_deref(),
            claims: Claims::Caller(self.claims.as_deref()),
            cache: Some(CacheQuery {
                realm,
                home_account_id: Some(home),
                account: Some(account),
            }),
            single_flight: true,
            identity: &identity,
            force_refresh: self.force_refresh,
            accept_partial: self.accept_partial,
            silent: true,
            extra_query: &self.extra_query,
            tenant: self.tenant.as_deref(),
            scheme: self.auth_scheme.as_ref(),
            ..Request::user("silent", &self.scopes)
        };
        core.execute(req, &self).await
    }
}

/// The `UiRequired` error of a silent request that only the user can help.
fn silent_failed(what: &str) -> Error {
    Error::ui_required(
        codes::NO_TOKENS_FOUND,
        UiRequiredClassification::AcquireTokenSilentFailed,
        format!("{what}; sign the user in interactively"),
    )
}

impl Steps for &SilentRequest {
    fn check(&mut self) -> Result<(), Error> {
        if self.account.home_account_id.is_empty() {
            return Err(silent_failed("no account was given"));
        }
        Ok(())
    }

    /// Redeems a refresh token of the account: the family's or the app's own, in MSAL's order.
    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        let core = cx.core;
        let aliases = &cx.metadata().aliases;
        let home = self.account.home_account_id.as_str();
        let own = core
            .cache
            .find_refresh_token(home, aliases, &core.client_id, false)
            .await?;
        let family = core
            .cache
            .find_refresh_token(home, aliases, &core.client_id, true)
            .await?;
        // MSAL's order (FOCI): a family refresh token first when the app's family is not known
        // (it has no refresh token of its own) or when the app is in the family (its own token
        // has a family id) and another app's family token is newer; then the app's own.
        let family_first = match (&own, family) {
            (None, Some(f)) => Some(f),
            (Some(o), Some(f))
                if o.family_id.is_some() && !f.client_id.eq_ignore_ascii_case(&core.client_id) =>
            {
                Some(f)
            }
            _ => None,
        };
        let cid = cx.correlation_id;
        if let Some(frt) = &family_first {
            tracing::debug!(correlation_id = %cid, family_id = ?frt.family_id, "silent: trying the family refresh token");
            match refresh(cx, frt).await {
                Ok(resp) => return Ok(resp),
                Err(e) if own.is_some() => {
                    tracing::debug!(correlation_id = %cid, error = %crate::pii::pii_error(&e, core.pii_logging), "silent: the family refresh token failed; using the app's own");
                }
                Err(e) if e.suberror() == Some("client_mismatch") => {
                    return Err(silent_failed(
                        "this app is not in the family of the cached family refresh token (client_mismatch) and has no refresh token of its own",
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        match &own {
            Some(rt) => refresh(cx, rt).await,
            None => Err(silent_failed(
                "no refresh token for this account in the cache",
            )),
        }
    }

    fn refresh_in_background(
        &self,
    ) -> Option<BoxFuture<'static, Result<AuthenticationResult, Error>>> {
        let again = SilentRequest {
            core: self.core.clone(),
            scopes: self.scopes.clone(),
            account: self.account.clone(),
            claims: None,
            force_refresh: true,
            accept_partial: self.accept_partial,
            correlation_id: None,
            extra_query: self.extra_query.clone(),
            tenant: self.tenant.clone(),
            auth_scheme: self.auth_scheme.clone(),
        };
        Some(Box::pin(again.send()))
    }
}

/// Redeems one refresh token, throttled by the request and the token.
pub(crate) async fn refresh(
    cx: &Context<'_>,
    rt: &CachedRefreshToken,
) -> Result<TokenResponse, Error> {
    let secret = rt.secret.secret();
    tracing::debug!(correlation_id = %cx.correlation_id, "silent: redeeming the refresh token");
    let key = RefreshKey { cx, secret };
    cx.token_request_keyed("refresh_token", &[("refresh_token", secret)], Some(&key))
        .await
}

/// The throttling identity of a refresh token's redemption: the request's and a hash of the
/// token (so no secret is kept), hashed only when the throttling store needs it.
struct RefreshKey<'a> {
    cx: &'a Context<'a>,
    secret: &'a str,
}

impl super::ThrottleIdentity for RefreshKey<'_> {
    fn key(&self) -> [u8; 32] {
        self.cx.throttle_key(&[&hex_sha256(self.secret)])
    }
}
