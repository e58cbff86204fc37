//! Secret newtypes. Their `Debug` is redacted and their memory is zeroed on drop, so a secret
//! cannot reach a log by accident; read one only through its explicit `secret()` accessor.

use std::fmt;

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
secret_type!(
    /// An access token.
    AccessToken
);
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
}
