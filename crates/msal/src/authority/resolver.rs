//! Instance discovery and OpenID Connect metadata, fetched once per resolver and cached.
//!
//! Concurrent lookups of the same document share one request. Authorities can be named by
//! untrusted input (a per-request tenant), so every map here is bounded ([`MAX_ENTRIES`], the
//! failed and idle entries evicted first), and a lookup that the server refused (an answer that
//! will not change, e.g. an unknown tenant) is remembered for [`FAILURE_TTL`]: asking again
//! for the same authority meanwhile sends nothing. A failure that may pass (no answer, a 5xx,
//! a 429) is not remembered, so the next call tries again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant as StdInstant};

use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;
use url::Url;

use super::{Authority, AuthorityKind};
use crate::error::{Error, OAuthErrorResponse, codes};
use crate::http::{
    HeaderValue, HttpClient, HttpRequest, HttpResponse, RetryPolicy, send_with_retry,
    standard_headers,
};
use crate::pii::pii_url;

/// The host that validates authorities on hosts that are not well-known Entra hosts.
const WORLDWIDE_DISCOVERY_HOST: &str = "login.microsoftonline.com";

/// The endpoints and the cache identity of an authority, from its OpenID Connect metadata and
/// (for Entra) instance discovery.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    /// The `issuer` of the metadata, as given (Entra's multi-tenant metadata keeps its
    /// `{tenantid}` placeholder); empty when the document has none.
    pub issuer: String,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Url,
    /// `token_endpoint`.
    pub token_endpoint: Url,
    /// `device_authorization_endpoint`, else for Entra `{authority}/oauth2/v2.0/devicecode`.
    pub device_authorization_endpoint: Option<Url>,
    /// The environment under which tokens are cached: instance discovery's `preferred_cache`
    /// for the authority's host, else the host (with its port, if any).
    pub environment: String,
    /// The hosts that share the cache with this one (the host itself always included).
    pub aliases: Arc<[String]>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207): the server puts `iss` in
    /// every authorization response, so a response without it is refused.
    pub authorization_response_iss: bool,
}

/// What instance discovery says about a host.
#[derive(Debug)]
struct Instance {
    environment: String,
    aliases: Vec<String>,
    /// The `tenant_discovery_endpoint` of the answer, and the authority (key) it was asked for:
    /// it names that authority's tenant, so it only serves that authority.
    tenant_discovery: Option<(String, Url)>,
}

type Cell<T> = Arc<OnceCell<Arc<T>>>;

/// The most entries each map of a resolver holds (documents, hosts, remembered failures).
pub(crate) const MAX_ENTRIES: usize = 4096;

/// How long a lookup that the server refused is remembered.
pub(crate) const FAILURE_TTL: Duration = Duration::from_secs(60);

/// The most distinct alias lists interned; past it, a new list is used unshared.
const MAX_ALIAS_SETS: usize = 256;

/// The key of a metadata document: the authority key, and whether instance discovery was used.
type MetadataKey = (String, bool);

/// Resolves authorities to their [`Metadata`], caching instance discovery (per host, aliases
/// included) and OpenID Connect metadata (per authority).
#[derive(Debug, Default)]
pub(crate) struct AuthorityResolver {
    /// By `{scheme}://{host[:port]}`, lower case.
    instances: Mutex<HashMap<String, Cell<Instance>>>,
    /// By authority key and whether instance discovery was used.
    metadata: Mutex<HashMap<MetadataKey, Cell<Metadata>>>,
    /// Lookups the server refused, with when: answered from here for [`FAILURE_TTL`].
    failures: Mutex<HashMap<MetadataKey, (StdInstant, Error)>>,
    /// The distinct alias lists seen, shared by every metadata that has the same list.
    alias_sets: Mutex<Vec<Arc<[String]>>>,
    /// Whether log events show authority URLs whole (their path names the tenant).
    pii_logging: bool,
}

impl AuthorityResolver {
    /// A resolver whose log events show authority URLs whole when `pii_logging`.
    pub(crate) fn with_pii_logging(mut self, pii_logging: bool) -> Self {
        self.pii_logging = pii_logging;
        self
    }
}

/// Makes room for one more cell in a full map: drops the cells that hold nothing and that no
/// caller is waiting on (failed lookups), then, if it is still nearly full, arbitrary ones
/// (evicting a cell that is in use only costs a new lookup later).
fn make_room<K: Eq + Hash + Clone, T>(map: &mut HashMap<K, Cell<T>>) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, c| c.initialized() || Arc::strong_count(c) > 1);
    evict_down(map);
}

