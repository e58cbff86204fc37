//! The loopback redirect of the interactive flow (RFC 8252 section 7.3): a tiny HTTP server on
//! `127.0.0.1` / `[::1]` that waits for the browser's redirect, answers it with a page, and
//! ignores everything else (`/favicon.ico`, other paths, requests that are not a redirect,
//! redirects with another `state`, which get an error page and do not end the wait).
//!
//! It reads at most [`MAX_HEAD`] bytes of a request and gives each connection
//! [`READ_TIMEOUT`] to send them, so a hostile or broken client can neither exhaust memory nor
//! hold the flow; nothing in it can panic on what a client sends.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, codes};

/// The most a request line and headers may take.
const MAX_HEAD: usize = 16 * 1024;
/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ephemeral ports `localhost` tries when the one free on `127.0.0.1` is taken on
/// `[::1]`.
const EPHEMERAL_TRIES: u32 = 8;

/// Whether a failure to listen on `[::1]` means the machine has no IPv6 (no `::1` address,
/// or no IPv6 at all): then `127.0.0.1` alone receives the redirect. Every other failure
/// (the port taken, above all) is not ignored.
fn no_ipv6(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    let no_family = rustix::io::Errno::AFNOSUPPORT.raw_os_error();
    // WSAEAFNOSUPPORT.
    #[cfg(windows)]
    let no_family = 10047;
    #[cfg(not(any(unix, windows)))]
    let no_family = i32::MIN;
    e.kind() == ErrorKind::AddrNotAvailable || e.raw_os_error() == Some(no_family)
}

/// A loopback redirect URI, parsed: `http://localhost`, `http://127.0.0.1:8400/callback`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoopbackUri {
    /// The host as given (`localhost`, `127.0.0.1`, `[::1]`), lower-cased.
    host: String,
    /// The port given, if any.
    port: Option<u16>,
    /// Everything after the host and port, as given (may be empty).
    rest: String,
}

