//! The one pipeline of token requests.
//!
//! A flow describes its request ([`Request`]: its name and identity, its claims, its cache
//! query, its result policy) and gives only the steps that are its own ([`Steps`]: its checks,
//! how it gets the token answer, its background refresh). [`AppCore::execute`] runs every flow
//! through the same steps, in this order:
//!
//! 1. the correlation id, the caller's or a fresh one, attached to every error at the end;
//! 2. the flow's own checks, then the scopes;
//! 3. the cache (unless the caller forces a refresh or sends claims), with the retry in
//!    Microsoft Graph's short-form scopes, and a background refresh of a hit past its
//!    `refresh_on`;
//! 4. the claims, merged with the app's client capabilities;
//! 5. the authority and its metadata, for the request's tenant;
//! 6. single-flight: concurrent identical calls share one request;
//! 7. the token answer: the flow's own steps, whose token request ([`Context::token_request`])
//!    adds the credential and the claims and is throttled;
//! 8. completion: the answer is checked, saved in the cache and reported.
//!
//! The exchange with the token endpoint (steps 7 and 8) is in `exchange.rs`.

use super::exchange::{cached_result, remembered_result};
use super::telemetry::{self, CacheRefresh};
use super::{
    AppCore, Completion, ScopeSet, TenantAuthority, TenantEntry, ThrottleIdentity, TokenRequest,
    correlation_id, now_unix,
};
use std::borrow::Cow;
use std::future::Future;

use crate::account::Account;
use crate::authority::Metadata;
use crate::cache::{AccessTokenQuery, BoundKey, CachedAccessToken};
use crate::error::Error;
use crate::http::BoxFuture;
use crate::http::throttle::throttle_key;
use crate::oauth::{RESERVED_SCOPES, TokenResponse, join_scopes};
use crate::pop::AuthScheme;
use crate::result::AuthenticationResult;

pub(crate) use super::request::{CacheQuery, Claims, Request};

/// The steps of a flow that are its own.
pub(crate) trait Steps: Sized {
    /// Checks the flow's own arguments, before anything is looked up or sent.
    fn check(&mut self) -> Result<(), Error> {
        Ok(())
    }

    /// Gets the token answer: the flow's own steps (a device code, a browser sign-in, the
    /// choice of a refresh token) and its request to the token endpoint.
    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error>;

    /// The same request past the cache, run in the background when a cached token is past its
    /// `refresh_on`; `None`: the flow is not refreshed in the background.
    fn refresh_in_background(
        &self,
    ) -> Option<BoxFuture<'static, Result<AuthenticationResult, Error>>> {
        None
    }
}

/// What the steps of a flow have to work with once the request is resolved.
pub(crate) struct Context<'a> {
    pub core: &'a AppCore,
    pub correlation_id: &'a str,
    /// The scope parameter: the scopes, and for a user's tokens `openid profile offline_access`.
    pub scope: &'a str,
    /// The claims, merged with the app's client capabilities.
    pub claims: Option<&'a str>,
    /// The authority the request goes to, and its metadata.
    pub authority: &'a TenantAuthority,
    /// The extra query parameters of every request to the identity provider: the app's and
    /// the request's.
    pub extra_query: &'a [(&'a str, &'a str)],
    req: &'a Request<'a>,
}

