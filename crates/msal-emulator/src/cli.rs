//! The `msal-emulator` command line (also used by `msal emulator`).

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;

use crate::config::{ConfigError, EmulatorConfig, defaults};
use crate::server::{Emulator, EmulatorHandle};

/// Command line options of the emulator.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CliArgs {
    /// Port to listen on at 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// A TOML configuration file (directory, fault rules, options); the built-in directory
    /// when absent.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve HTTPS with a certificate signed by a newly generated CA.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the CA certificate (PEM) with --tls (default: msal-emulator-ca.pem).
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_out: Option<PathBuf>,
    /// The admin API's bearer token (random when absent).
    #[arg(long, env = "MSAL_EMULATOR_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Where Azure Arc's challenge writes its key files (a directory of the emulator's own,
    /// removed at exit, when absent).
    #[arg(long, value_name = "DIR")]
    pub arc_key_dir: Option<PathBuf>,
    /// The URL clients reach the emulator at when it is not `http(s)://127.0.0.1:PORT/`
    /// (a proxy, a container port mapping, a host name); overrides `options.public_url`.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
}

/// Why the emulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding, writing the CA file or printing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Starts the emulator as the options say, prints where it listens, and runs until Ctrl-C
/// (or, on Unix, SIGTERM).
pub async fn run_cli(args: CliArgs) -> Result<(), CliError> {
    let mut out = std::io::stdout();
    run_cli_until(args, &mut out, stop_signal()).await
}

async fn stop_signal() {
    let ctrl_c = async {
        // An error means no handler could be installed: then run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// Like [`run_cli`], but writes its banner to `out` and stops when `shutdown` completes.
pub async fn run_cli_until<W: Write, F: Future<Output = ()>>(
    args: CliArgs,
    out: &mut W,
    shutdown: F,
) -> Result<(), CliError> {
    let mut config = match &args.config {
        Some(path) => EmulatorConfig::from_toml_file(path)?,
        None => EmulatorConfig::default_directory(),
    };
    if let Some(t) = &args.admin_token {
        config.options.admin_token = Some(t.clone());
    }
    if let Some(dir) = &args.arc_key_dir {
        config.options.arc_key_dir = Some(dir.clone());
    }
    if let Some(u) = &args.public_url {
        config.options.public_url = Some(u.clone());
        config.validate()?;
    }
    let ca_path = args
        .ca_out
        .clone()
        .unwrap_or_else(|| PathBuf::from("msal-emulator-ca.pem"));
    let handle = if args.tls {
        Emulator::start_tls(config.clone(), args.port, &ca_path).await?
    } else {
        Emulator::start_on(config.clone(), args.port).await?
    };
    write_banner(out, &handle, &config, args.tls.then_some(&ca_path))?;
    shutdown.await;
    writeln!(out, "stopping")?;
    handle.shutdown().await;
    Ok(())
}

fn write_banner<W: Write>(
    out: &mut W,
    handle: &EmulatorHandle,
    config: &EmulatorConfig,
    ca: Option<&PathBuf>,
) -> std::io::Result<()> {
    let tenant = config
        .tenants
        .first()
        .map(|t| t.id.clone())
        .unwrap_or_else(|| defaults::TENANT_ID.to_string());
    writeln!(out, "MSAL emulator listening on {}", handle.base_url())?;
    writeln!(out, "authority:   {}", handle.authority(&tenant))?;
    writeln!(out, "admin token: {}", handle.admin_token())?;
    if let Some(ca) = ca {
        writeln!(out, "CA file:     {}", ca.display())?;
    }
    for app in &config.apps {
        writeln!(
            out,
            "app:         {} {} ({})",
            app.client_id,
            app.name,
            if app.public_client {
                "public"
            } else {
                "confidential"
            }
        )?;
    }
    for user in &config.users {
        writeln!(out, "user:        {}", user.username)?;
    }
    write_identity_environment(out, handle, config, &tenant)?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()
}

/// The environment a program exports to get managed identity tokens from each source, and
/// to use workload identity federation.
fn write_identity_environment<W: Write>(
    out: &mut W,
    handle: &EmulatorHandle,
    config: &EmulatorConfig,
    tenant: &str,
) -> std::io::Result<()> {
    let host = handle.base_url_no_slash();
    let secret = handle.identity_header();
    let mis = &config.managed_identities;
    if let Some(m) = &mis.system_assigned {
        writeln!(
            out,
            "managed identity: system-assigned client_id={} object_id={}",
            m.client_id, m.object_id
        )?;
    }
    for m in &mis.user_assigned {
        writeln!(
            out,
            "managed identity: user-assigned {} client_id={} object_id={} resource_id={}",
            m.name, m.client_id, m.object_id, m.resource_id
        )?;
    }
    writeln!(
        out,
        "Managed identity sources (export one source's variables in the program's environment):"
    )?;
    writeln!(
        out,
        "  IMDS:           export AZURE_POD_IDENTITY_AUTHORITY_HOST={host}"
    )?;
    writeln!(
        out,
        "  App Service:    export IDENTITY_ENDPOINT={} IDENTITY_HEADER={secret}",
        handle.app_service_endpoint()
    )?;
    writeln!(
        out,
        "  Service Fabric: export IDENTITY_ENDPOINT={} IDENTITY_HEADER={secret} IDENTITY_SERVER_THUMBPRINT={}",
        handle.service_fabric_endpoint(),
        handle.service_fabric_thumbprint()
    )?;
    writeln!(
        out,
        "  Azure ML:       export MSI_ENDPOINT={} MSI_SECRET={secret}",
        handle.azure_ml_endpoint()
    )?;
    writeln!(
        out,
        "  Cloud Shell:    export MSI_ENDPOINT={}",
        handle.cloud_shell_endpoint()
    )?;
    writeln!(
        out,
        "  Azure Arc:      export IDENTITY_ENDPOINT={} IMDS_ENDPOINT={host}   (key files in {})",
        handle.arc_endpoint(),
        handle.arc_key_dir().display()
    )?;
    let federation = handle.federation_issuer();
    let workload_app = config
        .apps
        .iter()
        .find(|a| {
            a.federated_credentials
                .iter()
                .any(|f| f.issuer == format!("{}federation", defaults::BASE_PLACEHOLDER))
        })
        .map(|a| a.client_id.as_str())
        .unwrap_or(defaults::WORKLOAD_CLIENT_ID);
    writeln!(
        out,
        "Workload identity (service account issuer {federation}, keys {federation}/jwks):"
    )?;
    writeln!(
        out,
        "  export AZURE_AUTHORITY_HOST={host} AZURE_TENANT_ID={tenant} AZURE_CLIENT_ID={workload_app} AZURE_FEDERATED_TOKEN_FILE=$PWD/sa-token.jwt"
    )?;
    writeln!(
        out,
        "  token file: curl -s -X POST -H 'Authorization: Bearer {}' -d '{{\"sub\":\"{}\"}}' {}_emulator/federation/token -o sa-token.jwt",
        handle.admin_token(),
        defaults::SERVICE_ACCOUNT_SUBJECT,
        handle.base_url()
    )?;
    Ok(())
}
