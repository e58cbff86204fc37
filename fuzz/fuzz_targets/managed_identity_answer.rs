//! Any answer of a managed identity endpoint (status, Retry-After, body: `expires_on` and
//! `expires_in` as numbers, strings or dates, each source's error shapes) on any of four
//! sources is a token that is not already expired and lives at most a year, or a typed error
//! with a code and the correlation id. Never a panic.
#![no_main]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use msal::{ErrorKind, ManagedIdentityApplication, ManagedIdentityId, ManagedIdentityRetryPolicy};
use msal_fuzz::{HostileIdp, runtime};

const YEAR: i64 = 365 * 24 * 3600;

fn now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

fuzz_target!(|data: &[u8]| {
    let Some((&source, rest)) = data.split_first() else {
        return;
    };
    let env: &[(&str, &str)] = match source % 4 {
        0 => &[(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            "http://169.254.169.254",
        )],
        1 => &[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:41/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ],
        2 => &[
            ("MSI_ENDPOINT", "http://127.0.0.1:41/msi/token"),
            ("MSI_SECRET", "s"),
        ],
        _ => &[("MSI_ENDPOINT", "http://127.0.0.1:41/msi/token")],
    };
    let app = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned)
        .environment(env.iter().copied())
        .http_client(Arc::new(HostileIdp::from_bytes(rest)))
        .retry_policy(ManagedIdentityRetryPolicy::none())
        .build()
        .expect("a valid configuration");
    let before = now();
    let answer = runtime().block_on(
        app.acquire_token_for_client("https://vault.azure.net/.default")
            .send(),
    );
    let after = now();
    match answer {
        Ok(r) => {
            assert!(!r.access_token.secret().is_empty());
            let expires_on = r.expires_on.unix_timestamp();
            assert!(expires_on > before, "already expired: {expires_on}");
            assert!(
                expires_on <= after + YEAR + 1,
                "beyond the cap: {expires_on}"
            );
            if let Some(refresh) = r.refresh_on.map(|t| t.unix_timestamp()) {
                assert!(refresh <= expires_on);
            }
            let json = app.token_cache().serialize();
            msal::TokenCache::new()
                .deserialize(&json)
                .expect("our own cache reads back");
        }
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Service | ErrorKind::Client),
                "{e}"
            );
            assert!(!e.code().is_empty());
            assert!(e.correlation_id().is_some(), "{e}");
            let _ = e.to_string();
        }
    }
});
