//! MSAL's write rules: what a token response writes and what it replaces (as MSAL Python's
//! `TokenCache.add` does), and what signing an account out removes.

use std::hash::BuildHasher;
use std::sync::Arc;

use super::index::{AtSlot, Family, Rec, Store};
use super::key;
use super::query::{CacheWrite, Saved};
use super::schema::{self, AtEntry, AtFields, Written};
use crate::account::Account;
use crate::error::Error;

impl<S: BuildHasher + Clone> Store<S> {
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
    /// replaces what they supersede (see [`super::TokenCache`]). Returns the account of a
    /// user's answer and the parts of the access token written, which the answer's result can
    /// share instead of copying.
    pub(crate) fn save_response(&mut self, w: &CacheWrite<'_>) -> Result<Saved, Error> {
        let mut written_parts = None;
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
            let mut key = key::access_token(
                home,
                w.environment,
                w.client_id,
                w.realm,
                &target,
                w.token_type,
            );
            if let Some(hash) = w.user_assertion_hash.filter(|h| !h.is_empty()) {
                // On-behalf-of sessions of one user keep their own tokens (see
                // `key::session_refresh_token`).
                key = key::in_session(key, hash);
            }
            let at = AtFields {
                secret,
                token_type: w.token_type,
                expires_in: w.expires_in,
                ext_expires_in: w.ext_expires_in,
                refresh_in: w.refresh_in,
                user_assertion_hash: w.user_assertion_hash,
                key_id: w.key_id,
            };
            let new = AtEntry::written(key.clone(), &written, &at);
            #[cfg(debug_assertions)]
            {
                let raw = schema::access_token(&written, &at);
                let parsed = AtEntry::parse(&key, &raw)?;
                debug_assert!(
                    super::index::same_object(&new.render(), &raw)
                        && super::index::same_object(&parsed.render(), &raw),
                    "AtEntry::written, AtEntry::parse and schema::access_token disagree"
                );
            }
            // One partition hash for the lookup, the removals and the insertion; the stale
            // entries are held by their shared handles, not copies of their keys.
            let partition = self.partition_of(&new);
            let stale: Vec<Arc<AtEntry>> = self
                .same_partition(partition, &new)
                .filter(|e| {
                    // A token replaces those of its own type only (as MSAL .NET's keys do): a
                    // proof-of-possession token for a new key replaces the one for the old key,
                    // never the bearer token.
                    let superseded = e.environment().eq_ignore_ascii_case(new.environment())
                        && e.user_assertion_hash() == new.user_assertion_hash()
                        && e.token_type().eq_ignore_ascii_case(new.token_type())
                        && e.intersects(&new);
                    superseded || e.expires_on < w.now
                })
                .cloned()
                .collect();
            written_parts = Some(Arc::clone(&new.parts));
            // The token it replaces under the same key, alone: replaced in place.
            let new = match stale.as_slice() {
                [old] if old.key == key => self.replace_written_at(old, &key, new, partition),
                _ => Some(new),
            };
            if let Some(new) = new {
                for e in &stale {
                    self.remove_at_in(&e.key, Some(partition));
                }
                self.insert_written_at(key, new, partition);
            }
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
                // An on-behalf-of refresh token belongs to its session (the assertion's hash,
                // or the key of a long-running process): it replaces the session's own only.
                let session = w.user_assertion_hash.filter(|h| !h.is_empty());
                let stale: Vec<String> = self
                    .user_entries(home, |u| &u.rts, &self.rts)
                    .filter(|(_, e)| {
                        e.environment.eq_ignore_ascii_case(w.environment)
                            && e.client_id.eq_ignore_ascii_case(w.client_id)
                            && e.user_assertion_hash.as_deref() == session
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &stale {
                    self.remove_rt(k);
                }
                let mut key = key::refresh_token(home, w.environment, w.client_id, &target);
                if let Some(h) = session {
                    key = key::in_session(key, h);
                }
                let raw =
                    schema::refresh_token(&written, home, refresh_token, w.family_id, session);
                self.insert_rt(key, raw)?;
            }
        }

        if !self.app_metadata_unchanged(w) {
            let key = key::app_metadata(w.environment, w.client_id);
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
            let raw = schema::app_metadata(w.environment, w.client_id, w.family_id);
            self.insert_app_metadata(key, raw)?;
        }

        Ok(Saved {
            account,
            parts: written_parts,
        })
    }

    /// Puts `new` in the place of `old`, which it replaces under the same key: the common
    /// write (a token fetched again for the same request) then moves no map entry, allocates
    /// no slot and builds no key. `old` must be in the cache under `key`, in the partition
    /// `partition` (not indexed by scope), with the same account and session as `new`.
    /// Returns `None` when `new` took its place; otherwise `new` is given back, for
    /// `insert_written_at`.
    pub(super) fn replace_written_at(
        &mut self,
        old: &Arc<AtEntry>,
        key: &str,
        new: AtEntry,
        partition: u64,
    ) -> Option<AtEntry> {
        if old.home() != new.home() || old.user_assertion_hash() != new.user_assertion_hash() {
            return Some(new);
        }
        let Some(part) = self.at_partitions.get_mut(&partition) else {
            return Some(new);
        };
        let Some(rec) = self.ats.entries.get_mut(key) else {
            return Some(new);
        };
        let slot = part.slots.iter_mut().find(|s| Arc::ptr_eq(&s.entry, old));
        let (None, Some(slot), true) = (&part.by_scope, slot, Arc::ptr_eq(&rec.entry, old)) else {
            return Some(new);
        };
        let new = Arc::new(new);
        *slot = AtSlot::of(&new);
        *rec = Rec {
            raw: None,
            entry: new,
        };
        self.generation += 1;
        None
    }

    /// Whether the app's metadata is cached exactly as the response would write it (its one
    /// entry, under `key`, with the same fields in the same order): every answer writes it,
    /// and it seldom changes, so it is then left as it is.
    fn app_metadata_unchanged(&self, w: &CacheWrite<'_>) -> bool {
        let mut same_app = self.app_metadata.entries.iter().filter(|(_, r)| {
            r.entry.environment.eq_ignore_ascii_case(w.environment)
                && r.entry.client_id.eq_ignore_ascii_case(w.client_id)
        });
        let (Some((k, rec)), None) = (same_app.next(), same_app.next()) else {
            return false;
        };
        let Some(raw) = &rec.raw else {
            return false;
        };
        let fields = [
            ("client_id", Some(w.client_id)),
            ("environment", Some(w.environment)),
            ("family_id", w.family_id),
        ];
        let mut expected = fields.iter().filter_map(|(n, v)| v.map(|v| (*n, v)));
        key::is_app_metadata(k, w.environment, w.client_id)
            && raw.len() == expected.clone().count()
            && raw
                .iter()
                .zip(expected.by_ref())
                .all(|((name, value), (n, v))| name == n && value.as_str() == Some(v))
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
