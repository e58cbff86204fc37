//! A cold acquisition (a cache miss: a token request to the identity provider) beside a bare
//! `reqwest` POST of the same form to the same server: the library's overhead over the round
//! trip itself.
//!
//! `cargo bench -p msal-entra --bench cold`. The identity provider is an axum server on loopback
//! answering a fixed token; the library's authority metadata is fetched once, before timing
//! (as in a running service), and every timed call skips the cache (`force_refresh`), so it
//! sends the token request, parses, checks and caches the answer.
//!
//! `bare_reqwest_post` sends the form with two headers; MSAL's request carries ten (413 bytes
//! of headers instead of 163), which the server, on the same two cores, parses too:
//! `bare_reqwest_post_msal_headers` is the bare POST with MSAL's headers, the same request on
//! the wire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use criterion::{Criterion, criterion_group, criterion_main};
use msal::{ConfidentialClientApplication, TokenSource};
use serde_json::{Value, json};

#[path = "support/bare_post.rs"]
mod bare_post;

const SCOPE: &str = "api://bench/.default";

async fn metadata(State(base): State<Arc<str>>) -> axum::Json<Value> {
    axum::Json(json!({
        "issuer": format!("{base}/tenant0/v2.0"),
        "authorization_endpoint": format!("{base}/tenant0/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/tenant0/oauth2/v2.0/token"),
    }))
}

async fn token() -> ([(&'static str, &'static str); 1], &'static str) {
    (
        [("content-type", "application/json")],
        r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly9iZW5jaCJ9.c2lnbmF0dXJl"}"#,
    )
}

/// Starts the identity provider on an ephemeral loopback port; returns its base URL.
async fn start_idp() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let app = Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(metadata),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .with_state(Arc::<str>::from(base.as_str()));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

fn cold(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let base = rt.block_on(start_idp());
    let app = ConfidentialClientApplication::builder("bench-client")
        .authority(format!("{base}/tenant0"))
        .allow_insecure_loopback(true)
        .instance_discovery(false)
        .client_secret("bench-secret")
        .build()
        .expect("an app");
    let token_endpoint = format!("{base}/tenant0/oauth2/v2.0/token");
    let bare = reqwest::Client::new();
    // The metadata, fetched once.
    rt.block_on(async {
        let r = app
            .acquire_token_for_client([SCOPE])
            .send()
            .await
            .expect("a token");
        assert_eq!(r.source, TokenSource::IdentityProvider);
    });

    let mut group = c.benchmark_group("cold_acquisition");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    // Each sample runs its calls inside one `block_on`, on both sides alike.
    group.bench_function("msal_acquire_token_for_client", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let r = app
                        .acquire_token_for_client([SCOPE])
                        .force_refresh(true)
                        .send()
                        .await
                        .expect("a token");
                    assert_eq!(r.source, TokenSource::IdentityProvider);
                }
                started.elapsed()
            })
        })
    });
    // The library's HTTP layer alone (its default client), to tell its cost from the rest.
    let layer = msal::http::ReqwestHttpClient::new().expect("a client");
    let endpoint = url::Url::parse(&token_endpoint).expect("a URL");
    group.bench_function("msal_http_client_post", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                use msal::http::HttpClient;
                let started = Instant::now();
                for _ in 0..iters {
                    let req = msal::http::HttpRequest::post_form(
                        endpoint.clone(),
                        [
                            ("grant_type", "client_credentials"),
                            ("client_id", "bench-client"),
                            ("scope", SCOPE),
                            ("client_secret", "bench-secret"),
                        ],
                    );
                    let resp = layer.execute(req).await.expect("an answer");
                    let v: Value = serde_json::from_slice(&resp.body).expect("JSON");
                    assert!(v["access_token"].is_string());
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("bare_reqwest_post", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let form = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("grant_type", "client_credentials")
                        .append_pair("client_id", "bench-client")
                        .append_pair("scope", SCOPE)
                        .append_pair("client_secret", "bench-secret")
                        .finish();
                    let body = bare
                        .post(&token_endpoint)
                        .header("client-request-id", uuid::Uuid::new_v4().to_string())
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(form)
                        .send()
                        .await
                        .expect("an answer")
                        .bytes()
                        .await
                        .expect("a body");
                    let v: Value = serde_json::from_slice(&body).expect("JSON");
                    assert!(v["access_token"].is_string());
                }
                started.elapsed()
            })
        })
    });
    // The same POST with the headers MSAL must send on every token request: the same bytes
    // on the wire as the library's request, so the server parses as much for both. The
    // difference between this and `bare_reqwest_post` is the wire's, not the library's.
    group.bench_function("bare_reqwest_post_msal_headers", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    bare_post::post_with_msal_headers(&bare, &token_endpoint, SCOPE)
                        .await
                        .expect("a token");
                }
                started.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, cold);
criterion_main!(benches);
