//! Proof-of-possession tokens and SSH certificates on the wire: the exact form fields, the
//! signed HTTP request (verified with the public key), the cache kept apart from bearer tokens
//! by token type and key id (in MSAL's schema), and the refusal of an answer of another type.

mod common;
#[path = "support/pop.rs"]
mod pop;

use aws_lc_rs::encoding::AsDer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Answer, MockIdp, app_token};
use msal::{ConfidentialClientApplication, ErrorKind, PopKey, TokenSource};
use pop::{SSH_JWK, bounded, decode_part, now, url, verify_es256};
use serde_json::{Value, json};

const SCOPE: &str = "api://msal-emulator-api/.default";
const SSH_SCOPE: &str = "https://pas.windows.net/CheckMyAccess/Linux/.default";
const SSH_CERT: &str = "ssh-rsa-cert-v01@openssh.com AAAAHHNzaC1yc2EtY2VydC12MDFAb3BlbnNzaC5jb20=";

fn app(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("daemon-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret-value")
        .build()
        .unwrap()
}

fn typed_token(token_type: &str, at: &str, scope: &str) -> Answer {
    Answer::json(
        200,
        json!({"token_type": token_type, "expires_in": 3599, "ext_expires_in": 3599, "access_token": at, "scope": scope}),
    )
}

#[tokio::test]
async fn pop_sends_token_type_and_req_cnf_and_signs_a_fresh_shr_per_call() {
    let idp = MockIdp::start().await;
    idp.push_token(typed_token("pop", "pop-at-1", SCOPE));
    let app = app(&idp);
    let key = PopKey::generate_es256().unwrap();
    let call = || {
        app.acquire_token_for_client([SCOPE])
            .with_proof_of_possession(key.clone(), "post", url())
            .send()
    };

    let r = bounded(call()).await.unwrap();
    assert_eq!(r.token_type, "pop");
    assert_eq!(r.source, TokenSource::IdentityProvider);
    let reqs = idp.token_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].field_names(),
        vec![
            "client_id",
            "client_secret",
            "grant_type",
            "req_cnf",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(reqs[0].field("token_type"), Some("pop"));
    let cnf = decode_part(reqs[0].field("req_cnf").unwrap());
    assert_eq!(cnf, json!({"kid": key.key_id()}));

    let (header, claims) = verify_es256(r.access_token.secret(), &key);
    assert_eq!(
        header,
        json!({"alg": "ES256", "kid": key.key_id(), "typ": "pop"})
    );
    assert_eq!(claims["at"], "pop-at-1");
    assert_eq!(claims["m"], "POST");
    assert_eq!(claims["u"], "api.contoso.test:8443");
    assert_eq!(claims["p"], "/orders/42");
    assert_eq!(claims["cnf"]["jwk"], *key.public_jwk());
    assert!((claims["ts"].as_i64().unwrap() - now()).abs() < 120);
    assert_eq!(claims["nonce"].as_str().unwrap().len(), 32);

    // From the cache: no request, the same token in a new SHR (new nonce).
    let again = bounded(call()).await.unwrap();
    assert_eq!(again.source, TokenSource::Cache);
    assert_eq!(again.token_type, "pop");
    assert_eq!(idp.token_requests().len(), 1);
    let (_, claims2) = verify_es256(again.access_token.secret(), &key);
    assert_eq!(claims2["at"], "pop-at-1");
    assert_ne!(claims2["nonce"], claims["nonce"]);
    assert_ne!(again.access_token.secret(), r.access_token.secret());
}

