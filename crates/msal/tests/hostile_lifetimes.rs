//! Lifetimes and intervals from a hostile identity provider: a token or device code that claims
//! to live for ever, an interval of centuries, a lifetime of 0 or less. Each ends in a typed
//! error or a capped result that is not already expired, never a panic or a hang.
//!
//! On the wire with the scripted mock IdP; then property tests over any number, in virtual time.

mod common;
#[path = "support/entra_discovery.rs"]
mod entra_discovery;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Answer, MockIdp, user_token};
use msal::http::{
    BoxFuture, HeaderMap, HttpClient, HttpRequest, HttpResponse, RetryPolicy, StatusCode,
    TransportError,
};
use msal::{
    ConfidentialClientApplication, ErrorKind, PublicClientApplication, TokenCache, TokenSource,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::OffsetDateTime;

const APP_SCOPE: &str = "api://msal-emulator-api/.default";
const USER_SCOPE: &str = "https://graph.microsoft.com/User.Read";
/// The longest lifetime the library takes from a server.
const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// The longest a device code is waited for.
const HOUR: Duration = Duration::from_secs(3600);
/// Bounds every test on the wire: a hang fails instead of stalling the suite.
const BOUND: Duration = Duration::from_secs(30);

fn confidential(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret-value")
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

fn public(idp: &MockIdp) -> PublicClientApplication {
    PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap()
}

/// A device code answer with these `expires_in` and `interval`, as raw JSON text.
fn code_answer(expires_in: &str, interval: &str) -> Answer {
    Answer::raw(
        200,
        &format!(
            r#"{{"device_code": "DC-secret", "user_code": "ABCD1234",
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": {expires_in}, "interval": {interval}}}"#
        ),
        "application/json",
    )
}

/// An app token answer whose lifetimes are raw JSON text.
fn app_token_lasting(expires_in: &str, ext_expires_in: &str) -> Answer {
    Answer::raw(
        200,
        &format!(
            r#"{{"token_type": "Bearer", "access_token": "at-long", "scope": "{APP_SCOPE}",
                "expires_in": {expires_in}, "ext_expires_in": {ext_expires_in}}}"#
        ),
        "application/json",
    )
}

/// The `expires_on` of every access token in a serialized cache.
fn cached_expiries(cache: &TokenCache) -> Vec<i64> {
    let v: Value = serde_json::from_str(&cache.serialize()).unwrap();
    v["AccessToken"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|e| e["expires_on"].as_str().unwrap().parse().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_device_code_that_lives_for_ever_is_waited_for_an_hour_at_most() {
    let idp = MockIdp::start().await;
    idp.push_devicecode(code_answer("18446744073709551615", "1"));
    idp.push_token(user_token("at-1", "rt-1", "User.Read openid profile"));
    let seen = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let r = tokio::time::timeout(
        BOUND,
        public(&idp)
            .acquire_token_by_device_code([USER_SCOPE])
            .on_code(move |c| {
                *seen2.lock().unwrap() = Some((c.expires_in_secs(), c.interval_secs()))
            })
            .send(),
    )
    .await
    .expect("the flow ends")
    .unwrap();
    assert_eq!(r.access_token.secret(), "at-1");
    assert_eq!(*seen.lock().unwrap(), Some((3600, 1)));
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn a_huge_interval_ends_with_the_codes_expiry() {
    let idp = MockIdp::start().await;
    idp.push_devicecode(code_answer("3", "1000000000000"));
    let e = tokio::time::timeout(
        BOUND,
        public(&idp)
            .acquire_token_by_device_code([USER_SCOPE])
            .send(),
    )
    .await
    .expect("the code's expiry ends the flow, not the interval")
    .unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Service, "expired_token"));
    assert!(e.correlation_id().is_some());
    // The interval is clamped to the code's 3 s of life, whose end comes first: no poll.
    assert_eq!(idp.token_requests().len(), 0);
}

#[tokio::test]
async fn a_slow_down_never_pushes_a_wait_past_the_codes_expiry() {
    let idp = MockIdp::start().await;
    idp.push_devicecode(code_answer("\"2\"", "1"));
    idp.push_token(Answer::oauth_error(400, "slow_down", 70016, None));
    // After the slow_down the next poll would be 6 s away, the code's end 1 s: the flow ends
    // with the code, before the caller's cancellation at 4 s.
    let e = tokio::time::timeout(
        BOUND,
        public(&idp)
            .acquire_token_by_device_code([USER_SCOPE])
            .with_cancellation(tokio::time::sleep(Duration::from_secs(4)))
            .send(),
    )
    .await
    .expect("the flow ends")
    .unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Service, "expired_token"));
    assert_eq!(idp.token_requests().len(), 1);
}

