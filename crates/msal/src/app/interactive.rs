//! The interactive flow of public clients: the authorization code flow with PKCE in the
//! system browser, with a loopback redirect (RFC 8252).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use super::AppCore;
use super::ScopeSet;
use super::auth_code::{
    AuthorizeOptions, AuthorizeUrl, ExpectedIssuer, RequestSecrets, authorize_option_methods,
    code_from_redirect, redeem_code,
};
use super::loopback::{Loopback, LoopbackUri, Pages};
use super::pipeline::{Claims, Context, Request, Steps};
use crate::account::Account;
use crate::error::{Error, codes};
use crate::oauth::TokenResponse;
use crate::result::AuthenticationResult;

/// The redirect URI of an interactive sign-in unless told otherwise: the loopback address on
/// an ephemeral port.
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost";

/// How long an interactive sign-in waits for the user unless told otherwise.
pub const DEFAULT_INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Opens the sign-in page: called with the authorize URL.
pub type BrowserCallback = Arc<dyn Fn(&str) -> Result<(), Error> + Send + Sync>;

/// How an interactive sign-in shows the sign-in page.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Browser {
    /// The browser the `BROWSER` environment variable names when it is set, else the
    /// system's: `xdg-open` (Linux and other Unixes), `open` (macOS), the URL protocol
    /// handler (Windows).
    #[default]
    System,
    /// A command in the syntax of the `BROWSER` variable: commands separated by `:` (`;` on
    /// Windows), tried in order until one starts; in each, `%s` is replaced with the URL, or
    /// the URL is added as the last argument. The command is run directly, not by a shell.
    Command(String),
    /// Your function: for headless hosts, tests, or an embedded web view.
    Callback(BrowserCallback),
}

impl Browser {
    /// A [`Browser::Command`].
    pub fn command(command: impl Into<String>) -> Self {
        Browser::Command(command.into())
    }

    /// A [`Browser::Callback`].
    pub fn callback(f: impl Fn(&str) -> Result<(), Error> + Send + Sync + 'static) -> Self {
        Browser::Callback(Arc::new(f))
    }

    /// Shows `url` to the user: runs the command or calls the function. A browser that
    /// cannot be started is a `Client` error `browser_unavailable`.
    pub fn open(&self, url: &str) -> Result<(), Error> {
        match self {
            Browser::Callback(f) => f(url),
            Browser::Command(cmd) => open_with_commands(cmd, url),
            Browser::System => match std::env::var("BROWSER") {
                Ok(cmd) if !cmd.trim().is_empty() => open_with_commands(&cmd, url),
                _ => spawn_detached(system_opener(url), "the system's URL opener"),
            },
        }
    }
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Browser::System => f.write_str("System"),
            Browser::Command(c) => f.debug_tuple("Command").field(c).finish(),
            Browser::Callback(_) => f.write_str("Callback(<function>)"),
        }
    }
}

#[cfg(target_os = "macos")]
fn system_opener(url: &str) -> Command {
    let mut c = Command::new("open");
    c.arg(url);
    c
}

#[cfg(windows)]
fn system_opener(url: &str) -> Command {
    // `cmd /C start` would parse `&` and `%` in the URL; the protocol handler takes it as is.
    let mut c = Command::new("rundll32.exe");
    c.arg("url.dll,FileProtocolHandler").arg(url);
    c
}

#[cfg(not(any(target_os = "macos", windows)))]
fn system_opener(url: &str) -> Command {
    let mut c = Command::new("xdg-open");
    c.arg(url);
    c
}

/// Splits one command of a `BROWSER` value into words: blanks separate them, single and
/// double quotes group them, a backslash escapes the next character outside single quotes.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// The commands of a `BROWSER` value, each as program and arguments with the URL in place.
fn browser_commands(value: &str, url: &str) -> Vec<Vec<String>> {
    let sep = if cfg!(windows) { ';' } else { ':' };
    value
        .split(sep)
        .map(split_words)
        .filter(|w| !w.is_empty())
        .map(|mut words| {
            if words.iter().any(|w| w.contains("%s")) {
                for w in &mut words {
                    *w = w.replace("%s", url);
                }
            } else {
                words.push(url.to_owned());
            }
            words
        })
        .collect()
}

fn open_with_commands(value: &str, url: &str) -> Result<(), Error> {
    let mut last = None;
    for words in browser_commands(value, url) {
        let mut c = Command::new(&words[0]);
        c.args(&words[1..]);
        match spawn_detached(c, &words[0]) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::client(
            codes::BROWSER_UNAVAILABLE,
            "the browser command is empty; set BROWSER to a browser command",
        )
    }))
}

