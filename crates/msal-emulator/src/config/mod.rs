//! The emulator's directory (tenants, apps, users, resources), fault rules and options.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::faults::FaultRule;

pub mod defaults;
mod identity;

pub use self::identity::{
    FederatedCredentialConfig, ManagedIdentitiesConfig, ManagedIdentityConfig,
};

/// A tenant (directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant id (a GUID).
    pub id: String,
    /// The tenant's domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// An app registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// The application (client) id.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// The tenant it is registered in (id or domain; the first tenant when absent). Apps are
    /// multi-tenant: they can be used with every tenant of the emulator.
    pub tenant: Option<String>,
    /// A public client (no credentials) rather than a confidential one.
    pub public_client: bool,
    /// Client secrets.
    pub secrets: Vec<String>,
    /// Certificates (PEM; RSA keys) for `private_key_jwt` client assertions.
    pub certificates: Vec<String>,
    /// Registered redirect URIs. Loopback `http://localhost` / `http://127.0.0.1` URIs match
    /// on any port.
    pub redirect_uris: Vec<String>,
    /// Application permissions (app roles) granted, as `<resource>/<role>`; they become the
    /// `roles` claim of client-credentials tokens.
    pub app_roles: Vec<String>,
    /// Delegated scopes an administrator consented to for every user, as `<resource>/<scope>`.
    pub admin_consented_scopes: Vec<String>,
    /// Member of the family of client ids (FOCI): answers carry `"foci": "1"` and its refresh
    /// tokens can be redeemed by the other family members.
    pub foci: bool,
    /// Overrides the device code polling interval for this app.
    pub device_code_interval_secs: Option<u64>,
    /// Federated identity credentials: tokens of another issuer this app accepts as client
    /// assertions (workload identity federation, a managed identity as the credential).
    pub federated_credentials: Vec<FederatedCredentialConfig>,
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// The sign-in name (UPN), e.g. `alice@contoso.onmicrosoft.com`.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Password.
    pub password: String,
    /// The object id (`oid`); derived from the username when absent.
    pub object_id: Option<String>,
    /// Home tenant (id or domain; the first tenant when absent).
    pub tenant: Option<String>,
    /// Must do multi-factor authentication (ROPC answers AADSTS50076; the sign-in pages ask
    /// for the MFA code).
    pub mfa_required: bool,
    /// Has consented to every scope for every app.
    pub consent_given: bool,
    /// Apps (client ids) this user consented to for every scope.
    pub consented_apps: Vec<String>,
    /// The password has expired (ROPC answers AADSTS50055; the sign-in pages ask for a new one).
    pub password_expired: bool,
    /// The account is disabled (AADSTS50057).
    pub disabled: bool,
    /// The sample API answers with a claims challenge until the token carries the `acrs`
    /// claim asked for by [`crate::CLAIMS_CHALLENGE_JSON`].
    pub require_claims_challenge: bool,
}

impl UserConfig {
    /// A user with this name and password and every flag off.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        let username = username.into();
        UserConfig {
            display_name: username.split('@').next().unwrap_or_default().to_string(),
            username,
            password: password.into(),
            ..UserConfig::default()
        }
    }

    /// The object id: the configured one, else one derived from the username.
    pub fn oid(&self) -> String {
        match &self.object_id {
            Some(o) => o.clone(),
            None => derived_guid(&self.username.to_ascii_lowercase()),
        }
    }
}

