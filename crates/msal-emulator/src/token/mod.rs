//! The token endpoint (every grant) and the device authorization endpoint.
//!
//! Layers, lowest first: `issue` (signing and issuing tokens), `client` (client
//! authentication), `grants` (one function per grant type), `bound` (proof-of-possession and
//! SSH certificate answers, from any grant's), `endpoint` (the token endpoint),
//! `device` (the device authorization endpoint), `managed` (managed identity tokens, which
//! the managed identity sources hand out).

mod bound;
mod client;
mod device;
mod endpoint;
mod grants;
mod issue;
mod managed;

pub(crate) use self::device::devicecode;
pub(crate) use self::endpoint::token;
pub(crate) use self::issue::{OwnTokenError, client_info, verify_own_token};
pub(crate) use self::managed::{MiToken, issue_mi_token};
