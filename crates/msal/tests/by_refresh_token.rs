//! `acquire_token_by_refresh_token`: a refresh token obtained elsewhere is redeemed
//! (`grant_type=refresh_token`) and its answer cached as for any user sign-in, so silent
//! requests are served afterwards; a refused token is `UiRequired`.

mod common;

use std::time::Duration;

use common::{Answer, MockIdp, TENANT, UID, user_token};
use msal::cache::TokenCache;
use msal::{ConfidentialClientApplication, ErrorKind, PublicClientApplication, TokenSource};
use msal_emulator::{Emulator, EmulatorConfig, defaults};
use tokio::time::timeout;

const SCOPE: &str = "https://graph.microsoft.com/User.Read";
const LIMIT: Duration = Duration::from_secs(30);

fn public(idp: &MockIdp) -> PublicClientApplication {
    PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_migrated_refresh_token_is_redeemed_and_then_silent_is_served() {
    let idp = MockIdp::start().await;
    let app = public(&idp);
    idp.push_token(user_token(
        "at-1",
        "rt-new",
        "User.Read openid profile offline_access",
    ));
    let r = timeout(
        LIMIT,
        app.acquire_token_by_refresh_token("rt-from-elsewhere", [SCOPE])
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(r.access_token.secret(), "at-1");
    let t = idp.token_requests();
    assert_eq!(t.len(), 1);
    let form: Vec<(&str, &str)> = t[0]
        .form
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        form,
        [
            ("grant_type", "refresh_token"),
            ("client_id", "public-client"),
            ("refresh_token", "rt-from-elsewhere"),
            (
                "scope",
                "https://graph.microsoft.com/User.Read openid profile offline_access"
            ),
            ("client_info", "1"),
        ]
    );
    // The account is cached: silent is served from the cache, then refreshes with the new
    // refresh token the answer carried.
    let account = r.account.unwrap();
    assert_eq!(account.home_account_id, format!("{UID}.{TENANT}"));
    assert_eq!(app.accounts().await.unwrap(), vec![account.clone()]);
    let hit = timeout(LIMIT, app.acquire_token_silent([SCOPE], &account).send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(hit.access_token.secret(), "at-1");
    idp.push_token(user_token(
        "at-2",
        "rt-3",
        "User.Read openid profile offline_access",
    ));
    timeout(
        LIMIT,
        app.acquire_token_silent([SCOPE], &account)
            .force_refresh(true)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let t = idp.token_requests();
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].field("refresh_token"), Some("rt-new"));
}

#[tokio::test]
async fn a_confidential_client_sends_its_credential_and_a_refused_token_is_ui_required() {
    let idp = MockIdp::start().await;
    let app = ConfidentialClientApplication::builder("web-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret")
        .build()
        .unwrap();
    idp.push_token(Answer::oauth_error(400, "invalid_grant", 70000, None));
    let e = timeout(
        LIMIT,
        app.acquire_token_by_refresh_token("revoked", ["User.Read"])
            .send(),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(e.code(), "invalid_grant");
    let t = idp.token_requests();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].field("grant_type"), Some("refresh_token"));
    assert_eq!(t[0].field("refresh_token"), Some("revoked"));
    assert_eq!(t[0].field("client_secret"), Some("s3cret"));
    assert!(app.accounts().await.unwrap().is_empty());
    // An empty token is refused before anything is sent.
    let e = app
        .acquire_token_by_refresh_token(" ", ["User.Read"])
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "invalid_argument")
    );
    assert_eq!(idp.token_requests().len(), 1);
}

/// The secret of the one refresh token in a cache, as MSAL's schema stores it.
fn only_refresh_token(cache: &TokenCache) -> String {
    let doc: serde_json::Value = serde_json::from_str(&cache.serialize()).unwrap();
    let rts = doc["RefreshToken"].as_object().unwrap();
    assert_eq!(rts.len(), 1);
    rts.values().next().unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_refresh_token_migrates_into_another_apps_empty_cache_on_the_emulator() {
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap();
    let app = |cache: &TokenCache| {
        PublicClientApplication::builder(defaults::PUBLIC_CLIENT_ID)
            .authority(emu.authority(defaults::TENANT_ID))
            .allow_insecure_loopback(true)
            .token_cache(cache.clone())
            .build()
            .unwrap()
    };
    let old_cache = TokenCache::new();
    timeout(
        LIMIT,
        app(&old_cache)
            .acquire_token_by_username_password(
                ["User.Read"],
                defaults::USER_USERNAME,
                defaults::USER_PASSWORD,
            )
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let rt = only_refresh_token(&old_cache);

    let new_cache = TokenCache::new();
    let migrated = app(&new_cache);
    assert!(migrated.accounts().await.unwrap().is_empty());
    let r = timeout(
        LIMIT,
        migrated
            .acquire_token_by_refresh_token(rt, ["User.Read"])
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let account = r.account.clone().unwrap();
    assert_eq!(account.username, defaults::USER_USERNAME);
    assert_eq!(migrated.accounts().await.unwrap(), vec![account.clone()]);
    let hit = timeout(
        LIMIT,
        migrated
            .acquire_token_silent(["User.Read"], &account)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    // The refresh token cached with the answer works too.
    let refreshed = timeout(
        LIMIT,
        migrated
            .acquire_token_silent(["User.Read"], &account)
            .force_refresh(true)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(refreshed.source, TokenSource::IdentityProvider);

    let e = timeout(
        LIMIT,
        app(&TokenCache::new())
            .acquire_token_by_refresh_token("not-a-refresh-token", ["User.Read"])
            .send(),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::UiRequired, "invalid_grant")
    );
}
