//! The device code flow (RFC 8628): ask for a code, show the user the server's message, poll.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{Seconds, TokenResponse, error_from_response, post_form, post_token_request};
use crate::error::{Error, ErrorKind, codes};
use crate::http::{HttpClient, RetryPolicy};

/// What the user needs to sign in on another device; the library hands it to your callback.
#[derive(Clone, Deserialize)]
#[non_exhaustive]
pub struct DeviceCodeInfo {
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    /// The page that signs the user in with the code already filled in, when the server
    /// offers one (RFC 8628 `verification_uri_complete`).
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    /// Instructions ready to show, naming the page and the code: the server's (Entra sends
    /// them), else the library's (RFC 8628 servers send none).
    #[serde(default)]
    pub message: String,
    #[serde(default = "default_expires", deserialize_with = "code_lifetime")]
    pub(crate) expires_in: Seconds,
    #[serde(default = "default_interval")]
    pub(crate) interval: Seconds,
    #[serde(rename = "device_code")]
    pub(crate) device_code: String,
}

/// The longest a device code is waited for: an hour.
///
/// Entra's codes live 900 s, RFC 8628's example 1800 s, other servers' 10 to 30 minutes. Past
/// an hour the user has long gone; and a server that claims a code lives for centuries would
/// otherwise keep the flow polling (or overflow the deadline) for ever.
pub(crate) const MAX_DEVICE_CODE_LIFETIME_SECS: u64 = 3600;

/// The shortest wait between two polls. RFC 8628 leaves the floor to the server (5 s when it
/// says nothing); a server that asks for 0 would otherwise be polled in a busy loop.
const MIN_INTERVAL_SECS: u64 = 1;

/// How much longer to wait after each `slow_down` (RFC 8628 §3.5).
const SLOW_DOWN_SECS: u64 = 5;

fn default_expires() -> Seconds {
    Seconds(900)
}
fn default_interval() -> Seconds {
    Seconds(5)
}

fn code_lifetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
    Ok(Seconds::deserialize(d)?.at_most(MAX_DEVICE_CODE_LIFETIME_SECS))
}

impl DeviceCodeInfo {
    /// Seconds until the code expires, as the server said, at most an hour.
    pub fn expires_in_secs(&self) -> u64 {
        self.expires_in.0
    }

    /// Seconds between polls, as the server said, at least 1 and at most the code's lifetime.
    pub fn interval_secs(&self) -> u64 {
        self.interval.0
    }

    /// Brings the server's interval into range: at least [`MIN_INTERVAL_SECS`], at most the
    /// code's lifetime (a longer wait could only end after the code expired).
    fn clamp_interval(&mut self) {
        let most = self.expires_in.0.max(MIN_INTERVAL_SECS);
        self.interval = Seconds(self.interval.0.clamp(MIN_INTERVAL_SECS, most));
    }
}

// The device code is a credential until redeemed: keep it out of logs.
impl fmt::Debug for DeviceCodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeInfo")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in.0)
            .field("interval", &self.interval.0)
            .finish_non_exhaustive()
    }
}

/// Asks the device authorization endpoint for a code.
pub(crate) async fn request_code(
    http: &dyn HttpClient,
    retry: &RetryPolicy,
    endpoint: &Url,
    form: &[(&str, &str)],
    correlation_id: &str,
) -> Result<DeviceCodeInfo, Error> {
    let resp = post_form(http, retry, endpoint, form, correlation_id).await?;
    if !resp.status.is_success() {
        return Err(error_from_response(resp, correlation_id));
    }
    let status = resp.status.as_u16();
    let mut info = serde_json::from_slice::<DeviceCodeInfo>(&resp.body).map_err(|e| {
        Error::unparsable_response(
            status,
            resp.headers.clone(),
            Some(codes::INVALID_RESPONSE),
            format!("the device code answer is not valid: {e}"),
            Some(correlation_id.to_owned()),
        )
        .with_source(e)
    })?;
    info.clamp_interval();
    if info.message.trim().is_empty() {
        info.message = format!(
            "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
            info.verification_uri, info.user_code
        );
    }
    Ok(info)
}

