//! Behaviour of the token cache through its crate-internal API.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;
use crate::error::{ErrorKind, codes};
use crate::http::BoxFuture;

const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const OTHER_CLIENT: &str = "99999999-2222-3333-4444-555555555555";
const ENV: &str = "login.microsoftonline.com";
const ALIAS: &str = "login.windows.net";
const TENANT: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const OTHER_TENANT: &str = "ffffffff-bbbb-cccc-dddd-eeeeeeeeeeee";
const UID: &str = "00000000-0000-0000-1111-222222222222";
const NOW: i64 = 1_700_000_000;

fn home() -> String {
    format!("{UID}.{TENANT}")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn jwt(claims: &Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// An owned token response.
#[derive(Clone)]
struct Resp {
    client_id: String,
    environment: String,
    realm: String,
    scopes: Vec<String>,
    access_token: Option<String>,
    expires_in: u64,
    ext_expires_in: Option<u64>,
    refresh_in: Option<u64>,
    refresh_token: Option<String>,
    family_id: Option<String>,
    id_token: Option<String>,
    claims: Option<Value>,
    home: Option<String>,
    user_assertion_hash: Option<String>,
    now: i64,
}

impl Resp {
    fn app(realm: &str, scopes: &[&str], secret: &str) -> Self {
        Resp {
            client_id: CLIENT.into(),
            environment: ENV.into(),
            realm: realm.into(),
            scopes: strings(scopes),
            access_token: Some(secret.into()),
            expires_in: 3600,
            ext_expires_in: None,
            refresh_in: None,
            refresh_token: None,
            family_id: None,
            id_token: None,
            claims: None,
            home: None,
            user_assertion_hash: None,
            now: NOW,
        }
    }

    fn user(home: &str, realm: &str, scopes: &[&str], secret: &str) -> Self {
        let (uid, _) = home.split_once('.').unwrap_or((home, ""));
        let claims = json!({
            "aud": CLIENT,
            "iss": format!("https://{ENV}/{realm}/v2.0"),
            "oid": uid,
            "sub": "subject",
            "tid": realm,
            "preferred_username": "alice@contoso.com",
            "name": "Alice",
        });
        Resp {
            refresh_token: Some(format!("rt-{secret}")),
            id_token: Some(jwt(&claims)),
            claims: Some(claims),
            home: Some(home.into()),
            ..Resp::app(realm, scopes, secret)
        }
    }

    fn w(&self) -> CacheWrite<'_> {
        CacheWrite {
            client_id: &self.client_id,
            environment: &self.environment,
            realm: &self.realm,
            scopes: &self.scopes,
            access_token: self.access_token.as_deref(),
            token_type: "Bearer",
            expires_in: self.expires_in,
            ext_expires_in: self.ext_expires_in,
            refresh_in: self.refresh_in,
            refresh_token: self.refresh_token.as_deref(),
            family_id: self.family_id.as_deref(),
            id_token: self.id_token.as_deref(),
            id_token_claims: self.claims.as_ref(),
            home_account_id: self.home.as_deref(),
            user_assertion_hash: self.user_assertion_hash.as_deref(),
            key_id: None,
            now: self.now,
        }
    }
}

/// An owned access-token query.
#[derive(Clone)]
struct Q {
    client_id: String,
    environments: Vec<String>,
    realm: String,
    scopes: Vec<String>,
    home: Option<String>,
    user_assertion_hash: Option<String>,
    now: i64,
}

impl Q {
    fn app(realm: &str, scopes: &[&str]) -> Self {
        Q {
            client_id: CLIENT.into(),
            environments: strings(&[ENV]),
            realm: realm.into(),
            scopes: strings(scopes),
            home: None,
            user_assertion_hash: None,
            now: NOW,
        }
    }

    fn user(home: &str, realm: &str, scopes: &[&str]) -> Self {
        Q {
            home: Some(home.into()),
            ..Q::app(realm, scopes)
        }
    }

    fn q(&self) -> AccessTokenQuery<'_> {
        AccessTokenQuery {
            client_id: &self.client_id,
            environments: &self.environments,
            realm: &self.realm,
            scopes: &self.scopes,
            home_account_id: self.home.as_deref(),
            user_assertion_hash: self.user_assertion_hash.as_deref(),
            bound: None,
            now: self.now,
            scope_bloom: None,
            partition: None,
        }
    }
}

async fn save(cache: &TokenCache, r: &Resp) -> Option<Account> {
    cache.save_response(r.w()).await.unwrap()
}

async fn find(cache: &TokenCache, q: &Q) -> Option<String> {
    cache
        .find_access_token(&q.q())
        .await
        .unwrap()
        .map(|t| t.secret.secret().to_owned())
}

fn json_of(cache: &TokenCache) -> Value {
    serde_json::from_str(&cache.serialize()).unwrap()
}

#[tokio::test]
async fn app_token_is_written_as_msal_python_writes_it() {
    let cache = TokenCache::new();
    let mut r = Resp::app(TENANT, &["https://graph.microsoft.com/.default"], "app-at");
    r.ext_expires_in = Some(7200);
    assert_eq!(save(&cache, &r).await, None);
    let expected = json!({
        "AccessToken": {
            format!("-{ENV}-accesstoken-{CLIENT}-{TENANT}-https://graph.microsoft.com/.default"): {
                "credential_type": "AccessToken",
                "secret": "app-at",
                "home_account_id": null,
                "environment": ENV,
                "client_id": CLIENT,
                "target": "https://graph.microsoft.com/.default",
                "realm": TENANT,
                "token_type": "Bearer",
                "cached_at": "1700000000",
                "expires_on": "1700003600",
                "extended_expires_on": "1700007200"
            }
        },
        "AppMetadata": {
            format!("appmetadata-{ENV}-{CLIENT}"): {"client_id": CLIENT, "environment": ENV}
        }
    });
    assert_eq!(json_of(&cache), expected);
    // Field order as MSAL Python's dict literal.
    let text = cache.serialize();
    let order = [
        "credential_type",
        "secret",
        "home_account_id",
        "environment",
        "client_id",
        "target",
        "realm",
        "token_type",
        "cached_at",
        "expires_on",
        "extended_expires_on",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|f| text.find(&format!("\"{f}\"")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.starts_with("{\n    \"AccessToken\": {\n        \""));
}

#[tokio::test]
async fn user_token_is_written_as_msal_python_writes_it() {
    let cache = TokenCache::new();
    let home = home();
    let mut r = Resp::user(
        &home,
        TENANT,
        &["User.Read", "openid", "profile", "email"],
        "user-at",
    );
    r.refresh_in = Some(1800);
    r.family_id = Some("1".into());
    let account = save(&cache, &r).await.unwrap();
    assert_eq!(account.home_account_id, home);
    assert_eq!(account.username, "alice@contoso.com");
    assert_eq!(account.local_account_id, UID);
    assert_eq!(account.realm, TENANT);
    assert_eq!(account.name.as_deref(), Some("Alice"));

    let target = "User.Read email openid profile";
    let id_token = r.id_token.clone().unwrap();
    let expected = json!({
        "AccessToken": {
            format!("{home}-{ENV}-accesstoken-{CLIENT}-{TENANT}-{}", target.to_lowercase()): {
                "credential_type": "AccessToken",
                "secret": "user-at",
                "home_account_id": home,
                "environment": ENV,
                "client_id": CLIENT,
                "target": target,
                "realm": TENANT,
                "token_type": "Bearer",
                "cached_at": "1700000000",
                "expires_on": "1700003600",
                "extended_expires_on": "1700003600",
                "refresh_on": "1700001800"
            }
        },
        "Account": {
            format!("{home}-{ENV}-{TENANT}"): {
                "home_account_id": home,
                "environment": ENV,
                "realm": TENANT,
                "local_account_id": UID,
                "username": "alice@contoso.com",
                "authority_type": "MSSTS",
                "name": "Alice"
            }
        },
        "IdToken": {
            format!("{home}-{ENV}-idtoken-{CLIENT}-{TENANT}-"): {
                "credential_type": "IdToken",
                "secret": id_token,
                "home_account_id": home,
                "environment": ENV,
                "realm": TENANT,
                "client_id": CLIENT
            }
        },
        "RefreshToken": {
            format!("{home}-{ENV}-refreshtoken-{CLIENT}--{}", target.to_lowercase()): {
                "credential_type": "RefreshToken",
                "secret": "rt-user-at",
                "home_account_id": home,
                "environment": ENV,
                "client_id": CLIENT,
                "target": target,
                "last_modification_time": "1700000000",
                "family_id": "1"
            }
        },
        "AppMetadata": {
            format!("appmetadata-{ENV}-{CLIENT}"): {
                "client_id": CLIENT, "environment": ENV, "family_id": "1"
            }
        }
    });
    assert_eq!(json_of(&cache), expected);

    let found = cache
        .find_access_token(&Q::user(&home, TENANT, &["user.read"]).q())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.refresh_on, Some(NOW + 1800));
    assert_eq!(found.expires_on, NOW + 3600);
    assert_eq!(found.extended_expires_on, Some(NOW + 3600));
    assert_eq!(
        found.scopes,
        strings(&["User.Read", "email", "openid", "profile"])
    );
    assert_eq!(found.home_account_id.as_deref(), Some(home.as_str()));
    assert_eq!(found.realm, TENANT);
    assert_eq!(found.token_type, "Bearer");
}

