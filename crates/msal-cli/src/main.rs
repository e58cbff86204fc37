//! `msal`: tokens from Microsoft Entra ID (and any OpenID Connect provider) from a shell.
//!
//! The flags, the JSON and the exit codes are a stable contract (CONTRACT.md).
#![forbid(unsafe_code)]

mod args;
mod bound;
mod commands;
#[cfg(feature = "emulator")]
mod demo;
mod output;

use std::process::ExitCode;

use args::{AccountsAction, Cli, Command};

fn init_logging(verbose: bool) {
    if verbose {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("msal=debug,msal_cli=debug")
            .without_time()
            .try_init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_checked();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        match cli.command {
            Command::Token(args) => {
                init_logging(args.conn.verbose || args.conn.verbose_pii);
                commands::token(*args).await
            }
            Command::Accounts { action } => match action {
                AccountsAction::List { conn } => {
                    init_logging(conn.verbose || conn.verbose_pii);
                    commands::accounts_list(conn).await
                }
                AccountsAction::Remove { conn, account } => {
                    init_logging(conn.verbose || conn.verbose_pii);
                    commands::accounts_remove(conn, account).await
                }
            },
            #[cfg(feature = "emulator")]
            Command::Emulator(args) => commands::emulator(args).await,
            #[cfg(feature = "emulator")]
            Command::Demo => demo::run().await,
            #[cfg(not(feature = "emulator"))]
            Command::Emulator(_) => commands::not_built("emulator"),
            #[cfg(not(feature = "emulator"))]
            Command::Demo => commands::not_built("demo"),
            Command::Decode { jwt } => commands::decode(&jwt),
        }
    })
}
