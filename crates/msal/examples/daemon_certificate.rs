//! A daemon that authenticates with a certificate (client credentials grant): no user, an app
//! token for `<resource>/.default`, served from the token cache while it is valid, optionally
//! kept in a file so a restarted daemon does not ask again.
//!
//! Against a tenant (the certificate registered on the app; one PEM file with the private key
//! and the certificate):
//!
//! ```sh
//! MSAL_AUTHORITY=https://login.microsoftonline.com/<tenant-id> MSAL_CLIENT_ID=<app-id> \
//! MSAL_CERTIFICATE=daemon.pem [MSAL_SCOPE=https://graph.microsoft.com/.default] \
//! [MSAL_CACHE_FILE=daemon-cache.json] cargo run -p msal-entra --example daemon_certificate
//! ```
//!
//! Against the emulator: `tests/examples_run.rs` runs it with the emulator's default app and
//! certificate (`msal_emulator::default_certificate_pem`). From a shell, register your
//! certificate under `certificates` of an app in an emulator configuration file
//! (`msal emulator --config FILE`) and use `MSAL_AUTHORITY=http://127.0.0.1:<port>/<tenant>`.
//!
//! It prints where each token came from and when it expires, never the token.

use std::path::PathBuf;
use std::sync::Arc;

use msal::cache::{FileCachePersistence, TokenCache};
use msal::{AuthenticationResult, ClientCertificate, ConfidentialClientApplication};

/// How to run this example.
pub const USAGE: &str = "usage: MSAL_AUTHORITY=https://login.microsoftonline.com/<tenant> \
MSAL_CLIENT_ID=<app id> MSAL_CERTIFICATE=<pem with key and certificate> \
[MSAL_SCOPE=<resource>/.default] [MSAL_CACHE_FILE=<file>] [MSAL_CA_FILE=<pem>] \
cargo run -p msal-entra --example daemon_certificate";

/// The daemon's configuration.
pub struct Config {
    /// `https://login.microsoftonline.com/<tenant>` (or the emulator's `http://127.0.0.1:<port>/<tenant>`).
    pub authority: String,
    /// The application (client) id.
    pub client_id: String,
    /// One PEM file with the private key and the certificate.
    pub certificate: PathBuf,
    /// The scope, `<resource>/.default`.
    pub scope: String,
    /// Where to keep the token cache, if anywhere.
    pub cache_file: Option<PathBuf>,
    /// An extra CA to trust (the emulator's, over TLS).
    pub ca_file: Option<PathBuf>,
}

impl Config {
    /// The configuration from variables (`get` is `std::env::var` in `main`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let need = |name: &str| get(name).ok_or_else(|| format!("{name} is not set\n{USAGE}"));
        Ok(Config {
            authority: need("MSAL_AUTHORITY")?,
            client_id: need("MSAL_CLIENT_ID")?,
            certificate: need("MSAL_CERTIFICATE")?.into(),
            scope: get("MSAL_SCOPE")
                .unwrap_or_else(|| "https://graph.microsoft.com/.default".into()),
            cache_file: get("MSAL_CACHE_FILE").map(PathBuf::from),
            ca_file: get("MSAL_CA_FILE").map(PathBuf::from),
        })
    }
}

/// The application, built once and kept for the daemon's life (it holds the cache).
pub fn build_app(config: &Config) -> Result<ConfidentialClientApplication, msal::Error> {
    let certificate = ClientCertificate::from_pem_file(&config.certificate)?;
    let cache = match &config.cache_file {
        Some(path) => TokenCache::with_persistence(Arc::new(FileCachePersistence::new(path))),
        None => TokenCache::new(),
    };
    let mut builder = ConfidentialClientApplication::builder(&config.client_id)
        .authority(&config.authority)
        // Only for the emulator on plain HTTP: the library refuses http:// unless the host is
        // a loopback address, even with this set.
        .allow_insecure_loopback(config.authority.starts_with("http://"))
        .certificate(certificate)
        .token_cache(cache);
    if let Some(ca) = &config.ca_file {
        builder = builder.ca_file(ca);
    }
    builder.build()
}

/// One unit of the daemon's work: a token for each call (the cache answers while the token
/// is valid, so asking every time is the right pattern).
pub async fn run(config: &Config, calls: usize) -> Result<Vec<AuthenticationResult>, msal::Error> {
    let app = build_app(config)?;
    let mut results = Vec::with_capacity(calls);
    for _ in 0..calls {
        results.push(app.acquire_token_for_client([&config.scope]).send().await?);
    }
    Ok(results)
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
    match run(&config, 2).await {
        Ok(results) => {
            for r in results {
                println!(
                    "token for {:?} from {}, expires {}",
                    r.scopes,
                    r.source.as_str(),
                    r.expires_on
                );
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}\nwhat to do: {}", e.advice());
            std::process::ExitCode::FAILURE
        }
    }
}
