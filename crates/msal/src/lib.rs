//! # msal: the Microsoft Authentication Library for Rust
//!
//! Tokens from Microsoft Entra ID (and any OpenID Connect provider) for Rust services, CLIs
//! and desktop apps, with errors that are typed, classified and actionable.
//!
//! Every failure is an [`Error`]; match on [`Error::kind`] and, for
//! [`ErrorKind::UiRequired`], on [`Error::classification`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod account;
pub mod app;
pub mod authority;
#[cfg(feature = "azure_core")]
pub mod azure_sdk;
/// Support for the crate's benchmarks; not part of the API.
#[doc(hidden)]
pub mod bench_support;
pub mod cache;
pub mod claims;
mod clock;
pub mod error;
mod hash;
pub mod http;
#[cfg(any(feature = "reqwest-middleware", feature = "tower"))]
pub mod middleware;
pub mod oauth;
mod pii;
pub mod pop;
pub mod result;
mod runtime;
pub mod secret;

pub use account::Account;
pub use app::{
    AuthCodeFlow, Browser, ClientCredential, ConfidentialClientApplication,
    ConfidentialClientApplicationBuilder, FederatedTokenFile, ManagedIdentityApplication,
    ManagedIdentityApplicationBuilder, ManagedIdentityId, ManagedIdentityRetryPolicy,
    ManagedIdentitySource, Prompt, PublicClientApplication, PublicClientApplicationBuilder,
    RefreshTokenRequest, Region, RegionDetection,
};
pub use authority::{Authority, AuthorityKind};
pub use cache::TokenCache;
pub use error::{Error, ErrorKind, UiRequiredClassification};
pub use oauth::DeviceCodeInfo;
pub use oauth::assertion::{AssertionAlgorithm, ClientCertificate};
pub use pop::PopKey;
pub use result::{AuthenticationResult, Scopes, SharedStr, TokenSource};
pub use secret::{
    AccessToken, Assertion, ClientSecret, ManagedIdentitySecret, Password, RefreshToken,
};
