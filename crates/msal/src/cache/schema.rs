//! MSAL's unified cache schema: the typed view the library reads from each entry, and the
//! entries it writes, field for field as MSAL Python writes them.
//!
//! Every entry is kept as the JSON object it was read from (or written as), so fields this
//! library does not know, written by another MSAL, survive a round trip untouched. The typed
//! view is parsed from that object; a field of the wrong type is a `cache_corrupt` error.
//!
//! Times are strings of integer seconds since the Unix epoch (`"1700000000"`), as the schema
//! says; plain JSON integers are accepted on read.

use serde_json::{Map, Value};

use super::key;
use crate::account::Account;
use crate::error::{Error, codes};
use std::sync::Arc;

use secrecy::SecretString;

use crate::secret::{RefreshToken, TokenParts};

/// A cache entry as stored: a JSON object.
pub(crate) type Raw = Map<String, Value>;

/// An access token, laid out for the lookup hot path: its strings share one buffer, so a
/// lookup reads few cache lines. Comparisons are ASCII case-insensitive.
#[derive(Debug)]
pub(crate) struct AtEntry {
    /// Its key in the `AccessToken` section.
    pub key: String,
    /// `environment`, `client_id`, `realm`, `home_account_id` (empty for app tokens),
    /// `target`, `token_type`, `user_assertion_hash` (empty when absent), the key id of a
    /// bound token (`kid`, else `key_id`; empty when absent), concatenated.
    text: Box<str>,
    /// Where each part of `text` ends.
    ends: [usize; 8],
    /// The Bloom filter of the scopes (see [`key::scope_bloom`]).
    pub scope_bloom: u64,
    /// The token, its tenant, scopes and token type as a result reports them, in one
    /// allocation shared with the results that serve the token: a cache hit copies none of
    /// them and touches one reference count.
    pub parts: Arc<TokenParts>,
    pub expires_on: i64,
    pub extended_expires_on: Option<i64>,
    pub refresh_on: Option<i64>,
    /// When the token was cached; kept only to write the entry back (see [`AtEntry::render`]).
    cached_at: Option<i64>,
}

/// The times of an access token, Unix seconds.
struct Times {
    expires_on: i64,
    extended_expires_on: Option<i64>,
    refresh_on: Option<i64>,
    cached_at: Option<i64>,
}

/// A refresh token.
pub(crate) struct RtEntry {
    pub home_account_id: String,
    pub environment: String,
    pub client_id: String,
    /// `None` when absent or empty: not a family refresh token.
    pub family_id: Option<String>,
    pub secret: RefreshToken,
    pub last_modification_time: Option<i64>,
    /// The on-behalf-of session the token belongs to (`user_assertion_hash`, as MSAL .NET
    /// writes it); `None`: the user's own refresh token.
    pub user_assertion_hash: Option<String>,
}

/// An id token.
pub(crate) struct IdTokenEntry {
    pub home_account_id: String,
    pub environment: String,
    pub client_id: String,
    pub realm: String,
    pub secret: String,
}

/// An account.
pub(crate) struct AccountEntry {
    pub account: Account,
}

/// An app's metadata.
pub(crate) struct AppMetadataEntry {
    pub environment: String,
    pub client_id: String,
    /// `None` when absent or empty: the app was not seen in a family.
    pub family_id: Option<String>,
}

/// Reads the fields of one entry, naming the section, key and field in errors (never a
/// value: values can be secrets).
struct Fields<'a> {
    section: &'static str,
    key: &'a str,
    raw: &'a Raw,
}

impl<'a> Fields<'a> {
    fn err(&self, field: &str, problem: &str) -> Error {
        Error::client(
            codes::CACHE_CORRUPT,
            format!(
                "the token cache is corrupt: field `{field}` of {} entry {:?} {problem}",
                self.section, self.key
            ),
        )
    }

