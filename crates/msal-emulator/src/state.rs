//! The emulator's mutable state: the live directory, fault rules and issued grants.

use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::{
    AppConfig, EmulatorConfig, EmulatorOptions, ManagedIdentitiesConfig, ManagedIdentityConfig,
    ResourceConfig, TenantConfig, UserConfig,
};
use crate::crypto::ParsedCert;
use crate::faults::{FaultAction, FaultId, FaultRule, MatchFacts};
use crate::records::{
    ArcKey, CodeGrant, DeviceGrant, DeviceStatus, Granted, IssuedMiToken, MiSelector, OIDC_SCOPES,
    RefreshGrant, ScopeRequest, Session, Spent, Txn,
};
use crate::wire::AadErr;

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random URL-safe token of `bytes` random bytes.
pub(crate) fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let buf: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// An app with its certificates parsed.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub cfg: AppConfig,
    pub certs: Vec<ParsedCert>,
}

/// How a tenant path segment resolved.
#[derive(Debug, Clone)]
pub(crate) enum TenantSel {
    Specific(TenantConfig),
    Common,
    Organizations,
    Consumers,
}

/// An installed fault rule.
#[derive(Debug, Clone)]
pub(crate) struct InstalledFault {
    pub id: FaultId,
    pub rule: FaultRule,
    pub remaining: Option<u32>,
}

/// What the fault rules decided for one request.
#[derive(Debug, Default)]
pub(crate) struct FaultEffects {
    pub delay_ms: u64,
    pub declined: Vec<String>,
    pub terminal: Option<FaultAction>,
}

/// All mutable state.
pub(crate) struct State {
    pub tenants: Vec<TenantConfig>,
    pub apps: Vec<App>,
    pub users: Vec<UserConfig>,
    pub resources: Vec<ResourceConfig>,
    pub options: EmulatorOptions,
    pub faults: Vec<InstalledFault>,
    pub next_fault_id: FaultId,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub spent_refresh_tokens: HashMap<String, Spent>,
    pub codes: HashMap<String, CodeGrant>,
    pub used_codes: HashSet<String>,
    pub device_codes: HashMap<String, DeviceGrant>,
    pub sessions: HashMap<String, Session>,
    pub txns: HashMap<String, Txn>,
    /// (username lower case, client id, full scope lower case).
    pub consents: HashSet<(String, String, String)>,
    pub managed_identities: ManagedIdentitiesConfig,
    /// Azure Arc challenge keys by content.
    pub arc_keys: HashMap<String, ArcKey>,
    /// Tokens of the managed identity sources that cache them, by (source, identity client
    /// id, resource).
    pub mi_tokens: HashMap<(&'static str, String, String), IssuedMiToken>,
}

/// The tenant id of personal Microsoft accounts, which Entra names for `consumers`.
const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

impl State {
    pub fn new(cfg: &EmulatorConfig) -> Result<Self, String> {
        let mut st = State {
            tenants: cfg.tenants.clone(),
            apps: Vec::new(),
            users: cfg.users.clone(),
            resources: cfg.resources.clone(),
            options: cfg.options.clone(),
            faults: Vec::new(),
            next_fault_id: 1,
            refresh_tokens: HashMap::new(),
            spent_refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            used_codes: HashSet::new(),
            device_codes: HashMap::new(),
            sessions: HashMap::new(),
            txns: HashMap::new(),
            consents: HashSet::new(),
            managed_identities: cfg.managed_identities.clone(),
            arc_keys: HashMap::new(),
            mi_tokens: HashMap::new(),
        };
        for a in &cfg.apps {
            st.upsert_app(a.clone())?;
        }
        for f in &cfg.faults {
            st.add_fault(f.clone());
        }
        Ok(st)
    }

    pub fn upsert_app(&mut self, cfg: AppConfig) -> Result<(), String> {
        if cfg.client_id.trim().is_empty() {
            return Err("client_id must not be empty".into());
        }
        let mut certs = Vec::new();
        for pem in &cfg.certificates {
            certs.extend(crate::crypto::parse_certificates(pem)?);
        }
        self.apps.retain(|a| a.cfg.client_id != cfg.client_id);
        self.apps.push(App { cfg, certs });
        Ok(())
    }

    pub fn upsert_user(&mut self, user: UserConfig) -> Result<(), String> {
        if user.username.trim().is_empty() {
            return Err("username must not be empty".into());
        }
        if let Some(t) = &user.tenant
            && self.tenant_by_name(t).is_none()
        {
            return Err(format!("unknown tenant {t:?}"));
        }
        self.users
            .retain(|u| !u.username.eq_ignore_ascii_case(&user.username));
        self.users.push(user);
        Ok(())
    }

