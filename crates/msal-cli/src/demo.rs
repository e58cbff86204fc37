//! `msal demo`: a guided tour of token acquisition and of the error handling that MSAL's guide
//! recommends, on an emulator started in-process. No set-up, no network, a few seconds.
//!
//! Every step checks that the library behaved as shown; a step that does not is reported and
//! the demo exits non-zero, so the tour is also an end-to-end test.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use msal::{
    AuthenticationResult, ConfidentialClientApplication, Error, ErrorKind, PublicClientApplication,
    UiRequiredClassification,
};

mod style;
use msal_emulator::defaults as d;
use msal_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Endpoint, FaultAction, FaultRule, RetryAfter,
};
use style::Style;

type Step = Result<(), String>;

/// One scenario of the tour.
type Scenario = fn(&Tour) -> std::pin::Pin<Box<dyn std::future::Future<Output = Step> + Send + '_>>;

fn check(cond: bool, what: &str) -> Step {
    if cond { Ok(()) } else { Err(what.to_owned()) }
}

struct Tour {
    s: Style,
    emu: Arc<EmulatorHandle>,
    authority: String,
    daemon: ConfidentialClientApplication,
    desktop: PublicClientApplication,
}

/// Runs the tour.
pub async fn run() -> ExitCode {
    let s = Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    println!(
        "{}",
        s.paint(
            "1",
            "msal demo: tokens and error handling, on a local Entra ID emulator"
        )
    );
    let emu = match Emulator::start(EmulatorConfig::default_directory()).await {
        Ok(h) => Arc::new(h),
        Err(e) => {
            eprintln!("error: cannot start the emulator: {e}");
            return ExitCode::from(5);
        }
    };
    let authority = emu.authority(d::TENANT_ID);
    println!(
        "{}",
        s.paint(
            "2",
            &format!(
                "emulator at {} (tenant {})",
                emu.base_url(),
                d::TENANT_DOMAIN
            )
        )
    );
    let built = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
        .authority(&authority)
        .allow_insecure_loopback(true)
        .client_secret(d::CLIENT_SECRET)
        .build()
        .and_then(|daemon| {
            let desktop = PublicClientApplication::builder(d::PUBLIC_CLIENT_ID)
                .authority(&authority)
                .allow_insecure_loopback(true)
                .build()?;
            Ok((daemon, desktop))
        });
    let (daemon, desktop) = match built {
        Ok(apps) => apps,
        Err(e) => {
            eprintln!("{}", crate::output::error_text(&e));
            return ExitCode::from(6);
        }
    };
    let tour = Tour {
        s,
        emu,
        authority,
        daemon,
        desktop,
    };
    let started = std::time::Instant::now();
    let steps: [(&str, Scenario); 10] = [
        (
            "Client credentials: a daemon gets an app token, then the cache answers",
            |t| Box::pin(t.client_credentials()),
        ),
        (
            "Device code: a user signs in on another device (the emulator approves)",
            |t| Box::pin(t.device_code()),
        ),
        ("Silent: cache first, then the refresh token", |t| {
            Box::pin(t.silent())
        }),
        (
            "UI required: consent is missing (AADSTS65001), fall back to interaction",
            |t| Box::pin(t.consent_required()),
        ),
        ("UI required: MFA and expired passwords, classified", |t| {
            Box::pin(t.mfa_and_password())
        }),
        ("Declined scopes: continue with the granted scopes", |t| {
            Box::pin(t.declined_scopes())
        }),
        ("Throttling: HTTP 429 with Retry-After, waited out", |t| {
            Box::pin(t.throttling())
        }),
        ("Server errors: one 503, retried once by the library", |t| {
            Box::pin(t.server_error())
        }),
        (
            "Claims challenge: an API asks for more, the app asks again with the claims",
            |t| Box::pin(t.claims_challenge()),
        ),
        (
            "No usable answer: HTML from a proxy, and no network at all",
            |t| Box::pin(t.transport()),
        ),
    ];
    let mut failed = 0;
    for (i, (title, f)) in steps.iter().enumerate() {
        tour.s.section(i + 1, title);
        if let Err(what) = f(&tour).await {
            failed += 1;
            println!("   {} {what}", tour.s.paint("1;31", "UNEXPECTED:"));
        }
    }
    let elapsed = started.elapsed().as_secs_f32();
    if failed == 0 {
        println!(
            "\n{} {} scenarios behaved as MSAL's error-handling guide describes ({elapsed:.1}s).",
            tour.s.paint("1;32", "Done."),
            steps.len()
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "\n{} {failed} of {} scenarios did not behave as expected.",
            tour.s.paint("1;31", "Failed."),
            steps.len()
        );
        ExitCode::from(1)
    }
}