/// The cell of `key`, made (room first) when the map has none: concurrent callers of one key
/// share it, so one of them fetches and the others wait for its answer.
fn cell_for<K: Eq + Hash + Clone, T>(map: &Mutex<HashMap<K, Cell<T>>>, key: &K) -> Cell<T> {
    let mut map = lock(map);
    if let Some(c) = map.get(key) {
        return c.clone();
    }
    make_room(&mut map);
    map.entry(key.clone()).or_default().clone()
}

/// Evicts arbitrary entries of a full map down to seven eighths of [`MAX_ENTRIES`], so that
/// the sweep runs once per many insertions rather than on each.
fn evict_down<K: Eq + Hash + Clone, V>(map: &mut HashMap<K, V>) {
    let target = MAX_ENTRIES - MAX_ENTRIES / 8;
    if map.len() <= target {
        return;
    }
    let victims: Vec<K> = map.keys().take(map.len() - target).cloned().collect();
    for k in victims {
        map.remove(&k);
    }
}

/// Removes `key`'s cell from the map if it is still `cell` and holds nothing (its lookup
/// failed), so failed lookups leave no entry behind.
fn forget_failed<K: Eq + Hash, T>(map: &Mutex<HashMap<K, Cell<T>>>, key: &K, cell: &Cell<T>) {
    let mut map = lock(map);
    if map
        .get(key)
        .is_some_and(|c| Arc::ptr_eq(c, cell) && !c.initialized())
    {
        map.remove(key);
    }
}