impl Context<'_> {
    /// The metadata of the authority the request goes to.
    pub(crate) fn metadata(&self) -> &Metadata {
        &self.authority.metadata
    }

    /// The form fields of the request's bound token (`token_type`, `req_cnf`, `key_id`), for
    /// the flows that build their token requests themselves.
    pub(crate) fn scheme_fields(&self) -> Vec<(&'static str, &str)> {
        self.req
            .scheme
            .map(AuthScheme::form_fields)
            .unwrap_or_default()
    }

    /// The request's throttling key, with `extra` parts (e.g. a hash of the refresh token).
    pub(crate) fn throttle_key(&self, extra: &[&str]) -> [u8; 32] {
        request_key(
            "throttle",
            self.core,
            self.req,
            self.authority.authority.url().as_str(),
            self.scope,
            extra,
        )
    }

    /// Why the cache did not answer the request, as its telemetry reports it.
    pub(crate) fn cache_refresh(&self) -> CacheRefresh {
        if !telemetry::consults_cache(self.req.flow) {
            CacheRefresh::NonSilent
        } else if self.req.force_refresh || self.req.claims.skip_cache() {
            CacheRefresh::ForceRefresh
        } else {
            // Expired tokens are not told from absent ones: the cache never answers them.
            CacheRefresh::AtAbsent
        }
    }

    /// Sends the request to the token endpoint: `grant_type`, `client_id`, the grant's own
    /// `fields`, `scope` (and `client_info` for a user's tokens), throttled by the request's
    /// key.
    ///
    /// Not an `async fn`: the request is built here and the exchange's future is returned as
    /// it is, one level of futures less, each of which is copied on every call.
    pub(crate) fn token_request<'s>(
        &'s self,
        grant_type: &'s str,
        fields: &[(&'s str, &'s str)],
    ) -> impl Future<Output = Result<TokenResponse, Error>> + Send + 's {
        self.token_request_keyed(grant_type, fields, Some(self))
    }

    /// [`token_request`](Self::token_request) with another throttling identity, or none for
    /// a request that cannot repeat (an authorization code is redeemed once).
    pub(crate) fn token_request_keyed<'s>(
        &'s self,
        grant_type: &'s str,
        fields: &[(&'s str, &'s str)],
        throttle: Option<&'s dyn ThrottleIdentity>,
    ) -> impl Future<Output = Result<TokenResponse, Error>> + Send + 's {
        let mut form = Vec::with_capacity(fields.len() + 7);
        form.extend([
            ("grant_type", grant_type),
            ("client_id", self.core.client_id.as_str()),
        ]);
        form.extend_from_slice(fields);
        form.push(("scope", self.scope));
        if self.req.user_flow {
            form.push(("client_info", "1"));
        }
        form.extend(self.scheme_fields());
        self.core.token_request(TokenRequest {
            metadata: self.metadata(),
            form,
            claims: self.claims,
            throttle,
            silent: self.req.silent,
            credential_required: self.req.credential_required,
            correlation_id: self.correlation_id,
            extra_query: self.extra_query,
            flow: self.req.flow,
            cache_refresh: self.cache_refresh(),
            regional: self.req.regional,
        })
    }
}

/// The request's own throttling key (see `ThrottleIdentity`).
impl ThrottleIdentity for Context<'_> {
    fn key(&self) -> [u8; 32] {
        self.throttle_key(&[])
    }
}

/// The scope parameter of a user flow: the app's scopes, then `openid profile offline_access`.
pub(crate) fn user_scope(scopes: &[String]) -> String {
    join_scopes(
        scopes
            .iter()
            .map(String::as_str)
            .chain(RESERVED_SCOPES.iter().copied()),
    )
}

fn scope_parameter<'s>(req: &Request<'_>, scopes: &'s ScopeSet) -> Cow<'s, str> {
    if req.user_flow {
        Cow::Owned(user_scope(scopes))
    } else {
        // Joined once, when the scope list was built.
        Cow::Borrowed(scopes.joined())
    }
}

/// The identity of a request, hashed: `kind`, the flow, the app, the authority (its URL, or
/// the tenant as named, which stands for it), the scope
/// parameter, the flow's own identity, its extra query parameters and `extra`.
fn request_key(
    kind: &str,
    core: &AppCore,
    req: &Request<'_>,
    authority: &str,
    scope: &str,
    extra: &[&str],
) -> [u8; 32] {
    // Requests to different slices are different requests; the app's parameters are the same
    // for all of its requests, so only the request's own tell them apart.
    let query = (!req.extra_query.is_empty()).then(|| {
        let pairs: Vec<(&str, &str)> = req
            .extra_query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        super::extra_query::identity(&pairs)
    });
    // A token bound to a key is another request than the bearer one, and than one bound to
    // another key.
    let scheme = req
        .scheme
        .map(|s| [s.token_type(), s.key_id()])
        .into_iter()
        .flatten();
    throttle_key(
        [kind, req.flow, core.client_id.as_str(), authority, scope]
            .into_iter()
            .chain(req.identity.iter().copied())
            .chain(query.as_deref())
            .chain(scheme)
            .chain(extra.iter().copied()),
    )
}

