//! The `msal` command against the emulator: flags, JSON and exit codes exactly as CONTRACT.md.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use msal_emulator::defaults as d;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultAction, FaultRule, RetryAfter};
use serde_json::Value;

fn msal() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_msal"));
    c.env_remove("RUST_LOG");
    c
}

fn common_args<'a>(cmd: &'a mut Command, authority: &str, client_id: &str) -> &'a mut Command {
    cmd.args([
        "--authority",
        authority,
        "--client-id",
        client_id,
        "--insecure-loopback",
        "--output",
        "json",
    ])
}

/// Runs and parses stdout, which must be exactly one JSON object.
fn run(cmd: &mut Command) -> (i32, Value, String) {
    let out: Output = cmd.stdin(Stdio::null()).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let code = out.status.code().unwrap();
    if code == 2 {
        return (code, Value::Null, stderr);
    }
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout:?} / {stderr}"));
    assert!(v.is_object());
    assert_eq!(stdout.trim().lines().count(), 1, "exactly one JSON object");
    (code, v, stderr)
}

async fn emulator() -> std::sync::Arc<EmulatorHandle> {
    std::sync::Arc::new(
        Emulator::start(EmulatorConfig::default_directory())
            .await
            .unwrap(),
    )
}

fn client_credentials(emu: &EmulatorHandle, cache: Option<&Path>) -> Command {
    let mut c = msal();
    c.args(["token", "client-credentials"]);
    common_args(
        &mut c,
        &emu.authority(d::TENANT_ID),
        d::CONFIDENTIAL_CLIENT_ID,
    );
    c.args([
        "--client-secret-env",
        "MSAL_TEST_SECRET",
        "--scope",
        d::API_SCOPE_DEFAULT,
    ]);
    c.env("MSAL_TEST_SECRET", d::CLIENT_SECRET);
    if let Some(p) = cache {
        c.arg("--cache").arg(p);
    }
    c
}