/// Whether a failed lookup is remembered: the server answered, and asking again will not
/// change its answer (not a transport failure, a 5xx or a 429, nor a call made where the HTTP
/// client cannot run).
fn is_lasting(e: &Error) -> bool {
    !e.is_retryable() && e.code() != codes::NO_ASYNC_RUNTIME
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn discovery_failed(correlation_id: &str, description: String) -> Error {
    Error::service(codes::DISCOVERY_FAILED, description).with_correlation_id(correlation_id)
}

impl AuthorityResolver {
    /// The metadata of `authority`, fetched once and cached.
    ///
    /// With `instance_discovery` (Entra ID authorities only) the authority is first validated
    /// and its aliases found through instance discovery; B2C, AD FS, CIAM and OIDC authorities
    /// always fetch their metadata directly.
    ///
    /// Every request carries the [`standard_headers`] with `correlation_id`.
    ///
    /// # Errors
    ///
    /// - `Client` `invalid_authority` when instance discovery says `invalid_instance`;
    /// - the server's OAuth error (`Service` or other, per [`Error::from_oauth_error`]) for an
    ///   error answer, `non_parsable_oauth_error` when the error body is not OAuth JSON;
    /// - `Service` `discovery_failed` for a 2xx answer that is not valid metadata;
    /// - `Transport` when no answer came back.
    pub(crate) async fn metadata(
        &self,
        authority: &Authority,
        http: &dyn HttpClient,
        instance_discovery: bool,
        correlation_id: &str,
    ) -> Result<Arc<Metadata>, Error> {
        let use_discovery = instance_discovery && authority.kind() == AuthorityKind::Aad;
        let key: MetadataKey = (authority.key(), use_discovery);
        let cell = cell_for(&self.metadata, &key);
        let result = cell
            .get_or_try_init(|| async {
                // Checked only when the document is not cached: a hit costs nothing more.
                if let Some(e) = self.remembered_failure(&key) {
                    return Err(e);
                }
                let fetched = self
                    .fetch_metadata(authority, http, use_discovery, correlation_id)
                    .await;
                if let Err(e) = &fetched
                    && is_lasting(e)
                {
                    self.remember_failure(key.clone(), e);
                }
                fetched
            })
            .await
            .cloned();
        if result.is_err() {
            forget_failed(&self.metadata, &key, &cell);
        }
        result
    }

    /// The error of a refused lookup of `key` within [`FAILURE_TTL`], if any.
    fn remembered_failure(&self, key: &MetadataKey) -> Option<Error> {
        let mut failures = lock(&self.failures);
        let (at, error) = failures.get(key)?;
        if at.elapsed() < FAILURE_TTL {
            tracing::debug!(authority = %pii_url(&key.0, self.pii_logging), "discovery refused this authority moments ago; not asking again");
            return Some(error.clone());
        }
        failures.remove(key);
        None
    }

    fn remember_failure(&self, key: MetadataKey, error: &Error) {
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, (at, _)| at.elapsed() < FAILURE_TTL);
            evict_down(&mut failures);
        }
        failures.insert(key, (StdInstant::now(), error.clone()));
    }

    /// How many entries the resolver's maps hold: documents, hosts, failures.
    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize, usize) {
        (
            lock(&self.metadata).len(),
            lock(&self.instances).len(),
            lock(&self.failures).len(),
        )
    }

    async fn fetch_metadata(
        &self,
        authority: &Authority,
        http: &dyn HttpClient,
        use_discovery: bool,
        correlation_id: &str,
    ) -> Result<Arc<Metadata>, Error> {
        let (environment, aliases, url) = if use_discovery {
            let instance = self.instance(authority, http, correlation_id).await?;
            let url = match &instance.tenant_discovery {
                Some((key, url)) if *key == authority.key() => url.clone(),
                _ => authority.metadata_url()?,
            };
            (instance.environment.clone(), instance.aliases.clone(), url)
        } else {
            let host = authority.host();
            (host.clone(), vec![host], authority.metadata_url()?)
        };
        tracing::debug!(
            url = %pii_url(url.as_str(), self.pii_logging),
            "fetching OpenID Connect metadata"
        );
        let resp = get(http, url.clone(), correlation_id).await?;
        if !resp.status.is_success() {
            return Err(error_answer(&resp, &url, correlation_id));
        }
        let mut cache_aliases: Vec<String> = Vec::with_capacity(aliases.len());
        for a in aliases.iter().map(|a| cache_environment(a)) {
            if !cache_aliases.iter().any(|x| x.eq_ignore_ascii_case(&a)) {
                cache_aliases.push(a);
            }
        }
        // One shared list per set of aliases: every tenant of a cloud reads the same (hot)
        // memory on a cache hit.
        let cache_aliases = {
            let mut sets = lock(&self.alias_sets);
            match sets.iter().find(|s| ***s == *cache_aliases) {
                Some(shared) => shared.clone(),
                None => {
                    let shared: Arc<[String]> = cache_aliases.into();
                    if sets.len() < MAX_ALIAS_SETS {
                        sets.push(shared.clone());
                    }
                    shared
                }
            }
        };
        let metadata = parse_metadata(
            &resp.body,
            authority,
            &url,
            cache_environment(&environment),
            cache_aliases,
            correlation_id,
        )?;
        Ok(Arc::new(metadata))
    }

    /// Instance discovery for the authority's host, fetched once per host; an answer also
    /// fills the cache for every alias it lists.
    async fn instance(
        &self,
        authority: &Authority,
        http: &dyn HttpClient,
        correlation_id: &str,
    ) -> Result<Arc<Instance>, Error> {
        let key = instance_key(authority.scheme(), &authority.host());
        let cell = cell_for(&self.instances, &key);
        let result = cell
            .get_or_try_init(|| async {
                let (instance, others) =
                    fetch_instance(authority, http, correlation_id, self.pii_logging).await?;
                let mut map = lock(&self.instances);
                // An answer may list any number of aliases: those past the bound are looked
                // up when asked for.
                for (alias, other) in others {
                    if map.len() >= MAX_ENTRIES {
                        break;
                    }
                    map.entry(instance_key(authority.scheme(), &alias))
                        .or_insert_with(|| Arc::new(OnceCell::new_with(Some(Arc::new(other)))));
                }
                Ok::<_, Error>(Arc::new(instance))
            })
            .await
            .cloned();
        if result.is_err() {
            forget_failed(&self.instances, &key, &cell);
        }
        result
    }
}

fn instance_key(scheme: &str, host: &str) -> String {
    format!("{scheme}://{host}").to_ascii_lowercase()
}

/// The instance discovery request URL for an authority: on the authority's own host when it
/// is a well-known Entra host or loopback, else on `login.microsoftonline.com`.
pub(crate) fn instance_discovery_url(authority: &Authority) -> Result<Url, Error> {
    let base = if authority.is_well_known_entra_host() || authority.is_loopback() {
        format!("{}://{}", authority.scheme(), authority.host())
    } else {
        format!("https://{WORLDWIDE_DISCOVERY_HOST}")
    };
    let mut url = Url::parse(&format!("{base}/common/discovery/instance")).map_err(|e| {
        Error::client(
            codes::INVALID_AUTHORITY,
            format!("cannot build the instance discovery URL for {authority}: {e}"),
        )
    })?;
    let authorize = authority.oauth2_v2_endpoint("authorize")?;
    url.query_pairs_mut()
        .append_pair("api-version", "1.1")
        .append_pair("authorization_endpoint", authorize.as_str());
    Ok(url)
}

