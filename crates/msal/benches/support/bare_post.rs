//! The token request MSAL sends, sent with bare `reqwest`: the same form and the same headers
//! (its correlation id asked back, its identity, capabilities and telemetry, its user agent),
//! so the server parses as much as for the library's request. What the library adds to a cold
//! acquisition is measured against this (`benches/cold.rs`, `examples/cold_breakdown.rs`).

use serde_json::Value;

/// POSTs the client credentials form of `bench-client` for `scope` to `endpoint` with MSAL's
/// headers, and checks that the answer holds an access token.
pub async fn post_with_msal_headers(
    client: &reqwest::Client,
    endpoint: &str,
    scope: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let ver = env!("CARGO_PKG_VERSION");
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", "bench-client")
        .append_pair("scope", scope)
        .append_pair("client_secret", "bench-secret")
        .finish();
    let body = client
        .post(endpoint)
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .header("client-request-id", uuid::Uuid::new_v4().to_string())
        .header("return-client-request-id", "true")
        .header("x-client-sku", "msal.rust")
        .header("x-client-ver", ver)
        .header("x-client-os", std::env::consts::OS)
        .header("x-ms-lib-capability", "retry-after, h429")
        .header("x-client-current-telemetry", "4|730,1|")
        .header("x-client-last-telemetry", "4|0|||")
        .header("user-agent", concat!("msal-rs/", env!("CARGO_PKG_VERSION")))
        .body(form)
        .send()
        .await?
        .bytes()
        .await?;
    let v: Value = serde_json::from_slice(&body)?;
    if !v["access_token"].is_string() {
        return Err("the answer holds no access token".into());
    }
    Ok(())
}
