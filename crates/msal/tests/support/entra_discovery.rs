//! Entra's discovery answers for `https://login.microsoftonline.com/t`, for the in-process
//! `HttpClient`s of the hostile-input tests, which script only the endpoints under test.

use serde_json::json;

/// The body of a discovery answer (instance discovery, or the tenant's OpenID Connect
/// metadata) for a request to `path`; `None` for any other path.
pub fn answer(path: &str) -> Option<Vec<u8>> {
    let base = "https://login.microsoftonline.com/t";
    let v = if path.ends_with("/discovery/instance") {
        json!({
            "tenant_discovery_endpoint": format!("{base}/v2.0/.well-known/openid-configuration"),
            "metadata": [{"preferred_network": "login.microsoftonline.com",
                          "preferred_cache": "login.microsoftonline.com",
                          "aliases": ["login.microsoftonline.com"]}],
        })
    } else if path.ends_with("openid-configuration") {
        json!({
            "issuer": format!("{base}/v2.0"),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
        })
    } else {
        return None;
    };
    Some(v.to_string().into_bytes())
}
