//! Regional endpoints of Microsoft Entra ID (ESTS-R) for the app tokens of confidential
//! clients, as MSAL .NET, Python, Go and Node do them.
//!
//! - Only the client credentials grant goes to the region: user flows (public client,
//!   on-behalf-of, auth code, refresh) stay on the global host, as in every MSAL.
//! - Only Entra ID authorities ([`crate::AuthorityKind::Aad`]) are regionalised; B2C, AD FS,
//!   CIAM and generic OpenID Connect issuers keep their endpoints (MSAL skips them too).
//! - The regional host is `{region}.login.microsoft.com` for the public cloud
//!   (`login.microsoftonline.com`, `login.microsoft.com`, `login.windows.net`,
//!   `sts.windows.net`), `{region}.{host}` for any other cloud. The request goes to the token
//!   endpoint of the authority's metadata with its host replaced by that one.
//! - Tokens are cached under the global environment (the metadata's, as for any request), so
//!   an app that uses a region and one that does not share them (ESTS-R tokens are the same).
//! - [`Region::AutoDetect`] looks once per application, the answer ("none" included)
//!   remembered: `REGION_NAME` first, then the instance metadata service of an Azure VM
//!   (`GET /metadata/instance/compute/location?format=text&api-version=2021-01-01` with
//!   `Metadata: true`, bounded by a short timeout). Nothing found: the global endpoint, with a
//!   warning in the log.
//! - A region is a DNS label (it becomes part of a host name): a named region that is not one
//!   is refused by `build()`; a detected one that is not is ignored, with a warning.
//!
//! Loopback authorities (local emulators, tests): for `localhost` the regional host is
//! `{region}.localhost` (loopback by RFC 6761), on the same port; an IP address has no
//! subdomain, so an authority on `127.0.0.1` stays global (logged). A test points
//! `{region}.localhost` at its server with its own [`crate::http::HttpClient`] (which can keep
//! the regional `Host` header, so the server sees which host was asked): the library has no
//! test hook of its own, and the real computation of the regional host is what is tested.

use std::time::Duration;

use url::Url;

use crate::authority::AuthorityKind;
use crate::error::{Error, codes};
use crate::http::{HeaderValue, HttpClient, HttpRequest, StatusCode};

/// The environment variable that names the region (as in every MSAL).
pub const REGION_NAME_VAR: &str = "REGION_NAME";

/// The instance metadata service of Azure VMs.
const DEFAULT_IMDS: &str = "http://169.254.169.254";

/// The path and query of the VM's location on the instance metadata service.
const IMDS_LOCATION: &str =
    "/metadata/instance/compute/location?format=text&api-version=2021-01-01";

/// How long detection waits for the instance metadata service (MSAL waits 2 s): off Azure
/// nothing answers at its address, and a token request must not wait long for that.
pub const DEFAULT_IMDS_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest region name: one DNS label.
const MAX_REGION_LEN: usize = 63;

/// The hosts of Entra's public cloud, whose regional host is `{region}.login.microsoft.com`.
const PUBLIC_CLOUD_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
];

/// The Azure region whose Entra ID endpoint (ESTS-R) a confidential client's app tokens are
/// asked of; see
/// [`azure_region`](crate::ConfidentialClientApplicationBuilder::azure_region).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Region {
    /// This region, e.g. `westus2` (spaces removed, lower-cased; it must then be a DNS label:
    /// letters, digits and `-`, at most 63 characters).
    Named(String),
    /// The region the program runs in: `REGION_NAME`, else the instance metadata service of
    /// an Azure VM; the global endpoint when neither tells (see [`RegionDetection`]).
    AutoDetect,
}

impl Region {
    /// [`Region::Named`].
    pub fn named(region: impl Into<String>) -> Self {
        Region::Named(region.into())
    }
}

/// Where [`Region::AutoDetect`] looks: the process's environment and the instance metadata
/// service at `http://169.254.169.254` by default, with a 2 s timeout.
#[derive(Debug, Clone)]
pub struct RegionDetection {
    /// `REGION_NAME` from the variables given (`Some(None)`: not among them); `None`: the
    /// process's. Only that one is kept: the variables may be a whole environment, secrets
    /// included, and the app's `Debug` shows this.
    given_region_name: Option<Option<String>>,
    imds: String,
    timeout: Duration,
}