/// A GUID-shaped id derived from a text (stable across runs).
pub(crate) fn derived_guid(seed: &str) -> String {
    let h = sha2::Sha256::digest(seed.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A resource (API) that tokens can be issued for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceConfig {
    /// The resource identifier (application ID URI), e.g. `https://graph.microsoft.com`.
    /// It is the `aud` of the access tokens issued for it.
    pub identifier: String,
    /// Display name.
    pub name: String,
    /// The client id of the app that implements this API, if it is one of the registered
    /// apps; that app can exchange tokens for this resource on behalf of the user (OBO).
    pub app_id: Option<String>,
    /// Delegated scopes (short names, e.g. `User.Read`).
    pub scopes: Vec<String>,
    /// App roles (short names, e.g. `Data.Read`).
    pub app_roles: Vec<String>,
}

/// Behaviour knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorOptions {
    /// `expires_in` of access tokens, in seconds.
    pub access_token_lifetime_secs: u64,
    /// Send `refresh_in` (half the lifetime) in token answers.
    pub include_refresh_in: bool,
    /// Device code polling `interval` in seconds (polling faster answers `slow_down`).
    pub device_code_interval_secs: u64,
    /// Device code `expires_in` in seconds.
    pub device_code_expires_in_secs: u64,
    /// Lifetime of authorization codes in seconds.
    pub auth_code_lifetime_secs: u64,
    /// A refresh token unused for this long answers AADSTS700082.
    pub refresh_token_max_inactive_secs: u64,
    /// The admin API's bearer token (random when absent).
    pub admin_token: Option<String>,
    /// How many requests the request log keeps.
    pub request_log_capacity: usize,
    /// The code the MFA pages accept.
    pub mfa_code: String,
    /// The sample API demands the claims challenge from every user, not only from those with
    /// `require_claims_challenge`.
    pub api_claims_challenge: bool,
    /// Put `iss` in every authorization response and announce it in the metadata
    /// (`authorization_response_iss_parameter_supported`, RFC 9207), as servers that defend
    /// their clients against mix-up attacks do. Entra ID does neither today: off by default.
    pub authorization_response_iss: bool,
    /// `expires_in` of managed identity tokens, in seconds (Entra issues them for 24 hours).
    pub managed_identity_token_lifetime_secs: u64,
    /// The secret the App Service (`X-IDENTITY-HEADER`), Service Fabric and Azure ML
    /// (`secret`) sources require.
    pub identity_header_secret: String,
    /// Where the Azure Arc source writes its challenge key files (`<dir>/<random>.key`); a
    /// directory of its own, removed at shutdown, when absent.
    pub arc_key_dir: Option<std::path::PathBuf>,
    /// The URL clients reach the emulator at, when it is not `{scheme}://127.0.0.1:{port}/`
    /// (behind a reverse proxy, a container's port mapping or a host name). Every URL the
    /// emulator serves (issuer, endpoints, `verification_uri`, pages) starts with it; a
    /// default port (443 for https, 80 for http) is dropped, as WHATWG URL parsers drop it.
    pub public_url: Option<String>,
    /// The Azure region the emulated VM is in, as IMDS reports it at
    /// `/metadata/instance/compute/location` (regional endpoint detection); empty: none
    /// (404, as off Azure). The emulator answers token requests on any host name that reaches
    /// it, so a client can send its regional requests (`{region}.localhost:{port}`) to it;
    /// the request log keeps the `Host` each request named ([`crate::RecordedRequest::host`]).
    pub region: String,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            access_token_lifetime_secs: 3599,
            include_refresh_in: false,
            device_code_interval_secs: 1,
            device_code_expires_in_secs: 900,
            auth_code_lifetime_secs: 600,
            refresh_token_max_inactive_secs: 90 * 24 * 3600,
            admin_token: None,
            request_log_capacity: 10_000,
            mfa_code: defaults::MFA_CODE.to_string(),
            api_claims_challenge: false,
            authorization_response_iss: false,
            managed_identity_token_lifetime_secs: 86_399,
            identity_header_secret: defaults::IDENTITY_HEADER.to_string(),
            arc_key_dir: None,
            public_url: None,
            region: defaults::REGION.to_string(),
        }
    }
}

