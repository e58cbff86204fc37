//! The records the emulator keeps: what it has issued (refresh tokens, authorization codes,
//! device codes, sign-in sessions), the sign-ins in progress, and the scopes they hold.

use std::time::Instant;

use crate::config::ResourceConfig;
use crate::wire::AadErr;

/// The OIDC scopes that need no consent and name no resource.
pub(crate) const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The scopes a request asked for, resolved against the directory.
#[derive(Debug, Clone)]
pub(crate) struct ScopeRequest {
    pub resource: ResourceConfig,
    /// Resource scopes (short names as registered); empty with `.default`.
    pub scopes: Vec<String>,
    pub is_default: bool,
    /// OIDC scopes asked for, lower case.
    pub oidc: Vec<String>,
    /// Whether any resource scope was named (else only OIDC scopes were asked for).
    pub resource_explicit: bool,
}

/// Scopes granted for one token.
#[derive(Debug, Clone)]
pub(crate) struct Granted {
    pub resource: ResourceConfig,
    pub scopes: Vec<String>,
    pub oidc: Vec<String>,
}

impl Granted {
    /// The full scope strings (as a client would ask for them again).
    pub fn full_scopes(&self) -> Vec<String> {
        self.scopes
            .iter()
            .map(|s| format!("{}/{}", self.resource.identifier, s))
            .collect()
    }

    /// The `scope` value of the token answer.
    pub fn response_scope(&self) -> String {
        let graph = self
            .resource
            .identifier
            .eq_ignore_ascii_case(crate::config::defaults::GRAPH_RESOURCE);
        let mut out: Vec<String> = if graph {
            self.scopes.clone()
        } else {
            self.full_scopes()
        };
        for o in OIDC_SCOPES {
            if self.oidc.iter().any(|x| x == o) {
                out.push((*o).to_string());
            }
        }
        out.join(" ")
    }

    /// Leaves out declined scopes (short names or full scope strings, case-insensitive).
    pub fn without(mut self, declined: &[String]) -> Self {
        let ident = self.resource.identifier.clone();
        self.scopes.retain(|s| {
            let full = format!("{ident}/{s}");
            !declined
                .iter()
                .any(|d| d.eq_ignore_ascii_case(s) || d.eq_ignore_ascii_case(&full))
        });
        self
    }

    /// The `scp` claim.
    pub fn scp(&self) -> String {
        if self.scopes.is_empty() {
            self.oidc
                .iter()
                .filter(|s| *s != "offline_access")
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            self.scopes.join(" ")
        }
    }
}

/// Parsed `claims` request parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClaimsReq {
    pub xms_cc: Vec<String>,
    pub acrs: Vec<String>,
}

impl ClaimsReq {
    pub fn parse(text: Option<&str>) -> Result<Self, AadErr> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(ClaimsReq::default());
        };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|_| {
            AadErr::new(9002313)
                .error("invalid_request")
                .desc("Invalid request. The claims parameter is not valid JSON.")
        })?;
        let at = v.get("access_token");
        let values = |name: &str| -> Vec<String> {
            let Some(c) = at.and_then(|a| a.get(name)) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            if let Some(arr) = c.get("values").and_then(|x| x.as_array()) {
                out.extend(arr.iter().filter_map(|x| x.as_str().map(str::to_string)));
            }
            if let Some(s) = c.get("value").and_then(|x| x.as_str()) {
                out.push(s.to_string());
            }
            out
        };
        Ok(ClaimsReq {
            xms_cc: values("xms_cc"),
            acrs: values("acrs"),
        })
    }
}

/// Why a refresh token no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spent {
    Rotated,
    Revoked,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub username: String,
    pub client_id: String,
    pub foci: bool,
    pub granted: Granted,
    pub claims: ClaimsReq,
    pub mfa: bool,
    pub last_used: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub username: String,
    pub granted: Granted,
    pub nonce: Option<String>,
    pub claims: ClaimsReq,
    pub mfa: bool,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DeviceStatus {
    Pending,
    Approved { username: String, mfa: bool },
    Denied,
}

#[derive(Debug, Clone)]
pub(crate) struct DeviceGrant {
    pub user_code: String,
    pub client_id: String,
    pub tenant_seg: String,
    pub scope: String,
    pub claims: Option<String>,
    pub interval: u64,
    pub expires_at: Instant,
    pub last_poll: Option<Instant>,
    pub status: DeviceStatus,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub username: String,
    pub mfa: bool,
}

/// Parameters of an `/authorize` request kept while the user goes through the pages.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthParams {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    pub claims: Option<String>,
    /// The `iss` to put in the redirect (RFC 9207), when the option is on: the tenant's
    /// issuer, with `{tenantid}` for `common` and `organizations` until the user is known.
    pub iss: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum TxnKind {
    Authorize(Box<AuthParams>),
    Device { device_code: String },
}

/// An interactive sign-in in progress.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    pub kind: TxnKind,
    pub tenant_seg: String,
    pub client_id: String,
    pub scope: String,
    pub username: Option<String>,
    pub mfa_done: bool,
    pub consent_done: bool,
    pub account_chosen: bool,
    pub created: u64,
}

/// How a managed identity request names its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MiSelector {
    /// None named: the system-assigned identity.
    SystemAssigned,
    /// A user-assigned identity by client id.
    ClientId(String),
    /// A user-assigned identity by object id.
    ObjectId(String),
    /// A user-assigned identity by resource id.
    ResourceId(String),
}

/// A key the Azure Arc source wrote for a challenge.
#[derive(Debug, Clone)]
pub(crate) struct ArcKey {
    /// The key file.
    pub path: std::path::PathBuf,
    /// When it stops being accepted (seconds since the epoch).
    pub expires_at: u64,
    /// When it was written (orders keys of one second).
    pub written: Instant,
}

/// A token a managed identity source handed out and hands out again until it nears its
/// expiry or the client asks for it to be replaced (`token_sha256_to_refresh`).
#[derive(Debug, Clone)]
pub(crate) struct IssuedMiToken {
    pub access_token: String,
    pub expires_on: u64,
    pub not_before: u64,
}
