//! `find_access_token` hits with 1 and 1000 tenants of 10 app tokens each. The target is
//! under 1 µs per hit at both sizes: the lookup is O(1) in the number of tenants.
//!
//! With the `redis` feature (on for the crate's own benches), `redis_l2_hit`: a lookup that
//! misses L1 (a new cache each time) and finds the token in a local `redis-server` (started by
//! the bench; it must be installed).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use msal::bench_support::AppTokens;

fn find_access_token(c: &mut Criterion) {
    let mut group = c.benchmark_group("find_access_token_hit");
    for tenants in [1usize, 1000] {
        let tokens = AppTokens::new(tenants, 10);
        let n = tokens.len();
        assert!((0..n).all(|i| tokens.hit(i)), "every lookup hits");
        // Visit tenants in a scattered order so the whole index is exercised.
        let mut i = 0usize;
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{tenants}x10")),
            &tokens,
            |b, tokens| {
                b.iter(|| {
                    i = (i + 7919) % n;
                    black_box(tokens.hit(black_box(i)))
                });
            },
        );
    }
    group.finish();
}

#[cfg(feature = "redis")]
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

#[cfg(feature = "redis")]
fn redis_l2_hit(c: &mut Criterion) {
    use msal::bench_support::L2Hit;

    let server = redis_server::RedisServer::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let l2 = rt
        .block_on(L2Hit::new(&server.url()))
        .expect("the token is written to Redis");
    assert!(rt.block_on(l2.hit()), "the lookup hits in Redis");
    c.bench_function("redis_l2_hit", |b| {
        b.iter(|| black_box(rt.block_on(l2.hit())));
    });
    drop(server);
}

#[cfg(feature = "redis")]
criterion_group!(benches, find_access_token, redis_l2_hit);
#[cfg(not(feature = "redis"))]
criterion_group!(benches, find_access_token);
criterion_main!(benches);
