//! A service on Azure that authenticates as its managed identity: no secret to keep. The
//! source (IMDS on VMs, App Service, Azure ML, Cloud Shell, Arc, Service Fabric) is detected
//! from the environment; the service prints the source and when the token expires, never the
//! token. Tokens are cached: asking for one before each call costs nothing while it is valid.
//!
//! On Azure (system-assigned, or a user-assigned identity by one of its ids):
//!
//! ```sh
//! [MSAL_SCOPE=https://management.azure.com/.default] [MSAL_MI_CLIENT_ID=<id> |
//! MSAL_MI_OBJECT_ID=<id> | MSAL_MI_RESOURCE_ID=<id>] cargo run -p msal-entra --example managed_identity_service
//! ```
//!
//! Against the emulator (`msal emulator --port 8400` prints the variables of every source),
//! e.g. IMDS: `AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:8400 cargo run -p msal-entra
//! --example managed_identity_service`. `tests/examples_run.rs` runs it that way.

use msal::{
    AuthenticationResult, ManagedIdentityApplication, ManagedIdentityId, ManagedIdentitySource,
};

/// How to run this example.
pub const USAGE: &str = "usage: [MSAL_SCOPE=<resource>/.default] [MSAL_MI_CLIENT_ID=<id> | \
MSAL_MI_OBJECT_ID=<id> | MSAL_MI_RESOURCE_ID=<id>] cargo run -p msal-entra --example managed_identity_service";

/// The service's configuration.
pub struct Config {
    /// The scope, `<resource>/.default`.
    pub scope: String,
    /// System-assigned, or which user-assigned identity.
    pub identity: ManagedIdentityId,
}

impl Config {
    /// The configuration from variables (`get` is `std::env::var` in `main`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let ids = [
            get("MSAL_MI_CLIENT_ID").map(ManagedIdentityId::ClientId),
            get("MSAL_MI_OBJECT_ID").map(ManagedIdentityId::ObjectId),
            get("MSAL_MI_RESOURCE_ID").map(ManagedIdentityId::ResourceId),
        ];
        let mut ids = ids.into_iter().flatten();
        let identity = ids.next().unwrap_or(ManagedIdentityId::SystemAssigned);
        if ids.next().is_some() {
            return Err(format!(
                "name the user-assigned identity by one id only\n{USAGE}"
            ));
        }
        Ok(Config {
            scope: get("MSAL_SCOPE")
                .unwrap_or_else(|| "https://management.azure.com/.default".into()),
            identity,
        })
    }
}

/// The source found and a token, asked for `calls` times (the first from the source, the
/// others from the cache). `environment` replaces the process's variables when given (for
/// hosts that keep them elsewhere, and the test).
pub async fn run(
    config: &Config,
    environment: Option<Vec<(String, String)>>,
    calls: usize,
) -> Result<(ManagedIdentitySource, Vec<AuthenticationResult>), msal::Error> {
    let mut builder = ManagedIdentityApplication::builder(config.identity.clone());
    if let Some(vars) = environment {
        builder = builder.environment(vars);
    }
    let app = builder.build()?;
    let mut results = Vec::with_capacity(calls);
    for _ in 0..calls {
        results.push(app.acquire_token_for_client(&config.scope).send().await?);
    }
    Ok((app.source(), results))
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
    match run(&config, None, 2).await {
        Ok((source, results)) => {
            println!("managed identity source: {}", source.as_str());
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
