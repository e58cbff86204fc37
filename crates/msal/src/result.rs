//! What a successful acquire call returns.

use time::OffsetDateTime;

use crate::account::Account;
use crate::secret::AccessToken;

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// The token cache: no request was made.
    Cache,
    /// The identity provider.
    IdentityProvider,
}

impl TokenSource {
    /// `cache` or `identity_provider`, as the CLI's JSON says.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Cache => "cache",
            TokenSource::IdentityProvider => "identity_provider",
        }
    }
}

/// A token and what is known about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthenticationResult {
    /// The access token (its `Debug` is redacted).
    pub access_token: AccessToken,
    /// `Bearer`, usually.
    pub token_type: String,
    /// When the access token expires.
    pub expires_on: OffsetDateTime,
    /// When the access token may still be used if the identity provider is down.
    pub extended_expires_on: Option<OffsetDateTime>,
    /// When the library will refresh the token proactively.
    pub refresh_on: Option<OffsetDateTime>,
    /// The scopes the token is for (as granted).
    pub scopes: Vec<String>,
    /// The scopes that were asked for and not granted (only when partial grants are accepted).
    pub declined_scopes: Vec<String>,
    /// Cache or identity provider.
    pub source: TokenSource,
    /// The tenant the token was issued in, when known.
    pub tenant_id: Option<String>,
    /// The correlation id of the request (the `client-request-id` sent), or of the cache lookup.
    pub correlation_id: String,
    /// The user, for user tokens; `None` for app tokens.
    pub account: Option<Account>,
    /// The id token's claims, for user tokens with an id token (not validated: it came from the
    /// token endpoint over TLS).
    pub id_token_claims: Option<serde_json::Value>,
}
