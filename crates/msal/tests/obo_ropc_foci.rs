//! On-behalf-of, username/password and family refresh tokens (FOCI) on the wire, against the
//! scripted identity provider.

mod common;

use common::{Answer, MockIdp, TENANT, UID, b64, jwt, user_token};
use msal::cache::TokenCache;
use msal::{
    ConfidentialClientApplication, ErrorKind, PublicClientApplication, TokenSource,
    UiRequiredClassification,
};
use serde_json::json;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const GRANTED: &str = "User.Read openid profile offline_access";

fn web_api(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("web-api")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret")
        .build()
        .unwrap()
}

fn public(idp: &MockIdp, client_id: &str, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(client_id)
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .token_cache(cache.clone())
        .build()
        .unwrap()
}

/// The access token a client called the web API with.
fn incoming(n: u32) -> String {
    jwt(
        json!({"aud": "api://web-api", "oid": UID, "tid": TENANT, "uti": format!("u{n}"), "scp": "access_as_user"}),
    )
}

fn managed() -> Answer {
    Answer::json(
        200,
        json!({"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.onmicrosoft.com",
               "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}),
    )
}

/// A user token answer of a family (FOCI) app.
fn family_token(at: &str, rt: &str) -> Answer {
    let mut a = user_token(at, rt, GRANTED);
    let mut v: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    v["foci"] = json!("1");
    a.body = v.to_string();
    a
}

// ----- on-behalf-of -----------------------------------------------------------------------

#[tokio::test]
async fn on_behalf_of_sends_the_jwt_bearer_grant_and_caches_per_assertion() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let a1 = incoming(1);
    idp.push_token(user_token("obo-at-1", "obo-rt-1", GRANTED));
    let r = app
        .acquire_token_on_behalf_of(["User.Read"], a1.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(r.access_token.secret(), "obo-at-1");
    assert_eq!(
        r.account.as_ref().unwrap().home_account_id,
        format!("{UID}.{TENANT}")
    );

    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        [
            "assertion",
            "client_id",
            "client_info",
            "client_secret",
            "grant_type",
            "requested_token_use",
            "scope"
        ]
    );
    assert_eq!(t.field("grant_type"), Some(JWT_BEARER));
    assert_eq!(t.field("assertion"), Some(a1.as_str()));
    assert_eq!(t.field("requested_token_use"), Some("on_behalf_of"));
    assert_eq!(t.field("scope"), Some(GRANTED));
    assert_eq!(t.field("client_id"), Some("web-api"));
    assert_eq!(t.field("client_secret"), Some("s3cret"));
    assert_eq!(t.field("client_info"), Some("1"));

    // The same incoming assertion: served from the cache.
    let again = app
        .acquire_token_on_behalf_of(["User.Read"], a1.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.access_token.secret(), "obo-at-1");
    assert_eq!(again.account, r.account);
    assert_eq!(idp.token_requests().len(), 1);

    // The cache keeps the assertion's hash (base64url SHA-256), never the assertion.
    let hash = msal::app::user_assertion_hash(&a1);
    use base64::Engine;
    use sha2::Digest;
    assert_eq!(
        hash,
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(a1.as_bytes()))
    );
    let saved = app.token_cache().serialize();
    assert!(
        saved.contains(&format!("\"user_assertion_hash\": \"{hash}\"")),
        "{saved}"
    );
    assert!(!saved.contains(&a1));

    // Another assertion of the same user is another partition: the identity provider again.
    idp.push_token(user_token("obo-at-2", "obo-rt-2", GRANTED));
    let other = app
        .acquire_token_on_behalf_of(["User.Read"], incoming(2))
        .send()
        .await
        .unwrap();
    assert_eq!(other.source, TokenSource::IdentityProvider);
    assert_eq!(other.access_token.secret(), "obo-at-2");
    assert_eq!(idp.token_requests().len(), 2);
    // force_refresh and a claims request bypass the cache.
    idp.push_token(user_token("obo-at-3", "obo-rt-3", GRANTED));
    let forced = app
        .acquire_token_on_behalf_of(["User.Read"], a1.as_str())
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(forced.source, TokenSource::IdentityProvider);
    idp.push_token(user_token("obo-at-4", "obo-rt-4", GRANTED));
    let claims = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#;
    let challenged = app
        .acquire_token_on_behalf_of(["User.Read"], a1.as_str())
        .with_claims(claims)
        .send()
        .await
        .unwrap();
    assert_eq!(challenged.access_token.secret(), "obo-at-4");
    assert_eq!(
        idp.token_requests().last().unwrap().field("claims"),
        Some(claims)
    );
}

