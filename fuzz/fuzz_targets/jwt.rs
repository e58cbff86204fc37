//! Any string decodes as a JWT's header and payload or is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(jwt) = std::str::from_utf8(data) else {
        return;
    };
    let _ = msal::oauth::decode_jwt_header(jwt);
    let _ = msal::oauth::decode_jwt_payload(jwt);
});
