//! The username/password flow (ROPC, the resource owner password credentials grant) for
//! cloud (managed) users. It cannot do MFA, consent or federated sign-in: prefer the
//! interactive or device code flows.

use std::sync::Arc;

use serde::Deserialize;

use super::AppCore;
use super::ScopeSet;
use super::pipeline::{Claims, Context, Request, Steps};
use crate::authority::AuthorityKind;
use crate::error::{Error, codes};
use crate::hash::hex_sha256;
use crate::http::{HttpRequest, send_with_retry};
use crate::oauth::TokenResponse;
use crate::pii::{pii, pii_error};
use crate::result::AuthenticationResult;
use crate::secret::Password;

/// A username/password request; set options, then [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct UsernamePasswordRequest {
    pub(crate) core: Arc<AppCore>,
    pub(crate) scopes: Result<ScopeSet, Error>,
    pub(crate) username: String,
    pub(crate) password: Password,
    pub(crate) claims: Option<String>,
    pub(crate) accept_partial: bool,
    pub(crate) correlation_id: Option<String>,
    pub(crate) extra_query: Vec<(String, String)>,
    pub(crate) tenant: Option<String>,
    pub(crate) auth_scheme: Option<crate::pop::AuthScheme>,
}

/// The answer of Entra's user realm discovery that matters here.
#[derive(Debug, Deserialize)]
struct UserRealm {
    account_type: Option<String>,
    #[serde(default)]
    domain_name: Option<String>,
    #[serde(default)]
    federation_protocol: Option<String>,
}

impl UsernamePasswordRequest {
    super::request_options!(
        claims,
        partial_scopes,
        correlation_id,
        extra_query,
        tenant,
        auth_scheme
    );

    /// Signs the user in with their password.
    ///
    /// For an Entra authority, the user's domain is looked up first (user realm discovery):
    /// a federated user is a `Client` error `federated_user_not_supported` without sending the
    /// password anywhere. When the lookup fails, the user is taken to be a cloud user.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        // Never served from the cache: the password is checked each time.
        let username = self.username.trim().to_ascii_lowercase();
        let password_hash = hex_sha256(self.password.secret());
        let identity = [username.as_str(), password_hash.as_str()];
        let req = Request {
            correlation_id: self.correlation_id.as_deref(),
            claims: Claims::Caller(self.claims.as_deref()),
            identity: &identity,
            accept_partial: self.accept_partial,
            extra_query: &self.extra_query,
            tenant: self.tenant.as_deref(),
            scheme: self.auth_scheme.as_ref(),
            ..Request::user("username_password", &self.scopes)
        };
        self.core.execute(req, &self).await
    }
}

impl Steps for &UsernamePasswordRequest {
    fn check(&mut self) -> Result<(), Error> {
        if self.username.trim().is_empty() {
            return Err(Error::client(
                codes::INVALID_ARGUMENT,
                "the username is empty",
            ));
        }
        Ok(())
    }

    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        let username = self.username.trim();
        if cx.core.authority.kind() == AuthorityKind::Aad {
            cx.core
                .check_not_federated(username, cx.correlation_id)
                .await?;
        }
        tracing::debug!(
            correlation_id = %cx.correlation_id,
            scope = %cx.scope,
            username = %pii(username, cx.core.pii_logging),
            "username/password: requesting a token"
        );
        cx.token_request(
            "password",
            &[("username", username), ("password", self.password.secret())],
        )
        .await
    }
}

impl AppCore {
    /// User realm discovery: `GET {authority host}/common/userrealm/{username}?api-version=1.0`.
    /// `Federated` is a `Client` error; any failure of the lookup counts as managed.
    async fn check_not_federated(&self, username: &str, cid: &str) -> Result<(), Error> {
        let mut url = self.authority.url().clone();
        url.set_query(None);
        url.set_fragment(None);
        match url.path_segments_mut() {
            Ok(mut segs) => {
                segs.clear().extend(["common", "userrealm", username]);
            }
            Err(()) => return Ok(()),
        }
        url.query_pairs_mut().append_pair("api-version", "1.0");
        let mut req = HttpRequest::get(url);
        req.headers.extend(crate::http::standard_headers(cid));
        let realm = match send_with_retry(self.http.as_ref(), req, &self.retry).await {
            Ok(resp) if resp.status.is_success() => {
                serde_json::from_slice::<UserRealm>(&resp.body).ok()
            }
            Ok(resp) => {
                tracing::debug!(correlation_id = %cid, status = %resp.status, "user realm discovery failed; taking the user as managed");
                None
            }
            Err(e) => {
                // A transport error names the URL, and the URL the user.
                tracing::debug!(correlation_id = %cid, error = %pii_error(&e, self.pii_logging), "user realm discovery failed; taking the user as managed");
                None
            }
        };
        match realm {
            Some(r)
                if r
                    .account_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("federated")) =>
            {
                Err(Error::client(
                    codes::FEDERATED_USER_NOT_SUPPORTED,
                    format!(
                        "`{username}` is a federated user (domain {}, {}): the password is checked by the domain's own identity provider, which the username/password flow cannot use; use the interactive or device code flow",
                        r.domain_name.as_deref().unwrap_or("unknown"),
                        r.federation_protocol.as_deref().unwrap_or("federated"),
                    ),
                )
                .with_correlation_id(cid))
            }
            _ => Ok(()),
        }
    }
}
