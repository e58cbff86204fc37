//! A scripted identity provider on an ephemeral loopback port: serves instance discovery and
//! OIDC metadata, answers the token and device code endpoints from a script, and records every
//! request so tests can assert exactly what the library sent.
// Each test binary compiles this module and uses only some of its helpers; every helper is
// used by at least one test, so the rest would be reported as dead in each binary.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

pub const TENANT: &str = "7f3c0d4e-5b6a-4c2d-9e8f-1a2b3c4d5e6f";

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub delay: Duration,
}

impl Answer {
    pub fn json(status: u16, v: Value) -> Self {
        Answer {
            status,
            body: v.to_string(),
            content_type: "application/json",
            headers: vec![],
            delay: Duration::ZERO,
        }
    }
    pub fn raw(status: u16, body: &str, content_type: &'static str) -> Self {
        Answer {
            status,
            body: body.into(),
            content_type,
            headers: vec![],
            delay: Duration::ZERO,
        }
    }
    pub fn header(mut self, k: &'static str, v: &str) -> Self {
        self.headers.push((k, v.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    /// An Entra-shaped error answer.
    pub fn oauth_error(status: u16, error: &str, aadsts: u32, suberror: Option<&str>) -> Self {
        let mut v = json!({
            "error": error,
            "error_description": format!("AADSTS{aadsts}: scripted failure. Trace ID: 0000. Correlation ID: x. Timestamp: 2026-11-24 10:00:00Z"),
            "error_codes": [aadsts],
            "timestamp": "2026-11-24 10:00:00Z",
            "trace_id": "trace-123",
            "correlation_id": "echo",
        });
        if let Some(s) = suberror {
            v["suberror"] = json!(s);
        }
        Answer::json(status, v)
    }
}

/// A request the library sent.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub form: Vec<(String, String)>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn field_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.form.iter().map(|(k, _)| k.as_str()).collect();
        v.sort();
        v
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Inner {
    token: VecDeque<Answer>,
    devicecode: VecDeque<Answer>,
    realm: VecDeque<Answer>,
    mi: VecDeque<Answer>,
    log: Vec<Recorded>,
}

/// The scripted IdP.
#[derive(Clone)]
pub struct MockIdp {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    _shutdown: Arc<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Clone)]
struct Ctx {
    base: String,
    inner: Arc<Mutex<Inner>>,
}

fn record(ctx: &Ctx, method: &str, path: String, query: String, headers: HeaderMap, body: &[u8]) {
    let form = url::form_urlencoded::parse(body).into_owned().collect();
    ctx.inner.lock().unwrap().log.push(Recorded {
        method: method.into(),
        path,
        query,
        headers,
        form,
    });
}

async fn respond(a: Answer) -> Response {
    if !a.delay.is_zero() {
        tokio::time::sleep(a.delay).await;
    }
    let mut r = (
        StatusCode::from_u16(a.status).unwrap(),
        [("content-type", a.content_type)],
        a.body,
    )
        .into_response();
    for (k, v) in a.headers {
        r.headers_mut().insert(k, v.parse().unwrap());
    }
    r
}

async fn instance(
    State(ctx): State<Ctx>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&q)
        .finish();
    record(
        &ctx,
        "GET",
        "/common/discovery/instance".into(),
        qs,
        headers,
        b"",
    );
    let host = ctx
        .base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let auth_ep = q
        .iter()
        .find(|(k, _)| k == "authorization_endpoint")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let tenant = auth_ep
        .trim_start_matches(&ctx.base)
        .split('/')
        .find(|s| !s.is_empty())
        .unwrap_or("common")
        .to_owned();
    axum::Json(json!({
        "tenant_discovery_endpoint": format!("{}{}/v2.0/.well-known/openid-configuration", ctx.base, tenant),
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    }))
    .into_response()
}

async fn metadata(
    State(ctx): State<Ctx>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    record(
        &ctx,
        "GET",
        format!("/{tenant}/v2.0/.well-known/openid-configuration"),
        String::new(),
        headers,
        b"",
    );
    let b = &ctx.base;
    axum::Json(json!({
        "issuer": format!("{b}{TENANT}/v2.0"),
        "authorization_endpoint": format!("{b}{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{b}{tenant}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{b}{tenant}/oauth2/v2.0/devicecode"),
        "jwks_uri": format!("{b}{tenant}/discovery/v2.0/keys"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn token(
    State(ctx): State<Ctx>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(
        &ctx,
        "POST",
        format!("/{tenant}/oauth2/v2.0/token"),
        query.unwrap_or_default(),
        headers,
        &body,
    );
    let next = ctx.inner.lock().unwrap().token.pop_front();
    respond(next.unwrap_or_else(|| Answer::raw(500, "no scripted answer", "text/plain"))).await
}

async fn devicecode(
    State(ctx): State<Ctx>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(
        &ctx,
        "POST",
        format!("/{tenant}/oauth2/v2.0/devicecode"),
        query.unwrap_or_default(),
        headers,
        &body,
    );
    let next = ctx.inner.lock().unwrap().devicecode.pop_front();
    respond(next.unwrap_or_else(|| Answer::raw(500, "no scripted answer", "text/plain"))).await
}

async fn userrealm(
    State(ctx): State<Ctx>,
    Path(user): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&q)
        .finish();
    record(
        &ctx,
        "GET",
        format!("/common/userrealm/{user}"),
        qs,
        headers,
        b"",
    );
    let next = ctx.inner.lock().unwrap().realm.pop_front();
    respond(next.unwrap_or_else(|| Answer::raw(404, "not found", "text/plain"))).await
}

/// A managed identity endpoint (any method): recorded with its query, answered from the script.
async fn managed_identity(
    State(ctx): State<Ctx>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(
        &ctx,
        method.as_str(),
        uri.path().to_owned(),
        uri.query().unwrap_or_default().to_owned(),
        headers,
        &body,
    );
    let next = ctx.inner.lock().unwrap().mi.pop_front();
    respond(next.unwrap_or_else(|| Answer::raw(500, "no scripted answer", "text/plain"))).await
}

impl MockIdp {
    pub async fn start() -> MockIdp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Self::router(&base, &inner);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        MockIdp {
            base,
            inner,
            _shutdown: Arc::new(tx),
        }
    }

    /// The same IdP over https, with this certificate chain and key (DER).
    pub async fn start_tls(
        chain: Vec<rustls::pki_types::CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> MockIdp {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("https://{}/", listener.local_addr().unwrap());
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Self::router(&base, &inner);
        let handle = axum_server::Handle::new();
        let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg));
        let server = axum_server::tls_rustls::from_tcp_rustls(listener, tls)
            .unwrap()
            .handle(handle.clone());
        tokio::spawn(async move {
            let _ = server.serve(app.into_make_service()).await;
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = rx.await;
            handle.shutdown();
        });
        MockIdp {
            base,
            inner,
            _shutdown: Arc::new(tx),
        }
    }

    fn router(base: &str, inner: &Arc<Mutex<Inner>>) -> Router {
        let ctx = Ctx {
            base: base.to_owned(),
            inner: inner.clone(),
        };
        Router::new()
            .route("/common/discovery/instance", get(instance))
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(metadata),
            )
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode))
            .route("/common/userrealm/{user}", get(userrealm))
            .route("/mi/{*rest}", any(managed_identity))
            .route("/metadata/identity/oauth2/token", any(managed_identity))
            .with_state(ctx)
    }