#[tokio::test]
async fn pop_tokens_are_kept_apart_from_bearer_tokens_and_by_key() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("bearer-at", SCOPE));
    idp.push_token(typed_token("pop", "pop-at-a", SCOPE));
    idp.push_token(typed_token("pop", "pop-at-b", SCOPE));
    let app = app(&idp);
    let a = PopKey::generate_es256().unwrap();
    let b = PopKey::generate_es256().unwrap();
    let pop = |k: &PopKey| {
        app.acquire_token_for_client([SCOPE])
            .with_proof_of_possession(k.clone(), "GET", url())
            .send()
    };

    let bearer = bounded(app.acquire_token_for_client([SCOPE]).send())
        .await
        .unwrap();
    assert_eq!(bearer.access_token.secret(), "bearer-at");
    // A bearer token is never a PoP one.
    let ra = bounded(pop(&a)).await.unwrap();
    assert_eq!(ra.source, TokenSource::IdentityProvider);
    assert_eq!(
        verify_es256(ra.access_token.secret(), &a).1["at"],
        "pop-at-a"
    );
    // Another key is another token.
    let rb = bounded(pop(&b)).await.unwrap();
    assert_eq!(rb.source, TokenSource::IdentityProvider);
    assert_eq!(
        verify_es256(rb.access_token.secret(), &b).1["at"],
        "pop-at-b"
    );
    assert_eq!(idp.token_requests().len(), 3);
    // The same key: a hit.
    let rb2 = bounded(pop(&b)).await.unwrap();
    assert_eq!(rb2.source, TokenSource::Cache);
    // And a bearer request still gets the bearer token, never a PoP one.
    let bearer2 = bounded(app.acquire_token_for_client([SCOPE]).send())
        .await
        .unwrap();
    assert_eq!(bearer2.source, TokenSource::Cache);
    assert_eq!(bearer2.access_token.secret(), "bearer-at");
    assert_eq!(bearer2.token_type, "Bearer");
    assert_eq!(idp.token_requests().len(), 3);
    for r in idp.token_requests().iter().skip(1) {
        assert_eq!(r.field("token_type"), Some("pop"));
    }
    assert_eq!(idp.token_requests()[0].field("token_type"), None);
}

#[tokio::test]
async fn a_bearer_answer_to_a_pop_or_ssh_request_is_refused_and_not_cached() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("plain-bearer", SCOPE));
    idp.push_token(typed_token("Bearer", "plain-bearer-2", SSH_SCOPE));
    idp.push_token(app_token("bearer-at", SCOPE));
    let app = app(&idp);
    let key = PopKey::generate_es256().unwrap();

    let e = bounded(
        app.acquire_token_for_client([SCOPE])
            .with_proof_of_possession(key, "GET", url())
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Service);
    assert_eq!(e.code(), msal::error::codes::TOKEN_TYPE_MISMATCH);
    assert!(e.correlation_id().is_some());
    let e = bounded(
        app.acquire_token_for_client([SSH_SCOPE])
            .with_ssh_certificate(SSH_JWK, "key1")
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), msal::error::codes::TOKEN_TYPE_MISMATCH);
    let cache: Value = serde_json::from_str(&app.token_cache().serialize()).unwrap();
    assert!(
        cache["AccessToken"]
            .as_object()
            .is_none_or(|m| m.is_empty()),
        "{cache}"
    );
    // Nothing was cached as a bearer token either: a bearer request asks.
    let r = bounded(app.acquire_token_for_client([SCOPE]).send())
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "bearer-at");
    assert_eq!(idp.token_requests().len(), 3);
}

#[tokio::test]
async fn a_bound_answer_to_a_bearer_request_is_refused() {
    let idp = MockIdp::start().await;
    idp.push_token(typed_token("pop", "unasked-pop", SCOPE));
    idp.push_token(typed_token("SSH-Cert", "unasked-cert", SCOPE));
    let app = app(&idp);
    for _ in 0..2 {
        let e = bounded(app.acquire_token_for_client([SCOPE]).send())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Service);
        assert_eq!(e.code(), msal::error::codes::TOKEN_TYPE_MISMATCH);
    }
    let cache: Value = serde_json::from_str(&app.token_cache().serialize()).unwrap();
    assert!(
        cache["AccessToken"]
            .as_object()
            .is_none_or(|m| m.is_empty()),
        "{cache}"
    );
}