    pub fn add_fault(&mut self, rule: FaultRule) -> FaultId {
        let id = self.next_fault_id;
        self.next_fault_id += 1;
        self.faults.push(InstalledFault {
            id,
            remaining: rule.times,
            rule,
        });
        id
    }

    fn tenant_by_name(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(name) || t.domain.eq_ignore_ascii_case(name))
    }

    /// Resolves a tenant path segment.
    pub fn resolve_tenant(&self, seg: &str) -> Option<TenantSel> {
        match seg.to_ascii_lowercase().as_str() {
            "common" => Some(TenantSel::Common),
            "organizations" => Some(TenantSel::Organizations),
            "consumers" => Some(TenantSel::Consumers),
            _ => self.tenant_by_name(seg).cloned().map(TenantSel::Specific),
        }
    }

    /// The `issuer` of a tenant segment's metadata, as Entra names it: `{base}{tenant id}/v2.0`,
    /// with the consumers tenant's id for `consumers` and the `{tenantid}` placeholder for
    /// `common` and `organizations`. `None` for an unknown tenant.
    pub fn issuer(&self, base: &str, seg: &str) -> Option<String> {
        let tid = match self.resolve_tenant(seg)? {
            TenantSel::Specific(t) => t.id,
            TenantSel::Consumers => CONSUMERS_TENANT_ID.to_string(),
            TenantSel::Common | TenantSel::Organizations => "{tenantid}".to_string(),
        };
        Some(format!("{base}{tid}/v2.0"))
    }

    /// The tenant that apps and users without one belong to.
    pub fn home_tenant(&self, name: Option<&str>) -> Option<TenantConfig> {
        match name {
            Some(n) => self.tenant_by_name(n).cloned(),
            None => self.tenants.first().cloned(),
        }
    }

    pub fn app(&self, client_id: &str) -> Option<App> {
        self.apps
            .iter()
            .find(|a| a.cfg.client_id.eq_ignore_ascii_case(client_id))
            .cloned()
    }

    /// The managed identity a request names, if the directory has it.
    pub fn managed_identity(&self, sel: &MiSelector) -> Option<ManagedIdentityConfig> {
        let mis = &self.managed_identities;
        let user = |f: &dyn Fn(&ManagedIdentityConfig) -> &str, v: &str| {
            mis.user_assigned
                .iter()
                .find(|m| f(m).eq_ignore_ascii_case(v))
                .cloned()
        };
        match sel {
            MiSelector::SystemAssigned => mis.system_assigned.clone(),
            MiSelector::ClientId(v) => user(&|m| &m.client_id, v),
            MiSelector::ObjectId(v) => user(&|m| &m.object_id, v),
            MiSelector::ResourceId(v) => user(&|m| &m.resource_id, v),
        }
    }

