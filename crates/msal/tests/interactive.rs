//! The interactive flow on the wire: the authorize URL the browser gets, the loopback
//! listener's answers, and the code redemption, against the scripted identity provider. The
//! "browser" is a callback that plays the identity provider's redirect to the loopback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Answer, MockIdp, TENANT, UID, b64, jwt};
use msal::{Browser, ErrorKind, Prompt, PublicClientApplication, UiRequiredClassification};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

const CLIENT: &str = "public-client";

fn app(idp: &MockIdp) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT)
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap()
}

fn query(url: &Url) -> Vec<(String, String)> {
    url.query_pairs().into_owned().collect()
}

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Sends raw bytes to the loopback and reads the whole answer.
async fn raw(addr: &str, bytes: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The listener may hang up before reading everything (an oversized request).
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// A GET of `url` on the loopback: the status line and the body.
async fn http_get(url: &str) -> (String, String) {
    let u = Url::parse(url).unwrap();
    let addr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let target = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    let answer = raw(
        &addr,
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A user token answer whose id token carries `nonce`.
fn user_token_with_nonce(nonce: &str, scope: &str) -> Answer {
    let id = jwt(json!({
        "aud": CLIENT, "iss": format!("https://login/{TENANT}/v2.0"), "tid": TENANT,
        "oid": UID, "sub": "sub-1", "preferred_username": "alice@contoso.onmicrosoft.com",
        "name": "Alice", "ver": "2.0", "nonce": nonce,
    }));
    Answer::json(
        200,
        json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": "at-interactive", "refresh_token": "rt-interactive",
            "id_token": id, "scope": scope,
            "client_info": b64(&json!({"uid": UID, "utid": TENANT})),
        }),
    )
}

/// What the fake browser saw and was answered.
#[derive(Default)]
struct Seen {
    url: Option<Url>,
    pages: Vec<(String, String)>,
}

/// A browser that, given the authorize URL, calls `script` to build the redirect's query
/// (from the URL's parameters) and GETs the loopback with it, after `before` (other
/// requests that the listener must ignore).
fn scripted_browser(
    idp: &MockIdp,
    seen: Arc<Mutex<Seen>>,
    token: Option<&'static str>,
    redirect_query: impl Fn(&[(String, String)]) -> Vec<(String, String)> + Send + Sync + 'static,
) -> Browser {
    let idp = idp.clone();
    let redirect_query = Arc::new(redirect_query);
    Browser::callback(move |url| {
        let url = Url::parse(url).unwrap();
        let pairs = query(&url);
        if let Some(scope) = token {
            idp.push_token(user_token_with_nonce(get(&pairs, "nonce").unwrap(), scope));
        }
        let redirect = get(&pairs, "redirect_uri").unwrap().to_owned();
        let q = redirect_query(&pairs);
        seen.lock().unwrap().url = Some(url);
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut target = Url::parse(&redirect).unwrap();
            target.query_pairs_mut().extend_pairs(&q);
            let page = http_get(target.as_str()).await;
            seen.lock().unwrap().pages.push(page);
        });
        Ok(())
    })
}

