//! The `/authorize` pages driven with plain HTTP form posts, and the authorization code
//! grant with PKCE.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use msal_emulator::{EmulatorHandle, Endpoint, FaultRule, defaults};
use sha2::Digest;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-emulator-test";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

const REDIRECT: &str = "http://localhost:53123/";

struct Flow<'a> {
    emu: &'a EmulatorHandle,
    cookie: Option<String>,
}

/// The outcome of one step: a page, or a redirect to the app.
#[derive(Debug)]
enum Step {
    Page(u16, String),
    Redirect(url::Url),
}

impl Step {
    fn page(self) -> String {
        match self {
            Step::Page(_, html) => html,
            Step::Redirect(u) => panic!("expected a page, got a redirect to {u}"),
        }
    }

    fn redirect(self) -> url::Url {
        match self {
            Step::Redirect(u) => u,
            Step::Page(s, html) => panic!("expected a redirect, got {s}: {html}"),
        }
    }
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.split(&marker)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        .to_string()
}

impl<'a> Flow<'a> {
    fn new(emu: &'a EmulatorHandle) -> Self {
        Flow { emu, cookie: None }
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/oauth2/v2.0/authorize",
            self.emu.authority("organizations")
        )
    }

    async fn handle(&mut self, resp: reqwest::Response) -> Step {
        if let Some(c) = resp.headers().get("set-cookie") {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap().to_string();
            self.cookie = if c.contains("Max-Age=0") {
                None
            } else {
                Some(pair)
            };
        }
        let status = resp.status().as_u16();
        if status == 302 {
            let loc = resp.headers()["location"].to_str().unwrap().to_string();
            return Step::Redirect(url::Url::parse(&loc).unwrap());
        }
        Step::Page(status, resp.text().await.unwrap())
    }

    async fn start(&mut self, client_id: &str, scope: &str, extra: &[(&str, &str)]) -> Step {
        let mut q = vec![
            ("client_id", client_id.to_string()),
            ("response_type", "code".into()),
            ("redirect_uri", REDIRECT.into()),
            ("scope", scope.into()),
            ("state", "st-123".into()),
            ("nonce", "n-456".into()),
            ("code_challenge", challenge(VERIFIER)),
            ("code_challenge_method", "S256".into()),
        ];
        for (k, v) in extra {
            q.retain(|(n, _)| n != k);
            q.push((k, v.to_string()));
        }
        let mut req = client().get(self.endpoint()).query(&q);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.unwrap();
        self.handle(resp).await
    }

    async fn post(&mut self, html: &str, fields: &[(&str, &str)]) -> Step {
        let action = html
            .split("action=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let url = format!("{}{}", self.emu.base_url(), action.trim_start_matches('/'));
        let mut form: Vec<(String, String)> = vec![("txn".into(), hidden(html, "txn"))];
        for (k, v) in fields {
            form.push((k.to_string(), v.to_string()));
        }
        let mut req = client().post(url).form(&form);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.unwrap();
        self.handle(resp).await
    }

    async fn login(&mut self, html: &str, username: &str, password: &str) -> Step {
        assert!(html.contains("id=\"username\"") && html.contains("id=\"password\""));
        assert!(html.contains("id=\"submit\""));
        self.post(
            html,
            &[
                ("step", "login"),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

async fn redeem(emu: &EmulatorHandle, code: &str, verifier: &str, redirect: &str) -> Answer {
    token(
        emu,
        "organizations",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn sign_in_then_code_with_pkce() {
    let emu = start().await;
    let mut flow = Flow::new(&emu);
    let html = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read openid profile offline_access",
            &[("login_hint", defaults::USER_USERNAME)],
        )
        .await
        .page();
    assert!(html.contains(&format!("value=\"{}\"", defaults::USER_USERNAME)));
    // Wrong password: the page again, with the error.
    let again = flow
        .login(&html, defaults::USER_USERNAME, "nope")
        .await
        .page();
    assert!(again.contains("Your account or password is incorrect"));
    let url = flow
        .login(&again, defaults::USER_USERNAME, defaults::USER_PASSWORD)
        .await
        .redirect();
    assert_eq!(url.port(), Some(53123));
    assert_eq!(param(&url, "state").as_deref(), Some("st-123"));
    assert!(param(&url, "client_info").is_some());
    let code = param(&url, "code").unwrap();
    assert!(flow.cookie.is_some());

    // Wrong verifier first: refused, and the code is spent.
    let bad = redeem(&emu, &code, "wrong-verifier", REDIRECT).await;
    assert_aad_error(&bad, 400, "invalid_grant", 501481);
    let spent = redeem(&emu, &code, VERIFIER, REDIRECT).await;
    assert_aad_error(&spent, 400, "invalid_grant", 70008);

    // A fresh code through the session (prompt=none), redeemed properly.
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read openid profile offline_access",
            &[("prompt", "none")],
        )
        .await
        .redirect();
    let code = param(&url, "code").expect("prompt=none with a session gives a code");
    let ok = redeem(&emu, &code, VERIFIER, REDIRECT).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    assert_eq!(ok.json["scope"], "User.Read openid profile offline_access");
    assert!(ok.json["refresh_token"].is_string());
    let id = jwt_claims(ok.json["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["preferred_username"], defaults::USER_USERNAME);
    // A declined scope applies to the code redemption too.
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read Mail.Read",
            &[("prompt", "none")],
        )
        .await
        .redirect();
    emu.add_fault(FaultRule::decline_scope("Mail.Read").once());
    let declined = redeem(&emu, &param(&url, "code").unwrap(), VERIFIER, REDIRECT).await;
    assert_eq!(declined.json["scope"], "User.Read");
    // Reuse: refused.
    let reuse = redeem(&emu, &code, VERIFIER, REDIRECT).await;
    assert_aad_error(&reuse, 400, "invalid_grant", 70008);

    // A code redeemed with another redirect URI: refused.
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("prompt", "none")],
        )
        .await
        .redirect();
    let code = param(&url, "code").unwrap();
    let a = redeem(&emu, &code, VERIFIER, "http://localhost:1/").await;
    assert_aad_error(&a, 400, "invalid_grant", 500112);

    // prompt=login ignores the session.
    let html = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("prompt", "login")],
        )
        .await
        .page();
    assert!(html.contains("id=\"password\""));

    // select_account offers the session's account.
    let html = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("prompt", "select_account")],
        )
        .await
        .page();
    assert!(html.contains("id=\"use-session\""));
    let url = flow
        .post(&html, &[("step", "use_session")])
        .await
        .redirect();
    assert!(param(&url, "code").is_some());

    // Logout ends the session: prompt=none now needs a login.
    let cookie = flow.cookie.clone().unwrap();
    let resp = client()
        .get(format!(
            "{}/oauth2/v2.0/logout",
            emu.authority("organizations")
        ))
        .query(&[("post_logout_redirect_uri", "http://localhost:53123/bye")])
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("prompt", "none")],
        )
        .await
        .redirect();
    assert_eq!(param(&url, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn prompt_none_without_session_and_bad_requests() {
    let emu = start().await;
    let mut flow = Flow::new(&emu);
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("prompt", "none")],
        )
        .await
        .redirect();
    assert_eq!(param(&url, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&url, "state").as_deref(), Some("st-123"));
    assert!(
        param(&url, "error_description")
            .unwrap()
            .starts_with("AADSTS50058")
    );

    // Unregistered redirect URI: an error page, no redirect.
    match flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("redirect_uri", "https://evil.example/cb")],
        )
        .await
    {
        Step::Page(400, html) => assert!(html.contains("AADSTS50011")),
        other => panic!("{other:?}"),
    }
    // Unknown app.
    match flow
        .start("00000000-0000-0000-0000-00000000000f", "User.Read", &[])
        .await
    {
        Step::Page(400, html) => assert!(html.contains("AADSTS700016")),
        other => panic!("{other:?}"),
    }
    // A bad scope is reported to the app.
    let url = flow
        .start(defaults::PUBLIC_CLIENT_ID, "api://unknown/x", &[])
        .await
        .redirect();
    assert_eq!(param(&url, "error").as_deref(), Some("invalid_resource"));
    // An unsupported response type.
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("response_type", "token")],
        )
        .await
        .redirect();
    assert_eq!(
        param(&url, "error").as_deref(),
        Some("unsupported_response_type")
    );
    // A disabled user cannot sign in.
    let html = flow
        .start(defaults::PUBLIC_CLIENT_ID, "User.Read", &[])
        .await
        .page();
    let html = flow
        .login(
            &html,
            defaults::DISABLED_USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .await
        .page();
    assert!(html.contains("AADSTS50057"));
    // A fault on the authorize endpoint is reported by redirect.
    emu.add_fault(FaultRule::aad_error(53003).on(Endpoint::Authorize).once());
    let url = flow
        .start(defaults::PUBLIC_CLIENT_ID, "User.Read", &[])
        .await
        .redirect();
    assert_eq!(param(&url, "error").as_deref(), Some("invalid_grant"));
    assert!(
        param(&url, "error_description")
            .unwrap()
            .starts_with("AADSTS53003")
    );
}

