//! Resolver tests against a scripted HTTP server on `127.0.0.1:0`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::resolver::{instance_discovery_url, parse_metadata};
use super::*;
use crate::ErrorKind;
use crate::http::ReqwestHttpClient;

/// One request the server saw.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
}

/// A scripted answer: status, content type, body.
type Answer = (u16, &'static str, String);

#[derive(Clone, Default)]
struct Script {
    /// By path.
    routes: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<Vec<Hit>>>,
    delay: Arc<Mutex<Duration>>,
}

async fn handler(State(s): State<Script>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let query = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    s.hits.lock().unwrap().push(Hit {
        path: path.clone(),
        query,
        headers,
    });
    let delay = *s.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let route = s.routes.lock().unwrap().get(&path).cloned();
    match route {
        Some((status, ctype, body)) => (
            StatusCode::from_u16(status).unwrap(),
            [(header::CONTENT_TYPE, ctype)],
            body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no route").into_response(),
    }
}

struct Server {
    base: String,
    script: Script,
}

impl Server {
    async fn start() -> Server {
        let script = Script::default();
        let app = Router::new().fallback(handler).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server {
            base: format!("http://{addr}"),
            script,
        }
    }

    fn host(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    fn route(&self, path: &str, status: u16, body: impl Into<String>) {
        self.route_typed(path, status, "application/json", body);
    }

    fn route_typed(&self, path: &str, status: u16, ctype: &'static str, body: impl Into<String>) {
        self.script
            .routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), (status, ctype, body.into()));
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.script
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    fn total_hits(&self) -> usize {
        self.script.hits.lock().unwrap().len()
    }

    fn authority(&self, path: &str) -> Authority {
        Authority::parse(&format!("{}{path}", self.base), &loopback()).unwrap()
    }

    /// An OIDC document whose endpoints live under `{base}{prefix}`.
    fn metadata_doc(&self, prefix: &str) -> String {
        json!({
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "authorization_endpoint": format!("{}{prefix}/oauth2/v2.0/authorize", self.base),
            "token_endpoint": format!("{}{prefix}/oauth2/v2.0/token", self.base),
            "device_authorization_endpoint": format!("{}{prefix}/oauth2/v2.0/devicecode", self.base),
            "end_session_endpoint": format!("{}{prefix}/oauth2/v2.0/logout", self.base),
            "jwks_uri": format!("{}{prefix}/discovery/v2.0/keys", self.base),
        })
        .to_string()
    }
}

fn loopback() -> AuthorityOptions {
    AuthorityOptions {
        allow_insecure_loopback: true,
    }
}

fn client() -> ReqwestHttpClient {
    ReqwestHttpClient::new().unwrap()
}

const DISCOVERY: &str = "/common/discovery/instance";

#[tokio::test]
async fn instance_discovery_then_metadata_are_fetched_once() {
    let srv = Server::start().await;
    let host = srv.host();
    srv.route(
        DISCOVERY,
        200,
        json!({
            "tenant_discovery_endpoint": format!("{}/custom/tenant1/openid", srv.base),
            "api-version": "1.1",
            "metadata": [
                {"preferred_network": "other.example", "preferred_cache": "other.example", "aliases": ["other.example"]},
                {"preferred_network": host, "preferred_cache": "cache.example", "aliases": ["cache.example", host, "alias.example"]},
            ]
        })
        .to_string(),
    );
    srv.route("/custom/tenant1/openid", 200, srv.metadata_doc("/tenant1"));
    let authority = srv.authority("/tenant1/");
    let resolver = AuthorityResolver::default();
    let http = client();

    let m = resolver
        .metadata(&authority, &http, true, "corr-1")
        .await
        .unwrap();
    let again = resolver
        .metadata(&authority, &http, true, "corr-2")
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&m, &again));
    assert_eq!(srv.hits(DISCOVERY).len(), 1);
    assert_eq!(srv.hits("/custom/tenant1/openid").len(), 1);
    assert_eq!(srv.total_hits(), 2);

    assert_eq!(m.environment, "cache.example");
    assert_eq!(*m.aliases, ["cache.example", "127.0.0.1", "alias.example"]);
    assert_eq!(
        m.issuer,
        "https://login.microsoftonline.com/{tenantid}/v2.0"
    );
    assert_eq!(
        m.token_endpoint.as_str(),
        format!("{}/tenant1/oauth2/v2.0/token", srv.base)
    );
    assert_eq!(
        m.authorization_endpoint.as_str(),
        format!("{}/tenant1/oauth2/v2.0/authorize", srv.base)
    );

    let hit = &srv.hits(DISCOVERY)[0];
    assert_eq!(
        hit.query.get("api-version").map(String::as_str),
        Some("1.1")
    );
    assert_eq!(
        hit.query.get("authorization_endpoint"),
        Some(&format!("{}/tenant1/oauth2/v2.0/authorize", srv.base))
    );
    for path in [DISCOVERY, "/custom/tenant1/openid"] {
        let h = &srv.hits(path)[0].headers;
        assert_eq!(h.get("client-request-id").unwrap(), "corr-1");
        assert_eq!(h.get("x-client-SKU").unwrap(), "msal.rust");
        assert_eq!(h.get("return-client-request-id").unwrap(), "true");
    }
}

