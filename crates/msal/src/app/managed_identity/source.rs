//! The six managed identity sources, how the environment tells them apart, and the request
//! each one takes (method, URL, query, headers).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use url::Url;

use super::ManagedIdentityId;
use crate::error::{Error, codes};
use crate::http::{HeaderValue, HttpRequest};
use crate::secret::ManagedIdentitySecret;

/// Where a managed identity's tokens come from: the platform the program runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentitySource {
    /// Service Fabric: `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` and `IDENTITY_SERVER_THUMBPRINT`.
    ServiceFabric,
    /// App Service, Azure Functions (and Azure Automation): `IDENTITY_ENDPOINT` and
    /// `IDENTITY_HEADER`.
    AppService,
    /// Azure Machine Learning: `MSI_ENDPOINT` and `MSI_SECRET`.
    MachineLearning,
    /// Azure Cloud Shell: `MSI_ENDPOINT` alone.
    CloudShell,
    /// Azure Arc-enabled servers: `IDENTITY_ENDPOINT` and `IMDS_ENDPOINT`, or the Arc agent
    /// installed.
    AzureArc,
    /// The Azure Instance Metadata Service of VMs, scale sets and AKS (the default):
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`, else `http://169.254.169.254`.
    Imds,
}

impl ManagedIdentitySource {
    /// The stable snake-case name (`service_fabric`, `app_service`, `machine_learning`,
    /// `cloud_shell`, `azure_arc`, `imds`), for logs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceFabric => "service_fabric",
            Self::AppService => "app_service",
            Self::MachineLearning => "machine_learning",
            Self::CloudShell => "cloud_shell",
            Self::AzureArc => "azure_arc",
            Self::Imds => "imds",
        }
    }

    /// Whether the source takes `token_sha256_to_refresh` and `xms_cc` (token revocation).
    pub(crate) fn supports_revocation(self) -> bool {
        matches!(self, Self::ServiceFabric | Self::AppService)
    }
}

impl fmt::Display for ManagedIdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
const IDENTITY_HEADER: &str = "IDENTITY_HEADER";
const IDENTITY_SERVER_THUMBPRINT: &str = "IDENTITY_SERVER_THUMBPRINT";
const IMDS_ENDPOINT: &str = "IMDS_ENDPOINT";
const MSI_ENDPOINT: &str = "MSI_ENDPOINT";
const MSI_SECRET: &str = "MSI_SECRET";
const POD_IDENTITY_HOST: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
const DEFAULT_IDENTITY_CLIENT_ID: &str = "DEFAULT_IDENTITY_CLIENT_ID";

const IMDS_DEFAULT_HOST: &str = "http://169.254.169.254";
const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const ARC_DEFAULT_ENDPOINT: &str = "http://127.0.0.1:40342/metadata/identity/oauth2/token";

/// The environment the source is read from: the process's, or one given (tests, hosts).
#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    /// The variables given; `None`: the process's.
    pub vars: Option<HashMap<String, String>>,
    /// Whether the Arc agent is installed; `None`: whether its `himds` file exists (and, with
    /// given variables, not installed).
    pub arc_agent_installed: Option<bool>,
}

