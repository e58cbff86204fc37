//! The emulator's paths as Entra matches them: case-insensitively, whatever the trailing
//! slash, with the tenant segment kept as sent.
//!
//! axum's router matches paths exactly, so the intake layer parses every path with
//! [`Route::parse`] and hands the router the route's [`canonical path`](Route::canonical_path)
//! instead: the spelling the router's table (`router.rs`) uses.

/// The routes the emulator serves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Index,
    ErrorPage,
    Discovery(String),
    InstanceDiscovery,
    Keys(String),
    Token(String),
    DeviceCode(String),
    Authorize(String),
    Logout(String),
    DeviceLogin,
    ApiMe,
    UserRealm(String),
    /// The managed identity sources.
    Imds,
    /// IMDS's location of the VM (`/metadata/instance/compute/location`): regional endpoint
    /// detection.
    ImdsLocation,
    AppService,
    ServiceFabric,
    AzureMl,
    CloudShell,
    Arc,
    /// The service account issuer's metadata and keys.
    FederationDiscovery,
    FederationKeys,
    /// The admin API: the path after `/_emulator`, without its slashes.
    Admin(String),
    NotFound,
}

/// The path every unknown path is given: it matches no route, so the router's fallback
/// answers.
pub(crate) const NOT_FOUND_PATH: &str = "/.not-found";

impl Route {
    /// Matches a request path.
    pub fn parse(path: &str) -> Route {
        if let Some(rest) = admin_rest(path) {
            return Route::Admin(rest.to_string());
        }
        let segs: Vec<&str> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect();
        let t = |s: &str| s.to_string();
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        match l.as_slice() {
            [""] => Route::Index,
            ["error"] => Route::ErrorPage,
            ["devicelogin"] => Route::DeviceLogin,
            ["api", "me"] => Route::ApiMe,
            ["metadata", "identity", "oauth2", "token"] => Route::Imds,
            ["metadata", "instance", "compute", "location"] => Route::ImdsLocation,
            ["msi", "app-service", "token"] => Route::AppService,
            ["msi", "service-fabric", "token"] => Route::ServiceFabric,
            ["msi", "azure-ml", "token"] => Route::AzureMl,
            ["msi", "cloud-shell", "token"] => Route::CloudShell,
            ["msi", "arc", "token"] => Route::Arc,
            // Before the tenants' discovery, which would take `federation` for a tenant.
            ["federation", ".well-known", "openid-configuration"] => Route::FederationDiscovery,
            ["federation", "jwks"] => Route::FederationKeys,
            [_, "v2.0", ".well-known", "openid-configuration"]
            | [_, ".well-known", "openid-configuration"] => Route::Discovery(t(segs[0])),
            [_, "discovery", "instance"] => Route::InstanceDiscovery,
            [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"] => Route::Keys(t(segs[0])),
            [_, "oauth2", "v2.0", "token"] => Route::Token(t(segs[0])),
            [_, "oauth2", "v2.0", "devicecode"] => Route::DeviceCode(t(segs[0])),
            [_, "oauth2", "v2.0", "authorize"] => Route::Authorize(t(segs[0])),
            [_, "oauth2", "v2.0", "logout"] => Route::Logout(t(segs[0])),
            [_, "userrealm", _] => Route::UserRealm(percent_decode(segs[2])),
            _ => Route::NotFound,
        }
    }

    /// The path the router's table has for this route. Tenant segments and the user name are
    /// percent-encoded so that axum's `Path` extractor, which decodes, gives them back exactly
    /// as [`Route::parse`] found them.
    pub fn canonical_path(&self) -> String {
        let e = encode_segment;
        match self {
            Route::Index => "/".into(),
            Route::ErrorPage => "/error".into(),
            Route::DeviceLogin => "/devicelogin".into(),
            Route::ApiMe => "/api/me".into(),
            Route::Imds => "/metadata/identity/oauth2/token".into(),
            Route::ImdsLocation => "/metadata/instance/compute/location".into(),
            Route::AppService => "/msi/app-service/token".into(),
            Route::ServiceFabric => "/msi/service-fabric/token".into(),
            Route::AzureMl => "/msi/azure-ml/token".into(),
            Route::CloudShell => "/msi/cloud-shell/token".into(),
            Route::Arc => "/msi/arc/token".into(),
            Route::FederationDiscovery => "/federation/.well-known/openid-configuration".into(),
            Route::FederationKeys => "/federation/jwks".into(),
            Route::Discovery(t) => format!("/{}/v2.0/.well-known/openid-configuration", e(t)),
            Route::InstanceDiscovery => "/common/discovery/instance".into(),
            Route::Keys(t) => format!("/{}/discovery/v2.0/keys", e(t)),
            Route::Token(t) => format!("/{}/oauth2/v2.0/token", e(t)),
            Route::DeviceCode(t) => format!("/{}/oauth2/v2.0/devicecode", e(t)),
            Route::Authorize(t) => format!("/{}/oauth2/v2.0/authorize", e(t)),
            Route::Logout(t) => format!("/{}/oauth2/v2.0/logout", e(t)),
            Route::UserRealm(u) => format!("/common/userrealm/{}", e(u)),
            Route::Admin(rest) if rest.is_empty() => "/_emulator".into(),
            Route::Admin(rest) => format!("/_emulator/{rest}"),
            Route::NotFound => NOT_FOUND_PATH.into(),
        }
    }

    /// The tenant path segment, as sent.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Route::Discovery(t)
            | Route::Keys(t)
            | Route::Token(t)
            | Route::DeviceCode(t)
            | Route::Authorize(t)
            | Route::Logout(t) => Some(t),
            _ => None,
        }
    }
}