/// A result from the identity provider for a token that claims these lifetimes: capped at a
/// year, in the future, then served from the cache as written.
async fn capped_at_a_year(expires_in: &str, ext_expires_in: &str) {
    let idp = MockIdp::start().await;
    idp.push_token(app_token_lasting(expires_in, ext_expires_in));
    let app = confidential(&idp);
    let before = OffsetDateTime::now_utc();
    let r = tokio::time::timeout(BOUND, app.acquire_token_for_client([APP_SCOPE]).send())
        .await
        .unwrap()
        .unwrap();
    let after = OffsetDateTime::now_utc();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert!(r.expires_on > before, "{expires_in}: {}", r.expires_on);
    assert!(
        r.expires_on <= after + YEAR,
        "{expires_in}: {}",
        r.expires_on
    );
    let ext = r.extended_expires_on.unwrap();
    assert!(ext >= r.expires_on && ext <= after + YEAR);
    let refresh = r.refresh_on.expect("half-life refresh of a long token");
    assert!(refresh > before && refresh < r.expires_on);
    assert_eq!(
        cached_expiries(app.token_cache()),
        vec![r.expires_on.unix_timestamp()]
    );

    let again = app
        .acquire_token_for_client([APP_SCOPE])
        .send()
        .await
        .unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.expires_on, r.expires_on);
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn a_token_that_claims_to_live_for_centuries_is_capped_at_a_year() {
    capped_at_a_year("9223372036854775000", "18446744073709551615").await;
    capped_at_a_year("1e308", "\"1e308\"").await;
    capped_at_a_year("\"9223372036854775807\"", "-1").await;
}

#[tokio::test]
async fn an_already_expired_token_is_refused_and_not_cached() {
    let idp = MockIdp::start().await;
    let app = confidential(&idp);
    for expires_in in ["0", "-5", "\"-3600\"", "0.9", "-1e308"] {
        idp.push_token(app_token_lasting(expires_in, "3600"));
        let e = tokio::time::timeout(BOUND, app.acquire_token_for_client([APP_SCOPE]).send())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Service, "invalid_token_response"),
            "{expires_in}"
        );
        assert_eq!(e.http_status(), Some(200));
        assert!(e.correlation_id().is_some());
        assert!(cached_expiries(app.token_cache()).is_empty());
    }
    // Each call asked again: nothing was cached, nothing throttled.
    assert_eq!(idp.token_requests().len(), 5);
}

#[tokio::test]
async fn a_lifetime_that_is_not_a_number_is_a_parse_error() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token_lasting("\"NaN\"", "3600"));
    idp.push_token(app_token_lasting("\"soon\"", "3600"));
    idp.push_token(app_token_lasting("3600", "true"));
    let app = confidential(&idp);
    for _ in 0..3 {
        let e = app
            .acquire_token_for_client([APP_SCOPE])
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Service, "non_parsable_oauth_error")
        );
    }
}

#[tokio::test]
async fn a_cached_token_that_claims_to_live_for_ever_is_not_served() {
    let idp = MockIdp::start().await;
    idp.push_token(common::app_token("at-1", APP_SCOPE));
    idp.push_token(common::app_token("at-2", APP_SCOPE));
    let app = confidential(&idp);
    app.acquire_token_for_client([APP_SCOPE])
        .send()
        .await
        .unwrap();
    // As a cache written before the cap (or by hand) holds it.
    let mut v: Value = serde_json::from_str(&app.token_cache().serialize()).unwrap();
    for e in v["AccessToken"].as_object_mut().unwrap().values_mut() {
        e["expires_on"] = json!(i64::MAX.to_string());
    }
    app.token_cache().deserialize(&v.to_string()).unwrap();

    let r = app
        .acquire_token_for_client([APP_SCOPE])
        .send()
        .await
        .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(r.access_token.secret(), "at-2");
    assert_eq!(idp.token_requests().len(), 2);
    // The new token replaced it.
    assert_eq!(
        cached_expiries(app.token_cache()),
        vec![r.expires_on.unix_timestamp()]
    );
}