    pub fn user(&self, username: &str) -> Option<UserConfig> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
            .cloned()
    }

    pub fn user_by_oid(&self, oid: &str) -> Option<UserConfig> {
        self.users
            .iter()
            .find(|u| u.oid().eq_ignore_ascii_case(oid))
            .cloned()
    }

    /// Whether a user may sign in through this tenant selection.
    pub fn user_in(&self, user: &UserConfig, sel: &TenantSel) -> bool {
        match sel {
            TenantSel::Consumers => false,
            TenantSel::Common | TenantSel::Organizations => true,
            TenantSel::Specific(t) => self
                .home_tenant(user.tenant.as_deref())
                .is_some_and(|h| h.id == t.id),
        }
    }

    /// Resolves a space separated `scope` parameter.
    pub fn parse_scopes(&self, scope: &str) -> Result<ScopeRequest, AadErr> {
        let mut oidc = Vec::new();
        let mut resource: Option<ResourceConfig> = None;
        let mut scopes: Vec<String> = Vec::new();
        let mut is_default = false;
        for raw in scope.split_whitespace() {
            let lower = raw.to_ascii_lowercase();
            if OIDC_SCOPES.contains(&lower.as_str()) {
                if !oidc.contains(&lower) {
                    oidc.push(lower);
                }
                continue;
            }
            let (res, rest) = self.split_scope(raw)?;
            if let Some(r) = &resource
                && r.identifier != res.identifier
            {
                return Err(AadErr::new(28000));
            }
            if rest.eq_ignore_ascii_case(".default") {
                is_default = true;
            } else {
                let Some(canon) = res.scopes.iter().find(|s| s.eq_ignore_ascii_case(rest)) else {
                    return Err(AadErr::new(70011).desc(format!(
                        "The provided value for the input parameter 'scope' is not valid. The scope '{raw}' does not exist on the resource '{}'.",
                        res.identifier
                    )));
                };
                if !scopes.contains(canon) {
                    scopes.push(canon.clone());
                }
            }
            resource = Some(res);
        }
        if is_default && !scopes.is_empty() {
            return Err(AadErr::new(70011).desc(
                "The provided value for the input parameter 'scope' is not valid. The scope '.default' cannot be combined with other scopes of the same resource.",
            ));
        }
        let resource_explicit = resource.is_some();
        let resource = match resource {
            Some(r) => r,
            None => {
                if oidc.is_empty() {
                    return Err(AadErr::new(900144)
                        .desc("The request body must contain the following parameter: 'scope'."));
                }
                self.default_resource().ok_or_else(|| AadErr::new(500011))?
            }
        };
        Ok(ScopeRequest {
            resource,
            scopes,
            is_default,
            oidc,
            resource_explicit,
        })
    }

    fn default_resource(&self) -> Option<ResourceConfig> {
        self.resources
            .iter()
            .find(|r| {
                r.identifier
                    .eq_ignore_ascii_case(crate::config::defaults::GRAPH_RESOURCE)
            })
            .or_else(|| self.resources.first())
            .cloned()
    }

    /// The resource a full scope string names, and the rest after the slash.
    pub fn split_scope<'a>(&self, raw: &'a str) -> Result<(ResourceConfig, &'a str), AadErr> {
        let lower = raw.to_ascii_lowercase();
        let mut best: Option<(&ResourceConfig, usize)> = None;
        for r in &self.resources {
            let mut names = vec![r.identifier.to_ascii_lowercase()];
            if let Some(app) = &r.app_id {
                names.push(app.to_ascii_lowercase());
                names.push(format!("api://{}", app.to_ascii_lowercase()));
            }
            for n in names {
                let n = n.trim_end_matches('/').to_string();
                if lower.len() > n.len() + 1
                    && lower.starts_with(&n)
                    && lower.as_bytes()[n.len()] == b'/'
                    && best.is_none_or(|(_, l)| n.len() > l)
                {
                    best = Some((r, n.len()));
                }
            }
        }
        if let Some((r, len)) = best {
            return Ok((r.clone(), &raw[len + 1..]));
        }
        if raw.contains('/') || raw.contains(':') {
            return Err(AadErr::new(500011).desc(format!(
                "The resource principal named {} was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.",
                raw.rsplit_once('/').map(|(r, _)| r).unwrap_or(raw)
            )));
        }
        match self.default_resource() {
            Some(r) => Ok((r, raw)),
            None => Err(AadErr::new(70011)),
        }
    }

    /// Whether the user consented (or an admin consented) to a full scope for an app.
    pub fn consented(&self, user: &UserConfig, app: &App, full_scope: &str) -> bool {
        let fs = full_scope.to_ascii_lowercase();
        user.consent_given
            || user
                .consented_apps
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&app.cfg.client_id))
            || app
                .cfg
                .admin_consented_scopes
                .iter()
                .any(|s| s.eq_ignore_ascii_case(full_scope))
            || self.consents.contains(&(
                user.username.to_ascii_lowercase(),
                app.cfg.client_id.clone(),
                fs,
            ))
    }

    /// Records consent for full scopes.
    pub fn record_consent(&mut self, username: &str, client_id: &str, full_scopes: &[String]) {
        for s in full_scopes {
            self.consents.insert((
                username.to_ascii_lowercase(),
                client_id.to_string(),
                s.to_ascii_lowercase(),
            ));
        }
    }

    /// Full scopes of a request that still need the user's consent.
    pub fn missing_consent(&self, user: &UserConfig, app: &App, req: &ScopeRequest) -> Vec<String> {
        if !req.resource_explicit {
            return Vec::new();
        }
        let ident = &req.resource.identifier;
        if req.is_default {
            let any = req
                .resource
                .scopes
                .iter()
                .any(|s| self.consented(user, app, &format!("{ident}/{s}")));
            return if any {
                Vec::new()
            } else {
                vec![format!("{ident}/.default")]
            };
        }
        req.scopes
            .iter()
            .map(|s| format!("{ident}/{s}"))
            .filter(|full| !self.consented(user, app, full))
            .collect()
    }

    /// Grants the scopes of a request to a user and app: an error when consent is missing
    /// (unless `implicit_consent`), declined scopes left out.
    pub fn grant(
        &self,
        user: &UserConfig,
        app: &App,
        req: &ScopeRequest,
        declined: &[String],
        implicit_consent: bool,
    ) -> Result<Granted, AadErr> {
        if !implicit_consent && !self.missing_consent(user, app, req).is_empty() {
            return Err(AadErr::new(65001).desc(format!(
                "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource.",
                app.cfg.client_id, app.cfg.name
            )));
        }
        let ident = &req.resource.identifier;
        let scopes: Vec<String> = if req.is_default {
            req.resource
                .scopes
                .iter()
                .filter(|s| implicit_consent || self.consented(user, app, &format!("{ident}/{s}")))
                .cloned()
                .collect()
        } else {
            req.scopes.clone()
        };
        Ok(Granted {
            resource: req.resource.clone(),
            scopes,
            oidc: req.oidc.clone(),
        }
        .without(declined))
    }

    /// Applies the fault rules to a request.
    pub fn evaluate_faults(&mut self, facts: &MatchFacts<'_>) -> FaultEffects {
        let mut effects = FaultEffects::default();
        for f in &mut self.faults {
            if f.remaining == Some(0) || !f.rule.matches(facts) {
                continue;
            }
            if let Some(p) = f.rule.probability
                && rand::random::<f64>() >= p
            {
                continue;
            }
            if let Some(n) = &mut f.remaining {
                *n -= 1;
            }
            match &f.rule.action {
                FaultAction::Delay { ms } => effects.delay_ms += ms,
                FaultAction::DeclineScope { scope } => effects.declined.push(scope.clone()),
                other => {
                    effects.terminal = Some(other.clone());
                    break;
                }
            }
        }
        effects
    }

    /// Drops expired transient grants so memory stays bounded.
    pub fn purge(&mut self) {
        let now = now_secs();
        let now_i = Instant::now();
        self.codes.retain(|_, c| c.expires_at + 3600 > now);
        if self.used_codes.len() > 100_000 {
            self.used_codes.clear();
        }
        self.device_codes
            .retain(|_, d| d.expires_at + std::time::Duration::from_secs(3600) > now_i);
        self.txns.retain(|_, t| t.created + 3600 > now);
        if self.spent_refresh_tokens.len() > 100_000 {
            self.spent_refresh_tokens.clear();
        }
    }

    /// Invalidates every refresh token of a user.
    pub fn revoke_refresh_tokens(&mut self, username: &str) {
        let ids: Vec<String> = self
            .refresh_tokens
            .iter()
            .filter(|(_, g)| g.username.eq_ignore_ascii_case(username))
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            self.refresh_tokens.remove(&id);
            self.spent_refresh_tokens.insert(id, Spent::Revoked);
        }
        let lower = username.to_ascii_lowercase();
        self.sessions.retain(|_, s| s.username != lower);
    }

    /// Approves a pending device code.
    pub fn approve_device_code(&mut self, user_code: &str, username: &str) -> Result<(), String> {
        let user = self
            .user(username)
            .ok_or_else(|| format!("unknown user {username:?}"))?;
        let (device_code, grant) = self
            .device_by_user_code(user_code)
            .ok_or_else(|| format!("unknown user code {user_code:?}"))?;
        if grant.expires_at <= Instant::now() {
            return Err("the device code has expired".into());
        }
        if grant.status != DeviceStatus::Pending {
            return Err("the device code was already approved or denied".into());
        }
        if let Some(app) = self.app(&grant.client_id)
            && let Ok(req) = self.parse_scopes(&grant.scope)
        {
            let missing = self.missing_consent(&user, &app, &req);
            self.record_consent(&user.username, &app.cfg.client_id, &missing);
        }
        if let Some(g) = self.device_codes.get_mut(&device_code) {
            g.status = DeviceStatus::Approved {
                username: user.username.to_ascii_lowercase(),
                mfa: true,
            };
        }
        Ok(())
    }

    /// Denies a pending device code.
    pub fn deny_device_code(&mut self, user_code: &str) -> Result<(), String> {
        let (device_code, grant) = self
            .device_by_user_code(user_code)
            .ok_or_else(|| format!("unknown user code {user_code:?}"))?;
        if grant.status != DeviceStatus::Pending {
            return Err("the device code was already approved or denied".into());
        }
        if let Some(g) = self.device_codes.get_mut(&device_code) {
            g.status = DeviceStatus::Denied;
        }
        Ok(())
    }

    pub fn device_by_user_code(&self, user_code: &str) -> Option<(String, DeviceGrant)> {
        let norm = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_uppercase())
                .collect()
        };
        let wanted = norm(user_code);
        if wanted.is_empty() {
            return None;
        }
        self.device_codes
            .iter()
            .find(|(_, g)| norm(&g.user_code) == wanted)
            .map(|(k, g)| (k.clone(), g.clone()))
    }
}
