//! The built-in directory's names, ids and secrets.

/// The default tenant's id.
pub const TENANT_ID: &str = "7f3e9a2c-4b1d-4e8f-9c6a-2d5b8e1f0a37";
/// The default tenant's domain.
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
/// The default tenant's display name.
pub const TENANT_NAME: &str = "Contoso (emulated)";

/// The confidential (web/daemon) app: has [`CLIENT_SECRET`] and the certificate of
/// [`crate::default_certificate_pem`]; it is also the app behind [`API_RESOURCE`], so
/// tokens for that API can be exchanged on behalf of the user (OBO).
pub const CONFIDENTIAL_CLIENT_ID: &str = "3c7a1e5f-9b2d-4a6c-8e0f-1d4b7a9c2e58";
/// The confidential app's display name.
pub const CONFIDENTIAL_CLIENT_NAME: &str = "Contoso Daemon (emulated)";
/// The confidential app's client secret.
pub const CLIENT_SECRET: &str = "emulator-secret~Q8w3E5r7T9y1U3i5O7p9";

/// The public client app (FOCI family), redirect URI [`REDIRECT_URI`], admin consent
/// for [`GRAPH_USER_READ`].
pub const PUBLIC_CLIENT_ID: &str = "1b9d6c3a-5e7f-4a2b-8c0d-6e4f2a8b1c93";
/// The public client app's display name.
pub const PUBLIC_CLIENT_NAME: &str = "Contoso Desktop (emulated)";
/// A second public client app in the FOCI family (same redirect URI and consent).
pub const SECOND_PUBLIC_CLIENT_ID: &str = "9e2c4a6b-1d3f-4b5a-8e7c-0f2d4b6a8c15";
/// The second public client app's display name.
pub const SECOND_PUBLIC_CLIENT_NAME: &str = "Contoso Mobile (emulated)";
/// A public client app outside the FOCI family.
pub const NON_FOCI_PUBLIC_CLIENT_ID: &str = "4d8f2b6a-3c5e-4f7a-9b1d-5e7a9c1b3d26";
/// The registered redirect URI of the public apps (any port matches, as on Entra).
pub const REDIRECT_URI: &str = "http://localhost";
/// The other registered loopback redirect URI of the default apps (any port matches).
pub const LOOPBACK_IP_REDIRECT_URI: &str = "http://127.0.0.1";

/// The password of every default user.
pub const USER_PASSWORD: &str = "P@ssw0rd!";
/// A user with blanket consent and no MFA.
pub const USER_USERNAME: &str = "alice@contoso.onmicrosoft.com";
/// [`USER_USERNAME`]'s display name.
pub const USER_DISPLAY_NAME: &str = "Alice Example";
/// [`USER_USERNAME`]'s object id (the `oid` claim and `client_info.uid`).
pub const USER_OBJECT_ID: &str = "a1e5c3b7-2d4f-4a6b-8c9d-0e1f2a3b4c5d";
/// A user who must do multi-factor authentication (code [`MFA_CODE`]).
pub const MFA_USER_USERNAME: &str = "mfa.user@contoso.onmicrosoft.com";
/// A user whose password has expired.
pub const PASSWORD_EXPIRED_USER_USERNAME: &str = "expired.user@contoso.onmicrosoft.com";
/// A disabled user.
pub const DISABLED_USER_USERNAME: &str = "disabled.user@contoso.onmicrosoft.com";
/// A user who has consented to nothing (only admin-consented scopes work for them).
pub const NO_CONSENT_USER_USERNAME: &str = "noconsent.user@contoso.onmicrosoft.com";
/// A user for whom the sample API (`/api/me`) demands a claims challenge
/// ([`crate::CLAIMS_CHALLENGE_JSON`]).
pub const CLAIMS_CHALLENGE_USER_USERNAME: &str = "cae.user@contoso.onmicrosoft.com";
/// The code the MFA page accepts (it is also shown on the page).
pub const MFA_CODE: &str = "123456";
/// The Azure region the emulated VM's instance metadata reports (regional endpoints).
pub const REGION: &str = "westus2";

/// Microsoft Graph's resource identifier.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Graph `User.Read`.
pub const GRAPH_USER_READ: &str = "https://graph.microsoft.com/User.Read";
/// Graph `Mail.Read`.
pub const GRAPH_MAIL_READ: &str = "https://graph.microsoft.com/Mail.Read";
/// Graph `Files.Read`.
pub const GRAPH_FILES_READ: &str = "https://graph.microsoft.com/Files.Read";
/// Graph `.default`.
pub const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
/// The sample API's resource identifier.
pub const API_RESOURCE: &str = "api://msal-emulator-api";
/// The sample API's delegated scope.
pub const API_SCOPE: &str = "api://msal-emulator-api/access_as_user";
/// The sample API's `.default` scope (client credentials).
pub const API_SCOPE_DEFAULT: &str = "api://msal-emulator-api/.default";
/// The sample API's app role, granted to the confidential app.
pub const API_APP_ROLE: &str = "Data.Read";

