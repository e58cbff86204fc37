//! Headless Chromium behind chromedriver, driven over the W3C WebDriver protocol, for the tests
//! that sign in like a user. A copy of the driver in `crates/msal-cli/tests/browser_interactive.rs`
//! (each crate's tests stay inside the crate, so it can be packaged on its own).
//!
//! Chromium and chromedriver must be installed (Debian: `apt-get install chromium
//! chromium-driver`; `CHROME_BIN` and `CHROMEDRIVER` name other locations). Without them the
//! tests fail: CI installs them, so a skip would hide a broken setup.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// A bound on every wait for something external (Chromium), so a broken setup fails instead of
/// hanging. Not a performance expectation.
pub const PATIENCE: Duration = Duration::from_secs(60);

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
pub struct Chromium {
    driver: tokio::process::Child,
    /// The process group of chromedriver and the browser, until they are stopped.
    group: Option<u32>,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Chromium {
    pub async fn start() -> Chromium {
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
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .is_some_and(|v| v["value"]["ready"] == true),
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
            .header("content-type", "application/json")
            .body(caps.to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).unwrap())
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

    pub async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        };
        let bytes = req.send().await.unwrap().bytes().await.unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        if v["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {v}");
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "url", json!({ "url": url })).await;
    }

    pub async fn element(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT_KEY].as_str().unwrap().to_owned()
    }

    pub async fn fill(&self, css: &str, text: &str) {
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

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("element/{id}/click"), json!({}))
            .await;
    }

    pub async fn page_source(&self) -> String {
        self.cmd("GET", "source", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn quit(mut self) {
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

impl Chromium {
    /// The text of the element `css`.
    pub async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.cmd("GET", &format!("element/{id}/text"), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}