impl Default for RegionDetection {
    fn default() -> Self {
        RegionDetection {
            given_region_name: None,
            imds: DEFAULT_IMDS.to_owned(),
            timeout: DEFAULT_IMDS_TIMEOUT,
        }
    }
}

impl RegionDetection {
    /// The defaults: the process's `REGION_NAME`, then `http://169.254.169.254`, 2 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `REGION_NAME` from these variables instead of the process's environment (hosts
    /// that keep their configuration elsewhere, tests).
    pub fn vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let region_name = vars.into_iter().find_map(|(k, v)| {
            let k: String = k.into();
            (k == REGION_NAME_VAR).then(|| v.into())
        });
        self.given_region_name = Some(region_name);
        self
    }

    /// Asks the instance metadata service at this base URL (`http(s)://host[:port]`) instead
    /// of `http://169.254.169.254`, e.g. a proxy of it or a test's server. A URL that is not
    /// `http` or `https` is a `Client` error `invalid_configuration` from `build()`.
    pub fn imds_endpoint(mut self, base: impl Into<String>) -> Self {
        self.imds = base.into();
        self
    }

    /// How long to wait for the instance metadata service (default 2 s); past it, the region
    /// is taken as unknown.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `REGION_NAME`, from the variables given or the process's environment.
    fn region_name(&self) -> Option<String> {
        match &self.given_region_name {
            Some(given) => given.clone(),
            None => std::env::var(REGION_NAME_VAR).ok(),
        }
    }

    /// The URL of the VM's location, or why the base is not one.
    fn location_url(&self) -> Result<Url, Error> {
        let bad = |why: &str| {
            Error::client(
                codes::INVALID_CONFIGURATION,
                format!("the instance metadata endpoint for region detection {why}"),
            )
        };
        let base = Url::parse(self.imds.trim()).map_err(|_| bad("is not a URL"))?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(bad("is not an http(s) URL with a host"));
        }
        let s = format!(
            "{}{IMDS_LOCATION}",
            base.as_str().trim_end_matches('/').trim_end_matches('?')
        );
        Url::parse(&s).map_err(|_| bad("is not a URL"))
    }
}

/// A region as a host needs it: whitespace removed, lower case, one DNS label; `None` when
/// it is not one.
pub(crate) fn normalize_region(raw: &str) -> Option<String> {
    let r: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let label = !r.is_empty()
        && r.len() <= MAX_REGION_LEN
        && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !r.starts_with('-')
        && !r.ends_with('-');
    label.then_some(r)
}

/// The regional host of an authority host, `None` for a host that has none (an IP address).
pub(crate) fn regional_host(region: &str, host: &url::Host<&str>) -> Option<String> {
    match host {
        url::Host::Domain(d) => {
            let d = d.to_ascii_lowercase();
            if PUBLIC_CLOUD_HOSTS.contains(&d.as_str()) {
                Some(format!("{region}.login.microsoft.com"))
            } else {
                Some(format!("{region}.{d}"))
            }
        }
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => None,
    }
}

/// The application's regional configuration, checked, and what detection found.
#[derive(Debug, Default)]
pub(crate) struct Regional {
    /// The region asked for (a named one normalised); `None`: global endpoints only.
    region: Option<Region>,
    detection: RegionDetection,
    /// The location URL of the instance metadata service (checked by `build()`).
    imds: Option<Url>,
    /// What detection found, once per application: `Some(None)` is "no region".
    detected: tokio::sync::OnceCell<Option<String>>,
}

