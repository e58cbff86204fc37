//! Managed identity and workload identity end to end against the emulator: every source with
//! the environment the emulator prints, the user-assigned selectors, Service Fabric's
//! certificate thumbprint, Arc's challenge, the managed identity fault presets, revocation with
//! claims, a rotating federated token file, and a managed identity as a federated credential.

mod common;
#[path = "support/managed_identity.rs"]
mod mi;

use base64::Engine;
use msal::{
    ConfidentialClientApplication, ErrorKind, ManagedIdentityApplication, ManagedIdentityId,
    ManagedIdentitySource, TokenSource,
};
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultRule, defaults as d};
use serde_json::Value;

const SCOPE: &str = "https://vault.azure.net/.default";
const RESOURCE: &str = "https://vault.azure.net";

async fn start() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The environment each source reads, as `msal emulator` prints it.
fn env(emu: &EmulatorHandle, source: ManagedIdentitySource) -> Vec<(&'static str, String)> {
    let secret = emu.identity_header();
    match source {
        ManagedIdentitySource::ServiceFabric => vec![
            (
                "IDENTITY_ENDPOINT",
                emu.service_fabric_endpoint().to_owned(),
            ),
            ("IDENTITY_HEADER", secret),
            (
                "IDENTITY_SERVER_THUMBPRINT",
                emu.service_fabric_thumbprint().to_owned(),
            ),
        ],
        ManagedIdentitySource::AppService => vec![
            ("IDENTITY_ENDPOINT", emu.app_service_endpoint()),
            ("IDENTITY_HEADER", secret),
        ],
        ManagedIdentitySource::MachineLearning => vec![
            ("MSI_ENDPOINT", emu.azure_ml_endpoint()),
            ("MSI_SECRET", secret),
        ],
        ManagedIdentitySource::CloudShell => vec![("MSI_ENDPOINT", emu.cloud_shell_endpoint())],
        ManagedIdentitySource::AzureArc => vec![
            ("IDENTITY_ENDPOINT", emu.arc_endpoint()),
            ("IMDS_ENDPOINT", emu.base_url_no_slash()),
        ],
        _ => vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.base_url_no_slash())],
    }
}

fn app(
    emu: &EmulatorHandle,
    source: ManagedIdentitySource,
    id: ManagedIdentityId,
) -> ManagedIdentityApplication {
    ManagedIdentityApplication::builder(id)
        .environment(env(emu, source))
        .arc_token_directory(emu.arc_key_dir())
        .retry_policy(mi::fast())
        .build()
        .unwrap()
}

fn requests_to(emu: &EmulatorHandle, path_end: &str) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.path.ends_with(path_end))
        .count()
}

const SOURCES: [(ManagedIdentitySource, &str); 6] = [
    (
        ManagedIdentitySource::ServiceFabric,
        "/msi/service-fabric/token",
    ),
    (ManagedIdentitySource::AppService, "/msi/app-service/token"),
    (
        ManagedIdentitySource::MachineLearning,
        "/msi/azure-ml/token",
    ),
    (ManagedIdentitySource::CloudShell, "/msi/cloud-shell/token"),
    (ManagedIdentitySource::AzureArc, "/msi/arc/token"),
    (
        ManagedIdentitySource::Imds,
        "/metadata/identity/oauth2/token",
    ),
];

#[tokio::test]
async fn every_source_detected_from_the_printed_environment_gives_a_cached_token() {
    let emu = start().await;
    for (source, path) in SOURCES {
        let app = app(&emu, source, ManagedIdentityId::SystemAssigned);
        assert_eq!(app.source(), source);
        let r = mi::bounded(app.acquire_token_for_client(SCOPE).send()).await;
        let r = r.unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(r.source, TokenSource::IdentityProvider);
        assert!(r.account.is_none());
        let c = claims(r.access_token.secret());
        assert_eq!(c["aud"], RESOURCE, "{source}");
        assert_eq!(c["oid"], d::SYSTEM_ASSIGNED_OBJECT_ID, "{source}");
        let sent = requests_to(&emu, path);
        let again = app.acquire_token_for_client(SCOPE).send().await.unwrap();
        assert_eq!(again.source, TokenSource::Cache, "{source}");
        assert_eq!(
            requests_to(&emu, path),
            sent,
            "{source}: no request on a hit"
        );
    }
    // Arc: one challenge (401), then the answer with the key, both on the wire.
    assert_eq!(requests_to(&emu, "/msi/arc/token"), 2);
}

