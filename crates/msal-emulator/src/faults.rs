//! Fault injection rules: which requests they match and what they do instead of (or before)
//! the normal answer.

use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of an installed fault rule, as returned by `add_fault` and the admin API.
pub type FaultId = u64;

/// The endpoint a fault rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /{tenant}/oauth2/v2.0/token` (the default for rules).
    #[default]
    Token,
    /// `POST /{tenant}/oauth2/v2.0/devicecode`.
    DeviceCode,
    /// `GET|POST /{tenant}/oauth2/v2.0/authorize`.
    Authorize,
    /// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
    Discovery,
    /// `GET /common/discovery/instance`.
    InstanceDiscovery,
    /// `GET /{tenant}/discovery/v2.0/keys`.
    Keys,
    /// `GET /api/me`, the sample protected API.
    Api,
    /// `GET /metadata/identity/oauth2/token`: the managed identity source of Azure VMs (IMDS).
    Imds,
    /// `GET /msi/app-service/token`: App Service and Functions.
    AppService,
    /// `GET /msi/service-fabric/token` (on the Service Fabric TLS listener).
    ServiceFabric,
    /// `GET /msi/azure-ml/token`: Azure Machine Learning.
    AzureMl,
    /// `POST /msi/cloud-shell/token`: Cloud Shell.
    CloudShell,
    /// `GET /msi/arc/token`: Azure Arc.
    Arc,
    /// Every managed identity source: IMDS, App Service, Service Fabric, Azure ML, Cloud
    /// Shell and Azure Arc.
    ManagedIdentity,
    /// The emulator's service account issuer: `GET /federation/.well-known/openid-configuration`
    /// and `GET /federation/jwks`.
    Federation,
    /// Every endpoint except the admin API.
    Any,
}

impl Endpoint {
    /// Whether this is one of the managed identity sources.
    pub fn is_managed_identity(self) -> bool {
        matches!(
            self,
            Endpoint::Imds
                | Endpoint::AppService
                | Endpoint::ServiceFabric
                | Endpoint::AzureMl
                | Endpoint::CloudShell
                | Endpoint::Arc
        )
    }
}

/// When a client should retry, as sent in the `Retry-After` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP-date>`.
    HttpDate(SystemTime),
}

impl RetryAfter {
    /// The header value as sent on the wire.
    pub fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::HttpDate(t) => httpdate::fmt_http_date(*t),
        }
    }
}

impl Serialize for RetryAfter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RetryAfter::Seconds(s) => serializer.serialize_u64(*s),
            RetryAfter::HttpDate(t) => serializer.serialize_str(&httpdate::fmt_http_date(*t)),
        }
    }
}

impl<'de> Deserialize<'de> for RetryAfter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Num(n) => Ok(RetryAfter::Seconds(n)),
            Raw::Text(s) => {
                if let Ok(n) = s.trim().parse::<u64>() {
                    return Ok(RetryAfter::Seconds(n));
                }
                httpdate::parse_http_date(&s)
                    .map(RetryAfter::HttpDate)
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                            "retry_after must be a number of seconds or an HTTP date, got {s:?}"
                        ))
                    })
            }
        }
    }
}