#[derive(Deserialize)]
struct InstanceEntry {
    #[serde(default)]
    preferred_cache: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
}

/// Asks instance discovery about the authority. Returns what it says about the authority's
/// host, and the same for every other alias it lists.
async fn fetch_instance(
    authority: &Authority,
    http: &dyn HttpClient,
    correlation_id: &str,
    pii_logging: bool,
) -> Result<(Instance, Vec<(String, Instance)>), Error> {
    let url = instance_discovery_url(authority)?;
    tracing::debug!(url = %pii_url(url.as_str(), pii_logging), "instance discovery");
    let resp = get(http, url.clone(), correlation_id).await?;
    let invalid_instance = |desc: Option<&str>| {
        Error::client(
            codes::INVALID_AUTHORITY,
            format!(
                "instance discovery does not know the authority {authority} (invalid_instance{}). \
                 If it is a legitimate custom domain, turn off authority validation by \
                 disabling instance discovery",
                desc.map(|d| format!(": {d}")).unwrap_or_default()
            ),
        )
        .with_correlation_id(correlation_id)
    };
    if !resp.status.is_success() {
        if let Some(e) = OAuthErrorResponse::parse(&resp.body)
            && e.error == "invalid_instance"
        {
            return Err(invalid_instance(e.error_description.as_deref()));
        }
        return Err(error_answer(&resp, &url, correlation_id));
    }
    let context = |why: &str| {
        discovery_failed(
            correlation_id,
            format!("instance discovery at {url} for {authority}: {why}"),
        )
    };
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(&resp.body) else {
        return Err(context("the answer is not a JSON object"));
    };
    if let Some(Value::String(error)) = doc.get("error") {
        if error == "invalid_instance" {
            let desc = doc.get("error_description").and_then(Value::as_str);
            return Err(invalid_instance(desc));
        }
        if let Some(mut e) = OAuthErrorResponse::parse(&resp.body) {
            e.http_status = Some(resp.status.as_u16());
            e.headers = Some(resp.headers.clone());
            e.correlation_id = Some(correlation_id.to_owned());
            return Err(Error::from_oauth_error(e));
        }
    }
    let tenant_discovery = match doc.get("tenant_discovery_endpoint") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let endpoint = Url::parse(s)
                .map_err(|_| context("`tenant_discovery_endpoint` is not an absolute URL"))?;
            check_endpoint_scheme(authority, &endpoint)
                .map_err(|why| context(&format!("`tenant_discovery_endpoint` {why}")))?;
            Some((authority.key(), endpoint))
        }
        Some(_) => return Err(context("`tenant_discovery_endpoint` is not a string")),
    };
    let entries: Vec<InstanceEntry> = match doc.get("metadata") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => Vec::<InstanceEntry>::deserialize(v)
            .map_err(|e| context(&format!("`metadata` is not a list of entries: {e}")))?,
    };

    let host = authority.host();
    let to_instance = |entry: &InstanceEntry, host: &str| {
        let environment = entry
            .preferred_cache
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| host.to_owned());
        let mut aliases: Vec<String> = Vec::new();
        for a in &entry.aliases {
            if !a.is_empty() && !aliases.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                aliases.push(a.clone());
            }
        }
        if !aliases.iter().any(|x| x.eq_ignore_ascii_case(host)) {
            aliases.insert(0, host.to_owned());
        }
        Instance {
            environment,
            aliases,
            tenant_discovery: None,
        }
    };
    let mut instance = entries
        .iter()
        .find(|e| e.aliases.iter().any(|a| a.eq_ignore_ascii_case(&host)))
        .map(|e| to_instance(e, &host))
        .unwrap_or_else(|| Instance {
            environment: host.clone(),
            aliases: vec![host.clone()],
            tenant_discovery: None,
        });
    instance.tenant_discovery = tenant_discovery;
    let others = entries
        .iter()
        .flat_map(|e| e.aliases.iter().map(move |a| (e, a)))
        .filter(|(_, a)| !a.is_empty() && !a.eq_ignore_ascii_case(&host))
        .map(|(e, a)| (a.to_ascii_lowercase(), to_instance(e, a)))
        .collect();
    Ok((instance, others))
}

