//! The scopes of a request, normalised once: the list, what the cache lookup needs of it (its
//! Bloom filter, Microsoft Graph's short forms), shared by reference count. An application
//! interns the scope lists its callers ask for most, so a request for scopes asked for before
//! (the hot path of a service) normalises, allocates and hashes nothing but the lookup itself.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::ops::Deref;
use std::sync::{Arc, RwLock};

use foldhash::fast::RandomState;

use crate::cache::request_bloom;
use crate::error::{Error, codes};
use crate::oauth::join_scopes;
use crate::result::Scopes;

/// The normalised scopes of a request (see [`super::normalize_scopes`]). Cheap to clone;
/// derefs to the list.
#[derive(Debug, Clone)]
pub(crate) struct ScopeSet(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    list: Scopes,
    /// The Bloom filter of the scopes a cached access token must have.
    bloom: Option<u64>,
    /// The list with Graph's full forms replaced by the short forms Entra answers, if any were.
    short_forms: Option<Vec<String>>,
    /// Its index among the app's interned lists (each list once, never reused); `None`: not
    /// interned. What a remembered hit is found by (see `hit_memo.rs`).
    interned: Option<usize>,
    /// The `scope` parameter of an app token request for the list, joined once (see
    /// [`join_scopes`]).
    joined: Box<str>,
}

impl ScopeSet {
    /// Checks and normalises `scopes`.
    pub(crate) fn new<I, S>(scopes: I) -> Result<ScopeSet, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::build(scopes, None)
    }

    fn build<I, S>(scopes: I, interned: Option<usize>) -> Result<ScopeSet, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list = normalize_scope_list(scopes)?;
        Ok(ScopeSet(Arc::new(Inner {
            joined: join_scopes(list.iter().map(String::as_str)).into(),
            bloom: request_bloom(&list),
            short_forms: with_graph_short_forms(&list),
            list: Scopes::from(list),
            interned,
        })))
    }

    /// Its index among the app's interned scope lists, if it is one.
    pub(crate) fn interned_index(&self) -> Option<usize> {
        self.0.interned
    }

    /// The Bloom filter of the scopes, for the cache lookup.
    pub(crate) fn bloom(&self) -> Option<u64> {
        self.0.bloom
    }

    /// The scopes as an app token request's `scope` parameter.
    pub(crate) fn joined(&self) -> &str {
        &self.0.joined
    }

    /// The scopes in Graph's short forms, when any scope has one.
    pub(crate) fn short_forms(&self) -> Option<&[String]> {
        self.0.short_forms.as_deref()
    }
}

impl Deref for ScopeSet {
    type Target = [String];
    fn deref(&self) -> &[String] {
        &self.0.list
    }
}

/// How many scope lists an application interns: callers may build scopes from untrusted
/// input, and a list past the bound is normalised per request instead.
const MAX_INTERNED: usize = 1024;
/// Scope lists of up to this many items are interned (the common case is one).
const MAX_ITEMS: usize = 4;

/// An interned list: the items as the caller gave them, and their normalised set.
type Interned = (Box<[Box<str>]>, ScopeSet);

/// The scope lists an application was asked for, by a hash of the list as the caller gave it.
#[derive(Debug, Default)]
pub(crate) struct ScopeInterner {
    hasher: RandomState,
    sets: RwLock<HashMap<u64, Interned, RandomState>>,
}

impl ScopeInterner {
    /// The normalised scopes, from the interned lists when the caller gave this list before.
    pub(crate) fn get<I, S>(&self, scopes: I) -> Result<ScopeSet, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut rest = scopes.into_iter();
        let mut given: [Option<S>; MAX_ITEMS] = [const { None }; MAX_ITEMS];
        let mut n = 0;
        for s in rest.by_ref() {
            if n == MAX_ITEMS {
                // A long list: not interned.
                let given = given.into_iter().flatten();
                return ScopeSet::new(given.chain(std::iter::once(s)).chain(rest));
            }
            given[n] = Some(s);
            n += 1;
        }
        let given = || given.iter().flatten().map(AsRef::as_ref);
        let mut h = self.hasher.build_hasher();
        for s in given() {
            h.write_usize(s.len());
            h.write(s.as_bytes());
        }
        let hash = h.finish();
        let same = |kept: &[Box<str>]| kept.len() == n && kept.iter().map(|k| &**k).eq(given());
        {
            let sets = self.sets.read().unwrap_or_else(|p| p.into_inner());
            if let Some((kept, set)) = sets.get(&hash)
                && same(kept)
            {
                return Ok(set.clone());
            }
        }
        let mut sets = self.sets.write().unwrap_or_else(|p| p.into_inner());
        if let Some((kept, set)) = sets.get(&hash) {
            // Interned meanwhile, or another list with the same hash (not interned).
            return if same(kept) {
                Ok(set.clone())
            } else {
                ScopeSet::new(given())
            };
        }
        if sets.len() >= MAX_INTERNED {
            return ScopeSet::new(given());
        }
        // Indexes are handed out under the write lock, each once.
        let set = ScopeSet::build(given(), Some(sets.len()))?;
        sets.insert(hash, (given().map(Box::from).collect(), set.clone()));
        Ok(set)
    }
}