/// The admin API's part of a path (`/_emulator/faults/` gives `faults`), or `None` when the
/// path is not the admin API's.
pub(crate) fn admin_rest(path: &str) -> Option<&str> {
    (path == "/_emulator" || path.starts_with("/_emulator/"))
        .then(|| path.trim_start_matches("/_emulator").trim_matches('/'))
}

/// Decodes `%XX` escapes of a path segment (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes every byte but ASCII letters, digits and `-._~`.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("/contoso/v2.0/.well-known/openid-configuration"),
            Route::Discovery("contoso".into())
        );
        assert_eq!(
            Route::parse("/Common/OAuth2/v2.0/token"),
            Route::Token("Common".into())
        );
        assert_eq!(Route::parse("/"), Route::Index);
        assert_eq!(Route::parse("/x/y"), Route::NotFound);
        assert_eq!(
            Route::parse("/common/discovery/instance"),
            Route::InstanceDiscovery
        );
        assert_eq!(
            Route::parse("/common/UserRealm/bob%40contoso.onmicrosoft.com"),
            Route::UserRealm("bob@contoso.onmicrosoft.com".into())
        );
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(Route::parse("/metadata/identity/oauth2/token"), Route::Imds);
        assert_eq!(
            Route::parse("/metadata/instance/compute/location"),
            Route::ImdsLocation
        );
        assert_eq!(Route::parse("/MSI/Arc/token/"), Route::Arc);
        assert_eq!(
            Route::parse("/federation/.well-known/openid-configuration"),
            Route::FederationDiscovery
        );
    }

    #[test]
    fn admin_paths() {
        assert_eq!(Route::parse("/_emulator"), Route::Admin(String::new()));
        assert_eq!(
            Route::parse("/_emulator//faults/1/"),
            Route::Admin("faults/1".into())
        );
        assert_eq!(Route::parse("/_emulatorX"), Route::NotFound);
        assert_eq!(Route::parse("/_Emulator/faults"), Route::NotFound);
    }

    #[test]
    fn canonical_paths_keep_segments_exactly() {
        assert_eq!(
            Route::parse("/Con%74oso/OAuth2/V2.0/Token/").canonical_path(),
            "/Con%2574oso/oauth2/v2.0/token"
        );
        assert_eq!(
            Route::UserRealm("a/b@c d".into()).canonical_path(),
            "/common/userrealm/a%2Fb%40c%20d"
        );
        assert_eq!(Route::NotFound.canonical_path(), NOT_FOUND_PATH);
        assert_eq!(Route::Admin(String::new()).canonical_path(), "/_emulator");
        assert_eq!(
            Route::parse("/_emulator/_emulator/faults").canonical_path(),
            "/_emulator/faults"
        );
    }
}
