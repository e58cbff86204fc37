//! What MSAL's error-handling guide recommends for each error: one table, from the error's kind,
//! classification and code to the action to take.
//!
//! The guide (MSAL .NET's "Handle errors and exceptions", with the declined-scopes and
//! app-protection cases of MSAL for iOS and macOS) is written per exception and per
//! classification; [`Advice::of`] is that text as a `match`, so an application, the `msal`
//! command and the samples all give the same advice.

use std::fmt;

use super::{Error, ErrorKind, UiRequiredClassification, codes};

/// The handling that MSAL's error-handling guide recommends for an [`Error`]; get it with
/// [`Error::advice`]. Its `Display` is one line for developers (or for a log).
///
/// ```
/// # async fn run(app: msal::PublicClientApplication, account: msal::Account) -> Result<(), msal::Error> {
/// use msal::error::Advice;
/// match app.acquire_token_silent(["User.Read"], &account).send().await {
///     Ok(_) => {}
///     Err(e) => match e.advice() {
///         Advice::SignInInteractively | Advice::SignInForConsent => { /* interactive sign-in */ }
///         Advice::WaitRetryAfter => { /* sleep e.retry_after(), then call again */ }
///         other => eprintln!("{e}: {other}"),
///     },
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Advice {
    /// Sign the user in interactively (browser or device code): `UiRequired` with the
    /// classification `BasicAction`, `AcquireTokenSilentFailed` or `None`.
    SignInInteractively,
    /// Sign in interactively so the user can consent: `UiRequired` / `ConsentRequired`.
    SignInForConsent,
    /// Sign in interactively so the user can reset the expired password: `UiRequired` /
    /// `UserPasswordExpired`.
    SignInToResetPassword,
    /// Sign in interactively again, without `prompt=none`: `UiRequired` / `PromptNeverFailed`.
    SignInWithoutPromptNone,
    /// Acquire the token again passing [`Error::claims`] (a conditional-access claims
    /// challenge), interactively when a user must satisfy them: `UiRequired` with claims.
    RetryWithClaims,
    /// The user must act outside the sign-in (e.g. register for MFA); an interactive sign-in
    /// explains what to do, or the application hides the feature: `UiRequired` /
    /// `AdditionalAction`.
    ActOutsideSignIn,
    /// Nothing resolves it now; an interactive sign-in only shows a message, so the
    /// application may rather hide the feature: `UiRequired` / `MessageOnly`.
    HideFeature,
    /// Continue with [`Error::granted_scopes`] (the tokens are cached), or stop the sign-in:
    /// the code [`codes::DECLINED_SCOPES`].
    ContinueWithGrantedScopes,
    /// Wait [`Error::retry_after`], then try again: a throttled `Service` error (HTTP 429, or
    /// the library's own throttling).
    WaitRetryAfter,
    /// Try again later: a `Service` error that may pass (5xx, `temporarily_unavailable`); the
    /// library has already retried once.
    RetryLater,
    /// The organisation requires an app protection policy (Intune MAM) that the application
    /// must apply before it gets a token: the code [`codes::PROTECTION_POLICY_REQUIRED`].
    ApplyProtectionPolicy,
    /// The identity provider refused the request: check the application registration and the
    /// request, and quote [`Error::correlation_id`] to support. Any other `Service` error.
    CheckRegistration,
    /// No usable answer came back: check the network, the proxy and TLS trust, then try again.
    /// A `Transport` error.
    CheckNetwork,
    /// Fix the configuration or the arguments; the same call fails again until then. A `Client`
    /// error.
    FixConfiguration,
    /// The user cancelled, declined or did not finish in time: ask whether to try again. A
    /// `Cancelled` error, or an expired device code.
    AskUserToRetry,
}