// ----- property tests: any number, in virtual time ------------------------------------------

/// An identity provider in process: discovery as Entra answers it, the device authorization
/// endpoint one scripted body, the token endpoint scripted bodies (then `fallback`).
#[derive(Debug)]
struct ScriptedIdp {
    device_code: String,
    tokens: Mutex<VecDeque<(u16, String)>>,
    fallback: (u16, String),
    polls: Mutex<usize>,
}

impl HttpClient for ScriptedIdp {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let path = req.url.path().to_owned();
            let (status, body) = if let Some(d) = entra_discovery::answer(&path) {
                (200, String::from_utf8(d).unwrap())
            } else if path.ends_with("/devicecode") {
                (200, self.device_code.clone())
            } else {
                *self.polls.lock().unwrap() += 1;
                let next = self.tokens.lock().unwrap().pop_front();
                next.unwrap_or_else(|| self.fallback.clone())
            };
            let status = StatusCode::from_u16(status).unwrap();
            Ok(HttpResponse::new(
                status,
                HeaderMap::new(),
                body.into_bytes(),
            ))
        })
    }
}

/// A runtime whose clock only moves when every task waits: the flows' waits take no time.
fn virtual_time() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Any number a server could send, as JSON text: integers and floats of any size and sign,
/// numeric strings, strings that are not numbers, and values that are not numbers at all.
fn hostile_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..100_000).prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| json!(f).to_string()),
        (-1e7f64..1e7).prop_map(|f| json!(f).to_string()),
        "-?[0-9]{1,40}(\\.[0-9]{0,5})?(e[+-]?[0-9]{1,3})?",
        Just("18446744073709551615".to_owned()),
        Just("9223372036854775807".to_owned()),
        Just("1e308".to_owned()),
        Just("1e400".to_owned()),
        Just("-0".to_owned()),
        any::<i64>().prop_map(|n| json!(n.to_string()).to_string()),
        any::<f64>().prop_map(|f| json!(f.to_string()).to_string()),
        "[0-9eE.+ -]{0,20}".prop_map(|s| json!(s).to_string()),
        ".{0,8}".prop_map(|s| json!(s).to_string()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[1]".to_owned()),
    ]
}

/// A JSON object with these fields, each absent when `None`.
fn object(fields: &[(&str, Option<&String>)]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("\"{k}\": {v}")))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

fn oauth_error(code: &str) -> (u16, String) {
    (400, json!({"error": code}).to_string())
}

