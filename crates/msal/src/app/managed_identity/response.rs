//! The answers of managed identity endpoints: their token answers, in each source's shape,
//! turned into the library's token answer; their error answers into typed errors.

use serde::Deserialize;
use serde_json::Value;

use super::{ManagedIdentityId, ManagedIdentitySource};
use crate::error::{Error, codes};
use crate::http::HttpResponse;
use crate::oauth::{MAX_TOKEN_LIFETIME_SECS, Seconds, TokenResponse};

/// A token answer of any source: `expires_in` (IMDS, Arc, as a string) and/or `expires_on`
/// (epoch seconds, as a number or a string; App Service, Service Fabric, Azure ML).
#[derive(Deserialize)]
struct Wire {
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    expires_on: Option<Value>,
    #[serde(default)]
    refresh_in: Option<Value>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    object_id: Option<String>,
    #[serde(default)]
    msi_res_id: Option<String>,
}

impl Drop for Wire {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.access_token);
    }
}

/// A number of seconds as a number or a numeric string; anything else is `None`.
fn seconds(v: &Value) -> Option<u64> {
    Seconds::deserialize(v).ok().map(|s| s.0)
}

/// An `expires_on` of the 2017 APIs: `MM/dd/yyyy HH:mm:ss +00:00`.
fn date(v: &Value) -> Option<i64> {
    let format = time::macros::format_description!(
        "[month]/[day]/[year] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
    );
    time::OffsetDateTime::parse(v.as_str()?.trim(), format)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// Parses a success answer of `source` into a token answer, with its lifetime capped; a
/// user-assigned identity asked of Azure Arc must be echoed by the answer.
pub(crate) fn parse_token(
    resp: &HttpResponse,
    source: ManagedIdentitySource,
    id: &ManagedIdentityId,
    now: i64,
    correlation_id: &str,
) -> Result<TokenResponse, Error> {
    let status = resp.status.as_u16();
    let invalid = |why: String| {
        Error::unparsable_response(
            status,
            resp.headers.clone(),
            Some(codes::INVALID_MANAGED_IDENTITY_RESPONSE),
            format!("the managed identity endpoint ({source}) answered HTTP {status} {why}"),
            Some(correlation_id.to_owned()),
        )
    };
    let w: Wire = serde_json::from_slice(&resp.body)
        .map_err(|e| invalid(format!("with a body that is not a token answer: {e}")))?;
    if w.access_token.as_deref().is_none_or(str::is_empty) {
        return Err(invalid("without an access token".into()));
    }
    // `expires_in` is relative, so it does not depend on the clocks agreeing; `expires_on`
    // is used when it is the only one.
    let expires_in = match (&w.expires_in, &w.expires_on) {
        (Some(v), _) if !v.is_null() => {
            seconds(v).ok_or_else(|| invalid("with an expires_in that is not a number".into()))?
        }
        (_, Some(v)) if !v.is_null() => {
            let on = seconds(v)
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
                .or_else(|| date(v))
                .ok_or_else(|| invalid("with an expires_on that is not a time".into()))?;
            u64::try_from(on.saturating_sub(now)).unwrap_or(0)
        }
        _ => return Err(invalid("without expires_in or expires_on".into())),
    };
    if expires_in == 0 {
        return Err(invalid(
            "with an access token that is already expired".into(),
        ));
    }
    if source == ManagedIdentitySource::AzureArc {
        check_echo(&w, id).map_err(|e| e.with_correlation_id(correlation_id))?;
    }
    let mut t = TokenResponse::default();
    t.access_token = w.access_token.clone();
    t.token_type = w.token_type.clone().filter(|t| !t.is_empty());
    t.expires_in = Some(Seconds(expires_in.min(MAX_TOKEN_LIFETIME_SECS)));
    t.refresh_in = w
        .refresh_in
        .as_ref()
        .and_then(seconds)
        .map(|s| Seconds(s.min(MAX_TOKEN_LIFETIME_SECS)));
    Ok(t)
}

/// An older Arc agent ignores the user-assigned selector and answers with the system
/// identity: a token for another identity than asked for is refused (as MSAL Python does).
fn check_echo(w: &Wire, id: &ManagedIdentityId) -> Result<(), Error> {
    let (asked, echoed, name) = match id {
        ManagedIdentityId::SystemAssigned => return Ok(()),
        ManagedIdentityId::ClientId(c) => (c, &w.client_id, "client_id"),
        ManagedIdentityId::ObjectId(o) => (o, &w.object_id, "object_id"),
        ManagedIdentityId::ResourceId(r) => (r, &w.msi_res_id, "msi_res_id"),
    };
    if echoed
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(asked))
    {
        return Ok(());
    }
    Err(Error::client(
        codes::USER_ASSIGNED_MANAGED_IDENTITY_NOT_SUPPORTED,
        format!(
            "the Azure Arc agent answered without echoing the user-assigned identity asked for ({name} {}): it may be an agent that answers for the system-assigned identity only; the token was refused",
            if echoed.is_some() {
                "differs"
            } else {
                "missing"
            }
        ),
    ))
}

