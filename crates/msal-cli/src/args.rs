//! The command line as clap reads it: the commands, their flags and their values (CONTRACT.md).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::OutputFormat;

/// Tokens from Microsoft Entra ID and any OpenID Connect provider, with typed errors.
#[derive(Debug, Parser)]
#[command(name = "msal", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Acquire a token with one of the flows.
    Token(Box<TokenArgs>),
    /// List or remove the accounts in a token cache.
    Accounts {
        #[command(subcommand)]
        action: AccountsAction,
    },
    /// Run the local identity provider (an Entra ID look-alike with fault injection).
    #[cfg(feature = "emulator")]
    Emulator(msal_emulator::CliArgs),
    /// The local identity provider: not in this build (built without the `emulator` feature).
    #[cfg(not(feature = "emulator"))]
    Emulator(NotBuiltArgs),
    /// A guided tour of tokens and error handling, on an embedded emulator; no set-up needed.
    #[cfg(feature = "emulator")]
    Demo,
    /// The guided tour: not in this build (built without the `emulator` feature).
    #[cfg(not(feature = "emulator"))]
    Demo,
    /// Print a JWT's header and claims. It does NOT validate the signature.
    Decode {
        /// The JWT.
        jwt: String,
    },
}

/// The arguments of a command that this build leaves out, taken as they come: the command
/// answers with a clear client error (exit 6), not with a usage error about its flags.
#[cfg(not(feature = "emulator"))]
#[derive(Debug, Args)]
pub(crate) struct NotBuiltArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub(crate) _args: Vec<String>,
}

/// The flows of `msal token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Flow {
    /// App token with the app's own credential.
    ClientCredentials,
    /// User sign-in on another device with a code.
    DeviceCode,
    /// From the cache, else with the refresh token.
    Silent,
    /// User sign-in in the browser (auth code + PKCE, loopback redirect).
    Interactive,
    /// Resource owner password credentials (managed users only).
    UsernamePassword,
    /// A token for a downstream API on behalf of the caller of a web API.
    OnBehalfOf,
    /// The platform's managed identity (Azure VM, App Service, Functions, Arc, ...).
    ManagedIdentity,
}

/// Options every command that talks to an identity provider takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnArgs {
    /// An Entra-style authority, e.g. https://login.microsoftonline.com/<tenant>.
    // Required by every command but `token managed-identity`: checked by `Cli::check`.
    #[arg(long, value_name = "URL", conflicts_with = "oidc_authority")]
    pub(crate) authority: Option<String>,
    /// Any OpenID Connect issuer (metadata at <issuer>/.well-known/openid-configuration).
    #[arg(long, value_name = "URL")]
    pub(crate) oidc_authority: Option<String>,
    /// The application (client) id; managed-identity: a user-assigned identity's client id.
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Persistent token cache in MSAL's unified JSON cache schema; without it, memory only.
    #[arg(long, value_name = "FILE")]
    pub(crate) cache: Option<PathBuf>,
    /// An extra trust anchor (PEM) for TLS.
    #[arg(long, value_name = "PEM")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Allow http:// authorities, and only on loopback hosts.
    #[arg(long)]
    pub(crate) insecure_loopback: bool,
    /// Trust the authority as given: no instance discovery or authority validation.
    #[arg(long)]
    pub(crate) no_instance_discovery: bool,
    /// Per-HTTP-request timeout in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub(crate) timeout: u64,
    /// json: exactly one JSON object on stdout; text: for people (the default on a terminal).
    #[arg(long, value_enum)]
    pub(crate) output: Option<OutputFormat>,
    /// Diagnostic log on stderr (never secrets, tokens or assertions).
    #[arg(long)]
    pub(crate) verbose: bool,
    /// `--verbose`, with personal data (user names, account ids, tenants) shown in the log
    /// rather than redacted; still never secrets, tokens or assertions.
    #[arg(long)]
    pub(crate) verbose_pii: bool,
}

