//! Authorities: where tokens come from.
//!
//! An [`Authority`] is a validated, normalised URL of an identity provider:
//!
//! - Microsoft Entra ID ([`AuthorityKind::Aad`]): `https://{cloud host}/{tenant}`, where the
//!   tenant is a tenant id, a domain, or one of `common`, `organizations`, `consumers`, on the
//!   public cloud or a sovereign one (`login.microsoftonline.us`,
//!   `login.partner.microsoftonline.cn`, ...), or on a custom domain;
//! - Azure AD B2C ([`AuthorityKind::B2C`]): `https://{tenant}.b2clogin.com/{tenant}.onmicrosoft.com/{policy}`,
//!   the `/tfp/{tenant}/{policy}` form, and custom domains whose path names a `B2C_1_` or
//!   `B2C_1A_` policy;
//! - AD FS ([`AuthorityKind::Adfs`]): `https://{host}/adfs`;
//! - Entra External ID ([`AuthorityKind::Ciam`]): `https://{tenant}.ciamlogin.com[/{tenant}]`;
//! - any OpenID Connect issuer ([`AuthorityKind::Oidc`]), through [`Authority::parse_oidc`].
//!
//! Only `https` is accepted, except `http` on a loopback host (`127.0.0.0/8`, `::1`,
//! `localhost`) when [`AuthorityOptions::allow_insecure_loopback`] is set, for local emulators.
//!
//! The crate-internal `AuthorityResolver` fetches (and caches) the instance discovery answer
//! and the OpenID Connect metadata of an authority.

mod resolver;
#[cfg(test)]
mod tests;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use url::{Host, Url};

use crate::error::{Error, codes};

pub(crate) use resolver::{AuthorityResolver, Metadata};

/// The hosts of Microsoft Entra ID in the public and sovereign clouds. Instance discovery for an
/// authority on one of them asks that host itself; any other host is validated by
/// `login.microsoftonline.com`.
const WELL_KNOWN_ENTRA_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
    "login.chinacloudapi.cn",
    "login.microsoftonline.de",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
    "login.usgovcloudapi.net",
    "login-us.microsoftonline.com",
];

/// The host suffixes of Azure AD B2C.
const B2C_HOST_SUFFIXES: &[&str] = &[
    ".b2clogin.com",
    ".b2clogin.cn",
    ".b2clogin.us",
    ".b2clogin.de",
];

/// The host suffix of Entra External ID (CIAM).
const CIAM_HOST_SUFFIX: &str = ".ciamlogin.com";

/// The Entra tenants that name no particular tenant.
const TENANTLESS: &[&str] = &["common", "organizations", "consumers"];

/// What kind of identity provider an [`Authority`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthorityKind {
    /// Microsoft Entra ID (formerly Azure AD), in any cloud or on a custom domain.
    Aad,
    /// Azure AD B2C: the path names a tenant and a user flow or custom policy.
    B2C,
    /// Active Directory Federation Services (path `/adfs`).
    Adfs,
    /// Microsoft Entra External ID for customers (`*.ciamlogin.com`).
    Ciam,
    /// A generic OpenID Connect issuer.
    Oidc,
}

impl AuthorityKind {
    /// Whether this is one of Microsoft Entra's own kinds, whose tenant can be swapped and
    /// whose device code endpoint is known ([`Self::Aad`] and [`Self::Ciam`]).
    fn is_entra(self) -> bool {
        matches!(self, AuthorityKind::Aad | AuthorityKind::Ciam)
    }
}

/// Options for parsing an authority.
#[derive(Debug, Clone, Default)]
pub struct AuthorityOptions {
    /// Accept `http://` authorities on loopback hosts (`127.0.0.0/8`, `::1`, `localhost`), for
    /// local emulators and tests. `http` on any other host is always refused.
    pub allow_insecure_loopback: bool,
}