#[tokio::test]
async fn a_cached_token_says_which_account_it_is_for() {
    let cache = TokenCache::new();
    let home = home();
    save(&cache, &Resp::user(&home, TENANT, &["s"], "user")).await;
    save(&cache, &Resp::app(TENANT, &["s"], "app")).await;
    let user = cache
        .find_access_token(&Q::user(&home, TENANT, &["s"]).q())
        .await
        .unwrap()
        .unwrap();
    assert!(user.is_for(Some(&home.to_uppercase())));
    assert!(!user.is_for(Some("someone-else.tenant")));
    assert!(!user.is_for(None));
    let app = cache
        .find_access_token(&Q::app(TENANT, &["s"]).q())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.home_account_id, None);
    assert!(app.is_for(None) && app.is_for(Some("")));
    assert!(!app.is_for(Some(&home)));
}

#[tokio::test]
async fn five_minute_expiry_rule() {
    let cache = TokenCache::new();
    save(&cache, &Resp::app(TENANT, &["s"], "at")).await;
    let expires_on = NOW + 3600;
    let mut q = Q::app(TENANT, &["s"]);
    q.now = expires_on - 300;
    assert_eq!(find(&cache, &q).await.as_deref(), Some("at"));
    q.now = expires_on - 299;
    assert_eq!(find(&cache, &q).await, None);
    q.now = expires_on + 10;
    assert_eq!(find(&cache, &q).await, None);
}

#[tokio::test]
async fn scopes_match_as_a_case_insensitive_superset() {
    let cache = TokenCache::new();
    let home = home();
    save(
        &cache,
        &Resp::user(&home, TENANT, &["User.Read", "Mail.Read", "openid"], "at"),
    )
    .await;
    for scopes in [
        &["user.read"][..],
        &["MAIL.READ", "User.Read"],
        &["User.Read", "offline_access", "openid", "profile"],
    ] {
        let q = Q::user(&home, TENANT, scopes);
        assert_eq!(find(&cache, &q).await.as_deref(), Some("at"), "{scopes:?}");
    }
    for scopes in [
        &["User.Read", "Files.Read"][..],
        &["openid", "profile"],
        &[],
    ] {
        let q = Q::user(&home, TENANT, scopes);
        assert_eq!(find(&cache, &q).await, None, "{scopes:?}");
    }
}

#[tokio::test]
async fn realms_clients_and_accounts_are_isolated() {
    let cache = TokenCache::new();
    let home = home();
    save(&cache, &Resp::app(TENANT, &["s"], "app-t1")).await;
    save(&cache, &Resp::app(OTHER_TENANT, &["s"], "app-t2")).await;
    save(&cache, &Resp::user(&home, TENANT, &["s"], "user-t1")).await;
    assert_eq!(
        find(&cache, &Q::app(TENANT, &["s"])).await.as_deref(),
        Some("app-t1")
    );
    assert_eq!(
        find(&cache, &Q::app(&OTHER_TENANT.to_uppercase(), &["s"]))
            .await
            .as_deref(),
        Some("app-t2")
    );
    assert_eq!(
        find(&cache, &Q::user(&home, TENANT, &["s"]))
            .await
            .as_deref(),
        Some("user-t1")
    );
    assert_eq!(
        find(&cache, &Q::user(&home, OTHER_TENANT, &["s"])).await,
        None
    );
    assert_eq!(find(&cache, &Q::app("third", &["s"])).await, None);
    let mut other_client = Q::app(TENANT, &["s"]);
    other_client.client_id = OTHER_CLIENT.into();
    assert_eq!(find(&cache, &other_client).await, None);
    let other_user = format!("{OTHER_TENANT}.{TENANT}");
    assert_eq!(
        find(&cache, &Q::user(&other_user, TENANT, &["s"])).await,
        None
    );
}

#[tokio::test]
async fn environment_aliases_match() {
    let cache = TokenCache::new();
    let mut r = Resp::app(TENANT, &["s"], "at");
    r.environment = ALIAS.into();
    save(&cache, &r).await;
    let mut q = Q::app(TENANT, &["s"]);
    assert_eq!(find(&cache, &q).await, None);
    q.environments = strings(&[ENV, "LOGIN.WINDOWS.NET"]);
    assert_eq!(find(&cache, &q).await.as_deref(), Some("at"));
}

#[tokio::test]
async fn on_behalf_of_tokens_are_isolated_by_assertion_hash() {
    let cache = TokenCache::new();
    let home = home();
    let mut a = Resp::user(&home, TENANT, &["api://b/.default"], "obo-a");
    a.user_assertion_hash = Some("hash-a".into());
    a.realm = TENANT.into();
    let mut b = a.clone();
    b.user_assertion_hash = Some("hash-b".into());
    b.access_token = Some("obo-b".into());
    b.realm = OTHER_TENANT.into();
    save(&cache, &a).await;
    save(&cache, &b).await;
    let at_a = &json_of(&cache)["AccessToken"];
    assert!(
        at_a.as_object()
            .unwrap()
            .values()
            .any(|e| e["user_assertion_hash"] == "hash-a")
    );

    let mut q = Q::user(&home, TENANT, &["api://b/.default"]);
    q.user_assertion_hash = Some("hash-a".into());
    assert_eq!(find(&cache, &q).await.as_deref(), Some("obo-a"));
    q.user_assertion_hash = Some("hash-b".into());
    assert_eq!(find(&cache, &q).await, None);
    q.realm = OTHER_TENANT.into();
    assert_eq!(find(&cache, &q).await.as_deref(), Some("obo-b"));
    q.user_assertion_hash = Some("hash-c".into());
    assert_eq!(find(&cache, &q).await, None);
}

/// An on-behalf-of refresh token belongs to its session: found and removed by the session
/// key, never by silent's lookup, not replaced by another session's, and kept across a
/// round trip through the JSON cache.
#[tokio::test]
async fn on_behalf_of_sessions_keep_their_own_refresh_tokens() {
    let cache = TokenCache::new();
    let home = home();
    let envs = strings(&[ENV]);
    for (hash, secret) in [("job-a", "a"), ("Job-A", "b")] {
        let mut r = Resp::user(&home, TENANT, &["api://b/.default"], secret);
        r.user_assertion_hash = Some(hash.into());
        save(&cache, &r).await;
    }
    let rt_of = |cache: &TokenCache, hash: &'static str| {
        let cache = cache.clone();
        async move {
            let s = cache.find_obo_session(CLIENT, hash).await.unwrap()?;
            assert_eq!(s.home_account_id, self::home());
            assert_eq!(s.realm.as_deref(), Some(TENANT));
            s.refresh_token.map(|rt| rt.secret.secret().to_owned())
        }
    };
    assert_eq!(rt_of(&cache, "job-a").await.as_deref(), Some("rt-a"));
    assert_eq!(rt_of(&cache, "Job-A").await.as_deref(), Some("rt-b"));
    assert!(
        cache
            .find_obo_session(CLIENT, "job-c")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        cache
            .find_obo_session("other-app", "job-a")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        cache
            .find_refresh_token(&home, &envs, CLIENT, false)
            .await
            .unwrap()
            .is_none(),
        "a session's refresh token is not the user's"
    );

    let copy = TokenCache::new();
    copy.deserialize(&cache.serialize()).unwrap();
    assert_eq!(rt_of(&copy, "Job-A").await.as_deref(), Some("rt-b"));

    assert!(cache.remove_obo_session(CLIENT, "job-a").await.unwrap());
    assert!(!cache.remove_obo_session(CLIENT, "job-a").await.unwrap());
    assert_eq!(rt_of(&cache, "job-a").await, None);
    assert_eq!(rt_of(&cache, "Job-A").await.as_deref(), Some("rt-b"));
    let mut q = Q::user(&home, TENANT, &["api://b/.default"]);
    q.user_assertion_hash = Some("job-a".into());
    assert_eq!(find(&cache, &q).await, None);
    q.user_assertion_hash = Some("Job-A".into());
    assert_eq!(find(&cache, &q).await.as_deref(), Some("b"));
}

#[tokio::test]
async fn a_new_token_replaces_intersecting_ones_only() {
    let cache = TokenCache::new();
    save(&cache, &Resp::app(TENANT, &["a", "b"], "ab")).await;
    save(&cache, &Resp::app(TENANT, &["c"], "c")).await;
    save(&cache, &Resp::app(TENANT, &["B", "d"], "bd")).await;
    assert_eq!(find(&cache, &Q::app(TENANT, &["a"])).await, None);
    assert_eq!(
        find(&cache, &Q::app(TENANT, &["b"])).await.as_deref(),
        Some("bd")
    );
    assert_eq!(
        find(&cache, &Q::app(TENANT, &["c"])).await.as_deref(),
        Some("c")
    );
    assert_eq!(json_of(&cache)["AccessToken"].as_object().unwrap().len(), 2);
    // The same target again replaces in place.
    save(&cache, &Resp::app(TENANT, &["c"], "c2")).await;
    assert_eq!(
        find(&cache, &Q::app(TENANT, &["c"])).await.as_deref(),
        Some("c2")
    );
    assert_eq!(json_of(&cache)["AccessToken"].as_object().unwrap().len(), 2);
}

