//! The in-memory cache: the five sections of the unified schema keyed as MSAL keys them
//! (the source of truth for serialization), plus the indexes that make lookups O(1) in the
//! number of tenants and accounts:
//!
//! - access tokens by partition `(home_account_id or "", client_id, realm)`, hashed
//!   case-insensitively without allocating (app tokens have an empty home account id);
//! - every user entry (access, refresh and id tokens, accounts) by home account id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::distributed::CachePartition;
use super::key::{self, BuildIdentity, PartitionHasher};
use super::schema::{
    self, AccountEntry, AppMetadataEntry, AtEntry, IdTokenEntry, Raw, RtEntry, Written,
};
use super::{AccessTokenQuery, CacheWrite};
use crate::account::Account;
use crate::error::{Error, codes};

/// Tokens with less than this many seconds left count as expired.
pub(crate) const EXPIRY_MARGIN_SECS: i64 = 300;

/// Tokens with more than this many seconds left are not served: no server may give a token
/// that long a life (the longest lifetime taken from a server, plus a day of clock skew between
/// the machines that share a cache). Such an entry was written before the cap, by hand, or
/// by a buggy server through another MSAL, and would otherwise be served for ever.
pub(crate) const MAX_LEFT_SECS: i64 = crate::oauth::MAX_TOKEN_LIFETIME_SECS as i64 + 86_400;

/// One entry: the JSON object as read or written, and its typed view.
struct Rec<T> {
    raw: Raw,
    entry: T,
}

/// One section: entries by key, sorted (so the output is stable).
struct Section<T> {
    entries: BTreeMap<String, Rec<T>>,
    /// The section was in the deserialized input: write it back even when empty.
    present: bool,
}

impl<T> Default for Section<T> {
    fn default() -> Self {
        Section {
            entries: BTreeMap::new(),
            present: false,
        }
    }
}

impl<T> Section<T> {
    fn is_written(&self) -> bool {
        self.present || !self.entries.is_empty()
    }
}

impl<T> Serialize for Section<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries.iter().map(|(k, r)| (k, &r.raw)))
    }
}

/// The keys of one user's entries, per section.
struct UserKeys {
    /// The home account id as first written (the index key is lower-cased).
    home_account_id: String,
    ats: BTreeSet<String>,
    rts: BTreeSet<String>,
    idts: BTreeSet<String>,
    accounts: BTreeSet<String>,
}

impl UserKeys {
    fn is_empty(&self) -> bool {
        self.ats.is_empty()
            && self.rts.is_empty()
            && self.idts.is_empty()
            && self.accounts.is_empty()
    }
}

#[derive(Clone, Copy)]
enum Slot {
    At,
    Rt,
    Idt,
    Account,
}

/// An access token in its partition: what rules it out without reading the entry.
struct AtSlot {
    expires_on: i64,
    scope_bloom: u64,
    entry: Arc<AtEntry>,
}

/// What the cache knows of an app's family (FOCI).
#[derive(Clone, Copy)]
enum Family<'a> {
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
struct AtPartition {
    slots: Vec<AtSlot>,
    /// In a partition of more than [`INDEX_BY_SCOPE_ABOVE`] tokens, the slots again by
    /// scope (one per scope a request can find the token by), so that a lookup reads only
    /// the tokens that have the request's first scope: a user with 100,000 tokens costs what
    /// a user with 10 does. Hashes may collide: entries are checked.
    by_scope: Option<HashMap<u64, Vec<AtSlot>, BuildIdentity>>,
}

