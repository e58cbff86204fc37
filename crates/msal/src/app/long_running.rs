//! Long-running on-behalf-of: a web API that starts a background job for its caller keeps
//! getting tokens for downstream APIs after the caller's token has expired, by a session key
//! (MSAL.NET's `InitiateLongRunningProcessInWebApi`, `AcquireTokenInLongRunningProcess` and
//! `StopLongRunningProcessInWebApiAsync`).
//!
//! The session's tokens, its access tokens and the refresh token of the on-behalf-of answer,
//! are cached under the session key (their `user_assertion_hash`): the hash of the caller's
//! assertion unless the web API chose a key. Starting a session always asks the identity
//! provider with the caller's assertion (unless told to look in the cache first); a call of
//! the running process is served from the cache, else redeems the session's refresh token
//! (no assertion is sent), and fails with a `Client` error
//! [`obo_cache_key_not_in_cache`](crate::error::codes::OBO_CACHE_KEY_NOT_IN_CACHE) when the
//! cache holds nothing of the session.

use std::sync::Arc;

use super::obo::{assertion_user, user_assertion_hash};
use super::pipeline::{CacheQuery, Claims, Context, Request, Steps};
use super::{AppCore, ConfidentialClientApplication, ScopeSet, correlation_id, normalize_scopes};
use crate::error::{Error, codes};
use crate::http::BoxFuture;
use crate::oauth::TokenResponse;
use crate::result::AuthenticationResult;
use crate::secret::Assertion;

impl ConfidentialClientApplication {
    /// Starts a long-running process on behalf of the user who called this web API with
    /// `assertion` (the incoming access token): an on-behalf-of request whose tokens, the
    /// refresh token included, are cached under the session's key, so that the process can
    /// keep calling [`acquire_token_in_long_running_process`](Self::acquire_token_in_long_running_process)
    /// after the caller's token has expired.
    ///
    /// The key is [`user_assertion_hash`](crate::app::user_assertion_hash) of the assertion
    /// unless set with [`with_session_key`](LongRunningOnBehalfOfRequest::with_session_key);
    /// read it with [`session_key`](LongRunningOnBehalfOfRequest::session_key) and keep it
    /// with the job. As in MSAL.NET, the identity provider is asked every time (a new session
    /// under an existing key replaces that session's tokens), unless
    /// [`search_in_cache`](LongRunningOnBehalfOfRequest::search_in_cache) is set.
    pub fn initiate_long_running_on_behalf_of<I, S>(
        &self,
        scopes: I,
        assertion: impl Into<Assertion>,
    ) -> LongRunningOnBehalfOfRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let assertion: Assertion = assertion.into();
        let key = user_assertion_hash(assertion.secret().trim());
        LongRunningOnBehalfOfRequest::new(
            self.core.clone(),
            normalize_scopes(scopes),
            Some(assertion),
            key,
        )
    }

    /// A token for a running long-running process, by its session key: from the cache, else
    /// with the session's refresh token (`grant_type=refresh_token` with the app's credential;
    /// no assertion), cached under the same key. A key the cache holds nothing of is a
    /// `Client` error `obo_cache_key_not_in_cache`, before anything is sent.
    pub fn acquire_token_in_long_running_process<I, S>(
        &self,
        scopes: I,
        session_key: impl Into<String>,
    ) -> LongRunningOnBehalfOfRequest
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        LongRunningOnBehalfOfRequest::new(
            self.core.clone(),
            normalize_scopes(scopes),
            None,
            session_key.into(),
        )
    }

    /// Stops a long-running process: removes the access and refresh tokens cached under its
    /// session key. Returns whether there were any.
    pub async fn stop_long_running_process(&self, session_key: &str) -> Result<bool, Error> {
        self.core
            .cache
            .remove_obo_session(&self.core.client_id, session_key)
            .await
    }
}

/// A request of a long-running on-behalf-of process: its start
/// ([`initiate_long_running_on_behalf_of`](ConfidentialClientApplication::initiate_long_running_on_behalf_of))
/// or a later call
/// ([`acquire_token_in_long_running_process`](ConfidentialClientApplication::acquire_token_in_long_running_process));
/// set options, then [`send`](Self::send) it.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct LongRunningOnBehalfOfRequest {
    core: Arc<AppCore>,
    scopes: Result<ScopeSet, Error>,
    /// The caller's assertion when the process starts; `None` for a call of a running one.
    assertion: Option<Assertion>,
    session_key: String,
    search_in_cache: bool,
    claims: Option<String>,
    force_refresh: bool,
    accept_partial: bool,
    correlation_id: Option<String>,
    extra_query: Vec<(String, String)>,
    tenant: Option<String>,
    auth_scheme: Option<crate::pop::AuthScheme>,
}

impl LongRunningOnBehalfOfRequest {
    super::request_options!(
        claims,
        force_refresh,
        partial_scopes,
        correlation_id,
        extra_query,
        tenant,
        auth_scheme
    );

    fn new(
        core: Arc<AppCore>,
        scopes: Result<ScopeSet, Error>,
        assertion: Option<Assertion>,
        session_key: String,
    ) -> Self {
        LongRunningOnBehalfOfRequest {
            core,
            scopes,
            assertion,
            session_key,
            search_in_cache: false,
            claims: None,
            force_refresh: false,
            accept_partial: false,
            correlation_id: None,
            extra_query: Vec::new(),
            tenant: None,
            auth_scheme: None,
        }
    }