    fn opt_str(&self, field: &str) -> Result<Option<&'a str>, Error> {
        match self.raw.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(field, "is not a string")),
        }
    }

    /// An optional string where an empty string means absent.
    fn opt_nonempty(&self, field: &str) -> Result<Option<&'a str>, Error> {
        Ok(self.opt_str(field)?.filter(|s| !s.is_empty()))
    }

    fn req_str(&self, field: &str) -> Result<&'a str, Error> {
        self.opt_str(field)?
            .ok_or_else(|| self.err(field, "is missing"))
    }

    fn opt_time(&self, field: &str) -> Result<Option<i64>, Error> {
        match self.raw.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.err(field, "is not an integer number of seconds")),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(field, "is not an integer number of seconds")),
            Some(_) => Err(self.err(field, "is not a time (a string of seconds)")),
        }
    }

    fn req_time(&self, field: &str) -> Result<i64, Error> {
        self.opt_time(field)?
            .ok_or_else(|| self.err(field, "is missing"))
    }
}

/// The error for a section or entry that is not a JSON object.
pub(crate) fn not_an_object(what: &str) -> Error {
    Error::client(
        codes::CACHE_CORRUPT,
        format!("the token cache is corrupt: {what} is not a JSON object"),
    )
}

impl AtEntry {
    pub(crate) fn parse(key: &str, raw: &Raw) -> Result<Self, Error> {
        let f = Fields {
            section: key::ACCESS_TOKEN,
            key,
            raw,
        };
        let extended_expires_on = match f.opt_time("extended_expires_on")? {
            Some(t) => Some(t),
            // The name older MSAL .NET versions wrote.
            None => f.opt_time("ext_expires_on")?,
        };
        let parts = [
            f.req_str("environment")?,
            f.req_str("client_id")?,
            f.opt_str("realm")?.unwrap_or(""),
            f.opt_str("home_account_id")?.unwrap_or(""),
            f.opt_str("target")?.unwrap_or(""),
            f.opt_nonempty("token_type")?.unwrap_or("Bearer"),
            f.opt_str("user_assertion_hash")?.unwrap_or(""),
            // MSAL .NET writes `kid`; MSAL Python's callers (Azure CLI) store `key_id`.
            match f.opt_nonempty("kid")? {
                Some(k) => k,
                None => f.opt_str("key_id")?.unwrap_or(""),
            },
        ];
        Ok(Self::assemble(
            key.to_owned(),
            parts,
            f.req_str("secret")?,
            Times {
                expires_on: f.req_time("expires_on")?,
                extended_expires_on,
                refresh_on: f.opt_time("refresh_on")?,
                cached_at: f.opt_time("cached_at")?,
            },
        ))
    }

    /// The entry of a token answer this library writes: what [`AtEntry::parse`] makes of
    /// [`access_token`]'s object, without building the object (a cache miss writes one entry;
    /// the object is rendered only when the cache is saved). Checked against `parse` in debug
    /// builds, and by the cache tests.
    pub(crate) fn written(key: String, w: &Written<'_>, at: &AtFields<'_>) -> Self {
        let parts = [
            w.environment,
            w.client_id,
            w.realm,
            w.home_account_id.unwrap_or(""),
            w.target,
            at.token_type(),
            at.user_assertion_hash.unwrap_or(""),
            at.key_id.unwrap_or(""),
        ];
        Self::assemble(key, parts, at.secret, at.times(w.now))
    }

    /// The entry of its parts: `environment`, `client_id`, `realm`, `home_account_id`,
    /// `target`, `token_type`, `user_assertion_hash`, key id (see [`AtEntry::text`]).
    fn assemble(key: String, parts: [&str; 8], secret: &str, times: Times) -> Self {
        let target = parts[4];
        let scope_bloom = target
            .split_ascii_whitespace()
            .fold(0, |b, s| b | key::scope_bloom(s));
        let mut ends = [0; 8];
        let mut end = 0;
        for (e, p) in ends.iter_mut().zip(parts) {
            end += p.len();
            *e = end;
        }
        let shared = Arc::new(TokenParts {
            secret: SecretString::from(secret),
            realm: parts[2].into(),
            scopes: target.split_ascii_whitespace().map(str::to_owned).collect(),
            token_type: (parts[5] != "Bearer").then(|| parts[5].into()),
        });
        AtEntry {
            key,
            text: parts.concat().into_boxed_str(),
            ends,
            scope_bloom,
            parts: shared,
            expires_on: times.expires_on,
            extended_expires_on: times.extended_expires_on,
            refresh_on: times.refresh_on,
            cached_at: times.cached_at,
        }
    }

