//! Long-running on-behalf-of on the wire: a web API starts a background process with its
//! caller's token and keeps getting tokens by the session key after that token expired,
//! against the scripted identity provider and the emulator.

mod common;

use common::{Answer, MockIdp, TENANT, UID, b64, jwt};
use msal::app::user_assertion_hash;
use msal::{ConfidentialClientApplication, ErrorKind, TokenSource};
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

/// The access token a client called the web API with (expired an hour ago: the library does
/// not validate it, the identity provider would).
fn incoming(n: u32) -> String {
    jwt(json!({
        "aud": "api://web-api", "oid": UID, "tid": TENANT, "uti": format!("u{n}"),
        "scp": "access_as_user", "exp": 1_700_000_000,
    }))
}

/// A user token answer living `expires_in` seconds (under five minutes counts as expired).
fn token(at: &str, rt: &str, expires_in: u64) -> Answer {
    token_in(TENANT, at, rt, expires_in)
}

/// [`token`] issued in the tenant `tid`.
fn token_in(tid: &str, at: &str, rt: &str, expires_in: u64) -> Answer {
    let id = jwt(json!({
        "aud": "web-api", "iss": format!("https://login/{tid}/v2.0"), "tid": tid,
        "oid": UID, "sub": "sub-1", "preferred_username": "alice@contoso.onmicrosoft.com",
        "name": "Alice", "ver": "2.0",
    }));
    Answer::json(
        200,
        json!({
            "token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in,
            "access_token": at, "refresh_token": rt, "id_token": id, "scope": GRANTED,
            "client_info": b64(&json!({"uid": UID, "utid": TENANT})),
        }),
    )
}

/// The `user_assertion_hash` of every cached access and refresh token.
fn cached_sessions(app: &ConfidentialClientApplication) -> (Vec<String>, Vec<String>) {
    let v: serde_json::Value = serde_json::from_str(&app.token_cache().serialize()).unwrap();
    let hashes = |section: &str| -> Vec<String> {
        let mut h: Vec<String> = v[section]
            .as_object()
            .map(|m| {
                m.values()
                    .map(|e| e["user_assertion_hash"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        h.sort();
        h
    };
    (hashes("AccessToken"), hashes("RefreshToken"))
}

#[tokio::test]
async fn a_process_keeps_getting_tokens_after_the_callers_token_expired() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let caller = incoming(1);
    // The access token lives a minute: the process's next call redeems the refresh token.
    idp.push_token(token("lr-at-1", "lr-rt-1", 60));
    let start = app.initiate_long_running_on_behalf_of(["User.Read"], caller.as_str());
    let key = start.session_key().to_owned();
    assert_eq!(key, user_assertion_hash(&caller));
    let r = start.send().await.unwrap();
    assert_eq!(
        (r.source, r.access_token.secret()),
        (TokenSource::IdentityProvider, "lr-at-1")
    );
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.field("grant_type"), Some(JWT_BEARER));
    assert_eq!(t.field("assertion"), Some(caller.as_str()));
    assert_eq!(t.field("requested_token_use"), Some("on_behalf_of"));
    assert_eq!(
        cached_sessions(&app),
        (vec![key.clone()], vec![key.clone()])
    );

    // Later, without the caller's token: the refresh token grant, exactly.
    idp.push_token(token("lr-at-2", "lr-rt-2", 3599));
    let r = app
        .acquire_token_in_long_running_process(["User.Read"], key.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.source, r.access_token.secret()),
        (TokenSource::IdentityProvider, "lr-at-2")
    );
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        t.field_names(),
        [
            "client_id",
            "client_info",
            "client_secret",
            "grant_type",
            "refresh_token",
            "scope"
        ]
    );
    assert_eq!(t.field("grant_type"), Some("refresh_token"));
    assert_eq!(t.field("refresh_token"), Some("lr-rt-1"));
    assert_eq!(t.field("client_secret"), Some("s3cret"));
    assert_eq!(t.field("scope"), Some(GRANTED));
    // The new tokens replaced the session's, under the same key.
    assert_eq!(
        cached_sessions(&app),
        (vec![key.clone()], vec![key.clone()])
    );
    assert!(!app.token_cache().serialize().contains(&caller));

    // Then from the cache.
    let r = app
        .acquire_token_in_long_running_process(["User.Read"], key.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.source, r.access_token.secret()),
        (TokenSource::Cache, "lr-at-2")
    );
    assert_eq!(
        r.account.unwrap().home_account_id,
        format!("{UID}.{TENANT}")
    );
    assert_eq!(idp.token_requests().len(), 2);

    // Forced: the rotated refresh token.
    idp.push_token(token("lr-at-3", "lr-rt-3", 3599));
    app.acquire_token_in_long_running_process(["User.Read"], key.as_str())
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.field("refresh_token"), Some("lr-rt-2"));
    assert_eq!(t.field("assertion"), None);
}