#[tokio::test]
async fn aliases_share_instance_discovery_and_other_tenants_use_the_default_metadata_url() {
    let srv = Server::start().await;
    let host = srv.host();
    let localhost = host.replace("127.0.0.1", "localhost");
    srv.route(
        DISCOVERY,
        200,
        json!({
            "tenant_discovery_endpoint": format!("{}/t1/v2.0/.well-known/openid-configuration", srv.base),
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host, localhost]}]
        })
        .to_string(),
    );
    for t in ["t1", "t2"] {
        srv.route(
            &format!("/{t}/v2.0/.well-known/openid-configuration"),
            200,
            srv.metadata_doc(&format!("/{t}")),
        );
    }
    let resolver = AuthorityResolver::default();
    let http = client();
    resolver
        .metadata(&srv.authority("/t1"), &http, true, "c")
        .await
        .unwrap();
    let m2 = resolver
        .metadata(&srv.authority("/t2"), &http, true, "c")
        .await
        .unwrap();
    assert_eq!(m2.environment, "127.0.0.1", "the bare host of {host}");
    // The alias host was listed by the first answer: no second instance discovery.
    let via_alias = Authority::parse(&format!("http://{localhost}/t2"), &loopback()).unwrap();
    let m3 = resolver
        .metadata(&via_alias, &http, true, "c")
        .await
        .unwrap();
    assert_eq!(m3.environment, "127.0.0.1");
    assert_eq!(*m3.aliases, ["127.0.0.1", "localhost"]);
    assert_eq!(srv.hits(DISCOVERY).len(), 1);
    assert_eq!(
        srv.hits("/t2/v2.0/.well-known/openid-configuration").len(),
        2,
        "one per authority (127.0.0.1 and localhost)"
    );
}

#[tokio::test]
async fn without_instance_discovery_the_metadata_is_fetched_directly() {
    let srv = Server::start().await;
    srv.route(
        "/tenant1/v2.0/.well-known/openid-configuration",
        200,
        srv.metadata_doc("/tenant1"),
    );
    let resolver = AuthorityResolver::default();
    let http = client();
    let a = srv.authority("/tenant1");
    let m = resolver.metadata(&a, &http, false, "c").await.unwrap();
    resolver.metadata(&a, &http, false, "c").await.unwrap();
    assert_eq!(
        m.environment,
        "127.0.0.1",
        "the bare host of {}",
        srv.host()
    );
    assert_eq!(*m.aliases, ["127.0.0.1"]);
    assert_eq!(srv.hits(DISCOVERY).len(), 0);
    assert_eq!(srv.total_hits(), 1);
}

