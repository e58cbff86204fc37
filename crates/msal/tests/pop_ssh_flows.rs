//! Proof-of-possession tokens and SSH certificates on the flows beyond client credentials,
//! silent, device code and interactive: on-behalf-of (and long-running on-behalf-of),
//! username/password, the web app's auth code redemption and a refresh token obtained
//! elsewhere. On the wire: the exact form fields; the result's signed HTTP request; the cache
//! hit signed afresh; and bearer requests that never get the bound token.

mod common;
#[path = "support/pop.rs"]
mod pop;

use common::{Answer, MockIdp, TENANT, UID, b64, jwt};
use msal::{ConfidentialClientApplication, PopKey, PublicClientApplication, TokenSource};
use pop::{SSH_JWK, bounded, decode_part, url, verify_es256};
use serde_json::{Value, json};

const SCOPE: &str = "https://graph.microsoft.com/User.Read";
const GRANTED: &str = "User.Read openid profile offline_access";
const SSH_SCOPE: &str = "https://pas.windows.net/CheckMyAccess/Linux/.default";
const SSH_GRANTED: &str =
    "https://pas.windows.net/CheckMyAccess/Linux/.default openid profile offline_access";
const SSH_CERT: &str = "ssh-rsa-cert-v01@openssh.com AAAAHHNzaC1yc2EtY2VydC12MDFAb3BlbnNzaC5jb20=";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn web_api(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("web-api")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret")
        .build()
        .unwrap()
}

fn public(idp: &MockIdp) -> PublicClientApplication {
    PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap()
}

/// The access token a client called the web API with.
fn incoming(n: u32) -> String {
    jwt(
        json!({"aud": "api://web-api", "oid": UID, "tid": TENANT, "uti": format!("u{n}"), "scp": "access_as_user"}),
    )
}