#[tokio::test]
async fn a_process_in_another_tenant_is_started_and_refreshed_there() {
    const OTHER: &str = "aaaaaaaa-0000-4000-8000-0000000000b2";
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    idp.push_token(token_in(OTHER, "t-at-1", "t-rt-1", 60));
    let started = app
        .initiate_long_running_on_behalf_of(["User.Read"], incoming(5))
        .with_tenant(OTHER)
        .with_session_key("tenant-job")
        .send()
        .await
        .unwrap();
    assert_eq!(started.tenant_id.as_deref(), Some(OTHER));
    idp.push_token(token_in(OTHER, "t-at-2", "t-rt-2", 3599));
    let process = || {
        app.acquire_token_in_long_running_process(["User.Read"], "tenant-job")
            .with_tenant(OTHER)
            .send()
    };
    let r = process().await.unwrap();
    assert_eq!(r.access_token.secret(), "t-at-2");
    let paths: Vec<(String, String)> = idp
        .token_requests()
        .into_iter()
        .map(|t| (t.path.clone(), t.field("grant_type").unwrap().to_owned()))
        .collect();
    assert_eq!(
        paths,
        [
            (format!("/{OTHER}/oauth2/v2.0/token"), JWT_BEARER.to_owned()),
            (
                format!("/{OTHER}/oauth2/v2.0/token"),
                "refresh_token".to_owned()
            )
        ]
    );
    // Cached under the tenant's realm: served from the cache in that tenant.
    let r = process().await.unwrap();
    assert_eq!(
        (r.source, r.access_token.secret()),
        (TokenSource::Cache, "t-at-2")
    );
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn an_unknown_session_key_is_a_typed_error_and_nothing_is_sent() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let e = app
        .acquire_token_in_long_running_process(["User.Read"], "never-started")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "obo_cache_key_not_in_cache")
    );
    assert!(e.correlation_id().is_some());
    let e = app
        .acquire_token_in_long_running_process(["User.Read"], "")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    let e = app
        .initiate_long_running_on_behalf_of(["User.Read"], "  ")
        .with_session_key("job")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    assert!(idp.requests().is_empty(), "{:?}", idp.requests());
}

#[tokio::test]
async fn a_session_key_of_the_callers_choice_is_the_only_one_that_finds_the_session() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let caller = incoming(2);
    idp.push_token(token("job-at", "job-rt", 3599));
    let start = app
        .initiate_long_running_on_behalf_of(["User.Read"], caller.as_str())
        .with_session_key("job-42");
    assert_eq!(start.session_key(), "job-42");
    start.send().await.unwrap();
    assert_eq!(
        cached_sessions(&app),
        (vec!["job-42".to_owned()], vec!["job-42".to_owned()])
    );
    let r = app
        .acquire_token_in_long_running_process(["User.Read"], "job-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.source, r.access_token.secret()),
        (TokenSource::Cache, "job-at")
    );
    for other in ["JOB-42".to_owned(), user_assertion_hash(&caller)] {
        let e = app
            .acquire_token_in_long_running_process(["User.Read"], other.as_str())
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), "obo_cache_key_not_in_cache", "{other}");
    }
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn a_start_asks_every_time_unless_told_to_search_the_cache() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let caller = incoming(3);
    let start = || app.initiate_long_running_on_behalf_of(["User.Read"], caller.as_str());
    idp.push_token(token("at-1", "rt-1", 3599));
    idp.push_token(token("at-2", "rt-2", 60));
    start().send().await.unwrap();
    let r = start().send().await.unwrap();
    assert_eq!(
        (r.source, r.access_token.secret()),
        (TokenSource::IdentityProvider, "at-2")
    );
    let grants: Vec<_> = idp
        .token_requests()
        .iter()
        .map(|t| t.field("grant_type").unwrap().to_owned())
        .collect();
    assert_eq!(grants, [JWT_BEARER, JWT_BEARER]);

    // Searching the cache: the session's access token is past its life, so its refresh token
    // (the second start's) is redeemed rather than the assertion sent again.
    idp.push_token(token("at-3", "rt-3", 3599));
    let r = start().search_in_cache(true).send().await.unwrap();
    assert_eq!(r.access_token.secret(), "at-3");
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(
        (t.field("grant_type"), t.field("refresh_token")),
        (Some("refresh_token"), Some("rt-2"))
    );
    // And now its access token.
    let r = start().search_in_cache(true).send().await.unwrap();
    assert_eq!(
        (r.source, r.access_token.secret()),
        (TokenSource::Cache, "at-3")
    );
    assert_eq!(idp.token_requests().len(), 3);
}

