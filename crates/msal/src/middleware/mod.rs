//! HTTP middleware that calls a protected API with the app's token and answers its claims
//! challenges (Continuous Access Evaluation, Conditional Access authentication context).
//!
//! One core, [`BearerAuth`], and two fronts, each behind its own feature:
//!
//! - `reqwest-middleware`: [`BearerAuth`] is a `reqwest_middleware::Middleware`;
//! - `tower`: [`BearerAuth`] is a `tower::Layer` whose [`BearerService`] wraps any
//!   `http::Request<B>` -> `http::Response<_>` service (hyper-util's client, a tower stack).
//!
//! What it does, on every request:
//!
//! 1. acquires a token for the scopes from its [`TokenSource`] (the app's cache first) and sets
//!    `Authorization: Bearer <token>` (marked sensitive, so it is redacted from `Debug`);
//! 2. when the API answers `401` with a `WWW-Authenticate: Bearer error="insufficient_claims",
//!    claims="<base64>"` challenge, acquires a new token with those claims (a claims request
//!    bypasses the cache) and sends the request again, **once**;
//! 3. when the retried request is challenged again, or the new token needs the user (silent
//!    acquisition fails with `UiRequired`), fails with a `UiRequired` [`Error`] carrying the
//!    claims ([`Error::claims`]) to pass to an interactive sign-in; it never loops.
//!
//! A request whose body cannot be sent twice (a reqwest streaming body) is not retried: the
//! challenge comes back as a `Client` error [`codes::REQUEST_NOT_REPLAYABLE`] with the claims.
//! Any other answer, a `401` without a claims challenge included, is returned as it came.
//!
//! The `cp1` capability (the app can answer claims challenges) is advertised by the app
//! itself: build it with `client_capabilities(["cp1"])` and every token request it makes,
//! this middleware's included, carries `xms_cc`. Nothing about it goes to the API.
//!
//! ```no_run
//! # #[cfg(feature = "reqwest-middleware")]
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use msal::ConfidentialClientApplication;
//! use msal::middleware::BearerAuth;
//!
//! let app = ConfidentialClientApplication::builder("client-id")
//!     .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
//!     .client_secret("secret")
//!     .client_capabilities(["cp1"])
//!     .build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(BearerAuth::new(app, ["https://graph.microsoft.com/.default"]))
//!     .build();
//! let me = client.get("https://graph.microsoft.com/v1.0/users").send().await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "reqwest-middleware")]
mod reqwest;
#[cfg(feature = "tower")]
mod tower;

#[cfg(feature = "tower")]
pub use self::tower::BearerService;

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue};

use crate::account::Account;
use crate::app::{
    ConfidentialClientApplication, ManagedIdentityApplication, PublicClientApplication,
};
use crate::claims::claims_challenge_from_response;
use crate::error::{Error, ErrorKind, UiRequiredClassification, codes};
use crate::secret::AccessToken;

/// Where the middleware gets its tokens: an app, with the scopes the middleware was given and,
/// after a claims challenge, the challenge's claims.
///
/// Implemented for [`ConfidentialClientApplication`] (client credentials),
/// [`ManagedIdentityApplication`] (exactly one scope, `<resource>/.default`) and
/// [`SignedInAccount`] (a public client's user, silently); implement it to use another
/// source (e.g. on-behalf-of).
pub trait TokenSource: Send + Sync + 'static {
    /// A token for `scopes`. With `claims`, a new one that satisfies them: the claims must be
    /// sent to the identity provider (e.g. with `.with_claims(..)`), not served from a cache.
    fn token<'a>(
        &'a self,
        scopes: &'a [String],
        claims: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccessToken, Error>>;
}

impl TokenSource for ConfidentialClientApplication {
    fn token<'a>(
        &'a self,
        scopes: &'a [String],
        claims: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(async move {
            let mut req = self.acquire_token_for_client(scopes);
            if let Some(c) = claims {
                req = req.with_claims(c);
            }
            req.send().await.map(|r| r.access_token)
        })
    }
}

impl TokenSource for ManagedIdentityApplication {
    fn token<'a>(
        &'a self,
        scopes: &'a [String],
        claims: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(async move {
            let [scope] = scopes else {
                return Err(Error::client(
                    codes::INVALID_ARGUMENT,
                    format!(
                        "a managed identity token is for one scope, <resource>/.default; {} were given",
                        scopes.len()
                    ),
                ));
            };
            let mut req = self.acquire_token_for_client(scope);
            if let Some(c) = claims {
                req = req.with_claims(c);
            }
            req.send().await.map(|r| r.access_token)
        })
    }
}