impl AtSlot {
    fn of(entry: &Arc<AtEntry>) -> Self {
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

/// The token cache's contents.
#[derive(Default)]
pub(crate) struct Store {
    hasher: PartitionHasher,
    ats: Section<Arc<AtEntry>>,
    rts: Section<RtEntry>,
    idts: Section<IdTokenEntry>,
    accounts: Section<AccountEntry>,
    app_metadata: Section<AppMetadataEntry>,
    /// Sections this library does not know, in their original order.
    unknown: Raw,
    /// Access tokens by partition hash. Two partitions may share a hash: entries are checked.
    at_partitions: HashMap<u64, AtPartition, BuildIdentity>,
    users: HashMap<String, UserKeys>,
    /// Counts mutations, to tell whether a write changed anything.
    generation: u64,
}

impl Store {
    /// An empty store hashing partitions with `hasher`.
    fn with_hasher(hasher: PartitionHasher) -> Self {
        Store {
            hasher,
            ..Store::default()
        }
    }

    /// Parses MSAL's JSON. An empty (or blank) string is an empty cache; anything else that
    /// is not a JSON object of well-formed sections is a `cache_corrupt` error.
    pub(crate) fn from_json(json: &str, hasher: PartitionHasher) -> Result<Self, Error> {
        let mut store = Store::with_hasher(hasher);
        if json.trim().is_empty() {
            return Ok(store);
        }
        let value: Value = serde_json::from_str(json).map_err(|e| {
            Error::client(
                codes::CACHE_CORRUPT,
                format!("the token cache is corrupt: it is not valid JSON ({e})"),
            )
            .with_source(e)
        })?;
        let Value::Object(top) = value else {
            return Err(schema::not_an_object("the token cache"));
        };
        for (name, section) in top {
            let known = [
                key::ACCESS_TOKEN,
                key::REFRESH_TOKEN,
                key::ID_TOKEN,
                key::ACCOUNT,
                key::APP_METADATA,
            ]
            .contains(&name.as_str());
            if !known {
                store.unknown.insert(name, section);
                continue;
            }
            let Value::Object(entries) = section else {
                return Err(schema::not_an_object(&format!("section {name}")));
            };
            for (key, entry) in entries {
                let Value::Object(raw) = entry else {
                    return Err(schema::not_an_object(&format!("{name} entry {key:?}")));
                };
                match name.as_str() {
                    key::ACCESS_TOKEN => store.insert_at(key, raw)?,
                    key::REFRESH_TOKEN => store.insert_rt(key, raw)?,
                    key::ID_TOKEN => store.insert_idt(key, raw)?,
                    key::ACCOUNT => store.insert_account(key, raw)?,
                    _ => store.insert_app_metadata(key, raw)?,
                }
            }
            match name.as_str() {
                key::ACCESS_TOKEN => store.ats.present = true,
                key::REFRESH_TOKEN => store.rts.present = true,
                key::ID_TOKEN => store.idts.present = true,
                key::ACCOUNT => store.accounts.present = true,
                _ => store.app_metadata.present = true,
            }
        }
        store.generation = 0;
        Ok(store)
    }

    /// A new empty store sharing this one's partition hasher.
    pub(crate) fn hasher(&self) -> PartitionHasher {
        self.hasher.clone()
    }

    /// MSAL's JSON, indented by four spaces as MSAL Python writes it.
    ///
    /// Cannot fail in practice (string keys, JSON values, an in-memory writer); if it ever
    /// did, the error keeps a persistence from saving something else over the stored cache.
    pub(crate) fn to_json(&self) -> Result<String, Error> {
        let mut out = Vec::with_capacity(4096);
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        self.serialize(&mut ser).map_err(|e| {
            Error::client(
                codes::CACHE_PERSISTENCE,
                "the token cache cannot be serialized",
            )
            .with_source(e)
        })?;
        String::from_utf8(out).map_err(|e| {
            Error::client(
                codes::CACHE_PERSISTENCE,
                "the token cache cannot be serialized",
            )
            .with_source(e)
        })
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

    fn user(&self, home_account_id: &str) -> Option<&UserKeys> {
        self.users.get(&user_key(home_account_id))
    }

    fn partition_of(&self, e: &AtEntry) -> u64 {
        self.hasher.partition(e.home(), e.client_id(), e.realm())
    }

    /// The other access tokens of the entry's `(home_account_id, client_id, realm)`.
    fn same_partition<'a>(&'a self, e: &'a AtEntry) -> impl Iterator<Item = &'a AtEntry> + 'a {
        self.at_partitions
            .get(&self.partition_of(e))
            .into_iter()
            .flat_map(|p| &p.slots)
            .map(|slot| &*slot.entry)
            .filter(move |o| o.is_in(e.home(), e.client_id(), e.realm()))
    }

    fn insert_at(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = Arc::new(AtEntry::parse(&key, &raw)?);
        self.remove_at(&key);
        let hasher = &self.hasher;
        let part = self
            .at_partitions
            .entry(hasher.partition(entry.home(), entry.client_id(), entry.realm()))
            .or_default();
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
        self.ats.entries.insert(key, Rec { raw, entry });
        self.generation += 1;
        Ok(())
    }

    fn remove_at(&mut self, key: &str) -> bool {
        let Some(rec) = self.ats.entries.remove(key) else {
            return false;
        };
        let hash = self.partition_of(&rec.entry);
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
        self.generation += 1;
        true
    }

    fn insert_rt(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = RtEntry::parse(&key, &raw)?;
        self.remove_rt(&key);
        self.index_user(Slot::Rt, &entry.home_account_id, &key);
        self.rts.entries.insert(key, Rec { raw, entry });
        self.generation += 1;
        Ok(())
    }

    fn remove_rt(&mut self, key: &str) -> bool {
        let Some(rec) = self.rts.entries.remove(key) else {
            return false;
        };
        self.unindex_user(Slot::Rt, &rec.entry.home_account_id, key);
        self.generation += 1;
        true
    }

    fn insert_idt(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = IdTokenEntry::parse(&key, &raw)?;
        self.remove_idt(&key);
        self.index_user(Slot::Idt, &entry.home_account_id, &key);
        self.idts.entries.insert(key, Rec { raw, entry });
        self.generation += 1;
        Ok(())
    }

    fn remove_idt(&mut self, key: &str) -> bool {
        let Some(rec) = self.idts.entries.remove(key) else {
            return false;
        };
        self.unindex_user(Slot::Idt, &rec.entry.home_account_id, key);
        self.generation += 1;
        true
    }

    fn insert_account(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = AccountEntry::parse(&key, &raw)?;
        self.remove_account_entry(&key);
        self.index_user(Slot::Account, &entry.account.home_account_id, &key);
        self.accounts.entries.insert(key, Rec { raw, entry });
        self.generation += 1;
        Ok(())
    }

    fn remove_account_entry(&mut self, key: &str) -> bool {
        let Some(rec) = self.accounts.entries.remove(key) else {
            return false;
        };
        self.unindex_user(Slot::Account, &rec.entry.account.home_account_id, key);
        self.generation += 1;
        true
    }

    fn insert_app_metadata(&mut self, key: String, raw: Raw) -> Result<(), Error> {
        let entry = AppMetadataEntry::parse(&key, &raw)?;
        self.app_metadata.entries.insert(key, Rec { raw, entry });
        self.generation += 1;
        Ok(())
    }

    /// The user entries of `home_account_id` in one section, with their keys.
    fn user_entries<'a, T>(
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
        let wanted = key::request_bloom(q.scopes)?;
        let home = q.home_account_id.unwrap_or("");
        let part = self
            .at_partitions
            .get(&self.hasher.partition(home, q.client_id, q.realm))?;
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
                env_in(environments, &e.environment)
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
    fn family_of(&self, client_id: &str, environments: &[String]) -> Family<'_> {
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

    /// Removes the account's access tokens and id tokens of this app, its refresh tokens of
    /// this app and of the app's family, and its account entries, in the account's
    /// environment. Returns whether anything was removed.
    pub(crate) fn remove_account(&mut self, account: &Account, client_id: &str) -> bool {
        let before = self.generation;
        let envs = std::slice::from_ref(&account.environment);
        let family = match self.family_of(client_id, envs) {
            Family::Member(f) => Some(f.to_owned()),
            Family::Unknown | Family::NotInAny => None,
        };
        let home = &account.home_account_id;
        let same_app = |env: &str, client: &str| {
            env.eq_ignore_ascii_case(&account.environment) && client.eq_ignore_ascii_case(client_id)
        };
        let ats: Vec<String> = self
            .user_entries(home, |u| &u.ats, &self.ats)
            .filter(|(_, e)| same_app(e.environment(), e.client_id()))
            .map(|(k, _)| k.clone())
            .collect();
        let rts: Vec<String> = self
            .user_entries(home, |u| &u.rts, &self.rts)
            .filter(|(_, e)| {
                same_app(&e.environment, &e.client_id)
                    || (e.environment.eq_ignore_ascii_case(&account.environment)
                        && family.is_some()
                        && e.family_id == family)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let idts: Vec<String> = self
            .user_entries(home, |u| &u.idts, &self.idts)
            .filter(|(_, e)| same_app(&e.environment, &e.client_id))
            .map(|(k, _)| k.clone())
            .collect();
        let accounts: Vec<String> = self
            .user_entries(home, |u| &u.accounts, &self.accounts)
            .filter(|(_, e)| {
                e.account
                    .environment
                    .eq_ignore_ascii_case(&account.environment)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &ats {
            self.remove_at(k);
        }
        for k in &rts {
            self.remove_rt(k);
        }
        for k in &idts {
            self.remove_idt(k);
        }
        for k in &accounts {
            self.remove_account_entry(k);
        }
        self.generation != before
    }

    /// Writes the entries of a token response, as MSAL Python's `TokenCache.add` does, and
    /// replaces what they supersede (see [`super::TokenCache`]).
    pub(crate) fn save_response(&mut self, w: &CacheWrite<'_>) -> Result<Option<Account>, Error> {
        let home = w.home_account_id.filter(|h| !h.is_empty());
        let target = key::target(w.scopes);
        let written = Written {
            home_account_id: home,
            environment: w.environment,
            client_id: w.client_id,
            realm: w.realm,
            target: &target,
            now: w.now,
        };

        if let Some(secret) = w.access_token {
            let raw = schema::access_token(
                &written,
                secret,
                w.token_type,
                w.expires_in,
                w.ext_expires_in,
                w.refresh_in,
                w.user_assertion_hash,
            );
            let key = key::access_token(home, w.environment, w.client_id, w.realm, &target);
            let new = AtEntry::parse(&key, &raw)?;
            let stale: Vec<String> = self
                .same_partition(&new)
                .filter(|e| {
                    let superseded = e.environment().eq_ignore_ascii_case(new.environment())
                        && e.user_assertion_hash() == new.user_assertion_hash()
                        && e.intersects(&new);
                    superseded || e.expires_on < w.now
                })
                .map(|e| e.key.clone())
                .collect();
            for k in &stale {
                self.remove_at(k);
            }
            self.insert_at(key, raw)?;
        }

        let mut account = None;
        if let Some(home) = home {
            account = Some(self.save_account(w, home)?);

            if let Some(id_token) = w.id_token {
                let stale: Vec<String> = self
                    .user_entries(home, |u| &u.idts, &self.idts)
                    .filter(|(_, e)| {
                        e.environment.eq_ignore_ascii_case(w.environment)
                            && e.client_id.eq_ignore_ascii_case(w.client_id)
                            && e.realm.eq_ignore_ascii_case(w.realm)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &stale {
                    self.remove_idt(k);
                }
                let key = key::id_token(home, w.environment, w.client_id, w.realm);
                self.insert_idt(key, schema::id_token(&written, home, id_token))?;
            }

            if let Some(refresh_token) = w.refresh_token {
                let stale: Vec<String> = self
                    .user_entries(home, |u| &u.rts, &self.rts)
                    .filter(|(_, e)| {
                        e.environment.eq_ignore_ascii_case(w.environment)
                            && e.client_id.eq_ignore_ascii_case(w.client_id)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &stale {
                    self.remove_rt(k);
                }
                let key = key::refresh_token(home, w.environment, w.client_id, &target);
                let raw = schema::refresh_token(&written, home, refresh_token, w.family_id);
                self.insert_rt(key, raw)?;
            }
        }

        let stale: Vec<String> = self
            .app_metadata
            .entries
            .iter()
            .filter(|(_, r)| {
                r.entry.environment.eq_ignore_ascii_case(w.environment)
                    && r.entry.client_id.eq_ignore_ascii_case(w.client_id)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            self.app_metadata.entries.remove(k);
        }
        let key = key::app_metadata(w.environment, w.client_id);
        let raw = schema::app_metadata(w.environment, w.client_id, w.family_id);
        self.insert_app_metadata(key, raw)?;

        Ok(account)
    }

    /// Writes the account of a user response. Without id token claims an existing account
    /// is kept as it is (rather than overwritten with fewer details).
    fn save_account(&mut self, w: &CacheWrite<'_>, home: &str) -> Result<Account, Error> {
        let account = match w.id_token_claims {
            Some(claims) => schema::account_from_claims(home, w.environment, w.realm, claims),
            None => {
                let envs = [w.environment.to_owned()];
                if let Some(existing) = self.find_account(home, &envs) {
                    return Ok(existing.clone());
                }
                let uid = home.split_once('.').map_or(home, |(uid, _)| uid);
                Account::new(home, w.environment, "", uid, w.realm)
            }
        };
        let stale: Vec<String> = self
            .user_entries(home, |u| &u.accounts, &self.accounts)
            .filter(|(_, e)| {
                e.account
                    .environment
                    .eq_ignore_ascii_case(&account.environment)
                    && e.account.realm.eq_ignore_ascii_case(&account.realm)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &stale {
            self.remove_account_entry(k);
        }
        let key = key::account(home, &account.environment, &account.realm);
        self.insert_account(key, schema::account(&account))?;
        Ok(account)
    }
}

/// Where a write lands in a distributed cache: the coordinates of the tokens it wrote.
#[derive(Clone, Copy)]
pub(crate) struct WriteScope<'a> {
    pub client_id: &'a str,
    pub realm: &'a str,
    pub home_account_id: Option<&'a str>,
    pub user_assertion_hash: Option<&'a str>,
}

impl WriteScope<'_> {
    /// The partition the scope's tokens are kept in.
    pub(crate) fn partition(&self) -> CachePartition {
        match (self.user_assertion_hash, self.home_account_id) {
            (Some(h), _) => CachePartition::on_behalf_of(h),
            (None, Some(home)) => CachePartition::user(home),
            (None, None) => CachePartition::app(self.client_id, self.realm),
        }
    }
}

/// The entries of one partition, by field name (`<section>|<key>`), as JSON.
pub(crate) struct PartitionSnapshot {
    pub fields: BTreeMap<String, String>,
    /// The expiry of its last access token (Unix seconds), if it has any.
    pub last_expiry: Option<i64>,
    /// Whether it holds refresh tokens, id tokens or accounts.
    pub has_user_entries: bool,
}

fn field(section: &str, key: &str) -> String {
    format!("{section}|{key}")
}

fn entry_json(raw: &Raw) -> String {
    // A map of JSON values always serializes.
    serde_json::to_string(raw).unwrap_or_default()
}

impl Store {
    /// The entries of the partition a write with this scope changes: the app's access tokens
    /// in the tenant; or the user's access tokens, refresh tokens, id tokens and accounts; or
    /// the on-behalf-of access tokens of the assertion in the app and tenant. Plus the app's
    /// metadata.
    pub(crate) fn partition_snapshot(&self, scope: &WriteScope<'_>) -> PartitionSnapshot {
        let mut out = PartitionSnapshot {
            fields: BTreeMap::new(),
            last_expiry: None,
            has_user_entries: false,
        };
        let add_at = |out: &mut PartitionSnapshot, e: &AtEntry| {
            if let Some(rec) = self.ats.entries.get(&e.key) {
                out.fields
                    .insert(field(key::ACCESS_TOKEN, &e.key), entry_json(&rec.raw));
                out.last_expiry = out.last_expiry.max(Some(e.expires_on));
            }
        };
        match (scope.user_assertion_hash, scope.home_account_id) {
            (None, Some(home)) => {
                if let Some(user) = self.user(home) {
                    for k in &user.ats {
                        if let Some(rec) = self.ats.entries.get(k)
                            && rec.entry.user_assertion_hash().is_none()
                        {
                            add_at(&mut out, &rec.entry);
                        }
                    }
                    for (section, keys, raw) in [
                        (key::REFRESH_TOKEN, &user.rts, &self.rts as &dyn RawSection),
                        (key::ID_TOKEN, &user.idts, &self.idts),
                        (key::ACCOUNT, &user.accounts, &self.accounts),
                    ] {
                        for k in keys {
                            if let Some(r) = raw.raw(k) {
                                out.fields.insert(field(section, k), entry_json(r));
                                out.has_user_entries = true;
                            }
                        }
                    }
                }
            }
            (hash, home) => {
                let home = home.unwrap_or("");
                let part = self.at_partitions.get(&self.hasher.partition(
                    home,
                    scope.client_id,
                    scope.realm,
                ));
                for slot in part.into_iter().flat_map(|p| &p.slots) {
                    let e: &AtEntry = &slot.entry;
                    if e.is_in(home, scope.client_id, scope.realm)
                        && e.user_assertion_hash() == hash
                    {
                        add_at(&mut out, e);
                    }
                }
            }
        }
        for (k, rec) in &self.app_metadata.entries {
            if rec.entry.client_id.eq_ignore_ascii_case(scope.client_id) {
                out.fields
                    .insert(field(key::APP_METADATA, k), entry_json(&rec.raw));
            }
        }
        out
    }

    /// Merges entries read from a distributed cache (`<section>|<key>` and JSON) into this
    /// store: an entry this store lacks is added; an access token replaces ours when it
    /// expires later, a refresh token when it was written later; other entries already here
    /// are kept. Returns the number of entries added or replaced, and the `cache_corrupt`
    /// error of the first entry that is not a valid cache entry (the others are merged).
    pub(crate) fn merge_partition(
        &mut self,
        fields: Vec<(String, String)>,
    ) -> (usize, Option<Error>) {
        let mut merged = 0;
        let mut first_error = None;
        for (name, json) in fields {
            match self.merge_entry(&name, &json) {
                Ok(true) => merged += 1,
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        (merged, first_error)
    }

    /// Merges one entry of a distributed cache; `true` when it was added or replaced ours.
    fn merge_entry(&mut self, name: &str, json: &str) -> Result<bool, Error> {
        let Some((section, key)) = name.split_once('|') else {
            return Err(Error::client(
                codes::CACHE_CORRUPT,
                format!(
                    "the distributed token cache is corrupt: entry name {name:?} has no section"
                ),
            ));
        };
        let raw: Raw = match serde_json::from_str(json) {
            Ok(Value::Object(raw)) => raw,
            Ok(_) => return Err(schema::not_an_object(&format!("{section} entry {key:?}"))),
            Err(e) => {
                return Err(Error::client(
                    codes::CACHE_CORRUPT,
                    format!(
                        "the distributed token cache is corrupt: {section} entry {key:?} is not \
                         JSON"
                    ),
                )
                .with_source(e));
            }
        };
        let key = key.to_owned();
        let take = match section {
            key::ACCESS_TOKEN => {
                let theirs = AtEntry::parse(&key, &raw)?;
                match self.ats.entries.get(&key) {
                    Some(ours) => theirs.expires_on > ours.entry.expires_on,
                    None => true,
                }
            }
            key::REFRESH_TOKEN => {
                let theirs = RtEntry::parse(&key, &raw)?;
                match self.rts.entries.get(&key) {
                    Some(ours) => theirs.last_modification_time > ours.entry.last_modification_time,
                    None => true,
                }
            }
            key::ID_TOKEN => !self.idts.entries.contains_key(&key),
            key::ACCOUNT => !self.accounts.entries.contains_key(&key),
            key::APP_METADATA => !self.app_metadata.entries.contains_key(&key),
            // A section of a newer version of this library: not ours to interpret.
            _ => false,
        };
        if take {
            match section {
                key::ACCESS_TOKEN => self.insert_at(key, raw)?,
                key::REFRESH_TOKEN => self.insert_rt(key, raw)?,
                key::ID_TOKEN => self.insert_idt(key, raw)?,
                key::ACCOUNT => self.insert_account(key, raw)?,
                _ => self.insert_app_metadata(key, raw)?,
            }
        }
        Ok(take)
    }
}

/// A section's raw entries, whatever its entry type.
trait RawSection {
    fn raw(&self, key: &str) -> Option<&Raw>;
}

impl<T> RawSection for Section<T> {
    fn raw(&self, key: &str) -> Option<&Raw> {
        self.entries.get(key).map(|r| &r.raw)
    }
}

impl Serialize for Store {
    /// The sections in the order MSAL Python creates them, then the unknown ones. A known
    /// section is written when it has entries or was in the input.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if self.ats.is_written() {
            map.serialize_entry(key::ACCESS_TOKEN, &self.ats)?;
        }
        if self.accounts.is_written() {
            map.serialize_entry(key::ACCOUNT, &self.accounts)?;
        }
        if self.idts.is_written() {
            map.serialize_entry(key::ID_TOKEN, &self.idts)?;
        }
        if self.rts.is_written() {
            map.serialize_entry(key::REFRESH_TOKEN, &self.rts)?;
        }
        if self.app_metadata.is_written() {
            map.serialize_entry(key::APP_METADATA, &self.app_metadata)?;
        }
        for (name, section) in &self.unknown {
            map.serialize_entry(name, section)?;
        }
        map.end()
    }
}
