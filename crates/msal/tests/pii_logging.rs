//! The PII switch: the library's `tracing` events show user names, account ids and tenants
//! only when the app turns PII logging on; tokens, secrets and passwords never.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Answer, MockIdp, TENANT, UID, user_token};
use msal::PublicClientApplication;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;

const USER: &str = "alice@contoso.onmicrosoft.com";
const PASSWORD: &str = "P4ssw0rd-never-logged";
const GRANTED: &str = "User.Read openid profile offline_access";

/// A writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn managed() -> Answer {
    Answer::json(
        200,
        json!({"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.onmicrosoft.com",
               "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}),
    )
}

/// The library's log of a username/password sign-in, then a forced silent refresh, with
/// the app's PII switch `pii`.
async fn log_of_a_sign_in(pii: bool) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        // The library's events only, every level.
        .with(
            tracing_subscriber::filter::Targets::new().with_target("msal", tracing::Level::TRACE),
        );
    // The test runtime is single-threaded: every event of the flow is on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let idp = MockIdp::start().await;
    let app = PublicClientApplication::builder("public-client")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .enable_pii_logging(pii)
        .build()
        .unwrap();
    idp.push_realm(managed());
    idp.push_token(user_token(
        "ropc-access-token",
        "ropc-refresh-token",
        GRANTED,
    ));
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        app.acquire_token_by_username_password(["User.Read"], USER, PASSWORD)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    let account = r.account.unwrap();
    idp.push_token(user_token(
        "silent-access-token",
        "silent-refresh-token",
        GRANTED,
    ));
    tokio::time::timeout(
        Duration::from_secs(30),
        app.acquire_token_silent(["User.Read"], &account)
            .force_refresh(true)
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    drop(_guard);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("username/password: requesting a token"),
        "{log}"
    );
    assert!(log.contains("token response saved in the cache"), "{log}");
    // Never, PII or not: tokens, the password, the id token.
    for secret in [
        "ropc-access-token",
        "ropc-refresh-token",
        "silent-access-token",
        "silent-refresh-token",
        PASSWORD,
        "eyJ",
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    log
}

#[tokio::test]
async fn without_pii_logging_no_user_account_or_tenant_is_logged() {
    let log = log_of_a_sign_in(false).await;
    for pii in [USER, "alice", UID, TENANT, &format!("{UID}.{TENANT}")] {
        assert!(!log.contains(pii), "{pii} in the log:\n{log}");
    }
    // Redacted, not dropped: the marker stands for the values.
    assert!(log.contains("username=[pii:"), "{log}");
    assert!(log.contains("home_account_id=[pii:"), "{log}");
}

#[tokio::test]
async fn with_pii_logging_the_user_and_tenant_are_logged() {
    let log = log_of_a_sign_in(true).await;
    assert!(log.contains(&format!("username={USER}")), "{log}");
    assert!(
        log.contains(&format!("home_account_id={UID}.{TENANT}")),
        "{log}"
    );
    assert!(log.contains(TENANT), "{log}");
}
