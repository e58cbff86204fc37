//! A local Microsoft Entra ID look-alike with fault injection, in the spirit of Azurite for
//! Azure Storage: the test bed of the `msal` crate, and a tool of its own.
//!
//! It serves the Entra ID v2 endpoints (discovery, instance discovery, keys, token with every
//! grant, device code, authorize with real HTML sign-in pages, logout) for a configurable
//! directory, signs RS256 tokens, records every request, and injects faults on demand.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use msal_emulator::{Emulator, EmulatorConfig, FaultRule, defaults};
//! let emu = Emulator::start(EmulatorConfig::default_directory()).await?;
//! let authority = emu.authority(defaults::TENANT_ID);
//! emu.add_fault(FaultRule::preset("throttled").unwrap().once());
//! // ... point a client at `authority` ...
//! assert!(!emu.requests().is_empty() || authority.is_empty());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Admin API: see the `admin` module documentation in the README of the crate; every handle
//! method has an HTTP equivalent under `/_emulator/`.

mod aadsts;
mod admin;
mod api;
mod cli;
mod config;
mod crypto;
mod errors;
mod faults;
mod pages;
mod server;
mod state;
mod token;

pub use aadsts::{AadstsError, aadsts_table};
pub use cli::{CliArgs, CliError, run_cli, run_cli_until};
pub use config::{
    AppConfig, ConfigError, EmulatorConfig, EmulatorOptions, ResourceConfig, TenantConfig,
    UserConfig, defaults,
};
pub use crypto::default_certificate_pem;
pub use faults::{
    CLAIMS_CHALLENGE_JSON, Endpoint, FaultAction, FaultId, FaultRule, PRESET_NAMES, RetryAfter,
};
pub use server::{Emulator, EmulatorHandle, RecordedRequest};
