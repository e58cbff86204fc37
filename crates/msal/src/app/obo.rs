//! The on-behalf-of flow of confidential clients: a web API exchanges the token it was called
//! with for a token to call another API as the same user (the jwt-bearer grant).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::pipeline::{cached_result, user_scope};
use super::{AppCore, Completion, TokenRequest, correlation_id, looks_like_guid, now_unix};
use crate::cache::AccessTokenQuery;
use crate::error::{Error, codes};
use crate::http::throttle::throttle_key;
use crate::oauth::{JWT_BEARER_GRANT, decode_jwt_payload};
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
fn assertion_user(assertion: &str) -> Option<(String, String)> {
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
    pub(crate) scopes: Result<Vec<String>, Error>,
    pub(crate) assertion: Assertion,
    pub(crate) claims: Option<String>,
    pub(crate) force_refresh: bool,
    pub(crate) accept_partial: bool,
    pub(crate) correlation_id: Option<String>,
}

impl OnBehalfOfRequest {
    super::request_options!(claims, force_refresh, partial_scopes, correlation_id);

    /// Gets the token: from the cache when a token for the same incoming assertion and scopes
    /// is there, else from the identity provider.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let core = &self.core;
        let cid = correlation_id(self.correlation_id.as_deref());
        let scopes = self.scopes.map_err(|e| e.with_correlation_id(&cid))?;
        let assertion = self.assertion.secret().trim();
        if assertion.is_empty() {
            return Err(Error::client(
                codes::INVALID_ARGUMENT,
                "the incoming assertion of an on-behalf-of request is empty",
            )
            .with_correlation_id(&cid));
        }
        let claims = core.claims(self.claims.as_deref())?;
        let metadata = core.metadata(&cid).await?;
        let hash = user_assertion_hash(assertion);
        if claims.is_none()
            && !self.force_refresh
            && let Some((home, tid)) = assertion_user(assertion)
        {
            let realm = if looks_like_guid(core.authority.tenant()) {
                core.authority.tenant()
            } else {
                tid.as_str()
            };
            let hit = core
                .find_access_token(&AccessTokenQuery {
                    client_id: &core.client_id,
                    environments: &metadata.aliases,
                    realm,
                    scopes: &scopes,
                    home_account_id: Some(&home),
                    user_assertion_hash: Some(&hash),
                    now: now_unix(),
                })
                .await?;
            if let Some(at) = hit {
                tracing::debug!(correlation_id = %cid, "on-behalf-of: cache hit");
                let account = core.cache.find_account(&home, &metadata.aliases).await?;
                let id_claims = core
                    .cache
                    .id_token_claims(&home, &metadata.aliases, &core.client_id, &at.realm)
                    .await?;
                return Ok(cached_result(at, account, id_claims, cid));
            }
        }
        let scope = user_scope(&scopes);
        let key = throttle_key(&[
            "on_behalf_of",
            &core.client_id,
            core.authority.url().as_str(),
            &scope,
            &hash,
        ]);
        tracing::debug!(correlation_id = %cid, %scope, "on-behalf-of: requesting a token");
        let resp = core
            .token_request(TokenRequest {
                metadata: &metadata,
                form: vec![
                    ("grant_type", JWT_BEARER_GRANT),
                    ("client_id", &core.client_id),
                    ("assertion", assertion),
                    ("requested_token_use", "on_behalf_of"),
                    ("scope", &scope),
                    ("client_info", "1"),
                ],
                claims: claims.as_deref(),
                throttle_key: Some(key),
                silent: false,
                credential_required: true,
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
                user_assertion_hash: Some(&hash),
                accept_partial: self.accept_partial,
            },
        )
        .await
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
