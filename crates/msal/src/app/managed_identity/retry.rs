//! Managed identity's retry policy, as MSAL .NET's: IMDS retries 404, 408, 410, 429 and 5xx
//! with exponential backoff (a 410, which IMDS answers while it updates, for longer); the
//! other sources retry 404, 408, 429, 500, 503 and 504, honouring `Retry-After`.
//!
//! Apart from the generic policy of `crate::http` (one retry of a 5xx): these endpoints are
//! local agents whose documented answers while starting or updating are 404 and 410.

use std::time::Duration;

use super::ManagedIdentitySource;
use crate::error::{Error, codes};
use crate::http::{
    HttpClient, HttpRequest, HttpResponse, TransportError, TransportErrorKind, parse_retry_after,
    within_limit,
};

/// When a managed identity request is sent again. The defaults are MSAL .NET's; tests and
/// hosts that must fail fast scale the delays down or use [`none`](Self::none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedIdentityRetryPolicy {
    /// Retries of a retryable answer (3).
    pub max_retries: u32,
    /// The delay before the first retry (1 s). IMDS doubles it at each retry (1, 2, 4 s);
    /// the other sources wait it each time, or what `Retry-After` says.
    pub delay: Duration,
    /// The delay before retrying IMDS's 410 (10 s).
    pub imds_gone_delay: Duration,
    /// Retries of IMDS's 410 (7: 70 s in all).
    pub imds_gone_max_retries: u32,
    /// The longest `Retry-After` waited (60 s); a longer one is waited this long.
    pub max_retry_after: Duration,
}

impl Default for ManagedIdentityRetryPolicy {
    fn default() -> Self {
        ManagedIdentityRetryPolicy {
            max_retries: 3,
            delay: Duration::from_secs(1),
            imds_gone_delay: Duration::from_secs(10),
            imds_gone_max_retries: 7,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl ManagedIdentityRetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        ManagedIdentityRetryPolicy {
            max_retries: 0,
            delay: Duration::ZERO,
            imds_gone_delay: Duration::ZERO,
            imds_gone_max_retries: 0,
            max_retry_after: Duration::ZERO,
        }
    }

    /// The delay before retry number `retry` (0 for the first) of an answer, or `None` when
    /// the answer is final.
    fn delay_before(
        &self,
        source: ManagedIdentitySource,
        resp: &HttpResponse,
        retry: u32,
    ) -> Option<Duration> {
        let status = resp.status.as_u16();
        if source == ManagedIdentitySource::Imds {
            return match status {
                410 => (retry < self.imds_gone_max_retries).then_some(self.imds_gone_delay),
                404 | 408 | 429 | 500..=599 if retry < self.max_retries => {
                    Some(self.delay.saturating_mul(1u32 << retry.min(16)))
                }
                _ => None,
            };
        }
        if !matches!(status, 404 | 408 | 429 | 500 | 503 | 504) || retry >= self.max_retries {
            return None;
        }
        let asked = resp
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        Some(asked.map_or(self.delay, |d| d.min(self.max_retry_after)))
    }
}

/// Sends a managed identity request, retrying as the policy says; returns the last answer
/// whatever its status. An endpoint that cannot be reached is a `Transport` error
/// `managed_identity_unreachable_network` that keeps the I/O error in its source chain.
pub(crate) async fn send(
    http: &dyn HttpClient,
    request: HttpRequest,
    source: ManagedIdentitySource,
    policy: &ManagedIdentityRetryPolicy,
) -> Result<HttpResponse, Error> {
    let mut retry = 0;
    loop {
        let resp = within_limit(
            http.execute(request.clone())
                .await
                .map_err(|e| transport_error(e, source))?,
        )?;
        match policy.delay_before(source, &resp, retry) {
            Some(delay) => {
                tracing::info!(
                    %source,
                    status = resp.status.as_u16(),
                    retry = retry + 1,
                    "managed identity endpoint answered a retryable status; retrying after {delay:?}"
                );
                crate::runtime::sleep(delay).await;
                retry += 1;
            }
            None => return Ok(resp),
        }
    }
}

fn transport_error(e: TransportError, source: ManagedIdentitySource) -> Error {
    if e.kind() == TransportErrorKind::Connect {
        let msg = format!("the managed identity endpoint ({source}) cannot be reached: {e}");
        return Error::transport(codes::MANAGED_IDENTITY_UNREACHABLE_NETWORK, msg, e);
    }
    e.into()
}
