//! The one error type of the library, classified the way MSAL's error-handling guide prescribes.
//!
//! Every failure is an [`Error`]. Match on [`Error::kind`] first: it says who can fix the
//! problem (the user through an interactive prompt, the service, the developer, the network,
//! or nobody because the user cancelled). Then read the details: the server's OAuth `error`
//! verbatim as [`Error::code`], the `suberror`, the [`UiRequiredClassification`], the AADSTS
//! numbers, the claims to send back, the correlation id to quote to support, and the
//! `Retry-After` delay. [`Error::advice`] gives the handling MSAL's error-handling guide
//! recommends for the error ([`Advice`]).
//!
//! Messages are for developers, not end users: they are never localized and never contain
//! secrets, tokens, assertions or authorization codes.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

mod advice;
mod kind;
mod oauth_response;
pub(crate) mod retry_after;

pub use advice::Advice;
pub use kind::{ErrorKind, UiRequiredClassification};
pub use oauth_response::OAuthErrorResponse;
pub(crate) use oauth_response::parse_aadsts_codes;

/// The library's own error codes, used as [`Error::code`] when the server did not answer with
/// an OAuth `error` value of its own.
pub mod codes {
    /// The error body could not be parsed (HTML from a proxy, truncated or malformed JSON).
    pub const NON_PARSABLE_OAUTH_ERROR: &str = "non_parsable_oauth_error";
    /// An HTTP 429 whose body could not be parsed.
    pub const REQUEST_THROTTLED: &str = "request_throttled";
    /// The request timed out.
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    /// No usable connection: refused, reset, DNS failure, TLS failure.
    pub const NETWORK_ERROR: &str = "network_error";
    /// A 2xx answer that is not a usable token response.
    pub const INVALID_TOKEN_RESPONSE: &str = "invalid_token_response";
    /// A token answer whose `token_type` is not the one asked for (e.g. `Bearer` for a
    /// proof-of-possession or SSH certificate request).
    pub const TOKEN_TYPE_MISMATCH: &str = "token_type_mismatch";
    /// A server answer that is not what the protocol allows (bad JSON, missing fields).
    pub const INVALID_RESPONSE: &str = "invalid_response";
    /// A server answer whose body is larger than the library reads
    /// ([`crate::http::MAX_RESPONSE_SIZE`]); it was refused without being read whole.
    pub const RESPONSE_TOO_LARGE: &str = "response_too_large";
    /// The request is throttled by the library: an earlier identical request was told to wait.
    pub const THROTTLED: &str = "client_throttled";
    /// The authority URL is not valid or not allowed.
    pub const INVALID_AUTHORITY: &str = "invalid_authority";
    /// An `http://` authority on a host that is not loopback, or without the opt-in.
    pub const INSECURE_AUTHORITY: &str = "insecure_authority";
    /// The application has no usable credential (secret, certificate or assertion).
    pub const MISSING_CREDENTIAL: &str = "missing_client_credential";
    /// A federated token file (workload identity) that is missing, unreadable, empty, too
    /// large or not one token.
    pub const INVALID_ASSERTION_FILE: &str = "invalid_client_assertion_file";
    /// The certificate or private key cannot be read or used.
    pub const INVALID_CERTIFICATE: &str = "invalid_certificate";
    /// No scopes were requested.
    pub const EMPTY_SCOPES: &str = "empty_scopes";
    /// A configuration value is not valid.
    pub const INVALID_CONFIGURATION: &str = "invalid_configuration";
    /// The Azure region given for regional endpoints is not one (a region is one DNS label).
    pub const INVALID_REGION: &str = "invalid_region";
    /// A parameter passed to a request is not valid.
    pub const INVALID_ARGUMENT: &str = "invalid_argument";
    /// The claims request is not valid JSON.
    pub const INVALID_CLAIMS: &str = "invalid_claims";
    /// A protected API challenged again the token acquired for its claims challenge (the
    /// middleware answers one challenge per request); the user must sign in with the claims.
    pub const INSUFFICIENT_CLAIMS: &str = "insufficient_claims";
    /// A protected API answered with a claims challenge, and the request cannot be sent again
    /// with a new token because its body is a stream; the error carries the claims.
    pub const REQUEST_NOT_REPLAYABLE: &str = "request_not_replayable";
    /// Silent acquisition found no account or no usable token in the cache.
    pub const NO_TOKENS_FOUND: &str = "no_tokens_found";
    /// Silent acquisition was called without an account.
    pub const NO_ACCOUNT: &str = "no_account_for_silent";
    /// A long-running on-behalf-of process asked for a token by a session key the cache holds
    /// no token of (never started, stopped, or its refresh token is gone): start it again
    /// with the caller's assertion. MSAL.NET's `obo_cache_key_not_in_cache`.
    pub const OBO_CACHE_KEY_NOT_IN_CACHE: &str = "obo_cache_key_not_in_cache";
    /// The authority's OpenID Connect metadata or instance discovery failed.
    pub const DISCOVERY_FAILED: &str = "discovery_failed";
    /// The serialized token cache cannot be read.
    pub const CACHE_CORRUPT: &str = "cache_corrupt";
    /// The token cache cannot be loaded from or saved to its persistence.
    pub const CACHE_PERSISTENCE: &str = "cache_persistence_error";
    /// The caller cancelled the operation.
    pub const CANCELLED: &str = "authentication_canceled";
    /// The user declined the device code sign-in.
    pub const AUTHORIZATION_DECLINED: &str = "authorization_declined";
    /// The device code expired before the user signed in.
    pub const EXPIRED_TOKEN: &str = "expired_token";
    /// The identity provider granted fewer scopes than were requested.
    pub const DECLINED_SCOPES: &str = "declined_scopes";
    /// The flow is not implemented yet.
    pub const NOT_SUPPORTED: &str = "not_supported";
    /// The call needs a Tokio runtime and none is running (e.g. the default HTTP client, or an
    /// interactive sign-in, driven by another executor).
    pub const NO_ASYNC_RUNTIME: &str = "no_async_runtime";
    /// The service requires an app protection policy (Intune MAM).
    pub const PROTECTION_POLICY_REQUIRED: &str = "protection_policy_required";
    /// A JWT (id token, client info) could not be decoded.
    pub const INVALID_JWT: &str = "invalid_jwt";
    /// The identity provider's answer did not match the request (state, nonce).
    pub const STATE_MISMATCH: &str = "state_mismatch";
    /// The authorization response names another issuer than the authority's (RFC 9207), or
    /// lacks `iss` where the server promises it: the answer may come from another server
    /// (a mix-up attack) and was refused.
    pub const ISSUER_MISMATCH: &str = "issuer_mismatch";
    /// A redirect URI that the flow cannot use (an interactive flow needs an `http://`
    /// loopback URI: `localhost`, `127.0.0.1` or `[::1]`).
    pub const INVALID_REDIRECT_URI: &str = "invalid_redirect_uri";
    /// The loopback redirect address could not be listened on (e.g. its port is taken).
    pub const LOOPBACK_UNAVAILABLE: &str = "loopback_unavailable";
    /// No browser could be started to show the sign-in page.
    pub const BROWSER_UNAVAILABLE: &str = "browser_unavailable";
    /// The user did not finish the interactive sign-in in time (or closed the browser).
    pub const AUTHENTICATION_TIMEOUT: &str = "authentication_timeout";
    /// A username/password (ROPC) sign-in for a user of a federated domain: the password is
    /// checked by the user's own identity provider, which ROPC cannot reach.
    pub const FEDERATED_USER_NOT_SUPPORTED: &str = "federated_user_not_supported";
    /// A managed identity endpoint answered with an error (a 400 for an unknown identity or
    /// resource, a 5xx that outlasted the retries); the description carries the source's message.
    pub const MANAGED_IDENTITY_REQUEST_FAILED: &str = "managed_identity_request_failed";
    /// The managed identity endpoint could not be reached (not on Azure, or the endpoint is down).
    pub const MANAGED_IDENTITY_UNREACHABLE_NETWORK: &str = "managed_identity_unreachable_network";
    /// A managed identity endpoint from the environment is not an `http`/`https` URL.
    pub const INVALID_MANAGED_IDENTITY_ENDPOINT: &str = "invalid_managed_identity_endpoint";
    /// The managed identity source cannot use a user-assigned identity (Cloud Shell), or did
    /// not honour the one asked for (an Azure Arc agent that answered for another identity).
    pub const USER_ASSIGNED_MANAGED_IDENTITY_NOT_SUPPORTED: &str =
        "user_assigned_managed_identity_not_supported";
    /// A managed identity endpoint's success answer is not a usable token answer.
    pub const INVALID_MANAGED_IDENTITY_RESPONSE: &str = "invalid_managed_identity_response";
    /// Azure Arc's challenge was refused: its `WWW-Authenticate` header is missing or names a
    /// key file outside the agent's token directory, not ending in `.key`, or too large.
    pub const MANAGED_IDENTITY_INVALID_CHALLENGE: &str = "managed_identity_invalid_challenge";
}