/// Everything the emulator serves: directory, fault rules and options.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmulatorConfig {
    /// Tenants; the first one is the home of apps and users that name none.
    pub tenants: Vec<TenantConfig>,
    /// App registrations.
    pub apps: Vec<AppConfig>,
    /// Users.
    pub users: Vec<UserConfig>,
    /// Resources (APIs).
    pub resources: Vec<ResourceConfig>,
    /// Managed identities.
    pub managed_identities: ManagedIdentitiesConfig,
    /// Fault rules installed at start.
    pub faults: Vec<FaultRule>,
    /// Options.
    pub options: EmulatorOptions,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML for this schema.
    #[error("invalid emulator configuration: {0}")]
    Parse(String),
    /// The directory is inconsistent.
    #[error("invalid emulator configuration: {0}")]
    Invalid(String),
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    include_defaults: bool,
    tenants: Vec<TenantConfig>,
    apps: Vec<AppConfig>,
    users: Vec<UserConfig>,
    resources: Vec<ResourceConfig>,
    managed_identities: Option<ManagedIdentitiesConfig>,
    faults: Vec<FaultRule>,
    options: Option<EmulatorOptions>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self::default_directory()
    }
}

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl EmulatorConfig {
    /// The built-in directory (see [`defaults`]), no file needed.
    pub fn default_directory() -> Self {
        use defaults::*;
        let (cert_pem, _) = crate::crypto::default_certificate_pem();
        let public = |client_id: &str, name: &str, foci: bool| AppConfig {
            client_id: client_id.into(),
            name: name.into(),
            public_client: true,
            redirect_uris: vec![REDIRECT_URI.into(), LOOPBACK_IP_REDIRECT_URI.into()],
            admin_consented_scopes: vec![GRAPH_USER_READ.into()],
            foci,
            ..AppConfig::default()
        };
        let user = |username: &str, display: &str| UserConfig {
            username: username.into(),
            display_name: display.into(),
            password: USER_PASSWORD.into(),
            consent_given: true,
            ..UserConfig::default()
        };
        EmulatorConfig {
            tenants: vec![TenantConfig {
                id: TENANT_ID.into(),
                domain: TENANT_DOMAIN.into(),
                name: TENANT_NAME.into(),
            }],
            apps: vec![
                AppConfig {
                    client_id: CONFIDENTIAL_CLIENT_ID.into(),
                    name: CONFIDENTIAL_CLIENT_NAME.into(),
                    secrets: vec![CLIENT_SECRET.into()],
                    certificates: vec![cert_pem],
                    redirect_uris: vec![REDIRECT_URI.into(), LOOPBACK_IP_REDIRECT_URI.into()],
                    app_roles: scopes(&[
                        "api://msal-emulator-api/Data.Read",
                        "https://graph.microsoft.com/User.Read.All",
                    ]),
                    admin_consented_scopes: scopes(&[GRAPH_USER_READ]),
                    ..AppConfig::default()
                },
                AppConfig {
                    client_id: WORKLOAD_CLIENT_ID.into(),
                    name: WORKLOAD_CLIENT_NAME.into(),
                    app_roles: scopes(&[
                        "api://msal-emulator-api/Data.Read",
                        "https://graph.microsoft.com/User.Read.All",
                    ]),
                    federated_credentials: vec![
                        FederatedCredentialConfig {
                            name: "kubernetes".into(),
                            issuer: format!("{BASE_PLACEHOLDER}federation"),
                            subject: SERVICE_ACCOUNT_SUBJECT.into(),
                            ..FederatedCredentialConfig::default()
                        },
                        FederatedCredentialConfig {
                            name: "managed-identity".into(),
                            issuer: format!("{BASE_PLACEHOLDER}{TENANT_ID}/v2.0"),
                            subject: USER_ASSIGNED_OBJECT_ID.into(),
                            ..FederatedCredentialConfig::default()
                        },
                    ],
                    ..AppConfig::default()
                },
                public(PUBLIC_CLIENT_ID, PUBLIC_CLIENT_NAME, true),
                public(SECOND_PUBLIC_CLIENT_ID, SECOND_PUBLIC_CLIENT_NAME, true),
                public(
                    NON_FOCI_PUBLIC_CLIENT_ID,
                    "Contoso Tool (emulated, not in the family)",
                    false,
                ),
            ],
            users: vec![
                UserConfig {
                    object_id: Some(USER_OBJECT_ID.into()),
                    ..user(USER_USERNAME, USER_DISPLAY_NAME)
                },
                UserConfig {
                    mfa_required: true,
                    ..user(MFA_USER_USERNAME, "Mfa User")
                },
                UserConfig {
                    password_expired: true,
                    ..user(PASSWORD_EXPIRED_USER_USERNAME, "Expired User")
                },
                UserConfig {
                    disabled: true,
                    ..user(DISABLED_USER_USERNAME, "Disabled User")
                },
                UserConfig {
                    consent_given: false,
                    ..user(NO_CONSENT_USER_USERNAME, "No Consent User")
                },
                UserConfig {
                    require_claims_challenge: true,
                    ..user(CLAIMS_CHALLENGE_USER_USERNAME, "Cae User")
                },
            ],
            resources: vec![
                ResourceConfig {
                    identifier: GRAPH_RESOURCE.into(),
                    name: "Microsoft Graph".into(),
                    app_id: Some("00000003-0000-0000-c000-000000000000".into()),
                    scopes: scopes(&["User.Read", "Mail.Read", "Files.Read"]),
                    app_roles: scopes(&["User.Read.All"]),
                },
                ResourceConfig {
                    identifier: API_RESOURCE.into(),
                    name: "MSAL Emulator sample API".into(),
                    app_id: Some(CONFIDENTIAL_CLIENT_ID.into()),
                    scopes: scopes(&["access_as_user"]),
                    app_roles: scopes(&[API_APP_ROLE]),
                },
            ],
            managed_identities: ManagedIdentitiesConfig {
                system_assigned: Some(ManagedIdentityConfig {
                    name: "contoso-vm".into(),
                    client_id: SYSTEM_ASSIGNED_CLIENT_ID.into(),
                    object_id: SYSTEM_ASSIGNED_OBJECT_ID.into(),
                    resource_id: SYSTEM_ASSIGNED_RESOURCE_ID.into(),
                    tenant: None,
                }),
                user_assigned: vec![
                    ManagedIdentityConfig {
                        name: USER_ASSIGNED_NAME.into(),
                        client_id: USER_ASSIGNED_CLIENT_ID.into(),
                        object_id: USER_ASSIGNED_OBJECT_ID.into(),
                        resource_id: USER_ASSIGNED_RESOURCE_ID.into(),
                        tenant: None,
                    },
                    ManagedIdentityConfig {
                        name: SECOND_USER_ASSIGNED_NAME.into(),
                        client_id: SECOND_USER_ASSIGNED_CLIENT_ID.into(),
                        object_id: SECOND_USER_ASSIGNED_OBJECT_ID.into(),
                        resource_id: SECOND_USER_ASSIGNED_RESOURCE_ID.into(),
                        tenant: None,
                    },
                ],
            },
            faults: Vec::new(),
            options: EmulatorOptions::default(),
        }
    }

    /// Parses a TOML configuration. With `include_defaults = true` at the top, the file's
    /// entries are added to (or replace, by id / username / identifier) the built-in directory.
    pub fn from_toml_str(s: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(s).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let mut cfg = if raw.include_defaults {
            Self::default_directory()
        } else {
            EmulatorConfig {
                tenants: Vec::new(),
                apps: Vec::new(),
                users: Vec::new(),
                resources: Vec::new(),
                managed_identities: ManagedIdentitiesConfig::default(),
                faults: Vec::new(),
                options: EmulatorOptions::default(),
            }
        };
        for t in raw.tenants {
            cfg.tenants.retain(|x| !x.id.eq_ignore_ascii_case(&t.id));
            cfg.tenants.push(t);
        }
        for a in raw.apps {
            cfg.upsert_app(a);
        }
        for u in raw.users {
            cfg.upsert_user(u);
        }
        for r in raw.resources {
            cfg.resources.retain(|x| x.identifier != r.identifier);
            cfg.resources.push(r);
        }
        if let Some(mi) = raw.managed_identities {
            if mi.system_assigned.is_some() {
                cfg.managed_identities.system_assigned = mi.system_assigned;
            }
            for u in mi.user_assigned {
                cfg.managed_identities
                    .user_assigned
                    .retain(|x| !x.client_id.eq_ignore_ascii_case(&u.client_id));
                cfg.managed_identities.user_assigned.push(u);
            }
        }
        cfg.faults.extend(raw.faults);
        if let Some(o) = raw.options {
            cfg.options = o;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a TOML configuration file.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Adds a fault rule installed at start.
    pub fn with_fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }

    /// Sets the directory where the Azure Arc source writes its challenge key files.
    pub fn with_arc_key_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.options.arc_key_dir = Some(dir.into());
        self
    }

    /// Adds or replaces a user-assigned managed identity (by client id).
    pub fn with_user_assigned_identity(mut self, identity: ManagedIdentityConfig) -> Self {
        self.managed_identities
            .user_assigned
            .retain(|x| !x.client_id.eq_ignore_ascii_case(&identity.client_id));
        self.managed_identities.user_assigned.push(identity);
        self
    }

    /// Adds or replaces a user.
    pub fn with_user(mut self, user: UserConfig) -> Self {
        self.upsert_user(user);
        self
    }

    /// Adds or replaces an app.
    pub fn with_app(mut self, app: AppConfig) -> Self {
        self.upsert_app(app);
        self
    }

    fn upsert_user(&mut self, user: UserConfig) {
        self.users
            .retain(|x| !x.username.eq_ignore_ascii_case(&user.username));
        self.users.push(user);
    }

    fn upsert_app(&mut self, app: AppConfig) {
        self.apps.retain(|x| x.client_id != app.client_id);
        self.apps.push(app);
    }

    /// Checks that the directory is consistent.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.tenants.is_empty() {
            return invalid(
                "at least one tenant is needed (or `include_defaults = true`)".to_string(),
            );
        }
        for t in &self.tenants {
            if t.id.trim().is_empty() || t.domain.trim().is_empty() {
                return invalid("every tenant needs an id and a domain".into());
            }
            if ["common", "organizations", "consumers"]
                .iter()
                .any(|r| t.id.eq_ignore_ascii_case(r) || t.domain.eq_ignore_ascii_case(r))
            {
                return invalid(format!("{:?} is a reserved tenant name", t.id));
            }
        }
        let tenant_known = |name: &Option<String>| match name {
            None => true,
            Some(n) => self
                .tenants
                .iter()
                .any(|t| t.id.eq_ignore_ascii_case(n) || t.domain.eq_ignore_ascii_case(n)),
        };
        for a in &self.apps {
            if a.client_id.trim().is_empty() {
                return invalid("every app needs a client_id".into());
            }
            if !tenant_known(&a.tenant) {
                return invalid(format!("app {}: unknown tenant", a.client_id));
            }
            for pem in &a.certificates {
                crate::crypto::parse_certificates(pem)
                    .map_err(|e| ConfigError::Invalid(format!("app {}: {e}", a.client_id)))?;
            }
        }
        for u in &self.users {
            if u.username.trim().is_empty() {
                return invalid("every user needs a username".into());
            }
            if !tenant_known(&u.tenant) {
                return invalid(format!("user {}: unknown tenant", u.username));
            }
        }
        for r in &self.resources {
            if r.identifier.trim().is_empty() {
                return invalid("every resource needs an identifier".into());
            }
        }
        let mis = &self.managed_identities;
        for m in mis.system_assigned.iter().chain(&mis.user_assigned) {
            if m.client_id.trim().is_empty()
                || m.object_id.trim().is_empty()
                || m.resource_id.trim().is_empty()
            {
                return invalid(
                    "every managed identity needs a client_id, an object_id and a resource_id"
                        .into(),
                );
            }
            if !tenant_known(&m.tenant) {
                return invalid(format!("managed identity {}: unknown tenant", m.client_id));
            }
        }
        for a in &self.apps {
            for f in &a.federated_credentials {
                if f.issuer.trim().is_empty() || f.subject.trim().is_empty() {
                    return invalid(format!(
                        "app {}: every federated credential needs an issuer and a subject",
                        a.client_id
                    ));
                }
            }
        }
        if let Some(u) = &self.options.public_url {
            public_base_url(u).map_err(ConfigError::Invalid)?;
        }
        for f in &self.faults {
            if let Some(p) = f.probability
                && !(0.0..=1.0).contains(&p)
            {
                return invalid(format!("fault probability {p} is not between 0 and 1"));
            }
        }
        Ok(())
    }
}

