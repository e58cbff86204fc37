//! What the application layer asks the cache and gets back: the write of a token response, an
//! access-token lookup, and the cached tokens a lookup answers with.

use std::sync::Arc;

use super::key::BoundKey;
use super::schema::AtEntry;
use crate::account::Account;
use crate::result::{Scopes, SharedStr};
use crate::secret::{AccessToken, RefreshToken, TokenParts};

/// What a token answer's cache write returns: the account of a user's answer, and the shared
/// parts of the access token written (see [`TokenParts`]).
pub(crate) struct Saved {
    pub account: Option<Account>,
    pub parts: Option<Arc<TokenParts>>,
}

/// What a token response writes to the cache.
pub(crate) struct CacheWrite<'a> {
    /// The app's client id.
    pub client_id: &'a str,
    /// The cloud instance host (e.g. `login.microsoftonline.com`).
    pub environment: &'a str,
    /// The tenant of the tokens.
    pub realm: &'a str,
    /// The granted scopes.
    pub scopes: &'a [String],
    /// The access token, if the response has one.
    pub access_token: Option<&'a str>,
    /// `Bearer`, usually.
    pub token_type: &'a str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Seconds until the access token's extended expiry (defaults to `expires_in`).
    pub ext_expires_in: Option<u64>,
    /// Seconds until the access token should be refreshed proactively.
    pub refresh_in: Option<u64>,
    /// The refresh token, if any.
    pub refresh_token: Option<&'a str>,
    /// The response's `foci` (family id), for family refresh tokens.
    pub family_id: Option<&'a str>,
    /// The raw id token, if any.
    pub id_token: Option<&'a str>,
    /// The id token's claims, if any.
    pub id_token_claims: Option<&'a serde_json::Value>,
    /// `<uid>.<utid>` for user tokens; `None` for app tokens.
    pub home_account_id: Option<&'a str>,
    /// The hash of the incoming assertion, for on-behalf-of tokens.
    pub user_assertion_hash: Option<&'a str>,
    /// The key id a bound token (proof-of-possession, SSH certificate) is bound to.
    pub key_id: Option<&'a str>,
    /// The current Unix time in seconds.
    pub now: i64,
}

/// What an access-token lookup asks for.
pub(crate) struct AccessTokenQuery<'a> {
    /// The app's client id.
    pub client_id: &'a str,
    /// The cloud instance host and its aliases.
    pub environments: &'a [String],
    /// The tenant.
    pub realm: &'a str,
    /// The requested scopes (`offline_access`, `openid`, `profile` are ignored).
    pub scopes: &'a [String],
    /// The Bloom filter of `scopes` ([`super::key::request_bloom`]), computed once when the
    /// scopes were normalised; `None`: computed by the lookup.
    pub scope_bloom: Option<u64>,
    /// The hash of the partition `("", client_id, realm)` of app tokens, computed once when
    /// the tenant was resolved; `None`: hashed by the lookup.
    pub partition: Option<u64>,
    /// The account; `None` for app tokens.
    pub home_account_id: Option<&'a str>,
    /// The hash of the incoming assertion, for on-behalf-of tokens.
    pub user_assertion_hash: Option<&'a str>,
    /// The bound token asked for; `None`: a bearer token.
    pub bound: Option<BoundKey<'a>>,
    /// The current Unix time in seconds.
    pub now: i64,
}

/// A cached access token: what its result reports, shared with the cache (no copies).
#[derive(Debug, Clone)]
pub(crate) struct CachedAccessToken {
    /// The token.
    pub secret: AccessToken,
    /// `Bearer`, usually.
    pub token_type: SharedStr,
    /// Expiry, Unix seconds.
    pub expires_on: i64,
    /// Extended expiry, Unix seconds.
    pub extended_expires_on: Option<i64>,
    /// When to refresh proactively, Unix seconds.
    pub refresh_on: Option<i64>,
    /// The scopes of the token, as cached.
    pub scopes: Scopes,
    /// The tenant of the token.
    pub realm: SharedStr,
    /// The account the token was issued to (`<uid>.<utid>`); `None` for app tokens. The cache
    /// checks it against the query before it serves the token (see [`Self::is_for`]).
    pub home_account_id: Option<String>,
}

impl CachedAccessToken {
    /// Whether the token was issued to `home_account_id` (`None` or empty: to the app itself),
    /// ASCII case-insensitively as cache keys compare. The index already checks each entry of
    /// the partition it answers from (partitions may share a hash); this is the last check
    /// before a token leaves the cache, so that no lookup bug hands one account's token to
    /// another account or to the app.
    pub(crate) fn is_for(&self, home_account_id: Option<&str>) -> bool {
        let asked = home_account_id.unwrap_or("");
        self.home_account_id
            .as_deref()
            .unwrap_or("")
            .eq_ignore_ascii_case(asked)
    }
}

/// A cached refresh token.
#[derive(Debug, Clone)]
pub(crate) struct CachedRefreshToken {
    /// The token.
    pub secret: RefreshToken,
    /// The family (FOCI) id, for family refresh tokens.
    pub family_id: Option<String>,
    /// The client id of the app it was issued to.
    pub client_id: String,
}

pub(super) fn cached_access_token(e: &AtEntry) -> CachedAccessToken {
    CachedAccessToken {
        secret: AccessToken::cached(Arc::clone(&e.parts)),
        token_type: SharedStr::token_type_of(&e.parts),
        expires_on: e.expires_on,
        extended_expires_on: e.extended_expires_on,
        refresh_on: e.refresh_on,
        scopes: Scopes::of(&e.parts),
        realm: SharedStr::realm_of(&e.parts),
        home_account_id: e.home_account_id().map(str::to_owned),
    }
}
