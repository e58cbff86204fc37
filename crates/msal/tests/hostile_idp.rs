//! A hostile identity provider cannot crash, hang, starve or rob the library: answers too
//! large to read, callers with different options sharing one answer, tenant names that cost a
//! request each, and executors that are not Tokio.

mod common;
#[path = "support/entra_discovery.rs"]
mod entra_discovery;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{MockIdp, app_token, user_token};
use msal::http::{BoxFuture, HeaderMap, HttpClient, HttpRequest, HttpResponse, TransportError};
use msal::{ConfidentialClientApplication, ErrorKind, PublicClientApplication, TokenSource};
use serde_json::json;

const SCOPE: &str = "api://hostile/.default";

/// What 512 MiB looks like on the wire, sent in chunks of 64 KiB as the reader asks for them.
const HUGE: usize = 512 * 1024 * 1024;
static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];

/// A server that answers with bodies of 512 MiB where the tenant name says so, refuses the
/// tenants named `bad-*`, and serves the rest properly. It counts what it sent and asked.
#[derive(Clone, Default)]
struct Hostile {
    /// Body bytes handed to the connection by the huge answers.
    sent: Arc<AtomicUsize>,
    /// The path of every request.
    paths: Arc<Mutex<Vec<String>>>,
}

/// A 512 MiB answer with this status: announced by `Content-Length`, or chunked.
fn huge(h: &Hostile, status: u16, announced: bool) -> Response {
    let sent = h.sent.clone();
    let chunks = futures_util::stream::iter((0..HUGE / CHUNK.len()).map(move |_| {
        sent.fetch_add(CHUNK.len(), Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from_static(&CHUNK))
    }));
    let mut r = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json");
    if announced {
        r = r.header(header::CONTENT_LENGTH, HUGE.to_string());
    }
    r.body(Body::from_stream(chunks)).unwrap()
}

/// `huge-{status}-{announced|chunked}` names a huge answer of the token or device code endpoint.
fn huge_by_name(h: &Hostile, tenant: &str) -> Option<Response> {
    let mut parts = tenant.strip_prefix("huge-")?.split('-');
    let status = parts.next()?.parse().ok()?;
    Some(huge(h, status, parts.next()? == "announced"))
}

