//! The user flows end to end against the emulator: the web-app authorization code flow through
//! the emulator's real sign-in pages (driven over HTTP), username/password, on-behalf-of with
//! the emulator's own access token, and family refresh tokens.

#[path = "support/emulator_pages.rs"]
mod emulator_pages;
#[path = "support/mix_up.rs"]
mod mix_up;

use emulator_pages::sign_in_on_the_pages;

use msal::cache::TokenCache;
use msal::{
    ConfidentialClientApplication, ErrorKind, PublicClientApplication, TokenSource,
    UiRequiredClassification,
};
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, defaults};
use url::Url;

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap()
}

fn web_app(emu: &EmulatorHandle) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(defaults::CONFIDENTIAL_CLIENT_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_secret(defaults::CLIENT_SECRET)
        .build()
        .unwrap()
}

fn public(emu: &EmulatorHandle, client_id: &str, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(client_id)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .token_cache(cache.clone())
        .build()
        .unwrap()
}

/// With the emulator's RFC 9207 option on, its redirects carry `iss` and its metadata
/// announces it: the library checks it, on a tenant's authority (the issuer as is) and on
/// `organizations` (the user's tenant in place of `{tenantid}`), and refuses a redirect
/// without it, or naming another server, before the code is redeemed.
#[tokio::test]
async fn the_redirects_iss_is_checked_when_the_emulator_sends_it() {
    let mut config = EmulatorConfig::default_directory();
    config.options.authorization_response_iss = true;
    let emu = Emulator::start(config).await.unwrap();
    for tenant in [defaults::TENANT_ID, "organizations"] {
        let app = ConfidentialClientApplication::builder(defaults::CONFIDENTIAL_CLIENT_ID)
            .authority(emu.authority(tenant))
            .allow_insecure_loopback(true)
            .client_secret(defaults::CLIENT_SECRET)
            .build()
            .unwrap();
        let flow = app
            .initiate_auth_code_flow(["User.Read"], "http://localhost:5000/")
            .send()
            .await
            .unwrap();
        let back = sign_in_on_the_pages(
            flow.auth_uri(),
            defaults::USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .await;
        let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();
        let iss = params
            .iter()
            .find(|(k, _)| k == "iss")
            .map(|(_, v)| v.clone());
        assert_eq!(
            iss,
            Some(format!("{}/v2.0", emu.authority(defaults::TENANT_ID))),
            "{tenant}"
        );
        mix_up::assert_mix_ups_refused(&app, &flow, &params).await;
        let r = app
            .acquire_token_by_auth_code_flow(&flow, params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.source, TokenSource::IdentityProvider, "{tenant}");
    }
}

#[tokio::test]
async fn a_web_app_signs_a_user_in_through_the_emulators_pages() {
    let emu = emulator().await;
    let app = web_app(&emu);
    let flow = app
        .initiate_auth_code_flow(["User.Read"], "http://localhost:5000/")
        .login_hint(defaults::USER_USERNAME)
        .send()
        .await
        .unwrap();
    // The flow is kept in the session between the two requests.
    let stored = serde_json::to_string(&flow).unwrap();
    let flow: msal::AuthCodeFlow = serde_json::from_str(&stored).unwrap();
    assert!(
        flow.auth_uri()
            .starts_with(&emu.authority(defaults::TENANT_ID))
    );

    let back = sign_in_on_the_pages(
        flow.auth_uri(),
        defaults::USER_USERNAME,
        defaults::USER_PASSWORD,
    )
    .await;
    assert_eq!(
        back.as_str().split('?').next(),
        Some("http://localhost:5000/")
    );
    let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();

    // A tampered state is refused before the code is redeemed.
    let mut forged = params.clone();
    for (k, v) in &mut forged {
        if k == "state" {
            v.push('x');
        }
    }
    let e = app
        .acquire_token_by_auth_code_flow(&flow, forged)
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Client, "state_mismatch"));

    let r = app
        .acquire_token_by_auth_code_flow(&flow, params.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let account = r.account.clone().unwrap();
    assert_eq!(account.username, defaults::USER_USERNAME);
    assert_eq!(
        account.home_account_id,
        format!("{}.{}", defaults::USER_OBJECT_ID, defaults::TENANT_ID)
    );
    let redemption = emu
        .requests()
        .into_iter()
        .rfind(|r| r.form_value("grant_type") == Some("authorization_code"))
        .unwrap();
    assert_eq!(redemption.status, 200);
    assert_eq!(
        redemption.form_value("redirect_uri"),
        Some("http://localhost:5000/")
    );
    assert_eq!(
        redemption.form_value("client_secret"),
        Some(defaults::CLIENT_SECRET)
    );
    assert!(redemption.form_value("code_verifier").is_some());

    // A code is redeemed once: the emulator refuses it again.
    let e = app
        .acquire_token_by_auth_code_flow(&flow, params)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_grant");
    assert_eq!(e.aadsts_codes(), &[70008]);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_redirect_error_of_the_web_flow_is_typed() {
    let emu = emulator().await;
    let app = web_app(&emu);
    let flow = app
        .initiate_auth_code_flow(["User.Read"], "http://localhost:5000/")
        .prompt(msal::Prompt::None)
        .send()
        .await
        .unwrap();
    // prompt=none without a session: the emulator redirects back with login_required.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http.get(flow.auth_uri()).send().await.unwrap();
    assert_eq!(answer.status(), 302);
    let back = Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let params: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    let e = app
        .acquire_token_by_auth_code_flow(&flow, params)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::UiRequired, "login_required")
    );
    assert_eq!(
        e.classification(),
        Some(UiRequiredClassification::PromptNeverFailed)
    );
    assert_eq!(e.aadsts_codes(), &[50058]);

    let e = app
        .acquire_token_by_auth_code_flow(
            &flow,
            [
                ("error", "access_denied"),
                (
                    "error_description",
                    "AADSTS65004: User declined to consent.",
                ),
                ("state", flow.state()),
            ],
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Cancelled, "access_denied")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn username_password_then_on_behalf_of_with_the_emulators_token() {
    let emu = emulator().await;
    let cache = TokenCache::new();
    let client = public(&emu, defaults::PUBLIC_CLIENT_ID, &cache);
    let user = client
        .acquire_token_by_username_password(
            [defaults::API_SCOPE],
            defaults::USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .send()
        .await
        .unwrap();
    let realm = emu
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/userrealm/"))
        .expect("user realm discovery");
    assert_eq!(
        realm.path,
        format!("/common/userrealm/{}", defaults::USER_USERNAME)
    );
    assert!(realm.response_body.contains("\"Managed\""));

    // The web API behind API_SCOPE exchanges the user's token for a Graph token.
    let api = web_app(&emu);
    let incoming = user.access_token.secret().to_owned();
    let obo = api
        .acquire_token_on_behalf_of(["User.Read"], incoming.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(obo.source, TokenSource::IdentityProvider);
    assert_eq!(obo.account.unwrap().username, defaults::USER_USERNAME);
    let again = api
        .acquire_token_on_behalf_of(["User.Read"], incoming.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.access_token.secret(), obo.access_token.secret());
    let obo_requests = emu
        .requests()
        .into_iter()
        .filter(|r| r.form_value("requested_token_use") == Some("on_behalf_of"))
        .count();
    assert_eq!(obo_requests, 1);

    // MFA cannot be done with a password alone.
    let e = client
        .acquire_token_by_username_password(
            ["User.Read"],
            defaults::MFA_USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(e.aadsts_codes(), &[50076]);
    emu.shutdown().await;
}

#[tokio::test]
async fn family_apps_share_refresh_tokens_and_outsiders_do_not() {
    let emu = emulator().await;
    let cache = TokenCache::new();
    let first = public(&emu, defaults::PUBLIC_CLIENT_ID, &cache);
    let account = first
        .acquire_token_by_username_password(
            ["User.Read"],
            defaults::USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .send()
        .await
        .unwrap()
        .account
        .unwrap();
    let second = public(&emu, defaults::SECOND_PUBLIC_CLIENT_ID, &cache);
    let r = second
        .acquire_token_silent(["User.Read"], &account)
        .send()
        .await
        .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let refresh = emu.requests().pop().unwrap();
    assert_eq!(refresh.form_value("grant_type"), Some("refresh_token"));
    // The emulator's request log keeps the server telemetry (the silent flow's, a cache miss).
    assert_eq!(
        refresh.header("x-client-current-telemetry"),
        Some("4|84,2|")
    );
    assert_eq!(refresh.header("x-client-last-telemetry"), Some("4|0|||"));
    assert_eq!(
        refresh.form_value("client_id"),
        Some(defaults::SECOND_PUBLIC_CLIENT_ID)
    );

    let outsider = public(&emu, defaults::NON_FOCI_PUBLIC_CLIENT_ID, &cache);
    let e = outsider
        .acquire_token_silent(["User.Read"], &account)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    emu.shutdown().await;
}
