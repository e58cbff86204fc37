//! The signed-in user as the token cache knows them.

use serde::Serialize;

/// A user account from the token cache, as MSAL's unified cache schema records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Account {
    /// `<uid>.<utid>`: the user's object id and home tenant id, from `client_info`.
    pub home_account_id: String,
    /// The cloud instance host the account signed in with (e.g. `login.microsoftonline.com`).
    pub environment: String,
    /// The sign-in name (`preferred_username`).
    pub username: String,
    /// The user's object id in the tenant of the token (`oid`).
    pub local_account_id: String,
    /// The tenant of the token (`tid`).
    pub realm: String,
    /// The display name, when the id token has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Account {
    /// An account from its parts.
    pub fn new(
        home_account_id: impl Into<String>,
        environment: impl Into<String>,
        username: impl Into<String>,
        local_account_id: impl Into<String>,
        realm: impl Into<String>,
    ) -> Self {
        Account {
            home_account_id: home_account_id.into(),
            environment: environment.into(),
            username: username.into(),
            local_account_id: local_account_id.into(),
            realm: realm.into(),
            name: None,
        }
    }
}