impl LoopbackUri {
    /// Parses a loopback redirect URI: `http` only, host `localhost`, `127.0.0.1` or `[::1]`,
    /// an optional port, a path kept as given; no user info, no fragment.
    pub(crate) fn parse(uri: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::client(
                codes::INVALID_REDIRECT_URI,
                format!(
                    "`{uri}` cannot be the redirect URI of an interactive sign-in: {why}; use a loopback URI such as `http://localhost` or `http://127.0.0.1/`"
                ),
            )
        };
        let uri = uri.trim();
        let Some((scheme, after)) = uri.split_once("://") else {
            return Err(bad("it is not an absolute URI"));
        };
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(bad(
                "the scheme must be `http` (the loopback address needs no TLS)",
            ));
        }
        if uri.contains('#') {
            return Err(bad("a redirect URI has no fragment"));
        }
        let end = after.find(['/', '?']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        if authority.contains('@') {
            return Err(bad("it has user info"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((h, tail)) = v6.split_once(']') else {
                return Err(bad("its IPv6 host is not closed"));
            };
            match tail {
                "" => (format!("[{h}]"), None),
                t => match t.strip_prefix(':') {
                    Some(p) => (format!("[{h}]"), Some(p)),
                    None => return Err(bad("its port is not valid")),
                },
            }
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port.map(str::parse::<u16>) {
            None => None,
            Some(Ok(n)) if n != 0 => Some(n),
            Some(_) => return Err(bad("its port is not valid")),
        };
        let host = host.to_ascii_lowercase();
        if !matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
            return Err(bad(
                "only loopback hosts (`localhost`, `127.0.0.1`, `[::1]`) can receive the redirect",
            ));
        }
        Ok(LoopbackUri {
            host,
            port,
            rest: rest.to_owned(),
        })
    }

    /// The path the redirect arrives on (`/` when the URI has none).
    fn path(&self) -> &str {
        let p = self.rest.split('?').next().unwrap_or_default();
        if p.is_empty() { "/" } else { p }
    }

    /// The URI with this port, the rest kept as given.
    fn with_port(&self, port: u16) -> String {
        format!("http://{}:{port}{}", self.host, self.rest)
    }

    /// The addresses to listen on: `localhost` is both `127.0.0.1` and `::1` (browsers try
    /// either), an IP literal is itself.
    fn addresses(&self) -> (IpAddr, Option<IpAddr>) {
        match self.host.as_str() {
            "[::1]" => (IpAddr::V6(Ipv6Addr::LOCALHOST), None),
            "127.0.0.1" => (IpAddr::V4(Ipv4Addr::LOCALHOST), None),
            _ => (
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ),
        }
    }
}

/// The pages the browser is shown at the end.
#[derive(Debug, Clone)]
pub(crate) struct Pages {
    /// After a redirect with a code.
    pub success: String,
    /// After a redirect with an error; `{error}` and `{error_description}` are replaced with
    /// the (HTML-escaped) values.
    pub error: String,
}

impl Default for Pages {
    fn default() -> Self {
        Pages {
            success: DEFAULT_SUCCESS_PAGE.to_owned(),
            error: DEFAULT_ERROR_PAGE.to_owned(),
        }
    }
}

const DEFAULT_SUCCESS_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head><body><h1 id=\"msal-success\">Authentication complete.</h1><p>You can close this window and return to the application.</p></body></html>";

const DEFAULT_ERROR_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sign-in failed</title></head><body><h1 id=\"msal-error\">Authentication failed.</h1><p>Error: <code id=\"msal-error-code\">{error}</code></p><p id=\"msal-error-description\">{error_description}</p><p>You can close this window and return to the application.</p></body></html>";

/// Escapes text for HTML.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A listening loopback redirect.
pub(crate) struct Loopback {
    listeners: Vec<TcpListener>,
    redirect_uri: String,
    path: String,
}

impl Loopback {
    /// Listens on the URI's port, or on an ephemeral one when it has none. For `localhost`,
    /// on `127.0.0.1` and `[::1]` both: a browser may try either, so a port that another
    /// program holds on `[::1]` is refused (`loopback_unavailable`) rather than left to it,
    /// as it would receive the redirect and its code. Only a machine without IPv6 listens on
    /// `127.0.0.1` alone. An ephemeral port taken on `[::1]` is replaced by another one.
    pub(crate) async fn bind(uri: &LoopbackUri) -> Result<Self, Error> {
        let unavailable = |addr: SocketAddr, e: std::io::Error| {
            Error::client(
                codes::LOOPBACK_UNAVAILABLE,
                format!("cannot listen on {addr} for the redirect: {e}"),
            )
            .with_source(e)
        };
        let (first, second) = uri.addresses();
        let tries = if uri.port.is_none() && second.is_some() {
            EPHEMERAL_TRIES
        } else {
            1
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let addr = SocketAddr::new(first, uri.port.unwrap_or(0));
            let primary = TcpListener::bind(addr)
                .await
                .map_err(|e| unavailable(addr, e))?;
            let port = primary
                .local_addr()
                .map_err(|e| unavailable(addr, e))?
                .port();
            let mut listeners = vec![primary];
            if let Some(ip) = second {
                let addr = SocketAddr::new(ip, port);
                match TcpListener::bind(addr).await {
                    Ok(l) => listeners.push(l),
                    Err(e) if no_ipv6(&e) => {
                        tracing::debug!(error = %e, "loopback: no IPv6, not listening on [::1]");
                    }
                    Err(e) if e.kind() == ErrorKind::AddrInUse && attempt < tries => {
                        tracing::debug!(port, "loopback: port taken on [::1], trying another");
                        continue;
                    }
                    Err(e) => {
                        return Err(Error::client(
                            codes::LOOPBACK_UNAVAILABLE,
                            format!(
                                "cannot listen on {addr} for the redirect: {e}; the browser \
                                 may send the redirect for `localhost` there, so another \
                                 program listening on it would receive it"
                            ),
                        )
                        .with_source(e));
                    }
                }
            }
            return Ok(Loopback {
                listeners,
                redirect_uri: uri.with_port(port),
                path: uri.path().to_owned(),
            });
        }
    }

    /// The redirect URI to send, with the port listened on.
    pub(crate) fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the redirect with the expected `state`, answers it (the success page when
    /// it has a code and, where the server sends one, the expected `iss`; else the error
    /// page) and returns its query parameters. A redirect with another `state` is answered
    /// `400` with the error page and does not end the wait.
    pub(crate) async fn wait(
        self,
        pages: Pages,
        expected_state: String,
        expected_issuer: (String, bool),
    ) -> Vec<(String, String)> {
        let (tx, mut rx) = mpsc::channel::<Vec<(String, String)>>(1);
        let ctx = Arc::new(ConnCtx {
            path: self.path,
            pages,
            expected_state,
            expected_issuer,
            tx,
        });
        let tasks = Tasks(
            self.listeners
                .into_iter()
                .map(|l| tokio::spawn(accept_loop(l, ctx.clone())))
                .collect(),
        );
        drop(ctx);
        let params = rx.recv().await.unwrap_or_default();
        drop(tasks);
        params
    }
}

/// Aborts the accept loops when the wait ends (answered, timed out or cancelled).
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

struct ConnCtx {
    path: String,
    pages: Pages,
    expected_state: String,
    /// The metadata's issuer, and whether the server promised `iss` (RFC 9207).
    expected_issuer: (String, bool),
    tx: mpsc::Sender<Vec<(String, String)>>,
}

async fn accept_loop(listener: TcpListener, ctx: Arc<ConnCtx>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(stream, &ctx).await {
                        tracing::debug!(error = %e, "loopback: connection dropped");
                    }
                });
            }
            Err(e) => {
                // Out of descriptors and the like: wait a little instead of spinning.
                tracing::debug!(error = %e, "loopback: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads the request line and headers: `None` when the client sent too much, too slowly, or
/// closed the connection first.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let read = async {
        loop {
            if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
                return true;
            }
            if buf.len() > MAX_HEAD {
                return false;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(true) => Some(buf),
        _ => None,
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// What a request is to the flow.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// The redirect, with its query parameters.
    Redirect(Vec<(String, String)>),
    /// Something else (a favicon, another path, a visit without parameters).
    NotFound,
    /// Not a GET request.
    MethodNotAllowed,
    /// Not HTTP at all.
    Bad,
}

/// Classifies a request head. Never panics, whatever the bytes.
fn classify(head: &[u8], path: &str) -> Request {
    let text = String::from_utf8_lossy(head);
    let Some(line) = text.lines().next() else {
        return Request::Bad;
    };
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    if !version.starts_with("HTTP/") {
        return Request::Bad;
    }
    if method != "GET" {
        return Request::MethodNotAllowed;
    }
    // The absolute form (`GET http://127.0.0.1:1234/path?q HTTP/1.1`) names the same resource.
    let target = match target.strip_prefix("http://") {
        Some(after) => match after.find('/') {
            Some(i) => &after[i..],
            None => "/",
        },
        None => target,
    };
    let (req_path, query) = target.split_once('?').unwrap_or((target, ""));
    if req_path != path {
        return Request::NotFound;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let is_redirect = params
        .iter()
        .any(|(k, _)| k == "code" || k == "error" || k == "state");
    if is_redirect {
        Request::Redirect(params)
    } else {
        Request::NotFound
    }
}

async fn serve(mut stream: TcpStream, ctx: &ConnCtx) -> std::io::Result<()> {
    let Some(head) = read_head(&mut stream).await else {
        return Ok(());
    };
    const TEXT: &str = "text/plain; charset=utf-8";
    const HTML: &str = "text/html; charset=utf-8";
    match classify(&head, &ctx.path) {
        Request::Bad => respond(&mut stream, "400 Bad Request", TEXT, "Bad request\n").await,
        Request::MethodNotAllowed => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                TEXT,
                "Method not allowed\n",
            )
            .await
        }
        Request::NotFound => respond(&mut stream, "404 Not Found", TEXT, "Not found\n").await,
        Request::Redirect(params) => {
            let error_page = |error: &str, description: &str| {
                ctx.pages
                    .error
                    .replace("{error}", &html_escape(error))
                    .replace("{error_description}", &html_escape(description))
            };
            // Another state is not this sign-in's answer (a request forged by another local
            // program or a web page, a stale tab): it must not end the sign-in, or anyone able
            // to reach the port could abort it. Refused, and the wait goes on.
            if !super::auth_code::state_matches(&params, &ctx.expected_state) {
                tracing::debug!("loopback: a redirect with another state was refused");
                let page = error_page(
                    codes::STATE_MISMATCH,
                    "This answer does not belong to the sign-in in progress (its state does not match) and was ignored. If you are signing in, finish it in the window the application opened.",
                );
                return respond(&mut stream, "400 Bad Request", HTML, &page).await;
            }
            // The page says what the flow will conclude from the same parameters.
            let (issuer, required) = &ctx.expected_issuer;
            let checked = super::auth_code::code_from_redirect(
                &params,
                &ctx.expected_state,
                super::auth_code::ExpectedIssuer {
                    issuer,
                    required: *required,
                },
                false,
                "",
            );
            let page = match checked {
                Ok(_) => ctx.pages.success.clone(),
                Err(e) if e.code() == codes::ISSUER_MISMATCH => error_page(
                    codes::ISSUER_MISMATCH,
                    "The answer comes from another server than the one this sign-in went to. Start the sign-in again from the application.",
                ),
                Err(e) if e.code() == codes::INVALID_ARGUMENT => error_page(
                    codes::INVALID_RESPONSE,
                    "The redirect has no authorization code.",
                ),
                Err(e) => error_page(e.code(), e.description()),
            };
            let result = respond(&mut stream, "200 OK", HTML, &page).await;
            // The flow ends with this redirect, whether the page reached the browser or not.
            let _ = ctx.tx.send(params).await;
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_uris_keep_port_and_path() {
        let u = LoopbackUri::parse("http://localhost").unwrap();
        assert_eq!((u.port, u.path()), (None, "/"));
        assert_eq!(u.with_port(5000), "http://localhost:5000");
        let u = LoopbackUri::parse("http://127.0.0.1/").unwrap();
        assert_eq!(u.with_port(5000), "http://127.0.0.1:5000/");
        let u = LoopbackUri::parse("HTTP://LocalHost:8400/auth/cb?x=1").unwrap();
        assert_eq!(u.port, Some(8400));
        assert_eq!(u.path(), "/auth/cb");
        assert_eq!(u.with_port(8400), "http://localhost:8400/auth/cb?x=1");
        let u = LoopbackUri::parse("http://[::1]:9000/x").unwrap();
        assert_eq!((u.port, u.path()), (Some(9000), "/x"));
        assert_eq!(u.addresses(), (IpAddr::V6(Ipv6Addr::LOCALHOST), None));
    }

    #[test]
    fn only_a_missing_ipv6_lets_localhost_listen_on_ipv4_alone() {
        assert!(no_ipv6(&std::io::Error::from(ErrorKind::AddrNotAvailable)));
        #[cfg(unix)]
        assert!(no_ipv6(&std::io::Error::from_raw_os_error(
            rustix::io::Errno::AFNOSUPPORT.raw_os_error()
        )));
        for taken in [
            ErrorKind::AddrInUse,
            ErrorKind::PermissionDenied,
            ErrorKind::Other,
        ] {
            assert!(!no_ipv6(&std::io::Error::from(taken)), "{taken:?}");
        }
    }

    #[test]
    fn non_loopback_redirect_uris_are_client_errors() {
        for bad in [
            "https://localhost",
            "http://example.com",
            "http://localhost.example.com",
            "http://127.0.0.2",
            "http://user@localhost",
            "http://localhost:0",
            "http://localhost:99999",
            "http://localhost:x",
            "http://localhost/#frag",
            "localhost:8080",
            "http://[::1",
            "",
        ] {
            let e = LoopbackUri::parse(bad).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Client, "{bad}");
            assert_eq!(e.code(), codes::INVALID_REDIRECT_URI, "{bad}");
        }
    }

    #[test]
    fn requests_are_classified_without_panicking() {
        let r = |s: &[u8]| classify(s, "/cb");
        assert_eq!(
            r(b"GET /cb?code=c&state=s HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Redirect(vec![
                ("code".into(), "c".into()),
                ("state".into(), "s".into())
            ])
        );
        assert_eq!(
            r(b"GET http://127.0.0.1:5/cb?error=x HTTP/1.1\r\n\r\n"),
            Request::Redirect(vec![("error".into(), "x".into())])
        );
        assert_eq!(r(b"GET /favicon.ico HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(r(b"GET /cb HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(r(b"GET /cb?foo=1 HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(
            r(b"POST /cb?code=1 HTTP/1.1\r\n\r\n"),
            Request::MethodNotAllowed
        );
        for garbage in [
            &b""[..],
            b"\r\n\r\n",
            b"\xff\xfe\x00 \x80 \xc3",
            b"GET",
            b"GET /cb",
            b"GET /cb?code=%ZZ%\xff SPDY/3\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ] {
            assert!(
                matches!(r(garbage), Request::Bad | Request::NotFound),
                "{garbage:?}"
            );
        }
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