impl Advice {
    /// The guide's handling of `error`. The table, in order:
    ///
    /// | error | advice |
    /// | --- | --- |
    /// | `UiRequired` / `ConsentRequired` | [`SignInForConsent`](Self::SignInForConsent) |
    /// | `UiRequired` / `UserPasswordExpired` | [`SignInToResetPassword`](Self::SignInToResetPassword) |
    /// | `UiRequired` / `PromptNeverFailed` | [`SignInWithoutPromptNone`](Self::SignInWithoutPromptNone) |
    /// | `UiRequired` / `MessageOnly` | [`HideFeature`](Self::HideFeature) |
    /// | `UiRequired` with claims | [`RetryWithClaims`](Self::RetryWithClaims) |
    /// | `UiRequired` / `AdditionalAction` | [`ActOutsideSignIn`](Self::ActOutsideSignIn) |
    /// | `UiRequired`, other classifications | [`SignInInteractively`](Self::SignInInteractively) |
    /// | `Service`, throttled | [`WaitRetryAfter`](Self::WaitRetryAfter) |
    /// | `Service`, `declined_scopes` | [`ContinueWithGrantedScopes`](Self::ContinueWithGrantedScopes) |
    /// | `Service`, `protection_policy_required` | [`ApplyProtectionPolicy`](Self::ApplyProtectionPolicy) |
    /// | `Service`, `expired_token` (device code) | [`AskUserToRetry`](Self::AskUserToRetry) |
    /// | `Service`, retryable | [`RetryLater`](Self::RetryLater) |
    /// | `Service`, other | [`CheckRegistration`](Self::CheckRegistration) |
    /// | `Transport` | [`CheckNetwork`](Self::CheckNetwork) |
    /// | `Client` | [`FixConfiguration`](Self::FixConfiguration) |
    /// | `Cancelled` | [`AskUserToRetry`](Self::AskUserToRetry) |
    ///
    /// A `UiRequired` error stays `UiRequired` advice even when the library throttles it: calling
    /// silently again only meets the throttle, the interaction is what resolves it.
    pub fn of(error: &Error) -> Self {
        use UiRequiredClassification as C;
        match error.kind() {
            ErrorKind::UiRequired => match error.classification() {
                Some(C::ConsentRequired) => Self::SignInForConsent,
                Some(C::UserPasswordExpired) => Self::SignInToResetPassword,
                Some(C::PromptNeverFailed) => Self::SignInWithoutPromptNone,
                Some(C::MessageOnly) => Self::HideFeature,
                _ if error.claims().is_some() => Self::RetryWithClaims,
                Some(C::AdditionalAction) => Self::ActOutsideSignIn,
                _ => Self::SignInInteractively,
            },
            ErrorKind::Service if error.is_throttled() => Self::WaitRetryAfter,
            ErrorKind::Service => match error.code() {
                codes::DECLINED_SCOPES => Self::ContinueWithGrantedScopes,
                codes::PROTECTION_POLICY_REQUIRED => Self::ApplyProtectionPolicy,
                codes::EXPIRED_TOKEN => Self::AskUserToRetry,
                _ if error.is_retryable() => Self::RetryLater,
                _ => Self::CheckRegistration,
            },
            ErrorKind::Transport => Self::CheckNetwork,
            ErrorKind::Client => Self::FixConfiguration,
            ErrorKind::Cancelled => Self::AskUserToRetry,
        }
    }