fn assert_error_shape(v: &Value) {
    let e = &v["error"];
    for k in [
        "kind",
        "code",
        "suberror",
        "classification",
        "aadsts_codes",
        "message",
        "claims",
        "correlation_id",
        "trace_id",
        "http_status",
        "retry_after_seconds",
        "throttled",
        "granted_scopes",
        "declined_scopes",
    ] {
        assert!(e.get(k).is_some(), "error.{k} is present: {v}");
    }
    assert_eq!(
        e["classification"].is_null(),
        e["kind"] != "ui_required",
        "classification is set exactly when kind is ui_required: {v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_success_then_cache() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.json");
    let (code, v, _) = run(&mut client_credentials(&emu, Some(&cache)));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["source"], "identity_provider");
    assert_eq!(v["scopes"], serde_json::json!([d::API_SCOPE_DEFAULT]));
    assert_eq!(v["tenant_id"], d::TENANT_ID);
    assert!(v["account"].is_null());
    assert!(v["expires_on"].as_i64().unwrap() > time::OffsetDateTime::now_utc().unix_timestamp());
    assert!(uuid::Uuid::parse_str(v["correlation_id"].as_str().unwrap()).is_ok());
    let token = v["access_token"].as_str().unwrap().to_owned();

    let (code, v, _) = run(&mut client_credentials(&emu, Some(&cache)));
    assert_eq!(code, 0);
    assert_eq!(
        v["source"], "cache",
        "the second process reads the cache file"
    );
    assert_eq!(v["access_token"], token.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn service_client_and_transport_errors_have_their_exit_codes() {
    let emu = emulator().await;
    let (code, v, _) = run(client_credentials(&emu, None).env("MSAL_TEST_SECRET", "wrong"));
    assert_eq!(code, 4, "{v}");
    assert_error_shape(&v);
    assert_eq!(v["error"]["kind"], "service");
    assert_eq!(v["error"]["code"], "invalid_client");
    assert_eq!(v["error"]["aadsts_codes"], serde_json::json!([7000215]));
    assert_eq!(v["error"]["http_status"], 401);
    assert!(v["error"]["trace_id"].is_string());
    assert!(
        !v.to_string().contains("wrong"),
        "the secret is never printed"
    );

    let (code, v, _) = run(client_credentials(&emu, None).env_remove("MSAL_TEST_SECRET"));
    assert_eq!(code, 6);
    assert_error_shape(&v);
    assert_eq!(v["error"]["kind"], "client");
    assert_eq!(v["error"]["code"], "missing_client_credential");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = msal();
    c.args(["token", "client-credentials"]);
    common_args(&mut c, &format!("http://127.0.0.1:{port}/t"), "c");
    c.args([
        "--client-secret-env",
        "MSAL_TEST_SECRET",
        "--scope",
        "x/.default",
    ])
    .env("MSAL_TEST_SECRET", "s");
    let (code, v, _) = run(&mut c);
    assert_eq!(code, 5);
    assert_eq!(v["error"]["kind"], "transport");
    assert_eq!(v["error"]["code"], "network_error");

    let mut c = msal();
    c.args(["token", "client-credentials"]);
    common_args(&mut c, "http://login.example.com/t", "c");
    c.args(["--client-secret-env", "MSAL_TEST_SECRET", "--scope", "x"])
        .env("MSAL_TEST_SECRET", "s");
    let (code, v, _) = run(&mut c);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (6, Some("insecure_authority"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_reported_with_retry_after() {
    let emu = emulator().await;
    emu.add_fault(FaultRule {
        grant_type: Some("client_credentials".into()),
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(RetryAfter::Seconds(7)),
            body: None,
        },
        times: Some(1),
        ..Default::default()
    });
    let (code, v, _) = run(&mut client_credentials(&emu, None));
    assert_eq!(code, 4);
    assert_error_shape(&v);
    assert_eq!(v["error"]["http_status"], 429);
    assert_eq!(v["error"]["retry_after_seconds"], 7);
    assert_eq!(v["error"]["throttled"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_flow_flags_and_usage_errors() {
    let emu = emulator().await;
    let mut c = msal();
    c.args(["token", "on-behalf-of"]);
    common_args(
        &mut c,
        &emu.authority(d::TENANT_ID),
        d::CONFIDENTIAL_CLIENT_ID,
    );
    c.args(["--scope", "User.Read"]);
    let (code, v, _) = run(&mut c);
    assert_eq!(code, 6);
    assert_eq!(v["error"]["kind"], "client");
    assert_eq!(v["error"]["code"], "invalid_argument");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--assertion-env")
    );
    let (code, _, stderr) = run(msal().args(["token", "client-credentials", "--scope", "x"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = run(msal().args(["token", "no-such-flow"]));
    assert_eq!(code, 2);
}

/// Runs `msal token device-code`, approving the code the CLI prints on stderr.
fn device_code_sign_in(emu: &EmulatorHandle, cache: &Path) -> (i32, Value) {
    let mut c = msal();
    c.args(["token", "device-code"]);
    common_args(&mut c, &emu.authority(d::TENANT_ID), d::PUBLIC_CLIENT_ID);
    c.args(["--scope", d::GRAPH_USER_READ, "--cache"])
        .arg(cache);
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let code = line
        .split_whitespace()
        .find(|w| {
            w.len() >= 6
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no user code in {line:?}"));
    emu.approve_device_code(code, d::USER_USERNAME).unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code().unwrap(), v)
}

fn user_cmd(emu: &EmulatorHandle, args: &[&str], cache: &Path) -> Command {
    let mut c = msal();
    c.args(args);
    common_args(&mut c, &emu.authority(d::TENANT_ID), d::PUBLIC_CLIENT_ID);
    c.arg("--cache").arg(cache);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_silent_and_accounts_share_the_cache_file() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("user-cache.json");
    let emu2 = emu.clone();
    let cache2 = cache.clone();
    let (code, v) = tokio::task::spawn_blocking(move || device_code_sign_in(&emu2, &cache2))
        .await
        .unwrap();
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["source"], "identity_provider");
    assert_eq!(v["account"]["username"], d::USER_USERNAME);
    let home = v["account"]["home_account_id"].as_str().unwrap().to_owned();

    let (code, v, _) = run(&mut user_cmd(&emu, &["accounts", "list"], &cache));
    assert_eq!(code, 0);
    assert_eq!(v["accounts"][0]["home_account_id"], home.as_str());

    let (code, v, _) = run(&mut user_cmd(
        &emu,
        &["token", "silent", "--scope", d::GRAPH_USER_READ],
        &cache,
    ));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["source"], "cache");

    let (code, v, _) = run(&mut user_cmd(
        &emu,
        &[
            "token",
            "silent",
            "--force-refresh",
            "--account",
            d::USER_USERNAME,
            "--scope",
            d::GRAPH_USER_READ,
        ],
        &cache,
    ));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["source"], "identity_provider");

    emu.add_fault(FaultRule {
        grant_type: Some("refresh_token".into()),
        action: FaultAction::AadError {
            code: 65001,
            suberror: None,
            claims: None,
        },
        times: Some(1),
        ..Default::default()
    });
    let (code, v, _) = run(&mut user_cmd(
        &emu,
        &["token", "silent", "--scope", d::GRAPH_MAIL_READ],
        &cache,
    ));
    assert_eq!(code, 3, "{v}");
    assert_error_shape(&v);
    assert_eq!(v["error"]["kind"], "ui_required");
    assert_eq!(v["error"]["code"], "invalid_grant");
    assert_eq!(v["error"]["suberror"], "consent_required");
    assert_eq!(v["error"]["classification"], "consent_required");
    assert_eq!(v["error"]["aadsts_codes"], serde_json::json!([65001]));

    let (code, v, _) = run(&mut user_cmd(
        &emu,
        &["accounts", "remove", "--account", &home],
        &cache,
    ));
    assert_eq!(code, 0, "{v}");
    let (code, v, _) = run(&mut user_cmd(
        &emu,
        &["token", "silent", "--scope", d::GRAPH_USER_READ],
        &cache,
    ));
    assert_eq!(code, 3);
    assert_eq!(v["error"]["classification"], "acquire_token_silent_failed");
}

#[test]
fn decode_prints_header_and_claims_unvalidated() {
    let out = msal()
        .args(["decode", "eyJhbGciOiJub25lIn0.eyJ0aWQiOiJ0MSJ9."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["validated"], false);
    assert_eq!(v["claims"]["tid"], "t1");
    let out = msal().args(["decode", "garbage"]).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
}

/// `--extra-query-parameter KEY=VALUE` (repeatable) goes on the query of the token endpoint,
/// exactly as given and in order, never in the form; a parameter the library sets itself is
/// a client error (exit 6) before anything is sent; managed-identity refuses it (usage, 2).
#[tokio::test(flavor = "multi_thread")]
async fn extra_query_parameters_reach_the_token_endpoints_query() {
    let emu = emulator().await;
    let mut cmd = client_credentials(&emu, None);
    cmd.args([
        "--extra-query-parameter",
        "dc=ESTS-PUB-WUS2-AZ1-FD000-TEST1",
        "--extra-query-parameter",
        "slice=testslice",
    ]);
    let (code, v, _) = run(&mut cmd);
    assert_eq!(code, 0, "{v}");
    let token: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
        .collect();
    assert_eq!(token.len(), 1);
    assert_eq!(
        token[0].query.as_deref(),
        Some("dc=ESTS-PUB-WUS2-AZ1-FD000-TEST1&slice=testslice")
    );
    assert!(token[0].form.iter().all(|(k, _)| k != "dc" && k != "slice"));

    emu.clear_requests();
    let mut cmd = client_credentials(&emu, None);
    cmd.args(["--extra-query-parameter", "client_id=other"]);
    let (code, v, _) = run(&mut cmd);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["error"]["code"], "invalid_argument");
    assert!(emu.requests().is_empty(), "nothing was sent");

    let mut cmd = msal();
    cmd.args([
        "token",
        "managed-identity",
        "--scope",
        "https://management.azure.com/.default",
        "--extra-query-parameter",
        "dc=x",
    ]);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 2, "{stderr}");
    let mut cmd = client_credentials(&emu, None);
    cmd.args(["--extra-query-parameter", "no-equals-sign"]);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 2, "{stderr}");
}

/// `--region REGION|auto` on client-credentials: the region is used (`auto` reads REGION_NAME
/// from the environment), a region that is not a DNS label is a client error (exit 6) before
/// anything is sent, and the other flows refuse the flag (usage, exit 2). The emulator's
/// authority is on 127.0.0.1, which has no regional host, so the token comes from the global
/// endpoint, as the verbose log says (the library's wire tests cover the regional host).
#[tokio::test(flavor = "multi_thread")]
async fn region_is_taken_by_client_credentials_only() {
    let emu = emulator().await;
    let mut cmd = client_credentials(&emu, None);
    cmd.args(["--region", "auto", "--verbose"])
        .env("REGION_NAME", " West US 2");
    let (code, v, stderr) = run(&mut cmd);
    assert_eq!(code, 0, "{v} {stderr}");
    assert!(
        stderr.contains("Azure region detected from REGION_NAME"),
        "{stderr}"
    );
    assert!(stderr.contains("westus2"), "{stderr}");
    assert!(stderr.contains("no regional host"), "{stderr}");
    assert!(!stderr.contains(d::CLIENT_SECRET), "no secret in the log");

    emu.clear_requests();
    let mut cmd = client_credentials(&emu, None);
    cmd.args(["--region", "westus2.evil.example"]);
    let (code, v, _) = run(&mut cmd);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["error"]["code"], "invalid_region");
    assert!(emu.requests().is_empty(), "nothing was sent");

    let mut cmd = msal();
    cmd.args([
        "token",
        "device-code",
        "--scope",
        "User.Read",
        "--region",
        "westus2",
    ]);
    common_args(&mut cmd, &emu.authority(d::TENANT_ID), d::PUBLIC_CLIENT_ID);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--region is only for the client-credentials flow"),
        "{stderr}"
    );
    let mut cmd = msal();
    cmd.args([
        "token",
        "managed-identity",
        "--scope",
        "https://management.azure.com/.default",
        "--region",
        "auto",
    ]);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 2, "{stderr}");
}

/// `accounts remove` reads and writes the cache only: it needs no credential, so it signs a
/// user out of a confidential client (a web app) by its client id as well.
#[tokio::test(flavor = "multi_thread")]
async fn accounts_remove_signs_a_user_out_of_a_confidential_clients_cache() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("web-app-cache.json");
    let web_app = msal::ConfidentialClientApplication::builder(d::CONFIDENTIAL_CLIENT_ID)
        .authority(emu.authority(d::TENANT_ID))
        .allow_insecure_loopback(true)
        .client_secret(d::CLIENT_SECRET)
        .token_cache(msal::TokenCache::with_persistence(std::sync::Arc::new(
            msal::cache::FileCachePersistence::new(&cache),
        )))
        .build()
        .unwrap();
    let r = web_app
        .acquire_token_by_username_password(["User.Read"], d::USER_USERNAME, d::USER_PASSWORD)
        .send()
        .await
        .unwrap();
    let home = r.account.unwrap().home_account_id;
    let cmd = |args: &[&str]| {
        let mut c = msal();
        c.args(args);
        common_args(
            &mut c,
            &emu.authority(d::TENANT_ID),
            d::CONFIDENTIAL_CLIENT_ID,
        );
        c.arg("--cache").arg(&cache);
        c
    };
    let (code, v, _) = run(&mut cmd(&["accounts", "list"]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["accounts"][0]["home_account_id"], home.as_str());
    let (code, v, _) = run(&mut cmd(&[
        "accounts",
        "remove",
        "--account",
        d::USER_USERNAME,
    ]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["removed"], true);
    let (code, v, _) = run(&mut cmd(&["accounts", "list"]));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["accounts"], serde_json::json!([]));
}

/// `--tenant TENANT` sends the request to that tenant's endpoints instead of the authority's
/// (here the authority names the tenant by its domain, the option by its id), on a
/// confidential and a public client flow; a name that is not a tenant's is a client error
/// (exit 6) before anything is sent; managed-identity refuses the option (usage, 2).
#[tokio::test(flavor = "multi_thread")]
async fn tenant_sends_the_request_to_that_tenants_endpoints() {
    let emu = emulator().await;
    let token_paths = |emu: &EmulatorHandle| -> Vec<String> {
        emu.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
            .map(|r| r.path)
            .collect()
    };
    let mut cmd = msal();
    cmd.args(["token", "client-credentials"]);
    common_args(
        &mut cmd,
        &emu.authority(d::TENANT_DOMAIN),
        d::CONFIDENTIAL_CLIENT_ID,
    );
    cmd.args([
        "--client-secret-env",
        "MSAL_TEST_SECRET",
        "--scope",
        d::API_SCOPE_DEFAULT,
        "--tenant",
        d::TENANT_ID,
    ])
    .env("MSAL_TEST_SECRET", d::CLIENT_SECRET);
    let (code, v, _) = run(&mut cmd);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["tenant_id"], d::TENANT_ID);
    assert_eq!(
        token_paths(&emu),
        [format!("/{}/oauth2/v2.0/token", d::TENANT_ID)]
    );

    emu.clear_requests();
    let mut cmd = msal();
    cmd.args(["token", "username-password"]);
    common_args(
        &mut cmd,
        &emu.authority("organizations"),
        d::PUBLIC_CLIENT_ID,
    );
    cmd.args([
        "--scope",
        d::API_SCOPE,
        "--username",
        d::USER_USERNAME,
        "--password-env",
        "MSAL_TEST_PASSWORD",
        "--tenant",
        d::TENANT_DOMAIN,
    ])
    .env("MSAL_TEST_PASSWORD", d::USER_PASSWORD);
    let (code, v, _) = run(&mut cmd);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["tenant_id"], d::TENANT_ID);
    assert_eq!(
        token_paths(&emu),
        [format!("/{}/oauth2/v2.0/token", d::TENANT_DOMAIN)]
    );

    emu.clear_requests();
    let mut cmd = client_credentials(&emu, None);
    cmd.args(["--tenant", "a/b"]);
    let (code, v, _) = run(&mut cmd);
    assert_eq!(code, 6, "{v}");
    assert_eq!(v["error"]["code"], "invalid_authority");
    assert!(emu.requests().is_empty(), "nothing was sent");

    let mut cmd = msal();
    cmd.args([
        "token",
        "managed-identity",
        "--scope",
        "https://management.azure.com/.default",
        "--tenant",
        d::TENANT_ID,
    ]);
    let (code, _, stderr) = run(&mut cmd);
    assert_eq!(code, 2, "{stderr}");
}

