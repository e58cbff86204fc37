//! The claims-challenge middleware (`msal::middleware::BearerAuth`) end to end against the
//! emulator's protected API `/api/me`, through both fronts: `reqwest-middleware` and a
//! `tower::Layer` around hyper-util's client.
//!
//! The user `cae.user` always gets `401 insufficient_claims` from `/api/me` until their token
//! carries `acrs: ["c1"]`, which the emulator grants when a token request asks for it in its
//! `claims`. App tokens are never challenged.

use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use msal::error::codes;
use msal::middleware::{BearerAuth, BearerService, SignedInAccount, TokenSource};
use msal::{
    AccessToken, ConfidentialClientApplication, ErrorKind, PublicClientApplication,
    UiRequiredClassification,
};
use msal_emulator::defaults as d;
use msal_emulator::{CLAIMS_CHALLENGE_JSON, Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::{Value, json};
use tower::{Layer as _, Service as _};

/// Every test is bounded: a hang is a failure, not a stuck CI job.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("the test finished in time")
}

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap()
}

fn api_me(emu: &EmulatorHandle) -> String {
    format!("{}api/me", emu.base_url())
}

/// The claims of the emulator's challenge merged with the app's capability `cp1`, as the
/// token request must carry them.
fn expected_claims() -> Value {
    json!({"access_token": {"xms_cc": {"values": ["cp1"]}, "acrs": {"essential": true, "value": "c1"}}})
}

/// A public client with the `cp1` capability, signed in as the user whose API demands claims.
async fn signed_in_cae_user(emu: &EmulatorHandle) -> (SignedInAccount, String) {
    let app = PublicClientApplication::builder(d::PUBLIC_CLIENT_ID)
        .authority(emu.authority(d::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_capabilities(["cp1"])
        .build()
        .unwrap();
    let r = app
        .acquire_token_by_username_password(
            [d::GRAPH_USER_READ],
            d::CLAIMS_CHALLENGE_USER_USERNAME,
            d::USER_PASSWORD,
        )
        .send()
        .await
        .unwrap();
    let token = r.access_token.secret().to_owned();
    emu.clear_requests();
    (SignedInAccount::new(app, r.account.unwrap()), token)
}

fn reqwest_client(auth: BearerAuth) -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(auth)
        .build()
}

type Tower = BearerService<HyperClient<HttpConnector, Full<Bytes>>>;

fn tower_client(auth: BearerAuth) -> Tower {
    auth.layer(HyperClient::builder(TokioExecutor::new()).build_http())
}

/// A GET through the tower front: the status and the body as JSON (`Null` when it is not).
async fn tower_get(svc: &mut Tower, url: &str) -> Result<(u16, Value), tower::BoxError> {
    poll_fn(|cx| svc.poll_ready(cx)).await?;
    let req = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = svc.call(req).await?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// The msal error inside the reqwest front's error.
fn msal_error_of_reqwest(e: reqwest_middleware::Error) -> msal::Error {
    match e {
        reqwest_middleware::Error::Middleware(e) => e
            .downcast_ref::<msal::Error>()
            .expect("the middleware's error is an msal::Error")
            .clone(),
        other => panic!("expected the middleware's error, got {other:?}"),
    }
}

/// The msal error inside the tower front's error.
fn msal_error_of_tower(e: tower::BoxError) -> msal::Error {
    e.downcast_ref::<msal::Error>()
        .unwrap_or_else(|| panic!("expected an msal::Error, got {e:?}"))
        .clone()
}

/// The requests to the token endpoint and the API, in order: (path, status).
fn wire(emu: &EmulatorHandle) -> Vec<msal_emulator::RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path == "/api/me" || r.path.ends_with("/oauth2/v2.0/token"))
        .collect()
}

/// The first call is challenged; exactly one token request with the challenge's claims merged
/// with `xms_cc`, then the retried call with the new token; the next call is served by the
/// cache (the token with the claims replaced the old one).
fn assert_one_challenge_answered(emu: &EmulatorHandle, first_token: &str) {
    let w = wire(emu);
    let seen: Vec<(&str, u16)> = w.iter().map(|r| (r.path.as_str(), r.status)).collect();
    assert_eq!(w.len(), 3, "{seen:?}");
    assert_eq!((w[0].path.as_str(), w[0].status), ("/api/me", 401));
    assert_eq!(
        w[0].header("authorization"),
        Some(format!("Bearer {first_token}").as_str()),
        "the signed-in user's token, from the cache"
    );
    assert!(w[1].path.ends_with("/oauth2/v2.0/token"), "{seen:?}");
    assert_eq!(w[1].status, 200);
    assert_eq!(w[1].form_value("grant_type"), Some("refresh_token"));
    let claims: Value = serde_json::from_str(w[1].form_value("claims").unwrap()).unwrap();
    assert_eq!(claims, expected_claims());
    assert_eq!((w[2].path.as_str(), w[2].status), ("/api/me", 200));
    let retried = w[2].header("authorization").unwrap();
    assert!(retried.starts_with("Bearer ") && retried != format!("Bearer {first_token}"));
}

