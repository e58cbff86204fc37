//! Claims requests and claims challenges.
//!
//! - [`merge_claims`] builds the `claims` parameter of a token request from the claims the
//!   caller asks for (e.g. a claims challenge) and the application's client capabilities, as
//!   MSAL does.
//! - [`parse_www_authenticate`] parses `WWW-Authenticate` headers (RFC 9110 §11.6.1), and
//!   [`claims_challenge_from_header`] / [`claims_challenge_from_response`] extract the claims
//!   challenge of a protected API that answered `401` with `error="insufficient_claims"`
//!   (Continuous Access Evaluation, Conditional Access authentication context).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use crate::error::{Error, codes};

/// Merges a claims request with the application's client capabilities, as MSAL .NET's
/// `ClaimsHelper` and MSAL Python do.
///
/// The capabilities become `{"access_token":{"xms_cc":{"values":[...]}}}`; the claims (a JSON
/// object) are deep-merged into that: objects are merged member by member, arrays are unioned,
/// any other value of the claims replaces the capability's, and a `null` never replaces a
/// value. Without capabilities the claims are returned unchanged; without either, `None`.
/// Empty or blank claims count as no claims.
///
/// ```
/// let merged = msal::claims::merge_claims(
///     Some(r#"{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}"#),
///     &["cp1".to_owned()],
/// )
/// .unwrap();
/// assert_eq!(
///     merged.as_deref(),
///     Some(r#"{"access_token":{"xms_cc":{"values":["cp1"]},"nbf":{"essential":true,"value":"1604106651"}}}"#)
/// );
/// ```
///
/// # Errors
///
/// A `Client` error `invalid_claims` when the claims are not a JSON object.
pub fn merge_claims(
    claims: Option<&str>,
    client_capabilities: &[String],
) -> Result<Option<String>, Error> {
    let claims = claims.filter(|c| !c.trim().is_empty());
    let parsed = match claims {
        Some(c) => Some(parse_claims_object(c)?),
        None => None,
    };
    if client_capabilities.is_empty() {
        return Ok(claims.map(str::to_owned));
    }
    let values = client_capabilities
        .iter()
        .map(|c| Value::String(c.clone()))
        .collect();
    let mut xms_cc = Map::new();
    xms_cc.insert("values".into(), Value::Array(values));
    let mut access_token = Map::new();
    access_token.insert("xms_cc".into(), Value::Object(xms_cc));
    let mut merged = Map::new();
    merged.insert("access_token".into(), Value::Object(access_token));
    if let Some(claims) = parsed {
        merge_object(&mut merged, claims);
    }
    serde_json::to_string(&Value::Object(merged))
        .map(Some)
        .map_err(|e| Error::client(codes::INVALID_CLAIMS, format!("cannot write claims: {e}")))
}

fn parse_claims_object(claims: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str::<Value>(claims) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::client(
            codes::INVALID_CLAIMS,
            "the claims request must be a JSON object, e.g. {\"access_token\":{...}}",
        )),
        Err(e) => Err(Error::client(
            codes::INVALID_CLAIMS,
            format!("the claims request is not valid JSON: {e}"),
        )),
    }
}

/// Merges `source` into `target` (Json.NET's `Merge` with array union).
fn merge_object(target: &mut Map<String, Value>, source: Map<String, Value>) {
    for (key, value) in source {
        match target.get_mut(&key) {
            Some(existing) => merge_value(existing, value),
            None => {
                target.insert(key, value);
            }
        }
    }
}

fn merge_value(existing: &mut Value, incoming: Value) {
    match (existing, incoming) {
        (Value::Object(a), Value::Object(b)) => merge_object(a, b),
        (Value::Array(a), Value::Array(b)) => {
            for item in b {
                if !a.contains(&item) {
                    a.push(item);
                }
            }
        }
        (_, Value::Null) => {}
        (slot, value) => *slot = value,
    }
}