#[tokio::test]
async fn instance_discovery_without_a_matching_entry_uses_the_host() {
    let srv = Server::start().await;
    srv.route(
        DISCOVERY,
        200,
        json!({"metadata": [{"preferred_cache": "x", "aliases": ["x"]}]}).to_string(),
    );
    srv.route(
        "/t/v2.0/.well-known/openid-configuration",
        200,
        srv.metadata_doc("/t"),
    );
    let m = AuthorityResolver::default()
        .metadata(&srv.authority("/t"), &client(), true, "c")
        .await
        .unwrap();
    assert_eq!(
        m.environment,
        "127.0.0.1",
        "the bare host of {}",
        srv.host()
    );
    assert_eq!(*m.aliases, ["127.0.0.1"]);
}

#[tokio::test]
async fn b2c_adfs_and_oidc_skip_instance_discovery() {
    let srv = Server::start().await;
    let cases = [
        (
            srv.authority("/contoso.onmicrosoft.com/B2C_1_susi/"),
            "/contoso.onmicrosoft.com/B2C_1_susi/v2.0/.well-known/openid-configuration",
        ),
        (
            srv.authority("/tfp/contoso.onmicrosoft.com/b2c_1a_custom"),
            "/tfp/contoso.onmicrosoft.com/b2c_1a_custom/v2.0/.well-known/openid-configuration",
        ),
        (
            srv.authority("/adfs/"),
            "/adfs/.well-known/openid-configuration",
        ),
        (
            Authority::parse_oidc(&format!("{}/issuer/Path/", srv.base), &loopback()).unwrap(),
            "/issuer/Path/.well-known/openid-configuration",
        ),
        (
            Authority::parse_oidc(&srv.base, &loopback()).unwrap(),
            "/.well-known/openid-configuration",
        ),
    ];
    let resolver = AuthorityResolver::default();
    let http = client();
    for (authority, path) in &cases {
        let doc = json!({
            "issuer": "https://issuer.example",
            "authorization_endpoint": format!("{}/authorize", srv.base),
            "token_endpoint": format!("{}/token", srv.base),
        });
        srv.route(path, 200, doc.to_string());
        let m = resolver
            .metadata(authority, &http, true, "c")
            .await
            .unwrap_or_else(|e| panic!("{authority}: {e}"));
        assert_eq!(srv.hits(path).len(), 1, "{authority}");
        assert_eq!(
            m.environment,
            "127.0.0.1",
            "the bare host of {}",
            srv.host()
        );
        assert_eq!(m.issuer, "https://issuer.example");
        // No device code endpoint in the document, and none derived for these kinds.
        assert!(m.device_authorization_endpoint.is_none(), "{authority}");
    }
    assert_eq!(srv.hits(DISCOVERY).len(), 0);
}

#[tokio::test]
async fn the_device_code_endpoint_is_derived_for_entra() {
    let srv = Server::start().await;
    srv.route(
        "/t/v2.0/.well-known/openid-configuration",
        200,
        json!({
            "authorization_endpoint": format!("{}/t/oauth2/v2.0/authorize", srv.base),
            "token_endpoint": format!("{}/t/oauth2/v2.0/token", srv.base),
        })
        .to_string(),
    );
    let m = AuthorityResolver::default()
        .metadata(&srv.authority("/t"), &client(), false, "c")
        .await
        .unwrap();
    assert_eq!(
        m.device_authorization_endpoint.as_ref().unwrap().as_str(),
        format!("{}/t/oauth2/v2.0/devicecode", srv.base)
    );
    assert_eq!(m.issuer, "");
}

