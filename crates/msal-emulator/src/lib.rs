#![doc = include_str!("../README.md")]

mod aadsts;
mod admin;
mod api;
mod cli;
mod config;
mod crypto;
mod faults;
mod metadata;
mod middleware;
mod pages;
mod records;
mod redact;
mod route;
mod router;
mod server;
mod shared;
mod state;
mod token;
mod wire;

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
pub use redact::REDACTED;
pub use server::{Emulator, EmulatorHandle};
pub use wire::RecordedRequest;
