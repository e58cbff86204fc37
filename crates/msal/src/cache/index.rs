//! The in-memory cache and its indexes: the five sections of the unified schema keyed as MSAL
//! keys them (the source of truth, which `json` reads and writes), plus the indexes that make
//! lookups O(1) in the number of tenants and accounts, and the lookups themselves:
//!
//! - access tokens by partition `(home_account_id or "", client_id, realm)`, hashed
//!   case-insensitively without allocating (app tokens have an empty home account id);
//! - every user entry (access, refresh and id tokens, accounts) by home account id.
//!
//! Every change goes through `insert_*` and `remove_*` here, which keep the indexes in step
//! with the sections. What a token response replaces is in `write_rules`; the merge with a
//! distributed cache in `l2_merge`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::key::{self, BuildIdentity, PartitionHasher};
use super::query::AccessTokenQuery;
use super::schema::{AccountEntry, AppMetadataEntry, AtEntry, IdTokenEntry, Raw, RtEntry};
use crate::account::Account;
use crate::error::Error;

/// Tokens with less than this many seconds left count as expired.
pub(crate) const EXPIRY_MARGIN_SECS: i64 = 300;

/// Tokens with more than this many seconds left are not served: no server may give a token
/// that long a life (the longest lifetime taken from a server, plus a day of clock skew between
/// the machines that share a cache). Such an entry was written before the cap, by hand, or
/// by a buggy server through another MSAL, and would otherwise be served for ever.
pub(crate) const MAX_LEFT_SECS: i64 = crate::oauth::MAX_TOKEN_LIFETIME_SECS as i64 + 86_400;

/// One entry: its typed view, and the JSON object as read or written when the typed view
/// cannot give it back exactly.
pub(super) struct Rec<T> {
    /// `None` when `entry` renders the object field for field, in order (an access token as
    /// this library or MSAL Python writes it): the object would cost more than the token
    /// itself (about 1.4 KiB of map nodes and strings), for nothing.
    pub(super) raw: Option<Raw>,
    pub(super) entry: T,
}

impl<T: Render> Rec<T> {
    /// Keeps `raw` unless `entry` renders it exactly.
    fn new(raw: Raw, entry: T) -> Self {
        let same = entry.render().is_some_and(|r| same_object(&r, &raw));
        Rec {
            raw: (!same).then_some(raw),
            entry,
        }
    }

    /// The entry's JSON object.
    pub(super) fn json(&self) -> std::borrow::Cow<'_, Raw> {
        match &self.raw {
            Some(raw) => std::borrow::Cow::Borrowed(raw),
            None => std::borrow::Cow::Owned(self.entry.render().unwrap_or_default()),
        }
    }
}

/// Whether two JSON objects hold the same fields with the same values, in the same order.
pub(super) fn same_object(a: &Raw, b: &Raw) -> bool {
    a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x == y)
}

/// A typed entry that can give back its JSON object, so that the object need not be kept.
pub(super) trait Render {
    /// The entry's JSON object as this library writes it; `None`: the type cannot.
    fn render(&self) -> Option<Raw> {
        None
    }
}

impl Render for Arc<AtEntry> {
    fn render(&self) -> Option<Raw> {
        Some(AtEntry::render(self))
    }
}
impl Render for RtEntry {}
impl Render for IdTokenEntry {}
impl Render for AccountEntry {}
impl Render for AppMetadataEntry {}

/// One section: entries by key, sorted (so the output is stable).
pub(super) struct Section<T> {
    pub(super) entries: BTreeMap<String, Rec<T>>,
    /// The section was in the deserialized input: write it back even when empty.
    pub(super) present: bool,
}

impl<T> Default for Section<T> {
    fn default() -> Self {
        Section {
            entries: BTreeMap::new(),
            present: false,
        }
    }
}

/// The keys of one user's entries, per section.
pub(super) struct UserKeys {
    /// The home account id as first written (the index key is lower-cased).
    pub(super) home_account_id: String,
    pub(super) ats: BTreeSet<String>,
    pub(super) rts: BTreeSet<String>,
    pub(super) idts: BTreeSet<String>,
    pub(super) accounts: BTreeSet<String>,
}

