//! The apps as the Azure SDK's `TokenCredential`, driven by azure_core's own bearer-token
//! policy in an azure_core pipeline that calls the emulator's protected API over HTTPS.

use std::error::Error as _;
use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, Request, Transport, Url};
use msal::error::codes;
use msal::{ConfidentialClientApplication, ErrorKind, PublicClientApplication};
use msal_emulator::defaults as d;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::Value;

struct Tls {
    emu: EmulatorHandle,
    ca: tempfile::TempDir,
}

impl Tls {
    async fn start() -> Tls {
        let ca = tempfile::tempdir().unwrap();
        let emu = Emulator::start_tls(
            EmulatorConfig::default_directory(),
            0,
            &ca.path().join("ca.pem"),
        )
        .await
        .unwrap();
        Tls { emu, ca }
    }

    fn ca_file(&self) -> std::path::PathBuf {
        self.ca.path().join("ca.pem")
    }

    fn token_requests(&self) -> usize {
        self.emu
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
            .count()
    }
}

/// An azure_core pipeline whose only policy of ours is azure_core's bearer-token policy, over
/// reqwest trusting the emulator's CA.
fn pipeline(credential: Arc<dyn TokenCredential>, scope: &str, ca: &Path) -> Pipeline {
    let pem = std::fs::read(ca).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http))),
        ..Default::default()
    };
    let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(credential, [scope]));
    Pipeline::new(None, None, options, vec![auth], Vec::new(), None)
}

async fn get_me(p: &Pipeline, emu: &EmulatorHandle) -> (u16, Value) {
    let url = Url::parse(&format!("{}api/me", emu.base_url())).unwrap();
    let mut req = Request::new(url, Method::Get);
    let r = p.send(&Context::new(), &mut req, None).await;
    let r = match r {
        Ok(r) => r,
        Err(e) => panic!("the pipeline failed: {e:?}"),
    };
    let status = u16::from(r.status());
    let body: Value = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn a_confidential_client_is_the_sdks_credential_and_serves_it_from_the_cache() {
    let tls = Tls::start().await;
    let app = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
        .authority(tls.emu.authority(d::TENANT_ID))
        .client_secret(d::CLIENT_SECRET)
        .ca_file(tls.ca_file())
        .build()
        .unwrap();
    let credential: Arc<dyn TokenCredential> = Arc::new(app);
    let p = pipeline(credential.clone(), d::GRAPH_DEFAULT, &tls.ca_file());

    let (status, me) = get_me(&p, &tls.emu).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["appId"], d::CONFIDENTIAL_CLIENT_ID);
    assert_eq!(me["audience"], d::GRAPH_RESOURCE);
    assert_eq!(tls.token_requests(), 1);

    // A second pipeline (the SDK makes one per client) costs no token request: the cache.
    let p2 = pipeline(credential.clone(), d::GRAPH_DEFAULT, &tls.ca_file());
    let (status, _) = get_me(&p2, &tls.emu).await;
    assert_eq!(status, 200);
    let t = credential
        .get_token(&[d::GRAPH_DEFAULT], None)
        .await
        .unwrap();
    assert!(t.expires_on > time::OffsetDateTime::now_utc());
    assert_eq!(tls.token_requests(), 1, "served from msal's cache");
}

#[tokio::test]
async fn a_failure_is_a_credential_error_holding_the_msal_error() {
    let tls = Tls::start().await;
    let app = ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
        .authority(tls.emu.authority(d::TENANT_ID))
        .client_secret("not-the-secret")
        .ca_file(tls.ca_file())
        .build()
        .unwrap();
    let e = app.get_token(&[d::GRAPH_DEFAULT], None).await.unwrap_err();
    assert_eq!(*e.kind(), azure_core::error::ErrorKind::Credential);
    let msal = e
        .source()
        .and_then(|s| s.downcast_ref::<msal::Error>())
        .expect("the msal::Error is the source");
    assert_eq!(msal.kind(), ErrorKind::Service);
    assert_eq!(msal.code(), "invalid_client");
    assert!(
        msal.aadsts_codes().contains(&7000215),
        "{:?}",
        msal.aadsts_codes()
    );

    // Through the pipeline too: the request fails before it is sent, with the same chain.
    let p = pipeline(Arc::new(app), d::GRAPH_DEFAULT, &tls.ca_file());
    let url = Url::parse(&format!("{}api/me", tls.emu.base_url())).unwrap();
    let e = p
        .send(&Context::new(), &mut Request::new(url, Method::Get), None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), azure_core::error::ErrorKind::Credential);
    assert!(tls.emu.requests().iter().all(|r| r.path != "/api/me"));
}

#[tokio::test]
async fn a_signed_in_account_is_a_credential_through_silent_acquisition() {
    let tls = Tls::start().await;
    let app = PublicClientApplication::builder(d::PUBLIC_CLIENT_ID)
        .authority(tls.emu.authority(d::TENANT_ID))
        .ca_file(tls.ca_file())
        .build()
        .unwrap();
    let signed_in = app
        .acquire_token_by_username_password(
            [d::GRAPH_USER_READ],
            d::USER_USERNAME,
            d::USER_PASSWORD,
        )
        .send()
        .await
        .unwrap();
    let account = signed_in.account.clone().unwrap();
    let before = tls.token_requests();
    let p = pipeline(
        Arc::new(app.token_credential(account)),
        d::GRAPH_USER_READ,
        &tls.ca_file(),
    );
    let (status, me) = get_me(&p, &tls.emu).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["userPrincipalName"], d::USER_USERNAME);
    assert_eq!(
        tls.token_requests(),
        before,
        "the signed-in user's token, from the cache"
    );
}

#[tokio::test]
async fn a_managed_identity_takes_exactly_one_scope() {
    let app = msal::ManagedIdentityApplication::builder(msal::ManagedIdentityId::SystemAssigned)
        .environment([("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:9")])
        .build()
        .unwrap();
    let e = app
        .get_token(&["a/.default", "b/.default"], None)
        .await
        .unwrap_err();
    assert_eq!(*e.kind(), azure_core::error::ErrorKind::Credential);
    let msal = e
        .source()
        .and_then(|s| s.downcast_ref::<msal::Error>())
        .unwrap();
    assert_eq!(msal.code(), codes::INVALID_ARGUMENT);
}