#[tokio::test]
async fn ssh_certificates_send_the_jwk_and_key_id_and_are_cached_by_key_id() {
    let idp = MockIdp::start().await;
    idp.push_token(typed_token("ssh-cert", SSH_CERT, SSH_SCOPE));
    idp.push_token(typed_token(
        "ssh-cert",
        "ssh-rsa-cert-v01@openssh.com BBBB",
        SSH_SCOPE,
    ));
    let app = app(&idp);
    let ssh = |kid: &str| {
        app.acquire_token_for_client([SSH_SCOPE])
            .with_ssh_certificate(SSH_JWK, kid)
            .send()
    };

    let r = bounded(ssh("key1")).await.unwrap();
    assert_eq!(r.access_token.secret(), SSH_CERT);
    assert_eq!(r.token_type, "ssh-cert");
    let reqs = idp.token_requests();
    assert_eq!(
        reqs[0].field_names(),
        vec![
            "client_id",
            "client_secret",
            "grant_type",
            "key_id",
            "req_cnf",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(reqs[0].field("token_type"), Some("ssh-cert"));
    assert_eq!(reqs[0].field("req_cnf"), Some(SSH_JWK));
    assert_eq!(reqs[0].field("key_id"), Some("key1"));

    let hit = bounded(ssh("key1")).await.unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(hit.access_token.secret(), SSH_CERT);
    assert_eq!(hit.token_type, "ssh-cert");
    let other = bounded(ssh("key2")).await.unwrap();
    assert_eq!(other.source, TokenSource::IdentityProvider);
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn bound_tokens_are_written_in_msal_schema_and_read_back_from_it() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("bearer-at", SCOPE));
    idp.push_token(typed_token("pop", "pop-at", SCOPE));
    idp.push_token(typed_token("ssh-cert", SSH_CERT, SSH_SCOPE));
    let app = app(&idp);
    let key = PopKey::generate_es256().unwrap();
    bounded(app.acquire_token_for_client([SCOPE]).send())
        .await
        .unwrap();
    bounded(
        app.acquire_token_for_client([SCOPE])
            .with_proof_of_possession(key.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap();
    bounded(
        app.acquire_token_for_client([SSH_SCOPE])
            .with_ssh_certificate(SSH_JWK, "key1")
            .send(),
    )
    .await
    .unwrap();

    let json = app.token_cache().serialize();
    let cache: Value = serde_json::from_str(&json).unwrap();
    let ats = cache["AccessToken"].as_object().unwrap();
    assert_eq!(ats.len(), 3, "{cache}");
    let by_type = |t: &str| {
        ats.iter()
            .find(|(_, e)| e["token_type"] == t)
            .unwrap_or_else(|| panic!("no {t} entry in {cache}"))
    };
    let (bk, bearer) = by_type("Bearer");
    assert!(bk.contains("-accesstoken-"), "{bk}");
    assert!(bearer.get("kid").is_none() && bearer.get("key_id").is_none());
    for (t, kid, scope, secret) in [
        ("pop", key.key_id(), SCOPE, "pop-at"),
        ("ssh-cert", "key1", SSH_SCOPE, SSH_CERT),
    ] {
        let (k, e) = by_type(t);
        let env = e["environment"].as_str().unwrap();
        assert_eq!(
            *k,
            format!(
                "-{env}-accesstoken_with_authscheme-daemon-app-{}-{scope}-{t}",
                common::TENANT
            )
            .to_lowercase()
        );
        assert_eq!(e["credential_type"], "AccessToken");
        assert_eq!(e["kid"], kid);
        assert_eq!(e["key_id"], kid);
        assert_eq!(e["secret"], secret);
    }

    // Another app reading the file finds each by its own scheme and key.
    let other = self::app(&idp);
    other.token_cache().deserialize(&json).unwrap();
    let pop = bounded(
        other
            .acquire_token_for_client([SCOPE])
            .with_proof_of_possession(key.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(pop.source, TokenSource::Cache);
    assert_eq!(
        verify_es256(pop.access_token.secret(), &key).1["at"],
        "pop-at"
    );
    let ssh = bounded(
        other
            .acquire_token_for_client([SSH_SCOPE])
            .with_ssh_certificate(SSH_JWK, "key1")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(ssh.source, TokenSource::Cache);
    assert_eq!(idp.token_requests().len(), 3);
}

#[tokio::test]
async fn an_ssh_certificate_written_by_msal_python_with_key_id_is_found() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    idp.push_token(app_token("bearer-at", SSH_SCOPE));
    bounded(app.acquire_token_for_client([SSH_SCOPE]).send())
        .await
        .unwrap();
    let mut cache: Value = serde_json::from_str(&app.token_cache().serialize()).unwrap();
    let env = cache["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["environment"]
        .as_str()
        .unwrap()
        .to_owned();
    let exp = (now() + 3000).to_string();
    // MSAL Python keys it without the token type, and names the key id `key_id`.
    let key = format!(
        "-{env}-accesstoken-daemon-app-{}-{}",
        common::TENANT,
        SSH_SCOPE
    );
    cache["AccessToken"][key.to_lowercase()] = json!({
        "credential_type": "AccessToken", "secret": "py-cert", "home_account_id": null,
        "environment": env, "client_id": "daemon-app", "target": SSH_SCOPE,
        "realm": common::TENANT, "token_type": "ssh-cert", "key_id": "py-key",
        "cached_at": now().to_string(), "expires_on": exp, "extended_expires_on": exp
    });
    app.token_cache().deserialize(&cache.to_string()).unwrap();
    let r = bounded(
        app.acquire_token_for_client([SSH_SCOPE])
            .with_ssh_certificate(SSH_JWK, "py-key")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(r.source, TokenSource::Cache);
    assert_eq!(r.access_token.secret(), "py-cert");
    // A bearer request does not get the certificate (which took the bearer token's key, as
    // MSAL Python's keys have no token type): it asks.
    idp.push_token(app_token("bearer-at-2", SSH_SCOPE));
    let b = bounded(app.acquire_token_for_client([SSH_SCOPE]).send())
        .await
        .unwrap();
    assert_eq!(b.access_token.secret(), "bearer-at-2");
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn an_rs256_key_from_pem_signs_a_verifiable_shr() {
    let idp = MockIdp::start().await;
    idp.push_token(typed_token("pop", "rsa-at", SCOPE));
    let app = app(&idp);
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = rsa.as_der().unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der.as_ref())
    );
    let key = PopKey::from_pem(&pem).unwrap();
    assert_eq!(key.algorithm(), "RS256");
    let r = bounded(
        app.acquire_token_for_client([SCOPE])
            .with_proof_of_possession(key.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk().clone()).unwrap();
    let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(r.access_token.secret(), &dk, &v).unwrap();
    assert_eq!(data.claims["at"], "rsa-at");
    assert_eq!(data.header.kid.as_deref(), Some(key.key_id()));
    assert_eq!(data.claims["cnf"]["jwk"], *key.public_jwk());
}

#[tokio::test]
async fn bad_pop_and_ssh_arguments_send_nothing() {
    let idp = MockIdp::start().await;
    let app = app(&idp);
    let key = PopKey::generate_es256().unwrap();
    let e = bounded(
        app.acquire_token_for_client([SCOPE])
            .with_proof_of_possession(key, "GET /x", url())
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), msal::error::codes::INVALID_ARGUMENT);
    let e = bounded(
        app.acquire_token_for_client([SSH_SCOPE])
            .with_ssh_certificate("not json", "k")
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), msal::error::codes::INVALID_ARGUMENT);
    assert!(idp.token_requests().is_empty());
}

/// A user token answer of another token type.
fn typed_user_token(token_type: &str, at: &str, rt: &str, scope: &str) -> Answer {
    let mut a = common::user_token(at, rt, scope);
    let mut body: Value = serde_json::from_str(&a.body).unwrap();
    body["token_type"] = json!(token_type);
    a.body = body.to_string();
    a
}

#[tokio::test]
async fn pop_on_device_code_and_silent_user_flows() {
    const USER_SCOPE: &str = "https://graph.microsoft.com/User.Read";
    let idp = MockIdp::start().await;
    let app = msal::PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap();
    let a = PopKey::generate_es256().unwrap();
    let b = PopKey::generate_es256().unwrap();
    idp.push_devicecode(Answer::json(
        200,
        json!({
            "device_code": "DC-secret", "user_code": "ABCD1234",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900, "interval": 1,
            "message": "To sign in, open https://microsoft.com/devicelogin and enter ABCD1234.",
        }),
    ));
    let scopes = "User.Read openid profile offline_access";
    idp.push_token(typed_user_token("pop", "pop-user-a", "rt-1", scopes));
    let r = bounded(
        app.acquire_token_by_device_code([USER_SCOPE])
            .with_proof_of_possession(a.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        verify_es256(r.access_token.secret(), &a).1["at"],
        "pop-user-a"
    );
    let poll = &idp.token_requests()[0];
    assert_eq!(
        poll.field("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    assert_eq!(poll.field("token_type"), Some("pop"));
    assert_eq!(
        decode_part(poll.field("req_cnf").unwrap()),
        json!({"kid": a.key_id()})
    );
    let account = r.account.unwrap();

    // Silent with the same key: from the cache, in a fresh SHR.
    let hit = bounded(
        app.acquire_token_silent([USER_SCOPE], &account)
            .with_proof_of_possession(a.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(
        verify_es256(hit.access_token.secret(), &a).1["at"],
        "pop-user-a"
    );
    assert_eq!(idp.token_requests().len(), 1);

    // Silent bearer: no bearer token is cached, so the refresh token is redeemed, plainly.
    idp.push_token(common::user_token("bearer-user", "rt-2", scopes));
    let bearer = bounded(app.acquire_token_silent([USER_SCOPE], &account).send())
        .await
        .unwrap();
    assert_eq!(bearer.access_token.secret(), "bearer-user");
    assert_eq!(bearer.token_type, "Bearer");
    let redeem = &idp.token_requests()[1];
    assert_eq!(redeem.field("grant_type"), Some("refresh_token"));
    assert_eq!(redeem.field("token_type"), None);
    assert_eq!(redeem.field("req_cnf"), None);

    // Silent with another key: the refresh token is redeemed for a token bound to it.
    idp.push_token(typed_user_token("pop", "pop-user-b", "rt-3", scopes));
    let rb = bounded(
        app.acquire_token_silent([USER_SCOPE], &account)
            .with_proof_of_possession(b.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(rb.source, TokenSource::IdentityProvider);
    assert_eq!(
        verify_es256(rb.access_token.secret(), &b).1["at"],
        "pop-user-b"
    );
    let redeem = &idp.token_requests()[2];
    assert_eq!(redeem.field("grant_type"), Some("refresh_token"));
    assert_eq!(redeem.field("refresh_token"), Some("rt-2"));
    assert_eq!(
        decode_part(redeem.field("req_cnf").unwrap()),
        json!({"kid": b.key_id()})
    );
    // The bearer token is still served to a bearer request.
    let bearer2 = bounded(app.acquire_token_silent([USER_SCOPE], &account).send())
        .await
        .unwrap();
    assert_eq!(bearer2.source, TokenSource::Cache);
    assert_eq!(bearer2.access_token.secret(), "bearer-user");
    assert_eq!(idp.token_requests().len(), 3);
}

/// A declined-scopes error carries its partial result as a success would be: signed.
#[tokio::test]
async fn a_declined_scopes_partial_result_is_a_signed_request_too() {
    let idp = MockIdp::start().await;
    let app = msal::PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .build()
        .unwrap();
    idp.push_devicecode(Answer::json(
        200,
        json!({
            "device_code": "DC", "user_code": "ABCD", "verification_uri": "https://x.test/d",
            "expires_in": 900, "interval": 1, "message": "sign in",
        }),
    ));
    idp.push_token(typed_user_token(
        "pop",
        "pop-partial",
        "rt",
        "User.Read openid profile offline_access",
    ));
    let key = PopKey::generate_es256().unwrap();
    let e = bounded(
        app.acquire_token_by_device_code(["User.Read", "Mail.Read"])
            .with_proof_of_possession(key.clone(), "GET", url())
            .send(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "declined_scopes");
    let partial = e.partial_result().unwrap();
    assert_eq!(partial.token_type, "pop");
    assert_eq!(
        verify_es256(partial.access_token.secret(), &key).1["at"],
        "pop-partial"
    );
}