/// What a matching fault rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with an Entra error from the built-in AADSTS table (see [`crate::aadsts_table`]).
    AadError {
        /// The AADSTS number, e.g. `65001`.
        code: u32,
        /// Overrides the table's `suberror`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suberror: Option<String>,
        /// The `claims` member of the error (a claims challenge, JSON text).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        claims: Option<String>,
    },
    /// Answer with this HTTP status (and an Entra-shaped body unless `body` is given).
    Status {
        /// The HTTP status.
        status: u16,
        /// A `Retry-After` header to send.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<RetryAfter>,
        /// The body to send verbatim instead of the default JSON error.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Wait this long, then answer normally (or apply the next matching rule).
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// Never answer (the connection stays open until the client gives up or the emulator stops).
    Hang,
    /// Close the connection without sending any answer.
    DropConnection,
    /// Answer with a truncated JSON body (`Content-Type: application/json`).
    MalformedJson {
        /// The HTTP status (200 by default).
        #[serde(default = "default_ok")]
        status: u16,
    },
    /// Answer with an HTML page, as a proxy or gateway would.
    HtmlBody {
        /// The HTTP status (502 by default).
        #[serde(default = "default_bad_gateway")]
        status: u16,
    },
    /// Grant everything asked for except this scope; the answer's `scope` shows what was
    /// granted. The scope matches a requested one exactly or as its last path segment
    /// (`Mail.Read` declines `https://graph.microsoft.com/Mail.Read`), case-insensitively.
    DeclineScope {
        /// The scope to leave out.
        scope: String,
    },
    /// On a managed identity source: answer as that source does when the requested identity
    /// does not exist (400; IMDS: `{"error":"invalid_request","error_description":"Identity
    /// not found"}`). No effect on other endpoints.
    IdentityNotFound,
    /// On the Azure Arc source: the challenge is unusable and the key refused. A request
    /// without `Authorization` gets 401 with `WWW-Authenticate: Basic` naming no key file; a
    /// request with one gets 401, whatever the key. No effect on other endpoints.
    ArcChallengeDenied,
}

fn default_ok() -> u16 {
    200
}

fn default_bad_gateway() -> u16 {
    502
}

impl Default for FaultAction {
    fn default() -> Self {
        FaultAction::Status {
            status: 500,
            retry_after: None,
            body: None,
        }
    }
}

/// A fault rule: which requests it matches, what it does, and how often.
///
/// All match fields that are set must match. Rules are tried in the order they were added;
/// `Delay` and `DeclineScope` rules apply and let later rules apply too, any other action
/// ends the search. Deserialization also accepts `{"preset": "<name>", ...}` where the other
/// fields override the preset's (see [`FaultRule::preset`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(try_from = "serde_json::Value", into = "FaultRuleRepr")]
pub struct FaultRule {
    /// The endpoint the rule applies to (`Token` by default).
    pub endpoint: Endpoint,
    /// Matches the token request's `grant_type` exactly.
    pub grant_type: Option<String>,
    /// Matches the request's `client_id` exactly.
    pub client_id: Option<String>,
    /// Matches the user the request is about, case-insensitively (the `username` form field,
    /// or the user of the refresh token / device code / authorization code presented).
    pub username: Option<String>,
    /// Matches when the request's `scope` contains this text, case-insensitively.
    pub scope: Option<String>,
    /// Matches the tenant path segment of the request (as sent, or its tenant id / domain).
    pub tenant: Option<String>,
    /// What to do.
    pub action: FaultAction,
    /// Apply this many times, then never again (`None`: forever).
    pub times: Option<u32>,
    /// Apply with this probability (0.0 to 1.0) each time the rule matches (`None`: always).
    pub probability: Option<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRuleRepr {
    #[serde(default)]
    endpoint: Endpoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default)]
    action: FaultAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    times: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    probability: Option<f64>,
}

impl From<FaultRule> for FaultRuleRepr {
    fn from(r: FaultRule) -> Self {
        FaultRuleRepr {
            endpoint: r.endpoint,
            grant_type: r.grant_type,
            client_id: r.client_id,
            username: r.username,
            scope: r.scope,
            tenant: r.tenant,
            action: r.action,
            times: r.times,
            probability: r.probability,
        }
    }
}

impl From<FaultRuleRepr> for FaultRule {
    fn from(r: FaultRuleRepr) -> Self {
        FaultRule {
            endpoint: r.endpoint,
            grant_type: r.grant_type,
            client_id: r.client_id,
            username: r.username,
            scope: r.scope,
            tenant: r.tenant,
            action: r.action,
            times: r.times,
            probability: r.probability,
        }
    }
}