/// Whether `tenant` can be a tenant: a tenant id or a domain name (letters, digits, `.`, `-`,
/// `_`), not empty.
pub(crate) fn is_tenant_name(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

/// A validated, normalised authority URL.
///
/// Two authorities are equal when they are of the same kind and their normalised URLs match,
/// ignoring case in the path (tenant and policy names are case-insensitive); a generic OIDC
/// issuer is compared exactly. The tenant is kept as it was given.
#[derive(Debug, Clone)]
pub struct Authority {
    url: Url,
    kind: AuthorityKind,
    tenant: String,
}

fn invalid(input: &str, why: impl fmt::Display) -> Error {
    Error::client(
        codes::INVALID_AUTHORITY,
        format!("`{}` is not a valid authority: {why}", shorten(input)),
    )
}

/// Keeps messages readable when the input is huge.
fn shorten(s: &str) -> String {
    const MAX: usize = 200;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// Whether a host is loopback: `127.0.0.0/8`, `::1` (also IPv4-mapped) or `localhost`.
fn is_loopback_host(host: Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => {
            ip.is_loopback()
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| IpAddr::V4(v4).is_loopback())
        }
    }
}

/// Parses and checks what every authority must satisfy: an absolute `https` URL (or `http` on
/// loopback with the opt-in), a host, no user info, no query, no fragment. Returns the URL and
/// its non-empty path segments (trailing slashes removed).
fn parse_common(input: &str, options: &AuthorityOptions) -> Result<(Url, Vec<String>), Error> {
    let trimmed = input.trim();
    let url = Url::parse(trimmed).map_err(|e| invalid(input, e))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = url.host().is_some_and(is_loopback_host);
            if !loopback || !options.allow_insecure_loopback {
                let why = if loopback {
                    "http is only allowed for a loopback host when `allow_insecure_loopback` is set"
                } else {
                    "http is only allowed for a loopback host (127.0.0.0/8, ::1, localhost); use https"
                };
                return Err(Error::client(
                    codes::INSECURE_AUTHORITY,
                    format!("`{}` is an insecure authority: {why}", shorten(input)),
                ));
            }
        }
        other => {
            return Err(invalid(
                input,
                format_args!("the scheme `{other}` is not https"),
            ));
        }
    }
    if url.host().is_none() {
        return Err(invalid(input, "it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(input, "it must not contain user info"));
    }
    if url.query().is_some() {
        return Err(invalid(input, "it must not have a query string"));
    }
    if url.fragment().is_some() {
        return Err(invalid(input, "it must not have a fragment"));
    }
    let path = url.path().trim_end_matches('/');
    let segments: Vec<String> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').skip(1).map(str::to_owned).collect()
    };
    if segments.iter().any(String::is_empty) {
        return Err(invalid(input, "its path has an empty segment"));
    }
    Ok((url, segments))
}

fn is_b2c_policy(segment: &str) -> bool {
    let s = segment.to_ascii_lowercase();
    s.starts_with("b2c_1_") || s.starts_with("b2c_1a_")
}