/// A GET with the standard headers, retried as MSAL does.
async fn get(http: &dyn HttpClient, url: Url, correlation_id: &str) -> Result<HttpResponse, Error> {
    let mut req = HttpRequest::get(url);
    req.headers = standard_headers(correlation_id);
    req.headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    send_with_retry(http, req, &RetryPolicy::default())
        .await
        .map_err(|e| e.with_correlation_id(correlation_id))
}

/// The error for a non-2xx answer: the server's OAuth error when the body is one, else an
/// unparsable-answer error with the status.
fn error_answer(resp: &HttpResponse, url: &Url, correlation_id: &str) -> Error {
    let status = resp.status.as_u16();
    match OAuthErrorResponse::parse(&resp.body) {
        Some(mut e) => {
            e.http_status = Some(status);
            e.headers = Some(resp.headers.clone());
            e.correlation_id = Some(correlation_id.to_owned());
            Error::from_oauth_error(e)
        }
        None => Error::unparsable_response(
            status,
            resp.headers.clone(),
            None,
            format!(
                "{url} answered HTTP {status} with a body that is not an OAuth error \
                 (a proxy, or a wrong authority URL?)"
            ),
            Some(correlation_id.to_owned()),
        ),
    }
}

/// `Err(reason)` when an endpoint's scheme is not acceptable for the authority: `https`
/// always is, `http` only for an `http` (loopback) authority.
fn check_endpoint_scheme(authority: &Authority, endpoint: &Url) -> Result<(), String> {
    match endpoint.scheme() {
        "https" => Ok(()),
        "http" if authority.scheme() == "http" => Ok(()),
        other => Err(format!(
            "uses `{other}`, but the endpoints of an {} authority must use https",
            authority.scheme()
        )),
    }
}

/// Validates and reads an OpenID Connect metadata document.
pub(crate) fn parse_metadata(
    body: &[u8],
    authority: &Authority,
    url: &Url,
    environment: String,
    aliases: Arc<[String]>,
    correlation_id: &str,
) -> Result<Metadata, Error> {
    let context = |why: &str| {
        discovery_failed(
            correlation_id,
            format!("the OpenID Connect metadata at {url} for {authority} is not usable: {why}"),
        )
    };
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return Err(context("it is not a JSON object"));
    };
    let endpoint = |doc: &Map<String, Value>, name: &str| -> Result<Option<Url>, Error> {
        match doc.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                let u = Url::parse(s)
                    .map_err(|_| context(&format!("`{name}` is not an absolute URL")))?;
                check_endpoint_scheme(authority, &u)
                    .map_err(|why| context(&format!("`{name}` {why}")))?;
                Ok(Some(u))
            }
            Some(_) => Err(context(&format!("`{name}` is not a string"))),
        }
    };
    let required = |name: &str| -> Result<Url, Error> {
        endpoint(&doc, name)?.ok_or_else(|| context(&format!("`{name}` is missing")))
    };
    let authorization_endpoint = required("authorization_endpoint")?;
    let token_endpoint = required("token_endpoint")?;
    let device_authorization_endpoint = match endpoint(&doc, "device_authorization_endpoint")? {
        Some(u) => Some(u),
        None if authority.kind().is_entra() => Some(authority.oauth2_v2_endpoint("devicecode")?),
        None => None,
    };
    let issuer = match doc.get("issuer") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(context("`issuer` is not a string")),
    };
    let authorization_response_iss = doc
        .get("authorization_response_iss_parameter_supported")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Metadata {
        issuer,
        authorization_response_iss,
        authorization_endpoint,
        token_endpoint,
        device_authorization_endpoint,
        environment,
        aliases,
    })
}

/// The `environment` of cache entries for a host as discovery names it: the host name alone,
/// without port or IPv6 brackets, as MSAL Python (`urlparse(..).hostname`) and MSAL .NET
/// (`Uri.Host`) write it, so cache files are shared with them whatever the port.
pub(crate) fn cache_environment(host: &str) -> String {
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.matches(':').count() == 1 {
        host.split(':').next().unwrap_or(host)
    } else {
        host
    };
    bare.to_ascii_lowercase()
}

#[cfg(test)]
mod bounds_tests;