impl Regional {
    /// Checks a configuration: a named region must be a DNS label, the IMDS base a URL.
    /// `kind` is the authority's: a region configured for another kind than Entra ID is
    /// logged and unused.
    pub(crate) fn new(
        region: Option<Region>,
        detection: RegionDetection,
        kind: AuthorityKind,
    ) -> Result<Self, Error> {
        let region = match region {
            Some(Region::Named(raw)) => Some(Region::Named(normalize_region(&raw).ok_or_else(
                || {
                    Error::client(
                        codes::INVALID_REGION,
                        format!(
                            "{:?} is not an Azure region: a region is one DNS label (letters, digits, `-`, at most {MAX_REGION_LEN} characters), e.g. `westus2`",
                            raw.chars().take(80).collect::<String>()
                        ),
                    )
                },
            )?)),
            other => other,
        };
        let imds = match region {
            Some(Region::AutoDetect) => Some(detection.location_url()?),
            _ => None,
        };
        let region = match (region, kind) {
            (Some(_), k) if k != AuthorityKind::Aad => {
                tracing::warn!(
                    authority_kind = ?k,
                    "an Azure region is only used with Microsoft Entra ID authorities; this app's tokens come from the global endpoint"
                );
                None
            }
            (r, _) => r,
        };
        Ok(Regional {
            region,
            detection,
            imds,
            detected: Default::default(),
        })
    }
}

impl Regional {
    /// Whether a region is asked for (named, or to detect).
    pub(crate) fn is_set(&self) -> bool {
        self.region.is_some()
    }

    /// The regional token endpoint of an app token request (`global` with the regional host
    /// of the app's `authority`), or `None` for the global one: no region configured, none
    /// detected (asking with `http`), or an authority host that has no regional one.
    pub(crate) async fn token_endpoint(
        &self,
        http: &dyn HttpClient,
        authority: &Url,
        global: &Url,
        correlation_id: &str,
    ) -> Option<Url> {
        let region = match self.region.as_ref()? {
            Region::Named(r) => r.as_str(),
            Region::AutoDetect => self
                .detected
                .get_or_init(|| self.detect_region(http, correlation_id))
                .await
                .as_deref()?,
        };
        let host = authority.host()?;
        let Some(regional) = regional_host(region, &host) else {
            tracing::debug!(
                correlation_id,
                region,
                "the authority's host is an IP address, which has no regional host; using the global endpoint"
            );
            return None;
        };
        let mut url = global.clone();
        if url.set_host(Some(&regional)).is_err() {
            return None;
        }
        tracing::debug!(correlation_id, region, host = %regional, "app token request to the regional endpoint");
        Some(url)
    }

    /// Detects the region once: `REGION_NAME`, then the instance metadata service.
    async fn detect_region(&self, http: &dyn HttpClient, correlation_id: &str) -> Option<String> {
        let detection = &self.detection;
        if let Some(raw) = detection.region_name().filter(|v| !v.trim().is_empty()) {
            match normalize_region(&raw) {
                Some(r) => {
                    tracing::info!(correlation_id, region = %r, source = "env", "Azure region detected from REGION_NAME");
                    return Some(r);
                }
                None => tracing::warn!(
                    correlation_id,
                    len = raw.len(),
                    "REGION_NAME is not an Azure region (one DNS label); asking the instance metadata service"
                ),
            }
        }
        let url = self.imds.clone()?;
        let found = imds_region(http, url, detection.timeout).await;
        match &found {
            Ok(r) => {
                tracing::info!(correlation_id, region = %r, source = "imds", "Azure region detected from the instance metadata service");
            }
            Err(why) => {
                tracing::warn!(
                    correlation_id,
                    reason = %why,
                    "no Azure region detected; app tokens come from the global endpoint"
                );
            }
        }
        found.ok()
    }
}

