//! The key of a resolved tenant in an application's map of tenants: the tenant's name, inline.
//!
//! A multi-tenant daemon looks a tenant up on every call, cache hits included; with the name
//! inline in the map's bucket, the lookup reads no allocation of its own (a `String` key
//! would cost one more cache line per call among many tenants). Tenant ids are 36 bytes;
//! longer names (domains) are boxed.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Names up to this long are stored inline.
const INLINE: usize = 46;

/// A tenant's name (or `/`, the app's own), compared and hashed as its bytes; the map is
/// looked up by `name.as_bytes()`.
#[derive(Clone)]
pub(crate) enum TenantKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Long(Box<[u8]>),
}

impl TenantKey {
    /// The key of `name`.
    pub(crate) fn new(name: &str) -> Self {
        let b = name.as_bytes();
        if b.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..b.len()].copy_from_slice(b);
            TenantKey::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            TenantKey::Long(b.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            TenantKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            TenantKey::Long(b) => b,
        }
    }
}

// Equality and hashing are the bytes', as `Borrow<[u8]>` requires.
impl PartialEq for TenantKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for TenantKey {}

impl Hash for TenantKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Borrow<[u8]> for TenantKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn short_and_long_names_are_found_by_their_bytes() {
        let long = "a".repeat(INLINE + 1);
        let names = [
            "/",
            "tenant0",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            &long,
        ];
        let mut map = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            map.insert(TenantKey::new(n), i);
        }
        for (i, n) in names.iter().enumerate() {
            assert_eq!(map.get(n.as_bytes()), Some(&i), "{n}");
        }
        assert!(matches!(TenantKey::new(&long), TenantKey::Long(_)));
        assert!(matches!(
            TenantKey::new(&long[..INLINE]),
            TenantKey::Inline { .. }
        ));
        assert_eq!(map.get(&b"tenant"[..]), None);
        assert_eq!(map.get(&long.as_bytes()[..INLINE]), None);
        assert_eq!(format!("{:?}", TenantKey::new("t")), "\"t\"");
    }
}
