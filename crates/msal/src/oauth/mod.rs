//! The OAuth 2 wire protocol: token requests, token answers, error answers, `client_info` and id
//! token payloads.

pub(crate) mod assertion;
pub(crate) mod device_code;

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;
use url::Url;

use crate::error::{Error, OAuthErrorResponse, codes};
use crate::http::{HttpClient, HttpRequest, HttpResponse, RetryPolicy, send_with_retry};

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

/// Numbers that some servers (ADFS) send as strings.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seconds(pub u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            Int(u64),
            Float(f64),
            Str(String),
        }
        match N::deserialize(d)? {
            N::Int(n) => Ok(Seconds(n)),
            N::Float(f) if f >= 0.0 => Ok(Seconds(f as u64)),
            N::Str(s) => s
                .trim()
                .parse()
                .map(Seconds)
                .map_err(|_| serde::de::Error::custom("not a number of seconds")),
            N::Float(_) => Err(serde::de::Error::custom("negative seconds")),
        }
    }
}

/// A successful token answer.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct TokenResponse {
    pub access_token: Option<String>,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub expires_in: Option<Seconds>,
    #[serde(default)]
    pub ext_expires_in: Option<Seconds>,
    #[serde(default)]
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

impl TokenResponse {
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
    let mut req = HttpRequest::post_form(endpoint.clone(), form.iter().copied());
    req.headers
        .extend(crate::http::standard_headers(correlation_id));
    send_with_retry(http, req, retry)
        .await
        .map_err(|e| e.with_correlation_id(correlation_id))
}

/// Sends a form to the token endpoint and parses the answer.
pub(crate) async fn post_token_request(
    http: &dyn HttpClient,
    retry: &RetryPolicy,
    endpoint: &Url,
    form: &[(&str, &str)],
    correlation_id: &str,
) -> Result<TokenResponse, Error> {
    let resp = post_form(http, retry, endpoint, form, correlation_id).await?;
    parse_token_response(resp, correlation_id)
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
        Ok(t) if t.access_token.as_deref().is_some_and(|a| !a.is_empty()) => Ok(t),
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
