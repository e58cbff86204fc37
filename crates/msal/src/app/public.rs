//! The public client: CLIs and desktop apps that sign users in, and silent acquisition (shared
//! with confidential clients).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::builder::PublicClientApplicationBuilder;
use super::interactive::InteractiveRequest;
use super::pipeline::{cached_result, user_scope};
use super::ropc::UsernamePasswordRequest;
use super::{
    AppCore, Completion, TokenRequest, correlation_id, looks_like_guid, normalize_scopes, now_unix,
};
use crate::account::Account;
use crate::authority::Metadata;
use crate::cache::{AccessTokenQuery, CachedRefreshToken, TokenCache};
use crate::error::{Error, UiRequiredClassification, codes};
use crate::http::throttle::throttle_key;
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
    /// A builder for the application with this client id.
    pub fn builder(client_id: &str) -> PublicClientApplicationBuilder {
        PublicClientApplicationBuilder::new(client_id)
    }

    /// The application's client id.
    pub fn client_id(&self) -> &str {
        &self.core.client_id
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
        }
    }

    /// Signs a user in with the system browser: the authorization code flow with PKCE and a
    /// loopback redirect. See [`InteractiveRequest`] for the options and errors.
    pub fn acquire_token_interactive<I, S>(&self, scopes: I) -> InteractiveRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        InteractiveRequest::new(self.core.clone(), normalize_scopes(scopes))
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
        SilentRequest::new(self.core.clone(), normalize_scopes(scopes), account.clone())
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
        scopes: Result<Vec<String>, Error>,
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
    scopes: Result<Vec<String>, Error>,
    claims: Option<String>,
    on_code: Option<CodeCallback>,
    cancel: Option<CancelFuture>,
    correlation_id: Option<String>,
    accept_partial: bool,
}

impl std::fmt::Debug for DeviceCodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeRequest")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeRequest {
    super::request_options!(claims, partial_scopes, correlation_id);

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
        let core = &self.core;
        let cid = correlation_id(self.correlation_id.as_deref());
        let scopes = self.scopes.map_err(|e| e.with_correlation_id(&cid))?;
        let claims = core.claims(self.claims.as_deref())?;
        let metadata = core.metadata(&cid).await?;
        let endpoint = metadata
            .device_authorization_endpoint
            .clone()
            .ok_or_else(|| {
                Error::client(
                    codes::NOT_SUPPORTED,
                    "the authority has no device authorization endpoint",
                )
            })?;
        let scope = user_scope(&scopes);
        let mut form: Vec<(&str, &str)> = vec![("client_id", &core.client_id), ("scope", &scope)];
        if let Some(c) = claims.as_deref() {
            form.push(("claims", c));
        }
        let info =
            device_code::request_code(core.http.as_ref(), &core.retry, &endpoint, &form, &cid)
                .await?;
        tracing::info!(correlation_id = %cid, verification_uri = %info.verification_uri, "device code issued; waiting for the user");
        if let Some(cb) = &self.on_code {
            cb(&info);
        }
        let mut poll_form: Vec<(&str, &str)> = vec![
            ("grant_type", DEVICE_CODE_GRANT),
            ("client_id", &core.client_id),
            ("device_code", &info.device_code),
            ("client_info", "1"),
        ];
        if let Some(c) = claims.as_deref() {
            poll_form.push(("claims", c));
        }
        let cancel = self
            .cancel
            .unwrap_or_else(|| Box::pin(std::future::pending()));
        let resp = device_code::poll(
            core.http.as_ref(),
            &core.retry,
            &metadata.token_endpoint,
            &poll_form,
            &info,
            &cid,
            cancel,
        )
        .await?;
        core.complete(
            resp,
            Completion {
                metadata: &metadata,
                tenant: core.authority.tenant(),
                requested: &scopes,
                correlation_id: &cid,
                user_flow: true,
                user_assertion_hash: None,
                accept_partial: self.accept_partial,
            },
        )
        .await
    }
}

/// A silent request; set options, then [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct SilentRequest {
    core: Arc<AppCore>,
    scopes: Result<Vec<String>, Error>,
    account: Account,
    claims: Option<String>,
    force_refresh: bool,
    accept_partial: bool,
    correlation_id: Option<String>,
}

impl SilentRequest {
    super::request_options!(claims, force_refresh, partial_scopes, correlation_id);