#[tokio::test]
async fn concurrent_lookups_share_one_request() {
    let srv = Server::start().await;
    srv.route(DISCOVERY, 200, "{}");
    srv.route(
        "/t/v2.0/.well-known/openid-configuration",
        200,
        srv.metadata_doc("/t"),
    );
    *srv.script.delay.lock().unwrap() = Duration::from_millis(150);
    let resolver = AuthorityResolver::default();
    let http = client();
    let a = srv.authority("/t");
    let (m1, m2, m3) = tokio::join!(
        resolver.metadata(&a, &http, true, "c"),
        resolver.metadata(&a, &http, true, "c"),
        resolver.metadata(&a, &http, true, "c"),
    );
    let (m1, m2, m3) = (m1.unwrap(), m2.unwrap(), m3.unwrap());
    assert!(Arc::ptr_eq(&m1, &m2) && Arc::ptr_eq(&m2, &m3));
    assert_eq!(srv.hits(DISCOVERY).len(), 1);
    assert_eq!(
        srv.hits("/t/v2.0/.well-known/openid-configuration").len(),
        1
    );
}

#[tokio::test]
async fn invalid_instance_is_an_invalid_authority_client_error() {
    let srv = Server::start().await;
    srv.route(
        DISCOVERY,
        400,
        json!({
            "error": "invalid_instance",
            "error_description": "AADSTS50049: Unknown or invalid instance.",
            "error_codes": [50049],
        })
        .to_string(),
    );
    let e = AuthorityResolver::default()
        .metadata(&srv.authority("/t"), &client(), true, "corr")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Client);
    assert_eq!(e.code(), codes::INVALID_AUTHORITY);
    assert!(e.description().contains("instance discovery"), "{e}");
    assert!(e.description().contains("AADSTS50049"), "{e}");
    assert_eq!(e.correlation_id(), Some("corr"));
    assert_eq!(srv.total_hits(), 1, "no metadata request after a refusal");
}

#[tokio::test]
async fn an_oauth_error_answer_becomes_a_service_error() {
    let srv = Server::start().await;
    srv.route(
        "/nope/v2.0/.well-known/openid-configuration",
        400,
        json!({
            "error": "invalid_tenant",
            "error_description": "AADSTS90002: Tenant 'nope' not found.",
            "error_codes": [90002],
            "trace_id": "trace-1",
        })
        .to_string(),
    );
    let e = AuthorityResolver::default()
        .metadata(&srv.authority("/nope"), &client(), false, "corr-400")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Service);
    assert_eq!(e.code(), "invalid_tenant");
    assert_eq!(e.http_status(), Some(400));
    assert_eq!(e.aadsts_codes(), &[90002]);
    assert_eq!(e.trace_id(), Some("trace-1"));
    assert_eq!(e.correlation_id(), Some("corr-400"));
    assert!(e.response_headers().is_some());
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn an_html_answer_is_a_non_parsable_service_error() {
    let srv = Server::start().await;
    srv.route_typed(
        "/t/v2.0/.well-known/openid-configuration",
        404,
        "text/html",
        "<html><body>Not Found</body></html>",
    );
    let e = AuthorityResolver::default()
        .metadata(&srv.authority("/t"), &client(), false, "corr")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Service);
    assert_eq!(e.code(), codes::NON_PARSABLE_OAUTH_ERROR);
    assert_eq!(e.http_status(), Some(404));
    assert_eq!(e.correlation_id(), Some("corr"));
    assert!(
        e.description()
            .contains("/t/v2.0/.well-known/openid-configuration"),
        "{e}"
    );
}

