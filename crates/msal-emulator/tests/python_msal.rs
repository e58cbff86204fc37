//! The real MSAL Python (`msal` from PyPI, pinned and installed into target/py-venv by
//! `scripts/python-venv`, or `$MSAL_PYTHON`) against the emulator, for every flow it
//! supports: client credentials, ROPC, silent and refresh, device code, auth code through the
//! sign-in pages, and each UI-required fault preset as MSAL Python reports it (`error`,
//! `suberror`, `classification`). Python 3 with venv and pip is required; without it these
//! tests fail.
//!
//! MSAL Python reaches the emulator as an application would: the tenant authority with
//! `instance_discovery=False`, and an HTTP client whose `verify` is the emulator's CA.

mod interop;

use std::path::PathBuf;
use std::sync::OnceLock;

use interop::{Results, Session, UI_REQUIRED_PRESETS, claims};
use msal_emulator::defaults as d;
use serde_json::Value;

const DRIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/flows.py");

/// The python that has MSAL Python.
fn python() -> &'static PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(
        || match std::env::var_os("MSAL_PYTHON").filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => interop::install("scripts/python-venv", "MSAL Python (python3 with venv)"),
        },
    )
}

/// Runs one group of flows in one python process.
async fn run(group: &str) -> (Session, Results) {
    let python = python();
    let s = Session::start().await;
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(DRIVER)
        .arg(group)
        .env("MSAL_FLOWS_CA", &s.ca)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let r = s.drive(cmd, &format!("MSAL Python flows.py {group}")).await;
    (s, r)
}

fn get<'a>(r: &'a Results, name: &str) -> &'a Value {
    r.get(name)
        .unwrap_or_else(|| panic!("MSAL Python reported no {name}: {r:?}"))
}

/// A user token answer of MSAL Python for the default user, from the emulator.
fn assert_user_token(v: &Value, s: &Session) {
    assert_eq!(v["error"], Value::Null, "{v}");
    assert_eq!(v["token_source"], "identity_provider", "{v}");
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
async fn msal_python_client_credentials_then_from_cache() {
    let (s, r) = run("app").await;
    let cc = get(&r, "client_credentials");
    assert_eq!(cc["first"]["token_source"], "identity_provider", "{cc}");
    assert_eq!(cc["second"]["token_source"], "cache", "{cc}");
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
        "the second call is served from MSAL Python's cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_python_ropc_silent_refresh_and_device_code() {
    let (s, r) = run("user").await;
    let ropc = get(&r, "ropc");
    assert_user_token(ropc, &s);

    let silent = get(&r, "silent");
    assert_eq!(silent["token_source"], "cache", "{silent}");
    assert_eq!(silent["access_token"], ropc["access_token"]);

    let refresh = get(&r, "refresh");
    assert_eq!(refresh["token_source"], "identity_provider", "{refresh}");
    assert_ne!(refresh["access_token"], ropc["access_token"]);
    assert_eq!(claims(&refresh["access_token"])["scp"], "User.Read");

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
    for g in [
        "password",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        assert!(grants.iter().any(|x| x == g), "{g} not in {grants:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_python_auth_code_through_the_sign_in_pages() {
    let (s, r) = run("interactive").await;
    let code = get(&r, "auth_code");
    assert_user_token(code, &s);
    assert_eq!(code["state_matches"], true, "{code}");
}

/// Each UI-required preset, on a forced silent refresh, as MSAL Python reports it: the
/// server's `error` and `suberror`, and its `classification`, which is the suberror except
/// for those MSAL Python suppresses (`protection_policy_required` among them: empty).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_python_classifies_every_ui_required_preset() {
    let (_s, r) = run("ui").await;
    let expected = [
        (
            "consent_required",
            "invalid_grant",
            "consent_required",
            "consent_required",
        ),
        (
            "mfa_required",
            "interaction_required",
            "basic_action",
            "basic_action",
        ),
        (
            "mfa_enrollment_required",
            "interaction_required",
            "basic_action",
            "basic_action",
        ),
        (
            "password_expired",
            "invalid_grant",
            "user_password_expired",
            "user_password_expired",
        ),
        (
            "conditional_access_blocked",
            "invalid_grant",
            "message_only",
            "message_only",
        ),
        (
            "protection_policy_required",
            "invalid_grant",
            "protection_policy_required",
            "",
        ),
        (
            "claims_challenge",
            "interaction_required",
            "additional_action",
            "additional_action",
        ),
    ];
    assert_eq!(expected.len(), UI_REQUIRED_PRESETS.len());
    for (preset, error, sub, classification) in expected {
        let v = get(&r, &format!("ui:{preset}"));
        assert_eq!(v["has_token"], false, "{preset}: {v}");
        assert_eq!(v["error"], error, "{preset}: {v}");
        assert_eq!(v["suberror"], sub, "{preset}: {v}");
        assert_eq!(v["classification"], classification, "{preset}: {v}");
    }
    let cae = get(&r, "ui:claims_challenge");
    assert_eq!(
        cae["claims"],
        msal_emulator::CLAIMS_CHALLENGE_JSON,
        "the claims challenge reaches the app: {cae}"
    );
}
