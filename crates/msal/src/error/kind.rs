//! Who can resolve an error ([`ErrorKind`]) and, for `UiRequired`, what kind of interaction
//! ([`UiRequiredClassification`]).

use std::fmt;

/// Who can resolve an error; the first thing to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Interaction with the user can resolve it: call an interactive flow (or device code).
    /// [`Error::classification`](super::Error::classification) says what kind of interaction.
    UiRequired,
    /// The identity provider refused or failed the request (throttling included).
    Service,
    /// Bad configuration or input, detected before or without the network.
    Client,
    /// No usable answer came back: connection refused or reset, DNS, TLS, timeout.
    Transport,
    /// The user or the caller cancelled or declined.
    Cancelled,
}

impl ErrorKind {
    /// The stable snake-case name used in the CLI's JSON (`ui_required`, `service`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UiRequired => "ui_required",
            ErrorKind::Service => "service",
            ErrorKind::Client => "client",
            ErrorKind::Transport => "transport",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of interaction resolves a [`ErrorKind::UiRequired`] error, as MSAL.NET's
/// `UiRequiredExceptionClassification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UiRequiredClassification {
    /// The user can resolve it during an interactive sign-in (e.g. accept terms).
    BasicAction,
    /// The user must act outside the sign-in flow (remedial action); an interactive sign-in
    /// shows a message that explains it.
    AdditionalAction,
    /// Cannot be resolved now; an interactive sign-in only shows a message, then the user closes
    /// it and the call ends as cancelled.
    MessageOnly,
    /// Consent is missing or was revoked.
    ConsentRequired,
    /// The user's password expired; an interactive sign-in lets them reset it.
    UserPasswordExpired,
    /// An interactive call with `prompt=none` could not complete without showing UI.
    PromptNeverFailed,
    /// The library had too little to get a token silently: no account, or no usable token.
    AcquireTokenSilentFailed,
    /// No further detail; an interactive sign-in may resolve it.
    None,
}

impl UiRequiredClassification {
    /// The stable snake-case name used in the CLI's JSON (`basic_action`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BasicAction => "basic_action",
            Self::AdditionalAction => "additional_action",
            Self::MessageOnly => "message_only",
            Self::ConsentRequired => "consent_required",
            Self::UserPasswordExpired => "user_password_expired",
            Self::PromptNeverFailed => "prompt_never_failed",
            Self::AcquireTokenSilentFailed => "acquire_token_silent_failed",
            Self::None => "none",
        }
    }

    /// The classification a server `suberror` names, or [`Self::None`].
    pub fn from_suberror(suberror: Option<&str>) -> Self {
        match suberror {
            Some("basic_action") => Self::BasicAction,
            Some("additional_action") => Self::AdditionalAction,
            Some("message_only") => Self::MessageOnly,
            Some("consent_required") => Self::ConsentRequired,
            Some("user_password_expired") => Self::UserPasswordExpired,
            _ => Self::None,
        }
    }
}

impl fmt::Display for UiRequiredClassification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
