//! The commands: build the application from the flags, run the flow, print the contract's JSON.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use msal::cache::FileCachePersistence;
use msal::error::codes;
use msal::{
    Browser, ClientCertificate, ConfidentialClientApplication, Error, ManagedIdentityApplication,
    ManagedIdentityId, Prompt, PublicClientApplication, Region, TokenCache,
    UiRequiredClassification,
};
use serde_json::json;

use crate::args::{ConnArgs, Flow, TokenArgs};
use crate::output::{self, OutputFormat, account_json};

fn fail(format: OutputFormat, e: &Error) -> ExitCode {
    output::print_error(format, e);
    ExitCode::from(output::exit_code(e.kind()))
}

fn cache_for(conn: &ConnArgs) -> TokenCache {
    match &conn.cache {
        Some(path) => TokenCache::with_persistence(Arc::new(FileCachePersistence::new(path))),
        None => TokenCache::new(),
    }
}

/// Applies the connection flags to either builder (they share these methods).
macro_rules! configure {
    ($builder:expr, $conn:expr, $caps:expr) => {{
        let conn: &ConnArgs = $conn;
        let mut b = $builder
            .allow_insecure_loopback(conn.insecure_loopback)
            .timeout(Duration::from_secs(conn.timeout.max(1)))
            .token_cache(cache_for(conn))
            .client_capabilities($caps)
            .enable_pii_logging(conn.verbose_pii);
        b = match (&conn.authority, &conn.oidc_authority) {
            (_, Some(issuer)) => b.oidc_authority(issuer.clone()),
            (Some(a), None) => b.authority(a.clone()),
            (None, None) => b,
        };
        if conn.no_instance_discovery {
            b = b.instance_discovery(false);
        }
        if let Some(ca) = &conn.ca_file {
            b = b.ca_file(ca.clone());
        }
        b
    }};
}

fn public_app(conn: &ConnArgs, caps: &[String]) -> Result<PublicClientApplication, Error> {
    public_app_with(conn, caps, &[])
}

/// A public client whose every request carries these extra query parameters.
fn public_app_with(
    conn: &ConnArgs,
    caps: &[String],
    extra_query: &[(String, String)],
) -> Result<PublicClientApplication, Error> {
    configure!(
        PublicClientApplication::builder(conn.client_id.as_deref().unwrap_or_default()),
        conn,
        caps.to_vec()
    )
    .extra_query_parameters(extra_query.iter().cloned())
    .build()
}

/// The public client of a `msal token` flow.
fn token_public_app(args: &TokenArgs) -> Result<PublicClientApplication, Error> {
    public_app_with(&args.conn, &args.client_capabilities, &args.extra_query)
}

fn env_secret(var: &str, what: &str) -> Result<String, Error> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::client(
            codes::MISSING_CREDENTIAL,
            format!("the environment variable {var} (the {what}) is not set or empty"),
        )),
    }
}

fn confidential_app(args: &TokenArgs) -> Result<ConfidentialClientApplication, Error> {
    let b = configure!(
        ConfidentialClientApplication::builder(args.conn.client_id.as_deref().unwrap_or_default()),
        &args.conn,
        args.client_capabilities.clone()
    )
    .extra_query_parameters(args.extra_query.iter().cloned());
    // `--region` is refused for the other flows by `Cli::check`.
    let b = match args.region.as_deref().map(str::trim) {
        Some(r) if r.eq_ignore_ascii_case("auto") => b.azure_region(Region::AutoDetect),
        Some(r) => b.azure_region(Region::named(r)),
        None => b,
    };
    let b = match (&args.client_secret_env, &args.certificate) {
        (Some(_), Some(_)) => {
            return Err(Error::client(
                codes::INVALID_ARGUMENT,
                "give either --client-secret-env or --certificate, not both",
            ));
        }
        (Some(var), None) => b.client_secret(env_secret(var, "client secret")?),
        (None, Some(pem)) => b.certificate(ClientCertificate::from_pem_file(pem)?),
        (None, None) => {
            return Err(Error::client(
                codes::MISSING_CREDENTIAL,
                "this flow needs a credential: --client-secret-env VAR or --certificate PEM",
            ));
        }
    };
    b.build()
}