    pub fn authority(&self) -> String {
        format!("{}{TENANT}", self.base)
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}{TENANT}/oauth2/v2.0/token", self.base)
    }

    pub fn push_token(&self, a: Answer) {
        self.inner.lock().unwrap().token.push_back(a);
    }

    pub fn push_devicecode(&self, a: Answer) {
        self.inner.lock().unwrap().devicecode.push_back(a);
    }

    /// Scripts the next answer of user realm discovery (404 when none is scripted).
    pub fn push_realm(&self, a: Answer) {
        self.inner.lock().unwrap().realm.push_back(a);
    }

    /// Scripts the next answer of a managed identity endpoint (`/mi/...` or IMDS's path).
    pub fn push_mi(&self, a: Answer) {
        self.inner.lock().unwrap().mi.push_back(a);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().log.clone()
    }

    pub fn token_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
            .collect()
    }
}

/// A base64url JSON segment.
pub fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// An unsigned JWT with these claims (the library does not validate id tokens' signatures).
pub fn jwt(claims: Value) -> String {
    format!(
        "{}.{}.sig",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&claims)
    )
}

/// An app token answer.
pub fn app_token(at: &str, scope: &str) -> Answer {
    Answer::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": at, "scope": scope}),
    )
}

pub const UID: &str = "9f4880d8-80ba-4c40-97bc-f7a23c703084";

/// A user token answer with refresh token, id token and client_info.
pub fn user_token(at: &str, rt: &str, scope: &str) -> Answer {
    let id = jwt(json!({
        "aud": "public-client", "iss": format!("https://login/{TENANT}/v2.0"), "tid": TENANT,
        "oid": UID, "sub": "sub-1", "preferred_username": "alice@contoso.onmicrosoft.com",
        "name": "Alice", "ver": "2.0",
    }));
    Answer::json(
        200,
        json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": at, "refresh_token": rt, "id_token": id, "scope": scope,
            "client_info": b64(&json!({"uid": UID, "utid": TENANT})),
        }),
    )
}