    /// The session key the tokens are cached under: keep it with the job.
    pub fn session_key(&self) -> &str {
        &self.session_key
    }

    /// Caches the session under this key (e.g. the job's id) instead of the assertion's hash.
    /// Keys are compared exactly (case-sensitive).
    pub fn with_session_key(mut self, key: impl Into<String>) -> Self {
        self.session_key = key.into();
        self
    }

    /// When starting a process: look in the cache first, for an access token of the session,
    /// then its refresh token, before asking with the assertion (MSAL.NET's
    /// `WithSearchInCacheForLongRunningProcess`). Off by default: a start asks the identity
    /// provider. Either way, a session's tokens serve only its own user (the assertion's
    /// `oid` and `tid`): a key reused for another caller sends that caller's assertion.
    pub fn search_in_cache(mut self, search: bool) -> Self {
        self.search_in_cache = search;
        self
    }

    /// Gets the token.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let core = &self.core;
        let cid = correlation_id(self.correlation_id.as_deref());
        let key = self.session_key.as_str();
        if key.is_empty() {
            return Err(Error::client(
                codes::INVALID_ARGUMENT,
                "the session key of a long-running on-behalf-of process is empty",
            )
            .with_correlation_id(&cid));
        }
        let assertion_hash;
        let (cache, identity) = match &self.assertion {
            Some(assertion) => {
                let assertion = assertion.secret().trim();
                assertion_hash = user_assertion_hash(assertion);
                // Where the session's tokens are when asked to look: the assertion's user.
                let user = assertion_user(assertion).filter(|_| self.search_in_cache);
                (user, [key, assertion_hash.as_str()])
            }
            None => {
                // Nothing of the session in the cache: nothing to redeem, and nothing is sent.
                let Some(session) = core.cache.find_obo_session(&core.client_id, key).await? else {
                    return Err(not_in_cache().with_correlation_id(&cid));
                };
                let home_tenant = session
                    .home_account_id
                    .split_once('.')
                    .map(|(_, t)| t.to_owned());
                let fallback = session.realm.or(home_tenant).unwrap_or_default();
                (Some((session.home_account_id, fallback)), [key, ""])
            }
        };
        let realm = cache
            .as_ref()
            .map(|(_, tid)| super::obo::realm(core, self.tenant.as_deref(), tid));
        let cache = cache
            .as_ref()
            .zip(realm.as_deref())
            .map(|((home, _), realm)| CacheQuery {
                realm,
                home_account_id: Some(home.as_str()),
                account: None,
            });
        let req = Request {
            correlation_id: Some(&cid),
            claims: Claims::Caller(self.claims.as_deref()),
            cache,
            single_flight: true,
            identity: &identity,
            user_assertion_hash: Some(key),
            force_refresh: self.force_refresh,
            accept_partial: self.accept_partial,
            credential_required: true,
            extra_query: &self.extra_query,
            tenant: self.tenant.as_deref(),
            scheme: self.auth_scheme.as_ref(),
            ..Request::user(
                if self.assertion.is_some() {
                    "long_running_obo_initiate"
                } else {
                    "long_running_obo"
                },
                &self.scopes,
            )
        };
        core.execute(req, &self).await
    }
}

/// The error of a session the cache holds nothing of.
fn not_in_cache() -> Error {
    Error::client(
        codes::OBO_CACHE_KEY_NOT_IN_CACHE,
        "the token cache holds no token of this long-running process's session key (never started, stopped, or its refresh token is gone); start it again with the caller's assertion",
    )
}

impl Steps for &LongRunningOnBehalfOfRequest {
    fn check(&mut self) -> Result<(), Error> {
        self.assertion
            .as_ref()
            .map_or(Ok(()), super::obo::check_assertion)
    }

    /// The session's refresh token when the process runs (or a start looks in the cache),
    /// else the on-behalf-of grant with the caller's assertion.
    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        let core = cx.core;
        // A start redeems the session's refresh token only when the session is the caller's
        // (the same user): a key reused for another caller never acts as the previous one.
        let callers_user = self
            .assertion
            .as_ref()
            .map(|a| assertion_user(a.secret().trim()).map(|(home, _)| home));
        let rt = if self.assertion.is_none() || self.search_in_cache {
            core.cache
                .find_obo_session(&core.client_id, &self.session_key)
                .await?
                .filter(|s| match &callers_user {
                    None => true,
                    Some(user) => user
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&s.home_account_id)),
                })
                .and_then(|s| s.refresh_token)
        } else {
            None
        };
        match (rt, &self.assertion) {
            (Some(rt), _) => {
                tracing::debug!(correlation_id = %cx.correlation_id, "long-running on-behalf-of: redeeming the session's refresh token");
                super::public::refresh(cx, &rt).await
            }
            (None, Some(a)) => super::obo::grant(cx, a.secret().trim()).await,
            (None, None) => Err(not_in_cache()),
        }
    }

    fn refresh_in_background(
        &self,
    ) -> Option<BoxFuture<'static, Result<AuthenticationResult, Error>>> {
        // A running process refreshes with its refresh token; a start is not repeated.
        self.assertion.is_none().then(|| {
            let again = LongRunningOnBehalfOfRequest {
                claims: None,
                force_refresh: true,
                correlation_id: None,
                ..(*self).clone()
            };
            Box::pin(again.send()) as BoxFuture<'static, _>
        })
    }
}
