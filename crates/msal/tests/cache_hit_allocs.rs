//! A cache hit allocates at most one block (the result's correlation id): counted by `dhat`'s
//! allocator in its testing mode. This counts allocations, never time.

use std::sync::Arc;
use std::time::Duration;

use msal::{ConfidentialClientApplication, TokenSource};

#[path = "../benches/support/in_process_idp.rs"]
mod in_process_idp;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[tokio::test(flavor = "current_thread")]
async fn a_cache_hit_allocates_at_most_the_result() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let app = ConfidentialClientApplication::builder("alloc-client")
        .authority("https://login.microsoftonline.com/tenant0")
        .client_secret("s")
        .http_client(Arc::new(in_process_idp::InProcessIdp))
        .build()
        .unwrap();
    let tenants = ["tenant1", "tenant2"];
    let scopes = ["api://a/.default", "api://b/.default"];
    let run = async {
        // Each (tenant, scope) once, and the app's own tenant, expecting `source`.
        let app = &app;
        let each = |source: TokenSource| async move {
            for s in scopes {
                let r = app.acquire_token_for_client([s]).send().await.unwrap();
                assert_eq!(r.source, source);
                for t in tenants {
                    let r = app
                        .acquire_token_for_client([s])
                        .with_tenant(t)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.source, source);
                }
            }
        };
        each(TokenSource::IdentityProvider).await;
        // The first hit of each request remembers it (`hit_memo.rs`), which allocates the
        // tenant's slots once; the hits after it are what a service runs.
        each(TokenSource::Cache).await;
        const HITS: u64 = 200;
        let before = dhat::HeapStats::get();
        let mut first = None;
        for i in 0..HITS as usize {
            let s = scopes[i % 2];
            let r = if i % 3 == 0 {
                app.acquire_token_for_client([s]).send().await.unwrap()
            } else {
                app.acquire_token_for_client([s])
                    .with_tenant(tenants[i % 2])
                    .send()
                    .await
                    .unwrap()
            };
            assert_eq!(r.source, TokenSource::Cache);
            // The token text is the cache's own copy, not a new one.
            if i == 0 {
                first = Some(r.access_token.clone());
            } else if i == 6 {
                assert!(first.as_ref().unwrap().shares_text_with(&r.access_token));
            }
        }
        let after = dhat::HeapStats::get();
        let allocs = after.total_blocks - before.total_blocks;
        // The one clone kept above is an Arc clone: no allocation either.
        dhat::assert!(allocs <= HITS, "{allocs} allocations for {HITS} hits");
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("bounded");
}