    /// The entry as [`access_token`] writes it, field for field and in its order. The cache
    /// keeps the JSON object of an entry only when this differs from it (see `index::Rec`).
    pub(crate) fn render(&self) -> Raw {
        use secrecy::ExposeSecret as _;
        let at = |t: i64| Value::String(t.to_string());
        let mut m = Raw::new();
        m.insert("credential_type".into(), s(key::ACCESS_TOKEN));
        m.insert("secret".into(), s(self.parts.secret.expose_secret()));
        m.insert(
            "home_account_id".into(),
            self.home_account_id().map_or(Value::Null, s),
        );
        m.insert("environment".into(), s(self.environment()));
        m.insert("client_id".into(), s(self.client_id()));
        m.insert("target".into(), s(self.target()));
        m.insert("realm".into(), s(self.realm()));
        m.insert("token_type".into(), s(self.part(5)));
        if let Some(t) = self.cached_at {
            m.insert("cached_at".into(), at(t));
        }
        m.insert("expires_on".into(), at(self.expires_on));
        if let Some(t) = self.extended_expires_on {
            m.insert("extended_expires_on".into(), at(t));
        }
        if let Some(t) = self.refresh_on {
            m.insert("refresh_on".into(), at(t));
        }
        if let Some(hash) = self.user_assertion_hash() {
            m.insert("user_assertion_hash".into(), s(hash));
        }
        if let Some(kid) = self.key_id() {
            m.insert("kid".into(), s(kid));
            m.insert("key_id".into(), s(kid));
        }
        m
    }