    pub(crate) fn new(
        core: Arc<AppCore>,
        scopes: Result<Vec<String>, Error>,
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
        }
    }

    /// Gets the token.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let core = &self.core;
        let cid = correlation_id(self.correlation_id.as_deref());
        let scopes = self.scopes.map_err(|e| e.with_correlation_id(&cid))?;
        let claims = core.claims(self.claims.as_deref())?;
        let metadata = core.metadata(&cid).await?;
        let account = &self.account;
        let silent_failed = |what: &str| {
            Error::ui_required(
                codes::NO_TOKENS_FOUND,
                UiRequiredClassification::AcquireTokenSilentFailed,
                format!("{what}; sign the user in interactively"),
            )
            .with_correlation_id(&cid)
        };
        if account.home_account_id.is_empty() {
            return Err(silent_failed("no account was given"));
        }
        // A tenanted authority names the realm; `common` and friends use the account's home.
        let realm = if core.authority.is_tenantless() || !looks_like_guid(core.authority.tenant()) {
            account.realm.as_str()
        } else {
            core.authority.tenant()
        };
        let use_cache = claims.is_none() && !self.force_refresh;
        let lookup = || async {
            let hit = core
                .find_access_token(&AccessTokenQuery {
                    client_id: &core.client_id,
                    environments: &metadata.aliases,
                    realm,
                    scopes: &scopes,
                    home_account_id: Some(&account.home_account_id),
                    user_assertion_hash: None,
                    now: now_unix(),
                })
                .await?;
            let Some(at) = hit else {
                return Ok::<_, Error>(None);
            };
            let id_claims = core
                .cache
                .id_token_claims(
                    &account.home_account_id,
                    &metadata.aliases,
                    &core.client_id,
                    &at.realm,
                )
                .await?;
            Ok(Some(cached_result(
                at,
                Some(account.clone()),
                id_claims,
                cid.clone(),
            )))
        };
        // The request's identity, for single-flight and background refresh: only needed off
        // the cache-hit path, so a hit hashes nothing. Every option that changes the result is
        // in it: callers that differ in `force_refresh` or `allow_partial_scopes` do not share
        // one answer (a partial grant is a success for one and an error for the other).
        let (force_refresh, accept_partial) = (self.force_refresh, self.accept_partial);
        let request_key = |scope: &str| {
            throttle_key(&[
                "flight:silent",
                &core.client_id,
                core.authority.url().as_str(),
                scope,
                &account.home_account_id,
                claims.as_deref().unwrap_or(""),
                if force_refresh { "force" } else { "" },
                if accept_partial { "partial" } else { "" },
            ])
        };
        if use_cache && let Some(result) = lookup().await? {
            if result
                .refresh_on
                .is_some_and(|r| r.unix_timestamp() <= now_unix())
                && core.start_background_refresh(request_key(&user_scope(&scopes)))
            {
                // Past refresh_on: answer now, refresh behind the caller's back; on failure the
                // cached token stays in use while it is valid.
                let again = SilentRequest {
                    core: core.clone(),
                    scopes: Ok(scopes.clone()),
                    account: account.clone(),
                    claims: None,
                    force_refresh: true,
                    accept_partial: self.accept_partial,
                    correlation_id: None,
                };
                // Without a Tokio runtime there is nothing to run it on: the token is still
                // valid, and a later call past refresh_on tries again.
                crate::runtime::spawn_detached(async move {
                    if let Err(e) = again.boxed().await {
                        tracing::warn!(error = %e, "background refresh of a user token failed; the cached token stays in use");
                    }
                });
            }
            return Ok(result);
        }
        let scope = user_scope(&scopes);
        core.single_flight(request_key(&scope), || async {
        // A flight that finished just before this one began has filled the cache.
        if use_cache && let Some(result) = lookup().await? {
            return Ok(result);
        }
        let aliases = &metadata.aliases;
        let home = account.home_account_id.as_str();
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
        let mut result = None;
        if let Some(frt) = &family_first {
            tracing::debug!(correlation_id = %cid, family_id = ?frt.family_id, "silent: trying the family refresh token");
            match refresh(core, home, &metadata, frt, &scope, claims.as_deref(), &cid).await {
                Ok(resp) => result = Some(Ok(resp)),
                Err(e) if own.is_some() => {
                    tracing::debug!(correlation_id = %cid, error = %e, "silent: the family refresh token failed; using the app's own");
                }
                Err(e) if e.suberror() == Some("client_mismatch") => {
                    return Err(silent_failed(
                        "this app is not in the family of the cached family refresh token (client_mismatch) and has no refresh token of its own",
                    ));
                }
                Err(e) => result = Some(Err(e)),
            }
        }
        let result = match (result, &own) {
            (Some(r), _) => r,
            (None, Some(rt)) => {
                refresh(core, home, &metadata, rt, &scope, claims.as_deref(), &cid).await
            }
            (None, None) => {
                return Err(silent_failed(
                    "no refresh token for this account in the cache",
                ));
            }
        };
        let resp = result?;
        core.complete(
            resp,
            Completion {
                metadata: &metadata,
                tenant: core.authority.tenant(),
                requested: &scopes,
                correlation_id: &cid,
                user_flow: true,
                user_assertion_hash: None,
                accept_partial,
            },
        )
        .await
        })
        .await
    }

    /// The request as a boxed `Send` future (for the background refresh it spawns of itself).
    fn boxed(self) -> crate::http::BoxFuture<'static, Result<AuthenticationResult, Error>> {
        Box::pin(self.send())
    }
}

/// Redeems one refresh token of the account `home`, with client-side throttling.
async fn refresh(
    core: &AppCore,
    home: &str,
    metadata: &Metadata,
    rt: &CachedRefreshToken,
    scope: &str,
    claims: Option<&str>,
    cid: &str,
) -> Result<TokenResponse, Error> {
    let rt_hash = hex_sha256(rt.secret.secret());
    let key = throttle_key(&[
        "silent",
        &core.client_id,
        core.authority.url().as_str(),
        scope,
        home,
        &rt_hash,
    ]);
    tracing::debug!(correlation_id = %cid, "silent: redeeming the refresh token");
    core.token_request(TokenRequest {
        metadata,
        form: vec![
            ("grant_type", "refresh_token"),
            ("client_id", &core.client_id),
            ("refresh_token", rt.secret.secret()),
            ("scope", scope),
            ("client_info", "1"),
        ],
        claims,
        throttle_key: Some(key),
        silent: true,
        credential_required: false,
        correlation_id: cid,
    })
    .await
}

pub(crate) fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