/// The subscription the default managed identities live in.
pub const SUBSCRIPTION_ID: &str = "5d3b1f7a-2c4e-4a6b-9d8f-0e1c2b3a4d5e";
/// The resource group the default managed identities live in.
pub const RESOURCE_GROUP: &str = "contoso-rg";
/// The system-assigned managed identity's client (application) id.
pub const SYSTEM_ASSIGNED_CLIENT_ID: &str = "8a2c4e6f-1b3d-4f5a-9c7e-2d4f6a8b0c13";
/// The system-assigned managed identity's object (principal) id.
pub const SYSTEM_ASSIGNED_OBJECT_ID: &str = "b3d5f7a9-4c6e-4a8b-8d0f-3e5a7c9b1d24";
/// The system-assigned managed identity's resource id: the virtual machine it belongs to.
pub const SYSTEM_ASSIGNED_RESOURCE_ID: &str = "/subscriptions/5d3b1f7a-2c4e-4a6b-9d8f-0e1c2b3a4d5e/resourcegroups/contoso-rg/providers/Microsoft.Compute/virtualMachines/contoso-vm";
/// The default user-assigned managed identity's name.
pub const USER_ASSIGNED_NAME: &str = "contoso-uami";
/// The default user-assigned managed identity's client id.
pub const USER_ASSIGNED_CLIENT_ID: &str = "c4e6a8b0-5d7f-4b9c-8e1a-4f6b8d0c2e35";
/// The default user-assigned managed identity's object (principal) id.
pub const USER_ASSIGNED_OBJECT_ID: &str = "d5f7b9c1-6e8a-4c0d-9f2b-5a7c9e1d3f46";
/// The default user-assigned managed identity's resource id.
pub const USER_ASSIGNED_RESOURCE_ID: &str = "/subscriptions/5d3b1f7a-2c4e-4a6b-9d8f-0e1c2b3a4d5e/resourcegroups/contoso-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/contoso-uami";
/// A second user-assigned managed identity's name.
pub const SECOND_USER_ASSIGNED_NAME: &str = "contoso-uami-2";
/// The second user-assigned managed identity's client id.
pub const SECOND_USER_ASSIGNED_CLIENT_ID: &str = "e6a8c0d2-7f9b-4d1e-8a3c-6b8d0f2e4a57";
/// The second user-assigned managed identity's object (principal) id.
pub const SECOND_USER_ASSIGNED_OBJECT_ID: &str = "f7b9d1e3-8a0c-4e2f-9b4d-7c9e1a3f5b68";
/// The second user-assigned managed identity's resource id.
pub const SECOND_USER_ASSIGNED_RESOURCE_ID: &str = "/subscriptions/5d3b1f7a-2c4e-4a6b-9d8f-0e1c2b3a4d5e/resourcegroups/contoso-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/contoso-uami-2";
/// The secret of the App Service, Service Fabric and Azure ML sources (`IDENTITY_HEADER`,
/// `MSI_SECRET`).
pub const IDENTITY_HEADER: &str = "emulator-identity-header~7Hk2Mx9Pq4Rz";

/// The audience of federated identity credentials (workload identity, managed identity
/// as a federated credential).
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";
/// The confidential app that trusts federated credentials: service account tokens of the
/// emulator's own issuer for [`SERVICE_ACCOUNT_SUBJECT`], and tokens of the default
/// user-assigned managed identity ([`USER_ASSIGNED_OBJECT_ID`]) for
/// [`TOKEN_EXCHANGE_AUDIENCE`]. It has the same app roles as the confidential app.
pub const WORKLOAD_CLIENT_ID: &str = "5a7c9e1b-3d5f-4a7b-8c9d-1e3f5a7b9c20";
/// The workload identity app's display name.
pub const WORKLOAD_CLIENT_NAME: &str = "Contoso Workload (emulated)";
/// The Kubernetes service account the workload app trusts.
pub const SERVICE_ACCOUNT_SUBJECT: &str = "system:serviceaccount:default:workload";
/// In a federated credential's `issuer`, stands for the emulator's base URL (with its
/// trailing slash), which is known only once it listens: `{base}federation` is the
/// emulator's own service account issuer, `{base}<tenant id>/v2.0` its Entra issuer
/// (managed identity tokens).
pub const BASE_PLACEHOLDER: &str = "{base}";
