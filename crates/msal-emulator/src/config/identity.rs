//! Managed identities and federated identity credentials of the directory.

use serde::{Deserialize, Serialize};

use super::defaults;

/// A federated identity credential of an app: a token with this issuer, subject and one of
/// these audiences is accepted as the app's client assertion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederatedCredentialConfig {
    /// A name, for display.
    pub name: String,
    /// The issuer (`iss`), matched exactly. `{base}` stands for the emulator's base URL:
    /// `{base}federation` is its service account issuer, `{base}<tenant id>/v2.0` its Entra
    /// issuer (managed identity tokens). Only these two issuers' tokens can be verified.
    pub issuer: String,
    /// The subject (`sub`), matched exactly: `system:serviceaccount:<namespace>:<name>`, or
    /// a managed identity's object id.
    pub subject: String,
    /// The accepted audiences (`api://AzureADTokenExchange` by default).
    pub audiences: Vec<String>,
}

impl Default for FederatedCredentialConfig {
    fn default() -> Self {
        FederatedCredentialConfig {
            name: String::new(),
            issuer: String::new(),
            subject: String::new(),
            audiences: vec![defaults::TOKEN_EXCHANGE_AUDIENCE.to_string()],
        }
    }
}

/// A managed identity: the system-assigned one or a user-assigned one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ManagedIdentityConfig {
    /// The identity's name (a user-assigned identity's is the last segment of its resource id).
    pub name: String,
    /// The client (application) id: the `appid` of its tokens, `client_id` in requests.
    pub client_id: String,
    /// The object (principal) id: the `oid` and `sub` of its tokens, `object_id` in requests.
    pub object_id: String,
    /// The Azure resource id: the `xms_mirid` of its tokens, `msi_res_id` / `mi_res_id` in
    /// requests; `/subscriptions/…/resourcegroups/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`.
    pub resource_id: String,
    /// The tenant (id or domain; the first tenant when absent).
    pub tenant: Option<String>,
}

/// The managed identities the emulator's sources (IMDS, App Service, Service Fabric, Azure ML,
/// Cloud Shell, Azure Arc) issue tokens for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ManagedIdentitiesConfig {
    /// The system-assigned identity (of the emulated host); a request naming no identity gets
    /// its tokens, and none when absent (400, identity not found).
    pub system_assigned: Option<ManagedIdentityConfig>,
    /// User-assigned identities, selected by client id, object id or resource id.
    pub user_assigned: Vec<ManagedIdentityConfig>,
}