impl TryFrom<serde_json::Value> for FaultRule {
    type Error = String;

    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        let serde_json::Value::Object(mut map) = value else {
            return Err("a fault rule must be a table/object".into());
        };
        let base = match map.remove("preset") {
            None => serde_json::Map::new(),
            Some(serde_json::Value::String(name)) => {
                let preset = FaultRule::preset(&name).ok_or_else(|| {
                    format!(
                        "unknown fault preset {name:?}; known presets: {}",
                        PRESET_NAMES
                            .iter()
                            .chain(MANAGED_IDENTITY_PRESET_NAMES)
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
                match serde_json::to_value(FaultRuleRepr::from(preset)) {
                    Ok(serde_json::Value::Object(m)) => m,
                    _ => return Err("internal error serializing a preset".into()),
                }
            }
            Some(_) => return Err("preset must be a string".into()),
        };
        let mut merged = base;
        for (k, v) in map {
            merged.insert(k, v);
        }
        let repr: FaultRuleRepr =
            serde_json::from_value(serde_json::Value::Object(merged)).map_err(|e| e.to_string())?;
        if let Some(p) = repr.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("probability must be between 0 and 1, got {p}"));
        }
        Ok(repr.into())
    }
}

/// The presets of the token endpoint, accepted by [`FaultRule::preset`], the admin API and the
/// configuration file (with [`MANAGED_IDENTITY_PRESET_NAMES`]).
pub const PRESET_NAMES: &[&str] = &[
    "consent_required",
    "mfa_required",
    "mfa_enrollment_required",
    "password_expired",
    "conditional_access_blocked",
    "protection_policy_required",
    "throttled",
    "service_unavailable",
    "temporarily_unavailable",
    "server_error",
    "declined_scope",
    "claims_challenge",
    "network_drop",
    "hang",
    "malformed_json",
    "html_proxy_error",
    "grant_not_supported_on_common",
    "client_request_loop",
];

/// The presets of the managed identity sources (they target those endpoints, not the token
/// endpoint), accepted like [`PRESET_NAMES`].
pub const MANAGED_IDENTITY_PRESET_NAMES: &[&str] = &[
    "imds_updating",
    "identity_not_found",
    "arc_challenge_denied",
];

/// The claims challenge used by the `claims_challenge` preset and the sample API.
pub const CLAIMS_CHALLENGE_JSON: &str =
    r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;

impl FaultRule {
    /// A rule with this action on the token endpoint, matching every request, forever.
    pub fn new(action: FaultAction) -> Self {
        FaultRule {
            action,
            ..FaultRule::default()
        }
    }

    /// An `AadError` rule for this AADSTS number.
    pub fn aad_error(code: u32) -> Self {
        Self::new(FaultAction::AadError {
            code,
            suberror: None,
            claims: None,
        })
    }

    /// A `Status` rule with no `Retry-After`.
    pub fn status(status: u16) -> Self {
        Self::new(FaultAction::Status {
            status,
            retry_after: None,
            body: None,
        })
    }

    /// A 429 answer with `Retry-After: <seconds>`.
    pub fn throttled(retry_after_seconds: u64) -> Self {
        Self::new(FaultAction::Status {
            status: 429,
            retry_after: Some(RetryAfter::Seconds(retry_after_seconds)),
            body: None,
        })
    }

    /// A `Delay` rule.
    pub fn delay(ms: u64) -> Self {
        Self::new(FaultAction::Delay { ms })
    }

    /// A `Hang` rule.
    pub fn hang() -> Self {
        Self::new(FaultAction::Hang)
    }

    /// A `DropConnection` rule.
    pub fn drop_connection() -> Self {
        Self::new(FaultAction::DropConnection)
    }

    /// A `MalformedJson` rule with status 200.
    pub fn malformed_json() -> Self {
        Self::new(FaultAction::MalformedJson { status: 200 })
    }

    /// An `HtmlBody` rule.
    pub fn html_body(status: u16) -> Self {
        Self::new(FaultAction::HtmlBody { status })
    }

    /// A `DeclineScope` rule.
    pub fn decline_scope(scope: impl Into<String>) -> Self {
        Self::new(FaultAction::DeclineScope {
            scope: scope.into(),
        })
    }