/// A signed-in account of a public client as a [`TokenSource`]: tokens are acquired silently
/// (cache, then refresh token); when the user must act, the error is `UiRequired`.
#[derive(Clone)]
pub struct SignedInAccount {
    app: PublicClientApplication,
    account: Account,
}

impl SignedInAccount {
    /// The account `account` of `app` (e.g. from `app.accounts()` or a sign-in's result).
    pub fn new(app: PublicClientApplication, account: Account) -> Self {
        SignedInAccount { app, account }
    }
}

impl fmt::Debug for SignedInAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedInAccount")
            .field("client_id", &self.app.client_id())
            .field("home_account_id", &self.account.home_account_id)
            .finish()
    }
}

impl TokenSource for SignedInAccount {
    fn token<'a>(
        &'a self,
        scopes: &'a [String],
        claims: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccessToken, Error>> {
        Box::pin(async move {
            let mut req = self.app.acquire_token_silent(scopes, &self.account);
            if let Some(c) = claims {
                req = req.with_claims(c);
            }
            req.send().await.map(|r| r.access_token)
        })
    }
}

/// The middleware: a [`TokenSource`] and the scopes of the API it calls. Cheap to clone.
///
/// With the feature `reqwest-middleware` it is a `reqwest_middleware::Middleware`; with the
/// feature `tower`, a `tower::Layer` (see [`BearerService`]). The module documentation says
/// what it does.
#[derive(Clone)]
pub struct BearerAuth {
    source: Arc<dyn TokenSource>,
    scopes: Arc<[String]>,
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// What to do with the first answer to a request.
pub(crate) enum FirstAnswer {
    /// Give it to the caller as it is.
    Return,
    /// Send the request again with this `Authorization` value (a token with the claims).
    Retry(HeaderValue),
}

impl BearerAuth {
    /// Calls an API with tokens for `scopes` from `source`: an app
    /// ([`ConfidentialClientApplication`], [`ManagedIdentityApplication`]), a
    /// [`SignedInAccount`], or your own [`TokenSource`].
    pub fn new<I, S>(source: impl TokenSource, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        BearerAuth {
            source: Arc::new(source),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }

    /// The scopes the tokens are for.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The `Authorization` value for the request: a token for the scopes, with `claims` when
    /// answering a challenge.
    pub(crate) async fn authorization(&self, claims: Option<&str>) -> Result<HeaderValue, Error> {
        let token = self.source.token(&self.scopes, claims).await?;
        // The token came from a server: a byte a header cannot carry is refused, not sent.
        let mut value =
            HeaderValue::try_from(format!("Bearer {}", token.secret())).map_err(|_| {
                Error::service(
                    codes::INVALID_TOKEN_RESPONSE,
                    "the access token contains characters an HTTP header cannot carry",
                )
            })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Reads the first answer: a claims challenge is answered with a new token (when the
    /// request can be sent again), anything else goes to the caller.
    pub(crate) async fn first_answer(
        &self,
        status: u16,
        headers: &HeaderMap,
        replayable: bool,
    ) -> Result<FirstAnswer, Error> {
        let Some(claims) = claims_challenge_from_response(status, headers) else {
            return Ok(FirstAnswer::Return);
        };
        if !replayable {
            return Err(Error::client(
                codes::REQUEST_NOT_REPLAYABLE,
                "the API answered with a claims challenge, and the request cannot be sent again \
                 (its body is a stream): acquire a token with the claims (Error::claims) and send \
                 it yourself, or give the request a body that can be cloned",
            )
            .with_claims(claims));
        }
        tracing::debug!("claims challenge from the API; acquiring a token with its claims");
        match self.authorization(Some(&claims)).await {
            Ok(value) => Ok(FirstAnswer::Retry(value)),
            // The user must act: the claims go with the error, for the interactive sign-in
            // (the identity provider's error rarely repeats them).
            Err(e) if e.kind() == ErrorKind::UiRequired && e.claims().is_none() => {
                Err(e.with_claims(claims))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the answer to the retried request: a second claims challenge means a new token
    /// did not satisfy the API, so the user must act; it is not answered again (no loop).
    pub(crate) fn retried_answer(&self, status: u16, headers: &HeaderMap) -> Result<(), Error> {
        match claims_challenge_from_response(status, headers) {
            None => Ok(()),
            Some(claims) => Err(Error::ui_required(
                codes::INSUFFICIENT_CLAIMS,
                UiRequiredClassification::None,
                "the API challenged the token acquired for its claims challenge again; \
                 sign the user in interactively with the claims (Error::claims)",
            )
            .with_claims(claims)),
        }
    }
}
