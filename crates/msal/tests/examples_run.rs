//! The example programs (`crates/msal/examples/`) run against the emulator.
//!
//! How: each example keeps its logic in functions (`Config::from_vars`, `run`, `router`...)
//! and its `main` only reads the process's environment, calls them and prints. This file
//! includes each example's source as a module (`#[path = "../examples/<name>.rs"]`), so the
//! tests run the very code the example runs, configured through the same `from_vars` with the
//! variables a user would export, in this test's process: no second `cargo build`, no binaries
//! looked up in the target directory, and the emulator (whose default certificate is made per
//! process) is in reach. What the tests replace is only what a person does: the device code is
//! approved through the emulator, the desktop app's browser signs in on the emulator's pages
//! over HTTP, and the web app is used in headless Chromium.
//!
//! `cargo build --all-targets` builds every example as a program (the Azure SDK one with the
//! `azure_core` feature).

#[path = "support/chromium.rs"]
mod chromium;
#[path = "support/emulator_pages.rs"]
mod emulator_pages;

#[path = "../examples/azure_sdk_credential.rs"]
#[allow(dead_code)]
mod azure_sdk_credential;
#[path = "../examples/cli_device_code.rs"]
#[allow(dead_code)]
mod cli_device_code;
#[path = "../examples/daemon_certificate.rs"]
#[allow(dead_code)]
mod daemon_certificate;
#[path = "../examples/desktop_browser.rs"]
#[allow(dead_code)]
mod desktop_browser;
#[path = "../examples/managed_identity_service.rs"]
#[allow(dead_code)]
mod managed_identity_service;
#[path = "../examples/web_api_obo.rs"]
#[allow(dead_code)]
mod web_api_obo;
#[path = "../examples/web_app.rs"]
#[allow(dead_code)]
mod web_app;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use msal::{Browser, ManagedIdentitySource, PublicClientApplication, TokenSource};
use msal_emulator::defaults as d;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultRule};
use serde_json::Value;

use chromium::{Chromium, PATIENCE};

/// `from_vars`'s lookup over these pairs, as `main` reads `std::env::var`.
fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// Everything a test waits for is bounded: a broken example fails instead of hanging.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .expect("the example finished in time")
}

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap()
}

fn count(emu: &EmulatorHandle, pred: impl Fn(&msal_emulator::RecordedRequest) -> bool) -> usize {
    emu.requests().iter().filter(|r| pred(r)).count()
}

/// A user's token for the emulator's API, as a caller of the web API would hold.
async fn caller_token(emu: &EmulatorHandle, username: &str) -> String {
    let client = PublicClientApplication::builder(d::PUBLIC_CLIENT_ID)
        .authority(emu.authority(d::TENANT_ID))
        .allow_insecure_loopback(true)
        .build()
        .unwrap();
    let r = client
        .acquire_token_by_username_password([d::API_SCOPE], username, d::USER_PASSWORD)
        .send()
        .await
        .unwrap();
    r.access_token.secret().to_owned()
}

#[test]
fn each_example_says_what_is_missing() {
    let none = |_: &str| None;
    let missing = [
        daemon_certificate::Config::from_vars(none).err(),
        cli_device_code::Config::from_vars(none).err(),
        desktop_browser::Config::from_vars(none).err(),
        web_app::Config::from_vars(none).err(),
        web_api_obo::Config::from_vars(none).err(),
        azure_sdk_credential::Config::from_vars(none).err(),
    ];
    for m in missing {
        let m = m.expect("a required variable is missing");
        assert!(m.contains("is not set") && m.contains("usage:"), "{m}");
    }
    // The managed identity needs nothing; two ids for one identity are refused.
    assert!(managed_identity_service::Config::from_vars(none).is_ok());
    let two = vars(&[("MSAL_MI_CLIENT_ID", "a"), ("MSAL_MI_OBJECT_ID", "b")]);
    assert!(managed_identity_service::Config::from_vars(two).is_err());
}

