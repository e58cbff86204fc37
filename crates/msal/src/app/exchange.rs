//! The exchange with the token endpoint, the last steps of the pipeline: sending a token
//! request (throttled, with the client's credential and the claims) and saving its answer.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::Either;

use super::hit_memo::MemoHit;
use super::telemetry::Report;
use super::{AppCore, Completion, TokenRequest, declined_scopes, from_unix, now_unix, unix_after};
use crate::account::Account;
use crate::cache::{CacheWrite, CachedAccessToken, Saved};
use crate::error::{Error, codes};
use crate::oauth::{ClientInfo, Lifetimes, TokenResponse, decode_jwt_payload, post_token_request};
use crate::result::{AuthenticationResult, Scopes, SharedStr, TokenSource};
use crate::secret::AccessToken;

impl AppCore {
    /// Sends a token request: fails fast while the same request is throttled, adds the
    /// client's credential (when it has one) and the claims, and opens or clears the
    /// request's throttling window with the answer.
    pub(crate) async fn token_request(&self, r: TokenRequest<'_>) -> Result<TokenResponse, Error> {
        if let Some(t) = r.throttle {
            self.throttle.check_with(|| t.key())?;
        }
        // App tokens go to the regional endpoint when the app has one (the credential's
        // audience is then that endpoint, as in MSAL .NET and Go); the answer is cached under
        // the metadata's (global) environment all the same.
        // Boxed: a region's detection is not carried by the future of every app's requests.
        let regional = if r.regional && self.regional.is_set() {
            Box::pin(self.regional.token_endpoint(
                self.http.as_ref(),
                self.authority.url(),
                &r.metadata.token_endpoint,
                r.correlation_id,
            ))
            .await
        } else {
            None
        };
        let token_endpoint = regional.as_ref().unwrap_or(&r.metadata.token_endpoint);
        let credential = match &self.credential {
            Some(c) => Some(c.fields(&self.client_id, token_endpoint.as_str()).await?),
            None if r.credential_required => {
                return Err(Error::client(
                    codes::MISSING_CREDENTIAL,
                    "the application has no credential",
                ));
            }
            None => None,
        };
        let mut form = r.form;
        if let Some(f) = &credential {
            form.extend(f.pairs());
        }
        if let Some(c) = r.claims {
            form.push(("claims", c));
        }
        // The credential's audience is the endpoint itself; the query goes on the URL only.
        let url = super::extra_query::append(token_endpoint, r.extra_query);
        let report = self.telemetry.report(r.flow, r.cache_refresh);
        let answer = post_token_request(
            self.http.as_ref(),
            &self.retry,
            &url,
            &form,
            r.correlation_id,
            &report.headers(),
        )
        .await;
        self.telemetry_outcome(&report, r.correlation_id, &answer);
        if let Some(t) = r.throttle {
            self.throttle
                .settle(|| t.key(), &answer, self.public, r.silent);
        }
        answer
    }

    /// Records the outcome of a token request sent with the telemetry `report`: a success
    /// clears what it reported, a failure is reported with the next request.
    pub(crate) fn telemetry_outcome<T>(
        &self,
        report: &Report,
        correlation_id: &str,
        answer: &Result<T, Error>,
    ) {
        match answer {
            Ok(_) => self.telemetry.succeeded(report),
            // The caller's own cancellation is no failure of the request.
            Err(e) if e.code() == codes::CANCELLED => {}
            Err(e) => self.telemetry.failed(report, correlation_id, e.code()),
        }
    }

