//! `msal-emulator`: a local Microsoft Entra ID look-alike with fault injection.

use clap::Parser;

/// A local Microsoft Entra ID look-alike with fault injection.
#[derive(Debug, Parser)]
#[command(name = "msal-emulator", version, about)]
struct Cli {
    #[command(flatten)]
    args: msal_emulator::CliArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match msal_emulator::run_cli(cli.args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msal-emulator: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
