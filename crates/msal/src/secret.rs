//! Secret newtypes. Their `Debug` is redacted and their memory is zeroed on drop, so a secret
//! cannot reach a log by accident; read one only through its explicit `secret()` accessor.

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                $name(SecretString::from(value.into()))
            }

            /// The secret value. Do not log it.
            pub fn secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name::new(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::new(s)
            }
        }
    };
}

secret_type!(
    /// A confidential client's secret.
    ClientSecret
);
/// An access token. Clones share one copy of the text (reference-counted), which is zeroed
/// when the last clone is dropped: a token served from the cache is the cache's own copy, not
/// a new one per call.
#[derive(Clone)]
pub struct AccessToken(TokenRepr);

#[derive(Clone)]
enum TokenRepr {
    Own(Arc<SecretString>),
    /// The token of a cache entry, with the rest of what its results share.
    Cached(Arc<TokenParts>),
}

/// What the results served from one cached access token share with the cache, in one
/// allocation: the token (zeroed when the last holder drops it), its tenant, its scopes and
/// its token type. A cache hit touches only its reference count.
#[derive(Debug)]
pub(crate) struct TokenParts {
    pub(crate) secret: SecretString,
    pub(crate) realm: Box<str>,
    pub(crate) scopes: Box<[String]>,
    /// `None`: `Bearer`.
    pub(crate) token_type: Option<Box<str>>,
}

impl AccessToken {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        AccessToken(TokenRepr::Own(Arc::new(SecretString::from(value.into()))))
    }

    /// The token of a cache entry.
    pub(crate) fn cached(parts: Arc<TokenParts>) -> Self {
        AccessToken(TokenRepr::Cached(parts))
    }

    /// What the token shares with its cache entry, when it is a cached token.
    pub(crate) fn shared_parts(&self) -> Option<&Arc<TokenParts>> {
        match &self.0 {
            TokenRepr::Own(_) => None,
            TokenRepr::Cached(p) => Some(p),
        }
    }

    /// The secret value. Do not log it.
    pub fn secret(&self) -> &str {
        match &self.0 {
            TokenRepr::Own(s) => s.expose_secret(),
            TokenRepr::Cached(p) => p.secret.expose_secret(),
        }
    }

    /// Whether both are the same shared copy of the token.
    pub fn shares_text_with(&self, other: &AccessToken) -> bool {
        let (a, b) = (self.secret(), other.secret());
        std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

impl From<String> for AccessToken {
    fn from(s: String) -> Self {
        AccessToken::new(s)
    }
}

impl From<&str> for AccessToken {
    fn from(s: &str) -> Self {
        AccessToken::new(s)
    }
}

secret_type!(
    /// A refresh token.
    RefreshToken
);
secret_type!(
    /// A user's password, for the username/password (ROPC) flow.
    Password
);
secret_type!(
    /// A signed JWT: a client assertion, or the incoming token of an on-behalf-of request.
    Assertion
);
secret_type!(
    /// A secret a managed identity endpoint asks for: `IDENTITY_HEADER`, `MSI_SECRET`, or the
    /// content of an Azure Arc key file.
    ManagedIdentitySecret
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = ClientSecret::new("hunter2");
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        assert_eq!(s.secret(), "hunter2");
        assert!(!format!("{:?}", AccessToken::from("eyJ.a.b")).contains("eyJ"));
    }

    #[test]
    fn access_token_clones_share_one_copy_of_the_text() {
        let a = AccessToken::new("eyJ.a.b");
        let b = a.clone();
        assert!(a.shares_text_with(&b));
        assert_eq!(a.secret().as_ptr(), b.secret().as_ptr());
        assert!(!a.shares_text_with(&AccessToken::new("eyJ.a.b")));
        assert_eq!(format!("{b:?}"), "AccessToken([redacted])");
    }
}
