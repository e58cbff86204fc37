//! The resolver's maps stay bounded, and refusals are remembered, whatever tenant names
//! the callers pass.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::authority::AuthorityOptions;
use crate::http::{BoxFuture, HeaderMap, StatusCode, TransportError};

/// Knows the tenants whose name starts with `good`; refuses the others with
/// `invalid_tenant`, or with a 429 for names starting with `busy`. Counts the requests.
#[derive(Debug, Default)]
struct Directory {
    requests: AtomicUsize,
}

impl HttpClient for Directory {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let tenant = req.url.path().trim_start_matches('/');
            let tenant = tenant.split('/').next().unwrap_or_default().to_owned();
            let base = format!("https://login.microsoftonline.com/{tenant}");
            let (status, body) = if tenant.starts_with("good") {
                let doc = serde_json::json!({
                    "issuer": format!("{base}/v2.0"),
                    "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
                    "token_endpoint": format!("{base}/oauth2/v2.0/token"),
                });
                (200, doc.to_string())
            } else if tenant.starts_with("busy") {
                (429, r#"{"error":"temporarily_unavailable"}"#.to_owned())
            } else {
                (400, r#"{"error":"invalid_tenant"}"#.to_owned())
            };
            let status = StatusCode::from_u16(status).unwrap();
            Ok(HttpResponse::new(status, HeaderMap::new(), body))
        })
    }
}

impl Directory {
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn authority(tenant: &str) -> Authority {
    let url = format!("https://login.microsoftonline.com/{tenant}");
    Authority::parse(&url, &AuthorityOptions::default()).unwrap()
}

#[tokio::test]
async fn distinct_tenant_names_do_not_grow_the_maps_past_their_bound() {
    let resolver = AuthorityResolver::default();
    let http = Directory::default();
    let n = MAX_ENTRIES + 500;
    for i in 0..n {
        let e = resolver
            .metadata(&authority(&format!("bad-{i}")), &http, false, "c")
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_tenant");
        let (docs, hosts, failures) = resolver.sizes();
        assert!(
            docs <= MAX_ENTRIES && hosts <= MAX_ENTRIES,
            "{docs} {hosts}"
        );
        assert!(failures <= MAX_ENTRIES, "{failures}");
    }
    assert_eq!(http.requests(), n, "each new name is asked once");
    // A failed lookup leaves no document entry behind.
    assert_eq!(resolver.sizes().0, 0);
    for i in 0..n {
        resolver
            .metadata(&authority(&format!("good-{i}")), &http, false, "c")
            .await
            .unwrap();
        assert!(resolver.sizes().0 <= MAX_ENTRIES);
    }
    assert!(
        resolver.sizes().0 > MAX_ENTRIES / 2,
        "the bound still caches"
    );
}

#[tokio::test]
async fn a_refused_name_is_asked_once_then_answered_from_memory() {
    let resolver = AuthorityResolver::default();
    let http = Directory::default();
    let bad = authority("contoso-typo.example");
    let first = resolver
        .metadata(&bad, &http, false, "c1")
        .await
        .unwrap_err();
    let second = resolver
        .metadata(&bad, &http, false, "c2")
        .await
        .unwrap_err();
    assert_eq!(http.requests(), 1, "the second lookup sent nothing");
    assert_eq!(
        (first.code(), second.code()),
        ("invalid_tenant", "invalid_tenant")
    );
    assert_eq!(second.http_status(), Some(400));
    // Concurrent lookups of a refused name share the remembered answer too.
    let other = authority("other-typo.example");
    let calls = (0..8).map(|_| resolver.metadata(&other, &http, false, "c"));
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.unwrap_err().code(), "invalid_tenant");
    }
    assert_eq!(http.requests(), 2);
}

#[tokio::test]
async fn a_failure_that_may_pass_is_not_remembered() {
    let resolver = AuthorityResolver::default();
    let http = Directory::default();
    let busy = authority("busy-tenant");
    for _ in 0..2 {
        let e = resolver
            .metadata(&busy, &http, false, "c")
            .await
            .unwrap_err();
        assert_eq!(e.http_status(), Some(429));
    }
    assert_eq!(http.requests(), 2, "a 429 is asked again");
    assert_eq!(resolver.sizes().2, 0);
}
