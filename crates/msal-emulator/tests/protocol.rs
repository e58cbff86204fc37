//! Protocol conformance: discovery, keys, client credentials (secret and certificate),
//! ROPC and its user states, refresh rotation and revocation, OBO, the sample API.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use msal_emulator::{UserConfig, default_certificate_pem, defaults};
use serde_json::{Value, json};
use sha2::Digest;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[tokio::test]
async fn discovery_documents_and_keys_verify_issued_tokens() {
    let emu = start().await;
    let base = emu.base_url().to_string();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with('/'));
    let authority = emu.authority(defaults::TENANT_DOMAIN);
    assert_eq!(authority, format!("{base}{}", defaults::TENANT_DOMAIN));

    let doc: Value = client()
        .get(format!("{authority}/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], format!("{base}{}/v2.0", defaults::TENANT_ID));
    assert_eq!(
        doc["token_endpoint"],
        format!("{authority}/oauth2/v2.0/token")
    );
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{authority}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{authority}/oauth2/v2.0/devicecode")
    );
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{authority}/oauth2/v2.0/logout")
    );
    assert_eq!(doc["jwks_uri"], format!("{authority}/discovery/v2.0/keys"));
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );

    let common: Value = client()
        .get(format!(
            "{base}common/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(common["issuer"], format!("{base}{{tenantid}}/v2.0"));

    let bad = client()
        .get(format!(
            "{base}nosuchtenant/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"], "invalid_tenant");
    assert_eq!(bad["error_codes"][0], 90002);

    let inst: Value = client()
        .get(format!("{base}common/discovery/instance"))
        .query(&[
            ("api-version", "1.1"),
            (
                "authorization_endpoint",
                &format!("{authority}/oauth2/v2.0/authorize"),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let port = emu.base_url().port().unwrap();
    assert_eq!(
        inst["tenant_discovery_endpoint"],
        format!("{authority}/v2.0/.well-known/openid-configuration")
    );
    assert_eq!(inst["api-version"], "1.1");
    assert_eq!(
        inst["metadata"][0]["preferred_network"],
        format!("127.0.0.1:{port}")
    );
    assert_eq!(
        inst["metadata"][0]["aliases"],
        json!([format!("127.0.0.1:{port}"), format!("localhost:{port}")])
    );

    // Another host is an unknown instance.
    let foreign = client()
        .get(format!("{base}common/discovery/instance"))
        .query(&[
            ("api-version", "1.1"),
            (
                "authorization_endpoint",
                "https://login.example.com/common/oauth2/v2.0/authorize",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 400);
    let foreign: Value = foreign.json().await.unwrap();
    assert_eq!(foreign["error"], "invalid_instance");
    assert_eq!(foreign["error_codes"][0], 50049);

    // A token verifies against the published JWKS.
    let jwks: Value = client()
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert!(key["x5c"][0].is_string());
    let a = ropc(&emu, defaults::USER_USERNAME, "User.Read openid").await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let at = a.json["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(at).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let dk =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[defaults::GRAPH_RESOURCE]);
    v.set_issuer(&[doc["issuer"].as_str().unwrap()]);
    let data = jsonwebtoken::decode::<Value>(at, &dk, &v).unwrap();
    assert_eq!(data.claims["tid"], defaults::TENANT_ID);
    assert_eq!(data.claims["ver"], "2.0");
    emu.shutdown().await;
}

#[tokio::test]
async fn client_credentials_with_secret_and_errors() {
    let emu = start().await;
    let t = defaults::TENANT_ID;
    let ok = token(
        &emu,
        t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", defaults::CLIENT_SECRET),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ],
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.json);
    assert_eq!(ok.json["token_type"], "Bearer");
    assert_eq!(ok.json["expires_in"], 3599);
    assert_eq!(ok.json["ext_expires_in"], 3599);
    assert!(ok.json.get("refresh_token").is_none());
    assert!(ok.json.get("id_token").is_none());
    let c = jwt_claims(ok.json["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], defaults::API_RESOURCE);
    assert_eq!(c["roles"], json!([defaults::API_APP_ROLE]));
    assert_eq!(c["azp"], defaults::CONFIDENTIAL_CLIENT_ID);
    assert_eq!(c["azpacr"], "1");
    assert_eq!(c["idtyp"], "app");
    assert!(c.get("scp").is_none());

    // The sample API accepts the app token.
    let me: Value = client()
        .get(format!("{}api/me", emu.base_url()))
        .bearer_auth(ok.json["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["appId"], defaults::CONFIDENTIAL_CLIENT_ID);

    // Wrong secret.
    let a = token(
        &emu,
        t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", "wrong"),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ],
    )
    .await;
    assert_aad_error(&a, 401, "invalid_client", 7000215);

    // No credential at all.
    let a = token(
        &emu,
        t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ],
    )
    .await;
    assert_aad_error(&a, 401, "invalid_client", 7000218);

    // Unknown client.
    let a = token(
        &emu,
        t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-0000-0000-0000-000000000001"),
            ("client_secret", "x"),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ],
    )
    .await;
    assert_aad_error(&a, 400, "unauthorized_client", 700016);

    // /common is refused.
    let a = token(
        &emu,
        "common",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", defaults::CLIENT_SECRET),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ],
    )
    .await;
    assert_aad_error(&a, 400, "invalid_request", 90010);

    // Scope without /.default.
    let a = token(
        &emu,
        t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", defaults::CLIENT_SECRET),
            ("scope", defaults::GRAPH_USER_READ),
        ],
    )
    .await;
    assert_aad_error(&a, 400, "invalid_scope", 1002012);

    // Unknown resource.
    let a = token(
        &emu,
        t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", defaults::CLIENT_SECRET),
            ("scope", "api://nope/.default"),
        ],
    )
    .await;
    assert_aad_error(&a, 400, "invalid_resource", 500011);

    // A public client presenting a secret.
    let a = token(
        &emu,
        t,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("client_secret", "x"),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ],
    )
    .await;
    assert_aad_error(&a, 401, "invalid_client", 700025);

    // Unsupported grant and GET on the token endpoint.
    let a = token(
        &emu,
        t,
        &[
            ("grant_type", "magic"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
        ],
    )
    .await;
    assert_eq!(a.json["error"], "unsupported_grant_type");
    let r = client().get(emu.token_endpoint(t)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_codes"][0], 900561);
}

#[tokio::test]
async fn error_answers_echo_the_correlation_id() {
    let emu = start().await;
    let resp = client()
        .post(emu.token_endpoint(defaults::TENANT_ID))
        .header("client-request-id", "11111111-2222-3333-4444-555555555555")
        .header("return-client-request-id", "true")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", "bad"),
            ("scope", defaults::API_SCOPE_DEFAULT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["client-request-id"],
        "11111111-2222-3333-4444-555555555555"
    );
    let trace = resp.headers()["x-ms-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["correlation_id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(v["trace_id"], trace);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("Correlation ID: 11111111-2222-3333-4444-555555555555")
    );
    assert!(
        v["error_uri"]
            .as_str()
            .unwrap()
            .contains("error?code=7000215")
    );
    // Without return-client-request-id, the header is not echoed.
    let resp = client()
        .post(emu.token_endpoint(defaults::TENANT_ID))
        .header("client-request-id", "abc")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("client-request-id").is_none());
    assert!(resp.headers().get("x-ms-request-id").is_some());
}

fn der_of(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    STANDARD.decode(b64).unwrap()
}

fn assertion(
    alg: Algorithm,
    key_pem: &str,
    cert_pem: &str,
    aud: &str,
    exp_offset: i64,
    with_jti: bool,
) -> String {
    let mut header = Header::new(alg);
    header.x5t_s256 = Some(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der_of(cert_pem))));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = json!({
        "aud": aud,
        "iss": defaults::CONFIDENTIAL_CLIENT_ID,
        "sub": defaults::CONFIDENTIAL_CLIENT_ID,
        "exp": now + exp_offset,
        "nbf": now - 10,
        "iat": now - 10,
    });
    if with_jti {
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    }
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn client_credentials_with_certificate_assertion() {
    let emu = start().await;
    let (cert, key) = default_certificate_pem();
    let aud = emu.token_endpoint(defaults::TENANT_ID);
    let cc = |a: String| {
        let emu = &emu;
        async move {
            token(
                emu,
                defaults::TENANT_ID,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", &a),
                    ("scope", defaults::GRAPH_DEFAULT),
                ],
            )
            .await
        }
    };
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let a = cc(assertion(alg, &key, &cert, &aud, 600, true)).await;
        assert_eq!(a.status, 200, "{alg:?}: {:?}", a.json);
        let c = jwt_claims(a.json["access_token"].as_str().unwrap());
        assert_eq!(c["azpacr"], "2");
        assert_eq!(c["roles"], json!(["User.Read.All"]));
    }

    // The x5t (SHA-1) header alone works too.
    let mut header = Header::new(Algorithm::RS256);
    header.x5t = Some(URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der_of(&cert))));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = jsonwebtoken::encode(
        &header,
        &json!({"aud": aud, "iss": defaults::CONFIDENTIAL_CLIENT_ID, "sub": defaults::CONFIDENTIAL_CLIENT_ID, "exp": now + 300, "jti": "x"}),
        &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(cc(jwt).await.status, 200);

    // Signed by another key (same x5t#S256 header): refused.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let forged = assertion(
        Algorithm::RS256,
        &other.serialize_pem(),
        &cert,
        &aud,
        600,
        true,
    );
    assert_aad_error(&cc(forged).await, 401, "invalid_client", 700027);

    // A tampered payload: refused.
    let good = assertion(Algorithm::RS256, &key, &cert, &aud, 600, true);
    let parts: Vec<&str> = good.split('.').collect();
    let tampered_payload = URL_SAFE_NO_PAD.encode(
        json!({"aud": aud, "iss": defaults::CONFIDENTIAL_CLIENT_ID, "sub": defaults::CONFIDENTIAL_CLIENT_ID, "exp": 4_000_000_000u64, "jti": "y"}).to_string(),
    );
    let tampered = format!("{}.{}.{}", parts[0], tampered_payload, parts[2]);
    assert_aad_error(&cc(tampered).await, 401, "invalid_client", 700027);

    // Expired, wrong audience, missing jti, garbage.
    assert_aad_error(
        &cc(assertion(Algorithm::RS256, &key, &cert, &aud, -3600, true)).await,
        401,
        "invalid_client",
        700024,
    );
    let wrong_aud = cc(assertion(
        Algorithm::RS256,
        &key,
        &cert,
        "https://example.com/token",
        600,
        true,
    ))
    .await;
    assert_eq!(wrong_aud.status, 401);
    assert_eq!(wrong_aud.json["error_codes"][0], 50027);
    let no_jti = cc(assertion(Algorithm::RS256, &key, &cert, &aud, 600, false)).await;
    assert_eq!(no_jti.status, 401);
    assert!(
        no_jti.json["error_description"]
            .as_str()
            .unwrap()
            .contains("jti")
    );
    assert_eq!(cc("not-a-jwt".into()).await.status, 401);
}

#[tokio::test]
async fn ropc_success_and_user_states() {
    let emu = start().await;
    let a = ropc(
        &emu,
        defaults::USER_USERNAME,
        "https://graph.microsoft.com/User.Read openid profile offline_access",
    )
    .await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(a.json["scope"], "User.Read openid profile offline_access");
    assert_eq!(a.json["foci"], "1");
    assert!(a.json["refresh_token"].is_string());
    assert!(a.json.get("refresh_in").is_none());
    let ci = URL_SAFE_NO_PAD
        .decode(a.json["client_info"].as_str().unwrap())
        .unwrap();
    let ci: Value = serde_json::from_slice(&ci).unwrap();
    assert_eq!(
        ci,
        json!({"uid": defaults::USER_OBJECT_ID, "utid": defaults::TENANT_ID})
    );
    let at = jwt_claims(a.json["access_token"].as_str().unwrap());
    assert_eq!(at["scp"], "User.Read");
    assert_eq!(at["oid"], defaults::USER_OBJECT_ID);
    assert_eq!(at["preferred_username"], defaults::USER_USERNAME);
    assert_eq!(at["name"], defaults::USER_DISPLAY_NAME);
    assert_eq!(at["aud"], defaults::GRAPH_RESOURCE);
    assert!(at["uti"].is_string());
    let id = jwt_claims(a.json["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], defaults::PUBLIC_CLIENT_ID);
    assert_eq!(id["oid"], defaults::USER_OBJECT_ID);
    assert_eq!(id["tid"], defaults::TENANT_ID);

    // Without openid / offline_access: no id token, no refresh token, no client_info flag.
    let a = token(
        &emu,
        defaults::TENANT_DOMAIN,
        &[
            ("grant_type", "password"),
            ("client_id", defaults::NON_FOCI_PUBLIC_CLIENT_ID),
            ("username", defaults::USER_USERNAME),
            ("password", defaults::USER_PASSWORD),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(a.json.get("id_token").is_none());
    assert!(a.json.get("refresh_token").is_none());
    assert!(a.json.get("client_info").is_none());
    assert!(a.json.get("foci").is_none());

    // Wrong password.
    let a = token(
        &emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "password"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("username", defaults::USER_USERNAME),
            ("password", "nope"),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_aad_error(&a, 400, "invalid_grant", 50126);

    let a = ropc(&emu, defaults::MFA_USER_USERNAME, "User.Read").await;
    assert_aad_error(&a, 400, "interaction_required", 50076);
    let a = ropc(&emu, defaults::PASSWORD_EXPIRED_USER_USERNAME, "User.Read").await;
    assert_aad_error(&a, 400, "invalid_grant", 50055);
    assert_eq!(a.json["suberror"], "user_password_expired");
    let a = ropc(&emu, defaults::DISABLED_USER_USERNAME, "User.Read").await;
    assert_aad_error(&a, 400, "invalid_grant", 50057);
    let a = ropc(&emu, "ghost@contoso.onmicrosoft.com", "User.Read").await;
    assert_aad_error(&a, 400, "invalid_grant", 50034);
    // Consent: User.Read is admin-consented for the public app, Mail.Read is not.
    let a = ropc(&emu, defaults::NO_CONSENT_USER_USERNAME, "User.Read").await;
    assert_eq!(a.status, 200);
    let a = ropc(
        &emu,
        defaults::NO_CONSENT_USER_USERNAME,
        "User.Read Mail.Read",
    )
    .await;
    assert_aad_error(&a, 400, "invalid_grant", 65001);
    assert_eq!(a.json["suberror"], "consent_required");
    // Bad scopes.
    let a = ropc(
        &emu,
        defaults::USER_USERNAME,
        "User.Read api://msal-emulator-api/access_as_user",
    )
    .await;
    assert_aad_error(&a, 400, "invalid_scope", 28000);
    let a = ropc(
        &emu,
        defaults::USER_USERNAME,
        "https://graph.microsoft.com/Nope.Read",
    )
    .await;
    assert_aad_error(&a, 400, "invalid_scope", 70011);

    // Flipping a user at run time.
    emu.set_user(UserConfig {
        mfa_required: true,
        consent_given: true,
        object_id: Some(defaults::USER_OBJECT_ID.into()),
        ..UserConfig::new(defaults::USER_USERNAME, defaults::USER_PASSWORD)
    });
    let a = ropc(&emu, defaults::USER_USERNAME, "User.Read").await;
    assert_aad_error(&a, 400, "interaction_required", 50076);
}

#[tokio::test]
async fn refresh_rotation_foci_revocation_and_claims() {
    let emu = start().await;
    let t = defaults::TENANT_ID;
    let first = ropc(&emu, defaults::USER_USERNAME, "User.Read offline_access").await;
    let rt1 = first.json["refresh_token"].as_str().unwrap().to_string();
    let refresh = |client: &'static str, rt: String, scope: Option<&'static str>| {
        let emu = &emu;
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token".to_string()),
                ("client_id", client.to_string()),
                ("refresh_token", rt),
                ("client_info", "1".to_string()),
            ];
            if let Some(s) = scope {
                form.push(("scope", s.to_string()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(emu, t, &form).await
        }
    };
    let second = refresh(
        defaults::PUBLIC_CLIENT_ID,
        rt1.clone(),
        Some("User.Read offline_access"),
    )
    .await;
    assert_eq!(second.status, 200, "{:?}", second.json);
    let rt2 = second.json["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    // The old one is spent.
    let reuse = refresh(defaults::PUBLIC_CLIENT_ID, rt1, None).await;
    assert_aad_error(&reuse, 400, "invalid_grant", 70000);
    // Another FOCI app redeems the family token, for a different consented scope.
    let foci = refresh(
        defaults::SECOND_PUBLIC_CLIENT_ID,
        rt2.clone(),
        Some("Mail.Read offline_access"),
    )
    .await;
    assert_eq!(foci.status, 200, "{:?}", foci.json);
    assert_eq!(foci.json["scope"], "Mail.Read offline_access");
    assert_eq!(
        jwt_claims(foci.json["access_token"].as_str().unwrap())["azp"],
        defaults::SECOND_PUBLIC_CLIENT_ID
    );
    let rt3 = foci.json["refresh_token"].as_str().unwrap().to_string();
    // A non-family app cannot.
    let non = refresh(defaults::NON_FOCI_PUBLIC_CLIENT_ID, rt3.clone(), None).await;
    assert_aad_error(&non, 400, "invalid_grant", 70000);
    // Claims on refresh end up in the token.
    let with_claims = token(
        &emu,
        t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", defaults::SECOND_PUBLIC_CLIENT_ID),
            ("refresh_token", &rt3),
            ("scope", "User.Read offline_access"),
            (
                "claims",
                r#"{"access_token":{"xms_cc":{"values":["cp1"]},"acrs":{"essential":true,"value":"c1"}}}"#,
            ),
        ],
    )
    .await;
    assert_eq!(with_claims.status, 200, "{:?}", with_claims.json);
    let c = jwt_claims(with_claims.json["access_token"].as_str().unwrap());
    assert_eq!(c["xms_cc"], json!(["cp1"]));
    assert_eq!(c["acrs"], json!(["c1"]));
    let rt4 = with_claims.json["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Revocation.
    emu.revoke_refresh_tokens(defaults::USER_USERNAME);
    let revoked = refresh(defaults::SECOND_PUBLIC_CLIENT_ID, rt4, None).await;
    assert_aad_error(&revoked, 400, "invalid_grant", 50173);
    assert_eq!(revoked.json["suberror"], "bad_token");
    // Unknown token.
    let unknown = refresh(defaults::PUBLIC_CLIENT_ID, "garbage".into(), None).await;
    assert_aad_error(&unknown, 400, "invalid_grant", 9002313);
    // A user made to need MFA after the token was issued.
    let fresh = ropc(&emu, defaults::USER_USERNAME, "User.Read offline_access").await;
    emu.set_user(UserConfig {
        mfa_required: true,
        consent_given: true,
        object_id: Some(defaults::USER_OBJECT_ID.into()),
        ..UserConfig::new(defaults::USER_USERNAME, defaults::USER_PASSWORD)
    });
    let mfa = refresh(
        defaults::PUBLIC_CLIENT_ID,
        fresh.json["refresh_token"].as_str().unwrap().into(),
        None,
    )
    .await;
    assert_aad_error(&mfa, 400, "interaction_required", 50076);
}

#[tokio::test]
async fn refresh_in_and_inactivity_expiry_options() {
    let mut cfg = msal_emulator::EmulatorConfig::default_directory();
    cfg.options.include_refresh_in = true;
    cfg.options.access_token_lifetime_secs = 1000;
    cfg.options.refresh_token_max_inactive_secs = 0;
    let emu = start_with(cfg).await;
    let a = ropc(&emu, defaults::USER_USERNAME, "User.Read offline_access").await;
    assert_eq!(a.json["expires_in"], 1000);
    assert_eq!(a.json["refresh_in"], 500);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = token(
        &emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("refresh_token", a.json["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_aad_error(&r, 400, "invalid_grant", 700082);
}

#[tokio::test]
async fn on_behalf_of_exchanges_an_api_token() {
    let emu = start().await;
    let t = defaults::TENANT_ID;
    let user_token = ropc(&emu, defaults::USER_USERNAME, defaults::API_SCOPE).await;
    assert_eq!(user_token.status, 200, "{:?}", user_token.json);
    assert_eq!(user_token.json["scope"], defaults::API_SCOPE);
    let assertion = user_token.json["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let obo = |assertion: String, secret: &'static str| {
        let emu = &emu;
        async move {
            token(
                emu,
                t,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("client_id", defaults::CONFIDENTIAL_CLIENT_ID),
                    ("client_secret", secret),
                    ("assertion", &assertion),
                    ("requested_token_use", "on_behalf_of"),
                    (
                        "scope",
                        "https://graph.microsoft.com/User.Read offline_access",
                    ),
                ],
            )
            .await
        }
    };
    let a = obo(assertion.clone(), defaults::CLIENT_SECRET).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let c = jwt_claims(a.json["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], defaults::USER_OBJECT_ID);
    assert_eq!(c["azp"], defaults::CONFIDENTIAL_CLIENT_ID);
    assert_eq!(c["aud"], defaults::GRAPH_RESOURCE);
    assert!(a.json["refresh_token"].is_string());

    // A token for Graph (audience not this app) is refused.
    let graph = ropc(&emu, defaults::USER_USERNAME, "User.Read").await;
    let a = obo(
        graph.json["access_token"].as_str().unwrap().into(),
        defaults::CLIENT_SECRET,
    )
    .await;
    assert_aad_error(&a, 400, "invalid_grant", 50013);
    // A forged assertion is refused.
    let a = obo(format!("{assertion}x"), defaults::CLIENT_SECRET).await;
    assert_aad_error(&a, 400, "invalid_grant", 50013);
    // The confidential app must authenticate.
    let a = obo(assertion, "wrong").await;
    assert_aad_error(&a, 401, "invalid_client", 7000215);
}

#[tokio::test]
async fn sample_api_validates_tokens_and_challenges_claims() {
    let emu = start().await;
    let me = |tok: Option<String>| {
        let url = format!("{}api/me", emu.base_url());
        async move {
            let mut req = client().get(url);
            if let Some(t) = tok {
                req = req.bearer_auth(t);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let www = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            (status, www, r.json::<Value>().await.unwrap())
        }
    };
    let (s, www, _) = me(None).await;
    assert_eq!(s, 401);
    assert!(www.unwrap().contains("error=\"invalid_token\""));
    let (s, _, _) = me(Some("abc.def.ghi".into())).await;
    assert_eq!(s, 401);

    let alice = ropc(&emu, defaults::USER_USERNAME, "User.Read").await;
    let (s, _, body) = me(alice.json["access_token"].as_str().map(str::to_string)).await;
    assert_eq!(s, 200);
    assert_eq!(body["userPrincipalName"], defaults::USER_USERNAME);
    assert_eq!(body["id"], defaults::USER_OBJECT_ID);

    // The CAE user gets a claims challenge until the token carries acrs=c1.
    let cae = ropc(&emu, defaults::CLAIMS_CHALLENGE_USER_USERNAME, "User.Read").await;
    let (s, www, _) = me(cae.json["access_token"].as_str().map(str::to_string)).await;
    assert_eq!(s, 401);
    let www = www.unwrap();
    assert!(www.contains("error=\"insufficient_claims\""), "{www}");
    let claims_b64 = www
        .split("claims=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let claims = String::from_utf8(STANDARD.decode(claims_b64).unwrap()).unwrap();
    assert_eq!(claims, msal_emulator::CLAIMS_CHALLENGE_JSON);
    let again = token(
        &emu,
        defaults::TENANT_ID,
        &[
            ("grant_type", "password"),
            ("client_id", defaults::PUBLIC_CLIENT_ID),
            ("username", defaults::CLAIMS_CHALLENGE_USER_USERNAME),
            ("password", defaults::USER_PASSWORD),
            ("scope", "User.Read"),
            ("claims", &claims),
        ],
    )
    .await;
    let (s, _, _) = me(again.json["access_token"].as_str().map(str::to_string)).await;
    assert_eq!(s, 200);
    // The switch for every user.
    emu.set_api_claims_challenge(true);
    let (s, _, _) = me(alice.json["access_token"].as_str().map(str::to_string)).await;
    assert_eq!(s, 401);
    emu.set_api_claims_challenge(false);
    let (s, _, _) = me(alice.json["access_token"].as_str().map(str::to_string)).await;
    assert_eq!(s, 200);
}
