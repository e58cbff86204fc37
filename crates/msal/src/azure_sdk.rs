//! The Azure SDK for Rust: the apps as `azure_core::credentials::TokenCredential`s (feature
//! `azure_core`).
//!
//! An Azure SDK client takes an `Arc<dyn TokenCredential>`. A confidential client (client
//! credentials) and a managed identity are credentials as they are; a public client gives one
//! per signed-in account ([`PublicClientApplication::token_credential`]). Tokens come from the
//! app's cache, so the SDK's own refreshes cost no request while a token is valid. A failure is
//! an `azure_core::Error` of kind `Credential` whose source is the [`msal::Error`](Error): its
//! kind, code, AADSTS codes and classification stay reachable by `downcast_ref`.
//!
//! ```no_run
//! # fn f() -> Result<(), msal::Error> {
//! use std::sync::Arc;
//! use azure_core::credentials::TokenCredential;
//! use msal::{ManagedIdentityApplication, ManagedIdentityId};
//!
//! let app = ManagedIdentityApplication::builder(ManagedIdentityId::SystemAssigned).build()?;
//! let credential: Arc<dyn TokenCredential> = Arc::new(app);
//! // e.g. azure_security_keyvault_secrets::SecretClient::new(url, credential, None)
//! # Ok(()) }
//! ```

use std::fmt;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};

use crate::account::Account;
use crate::app::{
    ConfidentialClientApplication, ManagedIdentityApplication, PublicClientApplication,
};
use crate::error::{Error, codes};
use crate::result::AuthenticationResult;

/// The SDK's form of an error: kind `Credential`, the [`Error`] as its source.
fn credential_error(e: Error) -> azure_core::Error {
    let message = format!("msal: {e}");
    azure_core::Error::with_error(azure_core::error::ErrorKind::Credential, e, message)
}

fn access_token(r: AuthenticationResult) -> AccessToken {
    AccessToken::new(r.access_token.secret().to_owned(), r.expires_on)
}

#[async_trait::async_trait]
impl TokenCredential for ConfidentialClientApplication {
    /// An app token for `scopes` (client credentials), from the cache when it holds one.
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.acquire_token_for_client(scopes.iter().copied())
            .send()
            .await
            .map(access_token)
            .map_err(credential_error)
    }
}

#[async_trait::async_trait]
impl TokenCredential for ManagedIdentityApplication {
    /// The identity's token for the one scope, `<resource>/.default`, from the cache when it
    /// holds one.
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let [scope] = scopes else {
            return Err(credential_error(Error::client(
                codes::INVALID_ARGUMENT,
                format!(
                    "a managed identity token is for one scope, <resource>/.default; {} were asked",
                    scopes.len()
                ),
            )));
        };
        self.acquire_token_for_client(scope)
            .send()
            .await
            .map(access_token)
            .map_err(credential_error)
    }
}

/// A signed-in account of a public client as an Azure SDK credential: each token is acquired
/// silently (cache, then refresh token); when the user must act, the error is `UiRequired`.
#[derive(Clone)]
pub struct AccountCredential {
    app: PublicClientApplication,
    account: Account,
}

impl fmt::Debug for AccountCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountCredential")
            .field("client_id", &self.app.client_id())
            .field("home_account_id", &self.account.home_account_id)
            .finish()
    }
}

impl PublicClientApplication {
    /// This signed-in account as an Azure SDK credential (silent acquisition).
    pub fn token_credential(&self, account: Account) -> AccountCredential {
        AccountCredential {
            app: self.clone(),
            account,
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for AccountCredential {
    /// The account's token for `scopes`, silently.
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.app
            .acquire_token_silent(scopes.iter().copied(), &self.account)
            .send()
            .await
            .map(access_token)
            .map_err(credential_error)
    }
}
