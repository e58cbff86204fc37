//! What a successful acquire call returns.
//!
//! A result served from the cache shares what the cache holds (the token text, its scopes,
//! its tenant) rather than copying it: [`SharedStr`] and [`Scopes`] are reference-counted, so
//! a cache hit allocates nothing for them.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::account::Account;
use crate::secret::{AccessToken, TokenParts};

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

/// An immutable string shared by reference count (a clone copies no text). It derefs to
/// `&str` and compares with `str`, `&str` and `String`.
#[derive(Clone)]
pub struct SharedStr(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
    /// The tenant of a cached token.
    Realm(Arc<TokenParts>),
    /// The token type of a cached token (not `Bearer`).
    TokenType(Arc<TokenParts>),
}

impl SharedStr {
    /// A string that lives for the whole program (no allocation).
    pub const fn from_static(s: &'static str) -> Self {
        SharedStr(Repr::Static(s))
    }

    /// The tenant of a cached token, shared with it.
    pub(crate) fn realm_of(parts: &Arc<TokenParts>) -> Self {
        SharedStr(Repr::Realm(Arc::clone(parts)))
    }

    /// The token type of a cached token, shared with it.
    pub(crate) fn token_type_of(parts: &Arc<TokenParts>) -> Self {
        match parts.token_type {
            None => SharedStr::from_static("Bearer"),
            Some(_) => SharedStr(Repr::TokenType(Arc::clone(parts))),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
            Repr::Realm(p) => &p.realm,
            Repr::TokenType(p) => p.token_type.as_deref().unwrap_or("Bearer"),
        }
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        SharedStr(Repr::Shared(Arc::from(s)))
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr(Repr::Shared(Arc::from(s)))
    }
}

impl From<SharedStr> for String {
    fn from(s: SharedStr) -> Self {
        s.as_str().to_owned()
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedStr {}

impl std::hash::Hash for SharedStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl serde::Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A list of scopes shared by reference count (a clone copies nothing). It derefs to
/// `&[String]` and compares with vectors, arrays and slices of `String` or `&str`.
#[derive(Clone)]
pub struct Scopes(ScopesRepr);

#[derive(Clone)]
enum ScopesRepr {
    Own(Arc<[String]>),
    /// The scopes of a cached token.
    Cached(Arc<TokenParts>),
}

impl Scopes {
    /// The scopes of a cached token, shared with it.
    pub(crate) fn of(parts: &Arc<TokenParts>) -> Self {
        Scopes(ScopesRepr::Cached(Arc::clone(parts)))
    }

    /// The scopes as a slice.
    pub fn as_slice(&self) -> &[String] {
        match &self.0 {
            ScopesRepr::Own(s) => s,
            ScopesRepr::Cached(p) => &p.scopes,
        }
    }
}

impl Deref for Scopes {
    type Target = [String];
    fn deref(&self) -> &[String] {
        self.as_slice()
    }
}

impl AsRef<[String]> for Scopes {
    fn as_ref(&self) -> &[String] {
        self.as_slice()
    }
}

impl PartialEq for Scopes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Scopes {}

impl std::hash::Hash for Scopes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl From<Vec<String>> for Scopes {
    fn from(v: Vec<String>) -> Self {
        Scopes(ScopesRepr::Own(Arc::from(v)))
    }
}

impl From<Scopes> for Vec<String> {
    fn from(s: Scopes) -> Self {
        s.as_slice().to_vec()
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

fn same<A: AsRef<str>>(scopes: &[String], other: &[A]) -> bool {
    scopes.len() == other.len() && scopes.iter().zip(other).all(|(a, b)| a == b.as_ref())
}

impl<A: AsRef<str>> PartialEq<Vec<A>> for Scopes {
    fn eq(&self, other: &Vec<A>) -> bool {
        same(self, other)
    }
}

impl<A: AsRef<str>> PartialEq<[A]> for Scopes {
    fn eq(&self, other: &[A]) -> bool {
        same(self, other)
    }
}

impl<A: AsRef<str>> PartialEq<&[A]> for Scopes {
    fn eq(&self, other: &&[A]) -> bool {
        same(self, other)
    }
}

impl<A: AsRef<str>, const N: usize> PartialEq<[A; N]> for Scopes {
    fn eq(&self, other: &[A; N]) -> bool {
        same(self, other)
    }
}

impl serde::Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.as_slice())
    }
}

/// A token and what is known about it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthenticationResult {
    /// The access token (its `Debug` is redacted).
    pub access_token: AccessToken,
    /// `Bearer`, usually.
    pub token_type: SharedStr,
    /// When the access token expires.
    pub expires_on: OffsetDateTime,
    /// When the access token may still be used if the identity provider is down.
    pub extended_expires_on: Option<OffsetDateTime>,
    /// When the library will refresh the token proactively.
    pub refresh_on: Option<OffsetDateTime>,
    /// The scopes the token is for (as granted).
    pub scopes: Scopes,
    /// The scopes that were asked for and not granted (only when partial grants are accepted).
    pub declined_scopes: Vec<String>,
    /// Cache or identity provider.
    pub source: TokenSource,
    /// The tenant the token was issued in, when known.
    pub tenant_id: Option<SharedStr>,
    /// The correlation id of the request (the `client-request-id` sent), or of the cache lookup.
    pub correlation_id: String,
    /// The user, for user tokens; `None` for app tokens.
    pub account: Option<Account>,
    /// The id token's claims, for user tokens with an id token (not validated: it came from the
    /// token endpoint over TLS).
    pub id_token_claims: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_strings_and_scopes_compare_like_their_contents() {
        let t = SharedStr::from_static("Bearer");
        assert_eq!(t, "Bearer");
        assert_eq!(t, SharedStr::from("Bearer".to_owned()));
        assert_eq!(Some(t.clone()).as_deref(), Some("Bearer"));
        assert_eq!(format!("{t} {t:?}"), "Bearer \"Bearer\"");
        let s = Scopes::from(vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(s, ["a", "b"]);
        assert_eq!(s, vec!["a".to_owned(), "b".to_owned()]);
        assert_ne!(s, ["a"]);
        assert_eq!(s.join(" "), "a b");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"["a","b"]"#);
        assert_eq!(format!("{s:?}"), r#"["a", "b"]"#);
    }
}
