//! Any authority string is an `Authority` or a `Client` error raised before any request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msal::authority::{Authority, AuthorityOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let options = AuthorityOptions {
        allow_insecure_loopback: data.len().is_multiple_of(2),
    };
    for parsed in [
        Authority::parse(input, &options),
        Authority::parse_oidc(input, &options),
    ] {
        match parsed {
            Ok(a) => {
                let _ = format!("{a:?}");
            }
            Err(e) => assert_eq!(e.kind(), msal::ErrorKind::Client),
        }
    }
});
