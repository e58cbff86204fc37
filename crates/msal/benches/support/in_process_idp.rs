//! An in-process identity provider behind the library's `HttpClient` seam: answers instance
//! discovery, metadata and token requests like Entra would, for any tenant, so benchmarks fill
//! the cache through the production code paths without a network.

use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, StatusCode, TransportError};
use serde_json::json;

/// Answers discovery and token requests like Entra would, for any tenant.
#[derive(Debug)]
pub struct InProcessIdp;

impl HttpClient for InProcessIdp {
    fn execute(&self, req: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let path = req.url.path().to_owned();
            let tenant = path.split('/').nth(1).unwrap_or("common").to_owned();
            let base = "https://login.microsoftonline.com";
            let body = if path.ends_with("/discovery/instance") {
                let auth = req
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "authorization_endpoint")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let t = auth
                    .trim_start_matches(base)
                    .split('/')
                    .nth(1)
                    .unwrap_or("common")
                    .to_owned();
                json!({
                    "tenant_discovery_endpoint": format!("{base}/{t}/v2.0/.well-known/openid-configuration"),
                    "api-version": "1.1",
                    "metadata": [{"preferred_network": "login.microsoftonline.com",
                                  "preferred_cache": "login.windows.net",
                                  "aliases": ["login.microsoftonline.com", "login.windows.net", "sts.windows.net"]}],
                })
            } else if path.ends_with("openid-configuration") {
                json!({
                    "issuer": format!("{base}/{tenant}/v2.0"),
                    "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
                    "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
                })
            } else {
                let scope = req
                    .form_fields()
                    .into_iter()
                    .find(|(k, _)| k == "scope")
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                       "access_token": format!("at-{tenant}-{scope}")})
            };
            Ok(HttpResponse::new(
                StatusCode::OK,
                Default::default(),
                body.to_string(),
            ))
        })
    }
}
