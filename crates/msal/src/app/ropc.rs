//! The username/password flow (ROPC, the resource owner password credentials grant) for
//! cloud (managed) users. It cannot do MFA, consent or federated sign-in: prefer the
//! interactive or device code flows.

use std::sync::Arc;

use serde::Deserialize;

use super::pipeline::user_scope;
use super::public::hex_sha256;
use super::{AppCore, Completion, TokenRequest, correlation_id};
use crate::authority::AuthorityKind;
use crate::error::{Error, codes};
use crate::http::throttle::throttle_key;
use crate::http::{HttpRequest, send_with_retry};
use crate::result::AuthenticationResult;
use crate::secret::Password;

/// A username/password request; set options, then [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct UsernamePasswordRequest {
    pub(crate) core: Arc<AppCore>,
    pub(crate) scopes: Result<Vec<String>, Error>,
    pub(crate) username: String,
    pub(crate) password: Password,
    pub(crate) claims: Option<String>,
    pub(crate) accept_partial: bool,
    pub(crate) correlation_id: Option<String>,
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
    super::request_options!(claims, partial_scopes, correlation_id);

    /// Signs the user in with their password.
    ///
    /// For an Entra authority, the user's domain is looked up first (user realm discovery):
    /// a federated user is a `Client` error `federated_user_not_supported` without sending the
    /// password anywhere. When the lookup fails, the user is taken to be a cloud user.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let core = &self.core;
        let cid = correlation_id(self.correlation_id.as_deref());
        let scopes = self.scopes.map_err(|e| e.with_correlation_id(&cid))?;
        let username = self.username.trim();
        if username.is_empty() {
            return Err(
                Error::client(codes::INVALID_ARGUMENT, "the username is empty")
                    .with_correlation_id(&cid),
            );
        }
        let claims = core.claims(self.claims.as_deref())?;
        let metadata = core.metadata(&cid).await?;
        if core.authority.kind() == AuthorityKind::Aad {
            core.check_not_federated(username, &cid).await?;
        }
        let scope = user_scope(&scopes);
        let password = self.password.secret();
        let key = throttle_key(&[
            "username_password",
            &core.client_id,
            core.authority.url().as_str(),
            &scope,
            &username.to_ascii_lowercase(),
            &hex_sha256(password),
        ]);
        tracing::debug!(correlation_id = %cid, %scope, "username/password: requesting a token");
        let resp = core
            .token_request(TokenRequest {
                metadata: &metadata,
                form: vec![
                    ("grant_type", "password"),
                    ("client_id", &core.client_id),
                    ("username", username),
                    ("password", password),
                    ("scope", &scope),
                    ("client_info", "1"),
                ],
                claims: claims.as_deref(),
                throttle_key: Some(key),
                silent: false,
                credential_required: false,
                correlation_id: &cid,
            })
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
                tracing::debug!(correlation_id = %cid, error = %e, "user realm discovery failed; taking the user as managed");
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
