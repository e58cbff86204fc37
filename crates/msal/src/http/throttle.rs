//! Client-side throttling, as MSAL .NET does it: once the identity provider told a request to
//! wait, or answered a silent request with "interaction required", the same request fails fast
//! inside that window, with the original error and no network call.
//!
//! The rules are MSAL's protocol semantics (which answers throttle, for how long, keyed how),
//! so they are written here rather than taken from a rate-limiting crate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};

/// How long a public client's request is throttled after a 429 or 5xx without `Retry-After`.
pub(crate) const HTTP_STATUS_THROTTLE: Duration = Duration::from_secs(60);
/// How long a silent request is throttled after it got `UiRequired`.
pub(crate) const UI_REQUIRED_THROTTLE: Duration = Duration::from_secs(120);
/// Entries are swept once the store holds this many, so it cannot grow without bound.
const SWEEP_AT: usize = 1024;

/// The throttling state of one application.
#[derive(Debug, Default)]
pub(crate) struct ThrottleStore {
    entries: Mutex<HashMap<[u8; 32], (Instant, Error)>>,
    /// How many entries there are, readable without the lock: while there are none (the
    /// usual case), a request neither computes its key nor takes the lock.
    len: AtomicUsize,
}

/// The identity of a request for throttling: client id, authority, scopes, account and (for a
/// silent request) a hash of the refresh token, hashed so no secret is kept.
pub(crate) fn throttle_key<'a>(parts: impl IntoIterator<Item = &'a str>) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

impl ThrottleStore {
    /// Whether no window is open (nor kept): then nothing is throttled and nothing to clear.
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// [`check`](Self::check) with the key computed only when a window may be open.
    pub(crate) fn check_with(&self, key: impl FnOnce() -> [u8; 32]) -> Result<(), Error> {
        if self.is_empty() {
            return Ok(());
        }
        self.check(&key())
    }

    /// Settles a request with its answer: a success clears the key's window, a failure may
    /// open one (see [`record`](Self::record)). The key is computed only when needed.
    pub(crate) fn settle<T>(
        &self,
        key: impl FnOnce() -> [u8; 32],
        answer: &Result<T, Error>,
        public_client: bool,
        silent: bool,
    ) {
        match answer {
            Ok(_) if self.is_empty() => {}
            Ok(_) => self.clear(&key()),
            Err(e) => self.record(key(), e, public_client, silent),
        }
    }

    fn set_len(&self, entries: &HashMap<[u8; 32], (Instant, Error)>) {
        self.len.store(entries.len(), Ordering::Release);
    }

