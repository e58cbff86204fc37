//! The HTTP(S) server: start-up, the public handle, request dispatch, fault application and
//! the request log.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State as AxState};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use serde_json::json;

use crate::config::{AppConfig, EmulatorConfig, UserConfig};
use crate::faults::{Endpoint, FaultAction, FaultId, FaultRule, MatchFacts};
use crate::shared::{RequestLog, Shared, lock};
use crate::state::{State, TenantSel};
use crate::wire::{AadErr, Ctx, Incoming, RecordedRequest, Reply};

/// What to do with a request.
pub(crate) enum Outcome {
    Reply(Reply),
    Hang,
    Drop,
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Self {
        Outcome::Reply(r)
    }
}

/// The routes the emulator serves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Index,
    ErrorPage,
    Discovery(String),
    InstanceDiscovery,
    Keys(String),
    Token(String),
    DeviceCode(String),
    Authorize(String),
    Logout(String),
    DeviceLogin,
    ApiMe,
    UserRealm(String),
    NotFound,
}

impl Route {
    fn parse(path: &str) -> Route {
        let segs: Vec<&str> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect();
        let t = |s: &str| s.to_string();
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        match l.as_slice() {
            [""] => Route::Index,
            ["error"] => Route::ErrorPage,
            ["devicelogin"] => Route::DeviceLogin,
            ["api", "me"] => Route::ApiMe,
            [_, "v2.0", ".well-known", "openid-configuration"]
            | [_, ".well-known", "openid-configuration"] => Route::Discovery(t(segs[0])),
            [_, "discovery", "instance"] => Route::InstanceDiscovery,
            [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"] => Route::Keys(t(segs[0])),
            [_, "oauth2", "v2.0", "token"] => Route::Token(t(segs[0])),
            [_, "oauth2", "v2.0", "devicecode"] => Route::DeviceCode(t(segs[0])),
            [_, "oauth2", "v2.0", "authorize"] => Route::Authorize(t(segs[0])),
            [_, "oauth2", "v2.0", "logout"] => Route::Logout(t(segs[0])),
            [_, "userrealm", _] => Route::UserRealm(percent_decode(segs[2])),
            _ => Route::NotFound,
        }
    }

    fn endpoint(&self) -> Option<Endpoint> {
        Some(match self {
            Route::Discovery(_) => Endpoint::Discovery,
            Route::InstanceDiscovery => Endpoint::InstanceDiscovery,
            Route::Keys(_) => Endpoint::Keys,
            Route::Token(_) => Endpoint::Token,
            Route::DeviceCode(_) => Endpoint::DeviceCode,
            Route::Authorize(_) => Endpoint::Authorize,
            Route::ApiMe => Endpoint::Api,
            _ => return None,
        })
    }

    fn tenant(&self) -> Option<&str> {
        match self {
            Route::Discovery(t)
            | Route::Keys(t)
            | Route::Token(t)
            | Route::DeviceCode(t)
            | Route::Authorize(t)
            | Route::Logout(t) => Some(t),
            _ => None,
        }
    }
}

/// The maximum request body size.
const MAX_BODY: usize = 1 << 20;

async fn handle(
    AxState(shared): AxState<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return plain_response(
                413,
                "application/json",
                r#"{"error":"invalid_request","error_description":"The request body is too large."}"#,
            );
        }
    };
    let is_form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form: Vec<(String, String)> = if is_form {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let query_params: Vec<(String, String)> = query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let inc = Incoming {
        method: parts.method,
        path,
        query,
        query_params,
        headers: parts.headers,
        body,
        form,
        peer,
    };

    if inc.path == "/_emulator" || inc.path.starts_with("/_emulator/") {
        let reply = crate::admin::handle(&shared, &inc);
        return reply.into_response();
    }

    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = inc
        .header("client-request-id")
        .filter(|v| !v.trim().is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let ctx = Ctx {
        trace_id,
        correlation_id,
        echo_correlation: inc
            .header("return-client-request-id")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        base: shared.base.clone(),
    };

    let route = Route::parse(&inc.path);
    let effects = match route.endpoint() {
        Some(ep) => {
            let mut st = shared.st();
            let facts = match_facts(&st, ep, &route, &inc);
            st.evaluate_faults(&facts)
        }
        None => Default::default(),
    };
    if effects.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(effects.delay_ms)).await;
    }
    let outcome = match effects.terminal {
        Some(action) => fault_outcome(&shared, &ctx, &route, &inc, action),
        None => route_request(&shared, &ctx, &route, &inc, &effects.declined),
    };
    finish(&shared, &ctx, &inc, outcome).await
}

