//! An error body parses into an `Error` with its code, or is refused; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(body) = msal::error::OAuthErrorResponse::parse(data) {
        assert!(!body.error.is_empty());
        let e = msal::Error::from_oauth_error(body);
        assert!(!e.code().is_empty());
        let _ = (e.to_string(), e.classification(), e.aadsts_codes());
    }
});
