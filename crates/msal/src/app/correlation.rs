//! Correlation ids: a caller's, or a fresh version 4 UUID.
//!
//! Every call makes one, cache hits included, so making one is on the hit path: the UUID's
//! sixteen random bytes come from the thread's fast generator (a correlation id must be unique,
//! not secret: it is sent in headers and logged), and are written as text with a table of
//! two-digit pairs, a third of the instructions of `uuid`'s general formatter.

/// The lowercase hex digits of each byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    table
};

/// Where each of the sixteen bytes goes in the hyphenated text (8-4-4-4-12 digits).
const POSITIONS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/// A fresh correlation id, unless the caller gave one.
pub(crate) fn correlation_id(given: Option<&str>) -> String {
    match given {
        Some(id) => id.to_owned(),
        None => uuid_v4_text(fastrand::u128(..).to_le_bytes()),
    }
}

/// The hyphenated lowercase text of the version 4 (random, RFC 9562 variant) UUID of `random`.
fn uuid_v4_text(mut random: [u8; 16]) -> String {
    random[6] = (random[6] & 0x0f) | 0x40;
    random[8] = (random[8] & 0x3f) | 0x80;
    let mut text = [b'-'; 36];
    for (byte, at) in random.iter().zip(POSITIONS) {
        text[at..at + 2].copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
    }
    // Every byte is an ASCII hex digit or a hyphen, so the check passes (on its fast path for
    // ASCII: `from_utf8_lossy` would cost more than the formatting).
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_id_is_a_version_4_uuid_in_lowercase_hyphenated_text() {
        for _ in 0..1_000 {
            let id = correlation_id(None);
            let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 4);
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(parsed.hyphenated().to_string(), id, "lowercase, hyphenated");
        }
        assert_ne!(correlation_id(None), correlation_id(None));
    }

    #[test]
    fn the_text_is_the_bytes_in_order() {
        let bytes: [u8; 16] = std::array::from_fn(|i| (i as u8) * 17);
        let expected = uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string();
        assert_eq!(uuid_v4_text(bytes), expected);
    }

    #[test]
    fn a_given_id_is_kept() {
        assert_eq!(correlation_id(Some("my-id")), "my-id");
    }
}