/// The first page the fake browser was shown (it reads it after the flow has its answer).
async fn first_page(seen: &Arc<Mutex<Seen>>) -> (String, String) {
    for _ in 0..500 {
        if let Some(p) = seen.lock().unwrap().pages.first() {
            return p.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the browser got no page");
}

fn code_and_state(pairs: &[(String, String)]) -> Vec<(String, String)> {
    vec![
        ("code".into(), "the-code".into()),
        ("state".into(), get(pairs, "state").unwrap().into()),
        ("session_state".into(), "s1".into()),
    ]
}

#[tokio::test]
async fn the_authorize_url_and_the_code_redemption_are_exact() {
    let idp = MockIdp::start().await;
    let app = PublicClientApplication::builder(CLIENT)
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_capabilities(["cp1"])
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let r = app
        .acquire_token_interactive(["User.Read"])
        .prompt(Prompt::SelectAccount)
        .login_hint("alice@contoso.onmicrosoft.com")
        .domain_hint("contoso.com")
        .extra_query_parameter("msafed", "0")
        .with_claims(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#)
        .redirect_uri("http://127.0.0.1/")
        .browser(scripted_browser(
            &idp,
            seen.clone(),
            Some("User.Read openid profile offline_access"),
            code_and_state,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-interactive");
    assert_eq!(r.source, msal::TokenSource::IdentityProvider);
    let account = r.account.expect("the user's account");
    assert_eq!(account.home_account_id, format!("{UID}.{TENANT}"));
    assert_eq!(account.username, "alice@contoso.onmicrosoft.com");
    assert_eq!(r.id_token_claims.unwrap()["name"], "Alice");

    let url = seen.lock().unwrap().url.clone().unwrap();
    assert_eq!(
        format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap(),
            url.path()
        ),
        format!(
            "http://127.0.0.1{}",
            Url::parse(&idp.authority()).unwrap().path()
        ) + "/oauth2/v2.0/authorize"
    );
    let pairs = query(&url);
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "client_id",
            "response_type",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "client_info",
            "prompt",
            "login_hint",
            "domain_hint",
            "claims",
            "msafed"
        ]
    );
    assert_eq!(get(&pairs, "client_id"), Some(CLIENT));
    assert_eq!(get(&pairs, "response_type"), Some("code"));
    let redirect_uri = get(&pairs, "redirect_uri").unwrap();
    let ru = Url::parse(redirect_uri).unwrap();
    assert_eq!(ru.host_str(), Some("127.0.0.1"));
    assert!(ru.port().is_some_and(|p| p > 0), "an ephemeral port");
    assert!(
        redirect_uri.ends_with('/'),
        "the path is kept as given: {redirect_uri}"
    );
    assert_eq!(
        get(&pairs, "scope"),
        Some("User.Read openid profile offline_access")
    );
    let state = get(&pairs, "state").unwrap();
    let nonce = get(&pairs, "nonce").unwrap();
    assert!(state.len() >= 32 && nonce.len() >= 32 && state != nonce);
    assert_eq!(get(&pairs, "code_challenge_method"), Some("S256"));
    assert_eq!(get(&pairs, "client_info"), Some("1"));
    assert_eq!(get(&pairs, "prompt"), Some("select_account"));
    assert_eq!(
        get(&pairs, "login_hint"),
        Some("alice@contoso.onmicrosoft.com")
    );
    assert_eq!(get(&pairs, "domain_hint"), Some("contoso.com"));
    assert_eq!(get(&pairs, "msafed"), Some("0"));
    let claims: serde_json::Value = serde_json::from_str(get(&pairs, "claims").unwrap()).unwrap();
    assert_eq!(claims["access_token"]["acrs"]["value"], "c1");
    assert_eq!(claims["access_token"]["xms_cc"]["values"], json!(["cp1"]));

    let tokens = idp.token_requests();
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0];
    assert_eq!(
        t.field_names(),
        [
            "claims",
            "client_id",
            "client_info",
            "code",
            "code_verifier",
            "grant_type",
            "redirect_uri",
            "scope"
        ]
    );
    assert_eq!(t.field("grant_type"), Some("authorization_code"));
    assert_eq!(t.field("code"), Some("the-code"));
    assert_eq!(t.field("client_id"), Some(CLIENT));
    assert_eq!(t.field("client_info"), Some("1"));
    assert_eq!(
        t.field("redirect_uri"),
        Some(redirect_uri),
        "the same redirect URI"
    );
    assert_eq!(
        t.field("scope"),
        Some("User.Read openid profile offline_access")
    );
    assert_eq!(t.field("claims"), get(&pairs, "claims"));
    let verifier = t.field("code_verifier").unwrap();
    assert_eq!(verifier.len(), 43);
    assert_eq!(
        get(&pairs, "code_challenge").unwrap(),
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        "PKCE S256: the challenge is the verifier's hash"
    );
    assert_eq!(
        t.header("client-request-id"),
        Some(r.correlation_id.as_str())
    );

    // The browser was shown the success page.
    let page = first_page(&seen).await;
    assert!(page.0.starts_with("HTTP/1.1 200"), "{page:?}");
    assert!(page.1.contains("id=\"msal-success\""));
}

#[tokio::test]
async fn the_listener_ignores_other_requests_and_survives_hostile_ones() {
    let idp = MockIdp::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let (idp2, seen2, answers2) = (idp.clone(), seen.clone(), answers.clone());
    let browser = Browser::callback(move |url| {
        let url = Url::parse(url).unwrap();
        let pairs = query(&url);
        idp2.push_token(user_token_with_nonce(
            get(&pairs, "nonce").unwrap(),
            "User.Read",
        ));
        let redirect = Url::parse(get(&pairs, "redirect_uri").unwrap()).unwrap();
        let addr = format!("127.0.0.1:{}", redirect.port().unwrap());
        let state = get(&pairs, "state").unwrap().to_owned();
        let (seen, answers) = (seen2.clone(), answers2.clone());
        tokio::spawn(async move {
            let base = format!("http://{addr}");
            let mut got = vec![
                http_get(&format!("{base}/favicon.ico")).await.0,
                http_get(&format!("{base}/elsewhere?code=x&state={state}"))
                    .await
                    .0,
                http_get(&format!("{base}/cb")).await.0,
                raw(
                    &addr,
                    b"POST /cb?code=x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                )
                .await,
                raw(
                    &addr,
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                )
                .await,
                raw(&addr, b"GET /cb?%FF%\xff\xfe=1 HTTP/1.1\r\n\r\n").await,
            ];
            // Far more than a request head may take: the connection is dropped.
            let mut huge = b"GET /cb?".to_vec();
            huge.extend(std::iter::repeat_n(b'a', 64 * 1024));
            got.push(raw(&addr, &huge).await);
            // A client that connects and sends nothing does not hold the flow.
            let _idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
            answers.lock().unwrap().extend(got);
            let page = http_get(&format!("{base}/cb?code=c&state={state}")).await;
            seen.lock().unwrap().pages.push(page);
        });
        Ok(())
    });
    let r = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .redirect_uri("http://127.0.0.1/cb")
        .browser(browser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-interactive");
    let answers = answers.lock().unwrap().clone();
    assert!(
        answers[0].starts_with("HTTP/1.1 404"),
        "favicon: {}",
        answers[0]
    );
    assert!(
        answers[1].starts_with("HTTP/1.1 404"),
        "another path: {}",
        answers[1]
    );
    assert!(
        answers[2].starts_with("HTTP/1.1 404"),
        "no parameters: {}",
        answers[2]
    );
    assert!(
        answers[3].starts_with("HTTP/1.1 405"),
        "POST: {}",
        answers[3]
    );
    assert!(
        answers[4].starts_with("HTTP/1.1 400"),
        "TLS hello: {}",
        answers[4]
    );
    assert!(
        answers[5].starts_with("HTTP/1.1 404"),
        "bad escapes: {}",
        answers[5]
    );
    assert!(
        answers[6].is_empty(),
        "an oversized head gets no answer: {}",
        answers[6]
    );
    assert!(first_page(&seen).await.1.contains("msal-success"));
    assert_eq!(idp.token_requests().len(), 1);
}

/// A redirect with another `state` (here: the only one the "browser" sends) is answered 400
/// with the error page, its code is never redeemed, and the sign-in goes on waiting: here
/// until the caller cancels it, once the refusal was seen.
#[tokio::test]
async fn a_redirect_with_another_state_is_refused_and_does_not_end_the_sign_in() {
    let idp = MockIdp::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let answered = seen.clone();
    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(scripted_browser(&idp, seen.clone(), None, |_| {
            vec![
                ("code".into(), "attacker-code".into()),
                ("state".into(), "forged".into()),
            ]
        }))
        .with_cancellation(async move {
            first_page(&answered).await;
        })
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Cancelled, "authentication_canceled"),
        "the forged redirect did not end the sign-in: {e}"
    );
    assert!(
        idp.token_requests().is_empty(),
        "the code is never redeemed"
    );
    let (status, page) = first_page(&seen).await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    assert!(page.contains("msal-error") && page.contains("state_mismatch"));
    assert!(page.contains("does not belong to the sign-in in progress"));
}

/// Forged redirects (another `state`, or none) before the real one: each is refused with a
/// page, and the real redirect still signs the user in, with its own code.
#[tokio::test]
async fn forged_redirects_do_not_abort_the_real_sign_in() {
    let idp = MockIdp::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (idp2, seen2) = (idp.clone(), seen.clone());
    let browser = Browser::callback(move |url| {
        let url = Url::parse(url).unwrap();
        let pairs = query(&url);
        idp2.push_token(user_token_with_nonce(
            get(&pairs, "nonce").unwrap(),
            "User.Read",
        ));
        let redirect = Url::parse(get(&pairs, "redirect_uri").unwrap()).unwrap();
        let with = |q: &[(String, String)]| {
            let mut u = redirect.clone();
            u.query_pairs_mut().extend_pairs(q);
            u.to_string()
        };
        let forged = [
            with(&[
                ("code".into(), "attacker-code".into()),
                ("state".into(), "forged".into()),
            ]),
            with(&[("error".into(), "access_denied".into())]),
        ];
        let real = with(&code_and_state(&pairs));
        let seen = seen2.clone();
        tokio::spawn(async move {
            for u in forged.iter().chain([&real]) {
                let page = http_get(u).await;
                seen.lock().unwrap().pages.push(page);
            }
        });
        Ok(())
    });
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        app(&idp)
            .acquire_token_interactive(["User.Read"])
            .browser(browser)
            .send(),
    )
    .await
    .expect("the sign-in ends")
    .unwrap();
    assert_eq!(r.access_token.secret(), "at-interactive");
    let tokens = idp.token_requests();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].field("code"), Some("the-code"));
    for _ in 0..500 {
        if seen.lock().unwrap().pages.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pages = seen.lock().unwrap().pages.clone();
    assert_eq!(pages.len(), 3, "{pages:?}");
    for (status, page) in &pages[..2] {
        assert!(status.starts_with("HTTP/1.1 400"), "{status}");
        assert!(page.contains("state_mismatch"), "{page}");
    }
    assert!(pages[2].0.starts_with("HTTP/1.1 200"), "{:?}", pages[2]);
    assert!(pages[2].1.contains("msal-success"));
}