/// `msal token <flow>`.
pub async fn token(args: TokenArgs) -> ExitCode {
    let format = args.conn.format();
    // Managed identity endpoints issue bearer tokens only: a bound token is refused there
    // before anything is sent.
    let bound_ok = !matches!(args.flow, Flow::ManagedIdentity);
    if !bound_ok && (args.bound.pop_key.is_some() || args.bound.ssh_key_id.is_some()) {
        let e = Error::client(
            codes::INVALID_ARGUMENT,
            "--pop-key and --ssh-public-key-jwk do not work with managed-identity",
        );
        return fail(format, &e);
    }
    let result = match args.flow {
        Flow::ClientCredentials => client_credentials(&args).await,
        Flow::DeviceCode => device_code(&args).await,
        Flow::Silent => silent(&args).await,
        Flow::Interactive => interactive(&args, format).await,
        Flow::UsernamePassword => username_password(&args).await,
        Flow::OnBehalfOf => on_behalf_of(&args).await,
        Flow::ManagedIdentity => managed_identity(&args).await,
    };
    match result {
        Ok(r) => {
            output::print_result(format, &r);
            ExitCode::SUCCESS
        }
        Err(e) => fail(format, &e),
    }
}

async fn client_credentials(args: &TokenArgs) -> Result<msal::AuthenticationResult, Error> {
    let app = confidential_app(args)?;
    let mut req = app.acquire_token_for_client(&args.scopes);
    if let Some(c) = &args.claims {
        req = req.with_claims(c.clone());
    }
    if let Some(t) = &args.tenant {
        req = req.with_tenant(t);
    }
    let req = crate::bound::apply_bound!(args, req);
    req.force_refresh(args.force_refresh).send().await
}

/// `msal token managed-identity`: no authority; the source is detected from the environment.
async fn managed_identity(args: &TokenArgs) -> Result<msal::AuthenticationResult, Error> {
    let id = match (&args.conn.client_id, &args.object_id, &args.resource_id) {
        (Some(v), _, _) => ManagedIdentityId::ClientId(v.clone()),
        (_, Some(v), _) => ManagedIdentityId::ObjectId(v.clone()),
        (_, _, Some(v)) => ManagedIdentityId::ResourceId(v.clone()),
        _ => ManagedIdentityId::SystemAssigned,
    };
    let scopes: Vec<&str> = args
        .scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .collect();
    let [scope] = scopes[..] else {
        return Err(Error::client(
            codes::INVALID_ARGUMENT,
            "managed-identity takes exactly one scope, <resource>/.default",
        ));
    };
    let app = ManagedIdentityApplication::builder(id)
        .timeout(Duration::from_secs(args.conn.timeout.max(1)))
        .token_cache(cache_for(&args.conn))
        .client_capabilities(args.client_capabilities.clone())
        .build()?;
    let mut req = app
        .acquire_token_for_client(scope)
        .force_refresh(args.force_refresh);
    if let Some(c) = &args.claims {
        req = req.with_claims(c.clone());
    }
    req.send().await
}

async fn device_code(args: &TokenArgs) -> Result<msal::AuthenticationResult, Error> {
    let app = token_public_app(args)?;
    let mut req = app
        .acquire_token_by_device_code(&args.scopes)
        .on_code(|info| eprintln!("{}", info.message))
        .with_cancellation(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    if let Some(c) = &args.claims {
        req = req.with_claims(c.clone());
    }
    if let Some(t) = &args.tenant {
        req = req.with_tenant(t.clone());
    }
    let req = crate::bound::apply_bound!(args, req);
    req.send().await
}

async fn silent(args: &TokenArgs) -> Result<msal::AuthenticationResult, Error> {
    let app = token_public_app(args)?;
    let account = pick_account(&app, args.account.as_deref()).await?;
    let mut req = app
        .acquire_token_silent(&args.scopes, &account)
        .force_refresh(args.force_refresh);
    if let Some(c) = &args.claims {
        req = req.with_claims(c.clone());
    }
    if let Some(t) = &args.tenant {
        req = req.with_tenant(t.clone());
    }
    let req = crate::bound::apply_bound!(args, req);
    req.send().await
}

/// Completes on Ctrl-C (never, when no handler can be installed).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A flag a flow needs that clap cannot require (the flow is a value, not a subcommand).
fn required<'a>(value: &'a Option<String>, flag: &str, flow: &str) -> Result<&'a str, Error> {
    value.as_deref().ok_or_else(|| {
        Error::client(
            codes::INVALID_ARGUMENT,
            format!("the {flow} flow needs {flag}"),
        )
    })
}

