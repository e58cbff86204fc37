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
    #[serde(default = "default_expires")]
    pub(crate) expires_in: Seconds,
    #[serde(default = "default_interval")]
    pub(crate) interval: Seconds,
    #[serde(rename = "device_code")]
    pub(crate) device_code: String,
}

fn default_expires() -> Seconds {
    Seconds(900)
}
fn default_interval() -> Seconds {
    Seconds(5)
}

impl DeviceCodeInfo {
    /// Seconds until the code expires.
    pub fn expires_in_secs(&self) -> u64 {
        self.expires_in.0
    }

    /// Seconds between polls.
    pub fn interval_secs(&self) -> u64 {
        self.interval.0
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
    if info.message.trim().is_empty() {
        info.message = format!(
            "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
            info.verification_uri, info.user_code
        );
    }
    Ok(info)
}

/// Polls the token endpoint until the user signed in, declined, the code expired, or `cancel`
/// completed. Honours `interval`, `authorization_pending` and `slow_down` (+5 s each time).
pub(crate) async fn poll(
    http: &dyn HttpClient,
    retry: &RetryPolicy,
    token_endpoint: &Url,
    form: &[(&str, &str)],
    info: &DeviceCodeInfo,
    correlation_id: &str,
    cancel: impl Future<Output = ()>,
) -> Result<TokenResponse, Error> {
    let mut interval = Duration::from_secs(info.interval.0.max(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(info.expires_in.0);
    tokio::pin!(cancel);
    loop {
        tokio::select! {
            () = &mut cancel => {
                return Err(Error::cancelled(codes::CANCELLED, "the device code flow was cancelled by the caller")
                    .with_correlation_id(correlation_id));
            }
            () = crate::runtime::sleep(interval) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::service(
                codes::EXPIRED_TOKEN,
                "the device code expired before the user signed in",
            )
            .with_correlation_id(correlation_id));
        }
        match post_token_request(http, retry, token_endpoint, form, correlation_id).await {
            Ok(t) => return Ok(t),
            Err(e) => match e.code() {
                "authorization_pending" => continue,
                "slow_down" => {
                    interval += Duration::from_secs(5);
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

/// The user said no: the server's error, kept whole, as `Cancelled`.
fn declined(e: Error) -> Error {
    e.with_kind(ErrorKind::Cancelled)
}
