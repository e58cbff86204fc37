//! The result of a token fetched from the identity provider shares the parts of the cache
//! entry just written (the token's text, its scopes, tenant and token type) when they are
//! what it reports, as a cache hit does; otherwise it keeps its own copy. Either way it reports
//! exactly what the answer said.

mod common;

use common::{Answer, MockIdp, TENANT, app_token};
use msal::{ConfidentialClientApplication, TokenSource};
use serde_json::json;

fn app(idp: &MockIdp) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder("miss-app")
        .authority(idp.authority())
        .allow_insecure_loopback(true)
        .client_secret("s")
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_fetched_token_is_the_cache_entrys_own_copy_and_its_hits_share_it() {
    let idp = MockIdp::start().await;
    idp.push_token(app_token("at-1", "api://a/.default"));
    let app = app(&idp);

    let fetched = app
        .acquire_token_for_client(["api://a/.default"])
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.source, TokenSource::IdentityProvider);
    assert_eq!(fetched.access_token.secret(), "at-1");
    assert_eq!(fetched.token_type.as_str(), "Bearer");
    assert_eq!(fetched.scopes.as_slice(), ["api://a/.default"]);
    assert_eq!(fetched.tenant_id.as_ref().map(|t| t.as_str()), Some(TENANT));

    let hit = app
        .acquire_token_for_client(["api://a/.default"])
        .send()
        .await
        .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert!(hit.access_token.shares_text_with(&fetched.access_token));
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn a_fetched_result_reports_the_answers_scopes_in_its_order_and_type() {
    let idp = MockIdp::start().await;
    // The cache keeps the scopes sorted; the result reports them as the answer gave them, so
    // it keeps its own copy.
    idp.push_token(Answer::json(
        200,
        json!({"token_type": "bearer", "expires_in": 3599, "access_token": "at-2", "scope": "api://z/b api://z/a"}),
    ));
    let app = app(&idp);

    let fetched = app
        .acquire_token_for_client(["api://z/a", "api://z/b"])
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.source, TokenSource::IdentityProvider);
    assert_eq!(fetched.scopes.as_slice(), ["api://z/b", "api://z/a"]);
    assert_eq!(fetched.token_type.as_str(), "bearer");
    assert_eq!(fetched.access_token.secret(), "at-2");

    let hit = app
        .acquire_token_for_client(["api://z/a", "api://z/b"])
        .send()
        .await
        .unwrap();
    assert_eq!(hit.source, TokenSource::Cache);
    assert_eq!(hit.access_token.secret(), "at-2");
    assert!(!hit.access_token.shares_text_with(&fetched.access_token));
    assert_eq!(idp.token_requests().len(), 1);
}
