//! A tenant per request on every user flow, on the wire: each flow asks the tenant's own
//! endpoints (`/{tenant}/oauth2/v2.0/token`, `/devicecode`, `/authorize`), the tokens are
//! cached under the tenant of the answer, a silent call in another tenant redeems the
//! account's refresh token (shared across tenants) in that tenant, and a tenant the authority
//! cannot take is a typed error before anything is sent.

mod common;

use std::sync::{Arc, Mutex};

use common::{Answer, MockIdp, TENANT, UID, b64, jwt};
use msal::{
    Browser, ConfidentialClientApplication, ErrorKind, PublicClientApplication, TokenSource,
};
use serde_json::json;

/// Another tenant the user is a guest in.
const OTHER: &str = "aaaaaaaa-0000-4000-8000-0000000000b2";
const SCOPE: &str = "User.Read";
const GRANTED: &str = "User.Read openid profile offline_access";

fn public(idp: &MockIdp) -> PublicClientApplication {
    PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap()
}

fn confidential(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("web-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret")
        .build()
        .unwrap()
}

/// A user token answer issued in `tid` to the user whose home tenant is [`TENANT`], with an
/// optional `nonce` in its id token.
fn token_in(tid: &str, at: &str, rt: &str, nonce: Option<&str>) -> Answer {
    let mut claims = json!({
        "aud": "public-client", "iss": format!("https://login/{tid}/v2.0"), "tid": tid,
        "oid": UID, "sub": "sub-1", "preferred_username": "alice@contoso.onmicrosoft.com",
        "name": "Alice", "ver": "2.0",
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    Answer::json(
        200,
        json!({
            "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": at, "refresh_token": rt, "id_token": jwt(claims), "scope": GRANTED,
            "client_info": b64(&json!({"uid": UID, "utid": TENANT})),
        }),
    )
}

fn device_code() -> Answer {
    Answer::json(
        200,
        json!({
            "device_code": "DC", "user_code": "ABCD", "interval": 1, "expires_in": 900,
            "verification_uri": "https://microsoft.com/devicelogin", "message": "sign in",
        }),
    )
}

/// The realms of the access tokens in a serialized cache.
fn cached_at_realms(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut realms: Vec<String> = v["AccessToken"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|e| e["realm"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    realms.sort();
    realms
}

/// The path of the last request, and the number of requests so far.
fn last_path(idp: &MockIdp) -> String {
    idp.requests().last().unwrap().path.clone()
}

#[tokio::test]
async fn device_code_and_username_password_ask_the_tenant_and_cache_under_its_realm() {
    let idp = MockIdp::start().await;
    let app = public(&idp);
    idp.push_devicecode(device_code());
    idp.push_token(token_in(OTHER, "at-dc", "rt-dc", None));
    let r = app
        .acquire_token_by_device_code([SCOPE])
        .with_tenant(OTHER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.tenant_id.as_deref(), Some(OTHER));
    let paths: Vec<String> = idp
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        paths,
        [
            format!("/{OTHER}/oauth2/v2.0/devicecode"),
            format!("/{OTHER}/oauth2/v2.0/token")
        ]
    );
    assert_eq!(cached_at_realms(&app.token_cache().serialize()), [OTHER]);
    // The account is still the user's home account.
    assert_eq!(
        r.account.unwrap().home_account_id,
        format!("{UID}.{TENANT}")
    );

    let app = public(&idp);
    idp.push_token(token_in(OTHER, "at-pw", "rt-pw", None));
    let r = app
        .acquire_token_by_username_password([SCOPE], "alice@contoso.onmicrosoft.com", "pw")
        .with_tenant(OTHER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-pw");
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.path, format!("/{OTHER}/oauth2/v2.0/token"));
    assert_eq!(t.field("grant_type"), Some("password"));
    assert_eq!(cached_at_realms(&app.token_cache().serialize()), [OTHER]);
}

#[tokio::test]
async fn on_behalf_of_asks_the_tenant_and_is_served_from_its_realm() {
    let idp = MockIdp::start().await;
    let app = confidential(&idp);
    let incoming = jwt(json!({"aud": "api://web-app", "oid": UID, "tid": TENANT, "uti": "u1"}));
    idp.push_token(token_in(OTHER, "obo-at", "obo-rt", None));
    let obo = || {
        app.acquire_token_on_behalf_of([SCOPE], incoming.as_str())
            .with_tenant(OTHER)
            .send()
    };
    let r = obo().await.unwrap();
    assert_eq!(
        (r.source, r.tenant_id.as_deref()),
        (TokenSource::IdentityProvider, Some(OTHER))
    );
    assert_eq!(last_path(&idp), format!("/{OTHER}/oauth2/v2.0/token"));
    assert_eq!(cached_at_realms(&app.token_cache().serialize()), [OTHER]);
    let again = obo().await.unwrap();
    assert_eq!(
        (again.source, again.access_token.secret()),
        (TokenSource::Cache, "obo-at")
    );
    assert_eq!(idp.token_requests().len(), 1);
    // In the app's own tenant it is another token.
    idp.push_token(token_in(TENANT, "obo-home", "obo-rt-2", None));
    let home = app
        .acquire_token_on_behalf_of([SCOPE], incoming.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(home.access_token.secret(), "obo-home");
    assert_eq!(last_path(&idp), format!("/{TENANT}/oauth2/v2.0/token"));
}

#[tokio::test]
async fn the_auth_code_flow_is_started_and_redeemed_in_the_tenant() {
    let idp = MockIdp::start().await;
    let app = confidential(&idp);
    let flow = app
        .initiate_auth_code_flow([SCOPE], "https://app.example/callback")
        .with_tenant(OTHER)
        .send()
        .await
        .unwrap();
    let uri = url::Url::parse(flow.auth_uri()).unwrap();
    assert_eq!(uri.path(), format!("/{OTHER}/oauth2/v2.0/authorize"));
    // The flow kept in the session remembers the tenant.
    let saved = serde_json::to_value(&flow).unwrap();
    assert_eq!(saved["tenant"], OTHER);
    let flow: msal::app::AuthCodeFlow = serde_json::from_value(saved.clone()).unwrap();
    let nonce = saved["nonce"].as_str().unwrap();
    idp.push_token(token_in(OTHER, "at-code", "rt-code", Some(nonce)));
    let r = app
        .acquire_token_by_auth_code_flow(&flow, [("code", "the-code"), ("state", flow.state())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.tenant_id.as_deref(), Some(OTHER));
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.path, format!("/{OTHER}/oauth2/v2.0/token"));
    assert_eq!(t.field("code"), Some("the-code"));
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn an_interactive_sign_in_opens_the_tenants_authorize_page() {
    let idp = MockIdp::start().await;
    let opened = Arc::new(Mutex::new(None::<String>));
    let seen = opened.clone();
    let e = public(&idp)
        .acquire_token_interactive([SCOPE])
        .with_tenant(OTHER)
        .browser(Browser::callback(move |url| {
            *seen.lock().unwrap() = Some(url.to_owned());
            Err(msal::Error::client(
                "browser_unavailable",
                "no browser in a test",
            ))
        }))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "browser_unavailable");
    let url = url::Url::parse(opened.lock().unwrap().as_deref().unwrap()).unwrap();
    assert_eq!(url.path(), format!("/{OTHER}/oauth2/v2.0/authorize"));
    assert!(idp.token_requests().is_empty());
}

#[tokio::test]
async fn silent_in_another_tenant_redeems_the_shared_refresh_token_there() {
    let idp = MockIdp::start().await;
    let app = public(&idp);
    idp.push_devicecode(device_code());
    idp.push_token(token_in(TENANT, "at-home", "rt-1", None));
    let first = app
        .acquire_token_by_device_code([SCOPE])
        .send()
        .await
        .unwrap();
    let account = first.account.unwrap();
    let before = idp.token_requests().len();

    idp.push_token(token_in(OTHER, "at-other", "rt-2", None));
    let r = app
        .acquire_token_silent([SCOPE], &account)
        .with_tenant(OTHER)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.source, r.access_token.secret(), r.tenant_id.as_deref()),
        (TokenSource::IdentityProvider, "at-other", Some(OTHER))
    );
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.path, format!("/{OTHER}/oauth2/v2.0/token"));
    assert_eq!(t.field("grant_type"), Some("refresh_token"));
    assert_eq!(t.field("refresh_token"), Some("rt-1"));
    assert_eq!(cached_at_realms(&app.token_cache().serialize()), {
        let mut v = vec![TENANT.to_owned(), OTHER.to_owned()];
        v.sort();
        v
    });

    // Each tenant's access token is served from the cache now; the home one is untouched.
    let again = app
        .acquire_token_silent([SCOPE], &account)
        .with_tenant(OTHER)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (again.source, again.access_token.secret()),
        (TokenSource::Cache, "at-other")
    );
    let home = app
        .acquire_token_silent([SCOPE], &account)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (home.source, home.access_token.secret()),
        (TokenSource::Cache, "at-home")
    );
    assert_eq!(idp.token_requests().len(), before + 1);

    // The refresh token the other tenant answered replaced the first one (one per app).
    idp.push_token(token_in(OTHER, "at-other-2", "rt-3", None));
    app.acquire_token_silent([SCOPE], &account)
        .with_tenant(OTHER)
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.field("refresh_token"), Some("rt-2"));
}