#[tokio::test]
async fn on_behalf_of_errors_are_typed() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let e = app
        .acquire_token_on_behalf_of(["User.Read"], " ")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "invalid_argument")
    );
    assert!(idp.token_requests().is_empty());

    // A conditional access challenge goes back to the client with its claims.
    let mut challenge = Answer::oauth_error(400, "interaction_required", 50076, None);
    let mut v: serde_json::Value = serde_json::from_str(&challenge.body).unwrap();
    v["claims"] = json!(r#"{"access_token":{"capolids":{"essential":true,"values":["p1"]}}}"#);
    challenge.body = v.to_string();
    idp.push_token(challenge);
    let e = app
        .acquire_token_on_behalf_of(["User.Read"], incoming(1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::UiRequired, "interaction_required")
    );
    assert!(e.claims().unwrap().contains("capolids"));
}

// ----- username/password ------------------------------------------------------------------

#[tokio::test]
async fn username_password_discovers_the_realm_then_sends_the_password_grant() {
    let idp = MockIdp::start().await;
    let cache = TokenCache::new();
    let app = public(&idp, "public-client", &cache);
    idp.push_realm(managed());
    idp.push_token(user_token("ropc-at", "ropc-rt", GRANTED));
    let r = app
        .acquire_token_by_username_password(
            ["User.Read"],
            "alice@contoso.onmicrosoft.com",
            "P@ss w0rd&x=1",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "ropc-at");
    assert_eq!(r.account.unwrap().username, "alice@contoso.onmicrosoft.com");

    let reqs = idp.requests();
    let realm = reqs
        .iter()
        .find(|r| r.path.starts_with("/common/userrealm/"))
        .expect("user realm discovery");
    assert_eq!(realm.method, "GET");
    assert_eq!(
        realm.path,
        "/common/userrealm/alice@contoso.onmicrosoft.com"
    );
    assert_eq!(realm.query, "api-version=1.0");
    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        [
            "client_id",
            "client_info",
            "grant_type",
            "password",
            "scope",
            "username"
        ]
    );
    assert_eq!(t.field("grant_type"), Some("password"));
    assert_eq!(t.field("username"), Some("alice@contoso.onmicrosoft.com"));
    assert_eq!(t.field("password"), Some("P@ss w0rd&x=1"));
    assert_eq!(t.field("scope"), Some(GRANTED));
    assert_eq!(t.field("client_id"), Some("public-client"));
    assert_eq!(t.field("client_info"), Some("1"));
    assert_eq!(
        realm.header("client-request-id"),
        t.header("client-request-id")
    );
}

#[tokio::test]
async fn a_federated_user_is_refused_before_the_password_is_sent() {
    let idp = MockIdp::start().await;
    let app = public(&idp, "public-client", &TokenCache::new());
    idp.push_realm(Answer::json(
        200,
        json!({"ver": "1.0", "account_type": "Federated", "domain_name": "fabrikam.com",
               "federation_protocol": "WSTrust", "federation_metadata_url": "https://sts.fabrikam.com/adfs/services/trust/mex"}),
    ));
    let e = app
        .acquire_token_by_username_password(["User.Read"], "bob@fabrikam.com", "pw")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Client);
    assert_eq!(e.code(), "federated_user_not_supported");
    assert!(e.description().contains("fabrikam.com"));
    assert!(idp.token_requests().is_empty(), "the password went nowhere");
}