impl Env {
    /// A variable's value; an empty one counts as unset (as MSAL does).
    fn var(&self, name: &str) -> Option<String> {
        let v = match &self.vars {
            Some(vars) => vars.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        v.filter(|v| !v.trim().is_empty())
    }

    fn has(&self, name: &str) -> bool {
        self.var(name).is_some()
    }

    fn arc_agent_installed(&self) -> bool {
        match (self.arc_agent_installed, &self.vars) {
            (Some(installed), _) => installed,
            (None, Some(_)) => false,
            (None, None) => himds_path(self).is_some_and(|p| p.exists()),
        }
    }

    /// The source the environment points at, in MSAL's order.
    pub(crate) fn detect(&self) -> ManagedIdentitySource {
        use ManagedIdentitySource::*;
        let identity = self.has(IDENTITY_ENDPOINT);
        if identity && self.has(IDENTITY_HEADER) && self.has(IDENTITY_SERVER_THUMBPRINT) {
            ServiceFabric
        } else if identity && self.has(IDENTITY_HEADER) {
            AppService
        } else if self.has(MSI_ENDPOINT) && self.has(MSI_SECRET) {
            MachineLearning
        } else if self.has(MSI_ENDPOINT) {
            CloudShell
        } else if (identity && self.has(IMDS_ENDPOINT)) || self.arc_agent_installed() {
            AzureArc
        } else {
            Imds
        }
    }

    /// The default directory of Arc's key files.
    pub(crate) fn arc_token_directory(&self) -> PathBuf {
        if cfg!(windows) {
            let data = self
                .var("ProgramData")
                .unwrap_or_else(|| r"C:\ProgramData".into());
            PathBuf::from(data)
                .join("AzureConnectedMachineAgent")
                .join("Tokens")
        } else {
            PathBuf::from("/var/opt/azcmagent/tokens")
        }
    }
}

/// Where the Arc agent's `himds` is when it is installed.
fn himds_path(env: &Env) -> Option<PathBuf> {
    if cfg!(windows) {
        env.var("ProgramFiles").map(|p| {
            PathBuf::from(p)
                .join("AzureConnectedMachineAgent")
                .join("himds.exe")
        })
    } else {
        Some(PathBuf::from("/opt/azcmagent/bin/himds"))
    }
}

/// A source with what its requests need, read from the environment once.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub source: ManagedIdentitySource,
    pub url: Url,
    /// `IDENTITY_HEADER` or `MSI_SECRET`.
    pub secret: Option<ManagedIdentitySecret>,
    /// Service Fabric's `IDENTITY_SERVER_THUMBPRINT`.
    pub thumbprint: Option<String>,
    /// Azure ML's `DEFAULT_IDENTITY_CLIENT_ID`, sent for its system-assigned identity.
    pub default_client_id: Option<String>,
}

/// An endpoint URL from the environment: `http` or `https`, with a host.
fn endpoint_url(name: &str, value: &str) -> Result<Url, Error> {
    let bad = |why: &str| {
        // The value is a URL the platform set; it holds no secret, but is not echoed whole
        // either in case it is garbage: its length is enough to find it.
        Error::client(
            codes::INVALID_MANAGED_IDENTITY_ENDPOINT,
            format!(
                "the managed identity endpoint in {name} ({} characters) {why}",
                value.len()
            ),
        )
    };
    let url = Url::parse(value.trim()).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad("is not an http or https URL with a host"));
    }
    Ok(url)
}

fn required(env: &Env, source: ManagedIdentitySource, name: &str) -> Result<String, Error> {
    env.var(name).ok_or_else(|| {
        Error::client(
            codes::INVALID_MANAGED_IDENTITY_ENDPOINT,
            format!("the managed identity source {source} needs the environment variable {name}, which is not set"),
        )
    })
}

impl Endpoint {
    /// The endpoint of `source` from the environment.
    pub(crate) fn from_env(env: &Env, source: ManagedIdentitySource) -> Result<Self, Error> {
        use ManagedIdentitySource::*;
        let mut e = Endpoint {
            source,
            url: Url::parse(ARC_DEFAULT_ENDPOINT).expect("a valid URL"),
            secret: None,
            thumbprint: None,
            default_client_id: None,
        };
        let secret = |name| required(env, source, name).map(ManagedIdentitySecret::new);
        match source {
            ServiceFabric | AppService => {
                e.url = endpoint_url(
                    IDENTITY_ENDPOINT,
                    &required(env, source, IDENTITY_ENDPOINT)?,
                )?;
                e.secret = Some(secret(IDENTITY_HEADER)?);
                if source == ServiceFabric {
                    e.thumbprint = Some(required(env, source, IDENTITY_SERVER_THUMBPRINT)?);
                }
            }
            MachineLearning | CloudShell => {
                e.url = endpoint_url(MSI_ENDPOINT, &required(env, source, MSI_ENDPOINT)?)?;
                if source == MachineLearning {
                    e.secret = Some(secret(MSI_SECRET)?);
                    e.default_client_id = env.var(DEFAULT_IDENTITY_CLIENT_ID);
                }
            }
            AzureArc => {
                if let Some(v) = env.var(IDENTITY_ENDPOINT) {
                    e.url = endpoint_url(IDENTITY_ENDPOINT, &v)?;
                }
            }
            Imds => {
                let host = env
                    .var(POD_IDENTITY_HOST)
                    .unwrap_or_else(|| IMDS_DEFAULT_HOST.into());
                let base = endpoint_url(POD_IDENTITY_HOST, &host)?;
                let mut url = base.clone();
                let path = format!("{}{IMDS_TOKEN_PATH}", base.path().trim_end_matches('/'));
                url.set_path(&path);
                url.set_query(None);
                e.url = url;
            }
        }
        Ok(e)
    }

