//! On-behalf-of sessions: the tokens a web API keeps under one `user_assertion_hash` (the
//! hash of the incoming assertion, or the key of a long-running process), found and removed
//! by that key alone.

use std::hash::BuildHasher;

use super::index::Store;
use super::l2_merge::WriteScope;
use super::{CachePartition, CachedRefreshToken, TokenCache};
use crate::error::Error;

/// What the cache holds of one on-behalf-of session of an app.
#[derive(Debug, Clone)]
pub(crate) struct OboSession {
    /// The user the session's tokens were issued to.
    pub home_account_id: String,
    /// The tenant of the session's access token that lives longest, if it has any.
    pub realm: Option<String>,
    /// The session's newest refresh token, if it has one.
    pub refresh_token: Option<CachedRefreshToken>,
}

impl<S: BuildHasher + Clone> Store<S> {
    /// The session `hash` of `client_id`, if the cache holds a token of it for a user.
    pub(crate) fn find_obo_session(&self, client_id: &str, hash: &str) -> Option<OboSession> {
        let keys = self.session(hash)?;
        let rt = keys
            .rts
            .iter()
            .filter_map(|k| self.rts.entries.get(k))
            .map(|r| &r.entry)
            .filter(|e| e.client_id.eq_ignore_ascii_case(client_id))
            .max_by_key(|e| e.last_modification_time.unwrap_or(i64::MIN));
        let at = keys
            .ats
            .iter()
            .filter_map(|k| self.ats.entries.get(k))
            .map(|r| &r.entry)
            .filter(|e| e.client_id().eq_ignore_ascii_case(client_id))
            .max_by_key(|e| e.expires_on);
        let home = rt
            .map(|e| e.home_account_id.clone())
            .or_else(|| at.and_then(|e| e.home_account_id().map(str::to_owned)))?;
        Some(OboSession {
            home_account_id: home,
            realm: at.map(|e| e.realm().to_owned()),
            refresh_token: rt.map(|e| CachedRefreshToken {
                secret: e.secret.clone(),
                family_id: e.family_id.clone(),
                client_id: e.client_id.clone(),
            }),
        })
    }

    /// Removes the access and refresh tokens of the session `hash` of `client_id`. Returns
    /// whether there were any.
    pub(crate) fn remove_obo_session(&mut self, client_id: &str, hash: &str) -> bool {
        let Some(keys) = self.session(hash) else {
            return false;
        };
        let ats: Vec<String> = keys
            .ats
            .iter()
            .filter(|k| {
                self.ats
                    .entries
                    .get(*k)
                    .is_some_and(|r| r.entry.client_id().eq_ignore_ascii_case(client_id))
            })
            .cloned()
            .collect();
        let rts: Vec<String> = keys
            .rts
            .iter()
            .filter(|k| {
                self.rts
                    .entries
                    .get(*k)
                    .is_some_and(|r| r.entry.client_id.eq_ignore_ascii_case(client_id))
            })
            .cloned()
            .collect();
        let mut removed = false;
        for k in &ats {
            removed |= self.remove_at(k);
        }
        for k in &rts {
            removed |= self.remove_rt(k);
        }
        removed
    }
}

impl TokenCache {
    /// The on-behalf-of session `hash` of `client_id` (read through to the distributed cache).
    pub(crate) async fn find_obo_session(
        &self,
        client_id: &str,
        hash: &str,
    ) -> Result<Option<OboSession>, Error> {
        self.read_through(
            || CachePartition::on_behalf_of(hash),
            || self.store().find_obo_session(client_id, hash),
        )
        .await
    }

    /// Removes the access and refresh tokens of the on-behalf-of session `hash` of
    /// `client_id` (in the distributed cache too). Returns whether there were any.
    pub(crate) async fn remove_obo_session(
        &self,
        client_id: &str,
        hash: &str,
    ) -> Result<bool, Error> {
        if self.inner.distributed.is_some() {
            // What other machines wrote of the session goes too.
            self.fill_from_l2(CachePartition::on_behalf_of(hash))
                .await?;
        }
        let scope = WriteScope {
            client_id,
            realm: "",
            home_account_id: None,
            user_assertion_hash: Some(hash),
        };
        self.write(scope, |store| Ok(store.remove_obo_session(client_id, hash)))
            .await
    }
}