/// A partition of more than a few dozen tokens is also indexed by scope: every scope of a token
/// finds it, whatever its case and place (duplicates and reserved scopes in the target
/// included), among a thousand other tokens of the partition, written before the index was
/// built or after; a replaced token is found by none of its scopes.
#[tokio::test]
async fn every_scope_finds_the_token_and_replaced_ones_are_gone() {
    let cache = TokenCache::new();
    for i in 0..1000 {
        let scope = format!("api://r{i}/s");
        save(&cache, &Resp::app(TENANT, &[&scope], &format!("at{i}"))).await;
    }
    save(&cache, &Resp::app(TENANT, &["openid", "X", "y", "x"], "xy")).await;
    let found = |scopes: &'static [&'static str]| {
        let cache = cache.clone();
        async move { find(&cache, &Q::app(TENANT, scopes)).await }
    };
    for scopes in [&["x"][..], &["Y"], &["y", "X"], &["openid", "x"], &[" x "]] {
        assert_eq!(found(scopes).await.as_deref(), Some("xy"), "{scopes:?}");
    }
    assert_eq!(found(&["x", "z"]).await, None);
    assert_eq!(
        found(&["openid"]).await,
        None,
        "reserved scopes alone find nothing"
    );
    for i in [0, 3, 31, 32, 33, 567, 999] {
        let scope = format!("API://R{i}/S");
        let q = Q::app(TENANT, &[scope.as_str()]);
        assert_eq!(find(&cache, &q).await, Some(format!("at{i}")), "{scope}");
    }
    assert_eq!(found(&["api://r567/s", "api://r568/s"]).await, None);
    // A token for `Y` replaces the one for `X y`: `x` finds nothing any more.
    save(&cache, &Resp::app(TENANT, &["Y"], "y2")).await;
    assert_eq!(found(&["x"]).await, None);
    assert_eq!(found(&["y"]).await.as_deref(), Some("y2"));
    assert_eq!(find(&cache, &Q::app("other-tenant", &["y"])).await, None);
    assert_eq!(
        json_of(&cache)["AccessToken"].as_object().unwrap().len(),
        1001
    );
}

#[tokio::test]
async fn family_refresh_tokens() {
    let cache = TokenCache::new();
    let home = home();
    let envs = strings(&[ENV]);
    let mut r = Resp::user(&home, TENANT, &["s"], "a");
    r.family_id = Some("1".into());
    save(&cache, &r).await;

    let own = cache
        .find_refresh_token(&home, &envs, CLIENT, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.secret.secret(), "rt-a");
    assert_eq!(own.family_id.as_deref(), Some("1"));
    assert_eq!(own.client_id, CLIENT);

    // Another app of the family: no RT of its own, but the family's.
    assert!(
        cache
            .find_refresh_token(&home, &envs, OTHER_CLIENT, false)
            .await
            .unwrap()
            .is_none()
    );
    let frt = cache
        .find_refresh_token(&home, &envs, OTHER_CLIENT, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frt.secret.secret(), "rt-a");
    assert_eq!(frt.client_id, CLIENT);
    // A non-family RT is not a family RT.
    let other = format!("{OTHER_TENANT}.{TENANT}");
    save(&cache, &Resp::user(&other, TENANT, &["s"], "b")).await;
    assert!(
        cache
            .find_refresh_token(&other, &envs, OTHER_CLIENT, true)
            .await
            .unwrap()
            .is_none()
    );
    // A new RT of the same app replaces the old one, whatever its scopes.
    save(&cache, &Resp::user(&home, TENANT, &["t"], "a2")).await;
    let own = cache
        .find_refresh_token(&home, &[ENV.to_uppercase()], CLIENT, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.secret.secret(), "rt-a2");
    assert_eq!(
        json_of(&cache)["RefreshToken"].as_object().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn accounts_and_id_token_claims() {
    let cache = TokenCache::new();
    let envs = strings(&[ENV]);
    let home = home();
    // The same user in their home tenant and as a guest in another.
    save(&cache, &Resp::user(&home, OTHER_TENANT, &["s"], "guest")).await;
    save(&cache, &Resp::user(&home, TENANT, &["s"], "home")).await;
    let bob = format!("{OTHER_TENANT}.{OTHER_TENANT}");
    let mut r = Resp::user(&bob, OTHER_TENANT, &["s"], "bob");
    r.client_id = OTHER_CLIENT.into();
    save(&cache, &r).await;

    let accounts = cache.accounts(CLIENT, &envs).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].home_account_id, home);
    assert_eq!(accounts[0].realm, TENANT, "the home-tenant entry");
    let accounts = cache.accounts(OTHER_CLIENT, &envs).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].home_account_id, bob);
    assert!(
        cache
            .accounts(CLIENT, &strings(&["login.example"]))
            .await
            .unwrap()
            .is_empty()
    );

    let account = cache.find_account(&home, &envs).await.unwrap().unwrap();
    assert_eq!(account.realm, TENANT);
    assert_eq!(account.username, "alice@contoso.com");

    let claims = cache
        .id_token_claims(&home, &envs, CLIENT, OTHER_TENANT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claims["tid"], OTHER_TENANT);
    assert_eq!(
        cache
            .id_token_claims(&home, &envs, OTHER_CLIENT, TENANT)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn accounts_include_the_family_of_the_app() {
    let cache = TokenCache::new();
    let envs = strings(&[ENV]);
    let home = home();
    let mut r = Resp::user(&home, TENANT, &["s"], "a");
    r.family_id = Some("1".into());
    r.id_token = None;
    save(&cache, &r).await;
    // An app never seen: may be in the family (as MSAL .NET assumes).
    assert_eq!(cache.accounts(OTHER_CLIENT, &envs).await.unwrap().len(), 1);
    // An app seen outside any family does not see family tokens.
    save(
        &cache,
        &Resp {
            client_id: OTHER_CLIENT.into(),
            ..Resp::app(TENANT, &["x"], "x")
        },
    )
    .await;
    assert!(
        cache
            .accounts(OTHER_CLIENT, &envs)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn remove_account_signs_out_of_this_app() {
    let cache = TokenCache::new();
    let envs = strings(&[ENV]);
    let home = home();
    let mut r = Resp::user(&home, TENANT, &["s"], "mine");
    r.family_id = Some("1".into());
    save(&cache, &r).await;
    let mut other = Resp::user(&home, TENANT, &["s"], "theirs");
    other.client_id = OTHER_CLIENT.into();
    save(&cache, &other).await;
    save(&cache, &Resp::app(TENANT, &["s"], "app")).await;

    let account = cache.find_account(&home, &envs).await.unwrap().unwrap();
    cache.remove_account(&account, CLIENT).await.unwrap();

    assert_eq!(find(&cache, &Q::user(&home, TENANT, &["s"])).await, None);
    assert!(
        cache
            .find_refresh_token(&home, &envs, CLIENT, false)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        cache
            .id_token_claims(&home, &envs, CLIENT, TENANT)
            .await
            .unwrap()
            .is_none()
    );
    assert!(cache.find_account(&home, &envs).await.unwrap().is_none());
    assert!(cache.accounts(CLIENT, &envs).await.unwrap().is_empty());
    // Other apps' tokens and app tokens stay.
    let mut q = Q::user(&home, TENANT, &["s"]);
    q.client_id = OTHER_CLIENT.into();
    assert_eq!(find(&cache, &q).await.as_deref(), Some("theirs"));
    assert!(
        cache
            .find_refresh_token(&home, &envs, OTHER_CLIENT, false)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        find(&cache, &Q::app(TENANT, &["s"])).await.as_deref(),
        Some("app")
    );
    // Removing again changes nothing and does not fail.
    cache.remove_account(&account, CLIENT).await.unwrap();
}

#[tokio::test]
async fn account_falls_back_on_upn_email_and_sub() {
    let cache = TokenCache::new();
    let home = home();
    let mut r = Resp::user(&home, TENANT, &["s"], "a");
    r.claims = Some(json!({"sub": "the-sub", "upn": "u@contoso.com"}));
    let a = save(&cache, &r).await.unwrap();
    assert_eq!(
        (a.username.as_str(), a.local_account_id.as_str()),
        ("u@contoso.com", "the-sub")
    );
    assert_eq!(a.realm, TENANT, "no tid: the response's realm");
    r.claims = Some(json!({"oid": "o", "email": "e@contoso.com", "tid": TENANT}));
    let a = save(&cache, &r).await.unwrap();
    assert_eq!(
        (a.username.as_str(), a.local_account_id.as_str()),
        ("e@contoso.com", "o")
    );
    // Without claims the account is kept as it is.
    r.claims = None;
    r.id_token = None;
    let a = save(&cache, &r).await.unwrap();
    assert_eq!(a.username, "e@contoso.com");
    assert_eq!(json_of(&cache)["Account"].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn debug_shows_no_secret() {
    let cache = TokenCache::new();
    save(&cache, &Resp::user(&home(), TENANT, &["s"], "SECRET-AT")).await;
    let debug = format!("{cache:?}");
    assert!(debug.contains("access_tokens: 1"), "{debug}");
    assert!(!debug.contains("SECRET"), "{debug}");
    assert!(!debug.contains("eyJ"), "{debug}");
    let found = cache
        .find_access_token(&Q::user(&home(), TENANT, &["s"]).q())
        .await
        .unwrap();
    assert!(!format!("{found:?}").contains("SECRET"));
    let rt = cache
        .find_refresh_token(&home(), &strings(&[ENV]), CLIENT, false)
        .await
        .unwrap();
    assert!(!format!("{rt:?}").contains("SECRET"));
}

#[tokio::test]
async fn a_corrupt_id_token_is_a_typed_error() {
    let cache = TokenCache::new();
    let home = home();
    let mut r = Resp::user(&home, TENANT, &["s"], "a");
    r.id_token = Some("not-a-jwt".into());
    save(&cache, &r).await;
    let e = cache
        .id_token_claims(&home, &strings(&[ENV]), CLIENT, TENANT)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Client);
    assert_eq!(e.code(), codes::CACHE_CORRUPT);
}

#[test]
fn deserialize_errors_leave_the_cache_unchanged() {
    let cache = TokenCache::new();
    let good = json!({"AccessToken": {"k": {
        "credential_type": "AccessToken", "secret": "s", "home_account_id": null,
        "environment": ENV, "client_id": CLIENT, "realm": TENANT, "target": "a",
        "expires_on": "1700003600"
    }}})
    .to_string();
    cache.deserialize(&good).unwrap();
    let before = cache.serialize();
    for bad in [
        "{\"AccessToken\": {",
        "[]",
        "null",
        "{\"AccessToken\": []}",
        "{\"AccessToken\": {\"k\": 1}}",
        "{\"AccessToken\": {\"k\": {\"secret\": \"s\"}}}",
        &good.replace("\"1700003600\"", "\"soon\""),
        &good.replace("\"1700003600\"", "true"),
        &good.replace("\"secret\":\"s\"", "\"secret\":5"),
        "{\"RefreshToken\": {\"k\": {\"secret\": \"s\", \"environment\": 1}}}",
        "{\"AppMetadata\": {\"k\": {\"client_id\": 1}}}",
    ] {
        let e = cache.deserialize(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Client, "{bad}");
        assert_eq!(e.code(), codes::CACHE_CORRUPT, "{bad}");
        assert!(!e.description().contains("\"s\""), "no value in {e}");
        assert_eq!(cache.serialize(), before);
    }
    cache.deserialize("  \n").unwrap();
    assert_eq!(cache.serialize(), "{}");
}

/// An in-memory persistence that counts its calls.
#[derive(Debug, Default)]
struct Memory {
    data: Mutex<Option<String>>,
    loads: AtomicUsize,
    saves: AtomicUsize,
}

impl CachePersistence for Memory {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, Error>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let data = self.data.lock().unwrap().clone();
        Box::pin(async move { Ok(data) })
    }

    fn save(&self, data: String) -> BoxFuture<'_, Result<(), Error>> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        *self.data.lock().unwrap() = Some(data);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn a_persistence_is_loaded_before_and_saved_after_access() {
    let memory = Arc::new(Memory::default());
    let a = TokenCache::with_persistence(memory.clone());
    let b = TokenCache::with_persistence(memory.clone());
    save(&a, &Resp::app(TENANT, &["s"], "from-a")).await;
    assert_eq!(memory.saves.load(Ordering::SeqCst), 1);
    assert_eq!(memory.loads.load(Ordering::SeqCst), 1);
    // `b` sees what `a` saved: the default hooks load before every access.
    assert_eq!(
        find(&b, &Q::app(TENANT, &["s"])).await.as_deref(),
        Some("from-a")
    );
    assert_eq!(memory.loads.load(Ordering::SeqCst), 2);
    // A write that changes nothing saves nothing.
    let account = Account::new("x.y", ENV, "", "x", "y");
    b.remove_account(&account, CLIENT).await.unwrap();
    assert_eq!(memory.saves.load(Ordering::SeqCst), 1);
    // Corrupt stored data is an error on access, and nothing is saved over it.
    *memory.data.lock().unwrap() = Some("{\"AccessToken\": ".into());
    let err = b
        .find_access_token(&Q::app(TENANT, &["s"]).q())
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::CACHE_CORRUPT);
    let err = b
        .save_response(Resp::app(TENANT, &["t"], "t").w())
        .await
        .unwrap_err();
    assert_eq!(err.code(), codes::CACHE_CORRUPT);
    assert_eq!(memory.saves.load(Ordering::SeqCst), 1);
    assert_eq!(
        memory.data.lock().unwrap().as_deref(),
        Some("{\"AccessToken\": ")
    );
}

mod file {
    use super::*;

    /// The names in a directory, sorted.
    fn dir_names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn file_cache_reloads_only_when_the_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("cache.json");
        let p = Arc::new(FileCachePersistence::new(&path));
        let a = TokenCache::with_persistence(p.clone());
        // A missing file is an empty cache.
        assert_eq!(find(&a, &Q::app(TENANT, &["s"])).await, None);
        save(&a, &Resp::app(TENANT, &["s"], "from-a")).await;
        assert!(path.exists());

        // Another writer (here, another cache on the same file) changes it.
        let b = TokenCache::with_persistence(Arc::new(FileCachePersistence::new(&path)));
        assert_eq!(
            find(&b, &Q::app(TENANT, &["s"])).await.as_deref(),
            Some("from-a")
        );
        save(&b, &Resp::app(TENANT, &["t"], "from-b")).await;
        assert_eq!(
            find(&a, &Q::app(TENANT, &["t"])).await.as_deref(),
            Some("from-b")
        );

        // Unchanged: the cache is not reloaded (an in-memory change survives).
        a.deserialize("").unwrap();
        assert_eq!(find(&a, &Q::app(TENANT, &["t"])).await, None);

        // Changed on disk by hand (MSAL Python writes in place): reloaded.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("from-b", "edited-by-hand");
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            find(&a, &Q::app(TENANT, &["t"])).await.as_deref(),
            Some("edited-by-hand")
        );

        // Deleted: an empty cache.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(find(&a, &Q::app(TENANT, &["t"])).await, None);
        assert_eq!(
            dir_names(path.parent().unwrap()),
            ["cache.json.lockfile"],
            "no temporary file left; the lock file stays"
        );
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let truncated = "{\n    \"AccessToken\": {\n        \"k\": {\"secret\": ";
        std::fs::write(&path, truncated).unwrap();
        let cache = TokenCache::with_persistence(Arc::new(FileCachePersistence::new(&path)));
        let e = cache
            .find_access_token(&Q::app(TENANT, &["s"]).q())
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, codes::CACHE_CORRUPT)
        );
        let e = cache
            .save_response(Resp::app(TENANT, &["s"], "x").w())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_CORRUPT);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), truncated);
        // Not UTF-8.
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        let e = cache
            .find_access_token(&Q::app(TENANT, &["s"]).q())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_CORRUPT);
        // Empty: an empty cache, and writable again.
        std::fs::write(&path, "").unwrap();
        assert_eq!(find(&cache, &Q::app(TENANT, &["s"])).await, None);
        save(&cache, &Resp::app(TENANT, &["s"], "x")).await;
        assert_eq!(
            find(&cache, &Q::app(TENANT, &["s"])).await.as_deref(),
            Some("x")
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_private_and_replaced_atomically() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        let cache = TokenCache::with_persistence(Arc::new(FileCachePersistence::new(&path)));
        save(&cache, &Resp::app(TENANT, &["s"], "x")).await;
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_ne!(meta.ino(), inode, "a new file was renamed over the old one");
        assert_eq!(dir_names(dir.path()), ["cache.json", "cache.json.lockfile"]);
        let lock_mode = std::fs::metadata(dir.path().join("cache.json.lockfile"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(lock_mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), cache.serialize());
    }

    #[tokio::test]
    async fn an_unwritable_location_is_a_persistence_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let path = blocker.join("cache.json");
        let cache = TokenCache::with_persistence(Arc::new(FileCachePersistence::new(&path)));
        let e = cache
            .save_response(Resp::app(TENANT, &["s"], "x").w())
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, codes::CACHE_PERSISTENCE)
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}