/// The single-flight (and background refresh) key of a request. Every option that changes
/// the result is in it: callers that differ in claims, `force_refresh` or
/// `allow_partial_scopes` do not share one answer (a forced refresh must not get the answer
/// of a flight that may come from the cache; a partial grant is a success for one caller and
/// an error for the other).
fn flight_key(
    core: &AppCore,
    req: &Request<'_>,
    authority: &str,
    scope: &str,
    claims: Option<&str>,
) -> [u8; 32] {
    request_key(
        "flight",
        core,
        req,
        authority,
        scope,
        &[
            claims.unwrap_or(""),
            if req.force_refresh { "force" } else { "" },
            if req.accept_partial { "partial" } else { "" },
        ],
    )
}

/// The result as the caller gets it: for a proof-of-possession request, its token signed into
/// a signed HTTP request of this call.
fn bind(
    scheme: Option<&AuthScheme>,
    result: AuthenticationResult,
) -> Result<AuthenticationResult, Error> {
    match scheme {
        None => Ok(result),
        Some(s) => s.bind(result),
    }
}

/// A token found in the cache, and what its result reports with it.
struct Hit {
    at: CachedAccessToken,
    account: Option<Account>,
    id_token_claims: Option<serde_json::Value>,
}

impl Hit {
    fn app(at: CachedAccessToken) -> Self {
        Hit {
            at,
            account: None,
            id_token_claims: None,
        }
    }

    fn into_result(self, correlation_id: String) -> AuthenticationResult {
        cached_result(self.at, self.account, self.id_token_claims, correlation_id)
    }
}

