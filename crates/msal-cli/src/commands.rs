//! What each command does: build the application from the flags, run the flow, print.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msal::cache::{FileCachePersistence, TokenCache};
use msal::error::codes;
use msal::{
    AuthenticationResult, Browser, ConfidentialClientApplication, Error, Prompt,
    PublicClientApplication, UiRequiredClassification,
};

use crate::output::{self, account_json};
use crate::{AccountsAction, AppArgs, CredentialArgs, Flow, OutputFormat, PromptArg, TokenArgs};

/// Applies the common flags to an application builder (public or confidential: the two share
/// these methods but no trait).
macro_rules! configure {
    ($builder:expr, $app:expr, $capabilities:expr) => {{
        let app: &AppArgs = $app;
        let mut b = $builder;
        b = match (&app.authority, &app.oidc_authority) {
            (Some(a), _) => b.authority(a.clone()),
            (None, Some(issuer)) => b.oidc_authority(issuer.clone()),
            (None, None) => b,
        };
        b = b
            .allow_insecure_loopback(app.insecure_loopback)
            .timeout(Duration::from_secs(app.timeout.max(1)))
            .token_cache(token_cache(app))
            .client_capabilities($capabilities);
        if app.no_instance_discovery {
            b = b.instance_discovery(false);
        }
        if let Some(ca) = &app.ca_file {
            b = b.ca_file(ca.clone());
        }
        b
    }};
}

fn token_cache(app: &AppArgs) -> TokenCache {
    match &app.cache {
        Some(path) => {
            TokenCache::with_persistence(Arc::new(FileCachePersistence::new(path.clone())))
        }
        None => TokenCache::new(),
    }
}

fn init_logging(verbose: bool) {
    if verbose {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("msal=debug,msal_cli=debug"));
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .try_init();
    }
}

/// A secret read from an environment variable (never from argv).
fn env_secret(var: &str, what: &str, code: &str) -> Result<String, Error> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        Ok(_) => Err(Error::client(
            code,
            format!("the environment variable {var} ({what}) is empty"),
        )),
        Err(_) => Err(Error::client(
            code,
            format!("the environment variable {var} ({what}) is not set"),
        )),
    }
}

fn public(token: &TokenArgs) -> Result<PublicClientApplication, Error> {
    configure!(
        PublicClientApplication::builder(&token.app.client_id),
        &token.app,
        token.client_capabilities.clone()
    )
    .build()
}

fn public_for_accounts(app: &AppArgs) -> Result<PublicClientApplication, Error> {
    configure!(
        PublicClientApplication::builder(&app.client_id),
        app,
        Vec::<String>::new()
    )
    .build()
}

fn confidential(
    token: &TokenArgs,
    credential: &CredentialArgs,
) -> Result<ConfidentialClientApplication, Error> {
    let mut b = configure!(
        ConfidentialClientApplication::builder(&token.app.client_id),
        &token.app,
        token.client_capabilities.clone()
    );
    b = match (&credential.client_secret_env, &credential.certificate) {
        (_, Some(pem)) => b.certificate_pem_file(pem),
        (Some(var), None) => b.client_secret(env_secret(
            var,
            "the client secret",
            codes::MISSING_CREDENTIAL,
        )?),
        (None, None) => {
            return Err(Error::client(
                codes::MISSING_CREDENTIAL,
                "give --client-secret-env VAR or --certificate PEM",
            ));
        }
    };
    b.build()
}

/// Completes when the user presses Ctrl-C (never, when no handler can be installed).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// `msal token <flow>`.
pub(crate) async fn token(flow: Flow) -> ExitCode {
    let app = match &flow {
        Flow::ClientCredentials { token, .. }
        | Flow::DeviceCode { token }
        | Flow::Silent { token, .. }
        | Flow::Interactive { token, .. }
        | Flow::UsernamePassword { token, .. }
        | Flow::OnBehalfOf { token, .. } => token.app.clone(),
    };
    init_logging(app.verbose);
    let format = output::format(app.output);
    output::token_outcome(format, run_flow(flow, format).await)
}

