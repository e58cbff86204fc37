//! The OAuth 2 wire protocol: token requests, token answers, error answers, `client_info` and id
//! token payloads.

pub(crate) mod assertion;
pub(crate) mod device_code;

use std::fmt;
use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use futures_util::FutureExt;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use url::Url;
use zeroize::Zeroize;

use crate::error::{Error, OAuthErrorResponse, codes};
use crate::http::{HttpClient, HttpRequest, HttpResponse, RetryPolicy, send_built_with_retry};

pub use device_code::DeviceCodeInfo;

/// Scopes every user flow asks for besides the app's own (id token, profile, refresh token).
pub(crate) const RESERVED_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// Grant type of the device code flow.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Grant type of the on-behalf-of flow (RFC 7523's JWT bearer grant).
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Client assertion type of `private_key_jwt`.
pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest token lifetime accepted from a server (`expires_in`, `ext_expires_in`): one year.
///
/// MSAL .NET and Python take any number, but no real server comes near it: Entra access tokens
/// live 60 to 90 minutes (about a day with continuous access evaluation, `ext_expires_in` a few
/// hours more), ADFS's and managed identity's hours to a day. A token that claims to live for
/// centuries is a server bug, and the cap keeps every `now + lifetime` far inside `i64` and the
/// dates `time` can represent.
pub(crate) const MAX_TOKEN_LIFETIME_SECS: u64 = 365 * 24 * 60 * 60;

/// A number of seconds sent by a server: a JSON number (integer or float, any size) or a numeric
/// string (ADFS sends strings). A negative number is 0, a number beyond `u64` is `u64::MAX`; the
/// fields that hold one cap it further (see [`MAX_TOKEN_LIFETIME_SECS`]). Anything that is not a
/// number (`"soon"`, `"NaN"`, `true`) is an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seconds(pub u64);

impl Seconds {
    /// At most `max` seconds.
    pub(crate) fn at_most(self, max: u64) -> Self {
        Seconds(self.0.min(max))
    }

    fn from_f64(f: f64) -> Option<Self> {
        if f.is_nan() {
            return None;
        }
        // `as` saturates: negative (and -inf) to 0, beyond u64 (and +inf) to u64::MAX.
        Some(Seconds(f as u64))
    }

    fn from_text(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u64>() {
            return Some(Seconds(n));
        }
        // Decimal notation only: Rust's float parser would also take "inf" and "NaN". A string
        // of digits too long for f64 parses as infinity and saturates like a huge number.
        let decimal = s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
        if !decimal {
            return None;
        }
        s.parse::<f64>().ok().and_then(Self::from_f64)
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Seconds, E> {
                Ok(Seconds(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Seconds, E> {
                Ok(Seconds(u64::try_from(n).unwrap_or(0)))
            }
            fn visit_u128<E: serde::de::Error>(self, n: u128) -> Result<Seconds, E> {
                Ok(Seconds(u64::try_from(n).unwrap_or(u64::MAX)))
            }
            fn visit_i128<E: serde::de::Error>(self, n: i128) -> Result<Seconds, E> {
                Ok(Seconds(u64::try_from(n.max(0)).unwrap_or(u64::MAX)))
            }
            fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Seconds, E> {
                Seconds::from_f64(f).ok_or_else(|| E::custom("not a number of seconds"))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Seconds, E> {
                Seconds::from_text(s).ok_or_else(|| E::custom("not a number of seconds"))
            }
        }
        d.deserialize_any(V)
    }
}

/// A token lifetime field: a [`Seconds`] capped at [`MAX_TOKEN_LIFETIME_SECS`].
fn token_lifetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Seconds>, D::Error> {
    Ok(Option::<Seconds>::deserialize(d)?.map(|s| s.at_most(MAX_TOKEN_LIFETIME_SECS)))
}

/// The lifetimes of a token answer, checked and capped: what the cache and the result use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetimes {
    /// Seconds until the access token expires: at least 1, at most a year.
    pub expires_in: u64,
    /// Seconds until its extended expiry: at least `expires_in`, at most a year.
    pub ext_expires_in: Option<u64>,
    /// Seconds until a proactive refresh: at most `expires_in`.
    pub refresh_in: Option<u64>,
}

/// When the server gives no `expires_in`, the token is taken to live an hour (as MSAL does).
const DEFAULT_EXPIRES_IN_SECS: u64 = 3600;

/// Tokens living this long or longer are refreshed proactively at half their life when the
/// server gives no `refresh_in`, as MSAL .NET does.
const HALF_LIFE_REFRESH_FROM_SECS: u64 = 7200;

/// A successful token answer.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct TokenResponse {
    pub access_token: Option<String>,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default, deserialize_with = "token_lifetime")]
    pub expires_in: Option<Seconds>,
    #[serde(default, deserialize_with = "token_lifetime")]
    pub ext_expires_in: Option<Seconds>,
    #[serde(default, deserialize_with = "token_lifetime")]
    pub refresh_in: Option<Seconds>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
    #[serde(default)]
    pub client_info: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub foci: Option<String>,
}

