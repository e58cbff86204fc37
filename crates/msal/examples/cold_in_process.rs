//! The CPU cost of a cold acquisition without the network: `acquire_token_for_client` with
//! `force_refresh`, answered by an in-process [`HttpClient`](msal::http::HttpClient) (the
//! library's HTTP seam), so every call builds the token request, throttles and shares it,
//! parses and checks the answer and writes the cache, but no byte crosses a socket. Beside
//! `cargo bench --bench cold` (the same over loopback), it tells the pipeline's own cost from
//! the round trip's.
//!
//! ```sh
//! cargo run --release -p msal-entra --example cold_in_process -- --calls 20000
//! ```
//!
//! Prints one JSON line: `{"ns_per_call": ..., "calls": N}`.

use std::sync::Arc;
use std::time::Instant;

use msal::{ConfidentialClientApplication, TokenSource};
use serde_json::json;

#[path = "../benches/support/in_process_idp.rs"]
mod in_process_idp;
use in_process_idp::InProcessIdp;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let calls = args
        .iter()
        .position(|a| a == "--calls")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20_000)
        .max(1);
    let app = ConfidentialClientApplication::builder("bench-client")
        .authority("https://login.microsoftonline.com/tenant0")
        .client_secret("bench-secret")
        .http_client(Arc::new(InProcessIdp))
        .build()?;
    // The authority's metadata is fetched once, before timing, as in a running service.
    app.acquire_token_for_client(["api://resource0/.default"])
        .send()
        .await?;
    let start = Instant::now();
    for _ in 0..calls {
        let r = app
            .acquire_token_for_client(["api://resource0/.default"])
            .force_refresh(true)
            .send()
            .await?;
        if r.source != TokenSource::IdentityProvider {
            return Err("a call was not sent to the identity provider".into());
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / calls as f64;
    println!("{}", json!({ "ns_per_call": ns, "calls": calls }));
    Ok(())
}