/// Files shared between processes: locking, stale locks, corrupt files, encryption.
mod shared_file {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use super::*;

    const WRITERS: usize = 8;
    const TOKENS_PER_WRITER: usize = 100;
    /// Set in a child process: the cache file to work on.
    const CHILD_FILE: &str = "MSAL_TEST_CHILD_CACHE_FILE";
    /// Set in a child process: which writer it is.
    const CHILD_ID: &str = "MSAL_TEST_CHILD_ID";

    /// This test binary, running the one test `name` in a child process.
    fn child(name: &str, file: &std::path::Path, id: usize) -> Command {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_FILE, file)
            .env(CHILD_ID, id.to_string());
        cmd
    }

    fn writer_realm(id: usize) -> String {
        format!("{id:08x}-0000-4000-8000-00000000abcd")
    }

    fn app_cache(path: &std::path::Path) -> TokenCache {
        TokenCache::with_persistence(Arc::new(FileCachePersistence::new(path)))
    }

    /// One writer: 100 distinct app tokens (its own tenant, one scope each) through a
    /// `TokenCache` on the file, each write its own read-modify-write. In a child process of
    /// `processes_sharing_a_file_lose_no_update`, on the parent's file; run alone, on a file
    /// of its own. Either way its 100 tokens are all there afterwards.
    #[tokio::test]
    async fn writer_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var_os(CHILD_FILE)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| dir.path().join("cache.json"));
        let id: usize = std::env::var(CHILD_ID)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let cache = app_cache(&path);
        let realm = writer_realm(id);
        for j in 0..TOKENS_PER_WRITER {
            let scope = format!("api://writer/{j}");
            save(
                &cache,
                &Resp::app(&realm, &[&scope], &format!("at-{id}-{j}")),
            )
            .await;
        }
        let fresh = app_cache(&path);
        for j in 0..TOKENS_PER_WRITER {
            let scope = format!("api://writer/{j}");
            assert_eq!(
                find(&fresh, &Q::app(&realm, &[&scope])).await,
                Some(format!("at-{id}-{j}"))
            );
        }
    }

    #[tokio::test]
    async fn processes_sharing_a_file_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared").join("cache.json");
        let children: Vec<_> = (0..WRITERS)
            .map(|id| {
                child("cache::tests::shared_file::writer_process", &path, id)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (id, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "writer {id} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let cache = app_cache(&path);
        let mut found = 0;
        for id in 0..WRITERS {
            let realm = writer_realm(id);
            for j in 0..TOKENS_PER_WRITER {
                let scope = format!("api://writer/{j}");
                assert_eq!(
                    find(&cache, &Q::app(&realm, &[&scope])).await,
                    Some(format!("at-{id}-{j}")),
                    "writer {id}, token {j}"
                );
                found += 1;
            }
        }
        assert_eq!(found, WRITERS * TOKENS_PER_WRITER);
        assert_eq!(
            json_of(&cache)["AccessToken"].as_object().unwrap().len(),
            800
        );
    }

    /// Takes the file's lock. In a child process of `a_lock_dies_with_its_process`: says
    /// `MSAL-TEST-LOCKED` and holds it until killed (at most two minutes). Run alone: checks that a
    /// second lock on the file waits, times out with a typed error, and succeeds once the
    /// first is released.
    #[tokio::test]
    async fn lock_holder_process() {
        let dir = tempfile::tempdir().unwrap();
        let child_file = std::env::var_os(CHILD_FILE).map(std::path::PathBuf::from);
        let path = child_file
            .clone()
            .unwrap_or_else(|| dir.path().join("cache.json"));
        let p = FileCachePersistence::new(&path);
        let guard = p.lock().await.unwrap();
        if child_file.is_some() {
            // libtest may print the test's name on the same line first.
            println!("\nMSAL-TEST-LOCKED");
            tokio::time::sleep(Duration::from_secs(120)).await;
            return;
        }
        let other = FileCachePersistence::new(&path).lock_timeout(Duration::from_millis(50));
        let e = other.lock().await.unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, codes::CACHE_PERSISTENCE)
        );
        assert!(
            e.description()
                .contains(&format!("held by process {}", std::process::id())),
            "{e}"
        );
        drop(guard);
        drop(other.lock().await.unwrap());
    }

    #[tokio::test]
    async fn a_lock_dies_with_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let mut holder = child("cache::tests::shared_file::lock_holder_process", &path, 0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = holder.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        assert!(
            lines.any(|l| l.is_ok_and(|l| l.contains("MSAL-TEST-LOCKED"))),
            "the child took the lock"
        );

        // Held by a live process: waiting is bounded, then a typed error naming the holder.
        let impatient = FileCachePersistence::new(&path).lock_timeout(Duration::from_millis(100));
        let e = impatient.lock().await.unwrap_err();
        assert_eq!(e.code(), codes::CACHE_PERSISTENCE);
        assert!(
            e.description()
                .contains(&format!("held by process {}", holder.id())),
            "{e}"
        );
        let cache = TokenCache::with_persistence(Arc::new(
            FileCachePersistence::new(&path).lock_timeout(Duration::from_millis(100)),
        ));
        let e = cache
            .save_response(Resp::app(TENANT, &["s"], "x").w())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_PERSISTENCE);

        // The holder dies without unlocking (SIGKILL): the OS releases its lock, and the lock
        // file it leaves behind blocks nobody.
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(p_lock_file(&path).exists());
        let patient = FileCachePersistence::new(&path).lock_timeout(Duration::from_secs(30));
        drop(patient.lock().await.unwrap());
        save(&cache, &Resp::app(TENANT, &["s"], "after")).await;
        assert_eq!(
            find(&app_cache(&path), &Q::app(TENANT, &["s"]))
                .await
                .as_deref(),
            Some("after")
        );
    }

    fn p_lock_file(path: &std::path::Path) -> std::path::PathBuf {
        FileCachePersistence::new(path).lock_path().to_owned()
    }

    /// The files `<name>.corrupt-*` in the directory.
    fn corrupt_copies(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("cache.json.corrupt-")
            })
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_corrupt_file_is_moved_aside_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let truncated = "{\n    \"AccessToken\": {\n        \"k\": {\"secret\": ";
        std::fs::write(&path, truncated).unwrap();
        let p = Arc::new(FileCachePersistence::new(&path).recover_corrupt(true));
        let cache = TokenCache::with_persistence(p.clone());

        // A read finds an empty cache; the corrupt file is kept next to it.
        assert_eq!(find(&cache, &Q::app(TENANT, &["s"])).await, None);
        let copies = corrupt_copies(dir.path());
        assert_eq!(copies.len(), 1, "{copies:?}");
        assert_eq!(std::fs::read_to_string(&copies[0]).unwrap(), truncated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&copies[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!path.exists());
        save(&cache, &Resp::app(TENANT, &["s"], "fresh")).await;
        assert_eq!(
            find(&app_cache(&path), &Q::app(TENANT, &["s"]))
                .await
                .as_deref(),
            Some("fresh")
        );

        // A write over a corrupt file (not UTF-8 this time): moved aside, then written.
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        save(&cache, &Resp::app(TENANT, &["t"], "t")).await;
        let copies = corrupt_copies(dir.path());
        assert_eq!(copies.len(), 2, "{copies:?}");
        assert!(
            copies
                .iter()
                .any(|c| std::fs::read(c).unwrap() == [0xff, 0xfe, 0x00])
        );
        assert_eq!(
            find(&cache, &Q::app(TENANT, &["t"])).await.as_deref(),
            Some("t")
        );
        assert_eq!(find(&cache, &Q::app(TENANT, &["s"])).await, None);

        // Not asked: the error, and the file stays.
        std::fs::write(&path, truncated).unwrap();
        let strict = app_cache(&path);
        let e = strict
            .find_access_token(&Q::app(TENANT, &["s"]).q())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_CORRUPT);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), truncated);
        assert_eq!(corrupt_copies(dir.path()).len(), 2);
    }

    /// `cache` cannot open the encrypted file at `path` (`cache_corrupt`) and leaves it as it was.
    async fn assert_unreadable_and_kept(cache: &TokenCache, path: &std::path::Path) {
        let before = std::fs::read(path).unwrap();
        let e = cache
            .find_access_token(&Q::app(TENANT, &["s"]).q())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_CORRUPT, "{e}");
        assert_eq!(std::fs::read(path).unwrap(), before);
    }

    fn encrypted(path: &std::path::Path, store: &MemoryKeyStore) -> FileCachePersistence {
        FileCachePersistence::new(path).encrypted(Arc::new(store.clone()), EncryptionFallback::Fail)
    }

    #[tokio::test]
    async fn an_encrypted_file_needs_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let keys = MemoryKeyStore::new();
        let cache = TokenCache::with_persistence(Arc::new(encrypted(&path, &keys)));
        save(&cache, &Resp::app(TENANT, &["s"], "secret-token-value")).await;
        let key = keys.key().expect("a key was generated and stored");

        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(crypto::MAGIC));
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("secret-token-value") && !text.contains(CLIENT));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // Another process with the same key store reads it.
        let same_key = MemoryKeyStore::with_key(key.clone());
        let reader = TokenCache::with_persistence(Arc::new(encrypted(&path, &same_key)));
        assert_eq!(
            find(&reader, &Q::app(TENANT, &["s"])).await.as_deref(),
            Some("secret-token-value")
        );
        // The key is reused, not replaced, on later saves.
        save(&reader, &Resp::app(TENANT, &["t"], "t")).await;
        assert_eq!(same_key.key().unwrap().as_bytes(), key.as_bytes());
        assert_eq!(
            find(&cache, &Q::app(TENANT, &["t"])).await.as_deref(),
            Some("t")
        );

        // Another key, or none: cache_corrupt, the file untouched.
        let before = std::fs::read(&path).unwrap();
        for store in [
            MemoryKeyStore::with_key(EncryptionKey::generate()),
            MemoryKeyStore::new(),
        ] {
            let other = TokenCache::with_persistence(Arc::new(encrypted(&path, &store)));
            assert_unreadable_and_kept(&other, &path).await;
        }
        // Edited bytes: cache_corrupt too.
        let mut edited = before.clone();
        let mid = edited.len() / 2;
        edited[mid] ^= 0x20;
        std::fs::write(&path, &edited).unwrap();
        let e = reader
            .find_access_token(&Q::app(TENANT, &["s"]).q())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_CORRUPT);
        // With recovery: moved aside, and a new cache under the store's key.
        let recovering = TokenCache::with_persistence(Arc::new(
            encrypted(&path, &same_key).recover_corrupt(true),
        ));
        assert_eq!(find(&recovering, &Q::app(TENANT, &["s"])).await, None);
        assert_eq!(corrupt_copies(dir.path()).len(), 1);
        save(&recovering, &Resp::app(TENANT, &["u"], "u")).await;
        assert!(std::fs::read(&path).unwrap().starts_with(crypto::MAGIC));
    }

    #[tokio::test]
    async fn a_plain_file_is_encrypted_on_the_next_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        save(&app_cache(&path), &Resp::app(TENANT, &["s"], "plain")).await;
        let keys = MemoryKeyStore::new();
        let cache = TokenCache::with_persistence(Arc::new(encrypted(&path, &keys)));
        assert_eq!(
            find(&cache, &Q::app(TENANT, &["s"])).await.as_deref(),
            Some("plain")
        );
        assert!(keys.key().is_none(), "reading plain text makes no key");
        save(&cache, &Resp::app(TENANT, &["t"], "t")).await;
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(crypto::MAGIC));
        assert!(!String::from_utf8_lossy(&bytes).contains("plain"));
        assert_eq!(
            find(&cache, &Q::app(TENANT, &["s"])).await.as_deref(),
            Some("plain")
        );
    }

    /// What a missing secret store does: fail, or plain text, as configured.
    async fn check_fallback(store: Arc<dyn KeyStore>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");

        let failing = TokenCache::with_persistence(Arc::new(
            FileCachePersistence::new(&path).encrypted(store.clone(), EncryptionFallback::Fail),
        ));
        let e = failing
            .save_response(Resp::app(TENANT, &["s"], "x").w())
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, codes::CACHE_PERSISTENCE)
        );
        assert!(e.description().contains("PlainText"), "{e}");
        assert!(!path.exists(), "nothing written");

        let plain = TokenCache::with_persistence(Arc::new(
            FileCachePersistence::new(&path).encrypted(store, EncryptionFallback::PlainText),
        ));
        save(&plain, &Resp::app(TENANT, &["s"], "in-plain-text")).await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("in-plain-text"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            find(&app_cache(&path), &Q::app(TENANT, &["s"]))
                .await
                .as_deref(),
            Some("in-plain-text")
        );
    }

    #[tokio::test]
    async fn without_a_secret_store_the_fallback_decides() {
        check_fallback(Arc::new(MemoryKeyStore::unavailable())).await;
    }

    /// The Secret Service of a real `gnome-keyring-daemon` on a private D-Bus session, in a
    /// child process (the `keyring` crate picks its store once per process, from the
    /// session bus it finds): the key of an encrypted cache file is created in, kept in and
    /// read back from the OS secret store. `scripts/test` installs gnome-keyring.
    ///
    /// The same test is the child: there, with the cache file's path in its environment, it
    /// runs the checks.
    #[cfg(all(feature = "keyring", target_os = "linux"))]
    #[test]
    fn the_key_lives_in_a_real_secret_service() {
        if std::env::var_os(CHILD_FILE).is_some() {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(secret_service_checks());
            return;
        }
        for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .unwrap()
                    .success(),
                "`{tool}` is missing: scripts/test installs it (apt-get install dbus-daemon gnome-keyring)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let runtime = dir.path().join("run");
        for d in [&home, &runtime] {
            std::fs::create_dir_all(d).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
            }
        }
        let path = dir.path().join("cache.bin");
        let exe = std::env::current_exe().unwrap();
        // The daemon unlocks (and creates) the login keyring with this password, serves
        // org.freedesktop.secrets on the session bus, and ends with the bus.
        let script = r#"printf %s "$MSAL_TEST_KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@""#;
        let out = Command::new("dbus-run-session")
            .args(["--", "sh", "-c", script, "sh"])
            .arg(&exe)
            .args([
                "cache::tests::shared_file::the_key_lives_in_a_real_secret_service",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("MSAL_TEST_KEYRING_PASSWORD", "test-keyring-password")
            .env(CHILD_FILE, &path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("SECRET-SERVICE-CHECKED"),
            "the child failed:\n{stdout}\n{stderr}"
        );
        // The daemon kept its keyring under the child's home: the key is there, encrypted.
        let keyrings = home.join(".local/share/keyrings");
        assert!(
            std::fs::read_dir(&keyrings).unwrap().count() > 0,
            "gnome-keyring wrote no keyring"
        );
    }

    /// What [`the_key_lives_in_a_real_secret_service`] checks in its child process.
    #[cfg(all(feature = "keyring", target_os = "linux"))]
    async fn secret_service_checks() {
        let path = std::path::PathBuf::from(std::env::var_os(CHILD_FILE).expect("a child only"));
        let store = KeyringKeyStore::new("msal-rs-tests", "secret-service-child");
        match store.load_key() {
            Ok(None) => {}
            Ok(Some(_)) => panic!("a fresh keyring already has the key"),
            Err(e) => panic!("the Secret Service is not usable: {e:?}"),
        }
        let in_store = |store: &KeyringKeyStore| {
            TokenCache::with_persistence(Arc::new(
                FileCachePersistence::new(&path)
                    .encrypted(Arc::new(store.clone()), EncryptionFallback::Fail),
            ))
        };
        save(
            &in_store(&store),
            &Resp::app(TENANT, &["s"], "secret-token-value"),
        )
        .await;

        // The key was generated into the Secret Service, and the file is sealed with it.
        let key = store
            .load_key()
            .unwrap()
            .expect("the key is in the Secret Service");
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(crypto::MAGIC));
        assert!(!String::from_utf8_lossy(&bytes).contains("secret-token-value"));
        assert!(
            !bytes.windows(32).any(|w| w == key.as_bytes()),
            "the key is not in the file"
        );

        // A new cache on the same entry reads the token, and a later save keeps the key.
        let reader = in_store(&KeyringKeyStore::new(
            "msal-rs-tests",
            "secret-service-child",
        ));
        assert_eq!(
            find(&reader, &Q::app(TENANT, &["s"])).await.as_deref(),
            Some("secret-token-value")
        );
        save(&reader, &Resp::app(TENANT, &["t"], "t")).await;
        assert_eq!(
            store.load_key().unwrap().unwrap().as_bytes(),
            key.as_bytes()
        );

        // Another entry of the store has no key: the file is not readable with it, and stays.
        let other = in_store(&KeyringKeyStore::new("msal-rs-tests", "another-app"));
        assert_unreadable_and_kept(&other, &path).await;
        println!("SECRET-SERVICE-CHECKED");
    }

    /// The OS secret store through `keyring`: where there is none (headless Linux, as in CI),
    /// the fallback decides; where there is one, the key round-trips through it.
    #[cfg(feature = "keyring")]
    #[tokio::test]
    async fn the_os_secret_store_or_the_fallback() {
        let account = format!("test-{}", uuid::Uuid::new_v4());
        let store = KeyringKeyStore::new("msal-rs-tests", &account);
        match store.load_key() {
            Err(e) if e.kind() == KeyStoreErrorKind::Unavailable => {
                check_fallback(Arc::new(store)).await;
            }
            Err(e) => panic!("the OS secret store failed: {e}"),
            Ok(existing) => {
                assert!(existing.is_none(), "a fresh entry has no key");
                let key = EncryptionKey::generate();
                store.store_key(&key).unwrap();
                assert_eq!(
                    store.load_key().unwrap().unwrap().as_bytes(),
                    key.as_bytes()
                );
                let _ = keyring::Entry::new("msal-rs-tests", &account)
                    .and_then(|e| e.delete_credential());
            }
        }
    }
}