fn match_facts<'a>(st: &State, ep: Endpoint, route: &Route, inc: &'a Incoming) -> MatchFacts<'a> {
    let mut tenant_names = Vec::new();
    if let Some(seg) = route.tenant() {
        tenant_names.push(seg.to_string());
        if let Some(TenantSel::Specific(t)) = st.resolve_tenant(seg) {
            tenant_names.push(t.id);
            tenant_names.push(t.domain);
        }
    }
    let username = if let Some(u) = inc.param("username") {
        Some(u.to_string())
    } else if let Some(rt) = inc.f("refresh_token") {
        st.refresh_tokens.get(rt).map(|g| g.username.clone())
    } else if let Some(dc) = inc.f("device_code") {
        st.device_codes.get(dc).and_then(|g| match &g.status {
            crate::state::DeviceStatus::Approved { username, .. } => Some(username.clone()),
            _ => None,
        })
    } else if let Some(code) = inc.f("code") {
        st.codes.get(code).map(|g| g.username.clone())
    } else {
        inc.q("login_hint").map(str::to_string)
    };
    MatchFacts {
        endpoint: Some(ep),
        grant_type: inc.f("grant_type"),
        client_id: inc.param("client_id"),
        username,
        scope: inc.param("scope"),
        tenant_names,
    }
}

/// The answer a terminal fault action gives.
fn fault_outcome(
    shared: &Shared,
    ctx: &Ctx,
    route: &Route,
    inc: &Incoming,
    action: FaultAction,
) -> Outcome {
    match action {
        FaultAction::AadError {
            code,
            suberror,
            claims,
        } => {
            let mut err = AadErr::new(code);
            if let Some(s) = suberror {
                err = err.suberror(s);
            }
            if let Some(c) = claims {
                err = err.claims(c);
            }
            if let Route::Authorize(tenant) = route {
                return crate::pages::authorize_fault(shared, ctx, tenant, inc, err).into();
            }
            err.reply(ctx).into()
        }
        FaultAction::Status {
            status,
            retry_after,
            body,
        } => {
            let mut reply = match body {
                Some(b) => {
                    let ct = if b.trim_start().starts_with('{') || b.trim_start().starts_with('[')
                    {
                        "application/json; charset=utf-8"
                    } else {
                        "text/plain; charset=utf-8"
                    };
                    Reply::new(status, ct, b.into_bytes())
                }
                None => {
                    let (error, text) = match status {
                        429 => (
                            "temporarily_unavailable",
                            "The server is throttling this client: too many requests. Retry later.",
                        ),
                        503 | 504 => (
                            "temporarily_unavailable",
                            "The server is temporarily unavailable. Retry later.",
                        ),
                        s if s >= 500 => ("server_error", "The server encountered an error."),
                        _ => ("invalid_request", "The request was refused by the emulator."),
                    };
                    let ts = Ctx::timestamp();
                    Reply::json(
                        status,
                        &json!({
                            "error": error,
                            "error_description": format!(
                                "{text}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {ts}",
                                ctx.trace_id, ctx.correlation_id
                            ),
                            "error_codes": [],
                            "timestamp": ts,
                            "trace_id": ctx.trace_id,
                            "correlation_id": ctx.correlation_id,
                        }),
                    )
                }
            };
            if let Some(ra) = retry_after {
                reply = reply.header("retry-after", ra.header_value());
            }
            reply.into()
        }
        FaultAction::Hang => Outcome::Hang,
        FaultAction::DropConnection => Outcome::Drop,
        FaultAction::MalformedJson { status } => Reply::new(
            status,
            "application/json; charset=utf-8",
            &br#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1Ni"#[..],
        )
        .into(),
        FaultAction::HtmlBody { status } => {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            Reply::new(
                status,
                "text/html",
                format!(
                    "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n<body><center><h1>{status} {reason}</h1></center>\n<hr><center>corporate-proxy/1.0</center>\n</body></html>\n"
                ),
            )
            .into()
        }
        // Not terminal; kept for completeness.
        FaultAction::Delay { .. } | FaultAction::DeclineScope { .. } => {
            route_request(shared, ctx, route, inc, &[])
        }
    }
}