/// `http://localhost:PORT` listens on `127.0.0.1` and `[::1]`: when another program holds
/// the port on `[::1]` (where a browser may send the redirect), the sign-in fails before the
/// browser opens instead of leaving the redirect, and its code, to that program.
#[tokio::test]
async fn a_port_another_program_holds_on_ipv6_is_refused() {
    let idp = MockIdp::start().await;
    let mut held = None;
    for _ in 0..20 {
        let Ok(v6) = std::net::TcpListener::bind("[::1]:0") else {
            eprintln!("no IPv6 on this machine: nothing to test");
            return;
        };
        let port = v6.local_addr().unwrap().port();
        // The same port must be free on 127.0.0.1, so that only [::1] is in the way.
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            held = Some((v6, port));
            break;
        }
    }
    let (_v6, port) = held.expect("a port free on 127.0.0.1 and held on [::1]");
    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .redirect_uri(format!("http://localhost:{port}/"))
        .browser(Browser::callback(|_| {
            panic!("the browser must not open when [::1] is taken")
        }))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "loopback_unavailable"),
        "{e}"
    );
    assert!(e.description().contains(&format!("[::1]:{port}")), "{e}");
}

#[tokio::test]
async fn access_denied_is_cancelled_and_the_error_page_is_escaped() {
    let idp = MockIdp::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(scripted_browser(&idp, seen.clone(), None, |p| {
            vec![
                ("error".into(), "access_denied".into()),
                (
                    "error_description".into(),
                    "AADSTS65004: User declined to consent <script>x</script>".into(),
                ),
                ("state".into(), get(p, "state").unwrap().into()),
            ]
        }))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(e.code(), "access_denied");
    assert_eq!(e.aadsts_codes(), &[65004]);
    assert_eq!(e.classification(), None);
    assert!(idp.token_requests().is_empty());
    let page = first_page(&seen).await.1;
    assert!(page.contains("access_denied"));
    assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
}