impl UserKeys {
    fn is_empty(&self) -> bool {
        self.ats.is_empty()
            && self.rts.is_empty()
            && self.idts.is_empty()
            && self.accounts.is_empty()
    }
}

/// The keys of one on-behalf-of session's tokens (by `user_assertion_hash`, exactly).
#[derive(Default)]
pub(super) struct SessionKeys {
    pub(super) ats: BTreeSet<String>,
    pub(super) rts: BTreeSet<String>,
}

#[derive(Clone, Copy)]
enum Slot {
    At,
    Rt,
    Idt,
    Account,
}

/// An access token in its partition: what rules it out without reading the entry.
pub(super) struct AtSlot {
    pub(super) expires_on: i64,
    pub(super) scope_bloom: u64,
    pub(super) entry: Arc<AtEntry>,
}

/// What the cache knows of an app's family (FOCI).
#[derive(Clone, Copy)]
pub(super) enum Family<'a> {
    /// No metadata for the app: it may be in a family.
    Unknown,
    /// The app was seen outside any family.
    NotInAny,
    /// The app is in this family.
    Member(&'a str),
}

/// Takes `entry` out of the list at `hash`, and the list out when it is empty.
fn unindex_at(
    index: &mut HashMap<u64, Vec<AtSlot>, BuildIdentity>,
    hash: u64,
    entry: &Arc<AtEntry>,
) {
    if let Some(list) = index.get_mut(&hash) {
        list.retain(|s| !Arc::ptr_eq(&s.entry, entry));
        if list.is_empty() {
            index.remove(&hash);
        }
    }
}

/// A partition with more access tokens than this is also indexed by scope. Below it, a
/// lookup scans the partition's slots, which stay together in memory: cheaper than a
/// second table, whose entries would each be one more allocation to reach.
const INDEX_BY_SCOPE_ABOVE: usize = 32;

/// The access tokens of one partition hash.
#[derive(Default)]
pub(super) struct AtPartition {
    pub(super) slots: Vec<AtSlot>,
    /// In a partition of more than [`INDEX_BY_SCOPE_ABOVE`] tokens, the slots again by
    /// scope (one per scope a request can find the token by), so that a lookup reads only
    /// the tokens that have the request's first scope: a user with 100,000 tokens costs what
    /// a user with 10 does. Hashes may collide: entries are checked.
    pub(super) by_scope: Option<HashMap<u64, Vec<AtSlot>, BuildIdentity>>,
}

impl AtSlot {
    pub(super) fn of(entry: &Arc<AtEntry>) -> Self {
        AtSlot {
            expires_on: entry.expires_on,
            scope_bloom: entry.scope_bloom,
            entry: Arc::clone(entry),
        }
    }
}

fn user_key(home_account_id: &str) -> String {
    home_account_id.to_ascii_lowercase()
}

fn env_in(environments: &[String], environment: &str) -> bool {
    environments
        .iter()
        .any(|e| e.eq_ignore_ascii_case(environment))
}

/// The token cache's contents. `S` seeds the partition hashes (see [`PartitionHasher`]).
pub(crate) struct Store<S = RandomState> {
    pub(super) hasher: PartitionHasher<S>,
    pub(super) ats: Section<Arc<AtEntry>>,
    pub(super) rts: Section<RtEntry>,
    pub(super) idts: Section<IdTokenEntry>,
    pub(super) accounts: Section<AccountEntry>,
    pub(super) app_metadata: Section<AppMetadataEntry>,
    /// Sections this library does not know, in their original order.
    pub(super) unknown: Raw,
    /// Access tokens by partition hash. Two partitions may share a hash: entries are checked.
    pub(super) at_partitions: HashMap<u64, AtPartition, BuildIdentity>,
    pub(super) users: HashMap<String, UserKeys>,
    /// On-behalf-of access and refresh tokens by session (`user_assertion_hash`).
    pub(super) sessions: HashMap<String, SessionKeys>,
    /// Counts mutations, to tell whether a write changed anything.
    pub(super) generation: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_hasher(PartitionHasher::default())
    }
}

