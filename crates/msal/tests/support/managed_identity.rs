//! What the managed identity tests share: a fast retry policy, a time bound, an app on the
//! scripted identity provider's IMDS, and the query of a recorded request. Each test file
//! uses a part of it.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use msal::{ManagedIdentityApplication, ManagedIdentityId, ManagedIdentityRetryPolicy};

use crate::common::{MockIdp, Recorded};

/// Retries as the default policy, with delays of a millisecond.
pub fn fast() -> ManagedIdentityRetryPolicy {
    ManagedIdentityRetryPolicy {
        delay: Duration::from_millis(1),
        imds_gone_delay: Duration::from_millis(1),
        max_retry_after: Duration::from_millis(5),
        ..Default::default()
    }
}

/// `f`, which must finish within 30 s.
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the test finished in time")
}

/// The environment of IMDS on the scripted identity provider.
pub fn imds_env(idp: &MockIdp) -> Vec<(&'static str, String)> {
    vec![(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        idp.base.trim_end_matches('/').to_owned(),
    )]
}

/// An app of this identity in this environment, with the fast retries.
pub fn app(id: ManagedIdentityId, env: &[(&str, String)]) -> ManagedIdentityApplication {
    ManagedIdentityApplication::builder(id)
        .environment(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .retry_policy(fast())
        .build()
        .unwrap()
}

/// The system-assigned identity on the scripted IMDS.
pub fn imds_app(idp: &MockIdp) -> ManagedIdentityApplication {
    app(ManagedIdentityId::SystemAssigned, &imds_env(idp))
}

/// The query pairs of a recorded request, in order.
pub fn query(r: &Recorded) -> Vec<(String, String)> {
    url::form_urlencoded::parse(r.query.as_bytes())
        .into_owned()
        .collect()
}