#[tokio::test]
async fn daemon_certificate_signs_its_assertion_and_reuses_the_cache_file() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = msal_emulator::default_certificate_pem();
    let pem = dir.path().join("daemon.pem");
    std::fs::write(&pem, format!("{key}{cert}")).unwrap();
    let cache = dir.path().join("daemon-cache.json");
    let authority = emu.authority(d::TENANT_ID);
    let config = daemon_certificate::Config::from_vars(vars(&[
        ("MSAL_AUTHORITY", &authority),
        ("MSAL_CLIENT_ID", d::CONFIDENTIAL_CLIENT_ID),
        ("MSAL_CERTIFICATE", pem.to_str().unwrap()),
        ("MSAL_SCOPE", d::API_SCOPE_DEFAULT),
        ("MSAL_CACHE_FILE", cache.to_str().unwrap()),
    ]))
    .unwrap();

    let first = bounded(daemon_certificate::run(&config, 2)).await.unwrap();
    let sources: Vec<_> = first.iter().map(|r| r.source).collect();
    assert_eq!(sources, [TokenSource::IdentityProvider, TokenSource::Cache]);
    assert!(first[0].expires_on > time::OffsetDateTime::now_utc());
    let grants: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.form_value("grant_type") == Some("client_credentials"))
        .collect();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].status, 200);
    assert!(grants[0].form_value("client_assertion").is_some());
    assert!(grants[0].form_value("client_secret").is_none());

    // A restarted daemon reads the token from the file: no request.
    let again = bounded(daemon_certificate::run(&config, 1)).await.unwrap();
    assert_eq!(again[0].source, TokenSource::Cache);
    assert_eq!(
        count(&emu, |r| r.form_value("grant_type")
            == Some("client_credentials")),
        1
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn cli_device_code_signs_in_once_then_is_silent_from_the_cache_file() {
    let emu = Arc::new(emulator().await);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cli-cache.json");
    let authority = emu.authority(d::TENANT_ID);
    let config = cli_device_code::Config::from_vars(vars(&[
        ("MSAL_AUTHORITY", &authority),
        ("MSAL_CLIENT_ID", d::PUBLIC_CLIENT_ID),
        ("MSAL_SCOPES", "User.Read"),
        ("MSAL_CACHE_FILE", cache.to_str().unwrap()),
    ]))
    .unwrap();
    // The user: reads the code and approves it on the emulator's page.
    let user = {
        let emu = emu.clone();
        move |info: &msal::DeviceCodeInfo| {
            assert!(info.message.contains(&info.user_code));
            emu.approve_device_code(&info.user_code, d::USER_USERNAME)
                .unwrap();
        }
    };
    let first = bounded(cli_device_code::run(&config, user)).await.unwrap();
    assert_eq!(first.source, TokenSource::IdentityProvider);
    assert_eq!(first.account.unwrap().username, d::USER_USERNAME);

    // The next run (a new process: a new app over the same file) is silent.
    let second = bounded(cli_device_code::run(&config, |_| {
        panic!("no device code when the cache can serve")
    }))
    .await
    .unwrap();
    assert_eq!(second.source, TokenSource::Cache);
    assert_eq!(count(&emu, |r| r.path.ends_with("/devicecode")), 1);

    // After the refresh tokens are revoked, silent fails and the device code comes back.
    emu.revoke_refresh_tokens(d::USER_USERNAME);
    let third = bounded(cli_device_code::run(
        &cli_device_code::Config {
            scopes: vec!["Mail.Read".into()],
            ..config
        },
        {
            let emu = emu.clone();
            move |info: &msal::DeviceCodeInfo| {
                emu.approve_device_code(&info.user_code, d::USER_USERNAME)
                    .unwrap();
            }
        },
    ))
    .await
    .unwrap();
    assert_eq!(third.source, TokenSource::IdentityProvider);
    assert_eq!(count(&emu, |r| r.path.ends_with("/devicecode")), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_browser_signs_in_through_the_browser_then_silently() {
    let emu = emulator().await;
    let authority = emu.authority(d::TENANT_ID);
    let config = desktop_browser::Config::from_vars(vars(&[
        ("MSAL_AUTHORITY", &authority),
        ("MSAL_CLIENT_ID", d::PUBLIC_CLIENT_ID),
        ("MSAL_SCOPES", "User.Read"),
    ]))
    .unwrap();
    let app = desktop_browser::build_app(&config).unwrap();
    // The browser: signs in on the emulator's pages, then follows the redirect to the app's
    // loopback listener.
    let browser = Browser::callback(|url| {
        let url = url.to_owned();
        tokio::spawn(async move {
            let back =
                emulator_pages::sign_in_on_the_pages(&url, d::USER_USERNAME, d::USER_PASSWORD)
                    .await;
            reqwest::get(back.as_str()).await.unwrap();
        });
        Ok(())
    });
    let first = bounded(desktop_browser::acquire(&app, &config.scopes, browser))
        .await
        .unwrap();
    assert_eq!(first.source, TokenSource::IdentityProvider);
    assert_eq!(first.account.unwrap().username, d::USER_USERNAME);
    let redemptions: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.form_value("grant_type") == Some("authorization_code"))
        .collect();
    assert_eq!(redemptions.len(), 1);
    assert!(redemptions[0].form_value("code_verifier").is_some());

    let unused = Browser::callback(|_| panic!("no browser when the cache can serve"));
    let second = bounded(desktop_browser::acquire(&app, &config.scopes, unused))
        .await
        .unwrap();
    assert_eq!(second.source, TokenSource::Cache);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_app_signs_in_calls_the_api_and_signs_out_in_chromium() {
    // The web app's redirect URI is registered on its app, as on Entra (a loopback one: any
    // port matches).
    let mut directory = EmulatorConfig::default_directory();
    let web = directory
        .apps
        .iter_mut()
        .find(|a| a.client_id == d::CONFIDENTIAL_CLIENT_ID)
        .unwrap();
    web.redirect_uris
        .push("http://127.0.0.1/auth/callback".into());
    let emu = Emulator::start(directory).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let authority = emu.authority(d::TENANT_ID);
    let redirect = format!("{base}/auth/callback");
    let api = format!("{}api/me", emu.base_url());
    let config = web_app::Config::from_vars(vars(&[
        ("MSAL_AUTHORITY", &authority),
        ("MSAL_CLIENT_ID", d::CONFIDENTIAL_CLIENT_ID),
        ("MSAL_CLIENT_SECRET", d::CLIENT_SECRET),
        ("MSAL_API_URL", &api),
        ("MSAL_REDIRECT_URI", &redirect),
    ]))
    .unwrap();
    let state = web_app::WebApp::new(config).unwrap();
    let server = tokio::spawn(axum::serve(listener, web_app::router(state.clone())).into_future());

    let browser = Chromium::start().await;
    browser.goto(&format!("{base}/")).await;
    browser.element("#anonymous").await;
    browser.click("#login").await;
    // The emulator's sign-in page.
    browser.fill("#username", d::USER_USERNAME).await;
    browser.fill("#password", d::USER_PASSWORD).await;
    browser.click("#submit").await;
    // Back on the app, signed in.
    let user = browser.text("#user").await;
    assert!(user.contains(d::USER_USERNAME), "{user}");
    assert_eq!(bounded(state.app.accounts()).await.unwrap().len(), 1);

    browser.click("#call-api").await;
    assert_eq!(browser.text("#status").await, "200");
    let me: Value = serde_json::from_str(&browser.text("#api").await).unwrap();
    assert_eq!(me["userPrincipalName"], d::USER_USERNAME);
    assert_eq!(me["displayName"], d::USER_DISPLAY_NAME);
    // The API call was silent: one code redeemed, no other token request.
    assert_eq!(count(&emu, |r| r.path.ends_with("/oauth2/v2.0/token")), 1);

    browser.goto(&format!("{base}/")).await;
    browser.click("#logout").await;
    // Out of the app (its cache and session) and of the emulator's session, back home.
    browser.element("#anonymous").await;
    assert!(bounded(state.app.accounts()).await.unwrap().is_empty());
    assert_eq!(count(&emu, |r| r.path.ends_with("/oauth2/v2.0/logout")), 1);
    // Signed out: calling the API sends the browser to sign in again, from the start.
    browser.goto(&format!("{base}/call-api")).await;
    browser.element("#username").await;
    browser.element("#password").await;

    browser.quit().await;
    server.abort();
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api_obo_calls_downstream_and_answers_claims_challenges() {
    let emu = emulator().await;
    let authority = emu.authority(d::TENANT_ID);
    let downstream = format!("{}api/me", emu.base_url());
    let config = web_api_obo::Config::from_vars(vars(&[
        ("MSAL_AUTHORITY", &authority),
        ("MSAL_CLIENT_ID", d::CONFIDENTIAL_CLIENT_ID),
        ("MSAL_CLIENT_SECRET", d::CLIENT_SECRET),
        ("MSAL_DOWNSTREAM_URL", &downstream),
    ]))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = format!("http://{}/me", listener.local_addr().unwrap());
    let state = web_api_obo::WebApi::new(config).unwrap();
    let server = tokio::spawn(axum::serve(listener, web_api_obo::router(state)).into_future());
    let http = reqwest::Client::new();
    let obo = |emu: &EmulatorHandle| {
        count(emu, |r| {
            r.form_value("requested_token_use") == Some("on_behalf_of")
        })
    };

    // No bearer token: 401.
    let r = bounded(http.get(&me).send()).await.unwrap();
    assert_eq!(r.status(), 401);

    // The exchange meets a claims challenge the API cannot satisfy: its caller gets it.
    let alice = caller_token(&emu, d::USER_USERNAME).await;
    emu.add_fault(
        FaultRule::preset("claims_challenge")
            .unwrap()
            .for_grant_type("urn:ietf:params:oauth:grant-type:jwt-bearer")
            .once(),
    );
    let r = bounded(http.get(&me).bearer_auth(&alice).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let claims = msal::claims::claims_challenge_from_response(401, r.headers())
        .expect("a claims challenge for the caller");
    let claims: Value = serde_json::from_str(&claims).unwrap();
    assert_eq!(claims["access_token"]["acrs"]["value"], "c1", "{claims}");

    // The caller calls again (the fault was once): the downstream API's answer comes through.
    let r = bounded(http.get(&me).bearer_auth(&alice).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["userPrincipalName"], d::USER_USERNAME);
    assert_eq!(obo(&emu), 2);

    // The downstream API challenges this user (CAE): the API asks again with the claims, once.
    let cae = caller_token(&emu, d::CLAIMS_CHALLENGE_USER_USERNAME).await;
    let r = bounded(http.get(&me).bearer_auth(&cae).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["userPrincipalName"], d::CLAIMS_CHALLENGE_USER_USERNAME);
    let exchanges: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.form_value("requested_token_use") == Some("on_behalf_of"))
        .collect();
    assert_eq!(exchanges.len(), 4);
    assert!(exchanges[2].form_value("claims").is_none());
    assert!(exchanges[3].form_value("claims").unwrap().contains("acrs"));
    let challenged = count(&emu, |r| r.path == "/api/me" && r.status == 401);
    assert_eq!(challenged, 1);

    server.abort();
    emu.shutdown().await;
}

#[tokio::test]
async fn managed_identity_service_finds_imds_and_serves_from_the_cache() {
    let emu = emulator().await;
    let env = vec![(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST".to_owned(),
        emu.base_url_no_slash(),
    )];
    let config = managed_identity_service::Config::from_vars(vars(&[(
        "MSAL_SCOPE",
        "https://vault.azure.net/.default",
    )]))
    .unwrap();
    let (source, results) = bounded(managed_identity_service::run(&config, Some(env.clone()), 2))
        .await
        .unwrap();
    assert_eq!(source, ManagedIdentitySource::Imds);
    let sources: Vec<_> = results.iter().map(|r| r.source).collect();
    assert_eq!(sources, [TokenSource::IdentityProvider, TokenSource::Cache]);
    assert!(results[0].expires_on > time::OffsetDateTime::now_utc());

    // A user-assigned identity named by its client id.
    let config = managed_identity_service::Config::from_vars(vars(&[(
        "MSAL_MI_CLIENT_ID",
        d::USER_ASSIGNED_CLIENT_ID,
    )]))
    .unwrap();
    let (_, results) = bounded(managed_identity_service::run(&config, Some(env), 1))
        .await
        .unwrap();
    assert_eq!(results[0].source, TokenSource::IdentityProvider);
    let imds: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path == "/metadata/identity/oauth2/token")
        .collect();
    assert_eq!(imds.len(), 2);
    assert!(
        imds[1]
            .query
            .as_deref()
            .unwrap_or_default()
            .contains(d::USER_ASSIGNED_CLIENT_ID)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn azure_sdk_credential_calls_the_api_through_an_azure_core_pipeline() {
    let ca = tempfile::tempdir().unwrap();
    let ca_file = ca.path().join("ca.pem");
    let emu = Emulator::start_tls(EmulatorConfig::default_directory(), 0, &ca_file)
        .await
        .unwrap();
    let authority = emu.authority(d::TENANT_ID);
    let url = format!("{}api/me", emu.base_url());
    let config = azure_sdk_credential::Config::from_vars(vars(&[
        ("MSAL_AUTHORITY", &authority),
        ("MSAL_CLIENT_ID", d::CONFIDENTIAL_CLIENT_ID),
        ("MSAL_CLIENT_SECRET", d::CLIENT_SECRET),
        ("MSAL_SCOPE", d::GRAPH_DEFAULT),
        ("MSAL_URL", &url),
        ("MSAL_CA_FILE", ca_file.to_str().unwrap()),
    ]))
    .unwrap();
    let (status, body) = bounded(azure_sdk_credential::run(&config)).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["appId"], d::CONFIDENTIAL_CLIENT_ID);
    assert_eq!(body["audience"], d::GRAPH_RESOURCE);

    // A wrong secret: the failure is azure_core's, with the msal::Error in its source chain.
    let config = azure_sdk_credential::Config::from_vars(vars(&[
        ("MSAL_AUTHORITY", &authority),
        ("MSAL_CLIENT_ID", d::CONFIDENTIAL_CLIENT_ID),
        ("MSAL_CLIENT_SECRET", "not-the-secret"),
        ("MSAL_SCOPE", d::GRAPH_DEFAULT),
        ("MSAL_URL", &url),
        ("MSAL_CA_FILE", ca_file.to_str().unwrap()),
    ]))
    .unwrap();
    let e = bounded(azure_sdk_credential::run(&config))
        .await
        .unwrap_err();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
    let mut found = None;
    while let Some(s) = source {
        if let Some(m) = s.downcast_ref::<msal::Error>() {
            found = Some(m.code().to_owned());
        }
        source = s.source();
    }
    assert_eq!(found.as_deref(), Some("invalid_client"));
    assert_eq!(count(&emu, |r| r.path == "/api/me"), 1);
    emu.shutdown().await;
}
