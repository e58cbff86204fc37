//! Regional endpoints (ESTS-R) on the wire: a named region, `REGION_NAME`, the instance
//! metadata service (asked once), the logged fallback to the global endpoint, invalid regions,
//! the cache shared with global apps, user flows left global, and the emulator.
//!
//! The library computes the regional host from the authority's: `{region}.localhost` for a
//! `localhost` authority. The tests send such requests to their loopback server through
//! [`Loopback`], an HTTP client that connects `*.localhost` to `127.0.0.1` and keeps the
//! regional name in the `Host` header, so the server records which host was asked.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use common::{MockIdp, TENANT, app_token, user_token};
use msal::error::codes;
use msal::http::{
    BoxFuture, HeaderValue, HttpClient, HttpRequest, HttpResponse, ReqwestHttpClient, StatusCode,
    TransportError,
};
use msal::{
    ConfidentialClientApplication, ErrorKind, Region, RegionDetection, TokenCache, TokenSource,
};
use serde_json::json;

const SCOPE: &str = "api://msal-emulator-api/.default";
const LIMIT: Duration = Duration::from_secs(20);

/// Connects `{anything}.localhost:{port}` to `127.0.0.1:{port}`, the regional name kept in
/// the `Host` header; other requests go as they are.
#[derive(Debug)]
struct Loopback(ReqwestHttpClient);

impl Loopback {
    fn new() -> Arc<Self> {
        Arc::new(Loopback(ReqwestHttpClient::builder().build().unwrap()))
    }
}

impl HttpClient for Loopback {
    fn execute(&self, mut req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        if let Some(host) = req.url.host_str().map(str::to_owned)
            && host.ends_with(".localhost")
        {
            let port = req.url.port().unwrap();
            req.headers.insert(
                "host",
                HeaderValue::from_str(&format!("{host}:{port}")).unwrap(),
            );
            req.url.set_host(Some("127.0.0.1")).unwrap();
        }
        self.0.execute(req)
    }
}

/// The mock IdP's authority on `localhost` (the host the regional one is made from).
fn localhost_authority(idp: &MockIdp) -> String {
    idp.authority().replace("127.0.0.1", "localhost")
}

fn builder(idp: &MockIdp) -> msal::ConfidentialClientApplicationBuilder {
    ConfidentialClientApplication::builder("daemon-app")
        .authority(localhost_authority(idp))
        .allow_insecure_loopback(true)
        .instance_discovery(false)
        .client_secret("s3cret-value")
        .http_client(Loopback::new())
}

fn port(idp: &MockIdp) -> u16 {
    url::Url::parse(&idp.base).unwrap().port().unwrap()
}

/// The host of the global token endpoint: the metadata's (the mock IdP names itself by its
/// IP address there).
fn global_host(idp: &MockIdp) -> String {
    format!("127.0.0.1:{}", port(idp))
}

/// The `Host` of each token request the IdP received.
fn token_hosts(idp: &MockIdp) -> Vec<String> {
    idp.token_requests()
        .iter()
        .map(|r| r.header("host").unwrap_or_default().to_owned())
        .collect()
}

/// A stand-in for the instance metadata service: answers `answer` at the VM location's
/// exact path and query with `Metadata: true`, 400 otherwise, and counts the requests.
struct Imds {
    base: String,
    hits: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone)]