/// Starts the browser without waiting for it, with its standard output kept away from ours
/// (a command-line tool's standard output is its answer). A thread reaps it.
fn spawn_detached(mut c: Command, name: &str) -> Result<(), Error> {
    c.stdin(Stdio::null()).stdout(Stdio::null());
    match c.spawn() {
        Ok(mut child) => {
            let name = name.to_owned();
            std::thread::spawn(move || match child.wait() {
                Ok(status) if !status.success() => {
                    tracing::warn!(browser = %name, %status, "the browser command failed");
                }
                _ => {}
            });
            Ok(())
        }
        Err(e) => Err(Error::client(
            codes::BROWSER_UNAVAILABLE,
            format!("cannot start the browser `{name}`: {e}; set BROWSER to a browser command"),
        )
        .with_source(e)),
    }
}

type CancelFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An interactive sign-in; set options, then [`send`](Self::send) it.
///
/// It listens on the loopback redirect URI, opens the sign-in page in the browser, waits for
/// the redirect (checking its `state`), redeems the code with the PKCE verifier (checking the
/// id token's `nonce`) and caches the tokens.
///
/// Errors: `access_denied` in the redirect (the user declined) is
/// [`crate::ErrorKind::Cancelled`], as are the caller's cancellation and the time-out (the
/// user closed the browser or walked away; code `authentication_timeout`); with
/// [`Prompt::None`](super::Prompt::None), a sign-in that needed the user is `UiRequired`
/// with classification [`crate::UiRequiredClassification::PromptNeverFailed`]. A redirect
/// whose `state` is not this request's (forged by another program, or a stale browser tab)
/// is answered with the error page and ignored: the sign-in goes on waiting for its own.
#[must_use = "a request does nothing until it is sent"]
pub struct InteractiveRequest {
    pub(crate) core: Arc<AppCore>,
    pub(crate) scopes: Result<ScopeSet, Error>,
    pub(crate) claims: Option<String>,
    pub(crate) auth: AuthorizeOptions,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) browser: Browser,
    pub(crate) timeout: Duration,
    pub(crate) pages: Pages,
    pub(crate) accept_partial: bool,
    pub(crate) correlation_id: Option<String>,
    pub(crate) cancel: Option<CancelFuture>,
    pub(crate) extra_query: Vec<(String, String)>,
    pub(crate) tenant: Option<String>,
    pub(crate) auth_scheme: Option<crate::pop::AuthScheme>,
}

impl fmt::Debug for InteractiveRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InteractiveRequest")
            .field("scopes", &self.scopes)
            .field("auth", &self.auth)
            .field("redirect_uri", &self.redirect_uri)
            .field("browser", &self.browser)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl InteractiveRequest {
    super::request_options!(
        claims,
        partial_scopes,
        correlation_id,
        extra_query,
        tenant,
        auth_scheme
    );

    pub(crate) fn new(core: Arc<AppCore>, scopes: Result<ScopeSet, Error>) -> Self {
        InteractiveRequest {
            core,
            scopes,
            claims: None,
            auth: AuthorizeOptions::default(),
            redirect_uri: None,
            browser: Browser::System,
            timeout: DEFAULT_INTERACTIVE_TIMEOUT,
            pages: Pages::default(),
            accept_partial: false,
            correlation_id: None,
            cancel: None,
            extra_query: Vec::new(),
            tenant: None,
            auth_scheme: None,
        }
    }

    authorize_option_methods!();

    /// Signs this account in again: its user name is the `login_hint`.
    pub fn account(self, account: &Account) -> Self {
        self.login_hint(account.username.clone())
    }

    /// The loopback redirect URI (default [`DEFAULT_REDIRECT_URI`]): `http://localhost`,
    /// `http://127.0.0.1` or `http://[::1]`, with a port to listen on that port (else an
    /// ephemeral one) and a path, kept as given. Any other URI is a `Client` error
    /// `invalid_redirect_uri` when the request is sent.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// How to show the sign-in page (default [`Browser::System`]).
    pub fn browser(mut self, browser: Browser) -> Self {
        self.browser = browser;
        self
    }

    /// How long to wait for the user (default [`DEFAULT_INTERACTIVE_TIMEOUT`]); then the
    /// call ends with a `Cancelled` error `authentication_timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The HTML page the browser shows after a successful sign-in.
    pub fn success_page(mut self, html: impl Into<String>) -> Self {
        self.pages.success = html.into();
        self
    }

    /// The HTML page the browser shows after a failed sign-in; `{error}` and
    /// `{error_description}` in it are replaced with the (HTML-escaped) values.
    pub fn error_page(mut self, html: impl Into<String>) -> Self {
        self.pages.error = html.into();
        self
    }

    /// Stops waiting, with a `Cancelled` error, when this future completes (e.g. Ctrl-C).
    pub fn with_cancellation(mut self, cancel: impl Future<Output = ()> + Send + 'static) -> Self {
        self.cancel = Some(Box::pin(cancel));
        self
    }

    /// Runs the sign-in until the user finished it, declined, or the time ran out.
    ///
    /// It needs a Tokio runtime (its loopback listener is a Tokio socket and task): outside
    /// one it fails at once with a `Client` error `no_async_runtime`.
    pub async fn send(self) -> Result<AuthenticationResult, Error> {
        let InteractiveRequest {
            core,
            scopes,
            claims,
            auth,
            redirect_uri,
            browser,
            timeout,
            pages,
            accept_partial,
            correlation_id,
            cancel,
            extra_query,
            tenant,
            auth_scheme,
        } = self;
        let req = Request {
            correlation_id: correlation_id.as_deref(),
            claims: Claims::Caller(claims.as_deref()),
            accept_partial,
            extra_query: &extra_query,
            tenant: tenant.as_deref(),
            scheme: auth_scheme.as_ref(),
            ..Request::user("interactive", &scopes)
        };
        let uri = LoopbackUri::parse(redirect_uri.as_deref().unwrap_or(DEFAULT_REDIRECT_URI));
        let sign_in = BrowserSignIn {
            auth,
            uri,
            browser,
            timeout,
            pages,
            cancel,
        };
        core.execute(req, sign_in).await
    }
}