impl Authority {
    /// Parses an Entra-style authority: Entra ID (any cloud, any tenant form), B2C, AD FS or
    /// CIAM, as the URL says.
    ///
    /// Trailing slashes are removed; for Entra and AD FS only the first path segment (the
    /// tenant, or `adfs`) is kept, for B2C the tenant and the policy (after `/tfp` when
    /// present). For CIAM without a path the tenant defaults to
    /// `{subdomain}.onmicrosoft.com`.
    ///
    /// # Errors
    ///
    /// A [`crate::ErrorKind::Client`] error, before any request:
    /// - `insecure_authority` for `http` on a host that is not loopback, or on a loopback host
    ///   without [`AuthorityOptions::allow_insecure_loopback`];
    /// - `invalid_authority` for anything that is not an absolute URL, another scheme, user
    ///   info, a query or fragment, an empty path segment, no tenant (Entra, AD FS), or no
    ///   policy (B2C).
    pub fn parse(url: &str, options: &AuthorityOptions) -> Result<Self, Error> {
        let (parsed, segments) = parse_common(url, options)?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let first = segments.first().map(String::as_str);

        if let Some(subdomain) = host.strip_suffix(CIAM_HOST_SUFFIX)
            && !subdomain.is_empty()
        {
            let tenant = match first {
                Some(t) => t.to_owned(),
                None => format!("{subdomain}.onmicrosoft.com"),
            };
            return Ok(Self::build(
                parsed,
                AuthorityKind::Ciam,
                &[&tenant],
                tenant.clone(),
            ));
        }

        let b2c_host = B2C_HOST_SUFFIXES
            .iter()
            .any(|suffix| host.strip_suffix(suffix).is_some_and(|s| !s.is_empty()));
        let tfp = first.is_some_and(|s| s.eq_ignore_ascii_case("tfp"));
        let policy_in_path = segments.get(1).is_some_and(|s| is_b2c_policy(s));
        if b2c_host || tfp || policy_in_path {
            let rest = if tfp { &segments[1..] } else { &segments[..] };
            let (Some(tenant), Some(policy)) = (rest.first(), rest.get(1)) else {
                return Err(invalid(
                    url,
                    "a B2C authority needs a tenant and a policy: \
                     https://{tenant}.b2clogin.com/{tenant}.onmicrosoft.com/{policy}",
                ));
            };
            let mut path: Vec<&str> = Vec::with_capacity(3);
            if let (true, Some(t)) = (tfp, first) {
                path.push(t);
            }
            path.push(tenant);
            path.push(policy);
            let tenant = tenant.clone();
            return Ok(Self::build(parsed, AuthorityKind::B2C, &path, tenant));
        }

        let Some(first) = first else {
            return Err(invalid(
                url,
                "it has no tenant; use e.g. https://login.microsoftonline.com/{tenant}, \
                 or `common`, `organizations`, `consumers`",
            ));
        };
        let kind = if first.eq_ignore_ascii_case("adfs") {
            AuthorityKind::Adfs
        } else {
            AuthorityKind::Aad
        };
        let tenant = first.to_owned();
        Ok(Self::build(parsed, kind, &[&tenant], tenant.clone()))
    }

    /// Parses a generic OpenID Connect issuer. Its metadata is at
    /// `<issuer>/.well-known/openid-configuration`; the issuer's path is kept as is (trailing
    /// slashes removed). The tenant is the first path segment, or empty.
    ///
    /// # Errors
    ///
    /// The same `insecure_authority` and `invalid_authority` [`crate::ErrorKind::Client`]
    /// errors as [`Authority::parse`] (a path is not required).
    pub fn parse_oidc(issuer: &str, options: &AuthorityOptions) -> Result<Self, Error> {
        let (parsed, segments) = parse_common(issuer, options)?;
        let tenant = segments.first().cloned().unwrap_or_default();
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        Ok(Self::build(parsed, AuthorityKind::Oidc, &refs, tenant))
    }

    fn build(mut url: Url, kind: AuthorityKind, segments: &[&str], tenant: String) -> Self {
        let mut path = String::new();
        for s in segments {
            path.push('/');
            path.push_str(s);
        }
        url.set_path(&path);
        Authority { url, kind, tenant }
    }

    /// What kind of identity provider this is.
    pub fn kind(&self) -> AuthorityKind {
        self.kind
    }