#[tokio::test]
async fn consent_page_accept_and_cancel() {
    let emu = start().await;
    let mut flow = Flow::new(&emu);
    let html = flow
        .start(defaults::PUBLIC_CLIENT_ID, "User.Read Mail.Read", &[])
        .await
        .page();
    let consent = flow
        .login(
            &html,
            defaults::NO_CONSENT_USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .await
        .page();
    assert!(consent.contains("id=\"accept\"") && consent.contains("id=\"cancel\""));
    assert!(consent.contains("data-scope=\"Mail.Read\""));
    let url = flow
        .post(&consent, &[("step", "consent"), ("decision", "cancel")])
        .await
        .redirect();
    assert_eq!(param(&url, "error").as_deref(), Some("access_denied"));
    assert!(
        param(&url, "error_description")
            .unwrap()
            .starts_with("AADSTS65004")
    );
    assert_eq!(param(&url, "state").as_deref(), Some("st-123"));

    // With the session, prompt=none reports the missing consent.
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read Mail.Read",
            &[("prompt", "none")],
        )
        .await
        .redirect();
    assert_eq!(param(&url, "error").as_deref(), Some("consent_required"));

    let consent = flow
        .start(defaults::PUBLIC_CLIENT_ID, "User.Read Mail.Read", &[])
        .await
        .page();
    let url = flow
        .post(&consent, &[("step", "consent"), ("decision", "accept")])
        .await
        .redirect();
    let code = param(&url, "code").unwrap();
    let ok = redeem(&emu, &code, VERIFIER, REDIRECT).await;
    assert_eq!(ok.json["scope"], "User.Read Mail.Read");
    // Consent is remembered.
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read Mail.Read",
            &[("prompt", "none")],
        )
        .await
        .redirect();
    assert!(param(&url, "code").is_some());
    // prompt=consent always shows the page.
    let page = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("prompt", "consent")],
        )
        .await
        .page();
    assert!(page.contains("id=\"accept\""));
}