/// The base URL of `options.public_url`: http or https, a host, no user info, path, query or
/// fragment (the pages post to root-relative paths). The default port is dropped by
/// [`url::Url`] itself: `https://idp.test:443` is `https://idp.test/`.
pub(crate) fn public_base_url(s: &str) -> Result<url::Url, String> {
    let bad = |why: &str| Err(format!("public_url {s:?}: {why}"));
    let u = match url::Url::parse(s.trim()) {
        Ok(u) => u,
        Err(e) => return bad(&e.to_string()),
    };
    if !matches!(u.scheme(), "http" | "https") {
        return bad("the scheme must be http or https");
    }
    if u.host_str().is_none_or(str::is_empty) {
        return bad("a host is needed");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return bad("no user name or password");
    }
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
        return bad("no path, query or fragment: the emulator serves at the root");
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Endpoint, FaultAction, RetryAfter};

    #[test]
    fn default_directory_is_valid() {
        let cfg = EmulatorConfig::default();
        cfg.validate().unwrap();
        assert_eq!(cfg, EmulatorConfig::default_directory());
        assert_eq!(cfg.tenants[0].id, defaults::TENANT_ID);
        assert!(
            cfg.users
                .iter()
                .any(|u| u.username == defaults::USER_USERNAME)
        );
    }

    #[test]
    fn toml_with_presets_and_overrides() {
        let cfg = EmulatorConfig::from_toml_str(
            r#"
            include_defaults = true

            [options]
            device_code_interval_secs = 2

            [[users]]
            username = "zoe@contoso.onmicrosoft.com"
            password = "pw"
            mfa_required = true

            [[faults]]
            preset = "throttled"
            times = 1

            [[faults]]
            endpoint = "discovery"
            action = { type = "status", status = 503, retry_after = 3 }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.options.device_code_interval_secs, 2);
        assert!(
            cfg.users
                .iter()
                .any(|u| u.username == "zoe@contoso.onmicrosoft.com" && u.mfa_required)
        );
        assert_eq!(cfg.faults.len(), 2);
        assert_eq!(cfg.faults[0].times, Some(1));
        assert_eq!(cfg.faults[1].endpoint, Endpoint::Discovery);
        assert_eq!(
            cfg.faults[1].action,
            FaultAction::Status {
                status: 503,
                retry_after: Some(RetryAfter::Seconds(3)),
                body: None
            }
        );
    }

    #[test]
    fn example_configuration_parses() {
        let cfg =
            EmulatorConfig::from_toml_str(include_str!("../../emulator.example.toml")).unwrap();
        assert_eq!(cfg.tenants.len(), 2);
        assert!(cfg.apps.iter().any(|a| a.name == "Fabrikam CLI"));
        assert!(cfg.options.include_refresh_in);
        assert_eq!(cfg.faults.len(), 2);
        assert_eq!(cfg.faults[1].probability, Some(0.1));
        assert_eq!(cfg.options.identity_header_secret, "choose-a-secret");
        let mis = &cfg.managed_identities;
        assert!(mis.system_assigned.is_some());
        assert_eq!(mis.user_assigned.len(), 3);
        assert!(mis.user_assigned.iter().any(|m| m.name == "fabrikam-uami"));
        let worker = cfg
            .apps
            .iter()
            .find(|a| a.name == "Fabrikam Worker")
            .unwrap();
        assert_eq!(worker.federated_credentials[0].issuer, "{base}federation");
    }

    #[test]
    fn incomplete_managed_identities_and_credentials_are_refused() {
        let err = EmulatorConfig::from_toml_str(
            "include_defaults = true\n[[managed_identities.user_assigned]]\nclient_id = \"x\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("managed identity"), "{err}");
        let err = EmulatorConfig::from_toml_str(
            "include_defaults = true\n[[apps]]\nclient_id = \"a\"\n[[apps.federated_credentials]]\nsubject = \"s\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("federated credential"), "{err}");
        let cfg = EmulatorConfig::from_toml_str(
            "include_defaults = true\n[[apps]]\nclient_id = \"a\"\n[[apps.federated_credentials]]\nissuer = \"i\"\nsubject = \"s\"",
        )
        .unwrap();
        let app = cfg.apps.iter().find(|a| a.client_id == "a").unwrap();
        assert_eq!(
            app.federated_credentials[0].audiences,
            vec![defaults::TOKEN_EXCHANGE_AUDIENCE.to_string()]
        );
    }

    #[test]
    fn bad_toml_is_refused() {
        assert!(matches!(
            EmulatorConfig::from_toml_str("tenants = 3"),
            Err(ConfigError::Parse(_))
        ));
        assert!(matches!(
            EmulatorConfig::from_toml_str(""),
            Err(ConfigError::Invalid(_))
        ));
        assert!(
            EmulatorConfig::from_toml_str("include_defaults = true\n[[faults]]\npreset = \"x\"")
                .is_err()
        );
        let err = EmulatorConfig::from_toml_str(
            "[[tenants]]\nid = \"t\"\ndomain = \"d\"\n[[users]]\nusername = \"u\"\ntenant = \"other\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown tenant"));
        assert!(matches!(
            EmulatorConfig::from_toml_file(Path::new("/nonexistent/x.toml")),
            Err(ConfigError::Io { .. })
        ));
    }

    #[test]
    fn derived_guid_is_stable_and_shaped() {
        let a = derived_guid("x");
        assert_eq!(a, derived_guid("x"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.split('-').count(), 5);
    }
}