fn route_request(
    shared: &Shared,
    ctx: &Ctx,
    route: &Route,
    inc: &Incoming,
    declined: &[String],
) -> Outcome {
    let get_only = |r: Reply| -> Reply {
        if inc.method == Method::GET || inc.method == Method::HEAD {
            r
        } else {
            AadErr::new(900561)
                .desc(format!(
                    "The endpoint only accepts GET requests. Received a {} request.",
                    inc.method
                ))
                .status(405)
                .reply(ctx)
        }
    };
    let post_only = |f: &dyn Fn() -> Outcome| -> Outcome {
        if inc.method == Method::POST {
            f()
        } else {
            AadErr::new(900561)
                .desc(format!(
                    "The endpoint only accepts POST, OPTIONS requests. Received a {} request.",
                    inc.method
                ))
                .reply(ctx)
                .into()
        }
    };
    match route {
        Route::Index => get_only(crate::pages::index(shared)).into(),
        Route::ErrorPage => get_only(crate::pages::error_code_page(inc)).into(),
        Route::Discovery(t) => get_only(discovery(shared, ctx, t)).into(),
        Route::InstanceDiscovery => get_only(instance_discovery(shared, ctx, inc)).into(),
        Route::Keys(t) => get_only(keys(shared, ctx, t)).into(),
        Route::Token(t) => post_only(&|| crate::token::token(shared, ctx, t, inc, declined).into()),
        Route::DeviceCode(t) => post_only(&|| crate::token::devicecode(shared, ctx, t, inc).into()),
        Route::Authorize(t) => crate::pages::authorize(shared, ctx, t, inc).into(),
        Route::Logout(t) => crate::pages::logout(shared, t, inc).into(),
        Route::DeviceLogin => crate::pages::devicelogin(shared, ctx, inc).into(),
        Route::ApiMe => get_only(crate::api::me(shared, inc)).into(),
        Route::UserRealm(u) => get_only(user_realm(shared, u)).into(),
        Route::NotFound => Reply::json(
            404,
            &json!({
                "error": "not_found",
                "error_description": format!("The emulator does not serve {}.", inc.path),
                "trace_id": ctx.trace_id,
                "correlation_id": ctx.correlation_id,
            }),
        )
        .into(),
    }
}

fn unknown_tenant(ctx: &Ctx, tenant: &str) -> Reply {
    AadErr::new(90002)
        .desc(format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ))
        .reply(ctx)
}

fn discovery(shared: &Shared, ctx: &Ctx, tenant: &str) -> Reply {
    let (issuer, announce_iss) = {
        let st = shared.st();
        (
            st.issuer(&shared.base, tenant),
            st.options.authorization_response_iss,
        )
    };
    let Some(issuer) = issuer else {
        return unknown_tenant(ctx, tenant);
    };
    let b = &shared.base;
    let mut doc = json!({
            "token_endpoint": format!("{b}{tenant}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{b}{tenant}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{b}api/me"),
            "authorization_endpoint": format!("{b}{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{b}{tenant}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{b}{tenant}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "password",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ],
            "code_challenge_methods_supported": ["plain", "S256"],
            "kerberos_endpoint": format!("{b}{tenant}/kerberos"),
            "tenant_region_scope": "WW",
            "cloud_instance_name": format!("127.0.0.1:{}", shared.port),
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
            "correlation_id": ctx.correlation_id,
    });
    if announce_iss {
        doc["authorization_response_iss_parameter_supported"] = json!(true);
    }
    Reply::json(200, &doc)
}

fn instance_discovery(shared: &Shared, ctx: &Ctx, inc: &Incoming) -> Reply {
    let host = format!("127.0.0.1:{}", shared.port);
    let aliases = [host.clone(), format!("localhost:{}", shared.port)];
    let endpoint = inc
        .q("authorization_endpoint")
        .and_then(|a| url::Url::parse(a).ok());
    if let Some(u) = &endpoint {
        let authority_host = match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            _ => String::new(),
        };
        if !aliases
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&authority_host))
        {
            return AadErr::new(50049)
                .desc(format!(
                    "Unknown or invalid instance. The emulator only knows {}.",
                    aliases.join(" and ")
                ))
                .reply(ctx);
        }
    }
    let tenant = endpoint
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next().map(str::to_string))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "common".to_string());
    Reply::json(
        200,
        &json!({
            "tenant_discovery_endpoint": format!("{}{}/v2.0/.well-known/openid-configuration", shared.base, tenant),
            "api-version": "1.1",
            "metadata": [{
                "preferred_network": host,
                "preferred_cache": host,
                "aliases": aliases,
            }],
            "correlation_id": ctx.correlation_id,
        }),
    )
}