// Tokens must never reach a log.
impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in.map(|s| s.0))
            .field("scope", &self.scope)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("has_id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

// The answer holds the tokens until they are cached and reported: wipe them when it goes.
impl Drop for TokenResponse {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl TokenResponse {
    /// Overwrites the secrets (access, refresh and id token) with zeros and forgets them.
    fn wipe(&mut self) {
        self.access_token.zeroize();
        self.refresh_token.zeroize();
        self.id_token.zeroize();
    }

    /// The lifetimes of the access token, or `None` when the server sent one that is already
    /// over (`expires_in` 0 or negative): such a token must not be reported or cached.
    ///
    /// `ext_expires_in` below `expires_in` is raised to it (an extended expiry cannot come
    /// first); `refresh_in` above `expires_in` is lowered to it.
    pub(crate) fn lifetimes(&self) -> Option<Lifetimes> {
        let expires_in = self.expires_in.map_or(DEFAULT_EXPIRES_IN_SECS, |s| s.0);
        if expires_in == 0 {
            return None;
        }
        let refresh_in = match self.refresh_in {
            Some(s) => Some(s.0.min(expires_in)),
            None => (expires_in >= HALF_LIFE_REFRESH_FROM_SECS).then_some(expires_in / 2),
        };
        Some(Lifetimes {
            expires_in,
            ext_expires_in: self.ext_expires_in.map(|s| s.0.max(expires_in)),
            refresh_in,
        })
    }

    /// The granted scopes, when the server said which.
    pub(crate) fn granted_scopes(&self) -> Option<Vec<String>> {
        self.scope
            .as_deref()
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
    }
}

/// `client_info`: the user's object id and home tenant, base64url JSON.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct ClientInfo {
    pub uid: String,
    pub utid: String,
}

impl ClientInfo {
    pub(crate) fn decode(raw: &str) -> Result<Self, Error> {
        let bytes = decode_base64url(raw).ok_or_else(|| {
            Error::service(codes::INVALID_RESPONSE, "client_info is not base64url")
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::service(
                codes::INVALID_RESPONSE,
                format!("client_info is not the expected JSON: {e}"),
            )
        })
    }

    /// `<uid>.<utid>`, MSAL's home account id.
    pub(crate) fn home_account_id(&self) -> String {
        format!("{}.{}", self.uid, self.utid)
    }
}

/// Decodes base64url with or without padding (servers send both).
pub(crate) fn decode_base64url(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(s))
        .ok()
}

/// The payload of a JWT as JSON, without validating it (the token came from the token endpoint
/// over TLS, which is what OpenID Connect allows for id tokens of the code flow).
pub fn decode_jwt_payload(jwt: &str) -> Result<serde_json::Value, Error> {
    let mut parts = jwt.split('.');
    let (Some(_), Some(payload)) = (parts.next(), parts.next()) else {
        return Err(Error::service(codes::INVALID_JWT, "not a JWT"));
    };
    let bytes = decode_base64url(payload)
        .ok_or_else(|| Error::service(codes::INVALID_JWT, "JWT payload is not base64url"))?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::service(codes::INVALID_JWT, format!("JWT payload is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(Error::service(
            codes::INVALID_JWT,
            "JWT payload is not an object",
        ));
    }
    Ok(v)
}

