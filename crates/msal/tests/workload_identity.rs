//! Workload identity federation on the wire: the client assertion is the federated token file's
//! content, read again after Kubernetes rotates the file, and AKS's environment configures it.

mod common;
#[path = "support/managed_identity.rs"]
mod mi;

use std::path::Path;

use common::{MockIdp, TENANT, app_token};
use msal::{ConfidentialClientApplication, ErrorKind, error::codes};

const SCOPE: &str = "api://msal-emulator-api/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Writes the file as the kubelet rotates it: a new file moved over the old one.
fn rotate(path: &Path, token: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, token).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn aks_env(idp: &MockIdp, file: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_CLIENT_ID", "workload-app".to_owned()),
        ("AZURE_TENANT_ID", TENANT.to_owned()),
        ("AZURE_AUTHORITY_HOST", idp.base.clone()),
        ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
        ("UNRELATED", "x".to_owned()),
    ]
}

#[tokio::test]
async fn the_token_file_is_the_assertion_and_its_rotation_is_followed() {
    let idp = MockIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    rotate(&file, "eyJ.k8s-token-1.sig\n");
    let app = ConfidentialClientApplication::workload_identity_from(aks_env(&idp, &file))
        .allow_insecure_loopback(true)
        .build()
        .unwrap();

    idp.push_token(app_token("at-1", SCOPE));
    let r = app.acquire_token_for_client([SCOPE]).send().await.unwrap();
    assert_eq!(r.access_token.secret(), "at-1");

    rotate(&file, "eyJ.k8s-token-2.sig");
    idp.push_token(app_token("at-2", SCOPE));
    let r = app
        .acquire_token_for_client([SCOPE])
        .force_refresh(true)
        .send()
        .await
        .unwrap();
    assert_eq!(r.access_token.secret(), "at-2");

    let reqs = idp.token_requests();
    assert_eq!(reqs.len(), 2);
    for (t, token) in reqs
        .iter()
        .zip(["eyJ.k8s-token-1.sig", "eyJ.k8s-token-2.sig"])
    {
        assert_eq!(t.path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(
            t.field_names(),
            vec![
                "client_assertion",
                "client_assertion_type",
                "client_id",
                "grant_type",
                "scope"
            ]
        );
        assert_eq!(t.field("client_id"), Some("workload-app"));
        assert_eq!(t.field("grant_type"), Some("client_credentials"));
        assert_eq!(t.field("client_assertion_type"), Some(JWT_BEARER));
        assert_eq!(t.field("client_assertion"), Some(token));
    }
}

#[tokio::test]
async fn a_vanished_token_file_is_a_client_error_and_sends_nothing() {
    let idp = MockIdp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = ConfidentialClientApplication::builder("workload-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_assertion_file(dir.path().join("gone"))
        .build()
        .unwrap();
    let e = app
        .acquire_token_for_client([SCOPE])
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Client);
    assert_eq!(e.code(), codes::INVALID_ASSERTION_FILE);
    let io = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the I/O error is kept");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    assert!(idp.token_requests().is_empty());
}

#[test]
fn aks_environment_without_its_variables_names_them() {
    let e = ConfidentialClientApplication::workload_identity_from([(
        "AZURE_CLIENT_ID",
        "workload-app",
    )])
    .build()
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Client);
    assert_eq!(e.code(), codes::INVALID_CONFIGURATION);
    assert!(
        e.description()
            .contains("AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE"),
        "{}",
        e.description()
    );
}

#[test]
fn aks_environment_defaults_to_the_public_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t");
    let app = ConfidentialClientApplication::workload_identity_from([
        ("AZURE_CLIENT_ID", "workload-app"),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
    ])
    .build()
    .unwrap();
    assert_eq!(app.client_id(), "workload-app");
    assert_eq!(
        app.authority().to_string(),
        format!("https://login.microsoftonline.com/{TENANT}")
    );
}

#[tokio::test]
async fn a_managed_identity_is_the_apps_federated_credential_and_its_token_is_cached() {
    use msal::{ManagedIdentityApplication, ManagedIdentityId};
    let idp = MockIdp::start().await;
    let mi = ManagedIdentityApplication::builder(ManagedIdentityId::ClientId("mi-client".into()))
        .environment(mi::imds_env(&idp))
        .build()
        .unwrap();
    let app = ConfidentialClientApplication::builder("federated-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .managed_identity_assertion(mi)
        .build()
        .unwrap();
    idp.push_mi(common::Answer::json(
        200,
        serde_json::json!({"access_token": "mi-token-for-exchange", "expires_in": "86399",
            "expires_on": "1795560000", "resource": "api://AzureADTokenExchange",
            "token_type": "Bearer"}),
    ));
    idp.push_token(app_token("at-1", SCOPE));
    idp.push_token(app_token("at-2", SCOPE));
    for refresh in [false, true] {
        app.acquire_token_for_client([SCOPE])
            .force_refresh(refresh)
            .send()
            .await
            .unwrap();
    }

    let mi_requests: Vec<_> = idp
        .requests()
        .into_iter()
        .filter(|r| r.path == "/metadata/identity/oauth2/token")
        .collect();
    assert_eq!(mi_requests.len(), 1, "the identity's token is cached");
    let q = mi::query(&mi_requests[0]);
    assert!(
        q.contains(&("resource".into(), "api://AzureADTokenExchange".into())),
        "{q:?}"
    );
    assert!(
        q.contains(&("client_id".into(), "mi-client".into())),
        "{q:?}"
    );
    let tokens = idp.token_requests();
    assert_eq!(tokens.len(), 2);
    for t in &tokens {
        assert_eq!(t.field("client_assertion_type"), Some(JWT_BEARER));
        assert_eq!(t.field("client_assertion"), Some("mi-token-for-exchange"));
        assert_eq!(t.field("client_id"), Some("federated-app"));
    }
}