#[tokio::test]
async fn a_2xx_that_is_not_metadata_is_discovery_failed() {
    let srv = Server::start().await;
    let path = "/t/v2.0/.well-known/openid-configuration";
    let http = client();
    let a = srv.authority("/t");
    let bodies = [
        "garbage".to_owned(),
        "[1,2]".to_owned(),
        json!({"authorization_endpoint": format!("{}/a", srv.base)}).to_string(),
        json!({"token_endpoint": format!("{}/t", srv.base)}).to_string(),
        json!({"token_endpoint": "not a url", "authorization_endpoint": format!("{}/a", srv.base)})
            .to_string(),
        json!({"token_endpoint": 42, "authorization_endpoint": format!("{}/a", srv.base)})
            .to_string(),
    ];
    for body in bodies {
        srv.route(path, 200, body.clone());
        let e = AuthorityResolver::default()
            .metadata(&a, &http, false, "corr")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Service, "{body}");
        assert_eq!(e.code(), codes::DISCOVERY_FAILED, "{body}");
        assert!(e.description().contains(path), "{e}");
        assert_eq!(e.correlation_id(), Some("corr"));
    }
    // A refusal is remembered for a while: asking the same resolver again sends nothing, even
    // once the server would answer well; a resolver that has not been refused asks.
    let resolver = AuthorityResolver::default();
    resolver.metadata(&a, &http, false, "c1").await.unwrap_err();
    srv.route(path, 200, srv.metadata_doc("/t"));
    let before = srv.hits(path).len();
    let e = resolver.metadata(&a, &http, false, "c2").await.unwrap_err();
    assert_eq!(e.code(), codes::DISCOVERY_FAILED);
    assert_eq!(
        srv.hits(path).len(),
        before,
        "no request for a remembered refusal"
    );
    AuthorityResolver::default()
        .metadata(&a, &http, false, "c3")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_garbage_instance_discovery_answer_is_discovery_failed() {
    let srv = Server::start().await;
    for body in [
        "<html>",
        r#"{"metadata": 7}"#,
        r#"{"tenant_discovery_endpoint": "nope"}"#,
    ] {
        srv.route(DISCOVERY, 200, body);
        let e = AuthorityResolver::default()
            .metadata(&srv.authority("/t"), &client(), true, "c")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Service, "{body}");
        assert_eq!(e.code(), codes::DISCOVERY_FAILED, "{body}");
    }
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let a = Authority::parse(&format!("http://{addr}/t"), &loopback()).unwrap();
    for discovery in [true, false] {
        let e = AuthorityResolver::default()
            .metadata(&a, &client(), discovery, "corr")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert_eq!(e.code(), codes::NETWORK_ERROR);
        assert_eq!(e.correlation_id(), Some("corr"));
        assert!(std::error::Error::source(&e).is_some());
    }
}

fn https(s: &str) -> Authority {
    Authority::parse(s, &AuthorityOptions::default()).unwrap()
}

#[test]
fn metadata_urls_per_kind() {
    let cases = [
        (
            "https://login.microsoftonline.com/contoso/",
            "https://login.microsoftonline.com/contoso/v2.0/.well-known/openid-configuration",
        ),
        (
            "https://x.b2clogin.com/x.onmicrosoft.com/B2C_1_a",
            "https://x.b2clogin.com/x.onmicrosoft.com/B2C_1_a/v2.0/.well-known/openid-configuration",
        ),
        (
            "https://fs.contoso.com/adfs",
            "https://fs.contoso.com/adfs/.well-known/openid-configuration",
        ),
        (
            "https://contoso.ciamlogin.com",
            "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
        ),
    ];
    for (a, url) in cases {
        assert_eq!(https(a).metadata_url().unwrap().as_str(), url);
    }
}

