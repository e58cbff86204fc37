//! Hashes the library keys things by instead of the secrets themselves (a refresh token, a
//! password): a bottom module, so the flows that share a hash do not import each other for it.

use sha2::{Digest, Sha256};

/// The SHA-256 of `s`, as lower-case hex.
pub(crate) fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_sha256_is_the_lower_case_hex_digest() {
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            super::hex_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