    /// Fails fast with a throttled copy of the stored error while the key's window is open.
    pub(crate) fn check(&self, key: &[u8; 32]) -> Result<(), Error> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((until, err)) = entries.get(key) {
            let now = Instant::now();
            if *until > now {
                return Err(err.as_throttled(*until - now));
            }
            entries.remove(key);
            self.set_len(&entries);
        }
        Ok(())
    }

    /// Records a failed request's answer, opening a window when the rules say so:
    /// any `Retry-After` from the server; for public clients a 429 or 5xx without one (60 s);
    /// for silent requests a `UiRequired` answer (120 s).
    pub(crate) fn record(&self, key: [u8; 32], err: &Error, public_client: bool, silent: bool) {
        if err.is_client_throttled() {
            return;
        }
        let server_said_wait = err
            .response_headers()
            .is_some_and(|h| h.contains_key(http::header::RETRY_AFTER));
        let window = if server_said_wait {
            err.retry_after()
        } else if public_client && matches!(err.http_status(), Some(429 | 500..=599)) {
            Some(HTTP_STATUS_THROTTLE)
        } else if silent && err.kind() == ErrorKind::UiRequired && err.http_status().is_some() {
            Some(UI_REQUIRED_THROTTLE)
        } else {
            None
        };
        let Some(window) = window.filter(|w| !w.is_zero()) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, (until, _)| *until > now);
        }
        entries.insert(key, (now + window, err.clone()));
        self.set_len(&entries);
    }

    /// Forgets the key's window (after a success).
    pub(crate) fn clear(&self, key: &[u8; 32]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
        self.set_len(&entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OAuthErrorResponse;
    use http::HeaderMap;

    fn answer(status: u16, error: &str, retry_after: Option<&str>) -> Error {
        let mut h = HeaderMap::new();
        if let Some(v) = retry_after {
            h.insert(http::header::RETRY_AFTER, v.parse().unwrap());
        }
        Error::from_oauth_error(OAuthErrorResponse {
            error: error.into(),
            http_status: Some(status),
            headers: Some(h),
            ..Default::default()
        })
    }

    #[test]
    fn retry_after_throttles_any_client() {
        let s = ThrottleStore::default();
        let k = throttle_key(["client", "authority", "scope"]);
        s.record(k, &answer(429, "throttled", Some("30")), false, false);
        let e = s.check(&k).unwrap_err();
        assert!(e.is_client_throttled());
        assert_eq!(e.code(), "throttled");
        assert!(e.retry_after().unwrap() <= Duration::from_secs(30));
        assert!(
            s.check(&throttle_key(["client", "authority", "other"]))
                .is_ok()
        );
        s.clear(&k);
        assert!(s.check(&k).is_ok());
    }

    #[test]
    fn status_without_retry_after_throttles_public_clients_only() {
        let s = ThrottleStore::default();
        let k = throttle_key(["a"]);
        s.record(
            k,
            &answer(503, "temporarily_unavailable", None),
            false,
            false,
        );
        assert!(s.check(&k).is_ok());
        s.record(
            k,
            &answer(503, "temporarily_unavailable", None),
            true,
            false,
        );
        let e = s.check(&k).unwrap_err();
        assert!(e.retry_after().unwrap() > Duration::from_secs(55));
    }

    #[test]
    fn ui_required_throttles_silent_requests() {
        let s = ThrottleStore::default();
        let k = throttle_key(["a", "rt-hash"]);
        let ui = answer(400, "invalid_grant", None);
        s.record(k, &ui, true, false);
        assert!(s.check(&k).is_ok());
        s.record(k, &ui, true, true);
        let e = s.check(&k).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UiRequired);
        assert!(e.retry_after().unwrap() > Duration::from_secs(115));
    }

    #[test]
    fn the_key_is_computed_only_while_a_window_is_open_or_after_a_failure() {
        let s = ThrottleStore::default();
        let computed = std::cell::Cell::new(0);
        let key = || {
            computed.set(computed.get() + 1);
            throttle_key(["a"])
        };
        // Nothing throttled: a success computes no key and takes no lock.
        assert!(s.is_empty());
        assert!(s.check_with(key).is_ok());
        s.settle(key, &Ok::<(), Error>(()), true, false);
        assert_eq!(computed.get(), 0);
        // A failure that opens a window computes it; so do the checks while it is open.
        s.settle(
            key,
            &Err::<(), _>(answer(429, "x", Some("30"))),
            true,
            false,
        );
        assert_eq!(computed.get(), 1);
        assert!(!s.is_empty());
        assert!(s.check_with(key).unwrap_err().is_client_throttled());
        assert_eq!(computed.get(), 2);
        // A success clears the window, and the store is empty again.
        s.settle(key, &Ok::<(), Error>(()), true, false);
        assert_eq!(computed.get(), 3);
        assert!(s.is_empty());
        assert!(s.check_with(key).is_ok());
        assert_eq!(computed.get(), 3);
    }

    #[test]
    fn zero_retry_after_does_not_throttle() {
        let s = ThrottleStore::default();
        let k = throttle_key(["a"]);
        s.record(k, &answer(429, "x", Some("0")), true, false);
        assert!(s.check(&k).is_ok());
    }
}