#[tokio::test]
async fn a_tenant_the_authority_cannot_take_is_refused_before_anything_is_sent() {
    let idp = MockIdp::start().await;
    let app = public(&idp);
    let cc = confidential(&idp);
    let account = msal::Account::new(
        format!("{UID}.{TENANT}"),
        "login.microsoftonline.com",
        "alice@contoso.onmicrosoft.com",
        UID,
        TENANT,
    );
    let incoming = jwt(json!({"oid": UID, "tid": TENANT}));
    for bad in ["", "a/b", "a b", "x?y", "../common"] {
        let errors = [
            app.acquire_token_by_device_code([SCOPE])
                .with_tenant(bad)
                .send()
                .await
                .unwrap_err(),
            app.acquire_token_by_username_password([SCOPE], "u@x", "pw")
                .with_tenant(bad)
                .send()
                .await
                .unwrap_err(),
            app.acquire_token_silent([SCOPE], &account)
                .with_tenant(bad)
                .send()
                .await
                .unwrap_err(),
            cc.acquire_token_on_behalf_of([SCOPE], incoming.as_str())
                .with_tenant(bad)
                .send()
                .await
                .unwrap_err(),
            cc.initiate_auth_code_flow([SCOPE], "https://app.example/cb")
                .with_tenant(bad)
                .send()
                .await
                .unwrap_err(),
        ];
        for e in errors {
            assert_eq!(
                (e.kind(), e.code()),
                (ErrorKind::Client, "invalid_authority"),
                "{bad:?}: {e}"
            );
        }
    }
    assert!(idp.requests().is_empty(), "{:?}", idp.requests());

    // B2C, ADFS and generic OIDC authorities have no tenants to swap: a good tenant name is
    // refused all the same.
    for authority in [
        format!("{}tfp/contoso.onmicrosoft.com/B2C_1_signin", idp.base),
        format!("{}adfs", idp.base),
    ] {
        let web = ConfidentialClientApplication::builder("web-app")
            .authority(authority.as_str())
            .allow_insecure_loopback(true)
            .client_secret("s3cret")
            .build()
            .unwrap();
        let e = web
            .acquire_token_on_behalf_of([SCOPE], incoming.as_str())
            .with_tenant(OTHER)
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_authority", "{authority}");
    }
    let oidc = ConfidentialClientApplication::builder("web-app")
        .oidc_authority(idp.base.trim_end_matches('/'))
        .allow_insecure_loopback(true)
        .client_secret("s3cret")
        .build()
        .unwrap();
    let e = oidc
        .initiate_auth_code_flow([SCOPE], "https://app.example/cb")
        .with_tenant(OTHER)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_authority");
    let adfs = PublicClientApplication::builder("public-client")
        .authority(format!("{}adfs", idp.base))
        .allow_insecure_loopback(true)
        .build()
        .unwrap();
    let e = adfs
        .acquire_token_by_device_code([SCOPE])
        .with_tenant(OTHER)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "invalid_authority")
    );
    let e = adfs
        .acquire_token_silent([SCOPE], &account)
        .with_tenant(OTHER)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_authority");
    assert!(idp.requests().is_empty(), "{:?}", idp.requests());
}

