//! Any numbers in a device code answer (`expires_in`, `interval`), any `slow_down`s, and any
//! token answer (`expires_in`, `ext_expires_in`, `refresh_in`): the flow ends within the code's
//! capped life (an hour) with a token whose lifetimes are capped and not already over, or with
//! a typed error. Never a panic or a hang.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use msal::ErrorKind;
use msal_fuzz::{HostileDeviceFlow, public_app, virtual_time_runtime};

/// The longest a device code is waited for.
const HOUR: Duration = Duration::from_secs(3600);
/// The longest lifetime taken from a server, in seconds.
const YEAR: i64 = 365 * 24 * 3600;

/// The Unix time, in whole seconds.
fn now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

fuzz_target!(|data: &[u8]| {
    let app = public_app(HostileDeviceFlow::from_bytes(data));
    let before = now();
    let (answer, waited) = virtual_time_runtime().block_on(async {
        let started = tokio::time::Instant::now();
        let answer = app
            .acquire_token_by_device_code(["https://graph.microsoft.com/User.Read"])
            .send()
            .await;
        (answer, started.elapsed())
    });
    let after = now();
    assert!(waited <= HOUR, "waited {waited:?}");
    match answer {
        Ok(r) => {
            let expires_on = r.expires_on.unix_timestamp();
            assert!(expires_on > before, "already expired: {expires_on}");
            assert!(expires_on <= after + YEAR, "beyond the cap: {expires_on}");
            if let Some(ext) = r.extended_expires_on.map(|t| t.unix_timestamp()) {
                assert!(ext >= expires_on && ext <= after + YEAR);
            }
            if let Some(refresh) = r.refresh_on.map(|t| t.unix_timestamp()) {
                assert!(refresh <= expires_on);
            }
            let json = app.token_cache().serialize();
            msal::TokenCache::new()
                .deserialize(&json)
                .expect("our own cache reads back");
        }
        Err(e) => {
            // Declined is Cancelled; an id token or client_info that is not one is a Service
            // error like any other bad answer.
            assert!(matches!(
                e.kind(),
                ErrorKind::Service | ErrorKind::UiRequired | ErrorKind::Cancelled
            ));
            assert!(!e.code().is_empty());
            assert!(e.correlation_id().is_some(), "{e}");
            let _ = e.to_string();
        }
    }
});
