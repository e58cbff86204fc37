//! The on-behalf-of flow of confidential clients: a web API exchanges the token it was called
//! with for a token to call another API as the same user (the jwt-bearer grant).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::ScopeSet;
use super::pipeline::{CacheQuery, Claims, Context, Request, Steps};
use super::{AppCore, looks_like_guid};
use crate::error::{Error, codes};
use crate::http::BoxFuture;
use crate::oauth::{JWT_BEARER_GRANT, TokenResponse, decode_jwt_payload};
use crate::result::AuthenticationResult;
use crate::secret::Assertion;

/// The key of the cache partition of on-behalf-of tokens: base64url (no padding) of the
/// SHA-256 of the incoming assertion, as MSAL.NET (`UserAssertion.AssertionHash`) and MSAL Java
/// compute it and store it as `user_assertion_hash`. The assertion itself is never stored.
pub fn user_assertion_hash(assertion: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(assertion.as_bytes()))
}

/// The user an incoming Entra access token was issued to: `(home_account_id, tenant)`, from
/// its `oid` and `tid` claims. A cloud user's home account id is `<oid>.<tid>`; a guest's is
/// not (their home tenant is another one), so their tokens are not found this way and each
/// call asks the identity provider, which is correct, only slower.
pub(crate) fn assertion_user(assertion: &str) -> Option<(String, String)> {
    let claims = decode_jwt_payload(assertion).ok()?;
    let oid = claims.get("oid")?.as_str()?;
    let tid = claims.get("tid")?.as_str()?;
    (!oid.is_empty() && !tid.is_empty()).then(|| (format!("{oid}.{tid}"), tid.to_owned()))
}

/// An on-behalf-of request; set options, then [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct OnBehalfOfRequest {
    pub(crate) core: Arc<AppCore>,
    pub(crate) scopes: Result<ScopeSet, Error>,
    pub(crate) assertion: Assertion,
    pub(crate) claims: Option<String>,
    pub(crate) force_refresh: bool,
    pub(crate) accept_partial: bool,
    pub(crate) correlation_id: Option<String>,
    pub(crate) extra_query: Vec<(String, String)>,
    pub(crate) tenant: Option<String>,
    pub(crate) auth_scheme: Option<crate::pop::AuthScheme>,
}

impl OnBehalfOfRequest {
    super::request_options!(
        claims,
        force_refresh,
        partial_scopes,
        correlation_id,
        extra_query,
        tenant,
        auth_scheme
    );

    /// Gets the token: from the cache when a token for the same incoming assertion and scopes
    /// is there, else from the identity provider.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let core = &self.core;
        let assertion = self.assertion.secret().trim();
        let hash = user_assertion_hash(assertion);
        // The user's tokens are found by the assertion's user; without one (not an Entra
        // token), each call asks the identity provider.
        let user = assertion_user(assertion);
        let realm = user
            .as_ref()
            .map(|(_, tid)| realm(core, self.tenant.as_deref(), tid));
        let cache = user
            .as_ref()
            .zip(realm.as_deref())
            .map(|((home, _), realm)| CacheQuery {
                realm,
                home_account_id: Some(home.as_str()),
                account: None,
            });
        let identity = [hash.as_str()];
        let req = Request {
            correlation_id: self.correlation_id.as_deref(),
            claims: Claims::Caller(self.claims.as_deref()),
            cache,
            single_flight: true,
            identity: &identity,
            user_assertion_hash: Some(&hash),
            force_refresh: self.force_refresh,
            accept_partial: self.accept_partial,
            credential_required: true,
            extra_query: &self.extra_query,
            tenant: self.tenant.as_deref(),
            scheme: self.auth_scheme.as_ref(),
            ..Request::user("on_behalf_of", &self.scopes)
        };
        core.execute(req, &self).await
    }
}

impl Steps for &OnBehalfOfRequest {
    fn check(&mut self) -> Result<(), Error> {
        check_assertion(&self.assertion)
    }

    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        grant(cx, self.assertion.secret().trim()).await
    }

    fn refresh_in_background(
        &self,
    ) -> Option<BoxFuture<'static, Result<AuthenticationResult, Error>>> {
        let again = OnBehalfOfRequest {
            core: self.core.clone(),
            scopes: self.scopes.clone(),
            assertion: self.assertion.clone(),
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

/// Refuses an empty incoming assertion (of an on-behalf-of request, or of the start of a
/// long-running one) before anything is sent.
pub(crate) fn check_assertion(assertion: &Assertion) -> Result<(), Error> {
    if assertion.secret().trim().is_empty() {
        return Err(Error::client(
            codes::INVALID_ARGUMENT,
            "the incoming assertion of an on-behalf-of request is empty",
        ));
    }
    Ok(())
}

/// The on-behalf-of grant: the jwt-bearer grant with the incoming assertion.
pub(crate) async fn grant(cx: &Context<'_>, assertion: &str) -> Result<TokenResponse, Error> {
    tracing::debug!(correlation_id = %cx.correlation_id, scope = %cx.scope, "on-behalf-of: requesting a token");
    cx.token_request(
        JWT_BEARER_GRANT,
        &[
            ("assertion", assertion),
            ("requested_token_use", "on_behalf_of"),
        ],
    )
    .await
}

/// The realm the tokens of an on-behalf-of request are looked up in: the request's tenant,
/// else the authority's tenant id, else `fallback` (the tenant of the assertion's user).
pub(crate) fn realm<'a>(
    core: &'a AppCore,
    tenant: Option<&'a str>,
    fallback: &'a str,
) -> std::borrow::Cow<'a, str> {
    match tenant {
        Some(t) => core.user_realm(t),
        None if looks_like_guid(core.authority.tenant()) => core.authority.tenant().into(),
        None => fallback.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_base64url_sha256_without_padding() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(
            user_assertion_hash("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn the_user_of_an_assertion_comes_from_oid_and_tid() {
        let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let jwt = format!(
            "{}.{}.sig",
            b64(serde_json::json!({"alg": "RS256"})),
            b64(serde_json::json!({"oid": "o1", "tid": "t1"}))
        );
        assert_eq!(assertion_user(&jwt), Some(("o1.t1".into(), "t1".into())));
        assert_eq!(assertion_user("not a jwt"), None);
    }
}