    fn part(&self, i: usize) -> &str {
        let start = match i.checked_sub(1) {
            Some(prev) => self.ends.get(prev).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or("")
    }

    /// The cloud instance host.
    pub(crate) fn environment(&self) -> &str {
        self.part(0)
    }

    /// The app's client id.
    pub(crate) fn client_id(&self) -> &str {
        self.part(1)
    }

    /// The tenant.
    pub(crate) fn realm(&self) -> &str {
        self.part(2)
    }

    /// The account, `""` for app tokens.
    pub(crate) fn home(&self) -> &str {
        self.part(3)
    }

    /// The account, `None` for app tokens.
    pub(crate) fn home_account_id(&self) -> Option<&str> {
        Some(self.home()).filter(|h| !h.is_empty())
    }

    /// The space-separated scopes.
    pub(crate) fn target(&self) -> &str {
        self.part(4)
    }

    /// The on-behalf-of assertion hash, `None` for other tokens.
    pub(crate) fn user_assertion_hash(&self) -> Option<&str> {
        Some(self.part(6)).filter(|h| !h.is_empty())
    }

    /// The token type (`Bearer` when absent).
    pub(crate) fn token_type(&self) -> &str {
        self.part(5)
    }

    /// The key id a bound token (proof-of-possession, SSH certificate) is bound to.
    pub(crate) fn key_id(&self) -> Option<&str> {
        Some(self.part(7)).filter(|k| !k.is_empty())
    }

    /// Whether the token is of the type and key a lookup asks for: a bearer lookup (`None`)
    /// finds only bearer tokens (a `key_id` on one is ignored, as MSAL Python ignores it); a
    /// bound one only tokens of its type (ASCII case-insensitive) and key id (exactly).
    pub(crate) fn is_bound_as(&self, bound: Option<key::BoundKey<'_>>) -> bool {
        match bound {
            None => self.token_type().eq_ignore_ascii_case("bearer"),
            Some(b) => {
                self.token_type().eq_ignore_ascii_case(b.token_type)
                    && self.key_id() == Some(b.key_id)
            }
        }
    }

    /// Whether the token is in this partition.
    pub(crate) fn is_in(&self, home: &str, client_id: &str, realm: &str) -> bool {
        self.home().eq_ignore_ascii_case(home)
            && self.client_id().eq_ignore_ascii_case(client_id)
            && self.realm().eq_ignore_ascii_case(realm)
    }

    /// Whether the token holds every requested scope (ASCII case-insensitive), ignoring
    /// `offline_access`, `openid` and `profile` in the request. A request of nothing but
    /// those matches no access token.
    pub(crate) fn covers(&self, requested: &[String]) -> bool {
        let mut any = false;
        for scope in requested {
            let scope = scope.trim();
            if scope.is_empty() || key::is_reserved_scope(scope) {
                continue;
            }
            any = true;
            if !self.scopes().any(|s| s.eq_ignore_ascii_case(scope)) {
                return false;
            }
        }
        any
    }

    /// Whether the two tokens share a scope (ASCII case-insensitive).
    pub(crate) fn intersects(&self, other: &AtEntry) -> bool {
        self.scopes()
            .any(|s| other.scopes().any(|o| o.eq_ignore_ascii_case(s)))
    }

    /// The scopes.
    pub(crate) fn scopes(&self) -> impl Iterator<Item = &str> {
        self.target().split_ascii_whitespace()
    }

    /// The scopes a request can find the token by: not reserved, each once (ignoring case).
    pub(crate) fn lookup_scopes(&self) -> impl Iterator<Item = &str> {
        let scopes = || self.scopes().filter(|s| !key::is_reserved_scope(s));
        scopes()
            .enumerate()
            .filter(move |(i, s)| !scopes().take(*i).any(|o| o.eq_ignore_ascii_case(s)))
            .map(|(_, s)| s)
    }
}

impl RtEntry {
    pub(crate) fn parse(key: &str, raw: &Raw) -> Result<Self, Error> {
        let f = Fields {
            section: key::REFRESH_TOKEN,
            key,
            raw,
        };
        Ok(RtEntry {
            home_account_id: f.req_str("home_account_id")?.to_owned(),
            environment: f.req_str("environment")?.to_owned(),
            client_id: f.req_str("client_id")?.to_owned(),
            family_id: f.opt_nonempty("family_id")?.map(str::to_owned),
            secret: RefreshToken::new(f.req_str("secret")?),
            last_modification_time: f.opt_time("last_modification_time")?,
            user_assertion_hash: f.opt_nonempty("user_assertion_hash")?.map(str::to_owned),
        })
    }
}

impl IdTokenEntry {
    pub(crate) fn parse(key: &str, raw: &Raw) -> Result<Self, Error> {
        let f = Fields {
            section: key::ID_TOKEN,
            key,
            raw,
        };
        Ok(IdTokenEntry {
            home_account_id: f.opt_str("home_account_id")?.unwrap_or("").to_owned(),
            environment: f.req_str("environment")?.to_owned(),
            client_id: f.req_str("client_id")?.to_owned(),
            realm: f.opt_str("realm")?.unwrap_or("").to_owned(),
            secret: f.req_str("secret")?.to_owned(),
        })
    }
}

impl AccountEntry {
    pub(crate) fn parse(key: &str, raw: &Raw) -> Result<Self, Error> {
        let f = Fields {
            section: key::ACCOUNT,
            key,
            raw,
        };
        let mut account = Account::new(
            f.req_str("home_account_id")?,
            f.req_str("environment")?,
            f.opt_str("username")?.unwrap_or(""),
            f.opt_str("local_account_id")?.unwrap_or(""),
            f.opt_str("realm")?.unwrap_or(""),
        );
        account.name = f.opt_nonempty("name")?.map(str::to_owned);
        f.opt_str("authority_type")?;
        Ok(AccountEntry { account })
    }
}

impl AppMetadataEntry {
    pub(crate) fn parse(key: &str, raw: &Raw) -> Result<Self, Error> {
        let f = Fields {
            section: key::APP_METADATA,
            key,
            raw,
        };
        Ok(AppMetadataEntry {
            environment: f.req_str("environment")?.to_owned(),
            client_id: f.req_str("client_id")?.to_owned(),
            family_id: f.opt_nonempty("family_id")?.map(str::to_owned),
        })
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn time(now: i64, plus: u64) -> Value {
    Value::String(
        now.saturating_add(i64::try_from(plus).unwrap_or(i64::MAX))
            .to_string(),
    )
}

/// The parts of a token response that the written entries are made of.
pub(crate) struct Written<'a> {
    pub home_account_id: Option<&'a str>,
    pub environment: &'a str,
    pub client_id: &'a str,
    pub realm: &'a str,
    pub target: &'a str,
    pub now: i64,
}

/// The access token of a token answer, as this library writes it.
pub(crate) struct AtFields<'a> {
    pub secret: &'a str,
    /// Empty: `Bearer`.
    pub token_type: &'a str,
    pub expires_in: u64,
    /// `None`: `expires_in`.
    pub ext_expires_in: Option<u64>,
    pub refresh_in: Option<u64>,
    /// Written when not empty.
    pub user_assertion_hash: Option<&'a str>,
    /// The key id of a bound token; written when not empty.
    pub key_id: Option<&'a str>,
}

impl AtFields<'_> {
    fn token_type(&self) -> &str {
        if self.token_type.is_empty() {
            "Bearer"
        } else {
            self.token_type
        }
    }