/// Decodes `%XX` escapes of a path segment (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /common/userrealm/{username}?api-version=1.0`: home realm discovery. Every user of
/// the emulator is a cloud-only (managed) user; a domain that no tenant has is `Unknown`.
fn user_realm(shared: &Shared, username: &str) -> Reply {
    let st = shared.st();
    let domain = username
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    let tenant = st
        .tenants
        .iter()
        .find(|t| t.domain.eq_ignore_ascii_case(domain))
        .cloned()
        .or_else(|| {
            st.user(username)
                .and_then(|u| st.home_tenant(u.tenant.as_deref()))
        });
    let account_type = if tenant.is_some() {
        "Managed"
    } else {
        "Unknown"
    };
    Reply::json(
        200,
        &json!({
            "ver": "1.0",
            "account_type": account_type,
            "domain_name": tenant.map(|t| t.domain).unwrap_or_else(|| domain.to_string()),
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
    )
}

fn keys(shared: &Shared, ctx: &Ctx, tenant: &str) -> Reply {
    if shared.st().resolve_tenant(tenant).is_none() {
        return unknown_tenant(ctx, tenant);
    }
    let mut jwk = shared.key.jwk.clone();
    jwk["issuer"] = json!(format!("{}{{tenantid}}/v2.0", shared.base));
    Reply::json(200, &json!({ "keys": [jwk] }))
}

fn plain_response(status: u16, ct: &str, body: &'static str) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    if let Ok(v) = HeaderValue::from_str(ct) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

async fn finish(shared: &Shared, ctx: &Ctx, inc: &Incoming, outcome: Outcome) -> Response {
    let mut record = inc.record();
    match outcome {
        Outcome::Reply(mut reply) => {
            reply
                .headers
                .push(("x-ms-request-id".into(), ctx.trace_id.clone()));
            if ctx.echo_correlation {
                reply
                    .headers
                    .push(("client-request-id".into(), ctx.correlation_id.clone()));
            }
            record.status = reply.status;
            record.response_body = String::from_utf8_lossy(&reply.body).into_owned();
            record.response_headers = reply
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            lock(&shared.log).push(record);
            reply.into_response()
        }
        Outcome::Hang => {
            lock(&shared.log).push(record);
            std::future::pending::<()>().await;
            plain_response(504, "text/plain", "")
        }
        Outcome::Drop => {
            lock(&shared.log).push(record);
            // A body whose first chunk is an error makes the server close the connection
            // before the response head is flushed: the client sees no answer at all.
            let stream = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "fault injection: drop connection",
                ))
            });
            Response::new(Body::from_stream(stream))
        }
    }
}

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Binds `127.0.0.1` on an ephemeral port and serves in a background tokio task.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, std::io::Error> {
        Self::start_on(config, 0).await
    }

    /// Binds `127.0.0.1:port` (0 = ephemeral) and serves plain HTTP in a background task.
    pub async fn start_on(
        config: EmulatorConfig,
        port: u16,
    ) -> Result<EmulatorHandle, std::io::Error> {
        Self::start_inner(config, port, None).await
    }

    /// Binds `127.0.0.1:port` (0 = ephemeral) and serves HTTPS with a certificate for
    /// `127.0.0.1`, `localhost` and `::1` signed by a newly generated CA, whose PEM is written
    /// to `ca_pem_path`.
    pub async fn start_tls(
        config: EmulatorConfig,
        port: u16,
        ca_pem_path: &Path,
    ) -> Result<EmulatorHandle, std::io::Error> {
        let material = crate::crypto::generate_tls_material().map_err(std::io::Error::other)?;
        std::fs::write(ca_pem_path, &material.ca_pem)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(material.chain, material.key)
            .map_err(std::io::Error::other)?;
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::start_inner(config, port, Some(Arc::new(server_config))).await
    }

    async fn start_inner(
        config: EmulatorConfig,
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<EmulatorHandle, std::io::Error> {
        config
            .validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let key = tokio::task::spawn_blocking(crate::crypto::signing_key)
            .await
            .map_err(std::io::Error::other)?
            .map_err(std::io::Error::other)?;
        let state = State::new(&config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://127.0.0.1:{}/", addr.port());
        let admin_token = config
            .options
            .admin_token
            .clone()
            .unwrap_or_else(|| crate::state::random_token(24));
        let shared = Arc::new(Shared {
            base: base.clone(),
            port: addr.port(),
            admin_token,
            key,
            state: Mutex::new(state),
            log: Mutex::new(RequestLog::new(config.options.request_log_capacity)),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let server_handle = axum_server::Handle::new();
        let task = match tls {
            None => {
                let server = axum_server::from_tcp(listener)?.handle(server_handle.clone());
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::error!("msal-emulator server stopped: {e}");
                    }
                })
            }
            Some(cfg) => {
                let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(cfg);
                let server = axum_server::tls_rustls::from_tcp_rustls(listener, rustls_config)?
                    .handle(server_handle.clone());
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::error!("msal-emulator server stopped: {e}");
                    }
                })
            }
        };
        let base_url = url::Url::parse(&base).map_err(std::io::Error::other)?;
        Ok(EmulatorHandle {
            shared,
            base_url,
            server: server_handle,
            task: Some(task),
        })
    }
}