impl ConnArgs {
    pub(crate) fn format(&self) -> OutputFormat {
        self.output.unwrap_or(if std::io::stdout().is_terminal() {
            OutputFormat::Text
        } else {
            OutputFormat::Json
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The flow.
    #[arg(value_enum)]
    pub(crate) flow: Flow,
    #[command(flatten)]
    pub(crate) conn: ConnArgs,
    /// A scope; repeatable; a value holding spaces is split into several scopes.
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    pub(crate) scopes: Vec<String>,
    /// A claims request (e.g. from a claims challenge); it bypasses cached access tokens.
    #[arg(long, value_name = "JSON")]
    pub(crate) claims: Option<String>,
    /// A client capability (e.g. cp1), sent as xms_cc; repeatable.
    #[arg(long = "client-capability", value_name = "CAP")]
    pub(crate) client_capabilities: Vec<String>,
    /// client-credentials, on-behalf-of: read the client secret from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub(crate) client_secret_env: Option<String>,
    /// client-credentials, on-behalf-of: a PEM with the private key and the certificate.
    #[arg(long, value_name = "PEM")]
    pub(crate) certificate: Option<PathBuf>,
    /// on-behalf-of: read the incoming assertion from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub(crate) assertion_env: Option<String>,
    /// silent: the account's home account id or user name.
    #[arg(long, value_name = "ID_OR_USERNAME")]
    pub(crate) account: Option<String>,
    /// silent: skip cached access tokens.
    #[arg(long)]
    pub(crate) force_refresh: bool,
    /// username-password: the user name.
    #[arg(long, value_name = "U")]
    pub(crate) username: Option<String>,
    /// username-password: read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub(crate) password_env: Option<String>,
    /// interactive: none, login, consent or select_account.
    #[arg(long, value_name = "PROMPT")]
    pub(crate) prompt: Option<String>,
    /// interactive: prefill the user name.
    #[arg(long, value_name = "U")]
    pub(crate) login_hint: Option<String>,
    /// interactive: a loopback redirect URI such as http://localhost or http://127.0.0.1/.
    #[arg(long, value_name = "URI")]
    pub(crate) redirect_uri: Option<String>,
    /// Every flow but managed-identity: a query parameter appended to every request to the
    /// identity provider (e.g. dc=..., slice=...); repeatable.
    #[arg(long = "extra-query-parameter", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub(crate) extra_query: Vec<(String, String)>,
    /// client-credentials: ask Entra ID's endpoint in this Azure region (ESTS-R), e.g.
    /// westus2, or `auto` to detect it (REGION_NAME, else the VM's instance metadata; the
    /// global endpoint when neither tells).
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Every flow but managed-identity: ask this tenant (a tenant id or a domain name)
    /// instead of the authority's; Entra ID authorities only.
    #[arg(long, value_name = "TENANT")]
    pub(crate) tenant: Option<String>,
    /// managed-identity: a user-assigned identity's object (principal) id.
    #[arg(long, value_name = "ID", conflicts_with = "resource_id")]
    pub(crate) object_id: Option<String>,
    /// managed-identity: a user-assigned identity's Azure resource id.
    #[arg(long, value_name = "ID")]
    pub(crate) resource_id: Option<String>,
    /// Proof-of-possession and SSH certificate options.
    #[command(flatten)]
    pub(crate) bound: crate::bound::BoundArgs,
}

/// `KEY=VALUE`, split at the first `=`; the key must not be empty (the value may be).
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

impl Cli {
    /// Reads the command line; a usage error (exit 2) for what clap's declarations cannot say:
    /// `--authority` and `--client-id` are required except by `token managed-identity`, which
    /// takes no authority and at most one user-assigned identity selector.
    pub(crate) fn parse_checked() -> Self {
        let cli = Cli::parse();
        if let Err(e) = cli.check() {
            e.exit();
        }
        cli
    }

    fn check(&self) -> Result<(), clap::Error> {
        use clap::CommandFactory;
        use clap::error::ErrorKind;
        let usage = |kind, msg: &str| Err(Cli::command().error(kind, msg));
        // Only app tokens have regional endpoints (as in every MSAL).
        if let Command::Token(t) = &self.command
            && t.region.is_some()
            && t.flow != Flow::ClientCredentials
        {
            return usage(
                ErrorKind::ArgumentConflict,
                "--region is only for the client-credentials flow",
            );
        }
        let conn = match &self.command {
            Command::Token(t) if t.flow == Flow::ManagedIdentity => {
                if t.conn.authority.is_some() || t.conn.oidc_authority.is_some() {
                    return usage(
                        ErrorKind::ArgumentConflict,
                        "managed-identity takes no authority: the source is detected from the environment",
                    );
                }
                if !t.extra_query.is_empty() {
                    return usage(
                        ErrorKind::ArgumentConflict,
                        "--extra-query-parameter is not for the managed-identity flow",
                    );
                }
                if t.tenant.is_some() {
                    return usage(
                        ErrorKind::ArgumentConflict,
                        "--tenant is not for the managed-identity flow",
                    );
                }
                let selectors = [&t.conn.client_id, &t.object_id, &t.resource_id];
                if selectors.iter().filter(|s| s.is_some()).count() > 1 {
                    return usage(
                        ErrorKind::ArgumentConflict,
                        "give at most one of --client-id, --object-id and --resource-id",
                    );
                }
                return Ok(());
            }
            Command::Token(t) => {
                if t.object_id.is_some() || t.resource_id.is_some() {
                    return usage(
                        ErrorKind::ArgumentConflict,
                        "--object-id and --resource-id are for the managed-identity flow",
                    );
                }
                &t.conn
            }
            Command::Accounts {
                action: AccountsAction::List { conn } | AccountsAction::Remove { conn, .. },
            } => conn,
            _ => return Ok(()),
        };
        if conn.authority.is_none() && conn.oidc_authority.is_none() {
            return usage(
                ErrorKind::MissingRequiredArgument,
                "the following required arguments were not provided:\n  --authority <URL>",
            );
        }
        if conn.client_id.is_none() {
            return usage(
                ErrorKind::MissingRequiredArgument,
                "the following required arguments were not provided:\n  --client-id <ID>",
            );
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum AccountsAction {
    /// List the accounts in the cache.
    List {
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Remove an account and its tokens from the cache.
    Remove {
        #[command(flatten)]
        conn: ConnArgs,
        /// The account's home account id or user name.
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn check(args: &[&str]) -> Result<(), ErrorKind> {
        let cli = Cli::try_parse_from(std::iter::once("msal").chain(args.iter().copied()))
            .map_err(|e| e.kind())?;
        cli.check().map_err(|e| e.kind())
    }

    #[test]
    fn region_is_only_for_client_credentials() {
        let base = [
            "--authority",
            "https://a/t",
            "--client-id",
            "c",
            "--scope",
            "s",
        ];
        let with = |flow: &'static str, region: &'static str| {
            let mut v = vec!["token", flow];
            v.extend_from_slice(&base);
            v.extend_from_slice(&["--region", region]);
            v
        };
        assert_eq!(check(&with("client-credentials", "westus2")), Ok(()));
        assert_eq!(check(&with("client-credentials", "auto")), Ok(()));
        for flow in ["device-code", "silent", "on-behalf-of", "interactive"] {
            assert_eq!(
                check(&with(flow, "westus2")),
                Err(ErrorKind::ArgumentConflict),
                "{flow}"
            );
        }
        let mi = [
            "token",
            "managed-identity",
            "--scope",
            "s",
            "--region",
            "auto",
        ];
        assert_eq!(check(&mi), Err(ErrorKind::ArgumentConflict));
    }

    #[test]
    fn managed_identity_takes_no_authority_and_one_selector_at_most() {
        assert_eq!(
            check(&["token", "managed-identity", "--scope", "r/.default"]),
            Ok(())
        );
        for sel in ["--client-id", "--object-id", "--resource-id"] {
            let args = [
                "token",
                "managed-identity",
                "--scope",
                "r/.default",
                sel,
                "x",
            ];
            assert_eq!(check(&args), Ok(()), "{sel}");
        }
        let two = [
            "token",
            "managed-identity",
            "--scope",
            "s",
            "--client-id",
            "a",
            "--object-id",
            "b",
        ];
        assert_eq!(check(&two), Err(ErrorKind::ArgumentConflict));
        let authority = [
            "token",
            "managed-identity",
            "--scope",
            "s",
            "--authority",
            "https://a/t",
        ];
        assert_eq!(check(&authority), Err(ErrorKind::ArgumentConflict));
    }

    #[test]
    fn other_flows_and_accounts_still_need_an_authority_and_a_client_id() {
        let no_authority = [
            "token",
            "client-credentials",
            "--scope",
            "s",
            "--client-id",
            "c",
        ];
        assert_eq!(
            check(&no_authority),
            Err(ErrorKind::MissingRequiredArgument)
        );
        let no_client = [
            "token",
            "device-code",
            "--scope",
            "s",
            "--authority",
            "https://a/t",
        ];
        assert_eq!(check(&no_client), Err(ErrorKind::MissingRequiredArgument));
        let oidc = [
            "token",
            "device-code",
            "--scope",
            "s",
            "--oidc-authority",
            "https://i",
            "--client-id",
            "c",
        ];
        assert_eq!(check(&oidc), Ok(()));
        let selector = [
            "token",
            "client-credentials",
            "--scope",
            "s",
            "--authority",
            "https://a/t",
            "--client-id",
            "c",
            "--object-id",
            "o",
        ];
        assert_eq!(check(&selector), Err(ErrorKind::ArgumentConflict));
        assert_eq!(
            check(&["accounts", "list", "--client-id", "c"]),
            Err(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            check(&[
                "accounts",
                "list",
                "--authority",
                "https://a/t",
                "--client-id",
                "c"
            ]),
            Ok(())
        );
    }
}