/// A user token answer of this token type (and this id token nonce).
fn user_answer(token_type: &str, at: &str, rt: &str, scope: &str, nonce: Option<&str>) -> Answer {
    let mut claims = json!({
        "aud": "web-api", "iss": format!("https://login/{TENANT}/v2.0"), "tid": TENANT,
        "oid": UID, "sub": "sub-1", "preferred_username": "alice@contoso.onmicrosoft.com",
        "name": "Alice", "ver": "2.0",
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    Answer::json(
        200,
        json!({
            "token_type": token_type, "expires_in": 3599, "ext_expires_in": 3599,
            "access_token": at, "refresh_token": rt, "id_token": jwt(claims), "scope": scope,
            "client_info": b64(&json!({"uid": UID, "utid": TENANT})),
        }),
    )
}

fn managed_realm() -> Answer {
    Answer::json(
        200,
        json!({"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.onmicrosoft.com"}),
    )
}

/// Checks a PoP result: an SHR of this key for `POST` on [`url`], carrying the IdP's `at`;
/// returns its nonce.
fn assert_shr(r: &msal::AuthenticationResult, key: &PopKey, at: &str) -> Value {
    assert_eq!(r.token_type, "pop");
    let (header, claims) = verify_es256(r.access_token.secret(), key);
    assert_eq!(
        header,
        json!({"alg": "ES256", "kid": key.key_id(), "typ": "pop"})
    );
    assert_eq!(claims["at"], at);
    assert_eq!(claims["m"], "POST");
    assert_eq!(claims["u"], "api.contoso.test:8443");
    assert_eq!(claims["p"], "/orders/42");
    assert_eq!(claims["cnf"]["jwk"], *key.public_jwk());
    claims["nonce"].clone()
}

// ----- on-behalf-of -----------------------------------------------------------------------

#[tokio::test]
async fn on_behalf_of_pop_sends_req_cnf_signs_the_result_and_keeps_bearer_apart() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let key = PopKey::generate_es256().unwrap();
    let assertion = incoming(1);
    let pop = || {
        app.acquire_token_on_behalf_of([SCOPE], assertion.as_str())
            .with_proof_of_possession(key.clone(), "POST", url())
            .send()
    };
    idp.push_token(user_answer("pop", "obo-pop-at", "rt-1", GRANTED, None));

    let r = bounded(pop()).await.unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let nonce = assert_shr(&r, &key, "obo-pop-at");
    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        [
            "assertion",
            "client_id",
            "client_info",
            "client_secret",
            "grant_type",
            "req_cnf",
            "requested_token_use",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(t.field("grant_type"), Some(JWT_BEARER));
    assert_eq!(t.field("requested_token_use"), Some("on_behalf_of"));
    assert_eq!(t.field("token_type"), Some("pop"));
    assert_eq!(
        decode_part(t.field("req_cnf").unwrap()),
        json!({"kid": key.key_id()})
    );

    // The same assertion and key: from the cache, the same token in a new SHR.
    let hit = bounded(pop()).await.unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_ne!(assert_shr(&hit, &key, "obo-pop-at"), nonce);
    assert_ne!(hit.access_token.secret(), r.access_token.secret());
    assert_eq!(idp.token_requests().len(), 1);

    // A bearer request for the same assertion never gets the PoP token: it asks, plainly.
    idp.push_token(user_answer(
        "Bearer",
        "obo-bearer-at",
        "rt-2",
        GRANTED,
        None,
    ));
    let bearer = bounded(
        app.acquire_token_on_behalf_of([SCOPE], assertion.as_str())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(bearer.source, TokenSource::IdentityProvider);
    assert_eq!(bearer.token_type, "Bearer");
    assert_eq!(bearer.access_token.secret(), "obo-bearer-at");
    let plain = &idp.token_requests()[1];
    assert_eq!(plain.field("grant_type"), Some(JWT_BEARER));
    assert_eq!(plain.field("token_type"), None);
    assert_eq!(plain.field("req_cnf"), None);

    // Both are cached, each found by its own scheme.
    let pop_again = bounded(pop()).await.unwrap();
    assert_eq!(pop_again.source, TokenSource::Cache);
    assert_shr(&pop_again, &key, "obo-pop-at");
    let bearer_again = bounded(
        app.acquire_token_on_behalf_of([SCOPE], assertion.as_str())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(bearer_again.source, TokenSource::Cache);
    assert_eq!(bearer_again.access_token.secret(), "obo-bearer-at");
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn on_behalf_of_ssh_certificate_sends_the_jwk_and_key_id_and_is_cached_by_key_id() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let assertion = incoming(2);
    let ssh = |kid: &str| {
        app.acquire_token_on_behalf_of([SSH_SCOPE], assertion.as_str())
            .with_ssh_certificate(SSH_JWK, kid)
            .send()
    };
    idp.push_token(user_answer("ssh-cert", SSH_CERT, "rt-1", SSH_GRANTED, None));

    let r = bounded(ssh("key1")).await.unwrap();
    assert_eq!(r.token_type, "ssh-cert");
    assert_eq!(r.access_token.secret(), SSH_CERT);
    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        [
            "assertion",
            "client_id",
            "client_info",
            "client_secret",
            "grant_type",
            "key_id",
            "req_cnf",
            "requested_token_use",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(t.field("token_type"), Some("ssh-cert"));
    assert_eq!(t.field("req_cnf"), Some(SSH_JWK));
    assert_eq!(t.field("key_id"), Some("key1"));

    let hit = bounded(ssh("key1")).await.unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(hit.access_token.secret(), SSH_CERT);
    // Another key id is another certificate; a bearer request is not given one.
    idp.push_token(user_answer(
        "ssh-cert",
        "ssh-rsa-cert-v01@openssh.com BBBB",
        "rt-2",
        SSH_GRANTED,
        None,
    ));
    let other = bounded(ssh("key2")).await.unwrap();
    assert_eq!(other.source, TokenSource::IdentityProvider);
    assert_eq!(idp.token_requests()[1].field("key_id"), Some("key2"));
    idp.push_token(user_answer(
        "Bearer",
        "bearer-at",
        "rt-3",
        SSH_GRANTED,
        None,
    ));
    let bearer = bounded(
        app.acquire_token_on_behalf_of([SSH_SCOPE], assertion.as_str())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(bearer.access_token.secret(), "bearer-at");
    assert_eq!(idp.token_requests()[2].field("token_type"), None);
    assert_eq!(idp.token_requests().len(), 3);
}

#[tokio::test]
async fn a_long_running_on_behalf_of_process_keeps_its_pop_binding() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let key = PopKey::generate_es256().unwrap();
    idp.push_token(user_answer("pop", "lr-pop-at", "lr-rt-1", GRANTED, None));
    let start = app
        .initiate_long_running_on_behalf_of([SCOPE], incoming(3))
        .with_proof_of_possession(key.clone(), "POST", url());
    let session = start.session_key().to_owned();
    let r = bounded(start.send()).await.unwrap();
    assert_shr(&r, &key, "lr-pop-at");
    let t = &idp.token_requests()[0];
    assert_eq!(t.field("grant_type"), Some(JWT_BEARER));
    assert_eq!(t.field("token_type"), Some("pop"));
    assert_eq!(
        decode_part(t.field("req_cnf").unwrap()),
        json!({"kid": key.key_id()})
    );

    // A later call of the process with the key: from the cache, in a fresh SHR.
    let later = || {
        app.acquire_token_in_long_running_process([SCOPE], session.as_str())
            .with_proof_of_possession(key.clone(), "POST", url())
            .send()
    };
    let hit = bounded(later()).await.unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_shr(&hit, &key, "lr-pop-at");
    assert_eq!(idp.token_requests().len(), 1);

    // Without the key: the session's refresh token is redeemed for a bearer token.
    idp.push_token(user_answer("Bearer", "lr-bearer", "lr-rt-2", GRANTED, None));
    let bearer = bounded(
        app.acquire_token_in_long_running_process([SCOPE], session.as_str())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(bearer.access_token.secret(), "lr-bearer");
    let redeem = &idp.token_requests()[1];
    assert_eq!(redeem.field("grant_type"), Some("refresh_token"));
    assert_eq!(redeem.field("refresh_token"), Some("lr-rt-1"));
    assert_eq!(redeem.field("token_type"), None);
    // Forced past the cache with the key: the refresh token is redeemed for a PoP token.
    idp.push_token(user_answer("pop", "lr-pop-at-2", "lr-rt-3", GRANTED, None));
    let forced = bounded(
        app.acquire_token_in_long_running_process([SCOPE], session.as_str())
            .with_proof_of_possession(key.clone(), "POST", url())
            .force_refresh(true)
            .send(),
    )
    .await
    .unwrap();
    assert_shr(&forced, &key, "lr-pop-at-2");
    let redeem = &idp.token_requests()[2];
    assert_eq!(redeem.field("grant_type"), Some("refresh_token"));
    assert_eq!(redeem.field("token_type"), Some("pop"));
    assert!(redeem.field("req_cnf").is_some());
    assert_eq!(idp.token_requests().len(), 3);
}

// ----- username/password ------------------------------------------------------------------

#[tokio::test]
async fn username_password_pop_sends_req_cnf_and_silent_serves_it_in_a_fresh_shr() {
    let idp = MockIdp::start().await;
    let app = public(&idp);
    let key = PopKey::generate_es256().unwrap();
    idp.push_realm(managed_realm());
    idp.push_token(user_answer("pop", "ropc-pop-at", "ropc-rt", GRANTED, None));
    let r = bounded(
        app.acquire_token_by_username_password(
            [SCOPE],
            "alice@contoso.onmicrosoft.com",
            "P@ss w0rd",
        )
        .with_proof_of_possession(key.clone(), "POST", url())
        .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let nonce = assert_shr(&r, &key, "ropc-pop-at");
    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        [
            "client_id",
            "client_info",
            "grant_type",
            "password",
            "req_cnf",
            "scope",
            "token_type",
            "username"
        ]
    );
    assert_eq!(t.field("grant_type"), Some("password"));
    assert_eq!(t.field("token_type"), Some("pop"));
    assert_eq!(
        decode_part(t.field("req_cnf").unwrap()),
        json!({"kid": key.key_id()})
    );
    let account = r.account.clone().unwrap();

    // Silent with the same key: the cached PoP token, in a new SHR.
    let hit = bounded(
        app.acquire_token_silent([SCOPE], &account)
            .with_proof_of_possession(key.clone(), "POST", url())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_ne!(assert_shr(&hit, &key, "ropc-pop-at"), nonce);
    assert_eq!(idp.token_requests().len(), 1);

    // Silent bearer: the PoP token is not served; the refresh token is redeemed plainly.
    idp.push_token(user_answer("Bearer", "bearer-at", "rt-2", GRANTED, None));
    let bearer = bounded(app.acquire_token_silent([SCOPE], &account).send())
        .await
        .unwrap();
    assert_eq!(bearer.token_type, "Bearer");
    assert_eq!(bearer.access_token.secret(), "bearer-at");
    let redeem = &idp.token_requests()[1];
    assert_eq!(redeem.field("grant_type"), Some("refresh_token"));
    assert_eq!(redeem.field("token_type"), None);
    assert_eq!(redeem.field("req_cnf"), None);

    // A bearer username/password request sends no PoP fields either.
    idp.push_realm(managed_realm());
    idp.push_token(user_answer("Bearer", "ropc-bearer", "rt-3", GRANTED, None));
    let plain = bounded(
        app.acquire_token_by_username_password(
            [SCOPE],
            "alice@contoso.onmicrosoft.com",
            "P@ss w0rd",
        )
        .send(),
    )
    .await
    .unwrap();
    assert_eq!(plain.access_token.secret(), "ropc-bearer");
    let t = &idp.token_requests()[2];
    assert_eq!(t.field("grant_type"), Some("password"));
    assert_eq!(t.field("token_type"), None);
    assert_eq!(t.field("req_cnf"), None);
    assert_eq!(idp.token_requests().len(), 3);
}

#[tokio::test]
async fn username_password_ssh_certificate_sends_the_jwk_and_key_id() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    idp.push_realm(managed_realm());
    idp.push_token(user_answer("ssh-cert", SSH_CERT, "rt", SSH_GRANTED, None));
    let r = bounded(
        app.acquire_token_by_username_password([SSH_SCOPE], "alice@contoso.onmicrosoft.com", "pw")
            .with_ssh_certificate(SSH_JWK, "key1")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.token_type, "ssh-cert");
    assert_eq!(r.access_token.secret(), SSH_CERT);
    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        [
            "client_id",
            "client_info",
            "client_secret",
            "grant_type",
            "key_id",
            "password",
            "req_cnf",
            "scope",
            "token_type",
            "username"
        ]
    );
    assert_eq!(t.field("token_type"), Some("ssh-cert"));
    assert_eq!(t.field("req_cnf"), Some(SSH_JWK));
    assert_eq!(t.field("key_id"), Some("key1"));
    // The certificate is cached for its key id.
    let account = r.account.unwrap();
    let hit = bounded(
        app.acquire_token_silent([SSH_SCOPE], &account)
            .with_ssh_certificate(SSH_JWK, "key1")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(hit.access_token.secret(), SSH_CERT);
    assert_eq!(idp.token_requests().len(), 1);
}

// ----- auth code redemption and refresh tokens obtained elsewhere -------------------------

#[tokio::test]
async fn the_auth_code_redemption_asks_for_a_pop_token() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let key = PopKey::generate_es256().unwrap();
    let flow = bounded(
        app.initiate_auth_code_flow([SCOPE], "https://app.example/callback")
            .send(),
    )
    .await
    .unwrap();
    let nonce = serde_json::to_value(&flow).unwrap()["nonce"]
        .as_str()
        .unwrap()
        .to_owned();
    idp.push_token(user_answer(
        "pop",
        "code-pop-at",
        "rt",
        GRANTED,
        Some(&nonce),
    ));
    let r = bounded(
        app.acquire_token_by_auth_code_flow(&flow, [("code", "the-code"), ("state", flow.state())])
            .with_proof_of_possession(key.clone(), "POST", url())
            .send(),
    )
    .await
    .unwrap();
    assert_shr(&r, &key, "code-pop-at");
    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        [
            "client_id",
            "client_info",
            "client_secret",
            "code",
            "code_verifier",
            "grant_type",
            "redirect_uri",
            "req_cnf",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(t.field("grant_type"), Some("authorization_code"));
    assert_eq!(t.field("token_type"), Some("pop"));
    assert_eq!(
        decode_part(t.field("req_cnf").unwrap()),
        json!({"kid": key.key_id()})
    );
}

#[tokio::test]
async fn a_refresh_token_obtained_elsewhere_is_redeemed_for_an_ssh_certificate() {
    let idp = MockIdp::start().await;
    let app = public(&idp);
    idp.push_token(user_answer(
        "ssh-cert",
        SSH_CERT,
        "rt-new",
        SSH_GRANTED,
        None,
    ));
    let r = bounded(
        app.acquire_token_by_refresh_token("rt-from-elsewhere", [SSH_SCOPE])
            .with_ssh_certificate(SSH_JWK, "key1")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.token_type, "ssh-cert");
    assert_eq!(r.access_token.secret(), SSH_CERT);
    let t = &idp.token_requests()[0];
    assert_eq!(
        t.field_names(),
        [
            "client_id",
            "client_info",
            "grant_type",
            "key_id",
            "refresh_token",
            "req_cnf",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(t.field("refresh_token"), Some("rt-from-elsewhere"));
    assert_eq!(t.field("token_type"), Some("ssh-cert"));
    assert_eq!(t.field("req_cnf"), Some(SSH_JWK));
    assert_eq!(t.field("key_id"), Some("key1"));
}

#[tokio::test]
async fn a_bearer_answer_to_a_pop_on_behalf_of_request_is_refused() {
    let idp = MockIdp::start().await;
    let app = web_api(&idp);
    let key = PopKey::generate_es256().unwrap();
    idp.push_token(user_answer("Bearer", "plain", "rt", GRANTED, None));
    let e = bounded(
        app.acquire_token_on_behalf_of([SCOPE], incoming(4))
            .with_proof_of_possession(key, "POST", url())
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), msal::error::codes::TOKEN_TYPE_MISMATCH);
    assert!(e.correlation_id().is_some());
}
