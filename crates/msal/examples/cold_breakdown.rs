//! Where a cold acquisition's time goes over a real connection: `acquire_token_for_client`
//! with `force_refresh` against an axum identity provider on loopback, its time split into
//! what the library's `HttpClient` takes (the round trip) and the rest (the pipeline), beside
//! a bare `reqwest` POST of the same request on the wire (the same form and headers), in
//! alternating rounds in one process.
//!
//! ```sh
//! cargo run --release -p msal-entra --example cold_breakdown -- --calls 2000 --rounds 15
//! ```
//!
//! Prints one JSON line per round (`--calls` of each, the library's first): `msal_us`,
//! `inside_http_client_us`, `outside_us`, `bare_with_msal_headers_us` and `ratio` (the
//! library's time over the bare request's); then a `summary` line with the medians over the
//! rounds. Short rounds and the median keep a shared host's slow and fast spells (which last
//! seconds) from landing on one side only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::routing::{get, post};
use msal::ConfidentialClientApplication;
use msal::http::{
    BoxFuture, HttpClient, HttpRequest, HttpResponse, ReqwestHttpClient, TransportError,
};
use serde_json::json;

#[path = "../benches/support/bare_post.rs"]
mod bare_post;

const SCOPE: &str = "api://bench/.default";
const TOKEN: &str = r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly9iZW5jaCJ9.c2lnbmF0dXJl"}"#;

/// The library's default client, with the time spent in it added up.
#[derive(Debug)]
struct Timed {
    inner: ReqwestHttpClient,
    nanos: AtomicU64,
}

impl HttpClient for Timed {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let started = Instant::now();
            let answer = self.inner.execute(req).await;
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.nanos.fetch_add(nanos, Ordering::Relaxed);
            answer
        })
    }
}

/// Starts the identity provider on an ephemeral loopback port; returns its base URL.
async fn start_idp() -> Result<String, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let doc = json!({
        "issuer": format!("{base}/tenant0/v2.0"),
        "authorization_endpoint": format!("{base}/tenant0/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/tenant0/oauth2/v2.0/token"),
    });
    let app = Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(move || async move { axum::Json(doc) }),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(|| async { ([("content-type", "application/json")], TOKEN) }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(base)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let calls = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(2_000)
        .max(1);
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(15)
        .max(1);
    // As `cargo bench --bench cold`: the server on one worker, the caller on the main thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let base = start_idp().await?;
        let timed = Arc::new(Timed {
            inner: ReqwestHttpClient::new()?,
            nanos: AtomicU64::new(0),
        });
        let app = ConfidentialClientApplication::builder("bench-client")
            .authority(format!("{base}/tenant0"))
            .allow_insecure_loopback(true)
            .instance_discovery(false)
            .client_secret("bench-secret")
            .http_client(timed.clone())
            .build()?;
        // The metadata, fetched once, as in a running service.
        app.acquire_token_for_client([SCOPE]).send().await?;
        let bare = reqwest::Client::new();
        let endpoint = format!("{base}/tenant0/oauth2/v2.0/token");
        let per_call = |started: Instant| started.elapsed().as_nanos() as f64 / calls as f64 / 1e3;
        let mut seen: Vec<[f64; 4]> = Vec::with_capacity(rounds);
        for round in 0..rounds {
            timed.nanos.store(0, Ordering::Relaxed);
            let started = Instant::now();
            for _ in 0..calls {
                app.acquire_token_for_client([SCOPE])
                    .force_refresh(true)
                    .send()
                    .await?;
            }
            let msal = per_call(started);
            let inside = timed.nanos.load(Ordering::Relaxed) as f64 / calls as f64 / 1e3;
            let started = Instant::now();
            for _ in 0..calls {
                bare_post::post_with_msal_headers(&bare, &endpoint, SCOPE).await?;
            }
            let bare_us = per_call(started);
            let ratio = msal / bare_us;
            seen.push([msal, msal - inside, bare_us, ratio]);
            println!(
                "{}",
                json!({
                    "round": round,
                    "msal_us": msal,
                    "inside_http_client_us": inside,
                    "outside_us": msal - inside,
                    "bare_with_msal_headers_us": bare_us,
                    "ratio": ratio,
                })
            );
        }
        let median = |i: usize| {
            let mut v: Vec<f64> = seen.iter().map(|r| r[i]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{}",
            json!({
                "summary": { "rounds": rounds, "calls_per_round": calls },
                "median_msal_us": median(0),
                "median_outside_us": median(1),
                "median_bare_with_msal_headers_us": median(2),
                "median_ratio": median(3),
            })
        );
        Ok(())
    })
}