async fn metadata(State(h): State<(Hostile, String)>, Path(tenant): Path<String>) -> Response {
    let (h, base) = h;
    h.paths.lock().unwrap().push(format!("/{tenant}/metadata"));
    if tenant == "huge-metadata" {
        return huge(&h, 200, false);
    }
    if tenant.starts_with("bad-") {
        let body =
            json!({"error": "invalid_tenant", "error_description": "AADSTS90002: no such tenant"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    axum::Json(json!({
        "issuer": format!("{base}{tenant}/v2.0"),
        "authorization_endpoint": format!("{base}{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}{tenant}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{base}{tenant}/oauth2/v2.0/devicecode"),
    }))
    .into_response()
}

async fn endpoint(State(h): State<(Hostile, String)>, Path(tenant): Path<String>) -> Response {
    let (h, _) = h;
    h.paths.lock().unwrap().push(format!("/{tenant}/endpoint"));
    huge_by_name(&h, &tenant)
        .unwrap_or_else(|| (StatusCode::NOT_FOUND, "no such script").into_response())
}

impl Hostile {
    /// Serves on an ephemeral loopback port; returns the base URL (`http://127.0.0.1:p/`).
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let app = Router::new()
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(metadata),
            )
            .route("/{tenant}/oauth2/v2.0/token", post(endpoint))
            .route("/{tenant}/oauth2/v2.0/devicecode", post(endpoint))
            .with_state((self.clone(), base.clone()));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        base
    }

    fn count(&self, path: &str) -> usize {
        self.paths
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

fn daemon(authority: String) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("daemon")
        .authority(authority)
        .allow_insecure_loopback(true)
        .instance_discovery(false)
        .client_secret("s")
        .retry_policy(msal::http::RetryPolicy::none())
        .build()
        .unwrap()
}

fn assert_too_large(e: &msal::Error, status: u16) {
    assert_eq!(
        (e.kind(), e.code(), e.http_status()),
        (ErrorKind::Service, "response_too_large", Some(status)),
        "{e}"
    );
}

// ----- A: answers are read up to a limit ----------------------------------------------------

#[tokio::test]
async fn huge_token_answers_are_refused_without_being_read() {
    let h = Hostile::default();
    let base = h.start().await;
    for (tenant, status) in [
        ("huge-200-announced", 200),
        ("huge-200-chunked", 200),
        ("huge-400-announced", 400),
        ("huge-400-chunked", 400),
    ] {
        let app = daemon(format!("{base}{tenant}"));
        let call = app.acquire_token_for_client([SCOPE]).send();
        let e = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("the call ends without reading 512 MiB")
            .unwrap_err();
        assert_too_large(&e, status);
        assert_eq!(h.count(&format!("/{tenant}/endpoint")), 1, "{tenant}");
    }
    // The server produced far less than one answer: the reader stopped at the limit (what is
    // left over is what the socket buffers took before the connection closed).
    let sent = h.sent.load(Ordering::SeqCst);
    assert!(sent < HUGE / 8, "{sent} bytes were produced");
}

#[tokio::test]
async fn huge_discovery_and_device_code_answers_are_refused() {
    let h = Hostile::default();
    let base = h.start().await;
    let app = daemon(format!("{base}huge-metadata"));
    let call = app.acquire_token_for_client([SCOPE]).send();
    let e = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .unwrap()
        .unwrap_err();
    assert_too_large(&e, 200);
    assert_eq!(h.count("/huge-metadata/endpoint"), 0, "no token request");

    let app = PublicClientApplication::builder("cli")
        .authority(format!("{base}huge-200-chunked"))
        .allow_insecure_loopback(true)
        .instance_discovery(false)
        .build()
        .unwrap();
    let call = app.acquire_token_by_device_code(["User.Read"]).send();
    let e = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .unwrap()
        .unwrap_err();
    assert_too_large(&e, 200);
    assert!(h.sent.load(Ordering::SeqCst) < HUGE / 8);
}

#[tokio::test]
async fn the_default_client_takes_a_lower_limit() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token(&"a".repeat(4096), SCOPE));
    let http = msal::http::ReqwestHttpClient::builder()
        .max_response_size(1024)
        .build()
        .unwrap();
    let app = ConfidentialClientApplication::builder("daemon")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .http_client(Arc::new(http))
        .build()
        .unwrap();
    let e = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_too_large(&e, 200);
    assert_eq!(idp.token_requests().len(), 1);
}

/// Answers discovery properly and the token endpoint with a body one byte over 1 MiB.
#[derive(Debug)]
struct BloatedClient;

impl HttpClient for BloatedClient {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let path = req.url.path().to_owned();
        Box::pin(async move {
            Ok(sync_answer(
                &path,
                vec![b' '; msal::http::MAX_RESPONSE_SIZE + 1],
            ))
        })
    }
}

#[tokio::test]
async fn a_custom_client_returning_a_huge_body_gets_the_same_error() {
    let app = ConfidentialClientApplication::builder("daemon")
        .authority("https://login.microsoftonline.com/t")
        .client_secret("s")
        .http_client(Arc::new(BloatedClient))
        .build()
        .unwrap();
    let e = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_too_large(&e, 200);
}

// ----- B: single-flight keys hold every option ----------------------------------------------