#[tokio::test]
async fn each_user_assigned_selector_reaches_its_identity() {
    let emu = start().await;
    let ids = [
        ManagedIdentityId::ClientId(d::USER_ASSIGNED_CLIENT_ID.into()),
        ManagedIdentityId::ObjectId(d::USER_ASSIGNED_OBJECT_ID.into()),
        ManagedIdentityId::ResourceId(d::USER_ASSIGNED_RESOURCE_ID.into()),
    ];
    for source in [
        ManagedIdentitySource::Imds,
        ManagedIdentitySource::AppService,
        ManagedIdentitySource::AzureArc,
    ] {
        for id in &ids {
            let r = app(&emu, source, id.clone())
                .acquire_token_for_client(SCOPE)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{source} {id:?}: {e}"));
            let c = claims(r.access_token.secret());
            assert_eq!(c["oid"], d::USER_ASSIGNED_OBJECT_ID, "{source} {id:?}");
        }
    }
    // Azure ML takes a client id only.
    let r = app(&emu, ManagedIdentitySource::MachineLearning, ids[0].clone())
        .acquire_token_for_client(SCOPE)
        .send()
        .await
        .unwrap();
    assert_eq!(
        claims(r.access_token.secret())["oid"],
        d::USER_ASSIGNED_OBJECT_ID
    );
    // An identity the platform does not have: a Service error carrying its message.
    let e = app(
        &emu,
        ManagedIdentitySource::Imds,
        ManagedIdentityId::ClientId("00000000-0000-0000-0000-00000000dead".into()),
    )
    .acquire_token_for_client(SCOPE)
    .send()
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Service);
    assert_eq!(e.http_status(), Some(400));
}

#[tokio::test]
async fn service_fabric_refuses_a_certificate_with_another_thumbprint() {
    let emu = start().await;
    let mut vars = env(&emu, ManagedIdentitySource::ServiceFabric);
    vars[2].1 = "00".repeat(20);
    let e = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
        .environment(vars)
        .retry_policy(mi::fast())
        .build()
        .unwrap()
        .acquire_token_for_client(SCOPE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
    assert_eq!(
        requests_to(&emu, "/msi/service-fabric/token"),
        0,
        "no request after the handshake failed"
    );
}

#[tokio::test]
async fn the_managed_identity_presets_are_retried_or_typed() {
    let emu = start().await;
    // IMDS updating: a 410, retried.
    emu.add_fault(FaultRule::preset("imds_updating").unwrap().once());
    let r = app(
        &emu,
        ManagedIdentitySource::Imds,
        ManagedIdentityId::SystemAssigned,
    )
    .acquire_token_for_client(SCOPE)
    .send()
    .await
    .unwrap();
    assert_eq!(r.source, TokenSource::IdentityProvider);
    assert_eq!(requests_to(&emu, "/metadata/identity/oauth2/token"), 2);
    emu.clear_faults();

    let id = emu.add_fault(FaultRule::preset("identity_not_found").unwrap());
    let e = app(
        &emu,
        ManagedIdentitySource::AppService,
        ManagedIdentityId::SystemAssigned,
    )
    .acquire_token_for_client(SCOPE)
    .send()
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Service);
    assert_eq!(e.code(), "managed_identity_request_failed");
    assert_eq!(e.http_status(), Some(400));
    emu.remove_fault(id);

    emu.add_fault(FaultRule::preset("arc_challenge_denied").unwrap());
    let e = app(
        &emu,
        ManagedIdentitySource::AzureArc,
        ManagedIdentityId::SystemAssigned,
    )
    .acquire_token_for_client(SCOPE)
    .send()
    .await
    .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Client | ErrorKind::Service),
        "{e}"
    );
}

