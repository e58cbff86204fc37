//! Redeeming a refresh token obtained elsewhere (MSAL .NET's `AcquireTokenByRefreshToken`,
//! MSAL Python's `acquire_token_by_refresh_token`): for migrating a program's own store of
//! refresh tokens into the cache. The answer is saved as for any user flow (account, id
//! token, refresh token), so that silent requests are served afterwards.

use std::sync::Arc;

use super::pipeline::{Claims, Context, Request, Steps};
use super::{AppCore, ScopeSet};
use crate::error::{Error, codes};
use crate::hash::hex_sha256;
use crate::oauth::TokenResponse;
use crate::result::AuthenticationResult;
use crate::secret::RefreshToken;

/// A request that redeems a refresh token obtained elsewhere; set options, then
/// [`send`](Self::send) it.
///
/// Never served from the cache: the token given is redeemed (`grant_type=refresh_token`).
/// A token the identity provider refuses (expired, revoked, of another client) is a
/// [`crate::ErrorKind::UiRequired`] error (`invalid_grant`), as for a silent request.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RefreshTokenRequest {
    pub(crate) core: Arc<AppCore>,
    pub(crate) scopes: Result<ScopeSet, Error>,
    pub(crate) refresh_token: RefreshToken,
    pub(crate) claims: Option<String>,
    pub(crate) accept_partial: bool,
    pub(crate) correlation_id: Option<String>,
    pub(crate) extra_query: Vec<(String, String)>,
    pub(crate) auth_scheme: Option<crate::pop::AuthScheme>,
}

impl RefreshTokenRequest {
    super::request_options!(
        claims,
        partial_scopes,
        correlation_id,
        extra_query,
        auth_scheme
    );

    pub(crate) fn new(
        core: Arc<AppCore>,
        scopes: Result<ScopeSet, Error>,
        refresh_token: RefreshToken,
    ) -> Self {
        RefreshTokenRequest {
            core,
            scopes,
            refresh_token,
            claims: None,
            accept_partial: false,
            correlation_id: None,
            extra_query: Vec::new(),
            auth_scheme: None,
        }
    }

    /// Redeems the refresh token and caches the answer.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        // Throttled by a hash of the token: a refused token is not sent again and again.
        let token_hash = hex_sha256(self.refresh_token.secret().trim());
        let identity = [token_hash.as_str()];
        let req = Request {
            correlation_id: self.correlation_id.as_deref(),
            claims: Claims::Caller(self.claims.as_deref()),
            identity: &identity,
            accept_partial: self.accept_partial,
            extra_query: &self.extra_query,
            scheme: self.auth_scheme.as_ref(),
            ..Request::user("refresh_token", &self.scopes)
        };
        self.core.execute(req, &self).await
    }
}

impl Steps for &RefreshTokenRequest {
    fn check(&mut self) -> Result<(), Error> {
        if self.refresh_token.secret().trim().is_empty() {
            return Err(Error::client(
                codes::INVALID_ARGUMENT,
                "the refresh token is empty",
            ));
        }
        Ok(())
    }

    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        tracing::debug!(correlation_id = %cx.correlation_id, "refresh token: redeeming a refresh token obtained elsewhere");
        cx.token_request(
            "refresh_token",
            &[("refresh_token", self.refresh_token.secret().trim())],
        )
        .await
    }
}