/// The error of every fallible operation of this library.
///
/// Opaque on purpose, like `reqwest::Error`: read it through its accessors, which stay stable
/// as details are added. It is cheap to clone.
///
/// ```
/// # fn handle(err: msal::Error) {
/// use msal::{ErrorKind, UiRequiredClassification};
/// match err.kind() {
///     ErrorKind::UiRequired => match err.classification() {
///         Some(UiRequiredClassification::ConsentRequired) => { /* interactive, for consent */ }
///         _ => { /* interactive sign-in, passing err.claims() when there are some */ }
///     },
///     ErrorKind::Service if err.is_throttled() => { /* wait err.retry_after() */ }
///     ErrorKind::Transport => { /* no network: err.source() holds the I/O error */ }
///     _ => eprintln!("{err} (correlation id {:?})", err.correlation_id()),
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    code: String,
    suberror: Option<String>,
    classification: Option<UiRequiredClassification>,
    aadsts_codes: Vec<u32>,
    description: String,
    claims: Option<String>,
    correlation_id: Option<String>,
    trace_id: Option<String>,
    timestamp: Option<String>,
    http_status: Option<u16>,
    retry_after: Option<Duration>,
    headers: Option<HeaderMap>,
    throttled: bool,
    granted_scopes: Option<Vec<String>>,
    declined_scopes: Option<Vec<String>>,
    partial_result: Option<Box<crate::AuthenticationResult>>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    fn new(kind: ErrorKind, code: impl Into<String>, description: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                code: code.into(),
                suberror: None,
                classification: None,
                aadsts_codes: Vec::new(),
                description: description.into(),
                claims: None,
                correlation_id: None,
                trace_id: None,
                timestamp: None,
                http_status: None,
                retry_after: None,
                headers: None,
                throttled: false,
                granted_scopes: None,
                declined_scopes: None,
                partial_result: None,
                source: None,
            }),
        }
    }

    /// A `Client` error: bad configuration or input, found before any request.
    pub fn client(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(ErrorKind::Client, code, description)
    }

    /// A `Transport` error keeping the underlying error as its `source()`.
    pub fn transport(
        code: impl Into<String>,
        description: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        let mut e = Self::new(ErrorKind::Transport, code, description);
        e.inner.source = Some(Arc::new(source));
        e
    }

    /// A `Cancelled` error.
    pub fn cancelled(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, code, description)
    }

    /// A `UiRequired` error raised by the library itself (not by a server answer).
    pub fn ui_required(
        code: impl Into<String>,
        classification: UiRequiredClassification,
        description: impl Into<String>,
    ) -> Self {
        let mut e = Self::new(ErrorKind::UiRequired, code, description);
        e.inner.classification = Some(classification);
        e
    }

    /// A `Service` error with only a code and description (no HTTP answer behind it).
    pub fn service(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(ErrorKind::Service, code, description)
    }

    /// Builds the error for an OAuth error answer of the identity provider, classifying it as
    /// MSAL .NET and MSAL.js do:
    ///
    /// - `interaction_required`, `login_required`, `consent_required` are `UiRequired`;
    /// - `invalid_grant` is `UiRequired` unless the suberror is `client_mismatch` or
    ///   `protection_policy_required`;
    /// - suberror `protection_policy_required` is a `Service` error with that code;
    /// - everything else is `Service`.
    ///
    /// The classification is the suberror when it names one, else `None`.
    pub fn from_oauth_error(response: OAuthErrorResponse) -> Self {
        let OAuthErrorResponse {
            error,
            error_description,
            error_codes,
            suberror,
            claims,
            trace_id,
            correlation_id,
            timestamp,
            http_status,
            headers,
        } = response;
        let suberror = suberror.filter(|s| !s.is_empty());
        let description = error_description.unwrap_or_default();
        let aadsts_codes = if error_codes.is_empty() {
            parse_aadsts_codes(&description)
        } else {
            error_codes
        };
        let sub = suberror.as_deref();
        let (kind, code) = if sub == Some("protection_policy_required") {
            (
                ErrorKind::Service,
                codes::PROTECTION_POLICY_REQUIRED.to_owned(),
            )
        } else {
            let ui = match error.as_str() {
                "interaction_required" | "login_required" | "consent_required" => true,
                "invalid_grant" => !matches!(sub, Some("client_mismatch")),
                _ => false,
            };
            let kind = if ui {
                ErrorKind::UiRequired
            } else {
                ErrorKind::Service
            };
            (kind, error)
        };
        let mut e = Self::new(kind, code, description);
        if kind == ErrorKind::UiRequired {
            e.inner.classification = Some(UiRequiredClassification::from_suberror(sub));
        }
        let retry_after = headers
            .as_ref()
            .and_then(|h| h.get(http::header::RETRY_AFTER))
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after::parse_retry_after);
        let i = &mut e.inner;
        i.suberror = suberror;
        i.aadsts_codes = aadsts_codes;
        i.claims = claims.filter(|c| !c.is_empty());
        i.trace_id = trace_id;
        i.correlation_id = correlation_id;
        i.timestamp = timestamp;
        i.http_status = http_status;
        i.retry_after = retry_after;
        i.headers = headers;
        e
    }

    /// Builds the error for an HTTP answer whose body is not an OAuth error (HTML from a proxy,
    /// truncated JSON, a 2xx without a token): a `Service` error with the status and the code
    /// `non_parsable_oauth_error` (`request_throttled` for a 429), or `code` when given.
    pub(crate) fn unparsable_response(
        status: u16,
        headers: HeaderMap,
        code: Option<&str>,
        description: String,
        correlation_id: Option<String>,
    ) -> Self {
        let code = code.unwrap_or(if status == 429 {
            codes::REQUEST_THROTTLED
        } else {
            codes::NON_PARSABLE_OAUTH_ERROR
        });
        let mut e = Self::new(ErrorKind::Service, code, description);
        e.inner.retry_after = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after::parse_retry_after);
        e.inner.http_status = Some(status);
        e.inner.headers = Some(headers);
        e.inner.correlation_id = correlation_id;
        e
    }

    // ----- crate-internal modifiers -------------------------------------------------------

    pub(crate) fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        if self.inner.correlation_id.is_none() {
            self.inner.correlation_id = Some(id.into());
        }
        self
    }

    /// The same error with the HTTP status of the answer behind it.
    pub(crate) fn with_http_status(mut self, status: u16) -> Self {
        self.inner.http_status = Some(status);
        self
    }

    /// The same error with the claims to send back (e.g. an API's claims challenge). Only the
    /// middleware makes such errors.
    #[cfg(any(feature = "reqwest-middleware", feature = "tower"))]
    pub(crate) fn with_claims(mut self, claims: impl Into<String>) -> Self {
        self.inner.claims = Some(claims.into());
        self
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }

    /// The same error reclassified (e.g. a server's `authorization_declined` is `Cancelled`).
    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.inner.kind = kind;
        if kind != ErrorKind::UiRequired {
            self.inner.classification = None;
        }
        self
    }

    /// The same error as a `UiRequired` one with this classification (e.g. a `prompt=none`
    /// sign-in that needed UI is [`UiRequiredClassification::PromptNeverFailed`]).
    pub(crate) fn with_classification(mut self, classification: UiRequiredClassification) -> Self {
        self.inner.kind = ErrorKind::UiRequired;
        self.inner.classification = Some(classification);
        self
    }

    pub(crate) fn with_scopes(mut self, granted: Vec<String>, declined: Vec<String>) -> Self {
        self.inner.granted_scopes = Some(granted);
        self.inner.declined_scopes = Some(declined);
        self
    }

    pub(crate) fn with_partial_result(mut self, result: crate::AuthenticationResult) -> Self {
        self.inner.partial_result = Some(Box::new(result));
        self
    }

    /// Takes the partial result out (to change it and put it back).
    pub(crate) fn take_partial_result(&mut self) -> Option<crate::AuthenticationResult> {
        self.inner.partial_result.take().map(|r| *r)
    }

    /// A copy of this error marked as throttled by the library, keeping the original error's
    /// details, with the time left to wait.
    pub(crate) fn as_throttled(&self, remaining: Duration) -> Self {
        // Rounded up to whole seconds, so a caller that waits what it is told is not early.
        let remaining = Duration::from_secs(remaining.as_secs_f64().ceil() as u64);
        let mut e = self.clone();
        e.inner.throttled = true;
        e.inner.retry_after = Some(remaining);
        e.inner.description = format!(
            "throttled by the client for {}s more, because an identical request was answered: {}",
            remaining.as_secs().max(1),
            self.inner.description
        );
        e
    }

    // ----- accessors ------------------------------------------------------------------------

    /// Who can resolve this error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The server's OAuth `error` value verbatim when the server answered with one (e.g.
    /// `invalid_grant`), else one of the library's [`codes`].
    pub fn code(&self) -> &str {
        &self.inner.code
    }

    /// The server's `suberror` (e.g. `consent_required`, `bad_token`), when it sent one.
    pub fn suberror(&self) -> Option<&str> {
        self.inner.suberror.as_deref()
    }

    /// What kind of interaction resolves the error; `Some` exactly when the kind is
    /// [`ErrorKind::UiRequired`].
    pub fn classification(&self) -> Option<UiRequiredClassification> {
        self.inner.classification
    }

    /// The AADSTS error numbers (from `error_codes`, else parsed from the description).
    pub fn aadsts_codes(&self) -> &[u32] {
        &self.inner.aadsts_codes
    }

    /// The human-readable description (the server's `error_description`, or the library's).
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// The claims challenge sent by the server, to pass to the next acquire call.
    pub fn claims(&self) -> Option<&str> {
        self.inner.claims.as_deref()
    }

    /// The correlation id: the `client-request-id` the library sent. Quote it to support.
    pub fn correlation_id(&self) -> Option<&str> {
        self.inner.correlation_id.as_deref()
    }

    /// The server's trace id, when it sent one.
    pub fn trace_id(&self) -> Option<&str> {
        self.inner.trace_id.as_deref()
    }

    /// The server's timestamp for the error, when it sent one.
    pub fn timestamp(&self) -> Option<&str> {
        self.inner.timestamp.as_deref()
    }

    /// The HTTP status of the answer behind this error, if any.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.http_status
    }

    /// How long to wait before trying again (from `Retry-After`, or the client-side throttling
    /// window that is left).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The response headers of the answer behind this error, if any.
    pub fn response_headers(&self) -> Option<&HeaderMap> {
        self.inner.headers.as_ref()
    }

    /// Whether the same call may succeed later without any change: timeouts, network failures,
    /// 5xx, 429 and `temporarily_unavailable`. Wait [`Error::retry_after`] first when it is set.
    pub fn is_retryable(&self) -> bool {
        match self.inner.kind {
            ErrorKind::Transport => true,
            ErrorKind::Service => {
                self.inner.throttled
                    || matches!(self.inner.http_status, Some(429 | 500..=599))
                    || matches!(
                        self.inner.code.as_str(),
                        "temporarily_unavailable"
                            | "service_unavailable"
                            | codes::REQUEST_THROTTLED
                    )
            }
            _ => false,
        }
    }

    /// Whether the library refused to send the request because an identical request was told to
    /// wait (client-side throttling), or the server throttled it (429).
    pub fn is_throttled(&self) -> bool {
        self.inner.throttled || self.inner.http_status == Some(429)
    }

    /// Whether the library failed fast without a network call because of client-side throttling.
    pub fn is_client_throttled(&self) -> bool {
        self.inner.throttled
    }

    /// Whether this is a request timeout.
    pub fn is_timeout(&self) -> bool {
        self.inner.code == codes::REQUEST_TIMEOUT
    }

    /// Whether the identity provider answered with this HTTP status (any error status).
    pub fn is_status(&self) -> bool {
        self.inner.http_status.is_some()
    }

    /// The scopes that were granted, for a `declined_scopes` error.
    pub fn granted_scopes(&self) -> Option<&[String]> {
        self.inner.granted_scopes.as_deref()
    }

    /// The scopes that were declined, for a `declined_scopes` error.
    pub fn declined_scopes(&self) -> Option<&[String]> {
        self.inner.declined_scopes.as_deref()
    }

    /// The result for the granted scopes, for a `declined_scopes` error; the tokens are in the
    /// cache, so a silent call for the granted scopes is served from it.
    pub fn partial_result(&self) -> Option<&crate::AuthenticationResult> {
        self.inner.partial_result.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        write!(f, "{} error `{}`", i.kind, i.code)?;
        if let Some(s) = &i.suberror {
            write!(f, " ({s})")?;
        }
        if let Some(status) = i.http_status {
            write!(f, " [HTTP {status}]")?;
        }
        if !i.description.is_empty() {
            write!(f, ": {}", i.description)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind).field("code", &i.code);
        if let Some(v) = &i.suberror {
            d.field("suberror", v);
        }
        if let Some(v) = &i.classification {
            d.field("classification", v);
        }
        if !i.aadsts_codes.is_empty() {
            d.field("aadsts_codes", &i.aadsts_codes);
        }
        d.field("description", &i.description);
        if let Some(v) = &i.http_status {
            d.field("http_status", v);
        }
        if let Some(v) = &i.correlation_id {
            d.field("correlation_id", v);
        }
        if let Some(v) = &i.trace_id {
            d.field("trace_id", v);
        }
        if let Some(v) = &i.retry_after {
            d.field("retry_after", v);
        }
        if i.throttled {
            d.field("throttled", &true);
        }
        if let Some(v) = &i.claims {
            d.field("claims", v);
        }
        if let Some(v) = &i.declined_scopes {
            d.field("declined_scopes", v);
        }
        if let Some(v) = &i.source {
            d.field("source", v);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(error: &str, suberror: Option<&str>) -> Error {
        Error::from_oauth_error(OAuthErrorResponse {
            error: error.into(),
            error_description: Some("AADSTS65001: consent. Trace ID: x".into()),
            suberror: suberror.map(Into::into),
            http_status: Some(400),
            ..Default::default()
        })
    }

    #[test]
    fn interaction_errors_are_ui_required() {
        for code in ["interaction_required", "login_required", "consent_required"] {
            let e = oauth(code, None);
            assert_eq!(e.kind(), ErrorKind::UiRequired, "{code}");
            assert_eq!(e.classification(), Some(UiRequiredClassification::None));
            assert_eq!(e.code(), code);
        }
    }

    #[test]
    fn invalid_grant_is_ui_required_with_suberror_classification() {
        let cases = [
            ("basic_action", UiRequiredClassification::BasicAction),
            (
                "additional_action",
                UiRequiredClassification::AdditionalAction,
            ),
            ("message_only", UiRequiredClassification::MessageOnly),
            (
                "consent_required",
                UiRequiredClassification::ConsentRequired,
            ),
            (
                "user_password_expired",
                UiRequiredClassification::UserPasswordExpired,
            ),
            ("bad_token", UiRequiredClassification::None),
        ];
        for (sub, class) in cases {
            let e = oauth("invalid_grant", Some(sub));
            assert_eq!(e.kind(), ErrorKind::UiRequired);
            assert_eq!(e.classification(), Some(class));
            assert_eq!(e.suberror(), Some(sub));
            assert_eq!(e.code(), "invalid_grant");
        }
    }

    #[test]
    fn client_mismatch_and_protection_policy_are_service_errors() {
        let e = oauth("invalid_grant", Some("client_mismatch"));
        assert_eq!(e.kind(), ErrorKind::Service);
        assert_eq!(e.classification(), None);
        assert_eq!(e.code(), "invalid_grant");

        let e = oauth("invalid_grant", Some("protection_policy_required"));
        assert_eq!(e.kind(), ErrorKind::Service);
        assert_eq!(e.code(), "protection_policy_required");
        assert_eq!(e.classification(), None);
    }

    #[test]
    fn other_oauth_errors_are_service_errors() {
        let e = oauth("invalid_client", None);
        assert_eq!(e.kind(), ErrorKind::Service);
        assert_eq!(e.classification(), None);
        assert_eq!(e.http_status(), Some(400));
        assert!(!e.is_retryable());
    }

    #[test]
    fn aadsts_codes_come_from_error_codes_else_description() {
        assert_eq!(oauth("invalid_grant", None).aadsts_codes(), &[65001]);
        let e = Error::from_oauth_error(OAuthErrorResponse {
            error: "invalid_grant".into(),
            error_description: Some("AADSTS50076: mfa".into()),
            error_codes: vec![50079],
            ..Default::default()
        });
        assert_eq!(e.aadsts_codes(), &[50079]);
        assert_eq!(
            parse_aadsts_codes("AADSTS1 then AADSTS22x and AADSTS1 and AADSTS"),
            vec![1, 22]
        );
    }

    #[test]
    fn parse_rejects_non_oauth_bodies() {
        assert!(OAuthErrorResponse::parse(b"<html>bad gateway</html>").is_none());
        assert!(OAuthErrorResponse::parse(br#"{"error": "invalid_gr"#).is_none());
        assert!(OAuthErrorResponse::parse(br#"{"access_token": "x"}"#).is_none());
        assert!(OAuthErrorResponse::parse(br#"{"error": ""}"#).is_none());
        let p = OAuthErrorResponse::parse(
            br#"{"error":"invalid_grant","error_codes":[50173],"suberror":"bad_token","claims":"{}","trace_id":"t","correlation_id":"c","timestamp":"2026"}"#,
        )
        .unwrap();
        assert_eq!(p.error_codes, vec![50173]);
        assert_eq!(p.suberror.as_deref(), Some("bad_token"));
        assert_eq!(p.trace_id.as_deref(), Some("t"));
    }

    #[test]
    fn unparsable_429_is_request_throttled_with_retry_after() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        let e = Error::unparsable_response(429, h, None, "html".into(), Some("cid".into()));
        assert_eq!(e.kind(), ErrorKind::Service);
        assert_eq!(e.code(), codes::REQUEST_THROTTLED);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_throttled() && e.is_retryable());
        let e = Error::unparsable_response(502, HeaderMap::new(), None, "html".into(), None);
        assert_eq!(e.code(), codes::NON_PARSABLE_OAUTH_ERROR);
        assert_eq!(e.http_status(), Some(502));
    }

    #[test]
    fn transport_errors_keep_their_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::transport(codes::NETWORK_ERROR, "connect failed", io);
        assert_eq!(e.kind(), ErrorKind::Transport);
        let src = e
            .source()
            .unwrap()
            .downcast_ref::<std::io::Error>()
            .unwrap();
        assert_eq!(src.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(e.is_retryable());
    }

    #[test]
    fn throttled_copy_keeps_the_original() {
        let e = oauth("invalid_grant", Some("basic_action"))
            .with_correlation_id("c1")
            .as_throttled(Duration::from_secs(100));
        assert!(e.is_throttled() && e.is_client_throttled());
        assert_eq!(e.kind(), ErrorKind::UiRequired);
        assert_eq!(e.code(), "invalid_grant");
        assert_eq!(e.correlation_id(), Some("c1"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(100)));
    }

    #[test]
    fn display_is_for_developers() {
        let e = oauth("invalid_grant", Some("consent_required"));
        assert_eq!(
            e.to_string(),
            "ui_required error `invalid_grant` (consent_required) [HTTP 400]: AADSTS65001: consent. Trace ID: x"
        );
    }
}
