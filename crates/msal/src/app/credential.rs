//! How a confidential client proves who it is.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::token_file::FederatedTokenFile;
use crate::error::Error;
use crate::http::BoxFuture;
use crate::oauth::JWT_BEARER_ASSERTION;
use crate::oauth::assertion::ClientCertificate;
use crate::secret::{Assertion, ClientSecret};

/// What a caller-supplied assertion is for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AssertionContext {
    /// The application's client id (`iss` and `sub` of the assertion).
    pub client_id: String,
    /// The token endpoint (`aud` of the assertion).
    pub token_endpoint: String,
}

/// Produces a client assertion on demand (e.g. a workload identity federation token read from
/// a file, or a JWT signed by a key vault).
pub type AssertionProvider =
    Arc<dyn Fn(AssertionContext) -> BoxFuture<'static, Result<Assertion, Error>> + Send + Sync>;

/// A confidential client's credential.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientCredential {
    /// A client secret.
    Secret(ClientSecret),
    /// A certificate: each request carries a fresh JWT assertion signed with its key.
    Certificate(ClientCertificate),
    /// A caller-supplied assertion.
    Assertion(AssertionProvider),
    /// A federated token file (workload identity federation), read at each token request.
    AssertionFile(Arc<FederatedTokenFile>),
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCredential::Secret(s) => f.debug_tuple("Secret").field(s).finish(),
            ClientCredential::Certificate(c) => f.debug_tuple("Certificate").field(c).finish(),
            ClientCredential::Assertion(_) => f.write_str("Assertion(<callback>)"),
            ClientCredential::AssertionFile(file) => {
                f.debug_tuple("AssertionFile").field(file).finish()
            }
        }
    }
}

/// The form fields that authenticate the client, owned so they outlive the call; the copies
/// of the secret or assertion are zeroed on drop.
pub(crate) struct CredentialFields(Vec<(&'static str, Zeroizing<String>)>);

impl CredentialFields {
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

impl ClientCredential {
    /// The form fields for one request to `token_endpoint`.
    pub(crate) async fn fields(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<CredentialFields, Error> {
        let assertion = match self {
            ClientCredential::Secret(s) => {
                return Ok(CredentialFields(vec![(
                    "client_secret",
                    Zeroizing::new(s.secret().to_owned()),
                )]));
            }
            ClientCredential::Certificate(c) => c.sign_assertion(client_id, token_endpoint)?,
            ClientCredential::Assertion(p) => {
                p(AssertionContext {
                    client_id: client_id.to_owned(),
                    token_endpoint: token_endpoint.to_owned(),
                })
                .await?
            }
            ClientCredential::AssertionFile(file) => file.assertion()?,
        };
        Ok(CredentialFields(vec![
            (
                "client_assertion_type",
                Zeroizing::new(JWT_BEARER_ASSERTION.to_owned()),
            ),
            (
                "client_assertion",
                Zeroizing::new(assertion.secret().to_owned()),
            ),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_credential_fields_are_zeroizing_copies() {
        let c = ClientCredential::Secret(ClientSecret::new("s3cret"));
        let fields = c.fields("cid", "https://login/t/token").await.unwrap();
        // The type is what zeroes the copy on drop: a change to a plain `String` fails here.
        let owned: &Vec<(&'static str, Zeroizing<String>)> = &fields.0;
        assert_eq!(owned[0].0, "client_secret");
        assert_eq!(
            fields.pairs().collect::<Vec<_>>(),
            [("client_secret", "s3cret")]
        );
    }
}
