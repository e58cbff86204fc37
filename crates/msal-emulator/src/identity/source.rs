//! What tells the managed identity sources apart: the header that proves the caller is on the
//! host, the API version, how a user-assigned identity is named, and the shapes of their
//! answers and errors.

use serde_json::{Map, Value, json};

use crate::records::MiSelector;
use crate::token::MiToken;
use crate::wire::{Ctx, Incoming, Reply};

/// A managed identity source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Imds,
    AppService,
    ServiceFabric,
    AzureMl,
    CloudShell,
    Arc,
}

/// A selector's parameter name and the selector its value makes.
type SelectorParam = (&'static str, fn(String) -> MiSelector);

/// What a request proves about its caller with its header.
pub(super) enum Proof {
    /// `Metadata: true`.
    Metadata,
    /// A secret in this header.
    Secret(&'static str),
}

impl Source {
    /// The name used as the cache key and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Source::Imds => "imds",
            Source::AppService => "app_service",
            Source::ServiceFabric => "service_fabric",
            Source::AzureMl => "azure_ml",
            Source::CloudShell => "cloud_shell",
            Source::Arc => "arc",
        }
    }

    pub fn proof(self) -> Proof {
        match self {
            Source::Imds | Source::CloudShell | Source::Arc => Proof::Metadata,
            Source::AppService => Proof::Secret("x-identity-header"),
            Source::ServiceFabric | Source::AzureMl => Proof::Secret("secret"),
        }
    }

    /// The `api-version` the source requires (Cloud Shell has none).
    pub fn api_version(self) -> Option<&'static str> {
        match self {
            Source::Imds => Some("2018-02-01"),
            Source::AppService => Some("2019-08-01"),
            Source::ServiceFabric => Some("2019-07-01-preview"),
            Source::AzureMl => Some("2017-09-01"),
            Source::CloudShell => None,
            Source::Arc => Some("2020-06-01"),
        }
    }

    /// Whether the source hands out the same token again until it nears expiry, and replaces
    /// it on `token_sha256_to_refresh` (revocation); those also take `xms_cc`.
    pub fn caches(self) -> bool {
        matches!(self, Source::AppService | Source::ServiceFabric)
    }

    /// A request parameter: the form for Cloud Shell (a POST), else the query.
    pub fn param(self, inc: &Incoming, name: &str) -> Option<String> {
        match self {
            Source::CloudShell => inc.f(name),
            _ => inc.q(name),
        }
        .map(str::to_string)
    }

    /// The parameter names of the user-assigned selectors: client id, object id, resource id.
    fn selector_names(self) -> &'static [SelectorParam] {
        match self {
            Source::Imds | Source::Arc | Source::CloudShell => &[
                ("client_id", MiSelector::ClientId),
                ("object_id", MiSelector::ObjectId),
                ("msi_res_id", MiSelector::ResourceId),
            ],
            Source::AppService => &[
                ("client_id", MiSelector::ClientId),
                ("object_id", MiSelector::ObjectId),
                ("mi_res_id", MiSelector::ResourceId),
            ],
            Source::AzureMl => &[("clientid", MiSelector::ClientId)],
            // The cluster's identity: selectors are not the source's business.
            Source::ServiceFabric => &[],
        }
    }

    /// The identity the request names, with the parameter that named it; `Err` when it names
    /// more than one.
    pub fn selector(self, inc: &Incoming) -> Result<(MiSelector, Option<&'static str>), String> {
        let mut found = Vec::new();
        for (name, make) in self.selector_names() {
            if let Some(v) = self.param(inc, name) {
                found.push((make(v), Some(*name)));
            }
        }
        match found.len() {
            0 => Ok((MiSelector::SystemAssigned, None)),
            1 => Ok(found.remove(0)),
            _ => Err("Only one of client_id, object_id and the resource id may be given.".into()),
        }
    }

    /// An error answer in the source's shape.
    pub fn error(self, ctx: &Ctx, status: u16, code: &str, message: &str) -> Reply {
        match self {
            Source::AppService => Reply::json(
                status,
                &json!({
                    "statusCode": status,
                    "message": message,
                    "correlationId": ctx.correlation_id,
                }),
            ),
            Source::ServiceFabric => Reply::json(
                status,
                &json!({"error": {
                    "correlationId": ctx.correlation_id,
                    "code": code,
                    "message": message,
                }}),
            ),
            _ => Reply::json(
                status,
                &json!({"error": code, "error_description": message}),
            ),
        }
    }

    /// The answer when the identity asked for does not exist.
    pub fn identity_not_found(self, ctx: &Ctx) -> Reply {
        match self {
            Source::AppService => self.error(
                ctx,
                400,
                "identity_not_found",
                "Unable to load the proper Managed Identity. Identity not found.",
            ),
            Source::ServiceFabric => {
                self.error(ctx, 400, "IdentityNotFound", "Identity not found.")
            }
            _ => self.error(ctx, 400, "invalid_request", "Identity not found"),
        }
    }

    /// The token answer in the source's shape; `echo` is the user-assigned selector the
    /// request used (Azure Arc echoes it).
    pub fn answer(
        self,
        token: &MiToken,
        resource: &str,
        client_id: &str,
        echo: Option<(&str, &str)>,
    ) -> Reply {
        let mut m = Map::new();
        let s = |n: u64| Value::String(n.to_string());
        m.insert("access_token".into(), json!(token.access_token));
        match self {
            Source::Imds | Source::Arc | Source::CloudShell => {
                m.insert("expires_in".into(), s(token.expires_in));
                m.insert("expires_on".into(), s(token.expires_on));
                m.insert("ext_expires_in".into(), s(token.expires_in));
                m.insert("not_before".into(), s(token.not_before));
            }
            Source::AppService | Source::AzureMl => {
                m.insert("expires_on".into(), s(token.expires_on));
            }
            // Service Fabric sends a number.
            Source::ServiceFabric => {
                m.insert("expires_on".into(), json!(token.expires_on));
            }
        }
        m.insert("resource".into(), json!(resource));
        m.insert("token_type".into(), json!("Bearer"));
        match self {
            Source::Imds | Source::AppService | Source::AzureMl => {
                m.insert("client_id".into(), json!(client_id));
            }
            Source::Arc => {
                if let Some((name, value)) = echo {
                    m.insert(name.into(), json!(value));
                }
            }
            Source::ServiceFabric | Source::CloudShell => {}
        }
        Reply::json(200, &Value::Object(m))
    }
}