    /// The normalised URL (for an issuer without a path, the URL's path is `/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host, with the port when the URL has a non-default one (`127.0.0.1:41234`): the
    /// environment of the authority when instance discovery does not say otherwise.
    pub fn host(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// The tenant as it was given: a tenant id or domain, `common`, `organizations`,
    /// `consumers`, `adfs`; the B2C tenant (`contoso.onmicrosoft.com`); for a generic issuer,
    /// the first path segment or an empty string.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Whether this Entra authority names no particular tenant (`common`, `organizations`,
    /// `consumers`).
    pub fn is_tenantless(&self) -> bool {
        self.kind == AuthorityKind::Aad
            && TENANTLESS
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&self.tenant))
    }

    /// Whether the host is loopback (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn is_loopback(&self) -> bool {
        self.url.host().is_some_and(is_loopback_host)
    }

    /// The scheme: `https`, or `http` for an allowed loopback authority.
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// The same authority for another tenant (same scheme and host), e.g. the home tenant of
    /// an account signed in through `common`.
    ///
    /// Only Entra authorities ([`AuthorityKind::Aad`], [`AuthorityKind::Ciam`]) have
    /// interchangeable tenants: any other kind, or a tenant that would not make an authority
    /// of the same kind (empty, with `/`, `?`, `#`, ...), returns an unchanged copy.
    pub fn with_tenant(&self, tenant: &str) -> Authority {
        if !self.kind.is_entra() || !is_tenant_name(tenant) {
            return self.clone();
        }
        let candidate = format!("{}://{}/{}", self.scheme(), self.host(), tenant);
        let options = AuthorityOptions {
            allow_insecure_loopback: true,
        };
        match Authority::parse(&candidate, &options) {
            Ok(a) if a.kind == self.kind => a,
            _ => self.clone(),
        }
    }

    /// This authority for another tenant, as a request for that tenant needs it: a `Client`
    /// error `invalid_authority` where [`Authority::with_tenant`] would keep this one (the
    /// tenant is not a tenant id or domain name, or the authority has no tenant to change:
    /// B2C, ADFS, a generic OpenID Connect issuer), so a token is never asked of a tenant
    /// other than the one named.
    pub fn for_tenant(&self, tenant: &str) -> Result<Authority, Error> {
        let swapped = self.with_tenant(tenant);
        if self.kind.is_entra() && swapped.tenant == tenant {
            return Ok(swapped);
        }
        Err(Error::client(
            codes::INVALID_AUTHORITY,
            format!(
                "a request cannot name the tenant {tenant:?} for the authority {self}: only Entra ID authorities take a per-request tenant, and it must be a tenant id or a domain name"
            ),
        ))
    }

    /// The authority as a string without a trailing slash, as [`fmt::Display`] prints it.
    fn base(&self) -> String {
        let path = self.url.path().trim_end_matches('/');
        format!("{}://{}{}", self.scheme(), self.host(), path)
    }

    /// The key under which this authority's discovery results are cached and compared.
    pub(crate) fn key(&self) -> String {
        let base = self.base();
        if self.kind == AuthorityKind::Oidc {
            base
        } else {
            base.to_ascii_lowercase()
        }
    }

    /// Where the OpenID Connect metadata is when instance discovery does not say otherwise.
    pub(crate) fn metadata_url(&self) -> Result<Url, Error> {
        let suffix = match self.kind {
            AuthorityKind::Aad | AuthorityKind::B2C | AuthorityKind::Ciam => {
                "/v2.0/.well-known/openid-configuration"
            }
            AuthorityKind::Adfs | AuthorityKind::Oidc => "/.well-known/openid-configuration",
        };
        let s = format!("{}{suffix}", self.base());
        Url::parse(&s).map_err(|e| invalid(&s, e))
    }

    /// The Entra v2 endpoint under this authority, e.g. `authorize` or `devicecode`.
    pub(crate) fn oauth2_v2_endpoint(&self, name: &str) -> Result<Url, Error> {
        let s = format!("{}/oauth2/v2.0/{name}", self.base());
        Url::parse(&s).map_err(|e| invalid(&s, e))
    }

    /// Whether the host is one of Entra's well-known cloud hosts.
    pub(crate) fn is_well_known_entra_host(&self) -> bool {
        let host = self.url.host_str().unwrap_or_default();
        WELL_KNOWN_ENTRA_HOSTS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }
}

impl PartialEq for Authority {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.key() == other.key()
    }
}

impl Eq for Authority {}

impl Hash for Authority {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.key().hash(state);
    }
}

impl fmt::Display for Authority {
    /// The normalised authority without a trailing slash, e.g.
    /// `https://login.microsoftonline.com/contoso.onmicrosoft.com`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base())
    }
}
