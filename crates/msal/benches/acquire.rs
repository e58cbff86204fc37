//! End-to-end cache hits through the public API, and the cost of (de)serializing big caches.
//!
//! `cargo bench -p msal-entra --bench acquire`. The workloads are MSAL Python's benchmark (T tenants
//! x K app tokens, hits cycling through tenants and scopes), a very large user partition, and a
//! 10,000-token cache file.

#[path = "support/in_process_idp.rs"]
mod in_process_idp;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use in_process_idp::InProcessIdp;
use msal::{Account, ConfidentialClientApplication, PublicClientApplication, TokenCache};
use serde_json::{Map, json};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A confidential app whose cache holds `tenants` x `per_tenant` app tokens, filled through
/// `acquire_token_for_client` against the in-process IdP.
fn filled_app(
    rt: &tokio::runtime::Runtime,
    tenants: usize,
    per_tenant: usize,
) -> (ConfidentialClientApplication, Vec<String>, Vec<String>) {
    let app = ConfidentialClientApplication::builder("bench-client")
        .authority("https://login.microsoftonline.com/tenant0")
        .client_secret("bench-secret")
        .http_client(Arc::new(InProcessIdp))
        .build()
        .expect("an app");
    let tenant_names: Vec<String> = (0..tenants).map(|t| format!("tenant{t}")).collect();
    let scopes: Vec<String> = (0..per_tenant)
        .map(|k| format!("api://resource{k}/.default"))
        .collect();
    rt.block_on(async {
        for t in &tenant_names {
            for s in &scopes {
                app.acquire_token_for_client([s])
                    .with_tenant(t)
                    .send()
                    .await
                    .expect("filled");
            }
        }
    });
    (app, tenant_names, scopes)
}

fn app_token_hits(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("acquire_token_for_client_cache_hit");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for (tenants, per_tenant) in [(1, 10), (1000, 10), (10_000, 10)] {
        let (app, tenant_names, scopes) = filled_app(&rt, tenants, per_tenant);
        // Time the calls inside one `block_on`: entering the runtime per call would cost more
        // than the cache hit itself.
        group.bench_function(
            BenchmarkId::from_parameter(format!("{tenants}x{per_tenant}")),
            |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let started = Instant::now();
                        for i in 0..iters as usize {
                            let t = &tenant_names[i % tenants];
                            let s = &scopes[(i / tenants) % per_tenant];
                            let r = app
                                .acquire_token_for_client([s])
                                .with_tenant(t)
                                .send()
                                .await
                                .expect("a cache hit");
                            std::hint::black_box(r);
                        }
                        started.elapsed()
                    })
                })
            },
        );
    }
    group.finish();
}

const HOME: &str = "uid.utid";
const ENV: &str = "login.windows.net";

/// An MSAL cache (unified schema) with `n` access tokens of one user, each for its own scope,
/// plus the account, its id token and refresh token.
fn user_cache(n: usize) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut ats = Map::new();
    for k in 0..n {
        let target = format!("api://resource{k}/scope");
        ats.insert(
            format!("{HOME}-{ENV}-accesstoken-bench-client-utid-{target}"),
            json!({
                "credential_type": "AccessToken", "secret": format!("at-{k}"),
                "home_account_id": HOME, "environment": ENV, "client_id": "bench-client",
                "realm": "utid", "target": target, "token_type": "Bearer",
                "cached_at": now.to_string(), "expires_on": (now + 3600).to_string(),
                "extended_expires_on": (now + 3600).to_string(),
            }),
        );
    }
    json!({
        "AccessToken": ats,
        "Account": {format!("{HOME}-{ENV}-utid"): {
            "home_account_id": HOME, "environment": ENV, "realm": "utid",
            "local_account_id": "uid", "username": "alice@contoso.com", "authority_type": "MSSTS"}},
        "RefreshToken": {format!("{HOME}-{ENV}-refreshtoken-bench-client--"): {
            "credential_type": "RefreshToken", "secret": "rt", "home_account_id": HOME,
            "environment": ENV, "client_id": "bench-client", "target": ""}},
        "AppMetadata": {format!("appmetadata-{ENV}-bench-client"): {"client_id": "bench-client", "environment": ENV}},
    })
    .to_string()
}

fn user_partition_hits(c: &mut Criterion) {
    let rt = runtime();
    let cache = TokenCache::new();
    cache
        .deserialize(&user_cache(100_000))
        .expect("a valid cache");
    let app = PublicClientApplication::builder("bench-client")
        .authority("https://login.microsoftonline.com/utid")
        .http_client(Arc::new(InProcessIdp))
        .token_cache(cache)
        .build()
        .expect("an app");
    let account = Account::new(HOME, ENV, "alice@contoso.com", "uid", "utid");
    let mut group = c.benchmark_group("acquire_token_silent_cache_hit");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("100000_user_tokens_one_partition", |b| {
        b.iter_custom(|iters| {
            let scopes: Vec<String> = (0..iters as usize)
                .map(|i| format!("api://resource{}/scope", (i * 7919) % 100_000))
                .collect();
            rt.block_on(async {
                let started = Instant::now();
                for scope in &scopes {
                    let r = app
                        .acquire_token_silent([scope], &account)
                        .send()
                        .await
                        .expect("a cache hit");
                    assert_eq!(r.source, msal::TokenSource::Cache);
                    std::hint::black_box(r);
                }
                started.elapsed()
            })
        })
    });
    group.finish();
}

fn serialization(c: &mut Criterion) {
    let json = user_cache(10_000);
    let cache = TokenCache::new();
    cache.deserialize(&json).expect("a valid cache");
    let mut group = c.benchmark_group("cache_file_10000_tokens");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("serialize", |b| b.iter(|| cache.serialize()));
    group.bench_function("deserialize", |b| {
        b.iter(|| {
            let fresh = TokenCache::new();
            fresh.deserialize(&json).expect("a valid cache");
            fresh
        })
    });
    group.finish();
}

criterion_group!(benches, app_token_hits, user_partition_hits, serialization);
criterion_main!(benches);