#[tokio::test]
async fn reqwest_middleware_answers_the_claims_challenge_once() {
    bounded(async {
        let emu = emulator().await;
        let (account, first_token) = signed_in_cae_user(&emu).await;
        let client = reqwest_client(BearerAuth::new(account, [d::GRAPH_USER_READ]));

        let res = client.get(api_me(&emu)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let me: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        assert_eq!(me["userPrincipalName"], d::CLAIMS_CHALLENGE_USER_USERNAME);
        assert_one_challenge_answered(&emu, &first_token);

        emu.clear_requests();
        let res = client.get(api_me(&emu)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let w = wire(&emu);
        assert_eq!(w.len(), 1, "the new token comes from the cache");
    })
    .await;
}

#[tokio::test]
async fn tower_layer_answers_the_claims_challenge_once() {
    bounded(async {
        let emu = emulator().await;
        let (account, first_token) = signed_in_cae_user(&emu).await;
        let mut svc = tower_client(BearerAuth::new(account, [d::GRAPH_USER_READ]));

        let (status, me) = tower_get(&mut svc, &api_me(&emu)).await.unwrap();
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["userPrincipalName"], d::CLAIMS_CHALLENGE_USER_USERNAME);
        assert_one_challenge_answered(&emu, &first_token);

        emu.clear_requests();
        let (status, _) = tower_get(&mut svc, &api_me(&emu)).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(wire(&emu).len(), 1, "the new token comes from the cache");
    })
    .await;
}

#[tokio::test]
async fn a_streaming_body_is_not_retried_and_the_error_says_so() {
    bounded(async {
        let emu = emulator().await;
        let (account, _) = signed_in_cae_user(&emu).await;
        let client = reqwest_client(BearerAuth::new(account, [d::GRAPH_USER_READ]));
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"{}"))];
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));

        let e = client
            .get(api_me(&emu))
            .body(body)
            .send()
            .await
            .unwrap_err();
        let e = msal_error_of_reqwest(e);
        assert_eq!(e.kind(), ErrorKind::Client);
        assert_eq!(e.code(), codes::REQUEST_NOT_REPLAYABLE);
        assert_eq!(e.claims(), Some(CLAIMS_CHALLENGE_JSON), "to acquire with");
        let w = wire(&emu);
        assert_eq!(w.len(), 1, "one API call, no token request");
        assert_eq!(w[0].status, 401);
    })
    .await;
}