/// Asks the instance metadata service for the VM's location, within `timeout`.
async fn imds_region(http: &dyn HttpClient, url: Url, timeout: Duration) -> Result<String, String> {
    let mut req = HttpRequest::get(url);
    req.headers
        .insert("Metadata", HeaderValue::from_static("true"));
    let call = http.execute(req);
    let sleep = crate::runtime::sleep(timeout);
    let answer = match futures_util::future::select(call, Box::pin(sleep)).await {
        futures_util::future::Either::Left((answer, _)) => answer,
        futures_util::future::Either::Right(_) => {
            return Err(format!(
                "the instance metadata service did not answer within {timeout:?}"
            ));
        }
    };
    let resp = answer.map_err(|e| format!("the instance metadata service is unreachable: {e}"))?;
    if resp.status != StatusCode::OK {
        return Err(format!(
            "the instance metadata service answered HTTP {}",
            resp.status.as_u16()
        ));
    }
    std::str::from_utf8(&resp.body)
        .ok()
        .filter(|s| s.len() <= 4 * MAX_REGION_LEN)
        .and_then(normalize_region)
        .ok_or_else(|| {
            format!(
                "the instance metadata service's answer ({} bytes) is not a region name",
                resp.body.len()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A region from the instance metadata service is hostile: whatever its text, it is
        /// refused or becomes one DNS label whose regional host is a valid URL host.
        #[test]
        fn any_answer_is_refused_or_a_usable_label(raw in proptest::prelude::any::<String>()) {
            if let Some(r) = normalize_region(&raw) {
                proptest::prop_assert!(!r.is_empty() && r.len() <= MAX_REGION_LEN);
                let host = regional_host(&r, &url::Host::Domain("login.microsoftonline.com"));
                let url = format!("https://{}/tenant/oauth2/v2.0/token", host.unwrap_or_default());
                let parsed = Url::parse(&url);
                proptest::prop_assert!(parsed.is_ok(), "{url}");
                let parsed = parsed.unwrap();
                proptest::prop_assert_eq!(parsed.path(), "/tenant/oauth2/v2.0/token");
            }
        }
    }

    #[test]
    fn regions_are_dns_labels() {
        assert_eq!(normalize_region(" West US 2 ").as_deref(), Some("westus2"));
        assert_eq!(
            normalize_region("eastus2euap").as_deref(),
            Some("eastus2euap")
        );
        for bad in [
            "",
            "  ",
            "west.us",
            "west/us",
            "-west",
            "west-",
            "wëst",
            "a:1",
            "evil.com#",
            &"a".repeat(64),
        ] {
            assert_eq!(normalize_region(bad), None, "{bad:?}");
        }
        assert!(normalize_region(&"a".repeat(63)).is_some());
    }

    #[test]
    fn public_cloud_hosts_map_to_login_microsoft_com() {
        for h in PUBLIC_CLOUD_HOSTS {
            let host = url::Host::Domain(*h);
            assert_eq!(
                regional_host("westus2", &host).as_deref(),
                Some("westus2.login.microsoft.com")
            );
        }
        let us = url::Host::Domain("login.microsoftonline.us");
        assert_eq!(
            regional_host("usgovvirginia", &us).as_deref(),
            Some("usgovvirginia.login.microsoftonline.us")
        );
        let local = url::Host::Domain("localhost");
        assert_eq!(
            regional_host("westus2", &local).as_deref(),
            Some("westus2.localhost")
        );
        let ip = url::Host::<&str>::Ipv4(std::net::Ipv4Addr::LOCALHOST);
        assert_eq!(regional_host("westus2", &ip), None);
    }

    #[test]
    fn only_region_name_is_kept_of_the_variables_given() {
        let d = RegionDetection::new()
            .vars([("AZURE_CLIENT_SECRET", "s3cret"), ("REGION_NAME", "eastus")]);
        assert_eq!(d.region_name().as_deref(), Some("eastus"));
        assert!(!format!("{d:?}").contains("s3cret"));
        let none = RegionDetection::new().vars([("OTHER", "x")]);
        assert_eq!(none.region_name(), None);
    }

    #[test]
    fn the_imds_base_must_be_an_http_url() {
        let d = RegionDetection::new().imds_endpoint("http://127.0.0.1:8080/");
        assert_eq!(
            d.location_url().unwrap().as_str(),
            "http://127.0.0.1:8080/metadata/instance/compute/location?format=text&api-version=2021-01-01"
        );
        for bad in ["ftp://x", "not a url", "file:///etc/passwd"] {
            let e = RegionDetection::new().imds_endpoint(bad).location_url();
            assert_eq!(e.unwrap_err().code(), codes::INVALID_CONFIGURATION, "{bad}");
        }
    }
}