impl<S: BuildHasher + Clone> Store<S> {
    /// An empty store hashing partitions with `hasher`.
    pub(super) fn with_hasher(hasher: PartitionHasher<S>) -> Self {
        Store {
            hasher,
            ats: Section::default(),
            rts: Section::default(),
            idts: Section::default(),
            accounts: Section::default(),
            app_metadata: Section::default(),
            unknown: Raw::default(),
            at_partitions: HashMap::default(),
            users: HashMap::new(),
            sessions: HashMap::new(),
            generation: 0,
        }
    }

    /// A new empty store sharing this one's partition hasher.
    pub(crate) fn hasher(&self) -> PartitionHasher<S> {
        self.hasher.clone()
    }

    /// The number of mutations so far.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Entry counts: access tokens, refresh tokens, id tokens, accounts, app metadata.
    pub(crate) fn counts(&self) -> [usize; 5] {
        [
            self.ats.entries.len(),
            self.rts.entries.len(),
            self.idts.entries.len(),
            self.accounts.entries.len(),
            self.app_metadata.entries.len(),
        ]
    }

    fn index_user(&mut self, slot: Slot, home_account_id: &str, key: &str) {
        if home_account_id.is_empty() {
            return;
        }
        let keys = self
            .users
            .entry(user_key(home_account_id))
            .or_insert_with(|| UserKeys {
                home_account_id: home_account_id.to_owned(),
                ats: BTreeSet::new(),
                rts: BTreeSet::new(),
                idts: BTreeSet::new(),
                accounts: BTreeSet::new(),
            });
        let set = match slot {
            Slot::At => &mut keys.ats,
            Slot::Rt => &mut keys.rts,
            Slot::Idt => &mut keys.idts,
            Slot::Account => &mut keys.accounts,
        };
        set.insert(key.to_owned());
    }

    fn unindex_user(&mut self, slot: Slot, home_account_id: &str, key: &str) {
        let home = user_key(home_account_id);
        if let Some(keys) = self.users.get_mut(&home) {
            let set = match slot {
                Slot::At => &mut keys.ats,
                Slot::Rt => &mut keys.rts,
                Slot::Idt => &mut keys.idts,
                Slot::Account => &mut keys.accounts,
            };
            set.remove(key);
            if keys.is_empty() {
                self.users.remove(&home);
            }
        }
    }

    fn index_session(&mut self, slot: Slot, hash: Option<&str>, key: &str) {
        let Some(hash) = hash.filter(|h| !h.is_empty()) else {
            return;
        };
        let keys = self.sessions.entry(hash.to_owned()).or_default();
        match slot {
            Slot::Rt => keys.rts.insert(key.to_owned()),
            _ => keys.ats.insert(key.to_owned()),
        };
    }

    fn unindex_session(&mut self, slot: Slot, hash: Option<&str>, key: &str) {
        let Some(hash) = hash.filter(|h| !h.is_empty()) else {
            return;
        };
        if let Some(keys) = self.sessions.get_mut(hash) {
            match slot {
                Slot::Rt => keys.rts.remove(key),
                _ => keys.ats.remove(key),
            };
            if keys.ats.is_empty() && keys.rts.is_empty() {
                self.sessions.remove(hash);
            }
        }
    }

    /// The keys of an on-behalf-of session's tokens.
    pub(super) fn session(&self, hash: &str) -> Option<&SessionKeys> {
        self.sessions.get(hash)
    }

    pub(super) fn user(&self, home_account_id: &str) -> Option<&UserKeys> {
        self.users.get(&user_key(home_account_id))
    }

    pub(super) fn partition_of(&self, e: &AtEntry) -> u64 {
        self.hasher.partition(e.home(), e.client_id(), e.realm())
    }