#[tokio::test]
async fn prompt_none_without_a_session_is_prompt_never_failed() {
    let idp = MockIdp::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .prompt(Prompt::None)
        .browser(scripted_browser(&idp, seen.clone(), None, |p| {
            vec![
                ("error".into(), "login_required".into()),
                (
                    "error_description".into(),
                    "AADSTS50058: A silent sign-in request was sent but no user is signed in."
                        .into(),
                ),
                ("state".into(), get(p, "state").unwrap().into()),
            ]
        }))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        get(&query(seen.lock().unwrap().url.as_ref().unwrap()), "prompt"),
        Some("none")
    );
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(e.code(), "login_required");
    assert_eq!(
        e.classification(),
        Some(UiRequiredClassification::PromptNeverFailed)
    );
    assert_eq!(e.aadsts_codes(), &[50058]);

    // Without prompt=none the same answer is an ordinary UiRequired error.
    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(scripted_browser(&idp, seen.clone(), None, |p| {
            vec![
                ("error".into(), "consent_required".into()),
                ("state".into(), get(p, "state").unwrap().into()),
            ]
        }))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::UiRequired, "consent_required")
    );
    assert_eq!(e.classification(), Some(UiRequiredClassification::None));
}

/// RFC 9207: a redirect that names another issuer than the authority's metadata is refused,
/// and the code is never sent to the token endpoint. The mock's metadata does not announce
/// `iss`, so a redirect without it (Entra's case) is accepted.
#[tokio::test]
async fn a_redirect_from_another_issuer_is_refused() {
    let idp = MockIdp::start().await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(scripted_browser(&idp, seen.clone(), None, |p| {
            let mut back = code_and_state(p);
            back.push(("iss".into(), "https://attacker.example/v2.0".into()));
            back
        }))
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Client, "issuer_mismatch"));
    assert!(e.description().contains("https://attacker.example/v2.0"));
    assert_eq!(idp.token_requests().len(), 0, "the code was not redeemed");
    // The browser is told the same, not "signed in".
    let page = first_page(&seen).await.1;
    assert!(
        page.contains("msal-error") && page.contains("issuer_mismatch"),
        "{page}"
    );
}