impl Tour {
    fn fault(&self, rule: FaultRule) {
        self.emu.add_fault(rule);
    }

    fn token_requests_with(&self, correlation_id: &str) -> usize {
        self.emu
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/token"))
            .filter(|r| {
                r.headers.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case("client-request-id") && v == correlation_id
                })
            })
            .count()
    }

    async fn client_credentials(&self) -> Step {
        let first = format!("acquire_token_for_client([\"{}\"])", d::API_SCOPE_DEFAULT);
        for (step, source, why) in [
            (
                first.as_str(),
                msal::TokenSource::IdentityProvider,
                "first call should reach the identity provider",
            ),
            (
                "the same call again",
                msal::TokenSource::Cache,
                "second call should be a cache hit",
            ),
        ] {
            self.s.step(step);
            let r = self
                .daemon
                .acquire_token_for_client([d::API_SCOPE_DEFAULT])
                .send()
                .await
                .map_err(|e| e.to_string())?;
            self.s.token(&r);
            check(r.source == source, why)?;
        }
        Ok(())
    }

    async fn sign_in(&self, scopes: &[&str]) -> Result<AuthenticationResult, Error> {
        let emu = self.emu.clone();
        let s_color = self.s.color;
        self.desktop
            .acquire_token_by_device_code(scopes)
            .on_code(move |info| {
                let st = Style { color: s_color };
                println!(
                    "     {}",
                    st.paint("2", &format!("server says: {}", info.message))
                );
                // A person would open the page; the emulator's admin call approves as Alice.
                match emu.approve_device_code(&info.user_code, d::USER_USERNAME) {
                    Ok(()) => println!(
                        "     {}",
                        st.paint("2", &format!("(approved as {})", d::USER_USERNAME))
                    ),
                    Err(e) => println!("     approval failed: {e}"),
                }
            })
            .send()
            .await
    }

    async fn device_code(&self) -> Step {
        self.s.step(&format!(
            "acquire_token_by_device_code([\"{}\"])",
            d::GRAPH_USER_READ
        ));
        let r = self
            .sign_in(&[d::GRAPH_USER_READ])
            .await
            .map_err(|e| e.to_string())?;
        self.s.token(&r);
        check(r.account.is_some(), "a user token carries the account")
    }

    async fn account(&self) -> Result<msal::Account, String> {
        self.desktop
            .get_account(d::USER_USERNAME)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "Alice should be in the cache".to_owned())
    }

    async fn silent(&self) -> Step {
        let account = self.account().await?;
        self.s.step("acquire_token_silent(User.Read, alice)");
        let r = self
            .desktop
            .acquire_token_silent([d::GRAPH_USER_READ], &account)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.s.token(&r);
        check(
            r.source == msal::TokenSource::Cache,
            "silent should hit the cache",
        )?;
        self.s
            .step("acquire_token_silent(...).force_refresh(true): the refresh token grant");
        let r = self
            .desktop
            .acquire_token_silent([d::GRAPH_USER_READ], &account)
            .force_refresh(true)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.s.token(&r);
        check(
            r.source == msal::TokenSource::IdentityProvider,
            "force_refresh should reach the identity provider",
        )
    }

    fn refresh_fault(&self, action: FaultAction) -> FaultRule {
        FaultRule {
            endpoint: Endpoint::Token,
            grant_type: Some("refresh_token".into()),
            action,
            times: Some(1),
            ..Default::default()
        }
    }

    async fn consent_required(&self) -> Step {
        let account = self.account().await?;
        self.fault(self.refresh_fault(FaultAction::AadError {
            code: 65001,
            suberror: None,
            claims: None,
        }));
        self.s
            .step("acquire_token_silent(Mail.Read) while the emulator says consent is missing");
        let e = match self
            .desktop
            .acquire_token_silent([d::GRAPH_MAIL_READ], &account)
            .send()
            .await
        {
            Ok(_) => return Err("silent should fail with ui_required".into()),
            Err(e) => e,
        };
        self.s.error(&e);
        check(
            e.kind() == ErrorKind::UiRequired,
            "kind should be ui_required",
        )?;
        check(
            e.classification() == Some(UiRequiredClassification::ConsentRequired),
            "classification should be consent_required",
        )?;
        self.s
            .step("interactive fallback (device code), where the user consents");
        let r = self
            .sign_in(&[d::GRAPH_MAIL_READ])
            .await
            .map_err(|e| e.to_string())?;
        self.s.token(&r);
        Ok(())
    }

    async fn mfa_and_password(&self) -> Step {
        let account = self.account().await?;
        for (code, scope, want) in [
            (
                50076,
                d::GRAPH_FILES_READ,
                UiRequiredClassification::BasicAction,
            ),
            (
                50055,
                d::API_SCOPE,
                UiRequiredClassification::UserPasswordExpired,
            ),
        ] {
            self.fault(self.refresh_fault(FaultAction::AadError {
                code,
                suberror: None,
                claims: None,
            }));
            self.s.step(&format!(
                "acquire_token_silent while the emulator answers AADSTS{code}"
            ));
            match self
                .desktop
                .acquire_token_silent([scope], &account)
                .force_refresh(true)
                .send()
                .await
            {
                Ok(_) => return Err(format!("AADSTS{code} should fail")),
                Err(e) => {
                    self.s.error(&e);
                    check(
                        e.kind() == ErrorKind::UiRequired && e.classification() == Some(want),
                        &format!("AADSTS{code} should be ui_required/{}", want.as_str()),
                    )?;
                }
            }
        }
        self.fault(self.refresh_fault(FaultAction::AadError {
            code: 53005,
            suberror: Some("protection_policy_required".into()),
            claims: None,
        }));
        self.s.step(
            "and an app protection policy (Intune) requirement is a service error of its own",
        );
        match self
            .desktop
            .acquire_token_silent([d::GRAPH_USER_READ], &account)
            .force_refresh(true)
            .send()
            .await
        {
            Ok(_) => Err("protection policy should fail".into()),
            Err(e) => {
                self.s.error(&e);
                check(
                    e.kind() == ErrorKind::Service && e.code() == "protection_policy_required",
                    "code should be protection_policy_required",
                )
            }
        }
    }

    async fn declined_scopes(&self) -> Step {
        let account = self.account().await?;
        self.fault(self.refresh_fault(FaultAction::DeclineScope {
            scope: "Files.Read".into(),
        }));
        self.s
            .step("acquire_token_silent(User.Read Files.Read): the server grants only User.Read");
        let e = match self
            .desktop
            .acquire_token_silent([d::GRAPH_USER_READ, d::GRAPH_FILES_READ], &account)
            .force_refresh(true)
            .send()
            .await
        {
            Ok(_) => return Err("should fail with declined_scopes".into()),
            Err(e) => e,
        };
        self.s.error(&e);
        let granted: Vec<String> = e.granted_scopes().unwrap_or_default().to_vec();
        println!(
            "     granted {:?}, declined {:?}",
            granted,
            e.declined_scopes().unwrap_or_default()
        );
        check(
            e.code() == "declined_scopes",
            "code should be declined_scopes",
        )?;
        self.s
            .step("retry with the granted scopes only: served from the cache");
        let r = self
            .desktop
            .acquire_token_silent(&granted, &account)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.s.token(&r);
        check(
            r.source == msal::TokenSource::Cache,
            "the granted token should be cached",
        )
    }

    async fn throttling(&self) -> Step {
        self.fault(FaultRule {
            endpoint: Endpoint::Token,
            grant_type: Some("client_credentials".into()),
            action: FaultAction::Status {
                status: 429,
                retry_after: Some(RetryAfter::Seconds(2)),
                body: None,
            },
            times: Some(1),
            ..Default::default()
        });
        self.s
            .step("acquire_token_for_client(...).force_refresh(true) while the emulator throttles");
        let e = match self
            .daemon
            .acquire_token_for_client([d::API_SCOPE_DEFAULT])
            .force_refresh(true)
            .send()
            .await
        {
            Ok(_) => return Err("should be throttled".into()),
            Err(e) => e,
        };
        self.s.error(&e);
        check(
            e.is_throttled() && e.retry_after() == Some(Duration::from_secs(2)),
            "429 should carry retry_after=2s",
        )?;
        self.s
            .step("calling again at once: the library fails fast, no request is sent");
        let again = self
            .daemon
            .acquire_token_for_client([d::API_SCOPE_DEFAULT])
            .force_refresh(true)
            .send()
            .await;
        match again {
            Err(e) if e.is_client_throttled() => self.s.error(&e),
            _ => return Err("the second call should be throttled by the client".into()),
        }
        let wait = e.retry_after().unwrap_or_default();
        self.s
            .step(&format!("waiting {}s as told, then again", wait.as_secs()));
        tokio::time::sleep(wait).await;
        let r = self
            .daemon
            .acquire_token_for_client([d::API_SCOPE_DEFAULT])
            .force_refresh(true)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.s.token(&r);
        Ok(())
    }

    async fn server_error(&self) -> Step {
        self.fault(FaultRule {
            endpoint: Endpoint::Token,
            grant_type: Some("client_credentials".into()),
            action: FaultAction::Status {
                status: 503,
                retry_after: None,
                body: None,
            },
            times: Some(1),
            ..Default::default()
        });
        self.s.step(
            "acquire_token_for_client(...).force_refresh(true) while the emulator answers one 503",
        );
        let r = self
            .daemon
            .acquire_token_for_client([d::API_SCOPE_DEFAULT])
            .force_refresh(true)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.s.token(&r);
        let n = self.token_requests_with(&r.correlation_id);
        self.s.ok(&format!(
            "the emulator saw {n} token requests with correlation id {}",
            r.correlation_id
        ));
        check(n == 2, "a 5xx without Retry-After is retried exactly once")
    }

    /// Calls the emulator's sample API with a bearer token.
    async fn call_api(&self, token: &str) -> Result<msal::http::HttpResponse, String> {
        use msal::http::{HttpClient, HttpRequest};
        let url = self
            .emu
            .base_url()
            .join("api/me")
            .map_err(|e| e.to_string())?;
        let mut req = HttpRequest::get(url);
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|_| "bad token".to_owned())?;
        req.headers.insert("authorization", bearer);
        let http = msal::http::ReqwestHttpClient::new().map_err(|e| e.to_string())?;
        http.execute(req).await.map_err(|e| e.to_string())
    }

    async fn claims_challenge(&self) -> Step {
        let account = self.account().await?;
        let token = self
            .desktop
            .acquire_token_silent([d::API_SCOPE], &account)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.emu.set_api_claims_challenge(true);
        self.s
            .step("GET /api/me while conditional access demands more (a CAE-style challenge)");
        let resp = self.call_api(token.access_token.secret()).await?;
        let header = resp
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        println!(
            "     HTTP {}; WWW-Authenticate: {}",
            resp.status.as_u16(),
            header.chars().take(90).collect::<String>()
        );
        let Some(claims) =
            msal::claims::claims_challenge_from_response(resp.status.as_u16(), &resp.headers)
        else {
            self.emu.set_api_claims_challenge(false);
            return Err("the API should answer 401 with a claims challenge".into());
        };
        println!("     claims to send: {claims}");
        self.s.step("acquire_token_silent(...).with_claims(claims): the cache is bypassed, the claims reach the token endpoint");
        let again = self
            .desktop
            .acquire_token_silent([d::API_SCOPE], &account)
            .with_claims(claims)
            .send()
            .await;
        let again = match again {
            Ok(r) => r,
            Err(e) => {
                self.emu.set_api_claims_challenge(false);
                return Err(e.to_string());
            }
        };
        self.s.token(&again);
        let resp = self.call_api(again.access_token.secret()).await;
        self.emu.set_api_claims_challenge(false);
        let resp = resp?;
        self.s.ok(&format!(
            "GET /api/me with the new token: HTTP {}",
            resp.status.as_u16()
        ));
        check(
            resp.status.as_u16() == 200,
            "the API should accept the token that satisfies the claims",
        )
    }

    async fn transport(&self) -> Step {
        self.fault(FaultRule {
            endpoint: Endpoint::Token,
            grant_type: Some("client_credentials".into()),
            action: FaultAction::HtmlBody { status: 502 },
            times: Some(2),
            ..Default::default()
        });
        self.s
            .step("a gateway answers HTML instead of JSON (twice: the library retries a 5xx once)");
        match self
            .daemon
            .acquire_token_for_client([d::API_SCOPE_DEFAULT])
            .force_refresh(true)
            .send()
            .await
        {
            Ok(_) => return Err("HTML should fail".into()),
            Err(e) => {
                self.s.error(&e);
                check(
                    e.code() == "non_parsable_oauth_error" && e.http_status() == Some(502),
                    "HTML should be non_parsable_oauth_error",
                )?;
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())?;
        self.s.step(&format!(
            "an authority where nothing listens (127.0.0.1:{port})"
        ));
        let _ = &self.authority;
        let offline = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
            .authority(format!("http://127.0.0.1:{port}/{}", d::TENANT_ID))
            .allow_insecure_loopback(true)
            .client_secret(d::CLIENT_SECRET)
            .build()
            .map_err(|e| e.to_string())?;
        match offline
            .acquire_token_for_client([d::API_SCOPE_DEFAULT])
            .send()
            .await
        {
            Ok(_) => Err("should fail".into()),
            Err(e) => {
                self.s.error(&e);
                let mut cause = std::error::Error::source(&e);
                let mut io = None;
                while let Some(c) = cause {
                    if let Some(x) = c.downcast_ref::<std::io::Error>() {
                        io = Some(x.kind());
                    }
                    cause = c.source();
                }
                println!("     the io::Error in the source chain: {io:?}");
                check(
                    e.kind() == ErrorKind::Transport && io.is_some(),
                    "should be a transport error with the io::Error kept",
                )
            }
        }
    }
}