#[cfg(feature = "redis")]
#[path = "../../tests/support/redis_server.rs"]
mod redis_server;

/// The two-level cache against a real `redis-server`.
#[cfg(feature = "redis")]
mod distributed_redis {
    use std::time::Duration;

    use super::redis_server::RedisServer;
    use super::*;

    /// A `RedisCache` on the server, with a prefix of its own so tests do not share keys.
    fn l2(server: &RedisServer, prefix: &str) -> Arc<RedisCache> {
        Arc::new(RedisCache::new(&server.url()).unwrap().key_prefix(prefix))
    }

    /// A two-level cache. Its timeout is long: these tests are not about slowness, and the
    /// machine may be busy (the timeout has a test of its own).
    fn two_level(l2: Arc<RedisCache>, strict: bool) -> TokenCache {
        TokenCache::with_distributed(
            l2,
            DistributedCacheOptions::new()
                .strict(strict)
                .timeout(Duration::from_secs(10)),
        )
    }

    fn now() -> i64 {
        crate::clock::now_unix()
    }

    fn app_now(realm: &str, scopes: &[&str], secret: &str) -> Resp {
        Resp {
            now: now(),
            ..Resp::app(realm, scopes, secret)
        }
    }

    fn q_app_now(realm: &str, scopes: &[&str]) -> Q {
        Q {
            now: now(),
            ..Q::app(realm, scopes)
        }
    }