#[tokio::test]
async fn an_id_token_for_another_nonce_is_refused() {
    let idp = MockIdp::start().await;
    idp.push_token(user_token_with_nonce("someone-elses-nonce", "User.Read"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = app(&idp);
    let e = app
        .acquire_token_interactive(["User.Read"])
        .browser(scripted_browser(&idp, seen, None, code_and_state))
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Client, "state_mismatch"));
    assert!(e.description().contains("nonce"));
    assert!(
        app.accounts().await.unwrap().is_empty(),
        "nothing was cached"
    );
}

#[tokio::test]
async fn time_out_and_caller_cancellation_are_cancelled() {
    let idp = MockIdp::start().await;
    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(Browser::callback(|_| Ok(())))
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Cancelled, "authentication_timeout")
    );

    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(Browser::callback(|_| Ok(())))
        .with_cancellation(async {})
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Cancelled, "authentication_canceled")
    );

    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(Browser::callback(|_| {
            Err(msal::Error::client("browser_unavailable", "no display"))
        }))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "browser_unavailable")
    );
    assert!(idp.token_requests().is_empty());
}

#[tokio::test]
async fn redirect_uris_are_loopback_only_with_their_port_and_path() {
    let idp = MockIdp::start().await;
    for bad in [
        "https://localhost",
        "http://app.example.com/cb",
        "http://10.0.0.1:8080",
    ] {
        let e = app(&idp)
            .acquire_token_interactive(["User.Read"])
            .redirect_uri(bad)
            .browser(Browser::callback(|_| {
                panic!("no browser for a bad redirect URI")
            }))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, "invalid_redirect_uri"),
            "{bad}"
        );
    }
    assert!(idp.requests().is_empty(), "refused before any request");

    // A port given is the port listened on; the path is kept.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    app(&idp)
        .acquire_token_interactive(["User.Read"])
        .redirect_uri(format!("http://localhost:{port}/auth/done"))
        .browser(scripted_browser(
            &idp,
            seen.clone(),
            Some("User.Read"),
            code_and_state,
        ))
        .send()
        .await
        .unwrap();
    let pairs = query(seen.lock().unwrap().url.as_ref().unwrap());
    let expected = format!("http://localhost:{port}/auth/done");
    assert_eq!(get(&pairs, "redirect_uri"), Some(expected.as_str()));
    assert_eq!(
        idp.token_requests()[0].field("redirect_uri"),
        Some(expected.as_str())
    );

    // `http://localhost` gets an ephemeral port and no path.
    let seen = Arc::new(Mutex::new(Seen::default()));
    app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(scripted_browser(
            &idp,
            seen.clone(),
            Some("User.Read"),
            code_and_state,
        ))
        .send()
        .await
        .unwrap();
    let pairs = query(seen.lock().unwrap().url.as_ref().unwrap());
    let ru = get(&pairs, "redirect_uri").unwrap();
    assert!(
        ru.starts_with("http://localhost:") && !ru.ends_with('/'),
        "{ru}"
    );
}