/// Checks a result from the identity provider made between `before` and `after`.
fn check_lifetimes(
    r: &msal::AuthenticationResult,
    before: OffsetDateTime,
    after: OffsetDateTime,
) -> Result<(), TestCaseError> {
    prop_assert!(r.expires_on > before, "already expired: {}", r.expires_on);
    prop_assert!(
        r.expires_on <= after + YEAR,
        "beyond the cap: {}",
        r.expires_on
    );
    if let Some(ext) = r.extended_expires_on {
        prop_assert!(ext >= r.expires_on && ext <= after + YEAR);
    }
    if let Some(refresh) = r.refresh_on {
        prop_assert!(refresh >= before - Duration::from_secs(1) && refresh <= r.expires_on);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn any_token_lifetime_is_a_capped_future_result_or_a_typed_error(
        expires_in in proptest::option::of(hostile_number()),
        ext_expires_in in proptest::option::of(hostile_number()),
        refresh_in in proptest::option::of(hostile_number()),
    ) {
        let at = json!("at").to_string();
        let body = object(&[
            ("access_token", Some(&at)),
            ("expires_in", expires_in.as_ref()),
            ("ext_expires_in", ext_expires_in.as_ref()),
            ("refresh_in", refresh_in.as_ref()),
        ]);
        let idp = Arc::new(ScriptedIdp {
            device_code: String::new(),
            tokens: Mutex::new(VecDeque::new()),
            fallback: (200, body),
            polls: Mutex::new(0),
        });
        let app = ConfidentialClientApplication::builder("c")
            .authority("https://login.microsoftonline.com/t")
            .client_secret("s")
            .retry_policy(RetryPolicy::none())
            .http_client(idp.clone())
            .build()
            .unwrap();
        let rt = virtual_time();
        let before = OffsetDateTime::now_utc();
        let answer = rt.block_on(app.acquire_token_for_client([APP_SCOPE]).send());
        let after = OffsetDateTime::now_utc();
        match answer {
            Ok(r) => {
                check_lifetimes(&r, before, after)?;
                let cached = cached_expiries(app.token_cache());
                prop_assert_eq!(cached, vec![r.expires_on.unix_timestamp()]);
                // What was cached is served as written (or, with less than five minutes left,
                // asked for again).
                let again = rt.block_on(app.acquire_token_for_client([APP_SCOPE]).send()).unwrap();
                if again.source == TokenSource::Cache {
                    prop_assert_eq!(again.expires_on, r.expires_on);
                } else {
                    check_lifetimes(&again, before, OffsetDateTime::now_utc())?;
                }
            }
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::Service);
                prop_assert!(
                    ["invalid_token_response", "non_parsable_oauth_error"].contains(&e.code()),
                    "{}", e.code()
                );
                prop_assert!(cached_expiries(app.token_cache()).is_empty());
            }
        }
    }

    #[test]
    fn any_device_code_lifetime_and_interval_end_within_the_codes_life(
        expires_in in proptest::option::of(hostile_number()),
        interval in proptest::option::of(hostile_number()),
        answers in proptest::collection::vec(prop_oneof![
            Just("authorization_pending"), Just("slow_down")
        ], 0..6),
        then in prop_oneof![
            3 => Just(Some("token")),
            2 => Just(Some("expired_token")),
            1 => Just(None::<&str>),
        ],
    ) {
        let device_code = object(&[
            ("device_code", Some(&json!("dc").to_string())),
            ("user_code", Some(&json!("uc").to_string())),
            ("verification_uri", Some(&json!("https://microsoft.com/devicelogin").to_string())),
            ("expires_in", expires_in.as_ref()),
            ("interval", interval.as_ref()),
        ]);
        let token = (200, json!({"access_token": "at", "expires_in": 3599}).to_string());
        let tokens: VecDeque<(u16, String)> = answers.iter().map(|a| oauth_error(a)).collect();
        let fallback = match then {
            Some("token") => token,
            Some(code) => oauth_error(code),
            // The user never comes: only the code's expiry ends the flow.
            None => oauth_error("authorization_pending"),
        };
        let idp = Arc::new(ScriptedIdp {
            device_code,
            tokens: Mutex::new(tokens),
            fallback,
            polls: Mutex::new(0),
        });
        let app = PublicClientApplication::builder("p")
            .authority("https://login.microsoftonline.com/t")
            .retry_policy(RetryPolicy::none())
            .http_client(idp.clone())
            .build()
            .unwrap();
        let rt = virtual_time();
        let before = OffsetDateTime::now_utc();
        let (answer, waited) = rt.block_on(async {
            let started = tokio::time::Instant::now();
            let answer = app.acquire_token_by_device_code([USER_SCOPE]).send().await;
            (answer, started.elapsed())
        });
        // Virtual time: every wait ends by the (capped) expiry of the code.
        prop_assert!(waited <= HOUR, "waited {waited:?}");
        let polls = *idp.polls.lock().unwrap();
        prop_assert!(polls as u64 <= waited.as_secs(), "{polls} polls in {waited:?}");
        match answer {
            Ok(r) => check_lifetimes(&r, before, OffsetDateTime::now_utc())?,
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::Service);
                prop_assert!(
                    ["expired_token", "invalid_response"].contains(&e.code()),
                    "{}", e.code()
                );
            }
        }
    }
}
