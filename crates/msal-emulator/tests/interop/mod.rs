//! The harness of the tests that run another MSAL (MSAL Python, msal-node) against the
//! emulator: one HTTPS emulator with its own CA, and one driver process per flow group.
//!
//! A driver is a small program in the other language that runs a group of flows with the real
//! library and talks to the test over its stdin and stdout, one JSON object a line:
//!
//! - `{"result": NAME, ...}`: what a flow observed, collected for the test's assertions;
//! - `{"ask": "sign_in", "url": AUTH_URL, "follow": BOOL}`: the test signs the default user
//!   in through the emulator's pages with plain HTTP requests and answers the redirect URL
//!   (with `follow`, it also delivers that redirect to the library's loopback listener);
//! - `{"ask": "approve", "user_code": CODE}`: the test approves the device code through the
//!   admin API (`POST /_emulator/devicecode/approve`) and answers `"ok"`;
//! - `{"ask": "fault", "preset": NAME, "grant_type": G}`: the test installs that fault preset
//!   for grant type `G` until `{"ask": "clear"}`, and answers `"ok"`.
//!
//! Every answer is one JSON line on the driver's stdin, in the order of the asks.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultRule, defaults as d};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// How long one driver may run (a group of flows, device code polling included).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(120);

/// The flow names and what the driver reported for each.
pub type Results = BTreeMap<String, Value>;

/// The UI-required fault presets every driver reads back through its library's silent call.
pub const UI_REQUIRED_PRESETS: [&str; 7] = [
    "consent_required",
    "mfa_required",
    "mfa_enrollment_required",
    "password_expired",
    "conditional_access_blocked",
    "protection_policy_required",
    "claims_challenge",
];