    /// A named preset (see [`PRESET_NAMES`] and [`MANAGED_IDENTITY_PRESET_NAMES`]); all but the
    /// managed identity ones target the token endpoint, and all apply forever unless narrowed
    /// with the builder methods (e.g. `.times(2)` for an IMDS that is updating for two
    /// requests).
    ///
    /// | preset | action |
    /// | --- | --- |
    /// | `consent_required` | AADSTS65001 |
    /// | `mfa_required` | AADSTS50076 |
    /// | `mfa_enrollment_required` | AADSTS50079 |
    /// | `password_expired` | AADSTS50055 |
    /// | `conditional_access_blocked` | AADSTS53003 |
    /// | `protection_policy_required` | AADSTS53005 |
    /// | `throttled` | 429 with `Retry-After: 5` |
    /// | `service_unavailable` | 503 without `Retry-After` |
    /// | `temporarily_unavailable` | 503 with `Retry-After: 1` |
    /// | `server_error` | 500 |
    /// | `declined_scope` | declines `https://graph.microsoft.com/Mail.Read` |
    /// | `claims_challenge` | AADSTS50158 with claims [`CLAIMS_CHALLENGE_JSON`] |
    /// | `network_drop` | closes the connection without an answer |
    /// | `hang` | never answers |
    /// | `malformed_json` | 200 with a truncated JSON body |
    /// | `html_proxy_error` | 502 with an HTML page |
    /// | `grant_not_supported_on_common` | AADSTS90010 |
    /// | `client_request_loop` | AADSTS50196 |
    /// | `imds_updating` | 410 on IMDS, as IMDS answers while it updates |
    /// | `identity_not_found` | 400 identity not found, on every managed identity source |
    /// | `arc_challenge_denied` | Azure Arc's challenge names no key file and refuses every key |
    pub fn preset(name: &str) -> Option<Self> {
        let rule = match name {
            "consent_required" => Self::aad_error(65001),
            "mfa_required" => Self::aad_error(50076),
            "mfa_enrollment_required" => Self::aad_error(50079),
            "password_expired" => Self::aad_error(50055),
            "conditional_access_blocked" => Self::aad_error(53003),
            "protection_policy_required" => Self::aad_error(53005),
            "throttled" => Self::throttled(5),
            "service_unavailable" => Self::status(503),
            "temporarily_unavailable" => Self::new(FaultAction::Status {
                status: 503,
                retry_after: Some(RetryAfter::Seconds(1)),
                body: None,
            }),
            "server_error" => Self::status(500),
            "declined_scope" => Self::decline_scope("https://graph.microsoft.com/Mail.Read"),
            "claims_challenge" => Self::new(FaultAction::AadError {
                code: 50158,
                suberror: None,
                claims: Some(CLAIMS_CHALLENGE_JSON.to_string()),
            }),
            "network_drop" => Self::drop_connection(),
            "hang" => Self::hang(),
            "malformed_json" => Self::malformed_json(),
            "html_proxy_error" => Self::html_body(502),
            "grant_not_supported_on_common" => Self::aad_error(90010),
            "client_request_loop" => Self::aad_error(50196),
            "imds_updating" => Self::new(FaultAction::Status {
                status: 410,
                retry_after: None,
                body: Some(
                    r#"{"error":"service_unavailable","error_description":"The Instance Metadata Service is being updated. Retry later."}"#
                        .into(),
                ),
            })
            .on(Endpoint::Imds),
            "identity_not_found" => {
                Self::new(FaultAction::IdentityNotFound).on(Endpoint::ManagedIdentity)
            }
            "arc_challenge_denied" => Self::new(FaultAction::ArcChallengeDenied).on(Endpoint::Arc),
            _ => return None,
        };
        Some(rule)
    }

    /// Restricts the rule to one endpoint.
    pub fn on(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Restricts the rule to one `grant_type`.
    pub fn for_grant_type(mut self, grant_type: impl Into<String>) -> Self {
        self.grant_type = Some(grant_type.into());
        self
    }

    /// Restricts the rule to one `client_id`.
    pub fn for_client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Restricts the rule to one user.
    pub fn for_user(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Restricts the rule to requests whose `scope` contains this text.
    pub fn for_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Restricts the rule to one tenant path segment.
    pub fn for_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Applies the rule `n` times, then stops.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Applies the rule once.
    pub fn once(self) -> Self {
        self.times(1)
    }

    /// Applies the rule with probability `p` (clamped to 0..=1).
    pub fn with_probability(mut self, p: f64) -> Self {
        self.probability = Some(if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) });
        self
    }
}