#[tokio::test]
async fn a_failed_realm_lookup_counts_as_managed() {
    let idp = MockIdp::start().await;
    let app = public(&idp, "public-client", &TokenCache::new());
    // No scripted answer: the lookup gets a 404.
    idp.push_token(user_token("at-1", "rt-1", GRANTED));
    app.acquire_token_by_username_password(["User.Read"], "carol@contoso.com", "pw")
        .send()
        .await
        .unwrap();
    idp.push_realm(Answer::raw(500, "<html>oops</html>", "text/html"));
    idp.push_realm(Answer::raw(500, "<html>oops</html>", "text/html"));
    idp.push_token(user_token("at-2", "rt-2", GRANTED));
    app.acquire_token_by_username_password(["User.Read"], "carol@contoso.com", "pw")
        .send()
        .await
        .unwrap();
    idp.push_realm(Answer::raw(200, "{not json", "application/json"));
    idp.push_token(user_token("at-3", "rt-3", GRANTED));
    app.acquire_token_by_username_password(["User.Read"], "carol@contoso.com", "pw")
        .send()
        .await
        .unwrap();
    assert_eq!(idp.token_requests().len(), 3);
}

#[tokio::test]
async fn username_password_errors_and_the_confidential_client() {
    let idp = MockIdp::start().await;
    let app = public(&idp, "public-client", &TokenCache::new());
    idp.push_realm(managed());
    idp.push_token(Answer::oauth_error(
        400,
        "invalid_grant",
        50076,
        Some("basic_action"),
    ));
    let e = app
        .acquire_token_by_username_password(["User.Read"], "mfa@contoso.onmicrosoft.com", "pw")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(
        e.classification(),
        Some(UiRequiredClassification::BasicAction)
    );
    assert_eq!(e.aadsts_codes(), &[50076]);

    let e = app
        .acquire_token_by_username_password(["User.Read"], "  ", "pw")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "invalid_argument")
    );

    let cca = web_api(&idp);
    idp.push_realm(managed());
    idp.push_token(user_token("cc-ropc", "rt", GRANTED));
    cca.acquire_token_by_username_password(["User.Read"], "alice@contoso.onmicrosoft.com", "pw")
        .send()
        .await
        .unwrap();
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(
        t.field_names(),
        [
            "client_id",
            "client_info",
            "client_secret",
            "grant_type",
            "password",
            "scope",
            "username"
        ]
    );
    assert_eq!(t.field("client_secret"), Some("s3cret"));
}

// ----- family refresh tokens (FOCI) ---------------------------------------------------------

#[tokio::test]
async fn an_app_without_a_refresh_token_of_its_own_uses_the_familys() {
    let idp = MockIdp::start().await;
    let cache = TokenCache::new();
    let a = public(&idp, "family-app-a", &cache);
    let b = public(&idp, "family-app-b", &cache);
    idp.push_realm(managed());
    idp.push_token(family_token("at-a", "rt-a"));
    let account = a
        .acquire_token_by_username_password(["User.Read"], "alice@contoso.onmicrosoft.com", "pw")
        .send()
        .await
        .unwrap()
        .account
        .unwrap();
    assert_eq!(
        b.accounts().await.unwrap(),
        vec![account.clone()],
        "the family's account"
    );

    idp.push_token(family_token("at-b", "rt-b"));
    let r = b
        .acquire_token_silent(["User.Read"], &account)
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-b");
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.field("grant_type"), Some("refresh_token"));
    assert_eq!(t.field("client_id"), Some("family-app-b"));
    assert_eq!(t.field("refresh_token"), Some("rt-a"));

    // b now has its own refresh token, and uses it.
    idp.push_token(family_token("at-b2", "rt-b2"));
    b.acquire_token_silent(["User.Read"], &account)
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        idp.token_requests().pop().unwrap().field("refresh_token"),
        Some("rt-b")
    );
}

