//! `msal token managed-identity` against the emulator, exactly as CONTRACT.md describes it: no
//! authority, the source detected from the environment, one scope, at most one user-assigned
//! selector, `account: null`, and the exit codes of every flow.

use std::process::{Command, Stdio};

use msal_emulator::defaults as d;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::Value;

const SCOPE: &str = "https://vault.azure.net/.default";
/// Every variable the detection reads: the test's environment must not leak into the child.
const SOURCE_VARS: [&str; 7] = [
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
];

fn msal(env: &[(&str, String)], args: &[&str]) -> (i32, Value) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_msal"));
    c.env_remove("RUST_LOG");
    for v in SOURCE_VARS {
        c.env_remove(v);
    }
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c.args(["token", "managed-identity", "--output", "json"])
        .args(args);
    let out = c.stdin(Stdio::null()).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let code = out.status.code().unwrap();
    let v = if code == 2 {
        Value::Null
    } else {
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
    };
    (code, v)
}

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap()
}

fn imds(emu: &EmulatorHandle) -> Vec<(&'static str, String)> {
    vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", emu.base_url_no_slash())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imds_and_app_service_tokens_with_account_null() {
    let emu = emulator().await;
    let app_service = vec![
        ("IDENTITY_ENDPOINT", emu.app_service_endpoint()),
        ("IDENTITY_HEADER", emu.identity_header()),
    ];
    for (env, path) in [
        (imds(&emu), "/metadata/identity/oauth2/token"),
        (app_service, "/msi/app-service/token"),
    ] {
        let (code, v) = msal(&env, &["--scope", SCOPE]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["source"], "identity_provider");
        assert_eq!(v["scopes"], serde_json::json!([SCOPE]));
        assert!(v["account"].is_null());
        assert!(
            v["expires_on"].as_i64().unwrap() > time::OffsetDateTime::now_utc().unix_timestamp()
        );
        assert!(!v["access_token"].as_str().unwrap().is_empty());
        let log = emu.requests();
        let r = log.iter().rev().find(|r| r.path == path).unwrap();
        assert_eq!(r.method, "GET");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_selector_and_a_persistent_cache() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.json");
    let cache = cache.to_str().unwrap();
    for (flag, value) in [
        ("--client-id", d::USER_ASSIGNED_CLIENT_ID),
        ("--object-id", d::USER_ASSIGNED_OBJECT_ID),
        ("--resource-id", d::USER_ASSIGNED_RESOURCE_ID),
    ] {
        let (code, v) = msal(
            &imds(&emu),
            &["--scope", SCOPE, flag, value, "--cache", cache],
        );
        assert_eq!(code, 0, "{flag}: {v}");
        let log = emu.requests();
        let r = log
            .iter()
            .rev()
            .find(|r| r.path == "/metadata/identity/oauth2/token")
            .unwrap();
        let q = r.query.as_deref().unwrap_or_default();
        let name = match flag {
            "--client-id" => "client_id",
            "--object-id" => "object_id",
            _ => "msi_res_id",
        };
        let sent: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        assert!(
            sent.contains(&(name.to_owned(), value.to_owned())),
            "{flag}: {sent:?}"
        );
    }
    // The second process finds the token in the cache file.
    let before = emu.requests().len();
    let (code, v) = msal(
        &imds(&emu),
        &[
            "--scope",
            SCOPE,
            "--client-id",
            d::USER_ASSIGNED_CLIENT_ID,
            "--cache",
            cache,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(v["source"], "cache");
    assert_eq!(emu.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_keep_the_contracts_exit_codes() {
    let emu = emulator().await;
    // Unknown identity: the platform's 400, a service error (4).
    let (code, v) = msal(
        &imds(&emu),
        &[
            "--scope",
            SCOPE,
            "--client-id",
            "00000000-0000-0000-0000-00000000dead",
        ],
    );
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["error"]["kind"], "service");
    assert_eq!(v["error"]["http_status"], 400);
    // Two scopes: a client error (6), before any request.
    let before = emu.requests().len();
    let (code, v) = msal(&imds(&emu), &["--scope", "a/.default b/.default"]);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["error"]["code"], "invalid_argument");
    // Cloud Shell takes no user-assigned identity: a client error (6).
    let shell = vec![("MSI_ENDPOINT", emu.cloud_shell_endpoint())];
    let (code, v) = msal(
        &shell,
        &["--scope", SCOPE, "--object-id", d::USER_ASSIGNED_OBJECT_ID],
    );
    assert_eq!(code, 6, "{v}");
    assert_eq!(
        v["error"]["code"],
        "user_assigned_managed_identity_not_supported"
    );
    assert_eq!(emu.requests().len(), before);
    // Nothing listens: a transport error (5).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gone = vec![(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        format!("http://{closed}"),
    )];
    let (code, v) = msal(&gone, &["--scope", SCOPE, "--timeout", "2"]);
    assert_eq!(code, 5, "{v}");
    assert_eq!(v["error"]["kind"], "transport");
    // Usage: an authority, or two selectors (2).
    assert_eq!(
        msal(
            &imds(&emu),
            &[
                "--scope",
                SCOPE,
                "--authority",
                "https://login.microsoftonline.com/x"
            ]
        )
        .0,
        2
    );
    assert_eq!(
        msal(
            &imds(&emu),
            &["--scope", SCOPE, "--client-id", "a", "--object-id", "b"]
        )
        .0,
        2
    );
}