#[tokio::test]
async fn mfa_and_password_change_pages() {
    let emu = start().await;
    let mut flow = Flow::new(&emu);
    let html = flow
        .start(defaults::PUBLIC_CLIENT_ID, "User.Read", &[])
        .await
        .page();
    let mfa = flow
        .login(&html, defaults::MFA_USER_USERNAME, defaults::USER_PASSWORD)
        .await
        .page();
    assert!(mfa.contains("id=\"mfa-code\"") && mfa.contains(defaults::MFA_CODE));
    let wrong = flow
        .post(&mfa, &[("step", "mfa"), ("mfa_code", "1")])
        .await
        .page();
    assert!(wrong.contains("id=\"mfa-code\"") && wrong.contains("class=\"error\""));
    let url = flow
        .post(&wrong, &[("step", "mfa"), ("mfa_code", defaults::MFA_CODE)])
        .await
        .redirect();
    let code = param(&url, "code").unwrap();
    let ok = redeem(&emu, &code, VERIFIER, REDIRECT).await;
    let at = jwt_claims(ok.json["access_token"].as_str().unwrap());
    assert_eq!(at["amr"], serde_json::json!(["pwd", "mfa"]));
    // The session remembers MFA.
    let url = flow
        .start(
            defaults::PUBLIC_CLIENT_ID,
            "User.Read",
            &[("prompt", "none")],
        )
        .await
        .redirect();
    assert!(param(&url, "code").is_some());

    // Password expired: a new password is asked, then the flow completes.
    let mut flow = Flow::new(&emu);
    let html = flow
        .start(defaults::PUBLIC_CLIENT_ID, "User.Read", &[])
        .await
        .page();
    let change = flow
        .login(
            &html,
            defaults::PASSWORD_EXPIRED_USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .await
        .page();
    assert!(change.contains("id=\"new-password\""));
    let url = flow
        .post(
            &change,
            &[("step", "password"), ("new_password", "N3w-passw0rd")],
        )
        .await
        .redirect();
    assert!(param(&url, "code").is_some());
    let a = token(
        &emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "password"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("username", defaults::PASSWORD_EXPIRED_USER_USERNAME),
            ("password", "N3w-passw0rd"),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
}
