//! MSAL's retry policy for requests to the identity provider.
//!
//! Written here rather than with a generic retry crate because the rules are protocol
//! semantics, not back-off tuning: one retry of a 5xx after a fixed delay unless the server
//! said when to come back (then the caller decides), one retry of a timeout, never a retry of
//! a 429 (the server asked us to slow down).

use std::future::Future;
use std::time::Duration;

use super::{
    HttpClient, HttpRequest, HttpResponse, MAX_RESPONSE_SIZE, TransportError, TransportErrorKind,
};
use crate::error::Error;

/// When and how the library retries a request by itself.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retry a 5xx answer without `Retry-After` once.
    pub retry_server_errors: bool,
    /// Retry a timed-out request once.
    pub retry_timeouts: bool,
    /// The delay before retrying a 5xx (1 s, as MSAL .NET).
    pub delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retry_server_errors: true,
            retry_timeouts: true,
            delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            retry_server_errors: false,
            retry_timeouts: false,
            delay: Duration::ZERO,
        }
    }
}

/// Sends `request`, retrying at most once as the policy says. Returns the last answer whatever
/// its status, or the transport error of the last attempt. This is where every answer enters
/// the library: a body larger than [`MAX_RESPONSE_SIZE`] is refused here, whatever the client.
pub(crate) async fn send_with_retry(
    client: &dyn HttpClient,
    request: HttpRequest,
    policy: &RetryPolicy,
) -> Result<HttpResponse, Error> {
    send_built_with_retry(client, request.clone(), move || request, policy).await
}

/// [`send_with_retry`] for a request that `again` builds anew for the retry: the first
/// attempt's `request` is not copied beforehand (most requests are never retried), and no
/// second copy of the secrets in its body is kept meanwhile.
///
/// Not an `async fn`: the first attempt is handed to the client here, so the future holds
/// the client's (boxed) future rather than the request, and the retry's state is boxed. It is
/// nested in every token request's future, which is moved on every call.
pub(crate) fn send_built_with_retry<'a>(
    client: &'a dyn HttpClient,
    request: HttpRequest,
    again: impl FnOnce() -> HttpRequest + Send + 'a,
    policy: &'a RetryPolicy,
) -> impl Future<Output = Result<HttpResponse, Error>> + Send + 'a {
    let first = client.execute(request);
    async move {
        // The answer is dead before the retry's await: the future holds no copy of it.
        let delay = match first.await {
            Ok(resp) => {
                let resp = within_limit(resp)?;
                // The headers are read only for a 5xx: most answers are not.
                let status = resp.status.as_u16();
                if !(500..600).contains(&status)
                    || !policy.retry_server_errors
                    || resp.headers.contains_key(http::header::RETRY_AFTER)
                {
                    return Ok(resp);
                }
                tracing::info!(
                    status,
                    "server error; retrying once after {:?}",
                    policy.delay
                );
                policy.delay
            }
            Err(e) if e.kind() == TransportErrorKind::Timeout && policy.retry_timeouts => {
                tracing::info!("request timed out; retrying once");
                Duration::ZERO
            }
            Err(e) => return Err(e.into()),
        };
        Box::pin(retry_once(client, again, delay)).await
    }
}

/// The one retry, after `delay`; boxed by its callers, as most requests never need it.
async fn retry_once(
    client: &dyn HttpClient,
    again: impl FnOnce() -> HttpRequest,
    delay: Duration,
) -> Result<HttpResponse, Error> {
    crate::runtime::sleep(delay).await;
    within_limit(client.execute(again()).await?)
}