/// The header of a JWT as JSON, without validating it.
pub fn decode_jwt_header(jwt: &str) -> Result<serde_json::Value, Error> {
    let header = jwt.split('.').next().unwrap_or_default();
    let bytes = decode_base64url(header)
        .ok_or_else(|| Error::service(codes::INVALID_JWT, "JWT header is not base64url"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::service(codes::INVALID_JWT, format!("JWT header is not JSON: {e}")))
}

/// Turns a non-success answer into the typed error: an OAuth error body is classified, anything
/// else is `non_parsable_oauth_error` (or `request_throttled` for a 429).
pub(crate) fn error_from_response(resp: HttpResponse, correlation_id: &str) -> Error {
    let status = resp.status.as_u16();
    match OAuthErrorResponse::parse(&resp.body) {
        Some(mut e) => {
            e.http_status = Some(status);
            e.headers = Some(resp.headers);
            // The correlation id is the one we sent; a server echo is the same value.
            e.correlation_id = Some(correlation_id.to_owned());
            Error::from_oauth_error(e)
        }
        None => {
            let ctype = resp
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned();
            let desc = format!(
                "the identity provider answered HTTP {status} with a body that is not an OAuth error (content-type {ctype}, {} bytes)",
                resp.body.len()
            );
            Error::unparsable_response(
                status,
                resp.headers,
                None,
                desc,
                Some(correlation_id.to_owned()),
            )
        }
    }
}

/// Posts a form to an endpoint of the identity provider with the standard headers and MSAL's
/// retry policy; any answer is `Ok`, a transport failure carries the correlation id.
pub(crate) async fn post_form(
    http: &dyn HttpClient,
    retry: &RetryPolicy,
    endpoint: &Url,
    form: &[(&str, &str)],
    correlation_id: &str,
) -> Result<HttpResponse, Error> {
    post_form_with(http, retry, endpoint, form, correlation_id, &[]).await
}

/// [`post_form`] with more headers (the token endpoint's telemetry).
///
/// This and [`post_token_request`] are not `async fn`s: the request is built and handed to the
/// client at once, and the future returned holds only the client's future and what the
/// answer is checked with (see `send_built_with_retry`).
fn post_form_with<'a>(
    http: &'a dyn HttpClient,
    retry: &'a RetryPolicy,
    endpoint: &'a Url,
    form: &'a [(&'a str, &'a str)],
    correlation_id: &'a str,
    headers: &'a [(HeaderName, &'a str)],
) -> impl Future<Output = Result<HttpResponse, Error>> + Send + 'a {
    // Built again for a retry rather than copied for one that most requests never need.
    let build = move || {
        let mut req = HttpRequest::post_form(endpoint.clone(), form.iter().copied());
        crate::http::put_standard_headers(&mut req.headers, correlation_id);
        // A name's value replaces one already there.
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                req.headers.insert(name.clone(), v);
            }
        }
        req
    };
    // `map`, not an `async` block: a block awaiting a future it holds keeps two of it.
    send_built_with_retry(http, build(), build, retry)
        .map(move |answer| answer.map_err(|e| e.with_correlation_id(correlation_id)))
}

/// Sends a form to the token endpoint, with the standard headers and `headers` (the server
/// telemetry), and parses the answer.
pub(crate) fn post_token_request<'a>(
    http: &'a dyn HttpClient,
    retry: &'a RetryPolicy,
    endpoint: &'a Url,
    form: &'a [(&'a str, &'a str)],
    correlation_id: &'a str,
    headers: &'a [(HeaderName, &'a str)],
) -> impl Future<Output = Result<TokenResponse, Error>> + Send + 'a {
    post_form_with(http, retry, endpoint, form, correlation_id, headers)
        .map(move |answer| parse_token_response(answer?, correlation_id))
}

