//! Bad input gets a typed error, never a panic: error bodies, token answers, JWTs, cache files
//! and `Retry-After` values, as arbitrary bytes.

use std::sync::Arc;

#[path = "support/entra_discovery.rs"]
mod entra_discovery;

use msal::http::{
    BoxFuture, HeaderMap, HttpClient, HttpRequest, HttpResponse, StatusCode, TransportError,
};
use msal::{ConfidentialClientApplication, ErrorKind, TokenCache};
use proptest::prelude::*;
use serde_json::json;

/// Answers discovery properly and the token endpoint with the given status and body.
#[derive(Debug)]
struct HostileTokenEndpoint {
    status: u16,
    body: Vec<u8>,
}

impl HttpClient for HostileTokenEndpoint {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let path = req.url.path().to_owned();
            let (status, body) = if let Some(d) = entra_discovery::answer(&path) {
                (200, d)
            } else {
                (self.status, self.body.clone())
            };
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Ok(HttpResponse::new(status, HeaderMap::new(), body))
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Bodies that look almost right: JSON objects with token and error fields of any type.
fn almost_json() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(|s| json!(s)),
        Just(json!([1, "a"])),
        Just(json!({"x": 1})),
    ];
    let key = prop_oneof![
        Just("access_token"),
        Just("expires_in"),
        Just("ext_expires_in"),
        Just("refresh_in"),
        Just("token_type"),
        Just("scope"),
        Just("id_token"),
        Just("client_info"),
        Just("error"),
        Just("error_codes"),
        Just("suberror"),
        Just("claims"),
        Just("foci"),
    ];
    proptest::collection::vec((key, value), 0..8).prop_map(|fields| {
        let obj: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        serde_json::Value::Object(obj).to_string().into_bytes()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn any_token_endpoint_answer_is_a_result_or_a_typed_error(
        status in prop_oneof![Just(200u16), Just(400), Just(401), Just(429), Just(503), 100u16..600],
        body in prop_oneof![almost_json(), proptest::collection::vec(any::<u8>(), 0..200)],
    ) {
        let rt = runtime();
        let app = ConfidentialClientApplication::builder("c")
            .authority("https://login.microsoftonline.com/t")
            .client_secret("s")
            .retry_policy(msal::http::RetryPolicy::none())
            .http_client(Arc::new(HostileTokenEndpoint { status, body }))
            .build()
            .unwrap();
        match rt.block_on(app.acquire_token_for_client(["api://x/.default"]).send()) {
            Ok(r) => prop_assert!(!r.access_token.secret().is_empty()),
            Err(e) => {
                prop_assert!(matches!(e.kind(), ErrorKind::Service | ErrorKind::UiRequired));
                prop_assert!(e.correlation_id().is_some());
                prop_assert!(!e.code().is_empty());
            }
        }
    }

    #[test]
    fn error_bodies_parse_or_are_refused(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Some(e) = msal::error::OAuthErrorResponse::parse(&body) {
            prop_assert!(!e.error.is_empty());
            let _ = msal::Error::from_oauth_error(e);
        }
    }

    #[test]
    fn jwts_decode_or_are_refused(s in ".{0,200}") {
        let _ = msal::oauth::decode_jwt_header(&s);
        let _ = msal::oauth::decode_jwt_payload(&s);
    }

    #[test]
    fn retry_after_is_bounded(s in ".{0,40}") {
        if let Some(d) = msal::http::parse_retry_after(&s) {
            prop_assert!(d <= msal::http::MAX_RETRY_AFTER);
        }
    }

    #[test]
    fn cache_files_load_or_are_reported_corrupt(text in prop_oneof![
        ".{0,200}",
        almost_json().prop_map(|b| String::from_utf8(b).unwrap_or_default()),
        proptest::collection::vec((prop_oneof![
            Just("AccessToken"), Just("RefreshToken"), Just("IdToken"), Just("Account"), Just("AppMetadata")
        ], almost_json()), 0..4).prop_map(|sections| {
            let obj: serde_json::Map<String, serde_json::Value> = sections
                .into_iter()
                .map(|(k, v)| {
                    let inner: serde_json::Value = serde_json::from_slice(&v).unwrap_or_default();
                    (k.to_owned(), json!({"some-key": inner}))
                })
                .collect();
            serde_json::Value::Object(obj).to_string()
        }),
    ]) {
        let cache = TokenCache::new();
        match cache.deserialize(&text) {
            Ok(()) => { let _ = cache.serialize(); }
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::Client);
                prop_assert_eq!(e.code(), "cache_corrupt");
            }
        }
    }
}