    /// Its times, the lifetimes counted from `now` (saturating: they are capped already).
    fn times(&self, now: i64) -> Times {
        let at = |plus: u64| now.saturating_add(i64::try_from(plus).unwrap_or(i64::MAX));
        Times {
            expires_on: at(self.expires_in),
            extended_expires_on: Some(at(self.ext_expires_in.unwrap_or(self.expires_in))),
            refresh_on: self.refresh_in.map(at),
            cached_at: Some(now),
        }
    }
}

/// An `AccessToken` entry, as MSAL Python writes it (plus `user_assertion_hash` for
/// on-behalf-of tokens, as MSAL .NET and Go write it, and the key id of a bound token in
/// `kid`, as MSAL .NET writes it, and in `key_id`, as MSAL Python's callers store it).
/// The reference [`AtEntry::written`] is checked against (debug builds and tests).
#[cfg_attr(not(debug_assertions), allow(dead_code))]
pub(crate) fn access_token(w: &Written<'_>, at: &AtFields<'_>) -> Raw {
    let times = at.times(w.now);
    let secs = |t: i64| Value::String(t.to_string());
    let mut m = Raw::new();
    m.insert("credential_type".into(), s(key::ACCESS_TOKEN));
    m.insert("secret".into(), s(at.secret));
    m.insert(
        "home_account_id".into(),
        w.home_account_id.map_or(Value::Null, s),
    );
    m.insert("environment".into(), s(w.environment));
    m.insert("client_id".into(), s(w.client_id));
    m.insert("target".into(), s(w.target));
    m.insert("realm".into(), s(w.realm));
    m.insert("token_type".into(), s(at.token_type()));
    m.insert("cached_at".into(), secs(w.now));
    m.insert("expires_on".into(), secs(times.expires_on));
    if let Some(t) = times.extended_expires_on {
        m.insert("extended_expires_on".into(), secs(t));
    }
    if let Some(t) = times.refresh_on {
        m.insert("refresh_on".into(), secs(t));
    }
    if let Some(hash) = at.user_assertion_hash.filter(|h| !h.is_empty()) {
        m.insert("user_assertion_hash".into(), s(hash));
    }
    if let Some(kid) = at.key_id.filter(|k| !k.is_empty()) {
        m.insert("kid".into(), s(kid));
        m.insert("key_id".into(), s(kid));
    }
    m
}

