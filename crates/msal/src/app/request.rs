//! A token request as a flow describes it: its name and identity, its claims, where its
//! cached tokens are, and its result policy. The pipeline runs it
//! ([`AppCore::execute`](super::AppCore::execute), in `pipeline.rs`).

use super::{ScopeSet, TenantEntry};
use crate::account::Account;
use crate::error::Error;
use crate::pop::AuthScheme;

/// The claims of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Claims<'a> {
    /// The caller's claims, if any, to merge with the app's client capabilities.
    Caller(Option<&'a str>),
    /// Claims merged already (those an auth code flow was started with).
    Merged(Option<&'a str>),
}

impl Claims<'_> {
    /// Whether the claims ask for a fresh token: any that the caller sent.
    pub(super) fn skip_cache(self) -> bool {
        match self {
            Claims::Caller(c) => c.is_some_and(|c| !c.trim().is_empty()),
            Claims::Merged(c) => c.is_some(),
        }
    }
}

/// Where the cached tokens of a request are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheQuery<'a> {
    /// The tenant the tokens are cached under.
    pub realm: &'a str,
    /// The user's home account id; `None` for app tokens.
    pub home_account_id: Option<&'a str>,
    /// The account to report with a cached user token; `None`: found by `home_account_id`.
    pub account: Option<&'a Account>,
}

/// A token request as a flow describes it; [`AppCore::execute`](super::AppCore::execute) runs
/// it.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// The flow's name: in logs, and in the request's identity (throttling, single-flight).
    pub flow: &'static str,
    /// The caller's correlation id; `None`: a fresh one.
    pub correlation_id: Option<&'a str>,
    /// The normalised scopes, or why they are not.
    pub scopes: &'a Result<ScopeSet, Error>,
    pub claims: Claims<'a>,
    /// A per-request tenant instead of the application's.
    pub tenant: Option<&'a str>,
    /// The request's tenant (`tenant`, or the app's own) when it is resolved already, for
    /// app tokens cached under its realm: a hit then looks up no tenant and hashes no
    /// partition.
    pub known_tenant: Option<&'a TenantEntry>,
    /// Where a cached token may be found; `None`: the request is never served from the cache.
    pub cache: Option<CacheQuery<'a>>,
    /// Whether concurrent identical calls share one request to the identity provider.
    pub single_flight: bool,
    /// What identifies the request besides the flow, the app, the authority and the scopes
    /// (the account, a hash of the assertion or password): part of its throttling and
    /// single-flight keys.
    pub identity: &'a [&'a str],
    /// The on-behalf-of partition the tokens are cached in (and looked up in).
    pub user_assertion_hash: Option<&'a str>,
    /// Skips cached access tokens.
    pub force_refresh: bool,
    /// Accepts an answer that grants fewer scopes than asked for.
    pub accept_partial: bool,
    /// A user's tokens (id token, refresh token, account) rather than the app's own.
    pub user_flow: bool,
    /// The grant needs the app's credential.
    pub credential_required: bool,
    /// A silent request: throttled after a `UiRequired` answer too.
    pub silent: bool,
    /// The request's own extra query parameters (the app's are added).
    pub extra_query: &'a [(String, String)],
    /// Goes to the app's regional endpoint when it has one: app tokens of the client
    /// credentials grant only, as in every MSAL (see `region.rs`).
    pub regional: bool,
    /// A token bound to a key (proof-of-possession, SSH certificate) instead of a bearer token.
    pub scheme: Option<&'a AuthScheme>,
}

impl<'a> Request<'a> {
    /// A request for a token of the application itself, with the defaults: not cached, not
    /// shared, the credential required, partial grants accepted.
    pub(crate) fn app(flow: &'static str, scopes: &'a Result<ScopeSet, Error>) -> Self {
        Request {
            flow,
            correlation_id: None,
            scopes,
            claims: Claims::Caller(None),
            tenant: None,
            known_tenant: None,
            cache: None,
            single_flight: false,
            identity: &[],
            user_assertion_hash: None,
            force_refresh: false,
            accept_partial: true,
            user_flow: false,
            credential_required: true,
            silent: false,
            extra_query: &[],
            regional: false,
            scheme: None,
        }
    }

    /// A request for a user's tokens, with the defaults: not cached, not shared, no
    /// credential required (one is sent when the app has it), partial grants refused.
    pub(crate) fn user(flow: &'static str, scopes: &'a Result<ScopeSet, Error>) -> Self {
        Request {
            accept_partial: false,
            user_flow: true,
            credential_required: false,
            ..Request::app(flow, scopes)
        }
    }
}
