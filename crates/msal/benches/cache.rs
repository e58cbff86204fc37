//! `find_access_token` hits with 1 and 1000 tenants of 10 app tokens each. The target is
//! under 1 µs per hit at both sizes: the lookup is O(1) in the number of tenants.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use msal::cache::bench_support::AppTokens;

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

criterion_group!(benches, find_access_token);
criterion_main!(benches);