struct ImdsState {
    hits: Arc<AtomicUsize>,
    answer: (u16, &'static str),
    delay: Duration,
}

async fn location(
    State(s): State<ImdsState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> (StatusCode, String) {
    s.hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(s.delay).await;
    let exact = q.as_deref() == Some("format=text&api-version=2021-01-01")
        && headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true");
    if !exact {
        return (StatusCode::BAD_REQUEST, "bad request".into());
    }
    (StatusCode::from_u16(s.answer.0).unwrap(), s.answer.1.into())
}

impl Imds {
    async fn start(status: u16, body: &'static str, delay: Duration) -> Imds {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new()
            .route("/metadata/instance/compute/location", get(location))
            .with_state(ImdsState {
                hits: hits.clone(),
                answer: (status, body),
                delay,
            });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Imds {
            base: format!("http://{addr}"),
            hits,
            _stop: tx,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Detection from these variables only (never the process's), with this IMDS.
fn detection(vars: &[(&str, &str)], imds: &str) -> RegionDetection {
    RegionDetection::new()
        .vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .imds_endpoint(imds)
        .timeout(Duration::from_millis(500))
}

/// The log lines written while the guard lives (this thread only: tests here run on a
/// current-thread runtime).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let log = self.clone();
        let sub = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || log.clone())
            .finish();
        tracing::subscriber::set_default(sub)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_named_region_sends_app_tokens_to_the_regional_host() {
    tokio::time::timeout(LIMIT, async {
        let idp = MockIdp::start().await;
        idp.push_token(app_token("at-regional", SCOPE));
        let app = builder(&idp)
            .azure_region(Region::named("WestUS2"))
            .build()
            .unwrap();
        let r = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
        assert_eq!(r.access_token.secret(), "at-regional");
        let reqs = idp.token_requests();
        assert_eq!(reqs.len(), 1);
        let t = &reqs[0];
        assert_eq!(t.method, "POST");
        assert_eq!(t.path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(t.query, "");
        assert_eq!(
            t.header("host"),
            Some(format!("westus2.localhost:{}", port(&idp)).as_str())
        );
        assert_eq!(
            t.field_names(),
            vec!["client_id", "client_secret", "grant_type", "scope"]
        );
        assert_eq!(t.field("grant_type"), Some("client_credentials"));
        assert_eq!(t.field("scope"), Some(SCOPE));
        // The metadata came from the global host.
        let meta: Vec<_> = idp
            .requests()
            .into_iter()
            .filter(|r| r.path.ends_with("openid-configuration"))
            .collect();
        assert_eq!(meta.len(), 1);
        assert_eq!(
            meta[0].header("host"),
            Some(format!("localhost:{}", port(&idp)).as_str())
        );
        // Served from the cache afterwards.
        let again = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
        assert_eq!(again.source, TokenSource::Cache);
        assert_eq!(idp.token_requests().len(), 1);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn region_name_is_read_from_the_given_variables_before_imds() {
    tokio::time::timeout(LIMIT, async {
        let idp = MockIdp::start().await;
        let imds = Imds::start(200, "westus2", Duration::ZERO).await;
        idp.push_token(app_token("at", SCOPE));
        let app = builder(&idp)
            .azure_region(Region::AutoDetect)
            .region_detection(detection(&[("REGION_NAME", "East US 2")], &imds.base))
            .build()
            .unwrap();
        app.acquire_token_for_client([SCOPE]).send().await.unwrap();
        assert_eq!(
            token_hosts(&idp),
            vec![format!("eastus2.localhost:{}", port(&idp))]
        );
        assert_eq!(imds.hits(), 0, "REGION_NAME is enough");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn imds_is_asked_once_for_the_region_of_many_requests() {
    tokio::time::timeout(LIMIT, async {
        let idp = MockIdp::start().await;
        let imds = Imds::start(200, "westus2\n", Duration::ZERO).await;
        let app = builder(&idp)
            .azure_region(Region::AutoDetect)
            .region_detection(detection(&[], &imds.base))
            .build()
            .unwrap();
        for i in 0..3 {
            let scope = format!("api://app-{i}/.default");
            idp.push_token(app_token(&format!("at-{i}"), &scope));
            app.acquire_token_for_client([scope.as_str()])
                .send()
                .await
                .unwrap();
        }
        let regional = format!("westus2.localhost:{}", port(&idp));
        assert_eq!(token_hosts(&idp), vec![regional.clone(); 3]);
        assert_eq!(imds.hits(), 1, "the region is detected once per app");

        // Concurrent first requests share one detection too.
        let slow = Imds::start(200, "westus2", Duration::from_millis(200)).await;
        let app = builder(&idp)
            .azure_region(Region::AutoDetect)
            .region_detection(detection(&[], &slow.base))
            .build()
            .unwrap();
        let scopes: Vec<String> = (0..4)
            .map(|i| format!("api://other-{i}/.default"))
            .collect();
        for s in &scopes {
            idp.push_token(app_token("at", s));
        }
        let calls = scopes
            .iter()
            .map(|s| app.acquire_token_for_client([s.as_str()]).send());
        for r in futures_util::future::join_all(calls).await {
            r.unwrap();
        }
        assert_eq!(slow.hits(), 1, "one detection for concurrent requests");
        assert_eq!(token_hosts(&idp), vec![regional; 7]);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn no_region_from_imds_falls_back_to_global_logged_and_remembered() {
    tokio::time::timeout(LIMIT, async {
        // Unreachable (a port nobody listens on), an error status, garbage, too slow.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let failing = Imds::start(500, "westus2", Duration::ZERO).await;
        let garbage = Imds::start(200, "evil.example.com/x", Duration::ZERO).await;
        let slow = Imds::start(200, "westus2", Duration::from_secs(30)).await;
        for (name, base, imds) in [
            ("unreachable", closed.as_str(), None),
            ("500", failing.base.as_str(), Some(&failing)),
            ("garbage", garbage.base.as_str(), Some(&garbage)),
            ("timeout", slow.base.as_str(), Some(&slow)),
        ] {
            let log = Log::default();
            let _guard = log.capture();
            let idp = MockIdp::start().await;
            let app = builder(&idp)
                .azure_region(Region::AutoDetect)
                .region_detection(detection(&[("REGION_NAME", " ")], base))
                .build()
                .unwrap();
            for i in 0..2 {
                let scope = format!("api://app-{i}/.default");
                idp.push_token(app_token("at", &scope));
                app.acquire_token_for_client([scope.as_str()])
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            assert_eq!(token_hosts(&idp), vec![global_host(&idp); 2], "{name}");
            if let Some(imds) = imds {
                assert_eq!(imds.hits(), 1, "{name}: the failure is remembered too");
            }
            let text = log.text();
            assert!(
                text.contains("WARN") && text.contains("no Azure region detected"),
                "{name}: {text}"
            );
            assert!(
                !text.contains("s3cret-value"),
                "{name}: no secret in the log"
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_region_that_is_not_a_dns_label_is_refused() {
    for bad in ["westus2.evil.com", "west/us", "-west", "", "a:1", "x#y"] {
        let e = ConfidentialClientApplication::builder("daemon-app")
            .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
            .client_secret("s")
            .azure_region(Region::named(bad))
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Client, "{bad:?}");
        assert_eq!(e.code(), codes::INVALID_REGION, "{bad:?}");
    }
    // A bad IMDS base is refused too, before anything is sent.
    let e = ConfidentialClientApplication::builder("daemon-app")
        .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
        .client_secret("s")
        .azure_region(Region::AutoDetect)
        .region_detection(RegionDetection::new().imds_endpoint("file:///etc/passwd"))
        .build()
        .unwrap_err();
    assert_eq!(e.code(), codes::INVALID_CONFIGURATION);
}

#[tokio::test]
async fn regional_and_global_apps_share_the_cache() {
    tokio::time::timeout(LIMIT, async {
        let idp = MockIdp::start().await;
        idp.push_token(app_token("at-shared", SCOPE));
        let cache = TokenCache::new();
        let regional = builder(&idp)
            .azure_region(Region::named("westus2"))
            .token_cache(cache.clone())
            .build()
            .unwrap();
        let global = builder(&idp).token_cache(cache.clone()).build().unwrap();
        regional
            .acquire_token_for_client([SCOPE])
            .send()
            .await
            .unwrap();
        let r = global
            .acquire_token_for_client([SCOPE])
            .send()
            .await
            .unwrap();
        assert_eq!(r.source, TokenSource::Cache);
        assert_eq!(r.access_token.secret(), "at-shared");
        assert_eq!(idp.token_requests().len(), 1, "no second request");
        // Cached under the global environment (the authority's host), not the regional one.
        let json: serde_json::Value = serde_json::from_str(&cache.serialize()).unwrap();
        let at = json["AccessToken"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap();
        let env = at["environment"].as_str().unwrap();
        assert!(
            env.starts_with("localhost") && !env.contains("westus2"),
            "{env}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn user_flows_of_a_regional_app_stay_global() {
    tokio::time::timeout(LIMIT, async {
        let idp = MockIdp::start().await;
        let app = builder(&idp)
            .azure_region(Region::named("westus2"))
            .build()
            .unwrap();
        idp.push_token(user_token("at-obo", "rt", "User.Read"));
        app.acquire_token_on_behalf_of(["User.Read"], "incoming.jwt.token")
            .send()
            .await
            .unwrap();
        idp.push_token(user_token("at-rt", "rt2", "User.Read"));
        app.acquire_token_by_refresh_token("old-rt", ["User.Read"])
            .send()
            .await
            .unwrap();
        assert_eq!(token_hosts(&idp), vec![global_host(&idp); 2]);
    })
    .await
    .unwrap();
}

/// Records the URL of every request and answers metadata for any authority and a token.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<String>>);

impl HttpClient for Recorder {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.0.lock().unwrap().push(req.url.to_string());
        Box::pin(async move {
            let body = if req.url.path().ends_with("openid-configuration") {
                let mut base = req.url.clone();
                let path = req.url.path();
                let tenant_path = path
                    .trim_end_matches("/.well-known/openid-configuration")
                    .trim_end_matches("/v2.0");
                base.set_path(tenant_path);
                let b = base.as_str().trim_end_matches('/').to_owned();
                let oauth = if tenant_path.ends_with("/adfs") {
                    format!("{b}/oauth2")
                } else {
                    format!("{b}/oauth2/v2.0")
                };
                json!({
                    "issuer": b,
                    "authorization_endpoint": format!("{oauth}/authorize"),
                    "token_endpoint": format!("{oauth}/token"),
                })
            } else {
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "at"})
            };
            Ok(HttpResponse::new(
                StatusCode::OK,
                Default::default(),
                body.to_string(),
            ))
        })
    }
}

/// The URL of the token request an app with this authority and region sends.
async fn token_url(authority: &str, region: Option<&str>) -> String {
    let http = Arc::new(Recorder::default());
    let mut b = ConfidentialClientApplication::builder("daemon-app")
        .authority(authority)
        .instance_discovery(false)
        .client_secret("s")
        .http_client(http.clone());
    if let Some(r) = region {
        b = b.azure_region(Region::named(r));
    }
    b.build()
        .unwrap()
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap();
    let urls = http.0.lock().unwrap().clone();
    urls.into_iter()
        .find(|u| u.contains("/token"))
        .expect("a token request")
}

#[tokio::test]
async fn each_cloud_has_its_regional_host_and_other_kinds_stay_global() {
    for (authority, expected) in [
        (
            "https://login.microsoftonline.com/contoso.onmicrosoft.com",
            "https://westus2.login.microsoft.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
        ),
        (
            "https://login.windows.net/contoso.onmicrosoft.com",
            "https://westus2.login.microsoft.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
        ),
        (
            "https://sts.windows.net/contoso.onmicrosoft.com",
            "https://westus2.login.microsoft.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
        ),
        (
            "https://login.microsoftonline.us/contoso.onmicrosoft.us",
            "https://westus2.login.microsoftonline.us/contoso.onmicrosoft.us/oauth2/v2.0/token",
        ),
        // B2C and AD FS are not regionalised (as in MSAL).
        (
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signin",
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/b2c_1_signin/oauth2/v2.0/token",
        ),
        (
            "https://adfs.contoso.com/adfs",
            "https://adfs.contoso.com/adfs/oauth2/token",
        ),
    ] {
        let url = token_url(authority, Some("westus2")).await;
        assert_eq!(
            url.to_ascii_lowercase(),
            expected.to_ascii_lowercase(),
            "{authority}"
        );
    }
    // Without a region: the global endpoint.
    assert_eq!(
        token_url(
            "https://login.microsoftonline.com/contoso.onmicrosoft.com",
            None
        )
        .await,
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
}

#[tokio::test]
async fn the_emulator_answers_on_the_regional_alias_and_reports_its_region() {
    use msal_emulator::{Emulator, EmulatorConfig, defaults as d};
    tokio::time::timeout(LIMIT, async {
        let emu = Emulator::start(EmulatorConfig::default_directory())
            .await
            .unwrap();
        let authority = emu
            .authority(d::TENANT_ID)
            .replace("127.0.0.1", "localhost");
        let app = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
            .authority(authority)
            .allow_insecure_loopback(true)
            .instance_discovery(false)
            .client_secret(d::CLIENT_SECRET)
            .http_client(Loopback::new())
            .azure_region(Region::AutoDetect)
            .region_detection(detection(&[], &emu.base_url_no_slash()))
            .build()
            .unwrap();
        let r = app
            .acquire_token_for_client(["api://msal-emulator-api/.default"])
            .send()
            .await
            .unwrap();
        assert_eq!(r.source, TokenSource::IdentityProvider);
        let log = emu.requests();
        let location: Vec<_> = log
            .iter()
            .filter(|r| r.path == "/metadata/instance/compute/location")
            .collect();
        assert_eq!(location.len(), 1);
        assert_eq!(location[0].status, 200);
        assert_eq!(location[0].response_body, d::REGION);
        let token: Vec<_> = log
            .iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
            .collect();
        assert_eq!(token.len(), 1);
        assert_eq!(token[0].status, 200);
        assert_eq!(
            token[0].host(),
            Some(format!("{}.localhost:{}", d::REGION, emu.port()).as_str())
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_client_assertion_is_made_for_the_regional_endpoint() {
    let http = Arc::new(Recorder::default());
    let audiences = Arc::new(Mutex::new(Vec::new()));
    let seen = audiences.clone();
    let app = ConfidentialClientApplication::builder("daemon-app")
        .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
        .instance_discovery(false)
        .client_assertion(move |ctx| {
            seen.lock().unwrap().push(ctx.token_endpoint);
            Box::pin(async { Ok(msal::Assertion::new("signed.jwt.assertion")) })
        })
        .azure_region(Region::named("westus2"))
        .http_client(http)
        .build()
        .unwrap();
    app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(
        *audiences.lock().unwrap(),
        vec!["https://westus2.login.microsoft.com/contoso.onmicrosoft.com/oauth2/v2.0/token"]
    );
}