    /// The token request for `resource`, without the Arc key: the source's method, URL, query
    /// and headers. `revocation` is the hash of the token to replace and the client
    /// capabilities, sent by the sources that take them.
    pub(crate) fn request(
        &self,
        id: &ManagedIdentityId,
        resource: &str,
        revocation: (Option<&str>, &[String]),
    ) -> Result<HttpRequest, Error> {
        use ManagedIdentitySource::*;
        let mut url = self.url.clone();
        let (api_version, selector) = match self.source {
            ServiceFabric => {
                if !matches!(id, ManagedIdentityId::SystemAssigned) {
                    tracing::warn!(
                        "Service Fabric's managed identity is the one the cluster configures: the user-assigned identity asked for is ignored"
                    );
                }
                ("2019-07-01-preview", None)
            }
            AppService => (
                "2019-08-01",
                id.selector("client_id", "object_id", "mi_res_id"),
            ),
            MachineLearning => {
                let selector = match id {
                    ManagedIdentityId::SystemAssigned => {
                        self.default_client_id.as_deref().map(|c| ("clientid", c))
                    }
                    ManagedIdentityId::ClientId(c) => Some(("clientid", c.as_str())),
                    _ => return Err(not_supported(self.source, "by client id only")),
                };
                ("2017-09-01", selector)
            }
            CloudShell => {
                if !matches!(id, ManagedIdentityId::SystemAssigned) {
                    return Err(not_supported(self.source, "at all"));
                }
                let mut req = HttpRequest::post_form(url, [("resource", resource)]);
                metadata_header(&mut req);
                return Ok(req);
            }
            AzureArc => (
                "2020-06-01",
                id.selector("client_id", "object_id", "msi_res_id"),
            ),
            Imds => (
                "2018-02-01",
                id.selector("client_id", "object_id", "msi_res_id"),
            ),
        };
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("api-version", api_version);
            q.append_pair("resource", resource);
            if let Some((name, value)) = selector {
                q.append_pair(name, value);
            }
            if self.source.supports_revocation() {
                let (hash, capabilities) = revocation;
                if let Some(h) = hash {
                    q.append_pair("token_sha256_to_refresh", h);
                }
                if !capabilities.is_empty() {
                    q.append_pair("xms_cc", &capabilities.join(","));
                }
            }
        }
        let mut req = HttpRequest::get(url);
        match self.source {
            ServiceFabric | MachineLearning => secret_header(&mut req, "secret", &self.secret)?,
            AppService => secret_header(&mut req, "x-identity-header", &self.secret)?,
            _ => metadata_header(&mut req),
        }
        Ok(req)
    }
}

fn not_supported(source: ManagedIdentitySource, how: &str) -> Error {
    Error::client(
        codes::USER_ASSIGNED_MANAGED_IDENTITY_NOT_SUPPORTED,
        format!("the managed identity source {source} selects a user-assigned identity {how}"),
    )
}

fn metadata_header(req: &mut HttpRequest) {
    req.headers
        .insert("metadata", HeaderValue::from_static("true"));
}

/// Puts the source's secret in a header marked sensitive (kept out of HTTP debug logs).
fn secret_header(
    req: &mut HttpRequest,
    name: &'static str,
    secret: &Option<ManagedIdentitySecret>,
) -> Result<(), Error> {
    let Some(s) = secret else {
        return Ok(());
    };
    let mut v = HeaderValue::from_str(s.secret().trim()).map_err(|_| {
        Error::client(
            codes::INVALID_CONFIGURATION,
            "the managed identity secret from the environment cannot be sent in an HTTP header",
        )
    })?;
    v.set_sensitive(true);
    req.headers.insert(name, v);
    Ok(())
}
