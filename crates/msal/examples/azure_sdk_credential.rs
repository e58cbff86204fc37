//! msal-rs as the credential of an Azure SDK for Rust client (feature `azure_core`): the
//! application is an `azure_core::credentials::TokenCredential`, given to azure_core's own
//! bearer-token policy in an azure_core pipeline, which calls an endpoint. Tokens come from
//! msal's cache, so the SDK's refreshes cost no request while a token is valid.
//!
//! The credential is a confidential client (secret or certificate) when `MSAL_CLIENT_ID` is
//! set, else the managed identity (see the `managed_identity_service` example). Against a
//! tenant:
//!
//! ```sh
//! MSAL_AUTHORITY=https://login.microsoftonline.com/<tenant> MSAL_CLIENT_ID=<app-id> \
//! MSAL_CLIENT_SECRET=<secret> MSAL_SCOPE=https://management.azure.com/.default \
//! MSAL_URL="https://management.azure.com/subscriptions?api-version=2022-12-01" \
//! cargo run -p msal-entra --features azure_core --example azure_sdk_credential
//! ```
//!
//! Against the emulator over TLS (`msal emulator --tls --ca-out ca.pem --port 8400`):
//! `MSAL_AUTHORITY=https://127.0.0.1:8400/7f3e9a2c-4b1d-4e8f-9c6a-2d5b8e1f0a37
//! MSAL_CLIENT_ID=3c7a1e5f-9b2d-4a6c-8e0f-1d4b7a9c2e58 MSAL_CLIENT_SECRET=<the emulator's>
//! MSAL_SCOPE=https://graph.microsoft.com/.default MSAL_URL=https://127.0.0.1:8400/api/me
//! MSAL_CA_FILE=ca.pem`. `tests/examples_run.rs` runs it that way.

use std::path::PathBuf;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, Request, Transport, Url};
use msal::{
    ClientCertificate, ConfidentialClientApplication, ManagedIdentityApplication, ManagedIdentityId,
};

/// How to run this example.
pub const USAGE: &str = "usage: MSAL_SCOPE=<resource>/.default MSAL_URL=<endpoint to GET> \
[MSAL_AUTHORITY=<authority> MSAL_CLIENT_ID=<app id> (MSAL_CLIENT_SECRET=<secret> | \
MSAL_CERTIFICATE=<pem>)] [MSAL_CA_FILE=<pem>] \
cargo run -p msal-entra --features azure_core --example azure_sdk_credential";

/// The client's configuration.
pub struct Config {
    /// The scope the endpoint wants.
    pub scope: String,
    /// The endpoint to call.
    pub url: String,
    /// `(authority, client id, secret or certificate)`: a confidential client; `None`: the
    /// managed identity.
    pub app: Option<(String, String, Secret)>,
    /// An extra CA to trust (the emulator's).
    pub ca_file: Option<PathBuf>,
}

/// The confidential client's credential.
pub enum Secret {
    /// A client secret.
    Secret(String),
    /// A PEM file with the private key and the certificate.
    Certificate(PathBuf),
}

impl Config {
    /// The configuration from variables (`get` is `std::env::var` in `main`).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let need = |name: &str| get(name).ok_or_else(|| format!("{name} is not set\n{USAGE}"));
        let app = match get("MSAL_CLIENT_ID") {
            None => None,
            Some(client_id) => {
                let secret = match (get("MSAL_CLIENT_SECRET"), get("MSAL_CERTIFICATE")) {
                    (Some(s), None) => Secret::Secret(s),
                    (None, Some(c)) => Secret::Certificate(c.into()),
                    _ => {
                        return Err(format!(
                            "set one of MSAL_CLIENT_SECRET and MSAL_CERTIFICATE\n{USAGE}"
                        ));
                    }
                };
                Some((need("MSAL_AUTHORITY")?, client_id, secret))
            }
        };
        Ok(Config {
            scope: need("MSAL_SCOPE")?,
            url: need("MSAL_URL")?,
            app,
            ca_file: get("MSAL_CA_FILE").map(PathBuf::from),
        })
    }
}

/// The msal application as the SDK's credential.
pub fn credential(config: &Config) -> Result<Arc<dyn TokenCredential>, msal::Error> {
    let Some((authority, client_id, secret)) = &config.app else {
        let mi = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned).build()?;
        return Ok(Arc::new(mi));
    };
    let mut builder = ConfidentialClientApplication::builder(client_id).authority(authority);
    builder = match secret {
        Secret::Secret(s) => builder.client_secret(s.as_str()),
        Secret::Certificate(path) => builder.certificate(ClientCertificate::from_pem_file(path)?),
    };
    if let Some(ca) = &config.ca_file {
        builder = builder.ca_file(ca);
    }
    Ok(Arc::new(builder.build()?))
}

/// GETs the endpoint through an azure_core pipeline whose authentication is azure_core's
/// bearer-token policy over the credential. Returns the status and the body.
pub async fn run(config: &Config) -> Result<(u16, Vec<u8>), Box<dyn std::error::Error>> {
    let credential = credential(config)?;
    let mut http = reqwest::Client::builder();
    if let Some(ca) = &config.ca_file {
        let pem = std::fs::read(ca)?;
        http = http.tls_certs_only([reqwest::Certificate::from_pem(&pem)?]);
    }
    let options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http.build()?))),
        ..Default::default()
    };
    let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
        credential,
        [config.scope.as_str()],
    ));
    let pipeline = Pipeline::new(None, None, options, vec![auth], Vec::new(), None);
    let mut request = Request::new(Url::parse(&config.url)?, Method::Get);
    let response = pipeline.send(&Context::new(), &mut request, None).await?;
    Ok((u16::from(response.status()), response.body().to_vec()))
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
    match run(&config).await {
        Ok((status, body)) => {
            println!("{status}\n{}", String::from_utf8_lossy(&body));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            // A credential failure holds the msal::Error in its source chain.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
            while let Some(s) = source {
                if let Some(msal) = s.downcast_ref::<msal::Error>() {
                    eprintln!("what to do: {}", msal.advice());
                }
                source = s.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}