/// The facts about a request that fault rules match on.
#[derive(Debug, Default)]
pub(crate) struct MatchFacts<'a> {
    pub endpoint: Option<Endpoint>,
    pub grant_type: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub username: Option<String>,
    pub scope: Option<&'a str>,
    /// The tenant segment as sent plus its resolved id and domain.
    pub tenant_names: Vec<String>,
}

impl FaultRule {
    pub(crate) fn matches(&self, f: &MatchFacts<'_>) -> bool {
        let Some(ep) = f.endpoint else { return false };
        let endpoint_matches = match self.endpoint {
            Endpoint::Any => true,
            Endpoint::ManagedIdentity => ep.is_managed_identity(),
            mine => mine == ep,
        };
        if !endpoint_matches {
            return false;
        }
        if let Some(g) = &self.grant_type
            && f.grant_type != Some(g.as_str())
        {
            return false;
        }
        if let Some(c) = &self.client_id
            && f.client_id != Some(c.as_str())
        {
            return false;
        }
        if let Some(u) = &self.username
            && !f
                .username
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(u))
        {
            return false;
        }
        if let Some(s) = &self.scope
            && !f
                .scope
                .is_some_and(|x| x.to_ascii_lowercase().contains(&s.to_ascii_lowercase()))
        {
            return false;
        }
        if let Some(t) = &self.tenant
            && !f.tenant_names.iter().any(|n| n.eq_ignore_ascii_case(t))
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_and_round_trip() {
        for name in PRESET_NAMES.iter().chain(MANAGED_IDENTITY_PRESET_NAMES) {
            let rule = FaultRule::preset(name).expect(name);
            let json = serde_json::to_value(&rule).unwrap();
            let back: FaultRule = serde_json::from_value(json).unwrap();
            assert_eq!(back, rule);
        }
        assert!(FaultRule::preset("nope").is_none());
    }

    #[test]
    fn preset_with_overrides() {
        let rule: FaultRule =
            serde_json::from_str(r#"{"preset":"throttled","times":2,"client_id":"abc"}"#).unwrap();
        assert_eq!(rule.times, Some(2));
        assert_eq!(rule.client_id.as_deref(), Some("abc"));
        assert_eq!(
            rule.action,
            FaultAction::Status {
                status: 429,
                retry_after: Some(RetryAfter::Seconds(5)),
                body: None
            }
        );
        let err = serde_json::from_str::<FaultRule>(r#"{"preset":"bogus"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown fault preset"));
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let r: RetryAfter = serde_json::from_str("7").unwrap();
        assert_eq!(r, RetryAfter::Seconds(7));
        let r: RetryAfter = serde_json::from_str(r#""Wed, 21 Oct 2037 07:28:00 GMT""#).unwrap();
        assert_eq!(r.header_value(), "Wed, 21 Oct 2037 07:28:00 GMT");
        assert!(serde_json::from_str::<RetryAfter>(r#""soon""#).is_err());
    }

    #[test]
    fn matching() {
        let rule = FaultRule::aad_error(65001)
            .for_user("Alice@contoso.onmicrosoft.com")
            .for_scope("mail.read");
        let mut facts = MatchFacts {
            endpoint: Some(Endpoint::Token),
            username: Some("alice@contoso.onmicrosoft.com".into()),
            scope: Some("https://graph.microsoft.com/Mail.Read openid"),
            ..MatchFacts::default()
        };
        assert!(rule.matches(&facts));
        facts.scope = Some("User.Read");
        assert!(!rule.matches(&facts));
        facts.endpoint = Some(Endpoint::Discovery);
        assert!(!FaultRule::hang().matches(&facts));
        assert!(FaultRule::hang().on(Endpoint::Any).matches(&facts));
        let mi = FaultRule::preset("identity_not_found").unwrap();
        facts.endpoint = Some(Endpoint::Arc);
        assert!(mi.matches(&facts));
        facts.endpoint = Some(Endpoint::Token);
        assert!(!mi.matches(&facts));
    }
}