/// What each poll of the token endpoint sends.
pub(crate) struct PollRequest<'a> {
    pub token_endpoint: &'a Url,
    pub form: &'a [(&'a str, &'a str)],
    pub correlation_id: &'a str,
    /// The server telemetry headers, the same on every poll.
    pub telemetry: &'a [(http::HeaderName, &'a str)],
}

/// Polls the token endpoint until the user signed in, declined, the code expired, or `cancel`
/// completed. Honours `interval`, `authorization_pending` and `slow_down` (+5 s each time).
///
/// The code's expiry bounds every wait: a wait never runs past it, and once it is reached the
/// flow ends with `expired_token` without another poll.
pub(crate) async fn poll(
    http: &dyn HttpClient,
    retry: &RetryPolicy,
    req: PollRequest<'_>,
    info: &DeviceCodeInfo,
    cancel: impl Future<Output = ()>,
) -> Result<TokenResponse, Error> {
    let PollRequest {
        token_endpoint,
        form,
        correlation_id,
        telemetry,
    } = req;
    let mut interval = Duration::from_secs(info.interval.0.max(MIN_INTERVAL_SECS));
    let deadline = after(tokio::time::Instant::now(), info.expires_in.0);
    tokio::pin!(cancel);
    loop {
        let wake = tokio::time::Instant::now()
            .checked_add(interval)
            .map_or(deadline, |t| t.min(deadline));
        tokio::select! {
            () = &mut cancel => {
                return Err(Error::cancelled(codes::CANCELLED, "the device code flow was cancelled by the caller")
                    .with_correlation_id(correlation_id));
            }
            // runtime::sleep, not sleep_until: it also waits on executors that are not Tokio.
            () = crate::runtime::sleep(wake.saturating_duration_since(tokio::time::Instant::now())) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::service(
                codes::EXPIRED_TOKEN,
                "the device code expired before the user signed in",
            )
            .with_correlation_id(correlation_id));
        }
        match post_token_request(http, retry, token_endpoint, form, correlation_id, telemetry).await
        {
            Ok(t) => return Ok(t),
            Err(e) => match e.code() {
                "authorization_pending" => continue,
                "slow_down" => {
                    interval = interval.saturating_add(Duration::from_secs(SLOW_DOWN_SECS));
                    continue;
                }
                "authorization_declined" | "access_denied" => {
                    return Err(declined(e));
                }
                _ => return Err(e),
            },
        }
    }
}

/// `secs` seconds (at most the longest code lifetime) after `t`; `t` itself if the clock cannot
/// count that far, which ends the flow as expired rather than never.
fn after(t: tokio::time::Instant, secs: u64) -> tokio::time::Instant {
    t.checked_add(Duration::from_secs(secs.min(MAX_DEVICE_CODE_LIFETIME_SECS)))
        .unwrap_or(t)
}

/// The user said no: the server's error, kept whole, as `Cancelled`.
fn declined(e: Error) -> Error {
    e.with_kind(ErrorKind::Cancelled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(expires_in: &str, interval: &str) -> DeviceCodeInfo {
        let mut i: DeviceCodeInfo = serde_json::from_str(&format!(
            r#"{{"device_code":"d","user_code":"u","verification_uri":"https://x",
                "expires_in":{expires_in},"interval":{interval}}}"#
        ))
        .unwrap();
        i.clamp_interval();
        i
    }

    #[test]
    fn lifetime_is_capped_and_interval_clamped_into_it() {
        let i = info("18446744073709551615", "1000000000000");
        assert_eq!((i.expires_in_secs(), i.interval_secs()), (3600, 3600));
        let i = info("3", "1e12");
        assert_eq!((i.expires_in_secs(), i.interval_secs()), (3, 3));
        let i = info("\"900\"", "0");
        assert_eq!((i.expires_in_secs(), i.interval_secs()), (900, 1));
        let i = info("-5", "-5");
        assert_eq!((i.expires_in_secs(), i.interval_secs()), (0, 1));
        let i = info("900", "\"5\"");
        assert_eq!((i.expires_in_secs(), i.interval_secs()), (900, 5));
    }

    #[test]
    fn the_deadline_never_overflows() {
        let now = tokio::time::Instant::now();
        assert_eq!(after(now, u64::MAX), now + Duration::from_secs(3600));
        assert_eq!(after(now, 0), now);
    }
}
