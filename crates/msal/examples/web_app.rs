//! An axum web app that signs users in (the authorization code flow with PKCE, as a
//! confidential client), keeps a session (a cookie holding a random id, the session on the
//! server), calls an API with the user's token (silent: the cache, else the refresh token)
//! and signs out (the account leaves the token cache, the session ends, and the browser goes
//! through the identity provider's end-session endpoint).
//!
//! Against a tenant (a web app registration with a secret and the redirect URI below):
//!
//! ```sh
//! MSAL_AUTHORITY=https://login.microsoftonline.com/<tenant> MSAL_CLIENT_ID=<app-id> \
//! MSAL_CLIENT_SECRET=<secret> MSAL_API_URL=https://graph.microsoft.com/v1.0/me \
//! [MSAL_SCOPES=User.Read] [MSAL_LISTEN=127.0.0.1:5000] \
//! [MSAL_REDIRECT_URI=http://localhost:5000/auth/callback] cargo run -p msal-entra --example web_app
//! ```
//!
//! Against the emulator (`msal emulator --port 8400`): `MSAL_AUTHORITY=http://127.0.0.1:8400/
//! 7f3e9a2c-4b1d-4e8f-9c6a-2d5b8e1f0a37 MSAL_CLIENT_ID=3c7a1e5f-9b2d-4a6c-8e0f-1d4b7a9c2e58
//! MSAL_CLIENT_SECRET=<the emulator's> MSAL_API_URL=http://127.0.0.1:8400/api/me`, then open
//! <http://localhost:5000/> and sign in as `alice@contoso.onmicrosoft.com` / `P@ssw0rd!`.
//! `tests/examples_run.rs` runs it in headless Chromium.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, serve};
use base64::Engine;
use msal::{Account, AuthCodeFlow, ConfidentialClientApplication, ErrorKind};

/// How to run this example.
pub const USAGE: &str = "usage: MSAL_AUTHORITY=<authority> MSAL_CLIENT_ID=<app id> \
MSAL_CLIENT_SECRET=<secret> MSAL_API_URL=<API to call> [MSAL_SCOPES=User.Read] \
[MSAL_LISTEN=127.0.0.1:5000] [MSAL_REDIRECT_URI=http://localhost:5000/auth/callback] \
cargo run -p msal-entra --example web_app";

/// Sessions kept at most: more sign-ins wait until some sign out.
const MAX_SESSIONS: usize = 10_000;

/// The web app's configuration.
pub struct Config {
    /// The authority.
    pub authority: String,
    /// The web app's client id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// The scopes of the API, space-separated in `MSAL_SCOPES`.
    pub scopes: Vec<String>,
    /// The API called with the user's token.
    pub api_url: String,
    /// The redirect URI registered on the app, ending in `/auth/callback`.
    pub redirect_uri: String,
}

impl Config {
    /// The configuration from variables (`get` is `std::env::var` in `main`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let need = |name: &str| get(name).ok_or_else(|| format!("{name} is not set\n{USAGE}"));
        Ok(Config {
            authority: need("MSAL_AUTHORITY")?,
            client_id: need("MSAL_CLIENT_ID")?,
            client_secret: need("MSAL_CLIENT_SECRET")?,
            scopes: get("MSAL_SCOPES")
                .unwrap_or_else(|| "User.Read".into())
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            api_url: need("MSAL_API_URL")?,
            redirect_uri: get("MSAL_REDIRECT_URI")
                .unwrap_or_else(|| "http://localhost:5000/auth/callback".into()),
        })
    }
}

/// What the server keeps per browser.
#[derive(Default)]
struct Session {
    /// The sign-in under way (between `/login` and the callback).
    flow: Option<AuthCodeFlow>,
    /// The signed-in user (their tokens are in the app's cache).
    account: Option<Account>,
}

/// The web app's state.
pub struct WebApp {
    /// The confidential client; its token cache holds every signed-in user's tokens.
    pub app: ConfidentialClientApplication,
    config: Config,
    sessions: Mutex<HashMap<String, Session>>,
    http: reqwest::Client,
}

impl WebApp {
    /// The state of the app.
    pub fn new(config: Config) -> Result<Arc<WebApp>, msal::Error> {
        let app = ConfidentialClientApplication::builder(&config.client_id)
            .authority(&config.authority)
            // Only for the emulator on plain HTTP: the library refuses http:// unless the
            // host is a loopback address, even with this set.
            .allow_insecure_loopback(config.authority.starts_with("http://"))
            .client_secret(config.client_secret.as_str())
            .build()?;
        Ok(Arc::new(WebApp {
            app,
            config,
            sessions: Mutex::default(),
            http: reqwest::Client::new(),
        }))
    }

    /// The session id of the request's cookie, when the server knows it.
    fn session_id(&self, headers: &HeaderMap) -> Option<String> {
        let cookies = headers
            .get_all(header::COOKIE)
            .into_iter()
            .filter_map(|v| v.to_str().ok());
        let id = cookies
            .flat_map(|c| c.split(';'))
            .find_map(|kv| kv.trim().strip_prefix("session="))?;
        self.sessions
            .lock()
            .unwrap()
            .contains_key(id)
            .then(|| id.to_owned())
    }

    fn account(&self, headers: &HeaderMap) -> Option<Account> {
        let id = self.session_id(headers)?;
        self.sessions.lock().unwrap().get(&id)?.account.clone()
    }
}

