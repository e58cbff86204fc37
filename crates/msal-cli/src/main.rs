//! `msal`: tokens from Microsoft Entra ID (and any OpenID Connect provider) from a shell.
//!
//! The command line is a stable contract (flags, JSON and exit codes); see `CONTRACT.md`.
#![forbid(unsafe_code)]

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tokens from Microsoft Entra ID and any OpenID Connect provider, with typed errors.
#[derive(Debug, Parser)]
#[command(name = "msal", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Acquire a token with one of the flows.
    Token {
        #[command(subcommand)]
        flow: Flow,
    },
    /// List or remove the accounts of the token cache.
    Accounts {
        #[command(subcommand)]
        action: AccountsAction,
    },
    /// Run the local identity provider (an Entra ID look-alike).
    Emulator(msal_emulator::CliArgs),
    /// A guided tour of the flows on the embedded emulator.
    Demo,
}

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Exactly one JSON object on stdout.
    Json,
    /// For people.
    Text,
}

/// What every command that builds an application takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct AppArgs {
    /// An Entra-style authority, e.g. https://login.microsoftonline.com/<tenant> (B2C, ADFS and
    /// CIAM too).
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "oidc_authority",
        conflicts_with = "oidc_authority"
    )]
    pub authority: Option<String>,
    /// Any OpenID Connect issuer instead of --authority.
    #[arg(long, value_name = "URL")]
    pub oidc_authority: Option<String>,
    /// The application (client) id.
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// A persistent token cache in MSAL's unified JSON schema (memory only without it).
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// An extra trust anchor (PEM) for TLS.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Allow http:// authorities, on loopback hosts only.
    #[arg(long)]
    pub insecure_loopback: bool,
    /// Trust the authority as given: no instance discovery or authority validation.
    #[arg(long)]
    pub no_instance_discovery: bool,
    /// Per-HTTP-request timeout in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// json (one JSON object on stdout) or text (the default on a terminal).
    #[arg(long, value_enum)]
    pub output: Option<OutputFormat>,
    /// A diagnostic log on stderr (never secrets, tokens or assertions).
    #[arg(long)]
    pub verbose: bool,
}

/// What every token flow takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub app: AppArgs,
    /// A scope; repeatable; a value holding spaces is split into several scopes.
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    pub scopes: Vec<String>,
    /// A claims request (e.g. from a claims challenge); it bypasses cached access tokens.
    #[arg(long, value_name = "JSON")]
    pub claims: Option<String>,
    /// A client capability (e.g. cp1), sent as xms_cc in the claims; repeatable.
    #[arg(long = "client-capability", value_name = "CAP")]
    pub client_capabilities: Vec<String>,
}

/// A confidential client's credential.
#[derive(Debug, Clone, Args)]
pub(crate) struct CredentialArgs {
    /// The environment variable that holds the client secret (never pass it in argv).
    #[arg(
        long,
        value_name = "VAR",
        required_unless_present = "certificate",
        conflicts_with = "certificate"
    )]
    pub client_secret_env: Option<String>,
    /// A PEM file with the private key and the certificate.
    #[arg(long, value_name = "PEM")]
    pub certificate: Option<PathBuf>,
}

/// A value of --prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PromptArg {
    /// No UI: use the browser's session or fail.
    None,
    /// Ask for the credentials again.
    Login,
    /// Show the consent page.
    Consent,
    /// Show the account picker.
    #[value(name = "select_account")]
    SelectAccount,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Flow {
    /// The app's own token (client credentials grant).
    ClientCredentials {
        #[command(flatten)]
        token: TokenArgs,
        #[command(flatten)]
        credential: CredentialArgs,
    },
    /// Sign a user in on another device with a code (the instructions go to stderr).
    DeviceCode {
        #[command(flatten)]
        token: TokenArgs,
    },
    /// A token for a cached account, without interaction.
    Silent {
        #[command(flatten)]
        token: TokenArgs,
        /// The account (home account id or user name); optional with one cached account.
        #[arg(long, value_name = "ID_OR_USERNAME")]
        account: Option<String>,
        /// Skip cached access tokens and use the refresh token.
        #[arg(long)]
        force_refresh: bool,
    },
    /// Sign a user in with the browser ($BROWSER, else the system's) and a loopback redirect.
    Interactive {
        #[command(flatten)]
        token: TokenArgs,
        /// What the sign-in page must show.
        #[arg(long, value_enum)]
        prompt: Option<PromptArg>,
        /// Pre-fill the user name.
        #[arg(long, value_name = "U")]
        login_hint: Option<String>,
        /// A loopback redirect URI (http://localhost, http://127.0.0.1/, with an optional
        /// port and path).
        #[arg(long, value_name = "URI")]
        redirect_uri: Option<String>,
    },
    /// Sign a cloud user in with a user name and password (ROPC).
    UsernamePassword {
        #[command(flatten)]
        token: TokenArgs,
        /// The user name.
        #[arg(long, value_name = "U")]
        username: String,
        /// The environment variable that holds the password.
        #[arg(long, value_name = "VAR")]
        password_env: String,
    },
    /// A token for a downstream API on behalf of the user of an incoming token.
    OnBehalfOf {
        #[command(flatten)]
        token: TokenArgs,
        #[command(flatten)]
        credential: CredentialArgs,
        /// The environment variable that holds the incoming access token.
        #[arg(long, value_name = "VAR")]
        assertion_env: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AccountsAction {
    /// List the cached accounts.
    List {
        #[command(flatten)]
        app: AppArgs,
    },
    /// Remove an account and its tokens from the cache.
    Remove {
        #[command(flatten)]
        app: AppArgs,
        /// The account (home account id or user name).
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Token { flow } => commands::token(flow).await,
        Command::Accounts { action } => commands::accounts(action).await,
        Command::Emulator(args) => match msal_emulator::run_cli(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("msal emulator: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo => commands::demo().await,
    }
}