#[tokio::test]
async fn client_mismatch_without_a_refresh_token_of_its_own_is_ui_required() {
    let idp = MockIdp::start().await;
    let cache = TokenCache::new();
    let a = public(&idp, "family-app-a", &cache);
    let outsider = public(&idp, "not-in-the-family", &cache);
    idp.push_realm(managed());
    idp.push_token(family_token("at-a", "rt-a"));
    let account = a
        .acquire_token_by_username_password(["User.Read"], "alice@contoso.onmicrosoft.com", "pw")
        .send()
        .await
        .unwrap()
        .account
        .unwrap();
    idp.push_token(Answer::oauth_error(
        400,
        "invalid_grant",
        70000,
        Some("client_mismatch"),
    ));
    let e = outsider
        .acquire_token_silent(["User.Read"], &account)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(e.code(), "no_tokens_found");
    assert_eq!(
        e.classification(),
        Some(UiRequiredClassification::AcquireTokenSilentFailed)
    );
    let tokens = idp.token_requests();
    assert_eq!(tokens.len(), 2, "one sign-in, one family attempt");
    assert_eq!(tokens[1].field("client_id"), Some("not-in-the-family"));
    assert_eq!(tokens[1].field("refresh_token"), Some("rt-a"));
}

/// A cache (MSAL's schema) where app b has its own family refresh token and app a a newer one.
fn family_cache(env: &str) -> String {
    let home = format!("{UID}.{TENANT}");
    let rt = |client: &str, secret: &str, time: &str| {
        json!({
            "credential_type": "RefreshToken", "secret": secret, "home_account_id": home,
            "environment": env, "client_id": client, "target": GRANTED,
            "last_modification_time": time, "family_id": "1",
        })
    };
    json!({
        "Account": {
            format!("{home}-{env}-{TENANT}"): {
                "home_account_id": home, "environment": env, "realm": TENANT,
                "local_account_id": UID, "username": "alice@contoso.onmicrosoft.com",
                "authority_type": "MSSTS", "client_info": b64(&json!({"uid": UID, "utid": TENANT})),
            }
        },
        "RefreshToken": {
            format!("{home}-{env}-refreshtoken-family-app-a--"): rt("family-app-a", "rt-a-newer", "1700000200"),
            format!("{home}-{env}-refreshtoken-family-app-b--"): rt("family-app-b", "rt-b-own", "1700000100"),
        },
        "AppMetadata": {
            format!("appmetadata-{env}-family-app-a"): {"client_id": "family-app-a", "environment": env, "family_id": "1"},
            format!("appmetadata-{env}-family-app-b"): {"client_id": "family-app-b", "environment": env, "family_id": "1"},
        },
    })
    .to_string()
}

#[tokio::test]
async fn a_family_member_tries_the_family_token_first_then_its_own_on_client_mismatch() {
    let idp = MockIdp::start().await;
    let cache = TokenCache::new();
    // MSAL's cache `environment` is the bare host name (no port).
    let env = "127.0.0.1".to_owned();
    cache.deserialize(&family_cache(&env)).unwrap();
    let b = public(&idp, "family-app-b", &cache);
    let account = b
        .accounts()
        .await
        .unwrap()
        .pop()
        .expect("the cached account");

    idp.push_token(Answer::oauth_error(
        400,
        "invalid_grant",
        70000,
        Some("client_mismatch"),
    ));
    idp.push_token(family_token("at-b", "rt-b-2"));
    let r = b
        .acquire_token_silent(["User.Read"], &account)
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-b");
    let order: Vec<_> = idp
        .token_requests()
        .iter()
        .map(|t| {
            (
                t.field("client_id").unwrap().to_owned(),
                t.field("refresh_token").unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("family-app-b".to_owned(), "rt-a-newer".to_owned()),
            ("family-app-b".to_owned(), "rt-b-own".to_owned()),
        ]
    );
}

#[tokio::test]
async fn concurrent_identical_on_behalf_of_calls_share_one_request() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let assertion = incoming(7);
    // Slow, so that every call is under way before the answer comes.
    idp.push_token(
        user_token("obo-at", "obo-rt", GRANTED).delayed(std::time::Duration::from_millis(300)),
    );
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            let assertion = assertion.clone();
            tokio::spawn(async move {
                app.acquire_token_on_behalf_of(["User.Read"], assertion.as_str())
                    .send()
                    .await
            })
        })
        .collect();
    for call in calls {
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), call)
            .await
            .expect("the call finishes")
            .unwrap()
            .unwrap();
        assert_eq!(r.access_token.secret(), "obo-at");
    }
    assert_eq!(
        idp.token_requests().len(),
        1,
        "one request reached the identity provider"
    );
}