/// Checks and normalises the requested scopes: at least one, none empty, split on spaces,
/// each once (case-insensitively), in the order given.
pub(crate) fn normalize_scope_list<I, S>(scopes: I) -> Result<Vec<String>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let scopes = scopes.into_iter();
    let mut out: Vec<String> = Vec::with_capacity(scopes.size_hint().0);
    let mut push = |part: &str| {
        if !out.iter().any(|x| x.eq_ignore_ascii_case(part)) {
            out.push(part.to_owned());
        }
    };
    for s in scopes {
        let s = s.as_ref();
        // The common case, one scope per item, without the splitting iterator.
        if !s.is_empty() && !s.bytes().any(|b| b.is_ascii_whitespace()) {
            push(s);
        } else {
            s.split_whitespace().for_each(&mut push);
        }
    }
    if out.is_empty() {
        return Err(Error::client(
            codes::EMPTY_SCOPES,
            "at least one scope is required (e.g. `https://graph.microsoft.com/.default`)",
        ));
    }
    Ok(out)
}

/// The short form Entra answers a Microsoft Graph scope in (`User.Read` for
/// `https://graph.microsoft.com/User.Read`), if the scope is one.
pub(crate) fn graph_short_form(scope: &str) -> Option<&str> {
    scope
        .strip_prefix("https://graph.microsoft.com//")
        .or_else(|| scope.strip_prefix("https://graph.microsoft.com/"))
        .filter(|s| !s.is_empty() && *s != ".default")
}

/// The scopes with Graph's full forms replaced by their short forms, when any were.
pub(crate) fn with_graph_short_forms(scopes: &[String]) -> Option<Vec<String>> {
    if !scopes.iter().any(|s| graph_short_form(s).is_some()) {
        return None;
    }
    Some(
        scopes
            .iter()
            .map(|s| graph_short_form(s).unwrap_or(s).to_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_asked_for_again_is_the_interned_one() {
        let interner = ScopeInterner::default();
        let a = interner.get(["User.Read", "Mail.Read"]).unwrap();
        let b = interner
            .get(vec!["User.Read".to_owned(), "Mail.Read".to_owned()])
            .unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(&*a, ["User.Read", "Mail.Read"]);
        // Another list (order, case, splitting) is another entry, normalised on its own.
        let c = interner.get(["Mail.Read", "User.Read"]).unwrap();
        assert!(!Arc::ptr_eq(&a.0, &c.0));
        assert_eq!(&*interner.get(["User.Read Mail.Read"]).unwrap(), &*a);
        // Long lists and errors are not interned, and say what normalisation says.
        let long = interner.get(["a", "b", "c", "d", "e", "a"]).unwrap();
        assert_eq!(&*long, ["a", "b", "c", "d", "e"]);
        assert!(interner.get([" "]).is_err());
        assert!(interner.get([" "]).is_err());
        assert_eq!(interner.sets.read().unwrap().len(), 3);
    }

    #[test]
    fn the_interned_lists_are_bounded() {
        let interner = ScopeInterner::default();
        for i in 0..MAX_INTERNED + 10 {
            let s = format!("api://x/{i}");
            assert_eq!(&*interner.get([&s]).unwrap(), std::slice::from_ref(&s));
        }
        assert_eq!(interner.sets.read().unwrap().len(), MAX_INTERNED);
    }

    #[test]
    fn the_set_carries_its_bloom_and_short_forms() {
        let s = ScopeSet::new(["https://graph.microsoft.com/User.Read", "openid"]).unwrap();
        assert_eq!(
            s.short_forms(),
            Some(&["User.Read".to_owned(), "openid".to_owned()][..])
        );
        assert_eq!(s.bloom(), request_bloom(&s));
        assert_eq!(ScopeSet::new(["openid"]).unwrap().bloom(), None);
    }
}