    async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
        redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn ttl(server: &RedisServer, key: &str) -> i64 {
        redis::cmd("TTL")
            .arg(key)
            .query_async(&mut raw(server).await)
            .await
            .unwrap()
    }

    async fn fields(server: &RedisServer, key: &str) -> Vec<String> {
        let mut names: Vec<String> = redis::cmd("HKEYS")
            .arg(key)
            .query_async(&mut raw(server).await)
            .await
            .unwrap();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_token_written_on_one_machine_is_found_on_another() {
        let server = RedisServer::start();
        let (l2a, l2b) = (l2(&server, "t1"), l2(&server, "t1"));
        let a = two_level(l2a.clone(), true);
        let b = two_level(l2b, true);
        save(&a, &app_now(TENANT, &["api://x/.default"], "from-a")).await;

        let key = l2a.key_of(&CachePartition::app(CLIENT, TENANT));
        assert_eq!(key, format!("t1:app:{CLIENT}:{TENANT}"));
        assert_eq!(
            fields(&server, &key).await,
            [
                format!("AccessToken|-{ENV}-accesstoken-{CLIENT}-{TENANT}-api://x/.default"),
                format!("AppMetadata|appmetadata-{ENV}-{CLIENT}"),
            ]
        );
        // The partition lives as long as its token: expires_in 3600 s.
        let t = ttl(&server, &key).await;
        assert!((3000..=3600).contains(&t), "ttl {t}");

        // `b` has nothing in memory: it reads the partition from Redis.
        assert_eq!(
            find(&b, &q_app_now(TENANT, &["api://x/.default"]))
                .await
                .as_deref(),
            Some("from-a")
        );
        // Other partitions are not there.
        assert_eq!(
            find(&b, &q_app_now(OTHER_TENANT, &["api://x/.default"])).await,
            None
        );

        // Writers of one partition merge: `b`'s token joins `a`'s instead of replacing it.
        save(&b, &app_now(TENANT, &["api://y/.default"], "from-b")).await;
        let c = two_level(l2(&server, "t1"), true);
        assert_eq!(
            find(&c, &q_app_now(TENANT, &["api://x/.default"]))
                .await
                .as_deref(),
            Some("from-a")
        );
        assert_eq!(
            find(&c, &q_app_now(TENANT, &["api://y/.default"]))
                .await
                .as_deref(),
            Some("from-b")
        );
        // A token replacing another (intersecting scopes) removes it from Redis too.
        save(&a, &app_now(TENANT, &["api://x/.default"], "from-a-2")).await;
        let d = two_level(l2(&server, "t1"), true);
        assert_eq!(
            find(&d, &q_app_now(TENANT, &["api://x/.default"]))
                .await
                .as_deref(),
            Some("from-a-2")
        );
    }

    #[tokio::test]
    async fn user_and_on_behalf_of_partitions() {
        let server = RedisServer::start();
        let a = two_level(l2(&server, "t2"), true);
        let home = home();
        let mut user = Resp::user(&home, TENANT, &["User.Read"], "user-at");
        user.now = now();
        save(&a, &user).await;
        let key = l2(&server, "t2").key_of(&CachePartition::user(&home));
        assert_eq!(key, format!("t2:user:{home}"));
        let t = ttl(&server, &key).await;
        assert!(
            t > 80 * 24 * 3600,
            "refresh tokens keep the partition 90 days: {t}"
        );

        let envs = strings(&[ENV]);
        let b = two_level(l2(&server, "t2"), true);
        let rt = b
            .find_refresh_token(&home, &envs, CLIENT, false)
            .await
            .unwrap()
            .expect("the refresh token, from Redis");
        assert_eq!(rt.secret.secret(), "rt-user-at");
        let c = two_level(l2(&server, "t2"), true);
        assert_eq!(
            c.find_account(&home, &envs)
                .await
                .unwrap()
                .unwrap()
                .username,
            "alice@contoso.com"
        );
        let d = two_level(l2(&server, "t2"), true);
        let claims = d
            .id_token_claims(&home, &envs, CLIENT, TENANT)
            .await
            .unwrap();
        assert_eq!(claims.unwrap()["name"], "Alice");
        let e = two_level(l2(&server, "t2"), true);
        let mut q = Q::user(&home, TENANT, &["User.Read"]);
        q.now = now();
        assert_eq!(find(&e, &q).await.as_deref(), Some("user-at"));

        // Signing out on one machine signs out everywhere.
        let account = e.find_account(&home, &envs).await.unwrap().unwrap();
        let f = two_level(l2(&server, "t2"), true);
        f.remove_account(&account, CLIENT).await.unwrap();
        let g = two_level(l2(&server, "t2"), true);
        assert_eq!(find(&g, &q).await, None);
        assert!(
            g.find_refresh_token(&home, &envs, CLIENT, false)
                .await
                .unwrap()
                .is_none()
        );

        // On-behalf-of tokens, by the hash of the incoming assertion.
        let mut obo = app_now(TENANT, &["api://downstream/.default"], "obo-at");
        obo.home = Some(home.clone());
        obo.user_assertion_hash = Some("hash-1".into());
        save(&a, &obo).await;
        let obo_key = l2(&server, "t2").key_of(&CachePartition::on_behalf_of("hash-1"));
        let names = fields(&server, &obo_key).await;
        assert_eq!(
            names.len(),
            1,
            "the access token only (the app metadata is unchanged)"
        );
        assert!(names[0].starts_with("AccessToken|"), "{names:?}");
        // A session's refresh token goes to the session's partition too: another machine
        // carries on the long-running process.
        let mut session = Resp::user(&home, TENANT, &["api://downstream/.default"], "lr");
        session.now = now();
        session.user_assertion_hash = Some("job-9".into());
        save(&a, &session).await;
        let session_key = l2(&server, "t2").key_of(&CachePartition::on_behalf_of("job-9"));
        let mut names = fields(&server, &session_key).await;
        names.sort();
        assert!(names[0].starts_with("AccessToken|"), "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("RefreshToken|")),
            "{names:?}"
        );
        let other = two_level(l2(&server, "t2"), true);
        let found = other
            .find_obo_session(CLIENT, "job-9")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.refresh_token.unwrap().secret.secret(), "rt-lr");
        let stopper = two_level(l2(&server, "t2"), true);
        assert!(stopper.remove_obo_session(CLIENT, "job-9").await.unwrap());
        let later = two_level(l2(&server, "t2"), true);
        assert!(
            later
                .find_obo_session(CLIENT, "job-9")
                .await
                .unwrap()
                .is_none()
        );
        let h = two_level(l2(&server, "t2"), true);
        let mut q = Q::user(&home, TENANT, &["api://downstream/.default"]);
        q.now = now();
        q.user_assertion_hash = Some("hash-1".into());
        assert_eq!(find(&h, &q).await.as_deref(), Some("obo-at"));
        q.user_assertion_hash = Some("hash-2".into());
        assert_eq!(find(&h, &q).await, None);
    }