async fn run_flow(flow: Flow, format: OutputFormat) -> Result<AuthenticationResult, Error> {
    match flow {
        Flow::ClientCredentials { token, credential } => {
            let app = confidential(&token, &credential)?;
            let mut req = app.acquire_token_for_client(&token.scopes);
            if let Some(c) = token.claims {
                req = req.with_claims(c);
            }
            req.send().await
        }
        Flow::DeviceCode { token } => {
            let app = public(&token)?;
            let mut req = app
                .acquire_token_by_device_code(&token.scopes)
                .on_code(|code| eprintln!("{}", code.message))
                .with_cancellation(ctrl_c());
            if let Some(c) = token.claims {
                req = req.with_claims(c);
            }
            req.send().await
        }
        Flow::Silent {
            token,
            account,
            force_refresh,
        } => {
            let app = public(&token)?;
            let account = pick_account(&app, account.as_deref()).await?;
            let mut req = app
                .acquire_token_silent(&token.scopes, &account)
                .force_refresh(force_refresh);
            if let Some(c) = token.claims {
                req = req.with_claims(c);
            }
            req.send().await
        }
        Flow::Interactive {
            token,
            prompt,
            login_hint,
            redirect_uri,
        } => {
            let app = public(&token)?;
            let mut req = app
                .acquire_token_interactive(&token.scopes)
                .browser(cli_browser(format))
                .with_cancellation(ctrl_c());
            if let Some(p) = prompt {
                req = req.prompt(match p {
                    PromptArg::None => Prompt::None,
                    PromptArg::Login => Prompt::Login,
                    PromptArg::Consent => Prompt::Consent,
                    PromptArg::SelectAccount => Prompt::SelectAccount,
                });
            }
            if let Some(h) = login_hint {
                req = req.login_hint(h);
            }
            if let Some(uri) = redirect_uri {
                req = req.redirect_uri(uri);
            }
            if let Some(c) = token.claims {
                req = req.with_claims(c);
            }
            req.send().await
        }
        Flow::UsernamePassword {
            token,
            username,
            password_env,
        } => {
            let password = env_secret(&password_env, "the password", codes::INVALID_ARGUMENT)?;
            let app = public(&token)?;
            let mut req = app.acquire_token_by_username_password(&token.scopes, username, password);
            if let Some(c) = token.claims {
                req = req.with_claims(c);
            }
            req.send().await
        }
        Flow::OnBehalfOf {
            token,
            credential,
            assertion_env,
        } => {
            let assertion = env_secret(
                &assertion_env,
                "the incoming access token",
                codes::INVALID_ARGUMENT,
            )?;
            let app = confidential(&token, &credential)?;
            let mut req = app.acquire_token_on_behalf_of(&token.scopes, assertion);
            if let Some(c) = token.claims {
                req = req.with_claims(c);
            }
            req.send().await
        }
    }
}

/// The browser of `msal token interactive`: the one `$BROWSER` names, else the system's. The
/// address is also printed on stderr, for a machine where no browser can be started.
fn cli_browser(format: OutputFormat) -> Browser {
    Browser::callback(move |url| {
        match Browser::System.open(url) {
            Ok(()) => {
                if format == OutputFormat::Text {
                    eprintln!(
                        "The sign-in page was opened in your browser. Waiting for the sign-in (Ctrl-C to cancel)..."
                    );
                }
            }
            Err(e) => eprintln!("No browser could be started: {}", e.description()),
        }
        eprintln!("If no browser opened, open this address to sign in:\n{url}");
        Ok(())
    })
}

/// The account of `--account`, or the only cached one.
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
    if let Some(id) = wanted {
        return app.get_account(id).await?.ok_or_else(|| {
            no_account(format!(
                "the cache has no account `{id}`; sign in first (e.g. msal token interactive)"
            ))
        });
    }
    let mut accounts = app.accounts().await?;
    match accounts.len() {
        1 => Ok(accounts.remove(0)),
        0 => Err(no_account(
            "the cache holds no account; sign in first (e.g. msal token interactive)".into(),
        )),
        n => Err(Error::client(
            codes::INVALID_ARGUMENT,
            format!("the cache holds {n} accounts: name one with --account"),
        )),
    }
}