/// The interactive flow's own steps: the loopback listener, the browser, the redirect.
struct BrowserSignIn {
    auth: AuthorizeOptions,
    uri: Result<LoopbackUri, Error>,
    browser: Browser,
    timeout: Duration,
    pages: Pages,
    cancel: Option<CancelFuture>,
}

impl Steps for BrowserSignIn {
    fn check(&mut self) -> Result<(), Error> {
        crate::runtime::require_tokio("an interactive sign-in (its loopback listener)")?;
        self.uri.as_ref().map(drop).map_err(Error::clone)
    }

    async fn token(self, cx: &Context<'_>) -> Result<TokenResponse, Error> {
        let cid = cx.correlation_id;
        let metadata = cx.metadata();
        let loopback = Loopback::bind(&self.uri?).await?;
        let redirect_uri = loopback.redirect_uri().to_owned();
        let secrets = RequestSecrets::new();
        let url = AuthorizeUrl {
            endpoint: &metadata.authorization_endpoint,
            client_id: &cx.core.client_id,
            redirect_uri: &redirect_uri,
            scope: cx.scope,
            secrets: &secrets,
            claims: cx.claims,
            options: &self.auth,
            extra_query: cx.extra_query,
        }
        .build()?;
        // The listener answers while the browser (or a callback that blocks) does its part.
        let mut waiter = AbortOnDrop(tokio::spawn(loopback.wait(
            self.pages,
            secrets.state.clone(),
            (metadata.issuer.clone(), metadata.authorization_response_iss),
        )));
        tracing::info!(correlation_id = %cid, %redirect_uri, "interactive: opening the sign-in page");
        self.browser.open(url.as_str())?;
        let cancel = self
            .cancel
            .unwrap_or_else(|| Box::pin(std::future::pending()));
        let params = tokio::select! {
            r = &mut waiter.0 => r.map_err(|e| {
                Error::client(codes::LOOPBACK_UNAVAILABLE, "the loopback listener stopped")
                    .with_source(e)
            })?,
            () = tokio::time::sleep(self.timeout) => {
                return Err(Error::cancelled(
                    codes::AUTHENTICATION_TIMEOUT,
                    format!(
                        "the sign-in was not finished within {} s (the browser may have been closed)",
                        self.timeout.as_secs()
                    ),
                ));
            }
            () = cancel => {
                return Err(Error::cancelled(codes::CANCELLED, "the interactive sign-in was cancelled by the caller"));
            }
        };
        drop(waiter);
        let prompt_none = self.auth.prompt == Some(super::Prompt::None);
        let code = code_from_redirect(
            &params,
            &secrets.state,
            ExpectedIssuer::of(metadata),
            prompt_none,
            cid,
        )?;
        redeem_code(
            cx,
            &code,
            &redirect_uri,
            &secrets.code_verifier,
            &secrets.nonce,
        )
        .await
    }
}

/// Stops the loopback listener when the flow ends early.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_variable_syntax() {
        let url = "http://x/?a=1&b=2";
        assert_eq!(
            browser_commands("firefox", url),
            vec![vec!["firefox".to_string(), url.to_string()]]
        );
        let sep = if cfg!(windows) { ';' } else { ':' };
        assert_eq!(
            browser_commands(&format!("'my browser' --new-tab %s{sep}{sep} lynx"), url),
            vec![
                vec![
                    "my browser".to_string(),
                    "--new-tab".to_string(),
                    url.to_string()
                ],
                vec!["lynx".to_string(), url.to_string()],
            ]
        );
        assert_eq!(
            split_words(r#"a "b c" d\ e 'f\g' """#),
            vec!["a", "b c", "d e", r"f\g", ""]
        );
    }

    #[test]
    fn a_missing_browser_is_a_client_error() {
        let e = Browser::command("/nonexistent/browser-for-msal-tests")
            .open("http://x/")
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Client);
        assert_eq!(e.code(), codes::BROWSER_UNAVAILABLE);
        let e = Browser::command("  ").open("http://x/").unwrap_err();
        assert_eq!(e.code(), codes::BROWSER_UNAVAILABLE);
    }
}