/// The longest part of an error answer quoted in an error.
const MAX_MESSAGE: usize = 512;

/// The message of an error answer, in any source's shape: `{"error", "error_description"}`
/// (IMDS, Arc), `{"statusCode", "message"}` (App Service), `{"error": {"code", "message"}}`
/// (Service Fabric), `{"Message"}`.
fn message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let s = |v: &Value| v.as_str().map(str::to_owned);
    let err = v.get("error");
    let parts: Vec<String> = [
        err.and_then(s),
        v.get("error_description").and_then(s),
        err.and_then(|e| e.get("code")).and_then(s),
        err.and_then(|e| e.get("message")).and_then(s),
        v.get("message").and_then(s),
        v.get("Message").and_then(s),
    ]
    .into_iter()
    .flatten()
    .filter(|p| !p.trim().is_empty())
    .collect();
    (!parts.is_empty()).then(|| parts.join(": "))
}

/// The error for a failed answer: a `Service` error `managed_identity_request_failed`
/// carrying the source's message, its status and its headers (`Retry-After`).
pub(crate) fn error(
    resp: HttpResponse,
    source: ManagedIdentitySource,
    correlation_id: &str,
) -> Error {
    let status = resp.status.as_u16();
    let said = match message(&resp.body) {
        Some(m) => {
            let mut m: String = m.chars().filter(|c| !c.is_control()).collect();
            if m.len() > MAX_MESSAGE {
                let mut end = MAX_MESSAGE;
                while !m.is_char_boundary(end) {
                    end -= 1;
                }
                m.truncate(end);
                m.push('…');
            }
            m
        }
        None => format!(
            "a body that is not an error answer ({} bytes)",
            resp.body.len()
        ),
    };
    Error::unparsable_response(
        status,
        resp.headers,
        Some(codes::MANAGED_IDENTITY_REQUEST_FAILED),
        format!("the managed identity endpoint ({source}) answered HTTP {status}: {said}"),
        Some(correlation_id.to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HeaderMap, StatusCode};

    fn ok(body: Value) -> HttpResponse {
        HttpResponse::new(StatusCode::OK, HeaderMap::new(), body.to_string())
    }

    #[test]
    fn expires_on_as_a_2017_date_and_expires_in_first() {
        let id = ManagedIdentityId::SystemAssigned;
        let now = 1_700_000_000;
        let on = time::OffsetDateTime::from_unix_timestamp(now + 3000).unwrap();
        let text = format!(
            "{:02}/{:02}/{} {:02}:{:02}:{:02} +00:00",
            u8::from(on.month()),
            on.day(),
            on.year(),
            on.hour(),
            on.minute(),
            on.second()
        );
        let src = ManagedIdentitySource::MachineLearning;
        let t = parse_token(
            &ok(serde_json::json!({"access_token": "a", "expires_on": text})),
            src,
            &id,
            now,
            "c",
        )
        .unwrap();
        assert_eq!(t.expires_in, Some(Seconds(3000)));
        let both =
            serde_json::json!({"access_token": "a", "expires_in": "60", "expires_on": now + 3000});
        let t = parse_token(&ok(both), src, &id, now, "c").unwrap();
        assert_eq!(t.expires_in, Some(Seconds(60)));
        let e = parse_token(
            &ok(serde_json::json!({"access_token": "a", "expires_on": "tomorrow"})),
            src,
            &id,
            now,
            "c",
        )
        .unwrap_err();
        assert_eq!(e.code(), codes::INVALID_MANAGED_IDENTITY_RESPONSE);
    }

    #[test]
    fn error_messages_in_each_shape_are_quoted_and_bounded() {
        for (body, want) in [
            (
                r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
                "invalid_request: Identity not found",
            ),
            (
                r#"{"statusCode":400,"message":"bad resource"}"#,
                "bad resource",
            ),
            (
                r#"{"error":{"code":"SecretHeaderNotFound","message":"no secret"}}"#,
                "SecretHeaderNotFound: no secret",
            ),
        ] {
            let resp = HttpResponse::new(StatusCode::BAD_REQUEST, HeaderMap::new(), body);
            let e = error(resp, ManagedIdentitySource::AppService, "c");
            assert!(e.description().ends_with(want), "{}", e.description());
        }
        let long = serde_json::json!({"message": "x".repeat(10_000)}).to_string();
        let e = error(
            HttpResponse::new(StatusCode::BAD_REQUEST, HeaderMap::new(), long),
            ManagedIdentitySource::Imds,
            "c",
        );
        assert!(e.description().len() < MAX_MESSAGE + 200);
    }

    /// A lifetime as a server may send it: a number (any size or sign, integral or not), a
    /// numeric string, a date, or garbage.
    fn lifetime() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            any::<i64>().prop_map(|n| Value::from(n.to_string())),
            "[0-9]{1,30}".prop_map(Value::from),
            "[ -~]{0,40}".prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    proptest::proptest! {
        /// Whatever the numbers, a token answer lives more than zero seconds and at most the
        /// cap, or is a typed error; never a panic.
        #[test]
        fn any_lifetime_is_capped_or_refused(
            expires_in in proptest::option::of(lifetime()),
            expires_on in proptest::option::of(lifetime()),
            refresh_in in proptest::option::of(lifetime()),
            source in 0usize..6,
        ) {
            let sources = [
                ManagedIdentitySource::ServiceFabric,
                ManagedIdentitySource::AppService,
                ManagedIdentitySource::MachineLearning,
                ManagedIdentitySource::CloudShell,
                ManagedIdentitySource::AzureArc,
                ManagedIdentitySource::Imds,
            ];
            let mut body = serde_json::json!({"access_token": "a", "token_type": "Bearer"});
            for (k, v) in [("expires_in", expires_in), ("expires_on", expires_on), ("refresh_in", refresh_in)] {
                if let Some(v) = v {
                    body[k] = v;
                }
            }
            let now = 1_700_000_000;
            let id = ManagedIdentityId::SystemAssigned;
            match parse_token(&ok(body), sources[source], &id, now, "c") {
                Ok(t) => {
                    let life = t.expires_in.unwrap().0;
                    proptest::prop_assert!(life > 0 && life <= MAX_TOKEN_LIFETIME_SECS);
                    if let Some(r) = t.refresh_in {
                        proptest::prop_assert!(r.0 <= MAX_TOKEN_LIFETIME_SECS);
                    }
                }
                Err(e) => {
                    proptest::prop_assert_eq!(e.code(), codes::INVALID_MANAGED_IDENTITY_RESPONSE);
                    proptest::prop_assert_eq!(e.correlation_id(), Some("c"));
                }
            }
        }
    }
}