/// The browser of `msal token interactive`: the one `$BROWSER` names, else the system's. The
/// address is printed on stderr too, for a machine where no browser can start.
fn cli_browser(format: OutputFormat) -> Browser {
    Browser::callback(move |url| {
        match Browser::System.open(url) {
            Ok(()) if format == OutputFormat::Text => eprintln!(
                "The sign-in page was opened in your browser; waiting for the sign-in (Ctrl-C to cancel)."
            ),
            Ok(()) => {}
            Err(e) => eprintln!("No browser could be started: {}", e.description()),
        }
        eprintln!("If no browser opened, open this address to sign in:\n{url}");
        Ok(())
    })
}

async fn interactive(
    args: &TokenArgs,
    format: OutputFormat,
) -> Result<msal::AuthenticationResult, Error> {
    let prompt = args
        .prompt
        .as_deref()
        .map(str::parse::<Prompt>)
        .transpose()?;
    let app = token_public_app(args)?;
    let mut req = app
        .acquire_token_interactive(&args.scopes)
        .browser(cli_browser(format))
        .with_cancellation(ctrl_c());
    if let Some(p) = prompt {
        req = req.prompt(p);
    }
    if let Some(h) = &args.login_hint {
        req = req.login_hint(h.clone());
    }
    if let Some(uri) = &args.redirect_uri {
        req = req.redirect_uri(uri.clone());
    }
    if let Some(c) = &args.claims {
        req = req.with_claims(c.clone());
    }
    if let Some(t) = &args.tenant {
        req = req.with_tenant(t.clone());
    }
    let req = crate::bound::apply_bound!(args, req);
    req.send().await
}

async fn username_password(args: &TokenArgs) -> Result<msal::AuthenticationResult, Error> {
    let username = required(&args.username, "--username U", "username-password")?;
    let var = required(
        &args.password_env,
        "--password-env VAR",
        "username-password",
    )?;
    let password = env_secret(var, "password")?;
    let app = token_public_app(args)?;
    let mut req = app.acquire_token_by_username_password(&args.scopes, username, password);
    if let Some(c) = &args.claims {
        req = req.with_claims(c.clone());
    }
    if let Some(t) = &args.tenant {
        req = req.with_tenant(t.clone());
    }
    let req = crate::bound::apply_bound!(args, req);
    req.send().await
}

async fn on_behalf_of(args: &TokenArgs) -> Result<msal::AuthenticationResult, Error> {
    let var = required(&args.assertion_env, "--assertion-env VAR", "on-behalf-of")?;
    let assertion = env_secret(var, "incoming assertion")?;
    let app = confidential_app(args)?;
    let mut req = app
        .acquire_token_on_behalf_of(&args.scopes, assertion)
        .force_refresh(args.force_refresh);
    if let Some(c) = &args.claims {
        req = req.with_claims(c.clone());
    }
    if let Some(t) = &args.tenant {
        req = req.with_tenant(t.clone());
    }
    let req = crate::bound::apply_bound!(args, req);
    req.send().await
}

/// The account named, or the only one in the cache.
async fn pick_account(
    app: &PublicClientApplication,
    wanted: Option<&str>,
) -> Result<msal::Account, Error> {
    let no_account = |what: String| {
        Error::ui_required(
            codes::NO_ACCOUNT,
            UiRequiredClassification::AcquireTokenSilentFailed,
            what,
        )
    };
    match wanted {
        Some(id) => app
            .get_account(id)
            .await?
            .ok_or_else(|| no_account(format!("no account `{id}` in the cache; sign in first"))),
        None => {
            let mut accounts = app.accounts().await?;
            match accounts.len() {
                0 => Err(no_account(
                    "the cache holds no account; sign in first (e.g. `msal token device-code`)"
                        .into(),
                )),
                1 => Ok(accounts.remove(0)),
                n => Err(Error::client(
                    codes::INVALID_ARGUMENT,
                    format!("the cache holds {n} accounts; choose one with --account"),
                )),
            }
        }
    }
}

