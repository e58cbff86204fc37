//! Client-side throttling, as MSAL .NET does it: once the identity provider told a request to
//! wait, or answered a silent request with "interaction required", the same request fails fast
//! inside that window, with the original error and no network call.
//!
//! The rules are MSAL's protocol semantics (which answers throttle, for how long, keyed how),
//! so they are written here rather than taken from a rate-limiting crate.

use std::collections::HashMap;
use std::sync::Mutex;
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
}

/// The identity of a request for throttling: client id, authority, scopes, account and (for a
/// silent request) a hash of the refresh token, hashed so no secret is kept.
pub(crate) fn throttle_key(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

impl ThrottleStore {
    /// Fails fast with a throttled copy of the stored error while the key's window is open.
    pub(crate) fn check(&self, key: &[u8; 32]) -> Result<(), Error> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((until, err)) = entries.get(key) {
            let now = Instant::now();
            if *until > now {
                return Err(err.as_throttled(*until - now));
            }
            entries.remove(key);
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
    }

    /// Forgets the key's window (after a success).
    pub(crate) fn clear(&self, key: &[u8; 32]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
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
        let k = throttle_key(&["client", "authority", "scope"]);
        s.record(k, &answer(429, "throttled", Some("30")), false, false);
        let e = s.check(&k).unwrap_err();
        assert!(e.is_client_throttled());
        assert_eq!(e.code(), "throttled");
        assert!(e.retry_after().unwrap() <= Duration::from_secs(30));
        assert!(
            s.check(&throttle_key(&["client", "authority", "other"]))
                .is_ok()
        );
        s.clear(&k);
        assert!(s.check(&k).is_ok());
    }

    #[test]
    fn status_without_retry_after_throttles_public_clients_only() {
        let s = ThrottleStore::default();
        let k = throttle_key(&["a"]);
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
        let k = throttle_key(&["a", "rt-hash"]);
        let ui = answer(400, "invalid_grant", None);
        s.record(k, &ui, true, false);
        assert!(s.check(&k).is_ok());
        s.record(k, &ui, true, true);
        let e = s.check(&k).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UiRequired);
        assert!(e.retry_after().unwrap() > Duration::from_secs(115));
    }

    #[test]
    fn zero_retry_after_does_not_throttle() {
        let s = ThrottleStore::default();
        let k = throttle_key(&["a"]);
        s.record(k, &answer(429, "x", Some("0")), true, false);
        assert!(s.check(&k).is_ok());
    }
}
