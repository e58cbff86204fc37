//! Extra query parameters (`dc=...`, `slice=...`) on every request to the identity provider:
//! appended to the query of the token endpoint, the device code endpoint and the authorize
//! URL, never to the form; the app's and the request's, the request's winning on a name;
//! parameters the library sets itself refused.

mod common;

use std::time::Duration;

use common::{Answer, MockIdp, app_token, user_token};
use msal::{ConfidentialClientApplication, ErrorKind, PublicClientApplication};
use msal_emulator::{Emulator, EmulatorConfig, defaults};
use serde_json::json;
use tokio::time::timeout;

const SCOPE: &str = "https://graph.microsoft.com/User.Read";
const LIMIT: Duration = Duration::from_secs(30);

fn daemon(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("daemon")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s3cret")
        .extra_query_parameters([("slice", "app-slice"), ("dc", "app-dc")])
        .build()
        .unwrap()
}

fn public(idp: &MockIdp) -> PublicClientApplication {
    PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .extra_query_parameters([("slice", "testslice")])
        .build()
        .unwrap()
}

fn device_code_answer() -> Answer {
    Answer::json(
        200,
        json!({
            "device_code": "DC-secret", "user_code": "ABCD1234",
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900, "interval": 1, "message": "enter ABCD1234",
        }),
    )
}

#[tokio::test]
async fn client_credentials_sends_the_apps_and_the_requests_parameters_in_the_token_query() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", "https://graph.microsoft.com/.default"));
    let app = daemon(&idp);
    timeout(
        LIMIT,
        app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
            .with_extra_query_parameters([("DC", "ESTS-PUB-WUS2-AZ1-FD000-TEST1"), ("x", "a b")])
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let t = idp.token_requests();
    assert_eq!(t.len(), 1);
    // The app's `dc` is replaced by the request's `DC`; the space is form-encoded.
    assert_eq!(
        t[0].query,
        "slice=app-slice&DC=ESTS-PUB-WUS2-AZ1-FD000-TEST1&x=a+b"
    );
    assert_eq!(
        t[0].field_names(),
        ["client_id", "client_secret", "grant_type", "scope"],
        "nothing extra in the form"
    );
}

#[tokio::test]
async fn device_code_sends_them_to_both_endpoints_and_silent_refresh_to_the_token_endpoint() {
    let idp = MockIdp::start().await;
    let app = public(&idp);
    idp.push_devicecode(device_code_answer());
    idp.push_token(user_token(
        "at-1",
        "rt-1",
        "User.Read openid profile offline_access",
    ));
    let r = timeout(
        LIMIT,
        app.acquire_token_by_device_code([SCOPE])
            .with_extra_query_parameters([("dc", "dc-1")])
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let reqs = idp.requests();
    let code = reqs
        .iter()
        .find(|r| r.path.ends_with("/oauth2/v2.0/devicecode"))
        .unwrap();
    assert_eq!(code.query, "slice=testslice&dc=dc-1");
    assert!(code.field("dc").is_none() && code.field("slice").is_none());
    let polls = idp.token_requests();
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0].query, "slice=testslice&dc=dc-1");

    idp.push_token(user_token(
        "at-2",
        "rt-2",
        "User.Read openid profile offline_access",
    ));
    let account = r.account.unwrap();
    timeout(
        LIMIT,
        app.acquire_token_silent([SCOPE], &account)
            .force_refresh(true)
            .with_extra_query_parameters([("slice", "other"), ("dc", "dc-2")])
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let t = idp.token_requests();
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].field("grant_type"), Some("refresh_token"));
    assert_eq!(t[1].query, "slice=other&dc=dc-2");
}

#[tokio::test]
async fn the_authorize_url_of_a_web_apps_sign_in_carries_them() {
    let idp = MockIdp::start().await;
    let app = daemon(&idp);
    let flow = timeout(
        LIMIT,
        app.initiate_auth_code_flow(["User.Read"], "https://app.example/cb")
            .with_extra_query_parameters([("dc", "req-dc"), ("msafed", "0")])
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let url = url::Url::parse(flow.auth_uri()).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    // The library's own parameters first, then the app's (less the one replaced), then the
    // request's.
    let tail = &pairs[pairs.len() - 3..];
    assert_eq!(
        tail,
        [
            ("slice".to_owned(), "app-slice".to_owned()),
            ("dc".to_owned(), "req-dc".to_owned()),
            ("msafed".to_owned(), "0".to_owned()),
        ]
    );
    assert_eq!(names.iter().filter(|n| **n == "dc").count(), 1, "{names:?}");
    assert!(names.contains(&"client_id") && names.contains(&"state"));
}

#[tokio::test]
async fn parameters_the_library_sets_itself_are_refused_before_anything_is_sent() {
    let idp = MockIdp::start().await;
    let app = daemon(&idp);
    for name in [
        "client_id",
        "grant_type",
        "Client_Secret",
        "claims",
        "redirect_uri",
    ] {
        let e = timeout(
            LIMIT,
            app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
                .with_extra_query_parameters([(name, "x")])
                .send(),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Client, "{name}");
        assert_eq!(e.code(), "invalid_argument", "{name}");
    }
    let e = timeout(
        LIMIT,
        app.initiate_auth_code_flow(["User.Read"], "https://app.example/cb")
            .with_extra_query_parameters([("state", "forged")])
            .send(),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(e.code(), "invalid_argument");
    assert!(idp.token_requests().is_empty());
    let e = ConfidentialClientApplication::builder("daemon")
        .client_secret("s")
        .extra_query_parameters([("refresh_token", "x")])
        .build()
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        (ErrorKind::Client, "invalid_argument")
    );
}

/// The emulator, like Entra, ignores query parameters it does not know.
#[tokio::test]
async fn the_emulator_accepts_and_ignores_unknown_query_parameters() {
    let emu = Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap();
    let app = ConfidentialClientApplication::builder(defaults::CONFIDENTIAL_CLIENT_ID)
        .authority(emu.authority(defaults::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_secret(defaults::CLIENT_SECRET)
        .extra_query_parameters([("slice", "testslice")])
        .build()
        .unwrap();
    let r = timeout(
        LIMIT,
        app.acquire_token_for_client(["https://graph.microsoft.com/.default"])
            .with_extra_query_parameters([("dc", "ESTS-PUB-WUS2-AZ1-FD000-TEST1")])
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!r.access_token.secret().is_empty());
    let token_requests: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .collect();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(
        token_requests[0].query.as_deref(),
        Some("slice=testslice&dc=ESTS-PUB-WUS2-AZ1-FD000-TEST1")
    );
    assert_eq!(token_requests[0].status, 200);
}
