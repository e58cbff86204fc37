//! An axum web API that calls a downstream API on behalf of its caller (the on-behalf-of
//! flow) and answers claims challenges as Microsoft.Identity.Web does:
//!
//! - `GET /me` takes the caller's bearer token (validating it is the job of your JWT
//!   middleware; this example only requires one), exchanges it for a downstream token (cached
//!   per incoming token) and calls the downstream API;
//! - when the downstream API answers `401` with an `insufficient_claims` challenge, the API
//!   gets a new downstream token with those claims and calls again, once;
//! - when that cannot be done without the user (the exchange fails with `UiRequired`, or the
//!   downstream API challenges again), it answers its caller `401` with a `WWW-Authenticate:
//!   Bearer error="insufficient_claims", claims="<base64>"` header: the caller acquires a new
//!   token with those claims (interactively) and calls again.
//!
//! Against a tenant (the API's registration with a secret, exposing a scope its callers ask for):
//!
//! ```sh
//! MSAL_AUTHORITY=https://login.microsoftonline.com/<tenant> MSAL_CLIENT_ID=<api-app-id> \
//! MSAL_CLIENT_SECRET=<secret> MSAL_DOWNSTREAM_URL=https://graph.microsoft.com/v1.0/me \
//! [MSAL_DOWNSTREAM_SCOPES=https://graph.microsoft.com/User.Read] [MSAL_LISTEN=127.0.0.1:5001] \
//! cargo run -p msal-entra --example web_api_obo
//! ```
//!
//! Against the emulator (`msal emulator --port 8400`): its confidential app is the API behind
//! `api://msal-emulator-api`; `MSAL_DOWNSTREAM_URL=http://127.0.0.1:8400/api/me`. Call it with a
//! token for `api://msal-emulator-api/access_as_user`. `tests/examples_run.rs` runs it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, serve};
use base64::Engine;
use msal::{ConfidentialClientApplication, ErrorKind};

/// How to run this example.
pub const USAGE: &str = "usage: MSAL_AUTHORITY=<authority> MSAL_CLIENT_ID=<api app id> \
MSAL_CLIENT_SECRET=<secret> MSAL_DOWNSTREAM_URL=<downstream API> \
[MSAL_DOWNSTREAM_SCOPES=https://graph.microsoft.com/User.Read] [MSAL_LISTEN=127.0.0.1:5001] \
cargo run -p msal-entra --example web_api_obo";

/// The web API's configuration.
pub struct Config {
    /// The authority.
    pub authority: String,
    /// The web API's client id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// The downstream API's scopes, space-separated in `MSAL_DOWNSTREAM_SCOPES`.
    pub downstream_scopes: Vec<String>,
    /// The downstream API.
    pub downstream_url: String,
}

impl Config {
    /// The configuration from variables (`get` is `std::env::var` in `main`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let need = |name: &str| get(name).ok_or_else(|| format!("{name} is not set\n{USAGE}"));
        Ok(Config {
            authority: need("MSAL_AUTHORITY")?,
            client_id: need("MSAL_CLIENT_ID")?,
            client_secret: need("MSAL_CLIENT_SECRET")?,
            downstream_scopes: get("MSAL_DOWNSTREAM_SCOPES")
                .unwrap_or_else(|| "https://graph.microsoft.com/User.Read".into())
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            downstream_url: need("MSAL_DOWNSTREAM_URL")?,
        })
    }
}

/// The web API's state.
pub struct WebApi {
    /// The confidential client (its cache holds the downstream tokens, per incoming token).
    pub app: ConfidentialClientApplication,
    config: Config,
    http: reqwest::Client,
}

impl WebApi {
    /// The state of the API.
    pub fn new(config: Config) -> Result<Arc<WebApi>, msal::Error> {
        let app = ConfidentialClientApplication::builder(&config.client_id)
            .authority(&config.authority)
            // Only for the emulator on plain HTTP: the library refuses http:// unless the
            // host is a loopback address, even with this set.
            .allow_insecure_loopback(config.authority.starts_with("http://"))
            .client_secret(config.client_secret.as_str())
            .build()?;
        Ok(Arc::new(WebApi {
            app,
            config,
            http: reqwest::Client::new(),
        }))
    }
}

/// The routes: `GET /me`.
pub fn router(state: Arc<WebApi>) -> Router {
    Router::new().route("/me", get(me)).with_state(state)
}

/// `401` with the challenge the caller acts on: the claims (base64, as Entra's APIs send
/// them) when there are some.
fn challenge(s: &WebApi, error: &str, claims: Option<&str>) -> Response {
    let mut value = format!(
        "Bearer realm=\"\", authorization_uri=\"{}/oauth2/v2.0/authorize\", client_id=\"{}\", error=\"{error}\"",
        s.config.authority.trim_end_matches('/'),
        s.config.client_id
    );
    if let Some(c) = claims {
        let c = base64::engine::general_purpose::STANDARD.encode(c);
        value.push_str(&format!(", claims=\"{c}\""));
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
    )
        .into_response()
}

/// An exchange that failed: a challenge for the caller when the user can resolve it, else 500
/// with what the guide advises (logged; the caller gets no details).
fn exchange_failed(s: &WebApi, e: &msal::Error) -> Response {
    if e.kind() == ErrorKind::UiRequired {
        let error = if e.claims().is_some() {
            "insufficient_claims"
        } else {
            "interaction_required"
        };
        return challenge(s, error, e.claims());
    }
    eprintln!("on-behalf-of failed: {e}; what to do: {}", e.advice());
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the downstream API is unavailable",
    )
        .into_response()
}

async fn me(State(s): State<Arc<WebApi>>, headers: HeaderMap) -> Response {
    let incoming = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(incoming) = incoming else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response();
    };
    let mut claims: Option<String> = None;
    // Twice at most: the second time with the downstream API's claims challenge (a second
    // challenge returns).
    loop {
        let mut request = s
            .app
            .acquire_token_on_behalf_of(&s.config.downstream_scopes, incoming);
        if let Some(c) = &claims {
            request = request.with_claims(c.clone());
        }
        let token = match request.send().await {
            Ok(t) => t,
            Err(e) => return exchange_failed(&s, &e),
        };
        let answer = s
            .http
            .get(&s.config.downstream_url)
            .bearer_auth(token.access_token.secret())
            .send()
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                eprintln!("the downstream API cannot be reached: {e}");
                return (
                    StatusCode::BAD_GATEWAY,
                    "the downstream API cannot be reached",
                )
                    .into_response();
            }
        };
        let status = answer.status().as_u16();
        match msal::claims::claims_challenge_from_response(status, answer.headers()) {
            // Already asked with claims: only the user can satisfy these.
            Some(c) if claims.is_some() => return challenge(&s, "insufficient_claims", Some(&c)),
            Some(c) => claims = Some(c),
            None => {
                let body = answer.bytes().await.unwrap_or_default();
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                return (status, [(header::CONTENT_TYPE, "application/json")], body)
                    .into_response();
            }
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let config = Config::from_vars(|k| std::env::var(k).ok()).unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    let state = WebApi::new(config).unwrap_or_else(|e| {
        eprintln!("error: {e}\nwhat to do: {}", e.advice());
        std::process::exit(1)
    });
    let listen = std::env::var("MSAL_LISTEN").unwrap_or_else(|_| "127.0.0.1:5001".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("listening on http://{listen}/me");
    serve(listener, router(state)).await
}
