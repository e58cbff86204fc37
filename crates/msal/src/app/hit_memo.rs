//! A cache hit remembered per request identity, so that the same request asked again in the
//! same second is answered without reading the cache.
//!
//! A hit for an app token is fully determined by the request's identity (the app, the tenant,
//! the scope list: bearer, no on-behalf-of partition), the cache's contents and the current
//! second (a token is served while it has between five minutes and the longest lifetime any
//! server gives left). So once the cache has answered, the answer holds while the cache's
//! [`generation`](crate::cache::TokenCache::generation) (which every write moves on) and the
//! second are the same. Each tenant entry of an app keeps the last answer per interned scope
//! list: a hit then reads the tenant entry it already holds, one slot and the token's shared
//! parts, and checks nothing against the cache's text (the cache checked it, once).
//!
//! Why not in the cache: the cache is keyed by strings (what MSAL's schema compares); the
//! request's identity as the app resolved it (a tenant entry, an interned scope list) is the
//! app's, and an exact key: no hash to verify.
//!
//! The slot holds the token weakly: a token the cache dropped is not kept alive (nor its
//! secret unzeroed) by a remembered hit.

use std::sync::{Arc, PoisonError, RwLock, Weak};

use time::OffsetDateTime;

use crate::cache::CachedAccessToken;
use crate::clock::from_unix;
use crate::secret::TokenParts;

/// Scope lists interned at an index below this are remembered: a service asks for a few
/// scope lists per tenant, and the slots of a tenant stay few and small.
pub(crate) const MEMO_SCOPE_LISTS: usize = 16;

/// The last hit per interned scope list of one tenant's app tokens.
#[derive(Debug, Default)]
pub(crate) struct HitMemo {
    slots: RwLock<Vec<Option<Slot>>>,
}

/// One remembered hit: when it was read, and the token's times, converted to dates once (a
/// conversion costs some fifty instructions, three a hit). One cache line each (64 bytes,
/// aligned to 64 so that a hit reads one line): a tenant keeps one per scope list it was asked
/// for.
#[derive(Debug)]
#[repr(align(64))]
struct Slot {
    parts: Weak<TokenParts>,
    /// The second it was read in, cut to 32 bits (so that the slot fits a line): two seconds
    /// that differ only above that are 136 years apart.
    second: u32,
    /// The cache's generation, cut to 32 bits: a slot is used only in the second it was
    /// read in, and no cache is written 2^32 times in a second.
    generation: u32,
    expires_on: OffsetDateTime,
    extended_expires_on: Option<OffsetDateTime>,
    refresh_on: Option<OffsetDateTime>,
}

/// A remembered hit, as the result is built from it.
pub(crate) struct MemoHit {
    pub parts: Arc<TokenParts>,
    pub expires_on: OffsetDateTime,
    pub extended_expires_on: Option<OffsetDateTime>,
    pub refresh_on: Option<OffsetDateTime>,
}

impl HitMemo {
    /// The hit remembered for the scope list at `index`, if it was read at `generation` in
    /// second `now` and its token is still held by someone (the cache, when the generation is
    /// the same).
    pub(crate) fn get(&self, index: usize, generation: u64, now: i64) -> Option<MemoHit> {
        let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
        let slot = slots.get(index)?.as_ref()?;
        if slot.generation != generation as u32 || slot.second != now as u32 {
            return None;
        }
        Some(MemoHit {
            parts: slot.parts.upgrade()?,
            expires_on: slot.expires_on,
            extended_expires_on: slot.extended_expires_on,
            refresh_on: slot.refresh_on,
        })
    }

    /// Remembers the cache's answer `at` for the scope list at `index`, read after the cache's
    /// generation was `generation`, in second `now`.
    pub(crate) fn remember(&self, index: usize, generation: u64, now: i64, at: &CachedAccessToken) {
        let Some(parts) = at.secret.shared_parts() else {
            return;
        };
        // A token past `refresh_on` is not remembered: the pipeline starts its background
        // refresh. A slot is used only in the second it was read in, so a remembered hit is
        // never past it.
        if index >= MEMO_SCOPE_LISTS || at.refresh_on.is_some_and(|r| r <= now) {
            return;
        }
        let slot = Slot {
            parts: Arc::downgrade(parts),
            second: now as u32,
            generation: generation as u32,
            expires_on: from_unix(at.expires_on),
            extended_expires_on: at.extended_expires_on.map(from_unix),
            refresh_on: at.refresh_on.map(from_unix),
        };
        let mut slots = self.slots.write().unwrap_or_else(PoisonError::into_inner);
        if slots.len() <= index {
            // Exactly: a tenant's slots are never many, and stay for the tenant's life.
            let more = index + 1 - slots.len();
            slots.reserve_exact(more);
            slots.resize_with(index + 1, || None);
        }
        slots[index] = Some(slot);
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::result::{Scopes, SharedStr};
    use crate::secret::AccessToken;

    fn token(parts: &Arc<TokenParts>) -> CachedAccessToken {
        CachedAccessToken {
            secret: AccessToken::cached(Arc::clone(parts)),
            token_type: SharedStr::from_static("Bearer"),
            expires_on: 10_000,
            extended_expires_on: None,
            refresh_on: Some(9_000),
            scopes: Scopes::of(parts),
            realm: SharedStr::realm_of(parts),
            home_account_id: None,
        }
    }

    fn parts() -> Arc<TokenParts> {
        Arc::new(TokenParts {
            secret: SecretString::from("at".to_owned()),
            realm: "t".into(),
            scopes: vec!["s".to_owned()].into(),
            token_type: None,
        })
    }

    #[test]
    fn a_hit_is_remembered_for_its_generation_and_second_only() {
        let memo = HitMemo::default();
        let p = parts();
        memo.remember(3, 7, 100, &token(&p));
        let hit = memo.get(3, 7, 100).expect("remembered");
        assert!(Arc::ptr_eq(&hit.parts, &p));
        assert_eq!(hit.refresh_on.map(|r| r.unix_timestamp()), Some(9_000));
        assert_eq!(hit.expires_on.unix_timestamp(), 10_000);
        assert!(memo.get(3, 8, 100).is_none(), "the cache was written since");
        assert!(memo.get(3, 7, 101).is_none(), "the clock moved on");
        assert!(memo.get(2, 7, 100).is_none(), "another scope list");
        assert!(memo.get(40, 7, 100).is_none());
    }

    #[test]
    fn a_token_past_refresh_on_is_not_remembered() {
        let memo = HitMemo::default();
        let p = parts();
        memo.remember(0, 1, 9_000, &token(&p));
        assert!(memo.get(0, 1, 9_000).is_none(), "refresh_on has come");
        memo.remember(0, 1, 8_999, &token(&p));
        assert!(memo.get(0, 1, 8_999).is_some());
    }

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
    }

    #[test]
    fn a_token_dropped_by_every_holder_is_not_kept_alive() {
        let memo = HitMemo::default();
        let p = parts();
        memo.remember(0, 1, 100, &token(&p));
        drop(p);
        assert!(memo.get(0, 1, 100).is_none());
    }

    #[test]
    fn scope_lists_past_the_bound_are_not_remembered() {
        let memo = HitMemo::default();
        let p = parts();
        memo.remember(MEMO_SCOPE_LISTS, 1, 100, &token(&p));
        assert!(memo.get(MEMO_SCOPE_LISTS, 1, 100).is_none());
        assert!(memo.slots.read().unwrap().is_empty());
    }
}