/// Parses a token endpoint answer.
pub(crate) fn parse_token_response(
    resp: HttpResponse,
    correlation_id: &str,
) -> Result<TokenResponse, Error> {
    if !resp.status.is_success() {
        return Err(error_from_response(resp, correlation_id));
    }
    let status = resp.status.as_u16();
    match serde_json::from_slice::<TokenResponse>(&resp.body) {
        Ok(t) if t.access_token.as_deref().is_some_and(|a| !a.is_empty()) => {
            if t.lifetimes().is_none() {
                // A success that is already expired would be reported, then refused by the
                // cache at once: the caller could only ask again and get the same.
                return Err(Error::unparsable_response(
                    status,
                    resp.headers,
                    Some(codes::INVALID_TOKEN_RESPONSE),
                    format!(
                        "HTTP {status} answer from the token endpoint has an access token that is already expired (expires_in 0 or negative)"
                    ),
                    Some(correlation_id.to_owned()),
                ));
            }
            Ok(t)
        }
        Ok(_) => Err(Error::unparsable_response(
            status,
            resp.headers,
            Some(codes::INVALID_TOKEN_RESPONSE),
            format!("HTTP {status} answer from the token endpoint has no access_token"),
            Some(correlation_id.to_owned()),
        )),
        Err(e) => Err(Error::unparsable_response(
            status,
            resp.headers,
            Some(codes::NON_PARSABLE_OAUTH_ERROR),
            format!("HTTP {status} answer from the token endpoint is not a token response: {e}"),
            Some(correlation_id.to_owned()),
        )
        .with_source(e)),
    }
}

