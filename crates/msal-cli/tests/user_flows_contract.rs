//! The `msal` command's contract (CONTRACT.md) for the user flows, against the emulator: the
//! JSON on stdout, the exit codes, secrets only from environment variables.

use std::process::Stdio;

use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, defaults};
use serde_json::Value;

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap()
}

/// Runs `msal` with these arguments and environment; the exit code, stdout and stderr.
async fn msal(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_msal"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("BROWSER")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The one JSON object of stdout.
fn one_object(stdout: &str) -> Value {
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let v: Value = serde_json::from_str(lines.next().expect("a JSON object")).unwrap();
    assert!(lines.next().is_none(), "exactly one JSON object: {stdout}");
    assert!(v.is_object());
    v
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const ERROR_KEYS: [&str; 14] = [
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
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_password_then_on_behalf_of() {
    let emu = emulator().await;
    let authority = emu.authority(defaults::TENANT_ID);
    let (code, out, err) = msal(
        &[
            "token",
            "username-password",
            "--authority",
            &authority,
            "--insecure-loopback",
            "--client-id",
            defaults::PUBLIC_CLIENT_ID,
            "--scope",
            defaults::API_SCOPE,
            "--username",
            defaults::USER_USERNAME,
            "--password-env",
            "MSAL_TEST_PASSWORD",
            "--output",
            "json",
        ],
        &[("MSAL_TEST_PASSWORD", defaults::USER_PASSWORD)],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains(defaults::USER_PASSWORD));
    let v = one_object(&out);
    assert_eq!(
        keys(&v),
        [
            "access_token",
            "token_type",
            "expires_on",
            "scopes",
            "source",
            "tenant_id",
            "correlation_id",
            "account"
        ]
    );
    assert_eq!(
        keys(&v["account"]),
        ["home_account_id", "username", "environment"]
    );
    assert_eq!(v["account"]["username"], defaults::USER_USERNAME);
    assert_eq!(v["source"], "identity_provider");
    assert!(v["expires_on"].as_i64().unwrap() > 1_700_000_000);
    let ropc = emu
        .requests()
        .into_iter()
        .find(|r| r.form_value("grant_type") == Some("password"))
        .unwrap();
    assert_eq!(ropc.form_value("username"), Some(defaults::USER_USERNAME));

    // The web API exchanges the user's token (read from the environment, never argv).
    let incoming = v["access_token"].as_str().unwrap().to_owned();
    let (code, out, err) = msal(
        &[
            "token",
            "on-behalf-of",
            "--authority",
            &authority,
            "--insecure-loopback",
            "--client-id",
            defaults::CONFIDENTIAL_CLIENT_ID,
            "--client-secret-env",
            "MSAL_TEST_SECRET",
            "--assertion-env",
            "MSAL_TEST_ASSERTION",
            "--scope",
            "User.Read",
            "--output",
            "json",
            "--verbose",
        ],
        &[
            ("MSAL_TEST_SECRET", defaults::CLIENT_SECRET),
            ("MSAL_TEST_ASSERTION", &incoming),
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !err.contains(&incoming),
        "the log never shows the assertion"
    );
    assert!(!err.contains(defaults::CLIENT_SECRET), "nor the secret");
    let v = one_object(&out);
    assert_eq!(v["account"]["username"], defaults::USER_USERNAME);
    let obo = emu
        .requests()
        .into_iter()
        .find(|r| r.form_value("requested_token_use") == Some("on_behalf_of"))
        .unwrap();
    assert_eq!(obo.status, 200);
    assert_eq!(
        obo.form_value("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert_eq!(obo.form_value("assertion"), Some(incoming.as_str()));
    assert_eq!(
        obo.form_value("client_secret"),
        Some(defaults::CLIENT_SECRET)
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_pii_shows_the_user_in_the_log_and_verbose_does_not() {
    let emu = emulator().await;
    let authority = emu.authority(defaults::TENANT_ID);
    let mut logs = Vec::new();
    for flag in ["--verbose", "--verbose-pii"] {
        let (code, out, err) = msal(
            &[
                "token",
                "username-password",
                "--authority",
                &authority,
                "--insecure-loopback",
                "--client-id",
                defaults::PUBLIC_CLIENT_ID,
                "--scope",
                defaults::API_SCOPE,
                "--username",
                defaults::USER_USERNAME,
                "--password-env",
                "MSAL_TEST_PASSWORD",
                "--output",
                "json",
                flag,
            ],
            &[("MSAL_TEST_PASSWORD", defaults::USER_PASSWORD)],
        )
        .await;
        assert_eq!(code, 0, "{out}{err}");
        let token = one_object(&out)["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            err.contains("username/password: requesting a token"),
            "{err}"
        );
        assert!(!err.contains(defaults::USER_PASSWORD), "{err}");
        assert!(!err.contains(&token), "{err}");
        logs.push(err);
    }
    assert!(!logs[0].contains(defaults::USER_USERNAME), "{}", logs[0]);
    assert!(!logs[0].contains(defaults::TENANT_ID), "{}", logs[0]);
    assert!(logs[0].contains("[pii:"), "{}", logs[0]);
    assert!(logs[1].contains(defaults::USER_USERNAME), "{}", logs[1]);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_print_the_error_object_and_exit_with_its_kind() {
    let emu = emulator().await;
    let authority = emu.authority(defaults::TENANT_ID);
    let ropc = |user: &'static str| {
        vec![
            "token".to_string(),
            "username-password".into(),
            "--authority".into(),
            authority.clone(),
            "--insecure-loopback".into(),
            "--client-id".into(),
            defaults::PUBLIC_CLIENT_ID.into(),
            "--scope".into(),
            "User.Read".into(),
            "--username".into(),
            user.into(),
            "--password-env".into(),
            "MSAL_TEST_PASSWORD".into(),
            "--output".into(),
            "json".into(),
        ]
    };
    let run = |args: Vec<String>, env: Vec<(&'static str, &'static str)>| async move {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        msal(&a, &env).await
    };

    // ui_required (3): MFA cannot be done with a password.
    let (code, out, _) = run(
        ropc(defaults::MFA_USER_USERNAME),
        vec![("MSAL_TEST_PASSWORD", defaults::USER_PASSWORD)],
    )
    .await;
    assert_eq!(code, 3, "{out}");
    let v = one_object(&out);
    assert_eq!(keys(&v), ["error"]);
    assert_eq!(keys(&v["error"]), ERROR_KEYS);
    assert_eq!(v["error"]["kind"], "ui_required");
    assert_eq!(v["error"]["code"], "interaction_required");
    assert_eq!(v["error"]["classification"], "basic_action");
    assert_eq!(v["error"]["http_status"], 400);
    assert!(v["error"]["correlation_id"].is_string());

    // client (6): the password's variable is not set; nothing is sent.
    let before = emu.requests().len();
    let (code, out, _) = run(ropc(defaults::USER_USERNAME), vec![]).await;
    assert_eq!(code, 6, "{out}");
    let v = one_object(&out);
    assert_eq!(v["error"]["kind"], "client");
    assert_eq!(v["error"]["classification"], Value::Null);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MSAL_TEST_PASSWORD")
    );
    assert_eq!(emu.requests().len(), before);

    // client (6): an interactive redirect URI that is not loopback.
    let (code, out, _) = msal(
        &[
            "token",
            "interactive",
            "--authority",
            &authority,
            "--insecure-loopback",
            "--client-id",
            defaults::PUBLIC_CLIENT_ID,
            "--scope",
            "User.Read",
            "--redirect-uri",
            "https://app.example.com/callback",
            "--output",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 6, "{out}");
    assert_eq!(one_object(&out)["error"]["code"], "invalid_redirect_uri");

    // service (4): a wrong client secret.
    let (code, out, _) = msal(
        &[
            "token",
            "on-behalf-of",
            "--authority",
            &authority,
            "--insecure-loopback",
            "--client-id",
            defaults::CONFIDENTIAL_CLIENT_ID,
            "--client-secret-env",
            "MSAL_TEST_SECRET",
            "--assertion-env",
            "MSAL_TEST_ASSERTION",
            "--scope",
            "User.Read",
            "--output",
            "json",
        ],
        &[
            ("MSAL_TEST_SECRET", "wrong"),
            ("MSAL_TEST_ASSERTION", "a.b.c"),
        ],
    )
    .await;
    assert_eq!(code, 4, "{out}");
    let v = one_object(&out);
    assert_eq!(v["error"]["kind"], "service");
    assert_eq!(v["error"]["code"], "invalid_client");

    // client (6): a flag the flow needs is missing; nothing is sent.
    let before = emu.requests().len();
    let (code, out, _) = msal(
        &[
            "token",
            "username-password",
            "--authority",
            &authority,
            "--insecure-loopback",
            "--client-id",
            "x",
            "--scope",
            "s",
            "--output",
            "json",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 6, "{out}");
    let v = one_object(&out);
    assert_eq!(v["error"]["code"], "invalid_argument");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--username")
    );
    assert_eq!(emu.requests().len(), before);
    emu.shutdown().await;

    // transport (5): nothing listens there any more.
    let (code, out, _) = run(
        ropc(defaults::USER_USERNAME),
        vec![("MSAL_TEST_PASSWORD", defaults::USER_PASSWORD)],
    )
    .await;
    assert_eq!(code, 5, "{out}");
    assert_eq!(one_object(&out)["error"]["kind"], "transport");
}