#[tokio::test]
async fn claims_revoke_the_cached_token_on_app_service() {
    let emu = start().await;
    let app = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
        .environment(env(&emu, ManagedIdentitySource::AppService))
        .client_capabilities(["cp1"])
        .build()
        .unwrap();
    let first = app.acquire_token_for_client(SCOPE).send().await.unwrap();
    // The platform caches its token: without the hash of the revoked one, the same comes back.
    let claims_json = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
    let fresh = app
        .acquire_token_for_client(SCOPE)
        .with_claims(claims_json)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.source, TokenSource::IdentityProvider);
    assert_ne!(fresh.access_token.secret(), first.access_token.secret());
    let log = emu.requests();
    let last = log
        .iter()
        .rev()
        .find(|r| r.path == "/msi/app-service/token")
        .unwrap();
    let q: Vec<(String, String)> =
        url::form_urlencoded::parse(last.query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let hash = msal_hex_sha256(first.access_token.secret());
    assert!(
        q.contains(&("token_sha256_to_refresh".into(), hash)),
        "{q:?}"
    );
    assert!(q.contains(&("xms_cc".into(), "cp1".into())), "{q:?}");
}

fn msal_hex_sha256(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn workload_identity_with_a_rotating_token_file() {
    let emu = start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("azure-identity-token");
    let rotate = |token: String| {
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, token).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    let sa = |lifetime| {
        emu.service_account_token(
            d::SERVICE_ACCOUNT_SUBJECT,
            d::TOKEN_EXCHANGE_AUDIENCE,
            lifetime,
        )
        .unwrap()
    };
    rotate(sa(3600));
    let app = ConfidentialClientApplication::workload_identity_from([
        ("AZURE_CLIENT_ID", d::WORKLOAD_CLIENT_ID.to_owned()),
        ("AZURE_TENANT_ID", d::TENANT_ID.to_owned()),
        ("AZURE_AUTHORITY_HOST", emu.base_url_no_slash()),
        ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
    ])
    .allow_insecure_loopback(true)
    .build()
    .unwrap();
    let r = app
        .acquire_token_for_client([d::GRAPH_DEFAULT])
        .send()
        .await
        .unwrap();
    assert_eq!(
        claims(r.access_token.secret())["azp"],
        d::WORKLOAD_CLIENT_ID
    );

    // The kubelet rotates the file to an expired token: the next request sends it, and the
    // emulator refuses it as Entra does (AADSTS700024); a fresh one works again.
    rotate(sa(-3600));
    let e = app
        .acquire_token_for_client([d::GRAPH_DEFAULT])
        .force_refresh(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_client");
    assert!(e.aadsts_codes().contains(&700024), "{:?}", e.aadsts_codes());
    rotate(sa(3600));
    app.acquire_token_for_client([d::GRAPH_DEFAULT])
        .force_refresh(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_user_assigned_identity_is_the_workload_apps_federated_credential() {
    let emu = start().await;
    let identity = app(
        &emu,
        ManagedIdentitySource::Imds,
        ManagedIdentityId::ClientId(d::USER_ASSIGNED_CLIENT_ID.into()),
    );
    let app = ConfidentialClientApplication::builder(d::WORKLOAD_CLIENT_ID)
        .authority(emu.authority(d::TENANT_ID))
        .allow_insecure_loopback(true)
        .managed_identity_assertion(identity)
        .build()
        .unwrap();
    for scope in [d::GRAPH_DEFAULT, "api://msal-emulator-api/.default"] {
        let r = app.acquire_token_for_client([scope]).send().await.unwrap();
        assert_eq!(
            claims(r.access_token.secret())["azp"],
            d::WORKLOAD_CLIENT_ID
        );
    }
    assert_eq!(
        requests_to(&emu, "/metadata/identity/oauth2/token"),
        1,
        "the identity's exchange token is cached"
    );
}
