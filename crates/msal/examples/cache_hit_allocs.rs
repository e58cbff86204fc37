//! Heap cost of the cache hit and of the cache, counted by `dhat`'s global allocator:
//! allocations and bytes per `acquire_token_for_client` hit (the workload of the `cache_hit`
//! example), and heap bytes per cached app token.
//!
//! ```sh
//! cargo run --release -p msal-entra --example cache_hit_allocs -- --tenants 1000 --tokens-per-tenant 10
//! ```
//!
//! Prints one JSON line: `allocs_per_hit`, `bytes_per_hit` (allocated, whether freed or not),
//! `bytes_per_token` (the heap the cache grows by per app token added to tenants that already
//! hold one, tokens of the in-process identity provider being `token_text_bytes` long) and
//! `bytes_per_token_with_tenant` (the heap per token of the whole fill, per-tenant state
//! included), and `bytes_per_token_with_tenant_and_hit_memo` (the same once every token was
//! hit, and each tenant remembers its hits).

use std::sync::Arc;

use msal::{ConfidentialClientApplication, TokenSource};
use serde_json::json;

#[path = "../benches/support/in_process_idp.rs"]
mod in_process_idp;
use in_process_idp::InProcessIdp;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn heap() -> dhat::HeapStats {
    dhat::HeapStats::get()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _profiler = dhat::Profiler::builder().testing().build();
    let args: Vec<String> = std::env::args().collect();
    let tenants = arg(&args, "--tenants", 1).max(1);
    let per_tenant = arg(&args, "--tokens-per-tenant", 10).max(2);
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
    let fill = |scopes: &'static [String]| {
        let app = app.clone();
        let tenant_names = tenant_names.clone();
        async move {
            for t in &tenant_names {
                for s in scopes {
                    let r = app
                        .acquire_token_for_client([s])
                        .with_tenant(t)
                        .send()
                        .await?;
                    assert_eq!(r.source, TokenSource::IdentityProvider);
                }
            }
            Ok::<_, msal::Error>(())
        }
    };
    let scopes: &'static [String] = Vec::leak(scopes);
    let empty = heap().curr_bytes;
    // One token per tenant first (the tenant's metadata, its partition), then the others.
    fill(&scopes[..1]).await?;
    let one_per_tenant = heap().curr_bytes;
    fill(&scopes[1..]).await?;
    let full = heap().curr_bytes;
    let added = tenants * (per_tenant - 1);
    let text = format!("at-{}-{}", tenant_names[0], scopes[0]).len();

    // Warm up (the first hits fill per-thread and per-app state), then count.
    // Warm: every (tenant, scope) hit once, which remembers each hit (`hit_memo.rs`).
    for i in 0..(tenants * per_tenant).max(1000) {
        hit(&app, &tenant_names, scopes, i).await?;
    }
    let remembered = heap().curr_bytes;
    let before = heap();
    for i in 0..calls {
        hit(&app, &tenant_names, scopes, i).await?;
    }
    let after = heap();
    println!(
        "{}",
        json!({
            "allocs_per_hit": (after.total_blocks - before.total_blocks) as f64 / calls as f64,
            "bytes_per_hit": (after.total_bytes - before.total_bytes) as f64 / calls as f64,
            "bytes_per_token": (full - one_per_tenant) as f64 / added as f64,
            "bytes_per_token_with_tenant": (full - empty) as f64 / (tenants * per_tenant) as f64,
            "bytes_per_token_with_tenant_and_hit_memo": (remembered - empty) as f64
                / (tenants * per_tenant) as f64,
            "token_text_bytes": text,
            "tenants": tenants,
            "tokens_per_tenant": per_tenant,
            "calls": calls,
        })
    );
    Ok(())
}

/// One cache hit of the `cache_hit` example's workload.
async fn hit(
    app: &ConfidentialClientApplication,
    tenants: &[String],
    scopes: &[String],
    i: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let t = &tenants[i % tenants.len()];
    let s = &scopes[(i / tenants.len()) % scopes.len()];
    let r = app
        .acquire_token_for_client([s])
        .with_tenant(t)
        .send()
        .await?;
    if r.source != TokenSource::Cache {
        return Err("a call was not a cache hit".into());
    }
    Ok(())
}
