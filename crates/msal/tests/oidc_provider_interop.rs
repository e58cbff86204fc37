//! Interoperability with an identity provider we did not write: the certified OpenID Provider
//! `oidc-provider` (panva) from the npm registry, configured by `tests/oidc-provider/server.mjs`
//! and installed into `target/oidc-provider` by `scripts/oidc-provider` (which these tests run
//! themselves; node 18+ and npm with the npm registry reachable are needed, else they fail).
//!
//! Each test starts its own provider on an ephemeral loopback port (`http://127.0.0.1:<port>`,
//! with `allow_insecure_loopback`), and stops it when done. The sign-in pages are the
//! provider's built-in development pages, driven over plain HTTP like a browser without
//! script would (GET the page, POST its form, keep the cookies, follow the redirects).
//!
//! The flows a generic OpenID Connect provider supports, each with an error path: client
//! credentials, the web-app authorization code flow (confidential client), the interactive
//! flow with PKCE (public client, loopback redirect), the device code flow, and the refresh
//! token grant through `acquire_token_silent`. Alone: `cargo test -p msal-entra --test
//! oidc_provider_interop`.

#[path = "support/mix_up.rs"]
mod mix_up;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::{
    AuthenticationResult, Browser, ConfidentialClientApplication, ErrorKind, Prompt,
    PublicClientApplication, TokenSource, UiRequiredClassification,
};
use serde_json::Value;
use url::Url;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/oidc-provider");

// What server.mjs registers.
const CONFIDENTIAL_CLIENT_ID: &str = "msal-interop-confidential";
const CONFIDENTIAL_CLIENT_SECRET: &str = "msal-interop-confidential-secret-0123456789";
const PUBLIC_CLIENT_ID: &str = "msal-interop-public";
const WEB_REDIRECT_URI: &str = "http://127.0.0.1:5000/auth/callback";
const NATIVE_REDIRECT_URI: &str = "http://127.0.0.1/cb";
const API_RESOURCE: &str = "urn:msal-interop:api";
const API_SCOPE: &str = "api:read";

// ----- the provider -----------------------------------------------------------------------