    /// The other access tokens of the entry's `(home_account_id, client_id, realm)`, whose
    /// hash is `partition`.
    pub(super) fn same_partition<'a>(
        &'a self,
        partition: u64,
        e: &'a AtEntry,
    ) -> impl Iterator<Item = &'a Arc<AtEntry>> + 'a {
        self.at_partitions
            .get(&partition)
            .into_iter()
            .flat_map(|p| &p.slots)
            .map(|slot| &slot.entry)
            .filter(move |o| o.is_in(e.home(), e.client_id(), e.realm()))
    }

    pub(super) fn insert_at(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = Arc::new(AtEntry::parse(&key, &raw)?);
        let rec = Rec::new(raw, entry);
        self.insert_at_rec(key, rec, None);
        Ok(())
    }

    /// Inserts an access token this library has just written ([`AtEntry::written`]): no JSON
    /// object is kept, since the entry renders the one MSAL writes.
    /// `partition` is the entry's partition hash, which the caller has computed already.
    pub(super) fn insert_written_at(&mut self, key: String, entry: AtEntry, partition: u64) {
        let rec = Rec {
            raw: None,
            entry: Arc::new(entry),
        };
        self.insert_at_rec(key, rec, Some(partition));
    }

    fn insert_at_rec(&mut self, key: String, rec: Rec<Arc<AtEntry>>, partition: Option<u64>) {
        let entry = Arc::clone(&rec.entry);
        self.remove_at(&key);
        let hasher = &self.hasher;
        let partition = partition
            .unwrap_or_else(|| hasher.partition(entry.home(), entry.client_id(), entry.realm()));
        let part = self.at_partitions.entry(partition).or_default();
        part.slots.push(AtSlot::of(&entry));
        match &mut part.by_scope {
            Some(index) => {
                for scope in entry.lookup_scopes() {
                    index
                        .entry(hasher.scope(scope))
                        .or_default()
                        .push(AtSlot::of(&entry));
                }
            }
            None if part.slots.len() > INDEX_BY_SCOPE_ABOVE => {
                let mut index: HashMap<u64, Vec<AtSlot>, BuildIdentity> = HashMap::default();
                for slot in &part.slots {
                    for scope in slot.entry.lookup_scopes() {
                        index
                            .entry(hasher.scope(scope))
                            .or_default()
                            .push(AtSlot::of(&slot.entry));
                    }
                }
                part.by_scope = Some(index);
            }
            None => {}
        }
        if let Some(home) = entry.home_account_id() {
            self.index_user(Slot::At, home, &key);
        }
        self.index_session(Slot::At, entry.user_assertion_hash(), &key);
        self.ats.entries.insert(key, rec);
        self.generation += 1;
    }

    pub(super) fn remove_at(&mut self, key: &str) -> bool {
        self.remove_at_in(key, None)
    }

    /// [`remove_at`](Self::remove_at) of an entry whose partition hash the caller has
    /// computed already.
    pub(super) fn remove_at_in(&mut self, key: &str, partition: Option<u64>) -> bool {
        let Some(rec) = self.ats.entries.remove(key) else {
            return false;
        };
        let hash = partition.unwrap_or_else(|| self.partition_of(&rec.entry));
        if let Some(part) = self.at_partitions.get_mut(&hash) {
            part.slots.retain(|s| !Arc::ptr_eq(&s.entry, &rec.entry));
            if part.slots.is_empty() {
                self.at_partitions.remove(&hash);
            } else if let Some(index) = &mut part.by_scope {
                for scope in rec.entry.lookup_scopes() {
                    unindex_at(index, self.hasher.scope(scope), &rec.entry);
                }
            }
        }
        if let Some(home) = rec.entry.home_account_id() {
            self.unindex_user(Slot::At, home, key);
        }
        self.unindex_session(Slot::At, rec.entry.user_assertion_hash(), key);
        self.generation += 1;
        true
    }

    pub(super) fn insert_rt(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = RtEntry::parse(&key, &raw)?;
        self.remove_rt(&key);
        self.index_user(Slot::Rt, &entry.home_account_id, &key);
        self.index_session(Slot::Rt, entry.user_assertion_hash.as_deref(), &key);
        self.rts.entries.insert(key, Rec::new(raw, entry));
        self.generation += 1;
        Ok(())
    }

    pub(super) fn remove_rt(&mut self, key: &str) -> bool {
        let Some(rec) = self.rts.entries.remove(key) else {
            return false;
        };
        self.unindex_user(Slot::Rt, &rec.entry.home_account_id, key);
        self.unindex_session(Slot::Rt, rec.entry.user_assertion_hash.as_deref(), key);
        self.generation += 1;
        true
    }

    pub(super) fn insert_idt(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = IdTokenEntry::parse(&key, &raw)?;
        self.remove_idt(&key);
        self.index_user(Slot::Idt, &entry.home_account_id, &key);
        self.idts.entries.insert(key, Rec::new(raw, entry));
        self.generation += 1;
        Ok(())
    }

    pub(super) fn remove_idt(&mut self, key: &str) -> bool {
        let Some(rec) = self.idts.entries.remove(key) else {
            return false;
        };
        self.unindex_user(Slot::Idt, &rec.entry.home_account_id, key);
        self.generation += 1;
        true
    }

    pub(super) fn insert_account(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = AccountEntry::parse(&key, &raw)?;
        self.remove_account_entry(&key);
        self.index_user(Slot::Account, &entry.account.home_account_id, &key);
        self.accounts.entries.insert(key, Rec::new(raw, entry));
        self.generation += 1;
        Ok(())
    }

    pub(super) fn remove_account_entry(&mut self, key: &str) -> bool {
        let Some(rec) = self.accounts.entries.remove(key) else {
            return false;
        };
        self.unindex_user(Slot::Account, &rec.entry.account.home_account_id, key);
        self.generation += 1;
        true
    }

    pub(super) fn insert_app_metadata(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = AppMetadataEntry::parse(&key, &raw)?;
        self.app_metadata.entries.insert(key, Rec::new(raw, entry));
        self.generation += 1;
        Ok(())
    }

    /// The user entries of `home_account_id` in one section, with their keys.
    pub(super) fn user_entries<'a, T>(
        &'a self,
        home_account_id: &str,
        keys: fn(&UserKeys) -> &BTreeSet<String>,
        section: &'a Section<T>,
    ) -> impl Iterator<Item = (&'a String, &'a T)> + 'a {
        self.user(home_account_id)
            .into_iter()
            .flat_map(move |u| keys(u).iter())
            .filter_map(move |k| section.entries.get(k).map(|r| (k, &r.entry)))
    }

    /// The access token the query asks for, if one is cached and has at least five minutes
    /// left (and not more than any server may give). Among several, the one that expires last.
    pub(crate) fn find_access_token(&self, q: &AccessTokenQuery<'_>) -> Option<&AtEntry> {
        let wanted = match q.scope_bloom {
            Some(b) => b,
            None => key::request_bloom(q.scopes)?,
        };
        let home = q.home_account_id.unwrap_or("");
        let partition = match q.partition {
            Some(p) if home.is_empty() => p,
            _ => self.hasher.partition(home, q.client_id, q.realm),
        };
        let part = self.at_partitions.get(&partition)?;
        let slots = match &part.by_scope {
            None => &part.slots,
            Some(index) => {
                let first = q
                    .scopes
                    .iter()
                    .map(|s| s.trim())
                    .find(|s| !s.is_empty() && !key::is_reserved_scope(s))?;
                index.get(&self.hasher.scope(first))?
            }
        };
        let mut best: Option<&AtEntry> = None;
        for slot in slots {
            // What the slot alone rules out, before reading the entry.
            let left = slot.expires_on.saturating_sub(q.now);
            if !(EXPIRY_MARGIN_SECS..=MAX_LEFT_SECS).contains(&left)
                || wanted & !slot.scope_bloom != 0
                || best.is_some_and(|b| slot.expires_on <= b.expires_on)
            {
                continue;
            }
            let e: &AtEntry = &slot.entry;
            if !e.is_in(home, q.client_id, q.realm)
                || !env_in(q.environments, e.environment())
                || q.user_assertion_hash
                    .is_some_and(|h| e.user_assertion_hash() != Some(h))
                || !e.is_bound_as(q.bound)
                || !e.covers(q.scopes)
            {
                continue;
            }
            best = Some(e);
        }
        best
    }

    /// The app's own refresh token for the account (`family == false`), or any family
    /// refresh token of the account (`family == true`). Among several, the newest.
    pub(crate) fn find_refresh_token(
        &self,
        home_account_id: &str,
        environments: &[String],
        client_id: &str,
        family: bool,
    ) -> Option<&RtEntry> {
        self.user_entries(home_account_id, |u| &u.rts, &self.rts)
            .map(|(_, e)| e)
            .filter(|e| {
                // An on-behalf-of session's refresh token is the session's alone.
                e.user_assertion_hash.is_none()
                    && env_in(environments, &e.environment)
                    && if family {
                        e.family_id.is_some()
                    } else {
                        e.client_id.eq_ignore_ascii_case(client_id)
                    }
            })
            .max_by_key(|e| e.last_modification_time.unwrap_or(i64::MIN))
    }

    /// The account of `home_account_id` in one of `environments`; with several realms
    /// (guest accounts), the one in the home tenant.
    pub(crate) fn find_account(
        &self,
        home_account_id: &str,
        environments: &[String],
    ) -> Option<&Account> {
        let home_tenant = home_account_id.split_once('.').map(|(_, t)| t);
        let mut found: Option<&Account> = None;
        for (_, e) in self.user_entries(home_account_id, |u| &u.accounts, &self.accounts) {
            let a = &e.account;
            if !env_in(environments, &a.environment) {
                continue;
            }
            if home_tenant.is_some_and(|t| t.eq_ignore_ascii_case(&a.realm)) {
                return Some(a);
            }
            found = found.or(Some(a));
        }
        found
    }

    /// The cached id token of the account for this app and realm.
    pub(crate) fn find_id_token(
        &self,
        home_account_id: &str,
        environments: &[String],
        client_id: &str,
        realm: &str,
    ) -> Option<&IdTokenEntry> {
        self.user_entries(home_account_id, |u| &u.idts, &self.idts)
            .map(|(_, e)| e)
            .find(|e| {
                env_in(environments, &e.environment)
                    && e.client_id.eq_ignore_ascii_case(client_id)
                    && e.realm.eq_ignore_ascii_case(realm)
            })
    }

    /// The app's family as its metadata records it.
    pub(super) fn family_of(&self, client_id: &str, environments: &[String]) -> Family<'_> {
        let mut known = Family::Unknown;
        for rec in self.app_metadata.entries.values() {
            let m = &rec.entry;
            if m.client_id.eq_ignore_ascii_case(client_id) && env_in(environments, &m.environment) {
                if let Some(f) = m.family_id.as_deref() {
                    return Family::Member(f);
                }
                known = Family::NotInAny;
            }
        }
        known
    }

    /// The accounts that have a refresh token or an id token of this app, or a refresh token
    /// of its family (FOCI) — of any family when the app's metadata is unknown, as MSAL .NET
    /// does — one per home account id, sorted by it.
    pub(crate) fn accounts(&self, client_id: &str, environments: &[String]) -> Vec<Account> {
        let family = self.family_of(client_id, environments);
        let rt_counts = |e: &RtEntry| {
            e.client_id.eq_ignore_ascii_case(client_id)
                || match (family, e.family_id.as_deref()) {
                    (_, None) | (Family::NotInAny, _) => false,
                    (Family::Unknown, Some(_)) => true,
                    (Family::Member(f), Some(g)) => f == g,
                }
        };
        let mut out: Vec<Account> = Vec::new();
        for keys in self.users.values() {
            let has_rt = keys.rts.iter().any(|k| {
                self.rts.entries.get(k).is_some_and(|r| {
                    env_in(environments, &r.entry.environment) && rt_counts(&r.entry)
                })
            });
            let relevant = has_rt
                || keys.idts.iter().any(|k| {
                    self.idts.entries.get(k).is_some_and(|r| {
                        env_in(environments, &r.entry.environment)
                            && r.entry.client_id.eq_ignore_ascii_case(client_id)
                    })
                });
            if !relevant {
                continue;
            }
            if let Some(account) = self.find_account(&keys.home_account_id, environments) {
                out.push(account.clone());
            }
        }
        out.sort_by(|a, b| a.home_account_id.cmp(&b.home_account_id));
        out
    }
}
