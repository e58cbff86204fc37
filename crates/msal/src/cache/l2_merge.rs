//! The second level of a two-level cache, as the store sees it: the partition a write lands
//! in, a partition's entries as the distributed cache keeps them (`<section>|<key>` and JSON),
//! what a write sends (the entries it changed), and the merge of what a read brings back.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::time::Duration;

use serde_json::Value;

use super::distributed::{CachePartition, PartitionWrite};
use super::index::{MAX_LEFT_SECS, Render, Section, Store};
use super::key;
use super::schema::{self, AtEntry, Raw, RtEntry};
use crate::error::{Error, codes};

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

impl PartitionSnapshot {
    /// What a write sends to the distributed cache: the entries of this snapshot (taken after
    /// the change) that are new or differ from `before`, and those of `before` that are gone.
    /// The partition lives `refresh_token_ttl` when it holds user entries, else until its last
    /// access token expires (bounded as lookups are: an entry that claims to live for ever does
    /// not keep its partition for ever).
    pub(crate) fn changes_since(
        &self,
        before: &PartitionSnapshot,
        refresh_token_ttl: Duration,
        now: i64,
    ) -> PartitionWrite {
        let upserts: Vec<(String, String)> = self
            .fields
            .iter()
            .filter(|(k, v)| before.fields.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let removals: Vec<String> = before
            .fields
            .keys()
            .filter(|k| !self.fields.contains_key(*k))
            .cloned()
            .collect();
        let ttl = if self.has_user_entries {
            refresh_token_ttl
        } else {
            let left = self
                .last_expiry
                .map_or(0, |t| t.saturating_sub(now).clamp(0, MAX_LEFT_SECS));
            Duration::from_secs(u64::try_from(left).unwrap_or(0))
        };
        PartitionWrite {
            upserts,
            removals,
            ttl,
        }
    }
}

fn field(section: &str, key: &str) -> String {
    format!("{section}|{key}")
}

fn entry_json(raw: &Raw) -> String {
    // A map of JSON values always serializes.
    serde_json::to_string(raw).unwrap_or_default()
}

impl<S: BuildHasher + Clone> Store<S> {
    /// The entries of the partition a write with this scope changes: the app's access tokens
    /// in the tenant; or the user's access tokens, refresh tokens, id tokens and accounts; or
    /// the on-behalf-of access and refresh tokens of the session (the assertion's hash, or a
    /// long-running process's key) of the app. Plus the app's metadata.
    pub(crate) fn partition_snapshot(&self, scope: &WriteScope<'_>) -> PartitionSnapshot {
        let mut out = PartitionSnapshot {
            fields: BTreeMap::new(),
            last_expiry: None,
            has_user_entries: false,
        };
        let add_at = |out: &mut PartitionSnapshot, e: &AtEntry| {
            if let Some(rec) = self.ats.entries.get(&e.key) {
                out.fields
                    .insert(field(key::ACCESS_TOKEN, &e.key), entry_json(&rec.json()));
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
                                out.fields.insert(field(section, k), entry_json(&r));
                                out.has_user_entries = true;
                            }
                        }
                    }
                }
            }
            (Some(hash), _) => {
                if let Some(keys) = self.session(hash) {
                    for k in &keys.ats {
                        if let Some(rec) = self.ats.entries.get(k)
                            && rec.entry.client_id().eq_ignore_ascii_case(scope.client_id)
                        {
                            add_at(&mut out, &rec.entry);
                        }
                    }
                    for k in &keys.rts {
                        if let Some(rec) = self.rts.entries.get(k)
                            && rec.entry.client_id.eq_ignore_ascii_case(scope.client_id)
                        {
                            out.fields
                                .insert(field(key::REFRESH_TOKEN, k), entry_json(&rec.json()));
                            out.has_user_entries = true;
                        }
                    }
                }
            }
            (hash @ None, home) => {
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
                    .insert(field(key::APP_METADATA, k), entry_json(&rec.json()));
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
    fn raw(&self, key: &str) -> Option<std::borrow::Cow<'_, Raw>>;
}

impl<T: Render> RawSection for Section<T> {
    fn raw(&self, key: &str) -> Option<std::borrow::Cow<'_, Raw>> {
        self.entries.get(key).map(|r| r.json())
    }
}
