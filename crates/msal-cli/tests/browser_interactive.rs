//! `msal token interactive` end to end with a real browser: headless Chromium, driven over the
//! W3C WebDriver protocol (chromedriver on a loopback port), signs in on the emulator's pages.
//! The CLI's `BROWSER` is a script that writes the sign-in URL to a file; the test opens that
//! URL in Chromium, fills the forms and clicks like a user.
//!
//! Chromium and chromedriver must be installed (Debian: `apt-get install chromium
//! chromium-driver`; `CHROME_BIN` and `CHROMEDRIVER` name other locations). Without them these
//! tests fail: CI installs them, so a skip would hide a broken setup.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, defaults};
use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// A bound on every wait for something external (Chromium, the CLI), so a broken setup fails
/// instead of hanging. Not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(60);

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        return p.exists().then_some(p);
    }
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() {
            if p.exists() {
                return Some(p.to_path_buf());
            }
        } else if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths) {
                let full = dir.join(c);
                if full.exists() {
                    return Some(full);
                }
            }
        }
    }
    None
}

/// Headless Chromium behind chromedriver, with a fresh profile (no session cookies).
struct Chromium {
    driver: tokio::process::Child,
    /// The process group of chromedriver and the browser, until they are stopped.
    group: Option<u32>,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Chromium {
    async fn start() -> Chromium {
        let chrome = find_program(
            "CHROME_BIN",
            &[
                "/usr/bin/chromium",
                "chromium",
                "chromium-browser",
                "google-chrome",
            ],
        )
        .expect(
            "Chromium is not installed: these tests drive a real browser. Install it with \
             `apt-get install -y chromium chromium-driver` (or set CHROME_BIN)",
        );
        let driver_bin = find_program("CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"])
            .expect(
                "chromedriver is not installed: these tests drive a real browser. Install it \
                 with `apt-get install -y chromium chromium-driver` (or set CHROMEDRIVER)",
            );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = tokio::process::Command::new(&driver_bin);
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        let driver = cmd.spawn().expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chrome, "args": args},
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        let c = Chromium {
            group: driver.id(),
            driver,
            base,
            session,
            http,
            _profile: profile,
        };
        // Elements are looked for until they appear (pages load after each click).
        c.cmd(
            "POST",
            "timeouts",
            json!({"implicit": 10_000, "pageLoad": 30_000}),
        )
        .await;
        c
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {v}");
        }
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "url", json!({ "url": url })).await;
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT_KEY].as_str().unwrap().to_owned()
    }

    async fn fill(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("element/{id}/clear"), json!({}))
            .await;
        self.cmd(
            "POST",
            &format!("element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("element/{id}/click"), json!({}))
            .await;
    }

    async fn page_source(&self) -> String {
        self.cmd("GET", "source", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.driver.kill().await;
        self.group = None;
    }
}

impl Drop for Chromium {
    /// After a failed assertion: stop chromedriver and the browser it started (its process
    /// group, which this test created).
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.group.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `msal token interactive` running with a `BROWSER` that hands the URL to the test.
struct Cli {
    child: tokio::process::Child,
    url_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn start(emu: &EmulatorHandle, extra: &[&str]) -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("url.txt");
        let script = dir.path().join("browser.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\nprintf '%s' \"$1\" > \"$0.tmp\" && mv \"$0.tmp\" \"$(dirname \"$0\")/url.txt\"\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let authority = emu.authority(defaults::TENANT_ID);
        let mut args = vec![
            "token",
            "interactive",
            "--authority",
            &authority,
            "--insecure-loopback",
            "--client-id",
            defaults::PUBLIC_CLIENT_ID,
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_msal"))
            .args(&args)
            .env("BROWSER", &script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Cli {
            child,
            url_file,
            _dir: dir,
        }
    }

    /// The sign-in URL the CLI gave its browser.
    async fn url(&mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(u) = std::fs::read_to_string(&self.url_file) {
                return u;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("msal exited ({status}) before opening the browser");
            }
            assert!(Instant::now() < deadline, "msal never opened the browser");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The exit code and the one JSON object of stdout.
    async fn finish(self) -> (i32, Value) {
        let out = tokio::time::timeout(PATIENCE, self.child.wait_with_output())
            .await
            .expect("msal finishes")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }
}

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default_directory())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_and_consent_in_chromium() {
    let emu = emulator().await;
    let browser = Chromium::start().await;
    let mut cli = Cli::start(
        &emu,
        &[
            "--scope",
            "User.Read Mail.Read",
            "--login-hint",
            defaults::NO_CONSENT_USER_USERNAME,
        ],
    );
    let url = cli.url().await;
    assert!(url.starts_with(&emu.authority(defaults::TENANT_ID)));
    browser.goto(&url).await;
    browser.fill("#password", defaults::USER_PASSWORD).await;
    browser.click("#submit").await;
    // The user has not consented to Mail.Read: the consent page lists it.
    browser.element("li[data-scope='Mail.Read']").await;
    browser.click("#accept").await;
    // The loopback's page, once the redirect arrived.
    browser.element("#msal-success").await;
    let (code, v) = cli.finish().await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["source"], "identity_provider");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["account"]["username"], defaults::NO_CONSENT_USER_USERNAME);
    assert_eq!(v["tenant_id"], defaults::TENANT_ID);
    let scopes: Vec<&str> = v["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"User.Read") && scopes.contains(&"Mail.Read"),
        "{scopes:?}"
    );
    // The code went back to the emulator with the PKCE verifier, once.
    let redemptions: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.form_value("grant_type") == Some("authorization_code"))
        .collect();
    assert_eq!(redemptions.len(), 1);
    assert_eq!(redemptions[0].status, 200);
    assert!(redemptions[0].form_value("code_verifier").is_some());
    browser.quit().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_consent_in_chromium_is_cancelled() {
    let emu = emulator().await;
    let browser = Chromium::start().await;
    let mut cli = Cli::start(&emu, &["--scope", "Mail.Read"]);
    browser.goto(&cli.url().await).await;
    browser
        .fill("#username", defaults::NO_CONSENT_USER_USERNAME)
        .await;
    browser.fill("#password", defaults::USER_PASSWORD).await;
    browser.click("#submit").await;
    browser.click("#cancel").await;
    // The loopback's error page, once the redirect arrived.
    browser.element("#msal-error").await;
    let page = browser.page_source().await;
    assert!(page.contains("access_denied"), "{page}");
    let (code, v) = cli.finish().await;
    assert_eq!(code, 7, "{v}");
    assert_eq!(v["error"]["kind"], "cancelled");
    assert_eq!(v["error"]["code"], "access_denied");
    assert_eq!(v["error"]["aadsts_codes"], json!([65004]));
    assert_eq!(v["error"]["classification"], Value::Null);
    browser.quit().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_none_without_a_session_in_chromium_is_prompt_never_failed() {
    let emu = emulator().await;
    let browser = Chromium::start().await;
    let mut cli = Cli::start(
        &emu,
        &[
            "--scope",
            "User.Read",
            "--prompt",
            "none",
            "--redirect-uri",
            "http://127.0.0.1/",
        ],
    );
    let url = cli.url().await;
    assert!(url.contains("prompt=none"));
    browser.goto(&url).await;
    browser.element("#msal-error").await;
    assert!(browser.page_source().await.contains("login_required"));
    let (code, v) = cli.finish().await;
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["error"]["kind"], "ui_required");
    assert_eq!(v["error"]["code"], "login_required");
    assert_eq!(v["error"]["classification"], "prompt_never_failed");
    assert_eq!(v["error"]["aadsts_codes"], json!([50058]));
    browser.quit().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_factor_sign_in_in_chromium() {
    let emu = emulator().await;
    let browser = Chromium::start().await;
    let mut cli = Cli::start(&emu, &["--scope", "User.Read", "--prompt", "login"]);
    browser.goto(&cli.url().await).await;
    browser.fill("#username", defaults::MFA_USER_USERNAME).await;
    browser.fill("#password", defaults::USER_PASSWORD).await;
    browser.click("#submit").await;
    browser.fill("#mfa-code", defaults::MFA_CODE).await;
    browser.click("#submit").await;
    browser.element("#msal-success").await;
    let (code, v) = cli.finish().await;
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["account"]["username"], defaults::MFA_USER_USERNAME);
    // The token says the user did MFA.
    let at = v["access_token"].as_str().unwrap();
    let claims = msal::oauth::decode_jwt_payload(at).unwrap();
    assert!(
        claims["amr"].as_array().unwrap().iter().any(|m| m == "mfa"),
        "{claims}"
    );
    browser.quit().await;
    emu.shutdown().await;
}