/// `msal accounts list|remove`.
pub(crate) async fn accounts(action: AccountsAction) -> ExitCode {
    let app_args = match &action {
        AccountsAction::List { app } | AccountsAction::Remove { app, .. } => app.clone(),
    };
    init_logging(app_args.verbose);
    let format = output::format(app_args.output);
    let app = match public_for_accounts(&app_args) {
        Ok(a) => a,
        Err(e) => return output::fail(format, &e),
    };
    match action {
        AccountsAction::List { .. } => match app.accounts().await {
            Ok(list) => {
                match format {
                    OutputFormat::Json => output::print_json(&serde_json::json!({
                        "accounts": list.iter().map(account_json).collect::<Vec<_>>()
                    })),
                    OutputFormat::Text => {
                        if list.is_empty() {
                            println!("no accounts");
                        }
                        for a in &list {
                            println!("{}  {}  {}", a.username, a.home_account_id, a.environment);
                        }
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => output::fail(format, &e),
        },
        AccountsAction::Remove { account, .. } => {
            let found = match app.get_account(&account).await {
                Ok(Some(a)) => a,
                Ok(None) => {
                    let e = Error::client(
                        codes::INVALID_ARGUMENT,
                        format!("the cache has no account `{account}`"),
                    );
                    return output::fail(format, &e);
                }
                Err(e) => return output::fail(format, &e),
            };
            if let Err(e) = app.remove_account(&found).await {
                return output::fail(format, &e);
            }
            match format {
                OutputFormat::Json => {
                    output::print_json(&serde_json::json!({ "removed": account_json(&found) }))
                }
                OutputFormat::Text => println!("removed {}", found.username),
            }
            ExitCode::SUCCESS
        }
    }
}

/// `msal demo`: the flows, one after the other, on an embedded emulator.
pub(crate) async fn demo() -> ExitCode {
    match run_demo().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::fail(OutputFormat::Text, &e),
    }
}

fn show(step: &str, r: &AuthenticationResult) {
    let who = r
        .account
        .as_ref()
        .map(|a| format!(" for {}", a.username))
        .unwrap_or_default();
    println!(
        "  {step}: a token{who} from the {} (scopes: {})",
        match r.source {
            msal::TokenSource::Cache => "cache, without a request",
            _ => "identity provider",
        },
        r.scopes.join(" ")
    );
}

async fn run_demo() -> Result<(), Error> {
    use msal_emulator::{Emulator, EmulatorConfig, defaults};
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .map_err(|e| {
            Error::client(
                codes::INVALID_CONFIGURATION,
                format!("the emulator did not start: {e}"),
            )
        })?;
    let authority = emu.authority(defaults::TENANT_ID);
    println!(
        "The emulator listens on {}; authority {authority}\n",
        emu.base_url()
    );

    println!("1. A daemon gets a token for itself (client credentials):");
    let daemon = ConfidentialClientApplication::builder(defaults::CONFIDENTIAL_CLIENT_ID)
        .authority(&authority)
        .allow_insecure_loopback(true)
        .client_secret(defaults::CLIENT_SECRET)
        .build()?;
    for _ in 0..2 {
        let r = daemon
            .acquire_token_for_client([defaults::API_SCOPE_DEFAULT])
            .send()
            .await?;
        show("client credentials", &r);
    }

    println!("\n2. A CLI signs a user in with the device code flow:");
    let cache = TokenCache::new();
    let cli = PublicClientApplication::builder(defaults::PUBLIC_CLIENT_ID)
        .authority(&authority)
        .allow_insecure_loopback(true)
        .token_cache(cache.clone())
        .build()?;
    let code = Arc::new(Mutex::new(None::<String>));
    let seen = code.clone();
    let pending = tokio::spawn(
        cli.acquire_token_by_device_code(["User.Read"])
            .on_code(move |c| {
                println!("  the server says: {}", c.message);
                if let Ok(mut slot) = seen.lock() {
                    *slot = Some(c.user_code.clone());
                }
            })
            .send(),
    );
    let user_code = loop {
        if let Some(c) = code.lock().ok().and_then(|c| c.clone()) {
            break c;
        }
        if pending.is_finished() {
            break String::new();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if !user_code.is_empty() {
        println!(
            "  (the demo signs in as {} on the device login page)",
            defaults::USER_USERNAME
        );
        let _ = emu.approve_device_code(&user_code, defaults::USER_USERNAME);
    }
    let r = pending.await.map_err(|e| {
        Error::client(
            codes::INVALID_CONFIGURATION,
            format!("the device code task failed: {e}"),
        )
    })??;
    show("device code", &r);
    let account = r
        .account
        .clone()
        .ok_or_else(|| Error::service(codes::INVALID_RESPONSE, "the answer named no account"))?;

    println!("\n3. Later calls are silent:");
    let r = cli
        .acquire_token_silent(["User.Read"], &account)
        .send()
        .await?;
    show("silent", &r);
    let r = cli
        .acquire_token_silent(["User.Read"], &account)
        .force_refresh(true)
        .send()
        .await?;
    show("silent with --force-refresh (the refresh token)", &r);

    println!("\n4. Another app of the same family signs in with the family refresh token:");
    let sibling = PublicClientApplication::builder(defaults::SECOND_PUBLIC_CLIENT_ID)
        .authority(&authority)
        .allow_insecure_loopback(true)
        .token_cache(cache.clone())
        .build()?;
    let r = sibling
        .acquire_token_silent(["User.Read"], &account)
        .send()
        .await?;
    show("family (FOCI) silent", &r);

    println!("\n5. A web API calls Microsoft Graph on behalf of the user (on-behalf-of):");
    let incoming = cli
        .acquire_token_by_username_password(
            [defaults::API_SCOPE],
            defaults::USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .send()
        .await?;
    show("username/password for the web API", &incoming);
    for _ in 0..2 {
        let r = daemon
            .acquire_token_on_behalf_of(["User.Read"], incoming.access_token.secret())
            .send()
            .await?;
        show("on-behalf-of", &r);
    }

    println!("\n6. Errors are typed: a user who must do MFA cannot use a password alone:");
    let e = cli
        .acquire_token_by_username_password(
            ["User.Read"],
            defaults::MFA_USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .send()
        .await
        .err();
    if let Some(e) = e {
        println!("  {e}");
        println!(
            "  `msal token ... --output json` prints:\n  {}",
            output::error_json(&e)
        );
    }
    emu.shutdown().await;
    Ok(())
}
