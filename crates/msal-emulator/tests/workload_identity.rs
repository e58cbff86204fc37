//! Workload identity federation on the wire: the emulator's service account issuer (metadata,
//! keys, tokens from the admin API) and client assertions from federated credentials, a
//! service account token or a managed identity token.

mod common;

use common::*;
use msal_emulator::{EmulatorHandle, defaults as d};
use serde_json::Value;

const RESOURCE: &str = "https://management.azure.com/";

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

async fn client_assertion(emu: &EmulatorHandle, assertion: &str) -> Answer {
    token(
        emu,
        d::TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", d::WORKLOAD_CLIENT_ID),
            ("scope", d::API_SCOPE_DEFAULT),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn workload_identity_federation() {
    let emu = start().await;
    let issuer = emu.federation_issuer();
    assert_eq!(issuer, format!("{}federation", emu.base_url()));
    let doc = send(client().get(format!("{issuer}/.well-known/openid-configuration"))).await;
    assert_eq!(doc.json["issuer"], issuer.as_str());
    let jwks = send(client().get(doc.json["jwks_uri"].as_str().unwrap())).await;
    let fed_kid = jwks.json["keys"][0]["kid"].as_str().unwrap().to_string();

    // A token from the admin API, signed by the issuer's own key.
    let resp = send(
        client()
            .post(format!("{}_emulator/federation/token", emu.base_url()))
            .bearer_auth(emu.admin_token())
            .json(&serde_json::json!({"sub": d::SERVICE_ACCOUNT_SUBJECT})),
    )
    .await;
    assert_eq!(resp.status, 200);
    let sa = resp.json.as_str().unwrap().to_string();
    let header: Value = serde_json::from_slice(&base64_url(sa.split('.').next().unwrap())).unwrap();
    assert_eq!(header["kid"], fed_kid.as_str());
    let claims = jwt_claims(&sa);
    assert_eq!(claims["iss"], issuer.as_str());
    assert_eq!(claims["aud"][0], d::TOKEN_EXCHANGE_AUDIENCE);
    assert_eq!(claims["kubernetes.io"]["namespace"], "default");
    // The admin API wants the admin token.
    let denied = send(
        client()
            .post(format!("{}_emulator/federation/token", emu.base_url()))
            .json(&serde_json::json!({})),
    )
    .await;
    assert_eq!(denied.status, 401);

    let a = client_assertion(&emu, &sa).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let at = jwt_claims(a.json["access_token"].as_str().unwrap());
    assert_eq!(at["appid"], d::WORKLOAD_CLIENT_ID);
    assert_eq!(at["roles"][0], "Data.Read");

    // Wrong audience, wrong subject, expired, and a token another key signed.
    let wrong_aud = emu
        .service_account_token(d::SERVICE_ACCOUNT_SUBJECT, "api://other", 3600)
        .unwrap();
    assert_aad_error(
        &client_assertion(&emu, &wrong_aud).await,
        401,
        "invalid_client",
        700212,
    );
    let wrong_sub = emu
        .service_account_token(
            "system:serviceaccount:other:sa",
            d::TOKEN_EXCHANGE_AUDIENCE,
            3600,
        )
        .unwrap();
    assert_aad_error(
        &client_assertion(&emu, &wrong_sub).await,
        401,
        "invalid_client",
        700213,
    );
    let expired = emu
        .service_account_token(
            d::SERVICE_ACCOUNT_SUBJECT,
            d::TOKEN_EXCHANGE_AUDIENCE,
            -3600,
        )
        .unwrap();
    assert_aad_error(
        &client_assertion(&emu, &expired).await,
        401,
        "invalid_client",
        700024,
    );
    let mut parts: Vec<&str> = sa.split('.').collect();
    let forged_sig = "AAAA".repeat(64);
    parts[2] = &forged_sig;
    assert_aad_error(
        &client_assertion(&emu, &parts.join(".")).await,
        401,
        "invalid_client",
        700027,
    );
    // An app without a federated credential for that issuer.
    let other = token(
        &emu,
        d::TENANT_ID,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", d::CONFIDENTIAL_CLIENT_ID),
            ("scope", d::API_SCOPE_DEFAULT),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &sa),
        ],
    )
    .await;
    assert_aad_error(&other, 401, "invalid_client", 700211);
}

#[tokio::test]
async fn managed_identity_as_a_federated_credential() {
    let emu = start().await;
    let mi = |client_id: &str| {
        client()
            .get(emu.imds_endpoint())
            .query(&[
                ("api-version", "2018-02-01"),
                ("resource", d::TOKEN_EXCHANGE_AUDIENCE),
                ("client_id", client_id),
            ])
            .header("Metadata", "true")
    };
    let a = send(mi(d::USER_ASSIGNED_CLIENT_ID)).await;
    assert_eq!(a.status, 200);
    let assertion = a.json["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_claims(&assertion)["aud"], d::TOKEN_EXCHANGE_AUDIENCE);
    let a = client_assertion(&emu, &assertion).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert_eq!(
        jwt_claims(a.json["access_token"].as_str().unwrap())["appid"],
        d::WORKLOAD_CLIENT_ID
    );
    // Another identity's token is not the app's credential.
    let a = send(mi(d::SECOND_USER_ASSIGNED_CLIENT_ID)).await;
    let other = a.json["access_token"].as_str().unwrap().to_string();
    assert_aad_error(
        &client_assertion(&emu, &other).await,
        401,
        "invalid_client",
        700213,
    );
    // Nor a token of the right identity for another resource.
    let a = send(
        client()
            .get(emu.imds_endpoint())
            .query(&[
                ("api-version", "2018-02-01"),
                ("resource", RESOURCE),
                ("client_id", d::USER_ASSIGNED_CLIENT_ID),
            ])
            .header("Metadata", "true"),
    )
    .await;
    let wrong_aud = a.json["access_token"].as_str().unwrap().to_string();
    assert_aad_error(
        &client_assertion(&emu, &wrong_aud).await,
        401,
        "invalid_client",
        700212,
    );
}