#[tokio::test]
async fn silent_calls_with_and_without_partial_scopes_do_not_share_an_answer() {
    let idp = MockIdp::start().await;
    let granted = "User.Read openid profile offline_access";
    idp.push_token(user_token("at-0", "rt-0", granted));
    let app = PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap();
    app.acquire_token_by_username_password(["User.Read"], "alice@contoso.onmicrosoft.com", "pw")
        .send()
        .await
        .unwrap();
    let account = app.accounts().await.unwrap().remove(0);
    // The server grants User.Read and declines Mail.Read, slowly enough for both calls to be
    // under way together.
    let slow = Duration::from_millis(300);
    idp.push_token(user_token("at-1", "rt-1", granted).delayed(slow));
    idp.push_token(user_token("at-2", "rt-2", granted).delayed(slow));
    let scopes = ["User.Read", "Mail.Read"];
    let partial = app
        .acquire_token_silent(scopes, &account)
        .allow_partial_scopes(true)
        .send();
    let strict = app.acquire_token_silent(scopes, &account).send();
    let (partial, strict) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(partial, strict)
    })
    .await
    .unwrap();
    assert_eq!(idp.token_requests().len(), 3, "one request each");
    let partial = partial.expect("a partial grant is a success when allowed");
    assert_eq!(partial.declined_scopes, vec!["Mail.Read".to_owned()]);
    let strict = strict.expect_err("and an error otherwise");
    assert_eq!(strict.code(), "declined_scopes");
    let strict_at = strict.partial_result().unwrap().access_token.secret();
    assert_ne!(partial.access_token.secret(), strict_at, "two answers");
}

#[tokio::test]
async fn a_forced_refresh_does_not_share_the_answer_of_a_plain_call() {
    let idp = MockIdp::start().await;
    let slow = Duration::from_millis(300);
    idp.push_token(app_token("at-1", SCOPE).delayed(slow));
    idp.push_token(app_token("at-2", SCOPE).delayed(slow));
    let app = ConfidentialClientApplication::builder("daemon")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap();
    let plain = app.acquire_token_for_client([SCOPE]).send();
    let forced = app
        .acquire_token_for_client([SCOPE])
        .force_refresh(true)
        .send();
    let (plain, forced) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(plain, forced)
    })
    .await
    .unwrap();
    let (plain, forced) = (plain.unwrap(), forced.unwrap());
    assert_eq!(
        idp.token_requests().len(),
        2,
        "the forced call asked itself"
    );
    assert_eq!(forced.source, TokenSource::IdentityProvider);
    assert_ne!(plain.access_token.secret(), forced.access_token.secret());
}

// ----- C: refused tenant names cost one request ---------------------------------------------

#[tokio::test]
async fn a_refused_tenant_name_is_asked_for_once() {
    let h = Hostile::default();
    let base = h.start().await;
    let app = daemon(format!("{base}home"));
    for _ in 0..3 {
        let e = app
            .acquire_token_for_client([SCOPE])
            .with_tenant("bad-typo")
            .send()
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("invalid_tenant", Some(400)));
    }
    assert_eq!(
        h.count("/bad-typo/metadata"),
        1,
        "the refusal is remembered"
    );
    app.acquire_token_for_client([SCOPE])
        .with_tenant("bad-other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(h.count("/bad-other/metadata"), 1, "another name is asked");
}

// ----- E: outside a Tokio runtime -----------------------------------------------------------

/// Discovery and metadata for `login.microsoftonline.com/t`, the given body elsewhere.
fn sync_answer(path: &str, other: Vec<u8>) -> HttpResponse {
    let body = entra_discovery::answer(path).unwrap_or(other);
    HttpResponse::new(StatusCode::OK, HeaderMap::new(), body)
}

/// Answers at once, without any runtime: the token endpoint from a script (status, body),
/// the device code endpoint with a code to poll for every second.
#[derive(Debug)]
struct SyncClient {
    script: Mutex<Vec<(u16, String)>>,
    token_requests: AtomicUsize,
}

impl SyncClient {
    fn new(script: Vec<(u16, String)>) -> Arc<Self> {
        Arc::new(SyncClient {
            script: Mutex::new(script),
            token_requests: AtomicUsize::new(0),
        })
    }
}