/// Against the emulator, a tenant named by its domain: the first silent call redeems the
/// refresh token at the domain's path (the answer is cached under the tenant id), and once
/// the tenant is resolved its id is the realm looked up, so the next call is a cache hit.
#[tokio::test]
async fn a_tenant_named_by_its_domain_is_found_under_its_id() {
    use msal_emulator::{Emulator, EmulatorConfig, defaults};
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap();
    let app = PublicClientApplication::builder(defaults::PUBLIC_CLIENT_ID)
        .authority(emu.authority("organizations"))
        .allow_insecure_loopback(true)
        .build()
        .unwrap();
    let first = app
        .acquire_token_by_username_password(
            [defaults::GRAPH_USER_READ],
            defaults::USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .send()
        .await
        .unwrap();
    let account = first.account.unwrap();
    emu.clear_requests();
    let silent = || {
        app.acquire_token_silent([defaults::GRAPH_USER_READ], &account)
            .with_tenant(defaults::TENANT_DOMAIN)
            .force_refresh(false)
            .send()
    };
    let r = silent().await.unwrap();
    assert_eq!(r.tenant_id.as_deref(), Some(defaults::TENANT_ID));
    let token_paths = || -> Vec<String> {
        emu.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
            .map(|r| r.path)
            .collect()
    };
    assert_eq!(
        token_paths(),
        [format!("/{}/oauth2/v2.0/token", defaults::TENANT_DOMAIN)]
    );
    let again = silent().await.unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.access_token.secret(), r.access_token.secret());
    assert_eq!(token_paths().len(), 1);
    emu.shutdown().await;
}