/// The answer, or the `response_too_large` error when its body is over the limit; the body is
/// dropped with the answer, and the error keeps only its status.
pub(crate) fn within_limit(resp: HttpResponse) -> Result<HttpResponse, Error> {
    if resp.body.len() > MAX_RESPONSE_SIZE {
        return Err(TransportError::response_too_large(resp.status, MAX_RESPONSE_SIZE).into());
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::super::{BoxFuture, HeaderMap, StatusCode};
    use super::*;
    use crate::ErrorKind;

    /// One scripted outcome: a status with an optional `Retry-After`, or a transport failure.
    type Outcome = Result<(u16, Option<&'static str>), TransportErrorKind>;

    /// Answers from a script and counts the requests.
    #[derive(Debug)]
    struct Scripted(Mutex<Vec<Outcome>>);

    impl HttpClient for Scripted {
        fn execute(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
            let next = self.0.lock().unwrap().remove(0);
            Box::pin(async move {
                match next {
                    Ok((status, retry_after)) => {
                        let mut h = HeaderMap::new();
                        if let Some(v) = retry_after {
                            h.insert(http::header::RETRY_AFTER, v.parse().unwrap());
                        }
                        Ok(HttpResponse::new(
                            StatusCode::from_u16(status).unwrap(),
                            h,
                            "",
                        ))
                    }
                    Err(kind) => Err(TransportError::new(kind, "scripted", None)),
                }
            })
        }
    }

    fn req() -> HttpRequest {
        HttpRequest::get(url::Url::parse("http://127.0.0.1:1/x").unwrap())
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            delay: Duration::from_millis(1),
            ..Default::default()
        }
    }

    async fn run(script: Vec<Outcome>) -> (Result<HttpResponse, Error>, usize) {
        let n = script.len();
        let c = Scripted(Mutex::new(script));
        let r = send_with_retry(&c, req(), &fast()).await;
        let left = c.0.lock().unwrap().len();
        (r, n - left)
    }

    #[tokio::test]
    async fn a_5xx_is_retried_once() {
        let (r, sent) = run(vec![Ok((503, None)), Ok((200, None))]).await;
        assert_eq!(r.unwrap().status, 200);
        assert_eq!(sent, 2);
        let (r, sent) = run(vec![Ok((500, None)), Ok((502, None)), Ok((200, None))]).await;
        assert_eq!(r.unwrap().status, 502);
        assert_eq!(sent, 2);
    }

    #[tokio::test]
    async fn a_5xx_with_retry_after_and_a_429_are_not_retried() {
        let (r, sent) = run(vec![Ok((503, Some("5"))), Ok((200, None))]).await;
        assert_eq!(r.unwrap().status, 503);
        assert_eq!(sent, 1);
        let (r, sent) = run(vec![Ok((429, None)), Ok((200, None))]).await;
        assert_eq!(r.unwrap().status, 429);
        assert_eq!(sent, 1);
    }

    #[tokio::test]
    async fn a_timeout_is_retried_once_and_a_refusal_never() {
        let (r, sent) = run(vec![Err(TransportErrorKind::Timeout), Ok((200, None))]).await;
        assert_eq!(r.unwrap().status, 200);
        assert_eq!(sent, 2);
        let (r, sent) = run(vec![
            Err(TransportErrorKind::Timeout),
            Err(TransportErrorKind::Timeout),
        ])
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.is_timeout());
        assert_eq!(sent, 2);
        let (r, sent) = run(vec![Err(TransportErrorKind::Connect), Ok((200, None))]).await;
        assert_eq!(r.unwrap_err().code(), "network_error");
        assert_eq!(sent, 1);
    }

    /// Answers every request with a body one byte over the limit, or at the limit.
    #[derive(Debug)]
    struct Sized(u16, usize);

    impl HttpClient for Sized {
        fn execute(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
            let status = StatusCode::from_u16(self.0).unwrap();
            let body = vec![b'x'; self.1];
            Box::pin(async move { Ok(HttpResponse::new(status, HeaderMap::new(), body)) })
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_from_any_client_is_refused_with_its_status() {
        for status in [200, 400, 503] {
            let client = Sized(status, MAX_RESPONSE_SIZE + 1);
            let e = send_with_retry(&client, req(), &fast()).await.unwrap_err();
            assert_eq!(
                (e.kind(), e.code()),
                (ErrorKind::Service, crate::error::codes::RESPONSE_TOO_LARGE)
            );
            assert_eq!(e.http_status(), Some(status));
        }
        let at_limit = Sized(200, MAX_RESPONSE_SIZE);
        let resp = send_with_retry(&at_limit, req(), &fast()).await.unwrap();
        assert_eq!(resp.body.len(), MAX_RESPONSE_SIZE);
    }
}