    #[tokio::test]
    async fn redis_down_or_slow_never_fails_a_lenient_cache() {
        let mut server = RedisServer::start();
        let lenient = two_level(l2(&server, "t3"), false);
        let strict = two_level(l2(&server, "t3"), true);
        save(&lenient, &app_now(TENANT, &["s1"], "at-1")).await;
        assert_eq!(
            find(&strict, &q_app_now(TENANT, &["s1"])).await.as_deref(),
            Some("at-1")
        );

        server.stop();
        // Lenient: writes and reads go on in memory.
        save(&lenient, &app_now(TENANT, &["s2"], "at-2")).await;
        assert_eq!(
            find(&lenient, &q_app_now(TENANT, &["s2"])).await.as_deref(),
            Some("at-2")
        );
        let fresh = two_level(l2(&server, "t3"), false);
        assert_eq!(find(&fresh, &q_app_now(TENANT, &["s1"])).await, None);
        // Strict: a typed error. (An L1 hit needs no Redis.)
        assert_eq!(
            find(&strict, &q_app_now(TENANT, &["s1"])).await.as_deref(),
            Some("at-1")
        );
        let e = strict
            .find_access_token(&q_app_now(TENANT, &["s3"]).q())
            .await
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (ErrorKind::Client, codes::CACHE_PERSISTENCE)
        );
        let e = strict
            .save_response(app_now(TENANT, &["s3"], "x").w())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_PERSISTENCE);

        // Back (empty: it keeps nothing on disk): writes reach Redis again.
        server.restart();
        let key = l2(&server, "t3").key_of(&CachePartition::app(CLIENT, TENANT));
        let mut reached = false;
        for i in 0..100 {
            save(&lenient, &app_now(TENANT, &[&format!("s-{i}")], "again")).await;
            if !fields(&server, &key).await.is_empty() {
                reached = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(reached, "a write reached Redis after its restart");
        let other = two_level(l2(&server, "t3"), true);
        let names = fields(&server, &key).await;
        let scope = names
            .iter()
            .find_map(|n| n.rsplit_once('-').filter(|_| n.starts_with("AccessToken|")))
            .map(|(_, i)| format!("s-{i}"))
            .unwrap();
        assert_eq!(
            find(&other, &q_app_now(TENANT, &[&scope])).await.as_deref(),
            Some("again")
        );
    }

    #[tokio::test]
    async fn a_slow_redis_times_out() {
        let server = RedisServer::start();
        let l2 = l2(&server, "t4");
        let lenient = TokenCache::with_distributed(
            l2.clone(),
            DistributedCacheOptions::new().timeout(Duration::from_millis(100)),
        );
        let strict = TokenCache::with_distributed(
            l2,
            DistributedCacheOptions::new()
                .timeout(Duration::from_millis(100))
                .strict(true),
        );
        // Connect first, so the pause below holds the commands, not the connection.
        assert_eq!(find(&strict, &q_app_now(TENANT, &["s"])).await, None);
        // Redis holds every client's commands for 3 s: slower than the timeout.
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(3000)
            .query_async(&mut raw(&server).await)
            .await
            .unwrap();
        let e = strict
            .find_access_token(&q_app_now(TENANT, &["s"]).q())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_PERSISTENCE);
        assert!(e.description().contains("within 100 ms"), "{e}");
        assert_eq!(find(&lenient, &q_app_now(TENANT, &["s"])).await, None);
        save(&lenient, &app_now(TENANT, &["s"], "in-memory")).await;
        assert_eq!(
            find(&lenient, &q_app_now(TENANT, &["s"])).await.as_deref(),
            Some("in-memory")
        );
    }

    #[tokio::test]
    async fn a_corrupt_entry_in_redis() {
        let server = RedisServer::start();
        let writer = two_level(l2(&server, "t5"), true);
        save(&writer, &app_now(TENANT, &["s"], "good")).await;
        let key = l2(&server, "t5").key_of(&CachePartition::app(CLIENT, TENANT));
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("AccessToken|000-first")
            .arg("{not json")
            .arg("AccessToken|zzz-last")
            .arg("[]")
            .query_async(&mut raw(&server).await)
            .await
            .unwrap();
        // Lenient: the good entries are used, the corrupt one skipped.
        let lenient = two_level(l2(&server, "t5"), false);
        assert_eq!(
            find(&lenient, &q_app_now(TENANT, &["s"])).await.as_deref(),
            Some("good")
        );
        let strict = two_level(l2(&server, "t5"), true);
        let e = strict
            .find_access_token(&q_app_now(TENANT, &["s"]).q())
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::CACHE_CORRUPT);
    }
}

#[test]
fn bench_support_hits() {
    let tokens = crate::bench_support::AppTokens::new(3, 4);
    assert_eq!(tokens.len(), 12);
    assert!((0..12).all(|i| tokens.hit(i)));
}