#[test]
fn instance_discovery_asks_well_known_hosts_themselves_and_login_microsoftonline_com_otherwise() {
    let u = instance_discovery_url(&https("https://login.microsoftonline.us/contoso")).unwrap();
    assert_eq!(u.host_str(), Some("login.microsoftonline.us"));
    assert_eq!(u.path(), "/common/discovery/instance");
    let q: HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(q["api-version"], "1.1");
    assert_eq!(
        q["authorization_endpoint"],
        "https://login.microsoftonline.us/contoso/oauth2/v2.0/authorize"
    );

    let u = instance_discovery_url(&https("https://login.contoso.com/contoso.com")).unwrap();
    assert_eq!(u.scheme(), "https");
    assert_eq!(u.host_str(), Some("login.microsoftonline.com"));
    let q: HashMap<_, _> = u.query_pairs().into_owned().collect();
    assert_eq!(
        q["authorization_endpoint"],
        "https://login.contoso.com/contoso.com/oauth2/v2.0/authorize"
    );

    let local = Authority::parse("http://localhost:1234/t", &loopback()).unwrap();
    let u = instance_discovery_url(&local).unwrap();
    assert_eq!(
        u.as_str().split('?').next(),
        Some("http://localhost:1234/common/discovery/instance")
    );
}

#[test]
fn https_authorities_refuse_http_endpoints() {
    let a = https("https://login.microsoftonline.com/contoso");
    let url = a.metadata_url().unwrap();
    let doc = |auth: &str, token: &str, device: Option<&str>| {
        let mut d = json!({
            "issuer": "https://login.microsoftonline.com/contoso/v2.0",
            "authorization_endpoint": auth,
            "token_endpoint": token,
        });
        if let Some(dev) = device {
            d["device_authorization_endpoint"] = json!(dev);
        }
        d.to_string()
    };
    let good = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token";
    let bad = "http://login.microsoftonline.com/contoso/oauth2/v2.0/token";
    let ok = parse_metadata(
        doc(good, good, None).as_bytes(),
        &a,
        &url,
        "e".into(),
        Vec::new().into(),
        "c",
    )
    .unwrap();
    assert_eq!(
        ok.device_authorization_endpoint.unwrap().as_str(),
        "https://login.microsoftonline.com/contoso/oauth2/v2.0/devicecode"
    );
    for body in [
        doc(bad, good, None),
        doc(good, bad, None),
        doc(good, good, Some(bad)),
        doc(good, "ftp://x/token", None),
    ] {
        let e = parse_metadata(
            body.as_bytes(),
            &a,
            &url,
            "e".into(),
            Vec::new().into(),
            "c",
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Service);
        assert_eq!(e.code(), codes::DISCOVERY_FAILED);
        assert!(e.description().contains("https"), "{e}");
    }
    // An http (loopback) authority accepts http endpoints.
    let local = Authority::parse("http://127.0.0.1:9/t", &loopback()).unwrap();
    let m = parse_metadata(
        doc("http://127.0.0.1:9/a", "http://127.0.0.1:9/t", None).as_bytes(),
        &local,
        &url,
        "e".into(),
        Vec::new().into(),
        "c",
    )
    .unwrap();
    assert_eq!(m.token_endpoint.as_str(), "http://127.0.0.1:9/t");
}

#[test]
fn placeholders_in_the_issuer_are_kept() {
    let a = https("https://login.microsoftonline.com/organizations");
    let url = a.metadata_url().unwrap();
    let body = json!({
        "issuer": "https://login.microsoftonline.com/{tenant}/v2.0",
        "authorization_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
        "token_endpoint": "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
    })
    .to_string();
    let m = parse_metadata(
        body.as_bytes(),
        &a,
        &url,
        "e".into(),
        Vec::new().into(),
        "c",
    )
    .unwrap();
    assert_eq!(m.issuer, "https://login.microsoftonline.com/{tenant}/v2.0");
}

#[test]
fn cache_environment_is_the_bare_host_name() {
    use super::resolver::cache_environment;
    assert_eq!(
        cache_environment("login.microsoftonline.com"),
        "login.microsoftonline.com"
    );
    assert_eq!(cache_environment("127.0.0.1:41234"), "127.0.0.1");
    assert_eq!(
        cache_environment("Login.Example.COM:8443"),
        "login.example.com"
    );
    assert_eq!(cache_environment("[::1]:8080"), "::1");
    assert_eq!(cache_environment("[::1]"), "::1");
}
