//! Any answer of the token endpoint (status, Retry-After, body) is a token or a typed error
//! that carries a code and the correlation id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msal::ErrorKind;
use msal_fuzz::{HostileIdp, app, runtime};

fuzz_target!(|data: &[u8]| {
    let app = app(HostileIdp::from_bytes(data));
    let answer = runtime().block_on(app.acquire_token_for_client(["api://x/.default"]).send());
    match answer {
        Ok(r) => {
            assert!(!r.access_token.secret().is_empty());
            // What was cached serializes and reads back.
            let json = app.token_cache().serialize();
            msal::TokenCache::new()
                .deserialize(&json)
                .expect("our own cache reads back");
        }
        Err(e) => {
            assert!(matches!(
                e.kind(),
                ErrorKind::Service | ErrorKind::UiRequired
            ));
            assert!(!e.code().is_empty());
            assert!(e.correlation_id().is_some());
            let _ = e.to_string();
        }
    }
});
