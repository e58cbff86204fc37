//! The metadata endpoints: OpenID Connect discovery, instance discovery, the signing keys
//! and home realm discovery.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use serde_json::json;

use crate::shared::Shared;
use crate::wire::{AadErr, Ctx, Incoming, Reply};

/// AADSTS90002: the tenant path segment names no tenant.
fn unknown_tenant(ctx: &Ctx, tenant: &str) -> Reply {
    AadErr::new(90002)
        .desc(format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ))
        .reply(ctx)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: the OpenID Connect metadata.
pub(crate) async fn discovery(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(tenant): Path<String>,
) -> Reply {
    let tenant = tenant.as_str();
    let (issuer, announce_iss) = {
        let st = shared.st();
        (
            st.issuer(&shared.base, tenant),
            st.options.authorization_response_iss,
        )
    };
    let Some(issuer) = issuer else {
        return unknown_tenant(&ctx, tenant);
    };
    let b = &shared.base;
    let mut doc = json!({
            "token_endpoint": format!("{b}{tenant}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{b}{tenant}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{b}api/me"),
            "authorization_endpoint": format!("{b}{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{b}{tenant}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{b}{tenant}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "password",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:jwt-bearer"
            ],
            "code_challenge_methods_supported": ["plain", "S256"],
            "kerberos_endpoint": format!("{b}{tenant}/kerberos"),
            "tenant_region_scope": "WW",
            "cloud_instance_name": shared.host(),
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
            "correlation_id": ctx.correlation_id,
    });
    if announce_iss {
        doc["authorization_response_iss_parameter_supported"] = json!(true);
    }
    Reply::json(200, &doc)
}

/// `GET /common/discovery/instance`: instance discovery, for the emulator's own host only.
pub(crate) async fn instance_discovery(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Extension(inc): Extension<Arc<Incoming>>,
) -> Reply {
    let host = shared.host();
    let aliases = shared.host_aliases();
    let endpoint = inc
        .q("authorization_endpoint")
        .and_then(|a| url::Url::parse(a).ok());
    if let Some(u) = &endpoint {
        // Both sides as `url::Url` writes them: a default port is left out.
        let authority_host = crate::shared::host_port(u);
        if !aliases
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&authority_host))
        {
            return AadErr::new(50049)
                .desc(format!(
                    "Unknown or invalid instance. The emulator only knows {}.",
                    aliases.join(" and ")
                ))
                .reply(&ctx);
        }
    }
    let tenant = endpoint
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next().map(str::to_string))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "common".to_string());
    Reply::json(
        200,
        &json!({
            "tenant_discovery_endpoint": format!("{}{}/v2.0/.well-known/openid-configuration", shared.base, tenant),
            "api-version": "1.1",
            "metadata": [{
                "preferred_network": host,
                "preferred_cache": host,
                "aliases": aliases,
            }],
            "correlation_id": ctx.correlation_id,
        }),
    )
}

/// `GET /common/userrealm/{username}?api-version=1.0`: home realm discovery. Every user of
/// the emulator is a cloud-only (managed) user; a domain that no tenant has is `Unknown`.
pub(crate) async fn user_realm(
    State(shared): State<Arc<Shared>>,
    Path((_tenant, username)): Path<(String, String)>,
) -> Reply {
    let username = username.as_str();
    let st = shared.st();
    let domain = username
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    let tenant = st
        .tenants
        .iter()
        .find(|t| t.domain.eq_ignore_ascii_case(domain))
        .cloned()
        .or_else(|| {
            st.user(username)
                .and_then(|u| st.home_tenant(u.tenant.as_deref()))
        });
    let account_type = if tenant.is_some() {
        "Managed"
    } else {
        "Unknown"
    };
    Reply::json(
        200,
        &json!({
            "ver": "1.0",
            "account_type": account_type,
            "domain_name": tenant.map(|t| t.domain).unwrap_or_else(|| domain.to_string()),
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }),
    )
}

/// `GET /{tenant}/discovery/v2.0/keys`: the signing key.
pub(crate) async fn keys(
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Ctx>,
    Path(tenant): Path<String>,
) -> Reply {
    let tenant = tenant.as_str();
    if shared.st().resolve_tenant(tenant).is_none() {
        return unknown_tenant(&ctx, tenant);
    }
    let mut jwk = shared.key.jwk.clone();
    jwk["issuer"] = json!(format!("{}{{tenantid}}/v2.0", shared.base));
    Reply::json(200, &json!({ "keys": [jwk] }))
}