/// A `RefreshToken` entry, as MSAL Python writes it.
pub(crate) fn refresh_token(
    w: &Written<'_>,
    home_account_id: &str,
    secret: &str,
    family_id: Option<&str>,
    user_assertion_hash: Option<&str>,
) -> Raw {
    let mut m = Raw::new();
    m.insert("credential_type".into(), s(key::REFRESH_TOKEN));
    m.insert("secret".into(), s(secret));
    m.insert("home_account_id".into(), s(home_account_id));
    m.insert("environment".into(), s(w.environment));
    m.insert("client_id".into(), s(w.client_id));
    m.insert("target".into(), s(w.target));
    m.insert("last_modification_time".into(), time(w.now, 0));
    if let Some(family_id) = family_id {
        m.insert("family_id".into(), s(family_id));
    }
    if let Some(hash) = user_assertion_hash {
        m.insert("user_assertion_hash".into(), s(hash));
    }
    m
}

/// An `IdToken` entry, as MSAL Python writes it.
pub(crate) fn id_token(w: &Written<'_>, home_account_id: &str, secret: &str) -> Raw {
    let mut m = Raw::new();
    m.insert("credential_type".into(), s(key::ID_TOKEN));
    m.insert("secret".into(), s(secret));
    m.insert("home_account_id".into(), s(home_account_id));
    m.insert("environment".into(), s(w.environment));
    m.insert("realm".into(), s(w.realm));
    m.insert("client_id".into(), s(w.client_id));
    m
}

/// An `Account` entry, as MSAL Python writes it, plus `name` (a unified-schema field MSAL
/// .NET and MSAL.js write) when the id token has one.
pub(crate) fn account(a: &Account) -> Raw {
    let mut m = Raw::new();
    m.insert("home_account_id".into(), s(&a.home_account_id));
    m.insert("environment".into(), s(&a.environment));
    m.insert("realm".into(), s(&a.realm));
    m.insert("local_account_id".into(), s(&a.local_account_id));
    m.insert("username".into(), s(&a.username));
    let authority_type = if a.realm.eq_ignore_ascii_case("adfs") {
        "ADFS"
    } else {
        "MSSTS"
    };
    m.insert("authority_type".into(), s(authority_type));
    if let Some(name) = &a.name {
        m.insert("name".into(), s(name));
    }
    m
}

/// The account an id token's claims describe: `preferred_username` (else `upn`, else
/// `email`) as username, `oid` (else `sub`) as local account id, `tid` (else `realm`) as realm.
pub(crate) fn account_from_claims(
    home_account_id: &str,
    environment: &str,
    realm: &str,
    claims: &Value,
) -> Account {
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let username = claim("preferred_username")
        .or_else(|| claim("upn"))
        .or_else(|| claim("email"))
        .unwrap_or("");
    let local_account_id = claim("oid").or_else(|| claim("sub")).unwrap_or("");
    let realm = claim("tid").filter(|t| !t.is_empty()).unwrap_or(realm);
    let mut account = Account::new(
        home_account_id,
        environment,
        username,
        local_account_id,
        realm,
    );
    account.name = claim("name").filter(|n| !n.is_empty()).map(str::to_owned);
    account
}

/// An `AppMetadata` entry, as MSAL Python writes it.
pub(crate) fn app_metadata(environment: &str, client_id: &str, family_id: Option<&str>) -> Raw {
    let mut m = Raw::new();
    m.insert("client_id".into(), s(client_id));
    m.insert("environment".into(), s(environment));
    if let Some(family_id) = family_id {
        m.insert("family_id".into(), s(family_id));
    }
    m
}

/// The claims of a JWT's payload, decoded without any validation.
pub(crate) fn jwt_claims(jwt: &str) -> Result<Value, Error> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let corrupt = |what: &str| {
        Error::client(
            codes::CACHE_CORRUPT,
            format!("the token cache is corrupt: a cached id token {what}"),
        )
    };
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| corrupt("is not a JWT"))?;
    let bytes = URL_SAFE_ANY_PADDING
        .decode(payload)
        .map_err(|e| corrupt("payload is not base64url").with_source(e))?;
    let claims: Value = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt("payload is not JSON").with_source(e))?;
    if claims.is_object() {
        Ok(claims)
    } else {
        Err(corrupt("payload is not a JSON object"))
    }
}
