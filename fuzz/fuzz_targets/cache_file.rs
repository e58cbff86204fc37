//! A cache file loads or is reported corrupt; what loads serializes to a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use msal::TokenCache;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cache = TokenCache::new();
    if cache.deserialize(text).is_ok() {
        let once = cache.serialize();
        let again = TokenCache::new();
        again.deserialize(&once).expect("our own output reads back");
        assert_eq!(again.serialize(), once, "serialization is a fixed point");
    }
});