    /// Saves a token answer in the cache and reports it.
    ///
    /// Not an `async fn`: with a cache in memory alone (the common case) the answer is saved
    /// and its result built here, at once, and the future is ready; only a cache with a
    /// persistence or an L2 gives a (boxed) future that awaits the write.
    pub(crate) fn complete<'a>(
        &'a self,
        resp: TokenResponse,
        c: Completion<'a>,
    ) -> impl Future<Output = Result<AuthenticationResult, Error>> + Send + 'a {
        let answer = match self.take_apart(resp, &c) {
            Ok(a) => a,
            Err(e) => return Either::Left(std::future::ready(Err(e))),
        };
        if self.cache.writes_in_memory() {
            let saved = self.cache.save_in_memory(&self.cache_write(&answer, &c));
            return Either::Left(std::future::ready(
                saved.and_then(|saved| self.result_of(answer, saved, &c)),
            ));
        }
        Either::Right(Box::pin(async move {
            let saved = self
                .cache
                .save_response_shared(self.cache_write(&answer, &c))
                .await?;
            self.result_of(answer, saved, &c)
        }))
    }

    /// The answer checked and taken apart, before it is saved.
    fn take_apart(&self, mut resp: TokenResponse, c: &Completion<'_>) -> Result<Answer, Error> {
        let now = now_unix();
        // `parse_token_response` refuses answers without lifetimes; this is its twin check.
        let lifetimes = resp.lifetimes().ok_or_else(|| {
            Error::service(
                codes::INVALID_TOKEN_RESPONSE,
                "the token endpoint answered an access token that is already expired",
            )
            .with_correlation_id(c.correlation_id)
        })?;
        let granted = resp
            .granted_scopes()
            .unwrap_or_else(|| c.requested.to_vec());
        let id_claims = match resp.id_token.as_deref() {
            Some(t) if c.user_flow => Some(decode_jwt_payload(t)?),
            _ => None,
        };
        let client_info = match resp.client_info.as_deref() {
            Some(ci) if c.user_flow => Some(ClientInfo::decode(ci)?),
            _ => None,
        };
        let home_account_id = client_info
            .as_ref()
            .map(ClientInfo::home_account_id)
            .or_else(|| {
                // Without client_info (ADFS, generic OIDC), MSAL keys the account by `sub`.
                id_claims
                    .as_ref()
                    .and_then(|c| c.get("sub"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            });
        let realm = id_claims
            .as_ref()
            .and_then(|c| c.get("tid"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or_else(|| client_info.as_ref().map(|ci| ci.utid.clone()))
            .unwrap_or_else(|| c.tenant.to_owned());
        // Wiped if the cache write fails before it reaches the result.
        let access_token = zeroize::Zeroizing::new(resp.access_token.take().unwrap_or_default());
        match c.scheme {
            Some(scheme) => scheme.check_answer(resp.token_type.as_deref()),
            None => crate::pop::AuthScheme::check_bearer_answer(resp.token_type.as_deref()),
        }
        .map_err(|e| e.with_correlation_id(c.correlation_id))?;
        let token_type = resp.token_type.take().unwrap_or_else(|| "Bearer".into());
        Ok(Answer {
            now,
            lifetimes,
            granted,
            id_claims,
            home_account_id,
            realm,
            access_token,
            token_type,
            resp,
        })
    }

    /// What the answer writes to the cache.
    fn cache_write<'w>(&'w self, a: &'w Answer, c: &Completion<'w>) -> CacheWrite<'w> {
        CacheWrite {
            client_id: &self.client_id,
            environment: &c.metadata.environment,
            realm: &a.realm,
            scopes: &a.granted,
            access_token: Some(&a.access_token),
            token_type: &a.token_type,
            expires_in: a.lifetimes.expires_in,
            ext_expires_in: a.lifetimes.ext_expires_in,
            refresh_in: a.lifetimes.refresh_in,
            refresh_token: if c.user_flow {
                a.resp.refresh_token.as_deref()
            } else {
                None
            },
            family_id: a.resp.foci.as_deref(),
            id_token: if c.user_flow {
                a.resp.id_token.as_deref()
            } else {
                None
            },
            id_token_claims: a.id_claims.as_ref(),
            home_account_id: if c.user_flow {
                a.home_account_id.as_deref()
            } else {
                None
            },
            user_assertion_hash: c.user_assertion_hash,
            key_id: c.scheme.map(crate::pop::AuthScheme::key_id),
            now: a.now,
        }
    }

    /// The result of a saved answer; the `declined_scopes` error when the identity provider
    /// granted fewer scopes than asked for and the caller does not accept it.
    fn result_of(
        &self,
        a: Answer,
        saved: Saved,
        c: &Completion<'_>,
    ) -> Result<AuthenticationResult, Error> {
        let Answer {
            now,
            lifetimes,
            granted,
            id_claims,
            home_account_id,
            realm,
            mut access_token,
            token_type,
            resp: _,
        } = a;
        let account = saved.account;
        let pii = self.pii_logging;
        tracing::debug!(
            correlation_id = %c.correlation_id,
            tenant = %crate::pii::pii(&realm, pii),
            home_account_id = %crate::pii::pii(home_account_id.as_deref().unwrap_or_default(), pii),
            username = %crate::pii::pii(account.as_ref().map_or("", |a| a.username.as_str()), pii),
            "token response saved in the cache"
        );
        let declined = declined_scopes(c.requested, &granted);
        // The result shares the parts of the entry just written (as a hit would), when they
        // are what it reports: the scopes in the answer's order, the realm, the token type.
        let shared = saved.parts.filter(|p| {
            p.scopes.iter().eq(granted.iter())
                && *p.realm == *realm
                && p.token_type.as_deref().unwrap_or("Bearer") == token_type
        });
        let (access_token, token_type, scopes, tenant_id) = match shared {
            Some(p) => (
                AccessToken::cached(Arc::clone(&p)),
                SharedStr::token_type_of(&p),
                Scopes::of(&p),
                Some(SharedStr::realm_of(&p)).filter(|_| !realm.is_empty()),
            ),
            None => (
                AccessToken::new(std::mem::take(&mut *access_token)),
                if token_type == "Bearer" {
                    SharedStr::from_static("Bearer")
                } else {
                    SharedStr::from(token_type)
                },
                Scopes::from(granted.clone()),
                Some(realm).filter(|r| !r.is_empty()).map(SharedStr::from),
            ),
        };
        let result = AuthenticationResult {
            access_token,
            token_type,
            expires_on: unix_after(now, lifetimes.expires_in),
            extended_expires_on: lifetimes.ext_expires_in.map(|s| unix_after(now, s)),
            refresh_on: lifetimes.refresh_in.map(|s| unix_after(now, s)),
            scopes,
            declined_scopes: declined.clone(),
            source: TokenSource::IdentityProvider,
            tenant_id,
            correlation_id: c.correlation_id.to_owned(),
            account,
            id_token_claims: id_claims,
        };
        if !declined.is_empty() && !c.accept_partial {
            return Err(Error::service(
                codes::DECLINED_SCOPES,
                format!(
                    "the identity provider declined some of the requested scopes: {}; the tokens for the granted scopes are cached",
                    declined.join(" ")
                ),
            )
            .with_correlation_id(c.correlation_id)
            .with_scopes(granted, declined)
            .with_partial_result(result));
        }
        Ok(result)
    }
}

/// A token answer checked and taken apart: what its cache write and its result are made of.
struct Answer {
    now: i64,
    lifetimes: Lifetimes,
    granted: Vec<String>,
    id_claims: Option<serde_json::Value>,
    home_account_id: Option<String>,
    realm: String,
    access_token: zeroize::Zeroizing<String>,
    token_type: String,
    /// The rest of the answer (its refresh token, id token and family).
    resp: TokenResponse,
}

/// The result of a remembered hit (see `hit_memo.rs`): as [`cached_result`] makes it, for an
/// app token.
pub(crate) fn remembered_result(hit: MemoHit, correlation_id: String) -> AuthenticationResult {
    AuthenticationResult {
        token_type: SharedStr::token_type_of(&hit.parts),
        scopes: Scopes::of(&hit.parts),
        tenant_id: (!hit.parts.realm.is_empty()).then(|| SharedStr::realm_of(&hit.parts)),
        access_token: AccessToken::cached(hit.parts),
        expires_on: hit.expires_on,
        extended_expires_on: hit.extended_expires_on,
        refresh_on: hit.refresh_on,
        declined_scopes: Vec::new(),
        source: TokenSource::Cache,
        correlation_id,
        account: None,
        id_token_claims: None,
    }
}

/// A result served from the cache.
pub(crate) fn cached_result(
    at: CachedAccessToken,
    account: Option<Account>,
    id_token_claims: Option<serde_json::Value>,
    correlation_id: String,
) -> AuthenticationResult {
    AuthenticationResult {
        access_token: at.secret,
        token_type: at.token_type,
        expires_on: from_unix(at.expires_on),
        extended_expires_on: at.extended_expires_on.map(from_unix),
        refresh_on: at.refresh_on.map(from_unix),
        scopes: at.scopes,
        declined_scopes: Vec::new(),
        source: TokenSource::Cache,
        tenant_id: Some(at.realm).filter(|r| !r.is_empty()),
        correlation_id,
        account,
        id_token_claims,
    }
}