    /// The advice in one line, for developers (never shown to end users as is).
    pub fn text(self) -> &'static str {
        match self {
            Self::SignInInteractively => "sign in interactively (browser or device code)",
            Self::SignInForConsent => "sign in interactively so the user can consent",
            Self::SignInToResetPassword => {
                "sign in interactively so the user can reset the password"
            }
            Self::SignInWithoutPromptNone => "sign in interactively without prompt=none",
            Self::RetryWithClaims => {
                "acquire the token again with the error's claims (interactively when a user must satisfy them)"
            }
            Self::ActOutsideSignIn => {
                "the user must act outside the sign-in; an interactive sign-in explains how, or hide the feature"
            }
            Self::HideFeature => {
                "an interactive sign-in only shows a message; consider hiding the feature"
            }
            Self::ContinueWithGrantedScopes => {
                "continue with the granted scopes, or stop the sign-in"
            }
            Self::WaitRetryAfter => "wait for the Retry-After delay, then try again",
            Self::RetryLater => "try again later",
            Self::ApplyProtectionPolicy => {
                "apply the organisation's app protection policy (Intune MAM), then try again"
            }
            Self::CheckRegistration => {
                "check the application registration and the request; quote the correlation id to support"
            }
            Self::CheckNetwork => "check the network, proxy and TLS trust; then try again",
            Self::FixConfiguration => "fix the configuration or the arguments",
            Self::AskUserToRetry => "ask the user whether to try again",
        }
    }
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl Error {
    /// The handling that MSAL's error-handling guide recommends for this error (see
    /// [`Advice::of`] for the table).
    pub fn advice(&self) -> Advice {
        Advice::of(self)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderMap;

    use super::*;
    use crate::error::OAuthErrorResponse;

    fn ui(class: UiRequiredClassification) -> Error {
        Error::ui_required("invalid_grant", class, "")
    }

    fn answer(status: u16, error: &str, suberror: Option<&str>, claims: Option<&str>) -> Error {
        Error::from_oauth_error(OAuthErrorResponse {
            error: error.into(),
            suberror: suberror.map(Into::into),
            claims: claims.map(Into::into),
            http_status: Some(status),
            ..Default::default()
        })
    }

    #[test]
    fn each_ui_required_classification_has_the_guides_advice() {
        use UiRequiredClassification as C;
        let table = [
            (C::BasicAction, Advice::SignInInteractively),
            (C::AdditionalAction, Advice::ActOutsideSignIn),
            (C::MessageOnly, Advice::HideFeature),
            (C::ConsentRequired, Advice::SignInForConsent),
            (C::UserPasswordExpired, Advice::SignInToResetPassword),
            (C::PromptNeverFailed, Advice::SignInWithoutPromptNone),
            (C::AcquireTokenSilentFailed, Advice::SignInInteractively),
            (C::None, Advice::SignInInteractively),
        ];
        for (class, advice) in table {
            assert_eq!(ui(class).advice(), advice, "{class}");
        }
        // The same from the server's answers (AADSTS65001 is invalid_grant/consent_required).
        let consent = answer(400, "invalid_grant", Some("consent_required"), None);
        assert_eq!(consent.advice(), Advice::SignInForConsent);
        let login = answer(400, "interaction_required", None, None);
        assert_eq!(login.advice(), Advice::SignInInteractively);
    }

    #[test]
    fn a_claims_challenge_is_retried_with_the_claims() {
        let claims = Some(r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#);
        let e = answer(400, "interaction_required", None, claims);
        assert_eq!(e.advice(), Advice::RetryWithClaims);
        // AADSTS50158: additional_action with a claims challenge.
        let e = answer(
            400,
            "interaction_required",
            Some("additional_action"),
            claims,
        );
        assert_eq!(e.advice(), Advice::RetryWithClaims);
        // Consent stays consent even with claims.
        let e = answer(400, "invalid_grant", Some("consent_required"), claims);
        assert_eq!(e.advice(), Advice::SignInForConsent);
    }

    #[test]
    fn throttled_service_errors_wait_for_retry_after() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        let server = Error::unparsable_response(429, h, None, "slow down".into(), None);
        assert_eq!(server.advice(), Advice::WaitRetryAfter);
        let client = answer(400, "invalid_client", None, None).as_throttled(Duration::from_secs(5));
        assert_eq!(client.advice(), Advice::WaitRetryAfter);
        // A throttled UiRequired error still needs the interaction, not a wait.
        let ui = ui(UiRequiredClassification::BasicAction).as_throttled(Duration::from_secs(5));
        assert_eq!(ui.advice(), Advice::SignInInteractively);
    }

    #[test]
    fn service_errors_by_code() {
        let declined = Error::service(codes::DECLINED_SCOPES, "")
            .with_scopes(vec!["User.Read".into()], vec!["Files.Read".into()]);
        assert_eq!(declined.advice(), Advice::ContinueWithGrantedScopes);
        let policy = answer(
            400,
            "invalid_grant",
            Some("protection_policy_required"),
            None,
        );
        assert_eq!(policy.advice(), Advice::ApplyProtectionPolicy);
        let expired = Error::service(codes::EXPIRED_TOKEN, "");
        assert_eq!(expired.advice(), Advice::AskUserToRetry);
        for retryable in [
            answer(503, "server_error", None, None),
            answer(400, "temporarily_unavailable", None, None),
            Error::unparsable_response(502, HeaderMap::new(), None, "html".into(), None),
        ] {
            assert_eq!(retryable.advice(), Advice::RetryLater, "{retryable}");
        }
        for refused in [
            answer(401, "invalid_client", None, None),
            answer(400, "invalid_grant", Some("client_mismatch"), None),
            answer(400, "unauthorized_client", None, None),
        ] {
            assert_eq!(refused.advice(), Advice::CheckRegistration, "{refused}");
        }
    }

    #[test]
    fn the_other_kinds_have_one_advice_each() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let transport = Error::transport(codes::NETWORK_ERROR, "connect", io);
        assert_eq!(transport.advice(), Advice::CheckNetwork);
        let client = Error::client(codes::INVALID_AUTHORITY, "bad");
        assert_eq!(client.advice(), Advice::FixConfiguration);
        let cancelled = Error::cancelled(codes::AUTHORIZATION_DECLINED, "no");
        assert_eq!(cancelled.advice(), Advice::AskUserToRetry);
    }

    #[test]
    fn every_advice_has_its_own_line() {
        let all = [
            Advice::SignInInteractively,
            Advice::SignInForConsent,
            Advice::SignInToResetPassword,
            Advice::SignInWithoutPromptNone,
            Advice::RetryWithClaims,
            Advice::ActOutsideSignIn,
            Advice::HideFeature,
            Advice::ContinueWithGrantedScopes,
            Advice::WaitRetryAfter,
            Advice::RetryLater,
            Advice::ApplyProtectionPolicy,
            Advice::CheckRegistration,
            Advice::CheckNetwork,
            Advice::FixConfiguration,
            Advice::AskUserToRetry,
        ];
        let texts: std::collections::HashSet<_> = all.iter().map(|a| a.text()).collect();
        assert_eq!(texts.len(), all.len());
        assert!(
            all.iter()
                .all(|a| a.to_string() == a.text() && !a.text().contains('\n'))
        );
    }
}