/// A cache in MSAL Python's format, written by hand following `token_cache.py`.
fn msal_python_cache() -> String {
    let home = home();
    json!({
        "AccessToken": {
            format!("{home}-{ENV}-accesstoken-{CLIENT}-{TENANT}-email openid profile user.read"): {
                "credential_type": "AccessToken", "secret": "py-at", "home_account_id": home,
                "environment": ENV, "client_id": CLIENT,
                "target": "email openid profile User.Read", "realm": TENANT,
                "token_type": "Bearer", "cached_at": "1700000000",
                "expires_on": "1700003600", "extended_expires_on": "1700003600",
                "key_id": "unknown-to-us"
            },
            format!("-{ENV}-accesstoken-{CLIENT}-{TENANT}-s"): {
                "credential_type": "AccessToken", "secret": "py-app", "home_account_id": null,
                "environment": ENV, "client_id": CLIENT, "target": "s", "realm": TENANT,
                "token_type": "Bearer", "cached_at": "1700000000",
                "expires_on": "1700003600", "extended_expires_on": "1700003600"
            }
        },
        "Account": {
            format!("{home}-{ENV}-{TENANT}"): {
                "home_account_id": home, "environment": ENV, "realm": TENANT,
                "local_account_id": UID, "username": "py@contoso.com",
                "authority_type": "MSSTS", "account_source": "device_code"
            }
        },
        "IdToken": {
            format!("{home}-{ENV}-idtoken-{CLIENT}-{TENANT}-"): {
                "credential_type": "IdToken", "secret": jwt(&json!({"tid": TENANT})),
                "home_account_id": home, "environment": ENV, "realm": TENANT,
                "client_id": CLIENT
            }
        },
        "RefreshToken": {
            format!("{home}-{ENV}-refreshtoken-{CLIENT}--email openid profile user.read"): {
                "credential_type": "RefreshToken", "secret": "py-rt", "home_account_id": home,
                "environment": ENV, "client_id": CLIENT,
                "target": "email openid profile User.Read",
                "last_modification_time": "1700000000", "family_id": "1"
            }
        },
        "AppMetadata": {
            format!("appmetadata-{ENV}-{CLIENT}"): {
                "client_id": CLIENT, "environment": ENV, "family_id": "1"
            }
        },
        "Future": {"x": {"y": 1}}
    })
    .to_string()
}

#[tokio::test]
async fn a_cache_written_by_msal_python_is_usable() {
    let cache = TokenCache::new();
    cache.deserialize(&msal_python_cache()).unwrap();
    let home = home();
    let envs = strings(&[ALIAS, ENV]);
    let mut q = Q::user(&home, TENANT, &["User.Read", "offline_access"]);
    q.environments = envs.clone();
    assert_eq!(find(&cache, &q).await.as_deref(), Some("py-at"));
    assert_eq!(
        find(&cache, &Q::app(TENANT, &["S"])).await.as_deref(),
        Some("py-app")
    );
    let rt = cache
        .find_refresh_token(&home, &envs, OTHER_CLIENT, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rt.secret.secret(), "py-rt");
    let accounts = cache.accounts(CLIENT, &envs).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].username, "py@contoso.com");
    assert_eq!(accounts[0].name, None);
    let claims = cache
        .id_token_claims(&home, &envs, CLIENT, TENANT)
        .await
        .unwrap();
    assert_eq!(claims, Some(json!({"tid": TENANT})));

    // A new token for the app leaves everything else as MSAL Python wrote it.
    save(&cache, &Resp::app(TENANT, &["other"], "ours")).await;
    let out = json_of(&cache);
    let input: Value = serde_json::from_str(&msal_python_cache()).unwrap();
    assert_eq!(out["Future"], input["Future"]);
    assert_eq!(out["Account"], input["Account"]);
    assert_eq!(out["RefreshToken"], input["RefreshToken"]);
    let key = format!("{home}-{ENV}-accesstoken-{CLIENT}-{TENANT}-email openid profile user.read");
    assert_eq!(out["AccessToken"][&key], input["AccessToken"][&key]);
    assert_eq!(out["AccessToken"].as_object().unwrap().len(), 3);
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let cache = TokenCache::new();
    let q = Q::app(TENANT, &["s"]);
    let query = q.q();
    send(&cache.find_access_token(&query));
    let r = Resp::app(TENANT, &["s"], "x");
    send(&cache.save_response(r.w()));
    send(&cache.find_refresh_token("h", &[], CLIENT, true));
    send(&cache.find_account("h", &[]));
    send(&cache.id_token_claims("h", &[], CLIENT, TENANT));
    send(&cache.accounts(CLIENT, &[]));
    let account = Account::new("h", ENV, "", "", "");
    send(&cache.remove_account(&account, CLIENT));
}

/// Seeds partition hashes so that every partition (and scope) hashes to 7.
type Colliding = std::hash::BuildHasherDefault<Seven>;

/// A hasher that always finishes with 7.
#[derive(Default)]
struct Seven;

impl std::hash::Hasher for Seven {
    fn finish(&self) -> u64 {
        7
    }

    fn write(&mut self, _: &[u8]) {}
}

#[test]
fn partitions_sharing_a_hash_stay_apart() {
    let colliding = key::PartitionHasher::with_state(Colliding::default());
    let mut store = index::Store::from_json("", colliding).unwrap();
    let home = home();
    for r in [
        Resp::app(TENANT, &["s"], "app-t1"),
        Resp::app(OTHER_TENANT, &["s"], "app-t2"),
        Resp::user(&home, TENANT, &["s"], "user-t1"),
        Resp {
            client_id: OTHER_CLIENT.into(),
            ..Resp::app(TENANT, &["s"], "other-app")
        },
    ] {
        store.save_response(&r.w()).unwrap();
    }
    let secret = |store: &index::Store<Colliding>, q: &Q| {
        store
            .find_access_token(&q.q())
            .map(|e| secrecy::ExposeSecret::expose_secret(&e.parts.secret).to_owned())
    };
    assert_eq!(
        store.counts()[0],
        4,
        "no token replaced another partition's"
    );
    assert_eq!(
        secret(&store, &Q::app(TENANT, &["s"])).as_deref(),
        Some("app-t1")
    );
    assert_eq!(
        secret(&store, &Q::app(OTHER_TENANT, &["s"])).as_deref(),
        Some("app-t2")
    );
    assert_eq!(
        secret(&store, &Q::user(&home, TENANT, &["s"])).as_deref(),
        Some("user-t1")
    );
    let mut other = Q::app(TENANT, &["s"]);
    other.client_id = OTHER_CLIENT.into();
    assert_eq!(secret(&store, &other).as_deref(), Some("other-app"));
    assert_eq!(secret(&store, &Q::app("t3", &["s"])), None);

    let account = Account::new(&home, ENV, "", UID, TENANT);
    assert!(store.remove_account(&account, CLIENT));
    assert_eq!(secret(&store, &Q::user(&home, TENANT, &["s"])), None);
    assert_eq!(
        secret(&store, &Q::app(TENANT, &["s"])).as_deref(),
        Some("app-t1")
    );
    assert_eq!(store.counts()[0], 3);
}

#[test]
fn access_tokens_keep_their_json_object_only_when_it_says_more_than_the_entry() {
    let hasher = key::PartitionHasher::with_state(foldhash::fast::RandomState::default());
    let mut store = index::Store::from_json("", hasher).unwrap();
    let home = home();
    store
        .save_response(&Resp::app(TENANT, &["s"], "app-token").w())
        .unwrap();
    store
        .save_response(&Resp::user(&home, TENANT, &["s"], "user-token").w())
        .unwrap();
    assert!(
        store.ats.entries.values().all(|r| r.raw.is_none()),
        "entries this library wrote are rendered from their typed view"
    );
    let written = store.to_json().unwrap();

    // Read back, the same entries are again kept without their object, and written the same.
    let hasher = key::PartitionHasher::with_state(foldhash::fast::RandomState::default());
    let again = index::Store::from_json(&written, hasher).unwrap();
    assert!(again.ats.entries.values().all(|r| r.raw.is_none()));
    assert_eq!(again.to_json().unwrap(), written);

    // A field another MSAL wrote, or another order, keeps the object as it was.
    let mut doc: Value = serde_json::from_str(&written).unwrap();
    let ats = doc["AccessToken"].as_object_mut().unwrap();
    let (first, second) = {
        let mut keys = ats.keys().cloned();
        (keys.next().unwrap(), keys.next().unwrap())
    };
    ats[&first]["keyid"] = json!("from-msal-dotnet");
    let entry = ats[&second].as_object_mut().unwrap();
    let secret = entry.shift_remove("secret").unwrap();
    entry.insert("secret".into(), secret);
    let edited = serde_json::to_string_pretty(&doc).unwrap();
    let hasher = key::PartitionHasher::with_state(foldhash::fast::RandomState::default());
    let foreign = index::Store::from_json(&edited, hasher).unwrap();
    assert!(foreign.ats.entries.values().all(|r| r.raw.is_some()));
    let back: Value = serde_json::from_str(&foreign.to_json().unwrap()).unwrap();
    assert_eq!(back["AccessToken"], doc["AccessToken"]);
    let order = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        order(&back["AccessToken"][&second]),
        order(&doc["AccessToken"][&second]),
        "the order another MSAL wrote is kept"
    );
}

#[tokio::test]
async fn app_metadata_is_written_as_each_answer_says_and_left_alone_when_the_same() {
    let cache = TokenCache::new();
    let key = format!("appmetadata-{ENV}-{CLIENT}");
    let metadata = |cache: &TokenCache| json_of(cache)["AppMetadata"].clone();
    let mut r = Resp::app(TENANT, &["s"], "a");
    save(&cache, &r).await;
    let first = json!({ &key: {"client_id": CLIENT, "environment": ENV} });
    assert_eq!(metadata(&cache), first);
    // The same again: unchanged.
    r.access_token = Some("b".into());
    save(&cache, &r).await;
    assert_eq!(metadata(&cache), first);
    // A family now: rewritten with it, and without it again after.
    r.family_id = Some("1".into());
    save(&cache, &r).await;
    assert_eq!(
        metadata(&cache),
        json!({ &key: {"client_id": CLIENT, "environment": ENV, "family_id": "1"} })
    );
    r.family_id = None;
    save(&cache, &r).await;
    assert_eq!(metadata(&cache), first);
    // Another MSAL's entry for the app (a field of its own, a key in other case): replaced by
    // this answer's, as before.
    let mut doc = json_of(&cache);
    doc["AppMetadata"] = json!({
        key.to_uppercase(): {"client_id": CLIENT, "environment": ENV, "x_other": "kept?"},
    });
    cache.deserialize(&doc.to_string()).unwrap();
    save(&cache, &r).await;
    assert_eq!(metadata(&cache), first);
}
