//! A command-line tool that signs its user in with the device code flow and keeps the tokens in
//! a file: silent first (the cached token, or the refresh token), the device code only when
//! the user must act (first run, expired session, a claims challenge).
//!
//! Against a tenant (a public client app with "Allow public client flows"):
//!
//! ```sh
//! MSAL_CLIENT_ID=<app-id> [MSAL_AUTHORITY=https://login.microsoftonline.com/organizations] \
//! [MSAL_SCOPES="User.Read"] [MSAL_CACHE_FILE=msal-cache.json] \
//! cargo run -p msal-entra --example cli_device_code
//! ```
//!
//! Against the emulator (`msal emulator --port 8400` prints its ids; the public client is
//! `1b9d6c3a-5e7f-4a2b-8c0d-6e4f2a8b1c93`, the tenant `7f3e9a2c-4b1d-4e8f-9c6a-2d5b8e1f0a37`):
//! `MSAL_AUTHORITY=http://127.0.0.1:8400/<tenant> MSAL_CLIENT_ID=<public client>`, then open
//! the printed page and sign in as `alice@contoso.onmicrosoft.com` / `P@ssw0rd!`. Run it twice:
//! the second run is silent. `tests/examples_run.rs` runs it, approving the code through the
//! emulator.

use std::path::PathBuf;
use std::sync::Arc;

use msal::cache::{FileCachePersistence, TokenCache};
use msal::{AuthenticationResult, DeviceCodeInfo, ErrorKind, PublicClientApplication};

/// How to run this example.
pub const USAGE: &str = "usage: MSAL_CLIENT_ID=<app id> \
[MSAL_AUTHORITY=https://login.microsoftonline.com/organizations] [MSAL_SCOPES=\"User.Read ...\"] \
[MSAL_CACHE_FILE=msal-cache.json] [MSAL_USERNAME=<account to use>] \
cargo run -p msal-entra --example cli_device_code";

/// The tool's configuration.
pub struct Config {
    /// The authority (default `organizations`).
    pub authority: String,
    /// The public client's id.
    pub client_id: String,
    /// The scopes, space-separated in `MSAL_SCOPES`.
    pub scopes: Vec<String>,
    /// The token cache file (mode 0600, shared safely between concurrent runs).
    pub cache_file: PathBuf,
    /// Which cached account to use when there are several.
    pub username: Option<String>,
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
            cache_file: get("MSAL_CACHE_FILE")
                .unwrap_or_else(|| "msal-cache.json".into())
                .into(),
            username: get("MSAL_USERNAME"),
        })
    }
}

/// A token for the user: silent when the cache can serve it, else the device code flow, with
/// `show_code` telling the user where to go.
pub async fn run(
    config: &Config,
    show_code: impl Fn(&DeviceCodeInfo) + Send + Sync + 'static,
) -> Result<AuthenticationResult, msal::Error> {
    let cache =
        TokenCache::with_persistence(Arc::new(FileCachePersistence::new(&config.cache_file)));
    let app = PublicClientApplication::builder(&config.client_id)
        .authority(&config.authority)
        // Only for the emulator on plain HTTP: the library refuses http:// unless the host is
        // a loopback address, even with this set.
        .allow_insecure_loopback(config.authority.starts_with("http://"))
        .token_cache(cache)
        .build()?;

    let account = match &config.username {
        Some(name) => app.get_account(name).await?,
        None => app.accounts().await?.into_iter().next(),
    };
    let mut claims = None;
    if let Some(account) = account {
        match app
            .acquire_token_silent(&config.scopes, &account)
            .send()
            .await
        {
            Ok(token) => return Ok(token),
            // Only the user can help (expired session, consent, a claims challenge): ask them.
            Err(e) if e.kind() == ErrorKind::UiRequired => {
                eprintln!("signing in again: {}", e.advice());
                claims = e.claims().map(str::to_owned);
            }
            Err(e) => return Err(e),
        }
    }
    let mut request = app
        .acquire_token_by_device_code(&config.scopes)
        .on_code(show_code);
    if let Some(claims) = claims {
        request = request.with_claims(claims);
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
    // The message names the page and the code; it goes to stderr, so stdout stays the result.
    match run(&config, |info| eprintln!("{}", info.message)).await {
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