#[tokio::test]
async fn extra_parameters_cannot_replace_the_librarys_own() {
    let idp = MockIdp::start().await;
    let e = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .extra_query_parameter("State", "mine")
        .browser(Browser::callback(|_| panic!("not opened")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "invalid_argument")
    );
}

#[tokio::test]
async fn declined_scopes_fail_unless_partial_grants_are_allowed() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let granted = "User.Read openid profile offline_access";
    let e = app
        .acquire_token_interactive(["User.Read", "Mail.Read"])
        .browser(scripted_browser(
            &idp,
            seen.clone(),
            Some(granted),
            code_and_state,
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Service, "declined_scopes")
    );
    assert_eq!(e.declined_scopes().unwrap(), ["Mail.Read"]);
    assert!(e.granted_scopes().unwrap().iter().any(|s| s == "User.Read"));
    let partial = e
        .partial_result()
        .expect("the result for the granted scopes");
    assert_eq!(partial.access_token.secret(), "at-interactive");
    assert_eq!(partial.declined_scopes, ["Mail.Read"]);
    assert_eq!(
        app.accounts().await.unwrap().len(),
        1,
        "the tokens are cached"
    );

    let r = app
        .acquire_token_interactive(["User.Read", "Mail.Read"])
        .allow_partial_scopes(true)
        .browser(scripted_browser(&idp, seen, Some(granted), code_and_state))
        .send()
        .await
        .unwrap();
    assert_eq!(r.declined_scopes, ["Mail.Read"]);
    assert!(r.scopes.iter().any(|s| s == "User.Read"));
}

#[cfg(unix)]
#[tokio::test]
async fn a_browser_command_gets_the_url_as_its_argument() {
    use std::os::unix::fs::PermissionsExt;
    let idp = MockIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("url.txt");
    let script = dir.path().join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > \"{0}.tmp\" && mv \"{0}.tmp\" \"{0}\"\necho 'browser noise on stdout'\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (idp2, out2) = (idp.clone(), out.clone());
    let redirect = tokio::spawn(async move {
        let url = loop {
            if let Ok(s) = std::fs::read_to_string(&out2) {
                break Url::parse(&s).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let pairs = query(&url);
        idp2.push_token(user_token_with_nonce(
            get(&pairs, "nonce").unwrap(),
            "User.Read",
        ));
        let mut target = Url::parse(get(&pairs, "redirect_uri").unwrap()).unwrap();
        target
            .query_pairs_mut()
            .extend_pairs(code_and_state(&pairs));
        http_get(target.as_str()).await
    });
    let r = app(&idp)
        .acquire_token_interactive(["User.Read"])
        .browser(Browser::command(format!(
            "/nonexistent/browser:{}",
            script.display()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-interactive");
    assert!(redirect.await.unwrap().1.contains("msal-success"));
}
