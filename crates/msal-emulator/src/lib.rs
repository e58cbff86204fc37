#![doc = include_str!("../README.md")]

// The modules form layers, lowest first: a module imports only modules of lower layers (never
// one of its own layer or above, nor this file's re-exports), so no two import each other.
// tests/layering.rs parses src/ and checks these lines and that no files import in a cycle.
//
// layer 1: aadsts crypto faults route
// layer 2: config wire
// layer 3: records redact
// layer 4: state
// layer 5: shared
// layer 6: admin metadata token
// layer 7: api identity pages
// layer 8: middleware
// layer 9: router
// layer 10: server
// layer 11: cli
//
// Leaves: aadsts (the AADSTS table), crypto (keys and certificates), faults (fault rules),
// route (the path grammar). config: the directory and options. wire: the request and answer
// types every layer shares. records: what the emulator issued and the sign-ins in progress;
// redact: the admin API's copy of the log. state: the mutable directory, grants and fault
// rules. shared: the state of one running emulator. The handlers: admin, metadata, token,
// api, pages, identity (the managed identity sources and the service account issuer).
// middleware: the layers around them. router: the routes. server: start-up and
// the public handle. cli: the command line.

mod aadsts;
mod admin;
mod api;
mod cli;
mod config;
mod crypto;
mod faults;
mod identity;
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
    AppConfig, ConfigError, EmulatorConfig, EmulatorOptions, FederatedCredentialConfig,
    ManagedIdentitiesConfig, ManagedIdentityConfig, ResourceConfig, TenantConfig, UserConfig,
    defaults,
};
pub use crypto::default_certificate_pem;
pub use faults::{
    CLAIMS_CHALLENGE_JSON, Endpoint, FaultAction, FaultId, FaultRule,
    MANAGED_IDENTITY_PRESET_NAMES, PRESET_NAMES, RetryAfter,
};
pub use redact::REDACTED;
pub use server::{Emulator, EmulatorHandle};
pub use wire::RecordedRequest;
