//! The real msal-node (`@azure/msal-node` from npm, pinned by `tests/node/package-lock.json`,
//! installed into target/node-msal by `scripts/node-deps`) against the emulator, for every flow
//! it supports: client credentials, ROPC, silent and refresh, device code, auth code through
//! the sign-in pages (web app and desktop loopback), and each UI-required fault preset as
//! msal-node classifies it. Node.js 20+ and npm are required; without them these tests fail.
//!
//! msal-node reaches the emulator as an application would: the tenant authority with its host
//! in `knownAuthorities`, and the emulator's CA in `NODE_EXTRA_CA_CERTS`.

mod interop;

use std::sync::OnceLock;

use interop::{Results, Session, UI_REQUIRED_PRESETS, claims};
use msal_emulator::defaults as d;
use serde_json::Value;

const DRIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/flows.cjs");

/// The node_modules directory that has msal-node.
fn node_modules() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| interop::install("scripts/node-deps", "msal-node (Node.js and npm)"))
}

/// Runs one group of flows in one node process.
async fn run(group: &str) -> (Session, Results) {
    let modules = node_modules();
    let s = Session::start().await;
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(DRIVER)
        .arg(group)
        .env("NODE_PATH", modules)
        .env("NODE_EXTRA_CA_CERTS", &s.ca)
        // Loopback traffic must not go through a proxy of the environment.
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
    let r = s.drive(cmd, &format!("msal-node flows.cjs {group}")).await;
    (s, r)
}

fn get<'a>(r: &'a Results, name: &str) -> &'a Value {
    r.get(name)
        .unwrap_or_else(|| panic!("msal-node reported no {name}: {r:?}"))
}

/// A user token answer of msal-node for the default user, fetched (not from the cache).
fn assert_user_token(v: &Value, s: &Session) {
    assert_eq!(v["from_cache"], false, "{v}");
    assert_eq!(v["token_type"], "Bearer", "{v}");
    assert_eq!(v["username"], d::USER_USERNAME, "{v}");
    assert_eq!(
        v["id_token_iss"],
        format!("{}/v2.0", s.emu.authority(d::TENANT_ID)),
        "{v}"
    );
    let c = claims(&v["access_token"]);
    assert_eq!(c["preferred_username"], d::USER_USERNAME);
    assert_eq!(c["scp"], "User.Read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_node_client_credentials_then_from_cache() {
    let (s, r) = run("app").await;
    let cc = get(&r, "client_credentials");
    assert_eq!(cc["first"]["from_cache"], false, "{cc}");
    assert_eq!(cc["second"]["from_cache"], true, "{cc}");
    assert_eq!(cc["first"]["access_token"], cc["second"]["access_token"]);
    let c = claims(&cc["first"]["access_token"]);
    assert_eq!(c["appid"], d::CONFIDENTIAL_CLIENT_ID);
    assert_eq!(c["aud"], d::GRAPH_RESOURCE);
    let token_requests = s
        .emu
        .requests()
        .iter()
        .filter(|q| q.path.ends_with("/oauth2/v2.0/token"))
        .count();
    assert_eq!(
        token_requests, 1,
        "the second call is served from msal-node's cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_node_ropc_silent_refresh_and_device_code() {
    let (s, r) = run("user").await;
    let ropc = get(&r, "ropc");
    assert_user_token(ropc, &s);

    let silent = get(&r, "silent");
    assert_eq!(silent["from_cache"], true, "{silent}");
    assert_eq!(silent["access_token"], ropc["access_token"]);

    let refresh = get(&r, "refresh");
    assert_user_token(refresh, &s);
    assert_ne!(refresh["access_token"], ropc["access_token"]);

    // msal-node sends `grant_type=device_code`, which Entra (and the emulator) accepts.
    let dc = get(&r, "device_code");
    assert_user_token(dc, &s);
    assert_eq!(
        dc["device_code"]["verification_uri"],
        format!("{}devicelogin", s.emu.base_url())
    );
    let grants: Vec<String> = s
        .emu
        .requests()
        .iter()
        .filter_map(|q| q.form_value("grant_type").map(str::to_string))
        .collect();
    assert!(grants.contains(&"device_code".to_string()), "{grants:?}");
    assert!(grants.contains(&"password".to_string()), "{grants:?}");
    assert!(grants.contains(&"refresh_token".to_string()), "{grants:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_node_auth_code_through_the_sign_in_pages() {
    let (s, r) = run("interactive").await;
    let web = get(&r, "auth_code");
    assert_user_token(web, &s);
    assert_eq!(web["state"], "node-state");

    let desktop = get(&r, "interactive");
    assert_user_token(desktop, &s);
    let redirect = desktop["redirect_uri"].as_str().unwrap();
    assert!(redirect.starts_with("http://localhost:"), "{redirect}");
}

/// Each UI-required preset, on a silent refresh, as msal-node classifies it:
/// `InteractionRequiredAuthError` with the server's `error` as `errorCode` and its `suberror`
/// as `subError`; msal-node does not count `protection_policy_required` (Intune app protection,
/// AADSTS53005) as interaction required, so that one stays a `ServerError`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_node_classifies_every_ui_required_preset() {
    let (_s, r) = run("ui").await;
    let expected = [
        (
            "consent_required",
            "invalid_grant",
            "consent_required",
            true,
        ),
        ("mfa_required", "interaction_required", "basic_action", true),
        (
            "mfa_enrollment_required",
            "interaction_required",
            "basic_action",
            true,
        ),
        (
            "password_expired",
            "invalid_grant",
            "user_password_expired",
            true,
        ),
        (
            "conditional_access_blocked",
            "invalid_grant",
            "message_only",
            true,
        ),
        (
            "protection_policy_required",
            "invalid_grant",
            "protection_policy_required",
            false,
        ),
        (
            "claims_challenge",
            "interaction_required",
            "additional_action",
            true,
        ),
    ];
    assert_eq!(expected.len(), UI_REQUIRED_PRESETS.len());
    for (preset, error, sub, ui) in expected {
        let v = get(&r, &format!("ui:{preset}"));
        assert_eq!(v["interaction_required"], ui, "{preset}: {v}");
        let name = if ui {
            "InteractionRequiredAuthError"
        } else {
            "ServerError"
        };
        assert_eq!(v["name"], name, "{preset}: {v}");
        assert_eq!(v["error_code"], error, "{preset}: {v}");
        assert_eq!(v["sub_error"], sub, "{preset}: {v}");
    }
    let cae = get(&r, "ui:claims_challenge");
    assert_eq!(
        cae["claims"],
        msal_emulator::CLAIMS_CHALLENGE_JSON,
        "the claims challenge reaches the app: {cae}"
    );
}
