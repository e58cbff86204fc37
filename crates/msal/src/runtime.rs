//! What the library needs from an async runtime, and what it does without one.
//!
//! The library's futures are driven by the caller's executor. Tokio's timers, tasks and sockets
//! panic outside a Tokio runtime, so every use of them goes through here: with a custom
//! [`crate::http::HttpClient`] the token flows also work on another executor (a retry delay
//! sleeps on a helper thread, a background refresh is skipped), and what truly needs Tokio
//! (the default HTTP client, the loopback listener of an interactive sign-in) fails with a
//! `Client` error `no_async_runtime` instead of a panic.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, codes};

/// Whether a Tokio runtime is running on this thread (its timers, tasks and sockets work).
pub(crate) fn has_tokio() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// `Ok` inside a Tokio runtime, else the `Client` error `no_async_runtime` naming `what`.
pub(crate) fn require_tokio(what: &str) -> Result<(), Error> {
    if has_tokio() {
        return Ok(());
    }
    Err(Error::client(
        codes::NO_ASYNC_RUNTIME,
        format!("{what} needs a Tokio runtime, and none is running on this thread"),
    ))
}

/// Sleeps for `delay`: on Tokio's timer inside a Tokio runtime, else on a helper thread that
/// wakes the caller's executor (Tokio's channels work on any executor).
pub(crate) async fn sleep(delay: Duration) {
    if delay.is_zero() {
        return;
    }
    if has_tokio() {
        tokio::time::sleep(delay).await;
        return;
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("msal-sleep".into())
        .spawn(move || {
            std::thread::sleep(delay);
            let _ = tx.send(());
        });
    match spawned {
        Ok(_) => {
            let _ = rx.await;
        }
        // No thread to sleep on: blocking this one is the only way left to wait.
        Err(_) => std::thread::sleep(delay),
    }
}

/// Runs `task` in the background on the current Tokio runtime; `false` (and `task` dropped)
/// when there is none, so the caller goes on without it.
pub(crate) fn spawn_detached(task: impl Future<Output = ()> + Send + 'static) -> bool {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(task);
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_tokio_nothing_panics() {
        assert!(!has_tokio());
        let e = require_tokio("this").unwrap_err();
        assert_eq!(
            (e.kind(), e.code()),
            (crate::ErrorKind::Client, codes::NO_ASYNC_RUNTIME)
        );
        assert!(!spawn_detached(async {}));
        futures_lite::future::block_on(sleep(Duration::from_millis(5)));
    }

    #[tokio::test]
    async fn inside_tokio_it_is_tokio() {
        assert!(has_tokio());
        require_tokio("this").unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        assert!(spawn_detached(async move {
            let _ = tx.send(());
        }));
        rx.await.unwrap();
        sleep(Duration::from_millis(1)).await;
    }
}
