//! Any `WWW-Authenticate` value parses into challenges or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(challenges) = msal::claims::parse_www_authenticate(value) {
        for c in &challenges {
            let _ = (c.param("claims"), c.token68(), c.is_scheme("Bearer"));
        }
    }
    let _ = msal::claims::claims_challenge_from_header(value);
});