/// An emulator over HTTPS, the PEM of its CA, and what a driver needs to know about it.
pub struct Session {
    pub emu: EmulatorHandle,
    pub ca: PathBuf,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Session {
    pub async fn start() -> Session {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("emulator-ca.pem");
        let emu = Emulator::start_tls(EmulatorConfig::default_directory(), 0, &ca)
            .await
            .unwrap();
        let pem = std::fs::read(&ca).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Session {
            emu,
            ca,
            _dir: dir,
            http,
        }
    }

    /// What the drivers read from `$MSAL_FLOWS` (JSON): the authority, the apps and user of
    /// the default directory, and the presets to read back. The secret travels here, in the
    /// environment, not in argv.
    pub fn driver_config(&self) -> String {
        json!({
            "authority": self.emu.authority(d::TENANT_ID),
            "host": format!("127.0.0.1:{}", self.emu.port()),
            "confidential_client_id": d::CONFIDENTIAL_CLIENT_ID,
            "client_secret": d::CLIENT_SECRET,
            "public_client_id": d::PUBLIC_CLIENT_ID,
            "username": d::USER_USERNAME,
            "password": d::USER_PASSWORD,
            "app_scope": d::GRAPH_DEFAULT,
            "user_scope": "User.Read",
            "redirect_uri": "http://localhost:53123/",
            "presets": UI_REQUIRED_PRESETS,
        })
        .to_string()
    }

    /// Runs a driver to its end, answering its asks; panics (with its stderr) when it fails,
    /// hangs past [`DRIVER_TIMEOUT`] or prints something that is not a JSON line.
    pub async fn drive(&self, mut cmd: tokio::process::Command, what: &str) -> Results {
        cmd.env("MSAL_FLOWS", self.driver_config())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {what}: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let stderr_task = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        });
        let mut results = Results::new();
        let run = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let msg: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("{what} printed a line that is not JSON ({e}): {line}")
                });
                if let Some(name) = msg["result"].as_str() {
                    results.insert(name.to_string(), msg.clone());
                    continue;
                }
                let answer = self.answer(&msg).await;
                // A driver that did not wait for this answer (the loopback listener already
                // has the code) may have exited: its exit status tells, not a broken pipe.
                let _ = stdin.write_all(format!("{answer}\n").as_bytes()).await;
                let _ = stdin.flush().await;
            }
            child.wait().await.unwrap()
        };
        let status = tokio::time::timeout(DRIVER_TIMEOUT, run).await;
        let err = stderr_task.await.unwrap_or_default();
        match status {
            Ok(s) if s.success() => results,
            Ok(s) => panic!("{what} failed ({s}); results so far {results:?}\nstderr:\n{err}"),
            Err(_) => panic!("{what} did not finish in {DRIVER_TIMEOUT:?}; results {results:?}"),
        }
    }

    async fn answer(&self, msg: &Value) -> Value {
        match msg["ask"].as_str() {
            Some("sign_in") => {
                let url = msg["url"].as_str().expect("sign_in needs a url");
                let back = self.sign_in(url).await;
                if msg["follow"] == true {
                    // The library's loopback listener: plain HTTP on localhost.
                    let loopback = reqwest::Client::new();
                    let resp = match &back {
                        Back::Redirect(u) => loopback.get(u.as_str()).send().await,
                        Back::FormPost(u, fields) => {
                            loopback.post(u.as_str()).form(fields).send().await
                        }
                    }
                    .unwrap();
                    assert!(resp.status().is_success(), "loopback listener: {resp:?}");
                }
                json!(back.url().as_str())
            }
            Some("approve") => {
                let code = msg["user_code"]
                    .as_str()
                    .expect("approve needs a user_code");
                let resp = self
                    .http
                    .post(format!(
                        "{}_emulator/devicecode/approve",
                        self.emu.base_url()
                    ))
                    .bearer_auth(self.emu.admin_token())
                    .json(&json!({"user_code": code, "username": d::USER_USERNAME}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "approve {code}");
                json!("ok")
            }
            Some("fault") => {
                let preset = msg["preset"].as_str().unwrap();
                let rule = FaultRule::preset(preset)
                    .unwrap_or_else(|| panic!("no preset {preset}"))
                    .for_grant_type(msg["grant_type"].as_str().unwrap());
                self.emu.add_fault(rule);
                json!("ok")
            }
            Some("clear") => {
                self.emu.clear_faults();
                json!("ok")
            }
            _ => panic!("the driver asked for something unknown: {msg}"),
        }
    }

    /// Signs the default user in on the page at `auth_url` (the emulator's `/authorize`) and
    /// returns where the emulator sends the browser back: the app's redirect URI with the code.
    pub async fn sign_in(&self, auth_url: &str) -> Back {
        let resp = self.http.get(auth_url).send().await.unwrap();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .map(str::to_string);
        assert_eq!(resp.status(), 200, "the sign-in page of {auth_url}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("id=\"password\""), "a sign-in page: {html}");
        let action = between(&html, "action=\"", "\"");
        let txn = between(&html, "name=\"txn\" value=\"", "\"");
        let mut req = self
            .http
            .post(format!(
                "{}{}",
                self.emu.base_url(),
                action.trim_start_matches('/')
            ))
            .form(&[
                ("txn", txn.as_str()),
                ("step", "login"),
                ("username", d::USER_USERNAME),
                ("password", d::USER_PASSWORD),
            ]);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.unwrap();
        if resp.status() == 302 {
            let loc = resp.headers()["location"].to_str().unwrap();
            return Back::Redirect(url::Url::parse(loc).unwrap());
        }
        // `response_mode=form_post`: a page that posts the answer to the redirect URI.
        let status = resp.status();
        let html = resp.text().await.unwrap();
        assert!(
            status == 200 && html.contains("name=\"hiddenform\""),
            "signing in: {status} {html}"
        );
        let action = url::Url::parse(&between(&html, "action=\"", "\"")).unwrap();
        let fields = html
            .split("<input type=\"hidden\" name=\"")
            .skip(1)
            .map(|f| {
                let name = f.split('"').next().unwrap().to_string();
                (name, between(f, "value=\"", "\""))
            })
            .collect();
        Back::FormPost(action, fields)
    }
}

/// How the emulator sends the browser back to the app after the sign-in.
pub enum Back {
    /// A 302 to the redirect URI with the answer in the query.
    Redirect(url::Url),
    /// `response_mode=form_post`: the redirect URI and the fields the page posts there.
    FormPost(url::Url, Vec<(String, String)>),
}

impl Back {
    /// The redirect URI with the answer in the query, whichever way it came.
    pub fn url(&self) -> url::Url {
        match self {
            Back::Redirect(u) => u.clone(),
            Back::FormPost(u, fields) => {
                let mut u = u.clone();
                u.query_pairs_mut().extend_pairs(fields);
                u
            }
        }
    }
}

fn between(html: &str, start: &str, end: &str) -> String {
    html.split(start)
        .nth(1)
        .and_then(|s| s.split(end).next())
        .unwrap_or_else(|| panic!("no {start} in {html}"))
        .replace("&amp;", "&")
}

/// Runs `script` (next to this crate's `Cargo.toml`) with `bash` and returns the one path it
/// prints, or panics with what to install: these tests prove interop, they are not optional.
pub fn install(script: &str, what: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(script);
    let out = std::process::Command::new("bash")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run `bash {}`: {e}", path.display()));
    assert!(
        out.status.success(),
        "{what} is required by these tests and is not available: `{script}` failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The JWT payload of `token`, unverified.
pub fn claims(token: &Value) -> Value {
    use base64::Engine;
    let t = token
        .as_str()
        .unwrap_or_else(|| panic!("not a token: {token}"));
    let payload = t.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}