/// The command that starts the provider, from `scripts/oidc-provider` (run once per test
/// process; it installs the npm package the first time). Panics with what to do when node,
/// npm or the package is not available: these tests prove interop, they are not optional.
fn provider_command() -> &'static str {
    static COMMAND: OnceLock<Result<String, String>> = OnceLock::new();
    let found = COMMAND.get_or_init(|| {
        let out = Command::new("bash")
            .arg(SCRIPT)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run `bash {SCRIPT}`: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`{SCRIPT}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .last()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("`{SCRIPT}` printed no command"))
    });
    match found {
        Ok(c) => c,
        Err(e) => panic!(
            "the OpenID Provider `oidc-provider` (npm) is required by the interop tests and is \
             not available: {e}\nInstall Node.js 18+ and npm (e.g. `apt-get install nodejs \
             npm`) with the npm registry reachable, so `scripts/oidc-provider` can install it \
             into target/oidc-provider."
        ),
    }
}

/// Shows a line the provider logged in the test's output, without its notices about the
/// development defaults (in-memory storage, development keys and pages) the tests rely on.
fn forward_log(line: &str) {
    if !line.contains("oidc-provider WARNING: a quick start development-only")
        && !line.contains("oidc-provider NOTICE:")
    {
        eprintln!("[oidc-provider] {line}");
    }
}

/// A running `oidc-provider`; killed when dropped.
struct OidcProvider {
    child: Child,
    issuer: String,
}

impl OidcProvider {
    /// Starts the provider on an ephemeral loopback port and waits until it listens (it prints
    /// its issuer on stdout). Its logs are forwarded to the test's output.
    fn start() -> Self {
        let command = provider_command();
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(format!("exec {command}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start `{command}`: {e}"));
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                forward_log(&line);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The first line is the issuer; the rest (the provider's notices) is forwarded,
            // and the pipe stays open so that the provider's writes never fail.
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let _ = tx.send(lines.next().unwrap_or_default());
            for line in lines {
                forward_log(&line);
            }
        });
        let mut provider = OidcProvider {
            child,
            issuer: String::new(),
        };
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if !l.trim().is_empty() => l,
            other => {
                let status = provider.child.try_wait().ok().flatten();
                panic!(
                    "oidc-provider did not start (`{command}`): {other:?}, exit status {status:?}; \
                     its errors are above"
                )
            }
        };
        let info: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("oidc-provider printed `{line}`, not its issuer: {e}"));
        provider.issuer = info["issuer"].as_str().unwrap().to_owned();
        assert!(provider.issuer.starts_with("http://127.0.0.1:"));
        eprintln!(
            "oidc-provider {} at {}",
            info["version"].as_str().unwrap_or("?"),
            provider.issuer
        );
        provider
    }

    fn confidential(&self, secret: &str) -> ConfidentialClientApplication {
        ConfidentialClientApplication::builder(CONFIDENTIAL_CLIENT_ID)
            .oidc_authority(&self.issuer)
            .allow_insecure_loopback(true)
            .instance_discovery(false)
            .client_secret(secret)
            .build()
            .unwrap()
    }

    fn public(&self) -> PublicClientApplication {
        PublicClientApplication::builder(PUBLIC_CLIENT_ID)
            .oidc_authority(&self.issuer)
            .allow_insecure_loopback(true)
            .instance_discovery(false)
            .build()
            .unwrap()
    }

    fn user_agent(&self) -> UserAgent {
        UserAgent::new(&self.issuer)
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ----- a browser without script -----------------------------------------------------------

/// An HTTP answer as the user agent saw it.
struct Page {
    url: Url,
    status: u16,
    location: Option<Url>,
    body: String,
}

/// What a sign-in on the provider's pages ended with.
enum Outcome {
    /// A redirect away from the provider (to the client's redirect URI).
    Redirect(Url),
    /// A page without a form to fill in (the device flow's success page).
    Done(String),
}

/// What the user does on the consent page or the device confirmation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    Allow,
    Deny,
}

/// A user agent that keeps cookies (by name, for the provider's host only) and follows no
/// redirect by itself.
#[derive(Clone)]
struct UserAgent {
    http: reqwest::Client,
    origin: String,
    cookies: Arc<Mutex<BTreeMap<String, String>>>,
}

impl UserAgent {
    fn new(issuer: &str) -> Self {
        UserAgent {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            origin: Url::parse(issuer).unwrap().origin().ascii_serialization(),
            cookies: Default::default(),
        }
    }

    fn is_provider(&self, url: &Url) -> bool {
        url.origin().ascii_serialization() == self.origin
    }

    async fn get(&self, url: &Url) -> Page {
        let req = self.http.get(url.clone());
        self.send(url, req).await
    }

    async fn post(&self, url: &Url, form: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .http
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(url, req).await
    }

    async fn send(&self, url: &Url, mut req: reqwest::RequestBuilder) -> Page {
        if self.is_provider(url) {
            let cookie = self
                .cookies
                .lock()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            if !cookie.is_empty() {
                req = req.header("cookie", cookie);
            }
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status().as_u16();
        if self.is_provider(url) {
            let mut jar = self.cookies.lock().unwrap();
            for h in resp.headers().get_all("set-cookie") {
                let h = h.to_str().unwrap();
                let pair = h.split(';').next().unwrap_or_default();
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let expired = h.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
                if value.is_empty() || expired {
                    jar.remove(name.trim());
                } else {
                    jar.insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
        let location = resp
            .headers()
            .get("location")
            .map(|l| url.join(l.to_str().unwrap()).unwrap());
        let body = resp.text().await.unwrap_or_default();
        Page {
            url: url.clone(),
            status,
            location,
            body,
        }
    }

    /// Goes through the provider's pages from `start` as `login` would: follows redirects,
    /// signs in on the login page (any login is accepted; it is the account id), answers the
    /// consent page and the device flow's pages with `decision`, until a redirect leaves the
    /// provider or a page has nothing to fill in.
    async fn sign_in(
        &self,
        start: &Url,
        login: &str,
        decision: Decision,
        user_code: Option<&str>,
    ) -> Outcome {
        let mut page = self.get(start).await;
        for _ in 0..20 {
            if (300..400).contains(&page.status) {
                let to = page.location.clone().expect("a redirect has a location");
                if !self.is_provider(&to) {
                    return Outcome::Redirect(to);
                }
                page = self.get(&to).await;
                continue;
            }
            assert_eq!(page.status, 200, "{}: {}", page.url, page.body);
            let html = page.body.clone();
            page = if html.contains(r#"name="prompt" value="login""#) {
                let action = form_action(&page.url, &html);
                self.post(
                    &action,
                    &[("prompt", "login"), ("login", login), ("password", "any")],
                )
                .await
            } else if html.contains(r#"name="prompt" value="consent""#) {
                match decision {
                    Decision::Allow => {
                        let action = form_action(&page.url, &html);
                        self.post(&action, &[("prompt", "consent")]).await
                    }
                    Decision::Deny => {
                        let abort = page.url.join(&attribute(&html, "/abort", "href")).unwrap();
                        self.get(&abort).await
                    }
                }
            } else if html.contains("op.deviceInputForm") {
                let action = form_action(&page.url, &html);
                let xsrf = hidden(&html, "xsrf");
                let code = user_code.expect("the device flow's user code");
                self.post(&action, &[("xsrf", &xsrf), ("user_code", code)])
                    .await
            } else if html.contains("op.deviceConfirmForm") {
                let action = form_action(&page.url, &html);
                let xsrf = hidden(&html, "xsrf");
                let code = hidden(&html, "user_code");
                match decision {
                    Decision::Allow => {
                        self.post(
                            &action,
                            &[("xsrf", &xsrf), ("user_code", &code), ("confirm", "yes")],
                        )
                        .await
                    }
                    Decision::Deny => {
                        // The provider shows the code input again, saying the sign-in was
                        // aborted.
                        let page = self
                            .post(
                                &action,
                                &[("xsrf", &xsrf), ("user_code", &code), ("abort", "yes")],
                            )
                            .await;
                        assert!(
                            page.body.contains("The Sign-in request was interrupted"),
                            "{}",
                            page.body
                        );
                        return Outcome::Done(page.body);
                    }
                }
            } else {
                return Outcome::Done(html);
            };
        }
        panic!("the sign-in did not end after 20 pages; last: {}", page.url);
    }
}

/// The value of the hidden input `name` of an HTML form.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden input `{name}` in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The value of attribute `attr` of the first tag that contains `needle` in that attribute.
fn attribute(html: &str, needle: &str, attr: &str) -> String {
    let marker = format!(r#"{attr}=""#);
    html.match_indices(&marker)
        .map(|(i, _)| html[i + marker.len()..].split('"').next().unwrap())
        .find(|v| v.contains(needle))
        .unwrap_or_else(|| panic!("no {attr} with `{needle}` in {html}"))
        .replace("&amp;", "&")
}

/// Where the page's (first) form posts to.
fn form_action(page: &Url, html: &str) -> Url {
    let form = &html[html.find("<form").expect("a form")..];
    let marker = r#"action=""#;
    let start = form.find(marker).expect("the form's action") + marker.len();
    let action = form[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    page.join(&action).unwrap()
}

// ----- assertions -------------------------------------------------------------------------

/// The claims of a JWT (not verified: the provider signed it, the test only reads it).
fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The query parameters of a redirect.
fn query(url: &Url) -> Vec<(String, String)> {
    url.query_pairs().into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What every user token of the provider carries: a JWT access token for the API with the
/// scope granted, the id token's claims of `login`, and the account keyed by `sub` (the
/// provider sends no `client_info`).
fn assert_user_result(p: &OidcProvider, r: &AuthenticationResult, login: &str, client_id: &str) {
    let at = jwt_claims(r.access_token.secret());
    assert_eq!(at["iss"], p.issuer.as_str(), "{at}");
    assert_eq!(at["aud"], API_RESOURCE, "{at}");
    assert_eq!(at["sub"], login, "{at}");
    assert_eq!(at["client_id"], client_id, "{at}");
    assert_eq!(at["scope"], API_SCOPE, "{at}");
    assert_eq!(r.scopes, [API_SCOPE], "the scopes the provider granted");
    assert_eq!(r.token_type, "Bearer");
    let remaining = r.expires_on - time::OffsetDateTime::now_utc();
    assert!(
        remaining > time::Duration::minutes(55) && remaining <= time::Duration::minutes(61),
        "expires_in 3600 → {remaining}"
    );

    let id = r.id_token_claims.as_ref().expect("the id token's claims");
    assert_eq!(id["sub"], login, "{id}");
    assert_eq!(id["iss"], p.issuer.as_str(), "{id}");
    assert_eq!(id["aud"], client_id, "{id}");
    let email = format!("{login}@example.test");
    assert_eq!(id["preferred_username"], email.as_str(), "{id}");
    assert_eq!(id["name"], format!("User {login}").as_str(), "{id}");
    // msal asks for `openid profile offline_access`, not `email`.
    assert!(id.get("email").is_none(), "{id}");

    // Without client_info the account is keyed by `sub`; the provider has no tenant (`tid`),
    // so the realm is the issuer's (empty: it has no path); the cache environment is the host.
    let account = r.account.as_ref().expect("an account");
    assert_eq!(account.home_account_id, login);
    assert_eq!(account.local_account_id, login);
    assert_eq!(account.username, email);
    assert_eq!(
        account.name.as_deref(),
        Some(format!("User {login}").as_str())
    );
    assert_eq!(account.environment, "127.0.0.1");
    assert_eq!(account.realm, "");
}

/// `acquire_token_silent(..).force_refresh(true)` redeems the refresh token: a new access
/// token from the provider, for the same user, cached; the rotated refresh token works again.
/// The one refresh token in the app's cache.
fn cached_refresh_token(app: &PublicClientApplication) -> String {
    let cache: Value = serde_json::from_str(&app.token_cache().serialize()).unwrap();
    let rts = cache["RefreshToken"].as_object().expect("refresh tokens");
    assert_eq!(rts.len(), 1, "{rts:?}");
    let rt = rts.values().next().unwrap();
    rt["secret"].as_str().unwrap().to_owned()
}

async fn assert_refresh(
    p: &OidcProvider,
    app: &PublicClientApplication,
    first: &AuthenticationResult,
    login: &str,
) {
    let account = first.account.clone().unwrap();
    let accounts = app.accounts().await.unwrap();
    assert_eq!(accounts.as_slice(), std::slice::from_ref(&account));

    let cached = app
        .acquire_token_silent([API_SCOPE], &account)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.source, TokenSource::Cache);
    assert_eq!(cached.access_token.secret(), first.access_token.secret());
    assert_eq!(cached.id_token_claims.as_ref().unwrap()["sub"], login);

    // The provider rotates the refresh tokens of public clients and revokes the grant when a
    // used one comes back: the second round proves the library kept the rotated one.
    let mut previous = first.access_token.secret().to_owned();
    let mut previous_rt = cached_refresh_token(app);
    for round in 0..2 {
        let r = app
            .acquire_token_silent([API_SCOPE], &account)
            .force_refresh(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("refresh {round}: {e:?}"));
        assert_eq!(r.source, TokenSource::IdentityProvider);
        assert_ne!(r.access_token.secret(), previous, "a new access token");
        assert_user_result(p, &r, login, PUBLIC_CLIENT_ID);
        let rt = cached_refresh_token(app);
        assert_ne!(rt, previous_rt, "the rotated refresh token is cached");
        previous_rt = rt;
        let again = app
            .acquire_token_silent([API_SCOPE], &account)
            .send()
            .await
            .unwrap();
        assert_eq!(again.source, TokenSource::Cache);
        assert_eq!(again.access_token.secret(), r.access_token.secret());
        previous = r.access_token.secret().to_owned();
    }
}

// ----- the flows --------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials() {
    let p = OidcProvider::start();
    let app = p.confidential(CONFIDENTIAL_CLIENT_SECRET);

    let r = app
        .acquire_token_for_client([API_SCOPE])
        .send()
        .await
        .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(r.scopes, [API_SCOPE]);
    assert!(r.account.is_none() && r.id_token_claims.is_none());
    let at = jwt_claims(r.access_token.secret());
    assert_eq!(at["iss"], p.issuer.as_str(), "{at}");
    assert_eq!(at["aud"], API_RESOURCE, "{at}");
    assert_eq!(at["sub"], CONFIDENTIAL_CLIENT_ID, "{at}");
    assert_eq!(at["client_id"], CONFIDENTIAL_CLIENT_ID, "{at}");
    assert_eq!(at["scope"], API_SCOPE, "{at}");

    // The second request is served from the cache; force_refresh asks the provider again.
    let cached = app
        .acquire_token_for_client([API_SCOPE])
        .send()
        .await
        .unwrap();
    assert_eq!(cached.source, TokenSource::Cache);
    assert_eq!(cached.access_token.secret(), r.access_token.secret());
    let fresh = app
        .acquire_token_for_client([API_SCOPE])
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.source, TokenSource::IdentityProvider);
    assert_ne!(fresh.access_token.secret(), r.access_token.secret());

    // A wrong secret: the provider's 401 invalid_client.
    let e = p
        .confidential("not-the-secret")
        .acquire_token_for_client([API_SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "invalid_client"),
        "{e:?}"
    );
    assert_eq!(e.http_status(), Some(401), "{e:?}");
    assert!(!e.description().is_empty());

    // A scope the provider knows and this client may not ask for: 400 invalid_scope.
    let e = app
        .acquire_token_for_client(["api:admin"])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "invalid_scope"),
        "{e:?}"
    );
    assert_eq!(e.http_status(), Some(400), "{e:?}");
}

#[tokio::test]
async fn web_app_authorization_code_flow() {
    let p = OidcProvider::start();
    let app = p.confidential(CONFIDENTIAL_CLIENT_SECRET);
    let flow = app
        .initiate_auth_code_flow([API_SCOPE], WEB_REDIRECT_URI)
        .send()
        .await
        .unwrap();
    let auth_uri = Url::parse(flow.auth_uri()).unwrap();
    assert_eq!(
        auth_uri.as_str().split('?').next(),
        Some(format!("{}/auth", p.issuer).as_str())
    );
    let q = query(&auth_uri);
    assert_eq!(param(&q, "code_challenge_method"), Some("S256"));
    assert_eq!(
        param(&q, "scope"),
        Some("api:read openid profile offline_access")
    );

    let Outcome::Redirect(back) = p
        .user_agent()
        .sign_in(&auth_uri, "alice", Decision::Allow, None)
        .await
    else {
        panic!("the sign-in did not redirect back");
    };
    assert_eq!(back.as_str().split('?').next(), Some(WEB_REDIRECT_URI));
    let params = query(&back);
    assert_eq!(param(&params, "state"), Some(flow.state()));
    assert_eq!(
        param(&params, "iss"),
        Some(p.issuer.as_str()),
        "RFC 9207 iss"
    );

    // The provider announces `iss` in every authorization response (RFC 9207): a redirect
    // without it, or naming another server (a mix-up attack), is refused before the code
    // goes anywhere, so the real redirect still redeems it afterwards.
    mix_up::assert_mix_ups_refused(&app, &flow, &params).await;

    let r = app
        .acquire_token_by_auth_code_flow(&flow, params.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert!(r.declined_scopes.is_empty());
    assert_user_result(&p, &r, "alice", CONFIDENTIAL_CLIENT_ID);

    // The code is single use: the provider's invalid_grant (the user must sign in again).
    let e = app
        .acquire_token_by_auth_code_flow(&flow, params)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::UiRequired, "invalid_grant"),
        "{e:?}"
    );
    assert_eq!(e.http_status(), Some(400), "{e:?}");

    // A wrong secret at the code redemption: 401 invalid_client.
    let flow = app
        .initiate_auth_code_flow([API_SCOPE], WEB_REDIRECT_URI)
        .send()
        .await
        .unwrap();
    let Outcome::Redirect(back) = p
        .user_agent()
        .sign_in(
            &Url::parse(flow.auth_uri()).unwrap(),
            "alice",
            Decision::Allow,
            None,
        )
        .await
    else {
        panic!("the sign-in did not redirect back");
    };
    let e = p
        .confidential("not-the-secret")
        .acquire_token_by_auth_code_flow(&flow, query(&back))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "invalid_client"),
        "{e:?}"
    );
    assert_eq!(e.http_status(), Some(401), "{e:?}");

    // The user declines on the consent page: access_denied in the redirect is Cancelled.
    let flow = app
        .initiate_auth_code_flow([API_SCOPE], WEB_REDIRECT_URI)
        .send()
        .await
        .unwrap();
    let Outcome::Redirect(back) = p
        .user_agent()
        .sign_in(
            &Url::parse(flow.auth_uri()).unwrap(),
            "bob",
            Decision::Deny,
            None,
        )
        .await
    else {
        panic!("the declined sign-in did not redirect back");
    };
    let params = query(&back);
    assert_eq!(param(&params, "error"), Some("access_denied"), "{back}");
    let e = app
        .acquire_token_by_auth_code_flow(&flow, params)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Cancelled, "access_denied"),
        "{e:?}"
    );
    assert_eq!(e.description(), "End-User aborted interaction");
}

#[tokio::test]
async fn web_app_asking_for_an_unknown_scope_gets_a_declined_scopes_error() {
    let p = OidcProvider::start();
    let app = p.confidential(CONFIDENTIAL_CLIENT_SECRET);
    let flow = app
        .initiate_auth_code_flow([API_SCOPE, "api:unknown"], WEB_REDIRECT_URI)
        .send()
        .await
        .unwrap();
    let Outcome::Redirect(back) = p
        .user_agent()
        .sign_in(
            &Url::parse(flow.auth_uri()).unwrap(),
            "carol",
            Decision::Allow,
            None,
        )
        .await
    else {
        panic!("the sign-in did not redirect back");
    };
    // The provider ignores the scope it does not know and grants the others.
    let e = app
        .acquire_token_by_auth_code_flow(&flow, query(&back))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "declined_scopes"),
        "{e:?}"
    );
    assert_eq!(e.declined_scopes(), Some(&["api:unknown".to_owned()][..]));
    assert_eq!(e.granted_scopes(), Some(&[API_SCOPE.to_owned()][..]));
    let partial = e
        .partial_result()
        .expect("the tokens for the granted scopes");
    assert_user_result(&p, partial, "carol", CONFIDENTIAL_CLIENT_ID);
}

/// An interactive sign-in of `login` whose "browser" goes through the provider's pages and
/// then follows the redirect to the loopback listener. Returns the result and the authorize
/// URL the browser was given.
async fn sign_in_interactively(
    app: &PublicClientApplication,
    ua: &UserAgent,
    login: &'static str,
    prompt: Option<Prompt>,
) -> (Result<AuthenticationResult, msal::Error>, Url) {
    let seen: Arc<Mutex<Option<Url>>> = Default::default();
    let driver: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>> = Default::default();
    let browser = {
        let (seen, driver, ua) = (seen.clone(), driver.clone(), ua.clone());
        Browser::callback(move |url| {
            let url = Url::parse(url).unwrap();
            *seen.lock().unwrap() = Some(url.clone());
            let ua = ua.clone();
            *driver.lock().unwrap() = Some(tokio::spawn(async move {
                let Outcome::Redirect(back) = ua.sign_in(&url, login, Decision::Allow, None).await
                else {
                    panic!("the sign-in did not redirect back");
                };
                assert_eq!(back.host_str(), Some("127.0.0.1"));
                assert_eq!(back.path(), "/cb");
                let page = ua.get(&back).await;
                assert_eq!(
                    page.status, 200,
                    "the loopback listener's page: {}",
                    page.body
                );
            }));
            Ok(())
        })
    };
    let mut request = app
        .acquire_token_interactive([API_SCOPE])
        .redirect_uri(NATIVE_REDIRECT_URI)
        .browser(browser)
        .timeout(Duration::from_secs(20));
    if let Some(p) = prompt {
        request = request.prompt(p);
    }
    let r = request.send().await;
    let handle = driver
        .lock()
        .unwrap()
        .take()
        .expect("the browser was opened");
    handle.await.expect("the browser's sign-in");
    let url = seen.lock().unwrap().clone().unwrap();
    (r, url)
}

#[tokio::test]
async fn interactive_pkce_then_refresh() {
    let p = OidcProvider::start();
    let ua = p.user_agent();

    // Without prompt=consent the provider ignores `offline_access` (OpenID Connect Core 11:
    // "MUST ensure that the prompt parameter contains consent"): tokens, but no refresh token,
    // so a silent refresh needs the user.
    let app = p.public();
    let (r, url) = sign_in_interactively(&app, &ua, "dave", None).await;
    let r = r.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert!(r.declined_scopes.is_empty());
    assert_user_result(&p, &r, "dave", PUBLIC_CLIENT_ID);
    let q = query(&url);
    assert_eq!(param(&q, "client_id"), Some(PUBLIC_CLIENT_ID));
    assert_eq!(param(&q, "response_type"), Some("code"));
    assert_eq!(param(&q, "code_challenge_method"), Some("S256"));
    assert_eq!(param(&q, "code_challenge").map(str::len), Some(43));
    assert_eq!(param(&q, "prompt"), None);
    let redirect = param(&q, "redirect_uri").unwrap();
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/cb"),
        "{redirect}"
    );
    let e = app
        .acquire_token_silent([API_SCOPE], r.account.as_ref().unwrap())
        .force_refresh(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code(), e.classification()),
        (
            ErrorKind::UiRequired,
            "no_tokens_found",
            Some(UiRequiredClassification::AcquireTokenSilentFailed)
        ),
        "{e:?}"
    );

    // With prompt=consent the provider grants offline_access: a refresh token, redeemed by
    // acquire_token_silent.
    let app = p.public();
    let (r, url) = sign_in_interactively(&app, &ua, "dave", Some(Prompt::Consent)).await;
    assert_eq!(param(&query(&url), "prompt"), Some("consent"));
    let r = r.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert!(r.declined_scopes.is_empty());
    assert_user_result(&p, &r, "dave", PUBLIC_CLIENT_ID);
    assert_refresh(&p, &app, &r, "dave").await;
}

#[tokio::test]
async fn device_code_then_refresh() {
    let p = OidcProvider::start();
    let app = p.public();

    let run = |login: &'static str, decision: Decision| {
        let ua = p.user_agent();
        let driver: Arc<Mutex<Option<tokio::task::JoinHandle<String>>>> = Default::default();
        let d = driver.clone();
        let request = app
            .acquire_token_by_device_code([API_SCOPE])
            .on_code(move |info| {
                let ua = ua.clone();
                let (uri, code) = (info.verification_uri.clone(), info.user_code.clone());
                assert_eq!(info.interval_secs(), 1, "the interval the provider gave");
                *d.lock().unwrap() = Some(tokio::spawn(async move {
                    let uri = Url::parse(&uri).unwrap();
                    match ua.sign_in(&uri, login, decision, Some(&code)).await {
                        Outcome::Done(html) => html,
                        Outcome::Redirect(to) => panic!("the device flow redirected to {to}"),
                    }
                }));
            });
        async move {
            let r = tokio::time::timeout(Duration::from_secs(20), request.send())
                .await
                .expect("the device flow ended in time");
            let handle = driver.lock().unwrap().take().expect("the code was shown");
            let page = handle
                .await
                .expect("the user's sign-in on the device pages");
            (r, page)
        }
    };

    let (r, page) = run("erin", Decision::Allow).await;
    assert!(page.contains("Sign-in Success"), "{page}");
    let r = r.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert!(r.declined_scopes.is_empty());
    assert_user_result(&p, &r, "erin", PUBLIC_CLIENT_ID);
    assert_refresh(&p, &app, &r, "erin").await;

    // The user aborts on the device page: the poll's access_denied is Cancelled.
    let (r, _page) = run("frank", Decision::Deny).await;
    let e = r.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Cancelled, "access_denied"),
        "{e:?}"
    );
}

/// RFC 8628's device authorization response has no `message` (it is an Entra extension), and
/// oidc-provider sends none: the library must still give the callback instructions that name
/// the page and the code, since `message` is what callers show (the `msal` CLI prints only it).
#[tokio::test]
async fn device_code_message_names_the_page_and_the_code() {
    let p = OidcProvider::start();

    // On the wire: the provider's answer, without `message`.
    let raw = reqwest::Client::new()
        .post(format!("{}/device/auth", p.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("client_id={PUBLIC_CLIENT_ID}&scope=openid"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let raw: Value = serde_json::from_str(&raw.text().await.unwrap()).unwrap();
    assert!(raw.get("message").is_none(), "{raw}");
    assert!(
        raw["verification_uri"].is_string() && raw["user_code"].is_string(),
        "{raw}"
    );

    let seen: Arc<Mutex<Option<msal::DeviceCodeInfo>>> = Default::default();
    let s = seen.clone();
    let e = p
        .public()
        .acquire_token_by_device_code([API_SCOPE])
        .on_code(move |info| *s.lock().unwrap() = Some(info.clone()))
        .with_cancellation(tokio::time::sleep(Duration::from_millis(200)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Cancelled, "authentication_canceled"),
        "{e:?}"
    );
    let info = seen.lock().unwrap().clone().expect("the code was shown");
    assert_eq!(info.verification_uri, format!("{}/device", p.issuer));
    assert!(
        info.message.contains(&info.verification_uri) && info.message.contains(&info.user_code),
        "interop bug: the device code's `message` must tell the user where to go and what to \
         type when the provider sends no `message` (RFC 8628 defines none); got {:?} for {info:?}",
        info.message
    );
}