impl HttpClient for SyncClient {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let path = req.url.path().to_owned();
        let resp = if path.ends_with("/devicecode") {
            let code = json!({"device_code": "dc", "user_code": "UC", "interval": 1, "expires_in": 60,
                              "verification_uri": "https://microsoft.com/devicelogin"});
            sync_answer(&path, code.to_string().into_bytes())
        } else if path.ends_with("/token") {
            self.token_requests.fetch_add(1, Ordering::SeqCst);
            let (status, body) = self.script.lock().unwrap().remove(0);
            let mut r = sync_answer(&path, body.into_bytes());
            r.status = StatusCode::from_u16(status).unwrap();
            r
        } else {
            sync_answer(&path, Vec::new())
        };
        Box::pin(std::future::ready(Ok(resp)))
    }
}

fn token_body(at: &str, refresh_in: u64) -> String {
    json!({"token_type": "Bearer", "expires_in": 3599, "refresh_in": refresh_in,
           "access_token": at, "scope": SCOPE})
    .to_string()
}

#[test]
fn client_credentials_work_on_an_executor_that_is_not_tokio() {
    // A 5xx is retried after a delay, and a token past refresh_on is served from the cache
    // with a background refresh: neither may need Tokio.
    let http = SyncClient::new(vec![(503, "down".into()), (200, token_body("at-1", 0))]);
    let app = ConfidentialClientApplication::builder("daemon")
        .authority("https://login.microsoftonline.com/t")
        .client_secret("s")
        .http_client(http.clone())
        .retry_policy(msal::http::RetryPolicy {
            delay: Duration::from_millis(10),
            ..Default::default()
        })
        .build()
        .unwrap();
    let first = futures_lite::future::block_on(app.acquire_token_for_client([SCOPE]).send())
        .expect("a token, without Tokio");
    assert_eq!(first.access_token.secret(), "at-1");
    assert_eq!(
        http.token_requests.load(Ordering::SeqCst),
        2,
        "the 5xx was retried"
    );
    let again =
        futures_lite::future::block_on(app.acquire_token_for_client([SCOPE]).send()).unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(http.token_requests.load(Ordering::SeqCst), 2);
}

#[test]
fn the_device_code_flow_polls_on_an_executor_that_is_not_tokio() {
    let granted = "User.Read openid profile offline_access";
    let user = user_token("at-1", "rt-1", granted);
    let http = SyncClient::new(vec![
        (400, json!({"error": "authorization_pending"}).to_string()),
        (user.status, user.body),
    ]);
    let app = PublicClientApplication::builder("public-client")
        .authority("https://login.microsoftonline.com/t")
        .http_client(http.clone())
        .build()
        .unwrap();
    let r = futures_lite::future::block_on(app.acquire_token_by_device_code(["User.Read"]).send())
        .expect("a token, without Tokio");
    assert_eq!(r.access_token.secret(), "at-1");
    assert_eq!(http.token_requests.load(Ordering::SeqCst), 2);
}

#[test]
fn what_needs_tokio_is_a_typed_error_outside_it() {
    // The default HTTP client is reqwest, on Tokio.
    let app = ConfidentialClientApplication::builder("daemon")
        .authority("https://login.microsoftonline.com/t")
        .client_secret("s")
        .build()
        .unwrap();
    let e =
        futures_lite::future::block_on(app.acquire_token_for_client([SCOPE]).send()).unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "no_async_runtime"),
        "{e}"
    );
    // An interactive sign-in listens on a Tokio socket.
    let app = PublicClientApplication::builder("public-client")
        .authority("https://login.microsoftonline.com/t")
        .http_client(SyncClient::new(vec![]))
        .build()
        .unwrap();
    let e = futures_lite::future::block_on(app.acquire_token_interactive(["User.Read"]).send())
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "no_async_runtime"),
        "{e}"
    );
}