/// Joins scopes with spaces, de-duplicated, in the order given.
pub(crate) fn join_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for s in scopes {
        if !s.is_empty() && !seen.iter().any(|x| x.eq_ignore_ascii_case(s)) {
            seen.push(s);
        }
    }
    seen.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use http::{HeaderMap, StatusCode};

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(
            StatusCode::from_u16(status).unwrap(),
            HeaderMap::new(),
            body.to_owned(),
        )
    }

    #[test]
    fn success_needs_an_access_token() {
        let t = parse_token_response(
            resp(
                200,
                r#"{"access_token":"a","expires_in":"3599","scope":"x y"}"#,
            ),
            "c",
        )
        .unwrap();
        assert_eq!(t.expires_in.unwrap().0, 3599);
        assert_eq!(t.granted_scopes().unwrap(), vec!["x", "y"]);
        let e = parse_token_response(resp(200, r#"{"token_type":"Bearer"}"#), "c").unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Service, "invalid_token_response")
        );
        let e = parse_token_response(resp(200, r#"{"access_token":"#), "c").unwrap_err();
        assert_eq!(e.code(), "non_parsable_oauth_error");
        assert_eq!(e.http_status(), Some(200));
        assert_eq!(e.correlation_id(), Some("c"));
    }

    fn seconds(json: &str) -> Result<Seconds, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn seconds_are_numbers_or_numeric_strings_negative_is_zero_huge_saturates() {
        for (json, want) in [
            ("3599", 3599),
            ("\"3599\"", 3599),
            ("\" 3599 \"", 3599),
            ("3599.9", 3599),
            ("\"3599.9\"", 3599),
            ("-5", 0),
            ("\"-5\"", 0),
            ("-1e308", 0),
            ("-9223372036854775808", 0),
            ("18446744073709551615", u64::MAX),
            ("18446744073709551616", u64::MAX),
            ("1e308", u64::MAX),
            ("\"1e308\"", u64::MAX),
            ("\"1e400\"", u64::MAX),
            (&format!("\"{}\"", "9".repeat(400)), u64::MAX),
        ] {
            assert_eq!(seconds(json).unwrap(), Seconds(want), "{json}");
        }
        for json in [
            "\"soon\"",
            "\"\"",
            "\"NaN\"",
            "\"inf\"",
            "\"-infinity\"",
            "\"0x10\"",
            "true",
            "[1]",
            "{}",
        ] {
            assert!(seconds(json).is_err(), "{json}");
        }
    }

    fn lifetimes(body: &str) -> Option<Lifetimes> {
        serde_json::from_str::<TokenResponse>(body)
            .unwrap()
            .lifetimes()
    }

    #[test]
    fn lifetimes_are_capped_and_ordered() {
        let year = MAX_TOKEN_LIFETIME_SECS;
        assert_eq!(
            lifetimes(
                r#"{"expires_in": 9223372036854775000, "ext_expires_in": 1e308, "refresh_in": "1e300"}"#
            ),
            Some(Lifetimes {
                expires_in: year,
                ext_expires_in: Some(year),
                refresh_in: Some(year)
            })
        );
        // An extended expiry never comes first; a refresh never after the expiry.
        assert_eq!(
            lifetimes(r#"{"expires_in": 3599, "ext_expires_in": 10, "refresh_in": 7200}"#),
            Some(Lifetimes {
                expires_in: 3599,
                ext_expires_in: Some(3599),
                refresh_in: Some(3599)
            })
        );
        // Half-life refresh for long tokens without refresh_in; an hour when expires_in is absent.
        assert_eq!(
            lifetimes(r#"{"expires_in": "86400"}"#),
            Some(Lifetimes {
                expires_in: 86400,
                ext_expires_in: None,
                refresh_in: Some(43200)
            })
        );
        assert_eq!(
            lifetimes(r#"{"expires_in": null, "refresh_in": -3}"#),
            Some(Lifetimes {
                expires_in: 3600,
                ext_expires_in: None,
                refresh_in: Some(0)
            })
        );
        assert_eq!(lifetimes(r#"{"expires_in": 0}"#), None);
        assert_eq!(lifetimes(r#"{"expires_in": -1e308}"#), None);
        assert_eq!(lifetimes(r#"{"expires_in": "0.5"}"#), None);
    }

    #[test]
    fn an_already_expired_token_is_an_invalid_token_response() {
        for expires_in in ["0", "-3600", "\"-1\""] {
            let body = format!(r#"{{"access_token":"a","expires_in":{expires_in}}}"#);
            let e = parse_token_response(resp(200, &body), "c").unwrap_err();
            assert_eq!(
                (e.kind(), e.code()),
                (ErrorKind::Service, "invalid_token_response")
            );
            assert_eq!(e.correlation_id(), Some("c"));
        }
        let e = parse_token_response(
            resp(200, r#"{"access_token":"a","expires_in":"soon"}"#),
            "c",
        )
        .unwrap_err();
        assert_eq!(e.code(), "non_parsable_oauth_error");
    }

    #[test]
    fn the_secrets_are_wiped_and_a_clone_keeps_its_own() {
        let mut t = parse_token_response(
            resp(
                200,
                r#"{"access_token":"a","refresh_token":"r","id_token":"i","scope":"x"}"#,
            ),
            "c",
        )
        .unwrap();
        let copy = t.clone();
        t.wipe();
        assert!(t.access_token.is_none() && t.refresh_token.is_none() && t.id_token.is_none());
        assert_eq!(t.scope.as_deref(), Some("x"));
        drop(t);
        assert_eq!(copy.access_token.as_deref(), Some("a"));
        assert_eq!(copy.refresh_token.as_deref(), Some("r"));
        assert_eq!(copy.id_token.as_deref(), Some("i"));
    }

    #[test]
    fn errors_are_classified_with_the_correlation_id() {
        let e = parse_token_response(
            resp(
                400,
                r#"{"error":"invalid_grant","suberror":"consent_required","error_codes":[65001]}"#,
            ),
            "cid",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UiRequired);
        assert_eq!(e.correlation_id(), Some("cid"));
        assert_eq!(e.aadsts_codes(), &[65001]);
        let e = parse_token_response(resp(502, "<html>Bad gateway</html>"), "cid").unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Service, "non_parsable_oauth_error")
        );
        assert_eq!(e.http_status(), Some(502));
        assert!(!e.description().contains("Bad gateway"));
    }

    #[test]
    fn client_info_and_jwt_payloads() {
        let ci = ClientInfo::decode("eyJ1aWQiOiJ1MSIsInV0aWQiOiJ0MSJ9").unwrap();
        assert_eq!(ci.home_account_id(), "u1.t1");
        assert!(ClientInfo::decode("!!").is_err());
        let jwt = "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ0MSJ9.";
        assert_eq!(decode_jwt_payload(jwt).unwrap()["tid"], "t1");
        assert_eq!(decode_jwt_header(jwt).unwrap()["alg"], "none");
        assert!(decode_jwt_payload("abc").is_err());
        assert!(decode_jwt_payload("a.bm90IGpzb24.c").is_err());
    }

    #[test]
    fn scopes_are_joined_once_each() {
        assert_eq!(join_scopes(["a", "B", "b", "", "openid"]), "a B openid");
    }
}