/// The routes: `/`, `/login`, `/auth/callback`, `/call-api`, `/logout` (POST).
pub fn router(state: Arc<WebApp>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/call-api", get(call_api))
        .route("/logout", post(logout))
        .with_state(state)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(body: &str) -> Html<String> {
    Html(format!("<!doctype html><html><body>{body}</body></html>"))
}

fn error_page(status: StatusCode, e: &msal::Error) -> Response {
    let body = format!(
        "<p id=\"error\">{}</p><p>{}</p><a href=\"/\">home</a>",
        escape(&e.to_string()),
        escape(&e.advice().to_string())
    );
    (status, page(&body)).into_response()
}

async fn home(State(s): State<Arc<WebApp>>, headers: HeaderMap) -> Html<String> {
    match s.account(&headers) {
        Some(a) => page(&format!(
            "<p id=\"user\">Signed in as {}</p><a id=\"call-api\" href=\"/call-api\">Call the API</a>\
             <form method=\"post\" action=\"/logout\"><button id=\"logout\">Sign out</button></form>",
            escape(&a.username)
        )),
        None => {
            page("<p id=\"anonymous\">Not signed in</p><a id=\"login\" href=\"/login\">Sign in</a>")
        }
    }
}

async fn login(State(s): State<Arc<WebApp>>, headers: HeaderMap) -> Response {
    let flow = match s
        .app
        .initiate_auth_code_flow(&s.config.scopes, &s.config.redirect_uri)
        .send()
        .await
    {
        Ok(f) => f,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let auth_uri = flow.auth_uri().to_owned();
    let existing = s.session_id(&headers);
    let mut sessions = s.sessions.lock().unwrap();
    let id = match existing {
        Some(id) => id,
        None if sessions.len() >= MAX_SESSIONS => {
            return (StatusCode::SERVICE_UNAVAILABLE, "too many sessions").into_response();
        }
        // 32 random bytes: a session id nobody can guess.
        None => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()),
    };
    sessions.entry(id.clone()).or_default().flow = Some(flow);
    let secure = if s.config.redirect_uri.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("session={id}; Path=/; HttpOnly; SameSite=Lax{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to(&auth_uri)).into_response()
}

async fn callback(
    State(s): State<Arc<WebApp>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let Some(id) = s.session_id(&headers) else {
        return (StatusCode::BAD_REQUEST, "no sign-in under way").into_response();
    };
    let flow = s
        .sessions
        .lock()
        .unwrap()
        .get_mut(&id)
        .and_then(|x| x.flow.take());
    let Some(flow) = flow else {
        return (StatusCode::BAD_REQUEST, "no sign-in under way").into_response();
    };
    // Checks `state` (and `iss`), turns an `error` into a typed error, redeems the code.
    match s
        .app
        .acquire_token_by_auth_code_flow(&flow, params)
        .send()
        .await
    {
        Ok(token) => {
            if let Some(session) = s.sessions.lock().unwrap().get_mut(&id) {
                session.account = token.account;
            }
            Redirect::to("/").into_response()
        }
        Err(e) => error_page(StatusCode::UNAUTHORIZED, &e),
    }
}

async fn call_api(State(s): State<Arc<WebApp>>, headers: HeaderMap) -> Response {
    let Some(account) = s.account(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let token = match s
        .app
        .acquire_token_silent(&s.config.scopes, &account)
        .send()
        .await
    {
        Ok(t) => t,
        // The session outlived the tokens (expired, revoked): sign in again.
        Err(e) if e.kind() == ErrorKind::UiRequired => {
            return Redirect::to("/login").into_response();
        }
        Err(e) => return error_page(StatusCode::BAD_GATEWAY, &e),
    };
    let answer = s
        .http
        .get(&s.config.api_url)
        .bearer_auth(token.access_token.secret())
        .send()
        .await;
    let (status, body) = match answer {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (502, e.to_string()),
    };
    page(&format!(
        "<p>The API answered <span id=\"status\">{status}</span></p><pre id=\"api\">{}</pre><a href=\"/\">home</a>",
        escape(&body)
    ))
    .into_response()
}

async fn logout(State(s): State<Arc<WebApp>>, headers: HeaderMap) -> Response {
    if let Some(id) = s.session_id(&headers) {
        let session = s.sessions.lock().unwrap().remove(&id);
        if let Some(account) = session.and_then(|x| x.account)
            && let Err(e) = s.app.remove_account(&account).await
        {
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e);
        }
    }
    // Then out of the identity provider's session too (its end-session endpoint), which sends
    // the browser back to the home page.
    let end_session = format!(
        "{}/oauth2/v2.0/logout",
        s.config.authority.trim_end_matches('/')
    );
    let target = match (
        url::Url::parse(&end_session),
        url::Url::parse(&s.config.redirect_uri),
    ) {
        (Ok(mut end), Ok(redirect)) => {
            let home = redirect.join("/").map_or_else(|_| "/".into(), String::from);
            end.query_pairs_mut()
                .append_pair("post_logout_redirect_uri", &home);
            end.to_string()
        }
        _ => "/".into(),
    };
    let expired = "session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";
    ([(header::SET_COOKIE, expired)], Redirect::to(&target)).into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let config = Config::from_vars(|k| std::env::var(k).ok()).unwrap_or_else(|usage| {
        eprintln!("{usage}");
        std::process::exit(2)
    });
    let state = WebApp::new(config).unwrap_or_else(|e| {
        eprintln!("error: {e}\nwhat to do: {}", e.advice());
        std::process::exit(1)
    });
    let listen = std::env::var("MSAL_LISTEN").unwrap_or_else(|_| "127.0.0.1:5000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("listening on http://{listen}/");
    serve(listener, router(state)).await
}
