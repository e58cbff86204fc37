//! A desktop app that signs its user in with the system browser: the authorization code flow
//! with PKCE, the redirect caught on a loopback port (`http://localhost:<port>`). Silent
//! first; the browser only when the user must act.
//!
//! Against a tenant (a public client app with the redirect URI `http://localhost` registered
//! under "Mobile and desktop applications"):
//!
//! ```sh
//! MSAL_CLIENT_ID=<app-id> [MSAL_AUTHORITY=https://login.microsoftonline.com/organizations] \
//! [MSAL_SCOPES="User.Read"] [MSAL_CACHE_FILE=desktop-cache.json] \
//! cargo run -p msal-entra --example desktop_browser
//! ```
//!
//! The browser is `$BROWSER` when set, else the system's (`xdg-open`, `open`, Windows' URL
//! handler). Against the emulator (`msal emulator --port 8400`):
//! `MSAL_AUTHORITY=http://127.0.0.1:8400/7f3e9a2c-4b1d-4e8f-9c6a-2d5b8e1f0a37
//! MSAL_CLIENT_ID=1b9d6c3a-5e7f-4a2b-8c0d-6e4f2a8b1c93`, and sign in as
//! `alice@contoso.onmicrosoft.com` / `P@ssw0rd!`. `tests/examples_run.rs` runs it with a
//! browser that signs in on the emulator's pages over HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use msal::cache::{FileCachePersistence, TokenCache};
use msal::{AuthenticationResult, Browser, ErrorKind, PublicClientApplication};

/// How to run this example.
pub const USAGE: &str = "usage: MSAL_CLIENT_ID=<app id> \
[MSAL_AUTHORITY=https://login.microsoftonline.com/organizations] [MSAL_SCOPES=\"User.Read ...\"] \
[MSAL_CACHE_FILE=<file>] [BROWSER=<command>] cargo run -p msal-entra --example desktop_browser";

/// The app's configuration.
pub struct Config {
    /// The authority (default `organizations`).
    pub authority: String,
    /// The public client's id.
    pub client_id: String,
    /// The scopes, space-separated in `MSAL_SCOPES`.
    pub scopes: Vec<String>,
    /// Where to keep the token cache (in memory only when unset).
    pub cache_file: Option<PathBuf>,
}

impl Config {
    /// The configuration from variables (`get` is `std::env::var` in `main`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        Ok(Config {
            authority: get("MSAL_AUTHORITY")
                .unwrap_or_else(|| "https://login.microsoftonline.com/organizations".into()),
            client_id: get("MSAL_CLIENT_ID")
                .ok_or_else(|| format!("MSAL_CLIENT_ID is not set\n{USAGE}"))?,
            scopes: get("MSAL_SCOPES")
                .unwrap_or_else(|| "User.Read".into())
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            cache_file: get("MSAL_CACHE_FILE").map(PathBuf::from),
        })
    }
}

/// The application (it holds the cache: keep one for the app's life).
pub fn build_app(config: &Config) -> Result<PublicClientApplication, msal::Error> {
    let cache = match &config.cache_file {
        Some(path) => TokenCache::with_persistence(Arc::new(FileCachePersistence::new(path))),
        None => TokenCache::new(),
    };
    PublicClientApplication::builder(&config.client_id)
        .authority(&config.authority)
        // Only for the emulator on plain HTTP: the library refuses http:// unless the host is
        // a loopback address, even with this set.
        .allow_insecure_loopback(config.authority.starts_with("http://"))
        .token_cache(cache)
        .build()
}

/// A token for the user: from the cache (or its refresh token) when it can, else through
/// `browser`.
pub async fn acquire(
    app: &PublicClientApplication,
    scopes: &[String],
    browser: Browser,
) -> Result<AuthenticationResult, msal::Error> {
    let account = app.accounts().await?.into_iter().next();
    let mut request = app
        .acquire_token_interactive(scopes)
        .browser(browser)
        // A user who walks away does not leave the app waiting forever.
        .timeout(Duration::from_secs(300));
    if let Some(account) = account {
        match app.acquire_token_silent(scopes, &account).send().await {
            Ok(token) => return Ok(token),
            Err(e) if e.kind() == ErrorKind::UiRequired => {
                eprintln!("signing in again: {}", e.advice());
                if let Some(claims) = e.claims() {
                    request = request.with_claims(claims.to_owned());
                }
                request = request.account(&account);
            }
            Err(e) => return Err(e),
        }
    }
    request.send().await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match Config::from_vars(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(usage) => {
            eprintln!("{usage}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = match build_app(&config) {
        Ok(app) => acquire(&app, &config.scopes, Browser::System).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(token) => {
            let user = token.account.as_ref().map_or("?", |a| a.username.as_str());
            println!(
                "signed in as {user}; token for {:?} from {}, expires {}",
                token.scopes,
                token.source.as_str(),
                token.expires_on
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}\nwhat to do: {}", e.advice());
            std::process::ExitCode::FAILURE
        }
    }
}