impl AppCore {
    /// Runs a request through the pipeline (see the module's documentation). Every error
    /// carries the request's correlation id.
    pub(crate) async fn execute(
        &self,
        req: Request<'_>,
        mut steps: impl Steps,
    ) -> Result<AuthenticationResult, Error> {
        let cid = correlation_id(req.correlation_id);
        // `?` that puts the correlation id on the error. One function rather than a nested
        // one mapping all errors: every level of futures is moved on every call, hits included.
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return Err(Error::with_correlation_id(e, cid)),
                }
            };
        }
        attempt!(steps.check());
        if let Some(scheme) = req.scheme {
            attempt!(scheme.check());
        }
        attempt!(super::extra_query::check(req.extra_query));
        let scopes: &ScopeSet = attempt!(req.scopes.as_ref().map_err(Error::clone));
        // The caller's claims (a claims challenge) skip the cache; the app's client
        // capabilities alone do not: they go with every request, and the tokens cached were
        // issued with them (so they are merged in below, off the hit path).
        let use_cache = !req.force_refresh && !req.claims.skip_cache();
        if use_cache && let Some(q) = &req.cache {
            // A hit needs only the tenant's cache identity: resolved with the request when it
            // can be (then no lookup, and the partition is hashed already).
            let (aliases, partition) = match req.known_tenant {
                Some(t) if q.home_account_id.is_none() => {
                    (t.aliases.clone(), Some(t.app_partition))
                }
                _ => (attempt!(self.tenant_aliases(req.tenant, &cid).await), None),
            };
            let now = now_unix();
            // Read before the lookup: a write meanwhile makes what is remembered stale.
            let generation = self.cache.generation();
            // The steps of `cached`, written out: each level of futures on this path is one
            // more move of its state on every call.
            let mut query = self.access_token_query(&req, q, scopes, &aliases, now);
            query.partition = partition;
            let mut found = attempt!(self.cache.find_access_token(&query).await);
            if found.is_none() {
                // Boxed, as the user's part of a hit below: the state of what most calls never
                // do is not carried by every call's future.
                found = attempt!(Box::pin(self.find_in_short_forms(&query, scopes)).await);
            }
            if let Some(at) = found {
                tracing::debug!(correlation_id = %cid, flow = req.flow, "cache hit");
                self.telemetry.hit();
                if at.refresh_on.is_some_and(|r| r <= now) {
                    self.refresh_behind(&req, &steps, scopes);
                } else if let Some((tenant, index)) = self.memo_of(&req, scopes) {
                    tenant.hits.remember(index, generation, now, &at);
                }
                let hit = match q.home_account_id {
                    None => Hit::app(at),
                    Some(home) => {
                        attempt!(Box::pin(self.user_hit(at, home, q.account, &aliases)).await)
                    }
                };
                return bind(req.scheme, hit.into_result(cid));
            }
        }
        let claims = match req.claims {
            Claims::Caller(c) => attempt!(self.claims(c)),
            Claims::Merged(c) => c.map(str::to_owned),
        };
        // Boxed, so that the state of a request to the identity provider (far larger than a
        // cache lookup's) is not carried, and moved, by every call served from the cache.
        let fetch = self.fetch(&req, steps, scopes, claims.as_deref(), use_cache, &cid);
        let result = match Box::pin(fetch).await {
            Ok(r) => r,
            Err(mut e) => {
                // A declined-scopes error's partial result is bound as a success would be.
                if let Some(scheme) = req.scheme
                    && let Some(partial) = e.take_partial_result()
                {
                    e = match scheme.bind(partial) {
                        Ok(bound) => e.with_partial_result(bound),
                        Err(bind_error) => bind_error,
                    };
                }
                return Err(e.with_correlation_id(&cid));
            }
        };
        // After single-flight: each caller signs its own proof-of-possession request.
        bind(req.scheme, result)
    }

    /// The request's hit as remembered (see `hit_memo.rs`), if the same request was served
    /// from the cache in this second and nothing was written to the cache since: what
    /// [`execute`](Self::execute) would answer, without reading the cache. For flows whose
    /// [`Steps::check`] has nothing to check; they call it before `execute`, outside of its
    /// future (a hit then moves no request state).
    pub(crate) fn remembered(&self, req: &Request<'_>) -> Option<AuthenticationResult> {
        if req.force_refresh || req.claims.skip_cache() || !req.extra_query.is_empty() {
            return None;
        }
        let (tenant, index) = self.memo_of(req, req.scopes.as_ref().ok()?)?;
        let now = now_unix();
        // Never past `refresh_on` (not remembered then): the pipeline starts the background
        // refresh of such a hit.
        let hit = tenant.hits.get(index, self.cache.generation(), now)?;
        let cid = correlation_id(req.correlation_id);
        tracing::debug!(correlation_id = %cid, flow = req.flow, "cache hit");
        self.telemetry.hit();
        Some(remembered_result(hit, cid))
    }

    /// Where a hit of the request is remembered: its tenant's entry and its scope list's
    /// index, for an app token request (bearer, no on-behalf-of partition) of a resolved
    /// tenant with an interned scope list, on a cache answered from memory.
    fn memo_of<'r>(
        &self,
        req: &Request<'r>,
        scopes: &ScopeSet,
    ) -> Option<(&'r TenantEntry, usize)> {
        let q = req.cache.as_ref()?;
        if q.home_account_id.is_some()
            || req.user_assertion_hash.is_some()
            || req.scheme.is_some()
            || !self.cache.answers_from_memory()
        {
            return None;
        }
        Some((req.known_tenant?, scopes.interned_index()?))
    }

    /// The request to the identity provider: its authority, single-flight, the flow's steps
    /// and completion.
    async fn fetch<S: Steps>(
        &self,
        req: &Request<'_>,
        steps: S,
        scopes: &ScopeSet,
        claims: Option<&str>,
        use_cache: bool,
        cid: &str,
    ) -> Result<AuthenticationResult, Error> {
        let resolved = self.tenant_authority(req.tenant, cid).await?;
        let scope = scope_parameter(req, scopes);
        let extra_query = super::extra_query::merge(&self.extra_query, req.extra_query);
        let cx = Context {
            core: self,
            correlation_id: cid,
            scope: &scope,
            claims,
            authority: &resolved,
            extra_query: &extra_query,
            req,
        };
        let cx = &cx;
        let fetch = move || async move {
            // A flight that finished just before this one began has filled the cache.
            if use_cache
                && let Some(q) = &req.cache
                && let Some(hit) = self
                    .cached(req, q, scopes, &cx.metadata().aliases, now_unix())
                    .await?
            {
                self.telemetry.hit();
                return Ok(hit.into_result(cid.to_owned()));
            }
            let resp = steps.token(cx).await?;
            self.complete(
                resp,
                Completion {
                    metadata: cx.metadata(),
                    tenant: cx.authority.authority.tenant(),
                    requested: scopes,
                    correlation_id: cid,
                    user_flow: req.user_flow,
                    user_assertion_hash: req.user_assertion_hash,
                    accept_partial: req.accept_partial,
                    scheme: req.scheme,
                },
            )
            .await
        };
        if req.single_flight {
            let key = flight_key(self, req, resolved.authority.url().as_str(), &scope, claims);
            self.single_flight(key, fetch).await
        } else {
            fetch().await
        }
    }

    /// A cached token for the request, with the account and id token claims of a user's.
    /// [`execute`](Self::execute) has the same steps written out, for the hit path.
    async fn cached(
        &self,
        req: &Request<'_>,
        q: &CacheQuery<'_>,
        scopes: &ScopeSet,
        aliases: &[String],
        now: i64,
    ) -> Result<Option<Hit>, Error> {
        let query = self.access_token_query(req, q, scopes, aliases, now);
        let mut found = self.cache.find_access_token(&query).await?;
        if found.is_none() {
            found = Box::pin(self.find_in_short_forms(&query, scopes)).await?;
        }
        Ok(match (found, q.home_account_id) {
            (None, _) => None,
            (Some(at), None) => Some(Hit::app(at)),
            (Some(at), Some(home)) => {
                Some(Box::pin(self.user_hit(at, home, q.account, aliases)).await?)
            }
        })
    }

    fn access_token_query<'q>(
        &'q self,
        req: &Request<'q>,
        q: &CacheQuery<'q>,
        scopes: &'q ScopeSet,
        aliases: &'q [String],
        now: i64,
    ) -> AccessTokenQuery<'q> {
        AccessTokenQuery {
            client_id: &self.client_id,
            environments: aliases,
            realm: q.realm,
            scopes,
            scope_bloom: scopes.bloom(),
            partition: None,
            home_account_id: q.home_account_id,
            user_assertion_hash: req.user_assertion_hash,
            bound: req.scheme.map(|s| BoundKey {
                token_type: s.token_type(),
                key_id: s.key_id(),
            }),
            now,
        }
    }

    /// After a miss: the token endpoint answers Graph scopes in their short form and the
    /// cache keeps what it answered, so the query is retried with short forms.
    async fn find_in_short_forms(
        &self,
        query: &AccessTokenQuery<'_>,
        scopes: &ScopeSet,
    ) -> Result<Option<CachedAccessToken>, Error> {
        let Some(short) = scopes.short_forms() else {
            return Ok(None);
        };
        let query = AccessTokenQuery {
            scopes: short,
            scope_bloom: None,
            ..*query
        };
        self.cache.find_access_token(&query).await
    }

    /// A cached user token with its account (the one given, else the cached one) and the
    /// claims of its id token.
    async fn user_hit(
        &self,
        at: CachedAccessToken,
        home: &str,
        account: Option<&Account>,
        aliases: &[String],
    ) -> Result<Hit, Error> {
        let account = match account {
            Some(a) => Some(a.clone()),
            None => self.cache.find_account(home, aliases).await?,
        };
        let id_token_claims = self
            .cache
            .id_token_claims(home, aliases, &self.client_id, &at.realm)
            .await?;
        Ok(Hit {
            at,
            account,
            id_token_claims,
        })
    }

    /// Starts a background refresh of a request whose cached token is past `refresh_on`
    /// (at most one per request every 30 seconds, see `flight.rs`). The caller is answered
    /// from the cache meanwhile; if the refresh fails, the cached token stays in use while
    /// it is valid.
    fn refresh_behind(&self, req: &Request<'_>, steps: &impl Steps, scopes: &ScopeSet) {
        // Keyed by the tenant as named, which stands for its authority: no lookup needed.
        let scope = scope_parameter(req, scopes);
        let tenant = req.tenant.unwrap_or("/");
        if !self.start_background_refresh(flight_key(self, req, tenant, &scope, None)) {
            return;
        }
        if let Some(job) = steps.refresh_in_background() {
            let flow = req.flow;
            let pii = self.pii_logging;
            // Without a Tokio runtime there is nothing to run it on: the token is still valid,
            // and a later call past refresh_on tries again.
            crate::runtime::spawn_detached(async move {
                if let Err(e) = job.await {
                    tracing::warn!(flow, error = %crate::pii::pii_error(&e, pii), "background refresh failed; the cached token stays in use");
                }
            });
        }
    }
}