#[tokio::test]
async fn a_key_reused_for_another_caller_never_redeems_the_previous_callers_token() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    idp.push_token(token("alice-at", "alice-rt", 60));
    app.initiate_long_running_on_behalf_of(["User.Read"], incoming(6))
        .with_session_key("shared")
        .send()
        .await
        .unwrap();
    let bob = jwt(json!({"aud": "api://web-api", "oid": "bob-oid", "tid": TENANT}));
    idp.push_token(token("bob-at", "bob-rt", 3599));
    app.initiate_long_running_on_behalf_of(["User.Read"], bob.as_str())
        .with_session_key("shared")
        .search_in_cache(true)
        .send()
        .await
        .unwrap();
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(
        (t.field("grant_type"), t.field("assertion")),
        (Some(JWT_BEARER), Some(bob.as_str()))
    );
    assert_eq!(t.field("refresh_token"), None);
}

#[tokio::test]
async fn sessions_of_one_user_keep_their_own_refresh_tokens_and_stop_removes_one() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let caller = incoming(4);
    for (key, rt) in [("job-a", "rt-a"), ("job-b", "rt-b")] {
        idp.push_token(token(&format!("at-{key}"), rt, 60));
        app.initiate_long_running_on_behalf_of(["User.Read"], caller.as_str())
            .with_session_key(key)
            .send()
            .await
            .unwrap();
    }
    for (key, rt) in [("job-a", "rt-a"), ("job-b", "rt-b")] {
        idp.push_token(token("at-new", &format!("{rt}-2"), 60));
        app.acquire_token_in_long_running_process(["User.Read"], key)
            .send()
            .await
            .unwrap();
        let t = idp.token_requests().pop().unwrap();
        assert_eq!(t.field("refresh_token"), Some(rt), "{key}");
    }
    // A session's refresh token is not the user's: silent finds none to redeem.
    let account = app.accounts().await.unwrap().pop().unwrap();
    let before = idp.token_requests().len();
    let e = app
        .acquire_token_silent(["User.Read"], &account)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UiRequired);
    assert_eq!(idp.token_requests().len(), before);

    assert!(app.stop_long_running_process("job-a").await.unwrap());
    assert!(!app.stop_long_running_process("job-a").await.unwrap());
    let e = app
        .acquire_token_in_long_running_process(["User.Read"], "job-a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "obo_cache_key_not_in_cache");
    assert_eq!(
        cached_sessions(&app),
        (vec!["job-b".to_owned()], vec!["job-b".to_owned()])
    );
    assert_eq!(idp.token_requests().len(), before);
    // The other session goes on.
    idp.push_token(token("at-b-3", "rt-b-3", 3599));
    app.acquire_token_in_long_running_process(["User.Read"], "job-b")
        .send()
        .await
        .unwrap();
    let t = idp.token_requests().pop().unwrap();
    assert_eq!(t.field("refresh_token"), Some("rt-b-2"));
}

/// Against the emulator: its on-behalf-of answer carries a refresh token (the library asks
/// for `offline_access`), which the process redeems without the caller's token.
#[tokio::test]
async fn the_emulator_serves_a_long_running_process() {
    use msal_emulator::{Emulator, EmulatorConfig, defaults};
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap();
    let client = msal::PublicClientApplication::builder(defaults::PUBLIC_CLIENT_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .build()
        .unwrap();
    let user = client
        .acquire_token_by_username_password(
            [defaults::API_SCOPE],
            defaults::USER_USERNAME,
            defaults::USER_PASSWORD,
        )
        .send()
        .await
        .unwrap();
    let api = ConfidentialClientApplication::builder(defaults::CONFIDENTIAL_CLIENT_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_secret(defaults::CLIENT_SECRET)
        .build()
        .unwrap();
    let start = api
        .initiate_long_running_on_behalf_of(["User.Read"], user.access_token.secret())
        .with_session_key("emulated-job");
    let first = start.send().await.unwrap();
    assert_eq!(first.source, TokenSource::IdentityProvider);
    let (_, rts) = cached_sessions(&api);
    assert_eq!(rts, ["emulated-job"], "the answer had a refresh token");

    emu.clear_requests();
    let r = api
        .acquire_token_in_long_running_process(["User.Read"], "emulated-job")
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_ne!(r.access_token.secret(), first.access_token.secret());
    assert_eq!(r.account.unwrap().username, defaults::USER_USERNAME);
    let grants: Vec<String> = emu
        .requests()
        .into_iter()
        .filter_map(|r| r.form_value("grant_type").map(str::to_owned))
        .collect();
    assert_eq!(grants, ["refresh_token"]);
    emu.shutdown().await;
}