/// `--pop-key PEM --pop-method M --pop-url URL` prints a signed HTTP request (token_type
/// `pop`), a fresh one from the cache too; `--ssh-public-key-jwk FILE --ssh-key-id ID` prints
/// an SSH certificate (token_type `ssh-cert`); username-password and on-behalf-of take them
/// too, managed-identity refuses them (exit 6), and
/// `--pop-key` without `--pop-url` is a usage error.
#[tokio::test(flavor = "multi_thread")]
async fn pop_and_ssh_certificate_options() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.json");
    let key = msal::PopKey::generate_es256().unwrap();
    let key_file = dir.path().join("pop.pem");
    std::fs::write(&key_file, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    let pop = || {
        let mut c = client_credentials(&emu, Some(&cache));
        c.arg("--pop-key").arg(&key_file);
        c.args([
            "--pop-method",
            "POST",
            "--pop-url",
            "https://api.contoso.test/orders",
        ]);
        c
    };
    let part = |jwt: &str, i: usize| -> Value {
        use base64::Engine;
        let seg = jwt.split('.').nth(i).unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(seg)
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    let (code, v, stderr) = run(&mut pop());
    assert_eq!(code, 0, "{v} {stderr}");
    assert_eq!(v["token_type"], "pop");
    assert_eq!(v["source"], "identity_provider");
    let shr = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(part(&shr, 0)["typ"], "pop");
    assert_eq!(part(&shr, 0)["kid"], key.key_id());
    let claims = part(&shr, 1);
    assert_eq!(claims["m"], "POST");
    assert_eq!(claims["u"], "api.contoso.test");
    assert_eq!(claims["p"], "/orders");
    let (code, again, _) = run(&mut pop());
    assert_eq!(code, 0);
    assert_eq!(again["source"], "cache");
    assert_eq!(
        part(again["access_token"].as_str().unwrap(), 1)["at"],
        claims["at"]
    );
    assert_ne!(again["access_token"], v["access_token"]);

    let jwk_file = dir.path().join("ssh.jwk");
    std::fs::write(
        &jwk_file,
        r#"{"kty":"RSA","n":"wO7xNmdbkbxgmkMqPvx0mJ1C4bi3XqlWQjsQjqX2MwE","e":"AQAB"}"#,
    )
    .unwrap();
    let mut c = client_credentials(&emu, Some(&cache));
    c.arg("--ssh-public-key-jwk").arg(&jwk_file);
    c.args(["--ssh-key-id", "key-1"]);
    let (code, v, stderr) = run(&mut c);
    assert_eq!(code, 0, "{v} {stderr}");
    assert_eq!(v["token_type"], "ssh-cert");
    assert!(
        v["access_token"]
            .as_str()
            .unwrap()
            .starts_with("ssh-rsa-cert-v01@openssh.com ")
    );
    // The cache file keeps them apart from bearer tokens, as MSAL writes them.
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let types: Vec<&str> = file["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["token_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 2, "{file}");
    assert!(types.contains(&"pop") && types.contains(&"ssh-cert"));

    // username-password and on-behalf-of take them too: the user's PoP token for the API,
    // then a bearer one, exchanged on behalf of the user for a PoP token to Graph.
    let username_password = || {
        let mut c = msal();
        c.args(["token", "username-password"]);
        common_args(&mut c, &emu.authority(d::TENANT_ID), d::PUBLIC_CLIENT_ID);
        c.args([
            "--scope",
            d::API_SCOPE,
            "--username",
            d::USER_USERNAME,
            "--password-env",
            "MSAL_TEST_PASSWORD",
        ])
        .env("MSAL_TEST_PASSWORD", d::USER_PASSWORD);
        c
    };
    let mut c = username_password();
    c.arg("--pop-key").arg(&key_file);
    c.args(["--pop-url", "https://api.contoso.test/me"]);
    let (code, v, stderr) = run(&mut c);
    assert_eq!(code, 0, "{v} {stderr}");
    assert_eq!(v["token_type"], "pop");
    let claims = part(v["access_token"].as_str().unwrap(), 1);
    assert_eq!(
        (claims["m"].as_str(), claims["p"].as_str()),
        (Some("GET"), Some("/me"))
    );
    assert_eq!(
        part(claims["at"].as_str().unwrap(), 1)["cnf"]["kid"],
        key.key_id()
    );
    let (code, user, stderr) = run(&mut username_password());
    assert_eq!(code, 0, "{user} {stderr}");
    assert_eq!(user["token_type"], "Bearer");
    let mut c = msal();
    c.args(["token", "on-behalf-of"]);
    common_args(
        &mut c,
        &emu.authority(d::TENANT_ID),
        d::CONFIDENTIAL_CLIENT_ID,
    );
    c.args([
        "--client-secret-env",
        "MSAL_TEST_SECRET",
        "--assertion-env",
        "MSAL_TEST_ASSERTION",
        "--scope",
        "User.Read",
        "--pop-method",
        "PATCH",
        "--pop-url",
        "https://graph.contoso.test/v1.0/me",
    ])
    .env("MSAL_TEST_SECRET", d::CLIENT_SECRET)
    .env(
        "MSAL_TEST_ASSERTION",
        user["access_token"].as_str().unwrap(),
    );
    c.arg("--pop-key").arg(&key_file);
    let (code, v, stderr) = run(&mut c);
    assert_eq!(code, 0, "{v} {stderr}");
    assert_eq!(v["token_type"], "pop");
    assert_eq!(
        part(v["access_token"].as_str().unwrap(), 0)["kid"],
        key.key_id()
    );
    let claims = part(v["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["m"], "PATCH");
    assert_eq!(claims["u"], "graph.contoso.test");
    assert_eq!(claims["p"], "/v1.0/me");
    assert_eq!(
        part(claims["at"].as_str().unwrap(), 1)["cnf"]["kid"],
        key.key_id()
    );
    let obo = emu
        .requests()
        .into_iter()
        .filter(|r| r.form_value("requested_token_use") == Some("on_behalf_of"))
        .collect::<Vec<_>>();
    assert_eq!(obo.len(), 1);
    assert_eq!(obo[0].form_value("token_type"), Some("pop"));

    // Managed identity endpoints issue bearer tokens only: refused before anything is sent.
    let mut c = msal();
    c.args([
        "token",
        "managed-identity",
        "--output",
        "json",
        "--scope",
        "https://management.azure.com/.default",
        "--pop-url",
        "https://x.test/",
    ]);
    c.arg("--pop-key").arg(&key_file);
    let (code, v, _) = run(&mut c);
    assert_eq!(
        (code, v["error"]["code"].as_str()),
        (6, Some("invalid_argument"))
    );

    let mut c = client_credentials(&emu, None);
    c.arg("--pop-key").arg(&key_file);
    let (code, _, _) = run(&mut c);
    assert_eq!(code, 2);
}