/// One challenge of a `WWW-Authenticate` header.
///
/// Parameter names are lower-cased (they are case-insensitive); values are unquoted and
/// unescaped. A token68 credential (`Negotiate YII...==`) is stored under the empty key and
/// read with [`WwwAuthenticate::token68`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WwwAuthenticate {
    /// The authentication scheme as sent (`Bearer`, `PoP`, `Basic`...); compare it
    /// case-insensitively, e.g. with [`WwwAuthenticate::is_scheme`].
    pub scheme: String,
    /// The parameters, by lower-case name.
    pub params: BTreeMap<String, String>,
}

impl WwwAuthenticate {
    /// Whether the scheme is `scheme`, ignoring case.
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// A parameter by name, ignoring case.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The token68 credential of the challenge, if it has one instead of parameters.
    pub fn token68(&self) -> Option<&str> {
        self.params.get("").map(String::as_str)
    }
}

/// Parses a `WWW-Authenticate` header value: one or more comma-separated challenges, each a
/// scheme followed by a token68 or by `name=value` parameters (values are tokens or quoted
/// strings with `\` escapes; commas inside quotes are part of the value).
///
/// Lenient where servers are sloppy: a parameter with an empty value, an unquoted value with
/// `/`, `+` or `=` (base64), parameters separated by spaces only. When a parameter repeats,
/// the first one counts. An empty header is no challenge.
///
/// ```
/// let c = msal::claims::parse_www_authenticate(
///     r#"Bearer realm="", error="insufficient_claims", claims="e30=", Basic realm="x, y""#,
/// )
/// .unwrap();
/// assert_eq!(c.len(), 2);
/// assert_eq!(c[0].param("error"), Some("insufficient_claims"));
/// assert_eq!(c[1].param("realm"), Some("x, y"));
/// ```
///
/// # Errors
///
/// A `Client` error `invalid_argument` when the value is not a list of challenges (e.g. it
/// starts with `=`, or a quoted string is not closed).
pub fn parse_www_authenticate(value: &str) -> Result<Vec<WwwAuthenticate>, Error> {
    Parser {
        s: value,
        b: value.as_bytes(),
        i: 0,
    }
    .challenges()
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

impl Parser<'_> {
    fn error(&self, what: &str) -> Error {
        Error::client(
            codes::INVALID_ARGUMENT,
            format!(
                "malformed WWW-Authenticate header at byte {}: {what}",
                self.i
            ),
        )
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eof(&self) -> bool {
        self.i >= self.b.len()
    }

    /// Skips spaces and tabs; whether there were any.
    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    /// A run of bytes matching `pred` (ASCII only, so the slice is on char boundaries).
    fn run(&mut self, pred: impl Fn(u8) -> bool) -> &str {
        let start = self.i;
        while self.peek().is_some_and(&pred) {
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default()
    }

    fn token(&mut self) -> Option<String> {
        let t = self.run(is_tchar);
        (!t.is_empty()).then(|| t.to_owned())
    }

    /// A token68 followed by the end, or by a comma and then something other than a
    /// parameter (the next challenge); restores the position when there is none.
    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        let body_len = self.run(is_token68_char).len();
        self.run(|c| c == b'=');
        let end = self.i;
        self.skip_ws();
        let followed_well = if self.eof() {
            true
        } else if self.peek() == Some(b',') {
            let comma = self.i;
            self.skip_ws_and_commas();
            let next_is_param = self.at_param();
            self.i = comma;
            !next_is_param
        } else {
            false
        };
        if body_len > 0 && followed_well {
            return self.s.get(start..end).map(str::to_owned);
        }
        self.i = start;
        None
    }

    /// A quoted string starting at the current `"`, unescaped.
    fn quoted(&mut self) -> Result<String, Error> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("a quoted string is not closed")),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) => {
                            out.push(c);
                            self.i += 1;
                        }
                        None => return Err(self.error("a quoted string ends with `\\`")),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Whether a parameter (`name` BWS `=`) starts at the current position.
    fn at_param(&mut self) -> bool {
        let start = self.i;
        let is_param = !self.run(is_tchar).is_empty() && {
            self.skip_ws();
            self.peek() == Some(b'=')
        };
        self.i = start;
        is_param
    }

    fn challenges(mut self) -> Result<Vec<WwwAuthenticate>, Error> {
        let mut out = Vec::new();
        loop {
            self.skip_ws_and_commas();
            if self.eof() {
                break;
            }
            let Some(scheme) = self.token() else {
                return Err(self.error("expected an authentication scheme"));
            };
            let mut challenge = WwwAuthenticate {
                scheme,
                params: BTreeMap::new(),
            };
            let spaced = self.skip_ws();
            if self.eof() || self.peek() == Some(b',') {
                out.push(challenge);
                continue;
            }
            if !spaced {
                return Err(self.error("expected a space after the authentication scheme"));
            }
            if let Some(t) = self.token68() {
                challenge.params.insert(String::new(), t);
                out.push(challenge);
                continue;
            }
            self.params(&mut challenge)?;
            out.push(challenge);
        }
        Ok(out)
    }

    /// The parameters of a challenge, up to the end or the next challenge's scheme.
    fn params(&mut self, challenge: &mut WwwAuthenticate) -> Result<(), Error> {
        loop {
            if !self.at_param() {
                return Err(self.error("expected a parameter `name=value`"));
            }
            let name = self.token().unwrap_or_default().to_ascii_lowercase();
            self.skip_ws();
            self.i += 1; // the `=`
            self.skip_ws();
            let value = if self.peek() == Some(b'"') {
                self.quoted()?
            } else {
                self.run(|c| !matches!(c, b',' | b' ' | b'\t' | b'"'))
                    .to_owned()
            };
            challenge.params.entry(name).or_insert(value);
            self.skip_ws();
            if self.eof() {
                return Ok(());
            }
            if self.peek() == Some(b',') {
                self.skip_ws_and_commas();
                if self.eof() || !self.at_param() {
                    // The end, or the scheme of the next challenge.
                    return Ok(());
                }
            } else if !self.at_param() {
                return Err(self.error("expected `,` between parameters"));
            }
        }
    }
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// The claims challenge in a `WWW-Authenticate` header value: the `claims` of a `Bearer`
/// challenge with `error="insufficient_claims"`, base64-decoded (standard or URL-safe
/// alphabet, padded or not) when that gives a JSON object, else as sent.
///
/// `None` when there is no such challenge, or the header cannot be parsed.
///
/// ```
/// let h = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=""#;
/// assert_eq!(
///     msal::claims::claims_challenge_from_header(h).as_deref(),
///     Some(r#"{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}"#)
/// );
/// ```
pub fn claims_challenge_from_header(value: &str) -> Option<String> {
    let challenges = parse_www_authenticate(value).ok()?;
    challenges.iter().find_map(|c| {
        if !c.is_scheme("bearer") {
            return None;
        }
        let error = c.param("error")?;
        if !error.trim().eq_ignore_ascii_case("insufficient_claims") {
            return None;
        }
        let claims = c.param("claims")?.trim();
        if claims.is_empty() {
            return None;
        }
        Some(decode_claims(claims))
    })
}

fn decode_claims(claims: &str) -> String {
    for engine in [&STANDARD_LENIENT, &URL_SAFE_LENIENT] {
        if let Ok(bytes) = engine.decode(claims)
            && let Ok(text) = String::from_utf8(bytes)
            && matches!(serde_json::from_str::<Value>(&text), Ok(Value::Object(_)))
        {
            return text;
        }
    }
    claims.to_owned()
}

/// The claims challenge of an API's answer: for a `401`, the first claims challenge (see
/// [`claims_challenge_from_header`]) among all its `WWW-Authenticate` headers. `None` for any
/// other status, or when there is none.
pub fn claims_challenge_from_response(status: u16, headers: &http::HeaderMap) -> Option<String> {
    if status != 401 {
        return None;
    }
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(claims_challenge_from_header)
}