/// A running emulator. Dropping it (or [`EmulatorHandle::shutdown`]) stops the server.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    base_url: url::Url,
    server: axum_server::Handle<SocketAddr>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The base URL, e.g. `http://127.0.0.1:41234/` (with trailing slash).
    pub fn base_url(&self) -> url::Url {
        self.base_url.clone()
    }

    /// The port the emulator listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// The authority URL of a tenant, e.g. `http://127.0.0.1:41234/<tenant>` (no trailing
    /// slash).
    pub fn authority(&self, tenant: &str) -> String {
        format!("{}{}", self.shared.base, tenant.trim_matches('/'))
    }

    /// The token endpoint of a tenant.
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/oauth2/v2.0/token", self.authority(tenant))
    }

    /// The bearer token of the `/_emulator/` admin API.
    pub fn admin_token(&self) -> &str {
        &self.shared.admin_token
    }

    /// Installs a fault rule (same as `POST /_emulator/faults`).
    pub fn add_fault(&self, rule: FaultRule) -> FaultId {
        self.shared.st().add_fault(rule)
    }

    /// Removes one fault rule; false when no rule had that id.
    pub fn remove_fault(&self, id: FaultId) -> bool {
        let mut st = self.shared.st();
        let before = st.faults.len();
        st.faults.retain(|f| f.id != id);
        st.faults.len() != before
    }

    /// The installed fault rules with their ids and remaining counts (`None`: unlimited).
    pub fn faults(&self) -> Vec<(FaultId, FaultRule, Option<u32>)> {
        self.shared
            .st()
            .faults
            .iter()
            .map(|f| (f.id, f.rule.clone(), f.remaining))
            .collect()
    }

    /// Makes the sample API (`/api/me`) demand the claims challenge from every user (same as
    /// `POST /_emulator/settings {"api_claims_challenge": on}`).
    pub fn set_api_claims_challenge(&self, on: bool) {
        self.shared.st().options.api_claims_challenge = on;
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.st().faults.clear();
    }

    /// Every request received (except the admin API's) and its answer, oldest first, as sent
    /// on the wire: secrets included, so that the process that configured them can assert
    /// what a client sent. The admin API (`GET /_emulator/requests`) serves
    /// [`RecordedRequest::redacted`] copies instead.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).entries.iter().cloned().collect()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).entries.clear();
    }

    /// Approves a pending device code as this user (as if they signed in on the page).
    pub fn approve_device_code(&self, user_code: &str, username: &str) -> Result<(), String> {
        self.shared.st().approve_device_code(user_code, username)
    }

    /// Denies a pending device code.
    pub fn deny_device_code(&self, user_code: &str) -> Result<(), String> {
        self.shared.st().deny_device_code(user_code)
    }

    /// Invalidates every refresh token (and sign-in session) of a user.
    pub fn revoke_refresh_tokens(&self, username: &str) {
        self.shared.st().revoke_refresh_tokens(username)
    }

    /// Adds or replaces a user (e.g. to flip `mfa_required`). A user naming an unknown
    /// tenant is ignored (and logged).
    pub fn set_user(&self, user: UserConfig) {
        if let Err(e) = self.shared.st().upsert_user(user) {
            tracing::warn!("set_user refused: {e}");
        }
    }

    /// Adds or replaces an app registration.
    pub fn set_app(&self, app: AppConfig) -> Result<(), String> {
        self.shared.st().upsert_app(app)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        self.server.shutdown();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.server.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("/contoso/v2.0/.well-known/openid-configuration"),
            Route::Discovery("contoso".into())
        );
        assert_eq!(
            Route::parse("/Common/OAuth2/v2.0/token"),
            Route::Token("Common".into())
        );
        assert_eq!(Route::parse("/"), Route::Index);
        assert_eq!(Route::parse("/x/y"), Route::NotFound);
        assert_eq!(
            Route::parse("/common/discovery/instance"),
            Route::InstanceDiscovery
        );
        assert_eq!(
            Route::parse("/common/UserRealm/bob%40contoso.onmicrosoft.com"),
            Route::UserRealm("bob@contoso.onmicrosoft.com".into())
        );
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