/// A protected API that challenges every request, whatever the token: the answer to the
/// retried request is a second challenge. Records the `Authorization` of each request.
async fn always_challenging_api() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let www = format!(
        "Bearer realm=\"\", error=\"insufficient_claims\", claims=\"{}\"",
        base64::engine::general_purpose::STANDARD.encode(CLAIMS_CHALLENGE_JSON)
    );
    let app = axum::Router::new().route(
        "/api/me",
        axum::routing::get(move |headers: http::HeaderMap| {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            recorded.lock().unwrap().push(auth);
            let www = www.clone();
            async move { (http::StatusCode::UNAUTHORIZED, [("www-authenticate", www)]) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/me", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn assert_second_challenge(e: &msal::Error, seen: &Mutex<Vec<String>>, emu: &EmulatorHandle) {
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(e.code(), codes::INSUFFICIENT_CLAIMS);
    assert_eq!(e.classification(), Some(UiRequiredClassification::None));
    assert_eq!(e.claims(), Some(CLAIMS_CHALLENGE_JSON));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "the first request and one retry, no loop");
    assert_ne!(seen[0], seen[1], "the retry carries the new token");
    let tokens = wire(emu);
    assert_eq!(tokens.len(), 1, "one token request, with the claims");
    assert!(tokens[0].form_value("claims").is_some());
}

#[tokio::test]
async fn a_second_challenge_is_ui_required_with_the_claims_not_a_loop() {
    bounded(async {
        let emu = emulator().await;
        let (url, seen) = always_challenging_api().await;

        let (account, _) = signed_in_cae_user(&emu).await;
        let client = reqwest_client(BearerAuth::new(account, [d::GRAPH_USER_READ]));
        let e = msal_error_of_reqwest(client.get(&url).send().await.unwrap_err());
        assert_second_challenge(&e, &seen, &emu);

        seen.lock().unwrap().clear();
        let (account, _) = signed_in_cae_user(&emu).await;
        let mut svc = tower_client(BearerAuth::new(account, [d::GRAPH_USER_READ]));
        let e = msal_error_of_tower(tower_get(&mut svc, &url).await.unwrap_err());
        assert_second_challenge(&e, &seen, &emu);
    })
    .await;
}

#[tokio::test]
async fn a_challenge_that_needs_the_user_is_ui_required_with_the_claims() {
    bounded(async {
        let emu = emulator().await;
        let (account, _) = signed_in_cae_user(&emu).await;
        // The session is gone: the token with the claims needs a new sign-in.
        emu.revoke_refresh_tokens(d::CLAIMS_CHALLENGE_USER_USERNAME);
        let client = reqwest_client(BearerAuth::new(account, [d::GRAPH_USER_READ]));

        let e = msal_error_of_reqwest(client.get(api_me(&emu)).send().await.unwrap_err());
        assert_eq!(e.kind(), ErrorKind::UiRequired, "{e:?}");
        let claims: Value = serde_json::from_str(e.claims().expect("the claims")).unwrap();
        assert_eq!(claims["access_token"]["acrs"]["value"], "c1");
        let w = wire(&emu);
        let seen: Vec<(&str, u16)> = w.iter().map(|r| (r.path.as_str(), r.status)).collect();
        assert_eq!(w.len(), 2, "{seen:?}");
        assert_eq!((w[0].path.as_str(), w[0].status), ("/api/me", 401));
        assert!(
            w[1].path.ends_with("/token") && w[1].status == 400,
            "{seen:?}"
        );
    })
    .await;
}

/// A token source of the test's own: a token the API refuses.
struct Garbage;

impl TokenSource for Garbage {
    fn token<'a>(
        &'a self,
        _scopes: &'a [String],
        _claims: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccessToken, msal::Error>> {
        Box::pin(async { Ok(AccessToken::new("not-a-token")) })
    }
}

#[tokio::test]
async fn a_401_without_insufficient_claims_is_returned_as_is() {
    bounded(async {
        let emu = emulator().await;
        let client = reqwest_client(BearerAuth::new(Garbage, [d::GRAPH_USER_READ]));
        let res = client.get(api_me(&emu)).send().await.unwrap();
        assert_eq!(res.status(), 401);
        let www = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(www.contains("error=\"invalid_token\""), "{www}");

        let mut svc = tower_client(BearerAuth::new(Garbage, [d::GRAPH_USER_READ]));
        let (status, body) = tower_get(&mut svc, &api_me(&emu)).await.unwrap();
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");

        let w = wire(&emu);
        assert_eq!(w.len(), 2, "one call per front, no retry, no token request");
        assert!(
            w.iter()
                .all(|r| r.header("authorization") == Some("Bearer not-a-token"))
        );
    })
    .await;
}

#[tokio::test]
async fn an_app_token_gets_its_bearer_and_200() {
    bounded(async {
        let emu = emulator().await;
        // Even with every user challenged, app tokens are not.
        emu.set_api_claims_challenge(true);
        let app = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
            .authority(emu.authority(d::TENANT_ID))
            .allow_insecure_loopback(true)
            .client_secret(d::CLIENT_SECRET)
            .client_capabilities(["cp1"])
            .build()
            .unwrap();
        let auth = BearerAuth::new(app, [d::GRAPH_DEFAULT]);

        let res = reqwest_client(auth.clone())
            .get(api_me(&emu))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let me: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        assert_eq!(me["appId"], d::CONFIDENTIAL_CLIENT_ID);

        let mut svc = tower_client(auth);
        let (status, me) = tower_get(&mut svc, &api_me(&emu)).await.unwrap();
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["appId"], d::CONFIDENTIAL_CLIENT_ID);

        let w = wire(&emu);
        let seen: Vec<(&str, u16)> = w.iter().map(|r| (r.path.as_str(), r.status)).collect();
        assert_eq!(w.len(), 3, "one token request, then the cache: {seen:?}");
        assert_eq!(w[0].form_value("grant_type"), Some("client_credentials"));
        let claims: Value = serde_json::from_str(w[0].form_value("claims").unwrap()).unwrap();
        assert_eq!(
            claims,
            json!({"access_token": {"xms_cc": {"values": ["cp1"]}}}),
            "the app advertises cp1"
        );
        assert_eq!(w[1].header("authorization"), w[2].header("authorization"));
    })
    .await;
}

#[tokio::test]
async fn a_managed_identity_token_source_takes_exactly_one_scope() {
    bounded(async {
        let app =
            msal::ManagedIdentityApplication::builder(msal::ManagedIdentityId::SystemAssigned)
                .environment([("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")])
                .build()
                .unwrap();
        let (url, seen) = always_challenging_api().await;
        let client = reqwest_client(BearerAuth::new(app, ["a/.default", "b/.default"]));
        let e = msal_error_of_reqwest(client.get(&url).send().await.unwrap_err());
        assert_eq!(e.code(), codes::INVALID_ARGUMENT);
        assert!(
            seen.lock().unwrap().is_empty(),
            "nothing sent without a token"
        );
    })
    .await;
}