/// `msal accounts list`.
pub async fn accounts_list(conn: ConnArgs) -> ExitCode {
    let format = conn.format();
    let accounts = match public_app(&conn, &[]) {
        Ok(app) => app.accounts().await,
        Err(e) => Err(e),
    };
    match accounts {
        Ok(accounts) => {
            match format {
                OutputFormat::Json => println!(
                    "{}",
                    json!({"accounts": accounts.iter().map(account_json).collect::<Vec<_>>()})
                ),
                OutputFormat::Text if accounts.is_empty() => println!("No accounts in the cache."),
                OutputFormat::Text => {
                    for a in &accounts {
                        println!("{}\t{}\t{}", a.username, a.home_account_id, a.environment);
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(format, &e),
    }
}

/// `msal accounts remove`.
pub async fn accounts_remove(conn: ConnArgs, account: String) -> ExitCode {
    let format = conn.format();
    let run = async {
        let app = public_app(&conn, &[])?;
        let found = app.get_account(&account).await?.ok_or_else(|| {
            Error::client(
                codes::INVALID_ARGUMENT,
                format!("no account `{account}` in the cache"),
            )
        })?;
        app.remove_account(&found).await?;
        Ok::<_, Error>(found)
    };
    match run.await {
        Ok(a) => {
            match format {
                OutputFormat::Json => {
                    println!("{}", json!({"removed": true, "account": account_json(&a)}))
                }
                OutputFormat::Text => println!("Removed {} ({})", a.username, a.home_account_id),
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(format, &e),
    }
}

/// `msal decode <jwt>`.
pub fn decode(jwt: &str) -> ExitCode {
    let parsed = msal::oauth::decode_jwt_header(jwt)
        .and_then(|h| Ok((h, msal::oauth::decode_jwt_payload(jwt)?)));
    match parsed {
        Ok((header, claims)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "validated": false,
                    "note": "decoded only: the signature, issuer, audience and expiry were NOT checked",
                    "header": header,
                    "claims": claims,
                }))
                .unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            let e = Error::client(codes::INVALID_JWT, e.description().to_owned());
            fail(OutputFormat::Json, &e)
        }
    }
}

/// `msal emulator`: the emulator's own command line, run until Ctrl-C.
#[cfg(feature = "emulator")]
pub async fn emulator(args: msal_emulator::CliArgs) -> ExitCode {
    match msal_emulator::run_cli(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(msal_emulator::CliError::Config(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(6)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(5)
        }
    }
}

/// A command that this build leaves out (`emulator`, `demo` without the `emulator` feature):
/// a clear client error on stderr, exit 6.
#[cfg(not(feature = "emulator"))]
pub fn not_built(command: &str) -> ExitCode {
    fail(OutputFormat::Text, &not_built_error(command))
}

#[cfg(not(feature = "emulator"))]
fn not_built_error(command: &str) -> Error {
    Error::client(
        codes::NOT_SUPPORTED,
        format!(
            "`msal {command}` is not in this build: it was built without the emulator \
             (the msal-cli `emulator` feature, on by default)"
        ),
    )
}

#[cfg(all(test, not(feature = "emulator")))]
mod tests {
    use clap::Parser;
    use msal::ErrorKind;

    use super::*;
    use crate::args::{Cli, Command};

    #[test]
    fn without_the_emulator_its_commands_are_a_client_error() {
        for argv in [
            &["msal", "demo"][..],
            &["msal", "emulator"],
            &["msal", "emulator", "--port", "8400", "--tls"],
        ] {
            let cli = Cli::try_parse_from(argv).expect("the parser keeps the command");
            let command = match cli.command {
                Command::Emulator(_) => "emulator",
                Command::Demo => "demo",
                other => panic!("{argv:?} parsed as {other:?}"),
            };
            let e = not_built_error(command);
            assert_eq!(e.kind(), ErrorKind::Client);
            assert_eq!(output::exit_code(e.kind()), 6);
            assert!(
                e.description().contains(&format!("`msal {command}`"))
                    && e.description().contains("without the emulator"),
                "{e}"
            );
        }
    }
}
