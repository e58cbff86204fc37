//! Cache-hit cost of `acquire_token_for_client`, on the workload of MSAL Python's own benchmark:
//! T tenants x K tokens in one application's cache, then N calls cycling through tenants and
//! scopes, every one a cache hit, no network.
//!
//! ```sh
//! cargo run --release -p msal-entra --example cache_hit -- --tenants 1000 --tokens-per-tenant 10 --calls 1000000
//! ```
//!
//! Prints one JSON line: `{"ns_per_call": ..., "tenants": T, "tokens_per_tenant": K, "calls": N}`.
//! The cache is filled through the real acquire path, answered by an in-process [`HttpClient`]
//! (the library's HTTP seam), so discovery, parsing and cache writes are the production code.

use std::sync::Arc;
use std::time::Instant;

use msal::{ConfidentialClientApplication, TokenSource};
use serde_json::json;

#[path = "../benches/support/in_process_idp.rs"]
mod in_process_idp;
use in_process_idp::InProcessIdp;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let tenants = arg(&args, "--tenants", 1).max(1);
    let per_tenant = arg(&args, "--tokens-per-tenant", 10).max(1);
    let calls = arg(&args, "--calls", 100_000).max(1);

    let app = ConfidentialClientApplication::builder("bench-client")
        .authority("https://login.microsoftonline.com/tenant0")
        .client_secret("bench-secret")
        .http_client(Arc::new(InProcessIdp))
        .build()?;
    let tenant_names: Vec<String> = (0..tenants).map(|t| format!("tenant{t}")).collect();
    let scopes: Vec<String> = (0..per_tenant)
        .map(|k| format!("api://resource{k}/.default"))
        .collect();
    for t in &tenant_names {
        for s in &scopes {
            let r = app
                .acquire_token_for_client([s])
                .with_tenant(t)
                .send()
                .await?;
            assert_eq!(r.source, TokenSource::IdentityProvider);
        }
    }

    let mut misses = 0usize;
    let started = Instant::now();
    for i in 0..calls {
        let t = &tenant_names[i % tenants];
        let s = &scopes[(i / tenants) % per_tenant];
        let r = app
            .acquire_token_for_client([s])
            .with_tenant(t)
            .send()
            .await?;
        if r.source != TokenSource::Cache {
            misses += 1;
        }
    }
    let elapsed = started.elapsed();
    if misses > 0 {
        return Err(format!("{misses} of {calls} calls were not cache hits").into());
    }
    println!(
        "{}",
        json!({
            "ns_per_call": elapsed.as_nanos() as f64 / calls as f64,
            "tenants": tenants,
            "tokens_per_tenant": per_tenant,
            "calls": calls,
        })
    );
    Ok(())
}
