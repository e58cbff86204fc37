//! Single-flight (concurrent identical requests share one request to the identity provider)
//! and the pacing of background refreshes: the pipeline's two maps of requests under way.

use std::sync::Arc;

use super::{AppCore, Flight};
use crate::error::Error;
use crate::result::AuthenticationResult;

/// A background refresh of the same request starts at most this often.
const BACKGROUND_REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

impl AppCore {
    /// Runs `request` once for all concurrent callers with the same `key`: the first caller
    /// runs it, the others wait for and share its result. If the first caller is dropped
    /// mid-way, a waiting caller runs it instead.
    pub(crate) async fn single_flight<F, Fut>(
        &self,
        key: [u8; 32],
        request: F,
    ) -> Result<AuthenticationResult, Error>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<AuthenticationResult, Error>>,
    {
        let flight: Flight = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone();
        flight.get_or_init(request).await;
        {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            if inflight.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                inflight.remove(&key);
            }
        }
        // The last caller to hold the flight (the only one, mostly) takes its result; the
        // others copy it.
        match Arc::try_unwrap(flight) {
            Ok(cell) => cell.into_inner(),
            Err(shared) => shared.get().cloned(),
        }
        .unwrap_or_else(|| {
            Err(Error::client(
                crate::error::codes::CANCELLED,
                "the shared request ended without an answer",
            ))
        })
    }

    /// Whether a background refresh of `key` may start now (none started recently).
    pub(crate) fn start_background_refresh(&self, key: [u8; 32]) -> bool {
        let now = std::time::Instant::now();
        let mut refreshing = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        if refreshing
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < BACKGROUND_REFRESH_EVERY)
        {
            return false;
        }
        if refreshing.len() >= 1024 {
            refreshing.retain(|_, t| now.duration_since(*t) < BACKGROUND_REFRESH_EVERY);
        }
        refreshing.insert(key, now);
        true
    }
}
