//! Our token cache and MSAL Python's are one format: a cache file written by the `msal` CLI
//! serves MSAL Python's `acquire_token_for_client` / `acquire_token_silent` from the cache, a
//! cache file written by MSAL Python serves `msal token client-credentials` / `msal token
//! silent` from the cache, and fields and sections of other MSALs survive our rewrite.
//!
//! MSAL Python is the real `msal` package from PyPI, driven by `tests/python/interop.py`. Its
//! interpreter is `$MSAL_PYTHON` when set, else the virtualenv `scripts/python-venv` creates
//! (python3, venv and PyPI needed). Each test runs its own emulator over HTTPS on an ephemeral
//! loopback port; both sides trust its CA and skip instance discovery (MSAL Python:
//! `instance_discovery=False`, ours: `--no-instance-discovery`).

use std::collections::BTreeSet;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use msal_emulator::defaults as d;
use msal_emulator::{Emulator, EmulatorConfig, EmulatorHandle, RecordedRequest};
use serde_json::{Map, Value};

/// The Graph scope both sides ask for. MSAL Python matches cached scopes literally, and the
/// token endpoint answers Graph scopes in their short form, so MSAL Python apps ask for
/// `User.Read`, not `https://graph.microsoft.com/User.Read`.
const USER_SCOPE: &str = "User.Read";
const SECRET_VAR: &str = "MSAL_INTEROP_CLIENT_SECRET";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/interop.py");
const VENV_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/python-venv");
const KNOWN_SECTIONS: [&str; 5] = [
    "AccessToken",
    "RefreshToken",
    "IdToken",
    "Account",
    "AppMetadata",
];

/// The JSON object a command printed. Its `Display`, for failure messages, shortens the access
/// token.
struct Output(Value);

impl Deref for Output {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut v = self.0.clone();
        if let Some(Value::String(t)) = v.get_mut("access_token")
            && let Some((i, _)) = t.char_indices().nth(16)
        {
            t.truncate(i);
            t.push('…');
        }
        write!(f, "{v}")
    }
}

/// The python that has MSAL Python: `$MSAL_PYTHON`, else `scripts/python-venv`'s. Panics with
/// what to do when there is none: these tests prove interop, they are not optional.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<(PathBuf, String), String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let python = match std::env::var_os("MSAL_PYTHON").filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => {
                let out = Command::new("bash")
                    .arg(VENV_SCRIPT)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| format!("could not run `bash {VENV_SCRIPT}`: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "`{VENV_SCRIPT}` failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        };
        let out = Command::new(&python)
            .args(["-c", "import msal, requests; print(msal.__version__)"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run {}: {e}", python.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} cannot import msal: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        eprintln!("MSAL Python {version} at {}", python.display());
        Ok((python, version))
    });
    match found {
        Ok((python, _)) => python,
        Err(e) => panic!(
            "MSAL Python is required by the cache interop tests and is not available: {e}\n\
             Install python3 with venv and pip (with PyPI reachable) so `scripts/python-venv` \
             can create target/py-venv, or set MSAL_PYTHON to a python that has the `msal` \
             package."
        ),
    }
}

/// An emulator over HTTPS and a directory for the cache files.
struct Fixture {
    emu: Arc<EmulatorHandle>,
    dir: tempfile::TempDir,
    ca: PathBuf,
}

impl Fixture {
    async fn start() -> Fixture {
        python();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("emulator-ca.pem");
        let emu = Emulator::start_tls(EmulatorConfig::default_directory(), 0, &ca)
            .await
            .unwrap();
        Fixture {
            emu: Arc::new(emu),
            dir,
            ca,
        }
    }

    fn authority(&self) -> String {
        self.emu.authority(d::TENANT_ID)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> &str {
        self.ca.to_str().unwrap()
    }

    /// Runs `interop.py` and parses the one JSON object it prints.
    fn py(&self, args: &[&str]) -> Output {
        let out = Command::new(python())
            .arg(SCRIPT)
            .args(args)
            .env(SECRET_VAR, d::CLIENT_SECRET)
            .env("MSAL_INTEROP_ADMIN_TOKEN", self.emu.admin_token())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "interop.py {args:?} failed ({}): {stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Output(
            serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
                panic!("interop.py {args:?} printed no JSON ({e}): {stdout:?}")
            }),
        )
    }

    /// MSAL Python's `write-*` / `read-*` for one app and scope on `cache`.
    fn py_flow(&self, command: &str, cache: &Path, client_id: &str, scope: &str) -> Output {
        let authority = self.authority();
        let mut args = vec![
            command,
            "--authority",
            &authority,
            "--ca",
            self.ca(),
            "--cache",
            cache.to_str().unwrap(),
            "--client-id",
            client_id,
            "--scope",
            scope,
        ];
        if command.ends_with("-user") {
            args.extend(["--username", d::USER_USERNAME]);
        }
        self.py(&args)
    }

    /// The `msal` command with the connection flags, on the cache file `cache`.
    fn msal(&self, args: &[&str], client_id: &str, cache: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_msal"));
        c.env_remove("RUST_LOG")
            .args(args)
            .args(["--authority", &self.authority(), "--client-id", client_id])
            .args(["--ca-file", self.ca(), "--no-instance-discovery"])
            .args(["--output", "json", "--cache"])
            .arg(cache)
            .env(SECRET_VAR, d::CLIENT_SECRET)
            .stdin(Stdio::null());
        c
    }

    /// `msal token client-credentials` for the confidential app.
    fn client_credentials(&self, scope: &str, cache: &Path) -> (i32, Output) {
        run(&mut self.msal(
            &[
                "token",
                "client-credentials",
                "--client-secret-env",
                SECRET_VAR,
                "--scope",
                scope,
            ],
            d::CONFIDENTIAL_CLIENT_ID,
            cache,
        ))
    }

    /// `msal token device-code` for alice on the public app, approving the code it prints.
    fn device_code(&self, cache: &Path) -> (i32, Output) {
        let mut child = self
            .msal(
                &["token", "device-code", "--scope", USER_SCOPE],
                d::PUBLIC_CLIENT_ID,
                cache,
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let code = line
            .split_whitespace()
            .find(|w| {
                w.len() >= 6
                    && w.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            })
            .unwrap_or_else(|| panic!("no user code in {line:?}"));
        self.emu
            .approve_device_code(code, d::USER_USERNAME)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"));
        (out.status.code().unwrap(), Output(v))
    }

    /// `msal token silent` for alice on the public app.
    fn silent(&self, cache: &Path, force_refresh: bool) -> (i32, Output) {
        let mut args = vec![
            "token",
            "silent",
            "--account",
            d::USER_USERNAME,
            "--scope",
            USER_SCOPE,
        ];
        if force_refresh {
            args.push("--force-refresh");
        }
        run(&mut self.msal(&args, d::PUBLIC_CLIENT_ID, cache))
    }

    /// How many requests the emulator has answered so far.
    fn mark(&self) -> usize {
        self.emu.requests().len()
    }

    /// Asserts that no token was requested since `mark`: nothing but metadata reads (GET) went
    /// to the emulator (the token and device-code endpoints take POSTs).
    fn assert_no_token_request_since(&self, mark: usize, who: &str, cache: &Path) {
        let asked: Vec<String> = self
            .emu
            .requests()
            .iter()
            .skip(mark)
            .filter(|r: &&RecordedRequest| r.method != "GET" || r.path.ends_with("/token"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            asked.is_empty(),
            "{who} asked the identity provider instead of using the cache: {asked:?}\n{}",
            describe(cache)
        );
    }
}

/// Runs the `msal` command; stdout must be exactly one JSON object.
fn run(cmd: &mut Command) -> (i32, Output) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {stdout:?} / {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), Output(v))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The sections and keys of a cache file (keys hold no secrets), for failure messages.
fn describe(path: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return format!("(no cache file at {})", path.display());
    };
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(&text) else {
        return format!("(the cache file {} is not a JSON object)", path.display());
    };
    let mut s = format!("cache file {}:", path.display());
    for (section, entries) in &top {
        s.push_str(&format!("\n  {section}"));
        for key in entries.as_object().into_iter().flat_map(Map::keys) {
            s.push_str(&format!("\n    {key}"));
        }
    }
    s
}

fn token(v: &Value) -> &str {
    v["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token in {}", Output(v.clone())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_token_written_by_msal_cli_is_served_from_cache_by_msal_python() {
    let fx = Fixture::start().await;
    let cache = fx.file("app-cache.json");
    let (code, ours) = fx.client_credentials(d::API_SCOPE_DEFAULT, &cache);
    assert_eq!(code, 0, "{ours}");
    assert_eq!(ours["source"], "identity_provider");

    let mark = fx.mark();
    let py = fx.py_flow(
        "read-app",
        &cache,
        d::CONFIDENTIAL_CLIENT_ID,
        d::API_SCOPE_DEFAULT,
    );
    assert_eq!(py["error"], Value::Null, "{py}\n{}", describe(&cache));
    assert_eq!(
        py["token_source"],
        "cache",
        "MSAL Python did not find our token: {py}\n{}",
        describe(&cache)
    );
    assert_eq!(token(&py), token(&ours), "MSAL Python returns our token");
    assert_eq!(py["token_type"], "Bearer");
    fx.assert_no_token_request_since(mark, "MSAL Python", &cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_token_written_by_msal_cli_is_served_from_cache_by_msal_python() {
    let fx = Fixture::start().await;
    let cache = fx.file("user-cache.json");
    let (code, ours) = fx.device_code(&cache);
    assert_eq!(code, 0, "{ours}");
    assert_eq!(ours["source"], "identity_provider");
    assert_eq!(ours["account"]["username"], d::USER_USERNAME);

    let mark = fx.mark();
    let py = fx.py_flow("read-user", &cache, d::PUBLIC_CLIENT_ID, USER_SCOPE);
    let accounts = py["accounts"].as_array().unwrap();
    assert_eq!(
        accounts.len(),
        1,
        "MSAL Python's get_accounts() finds alice in our cache: {py}\n{}",
        describe(&cache)
    );
    assert_eq!(accounts[0]["username"], d::USER_USERNAME);
    assert_eq!(
        accounts[0]["home_account_id"],
        ours["account"]["home_account_id"]
    );
    assert_eq!(accounts[0]["local_account_id"], d::USER_OBJECT_ID);
    assert_eq!(accounts[0]["realm"], d::TENANT_ID);
    assert_eq!(
        py["token_source"],
        "cache",
        "MSAL Python's acquire_token_silent() uses our token: {py}\n{}",
        describe(&cache)
    );
    assert_eq!(token(&py), token(&ours));
    fx.assert_no_token_request_since(mark, "MSAL Python", &cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_token_written_by_msal_python_is_served_from_cache_by_msal_cli() {
    let fx = Fixture::start().await;
    let cache = fx.file("app-cache.json");
    let py = fx.py_flow(
        "write-app",
        &cache,
        d::CONFIDENTIAL_CLIENT_ID,
        d::API_SCOPE_DEFAULT,
    );
    assert_eq!(py["token_source"], "identity_provider", "{py}");

    let mark = fx.mark();
    let (code, ours) = fx.client_credentials(d::API_SCOPE_DEFAULT, &cache);
    assert_eq!(code, 0, "{ours}");
    assert_eq!(
        ours["source"],
        "cache",
        "msal did not find MSAL Python's token: {ours}\n{}",
        describe(&cache)
    );
    assert_eq!(token(&ours), token(&py), "msal returns MSAL Python's token");
    assert_eq!(ours["tenant_id"], d::TENANT_ID);
    assert!(ours["account"].is_null());
    fx.assert_no_token_request_since(mark, "msal", &cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_token_written_by_msal_python_is_served_from_cache_by_msal_cli() {
    let fx = Fixture::start().await;
    let cache = fx.file("user-cache.json");
    let py = fx.py_flow("write-user", &cache, d::PUBLIC_CLIENT_ID, USER_SCOPE);
    assert_eq!(py["token_source"], "identity_provider", "{py}");
    let home = py["accounts"][0]["home_account_id"].as_str().unwrap();

    let mark = fx.mark();
    let (code, listed) = run(&mut fx.msal(&["accounts", "list"], d::PUBLIC_CLIENT_ID, &cache));
    assert_eq!(code, 0, "{listed}");
    let accounts = listed["accounts"].as_array().unwrap();
    assert_eq!(
        accounts.len(),
        1,
        "msal accounts list finds alice in MSAL Python's cache: {listed}\n{}",
        describe(&cache)
    );
    assert_eq!(accounts[0]["username"], d::USER_USERNAME);
    assert_eq!(accounts[0]["home_account_id"], home);

    let (code, ours) = fx.silent(&cache, false);
    assert_eq!(code, 0, "{ours}\n{}", describe(&cache));
    assert_eq!(ours["source"], "cache", "{ours}");
    assert_eq!(token(&ours), token(&py), "msal returns MSAL Python's token");
    assert_eq!(ours["account"]["home_account_id"], home);
    assert_eq!(ours["account"]["username"], d::USER_USERNAME);
    fx.assert_no_token_request_since(mark, "msal", &cache);

    // Our refresh (with MSAL Python's refresh token) rewrites the file; MSAL Python then uses
    // the access token we saved.
    let (code, refreshed) = fx.silent(&cache, true);
    assert_eq!(code, 0, "{refreshed}");
    assert_eq!(refreshed["source"], "identity_provider");
    assert_ne!(token(&refreshed), token(&py));
    let mark = fx.mark();
    let again = fx.py_flow("read-user", &cache, d::PUBLIC_CLIENT_ID, USER_SCOPE);
    assert_eq!(
        again["token_source"],
        "cache",
        "{again}\n{}",
        describe(&cache)
    );
    assert_eq!(token(&again), token(&refreshed));
    fx.assert_no_token_request_since(mark, "MSAL Python", &cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_and_sections_survive_a_rewrite_by_msal_cli() {
    let fx = Fixture::start().await;
    let cache = fx.file("cache.json");
    let app = fx.py_flow(
        "write-app",
        &cache,
        d::CONFIDENTIAL_CLIENT_ID,
        d::API_SCOPE_DEFAULT,
    );
    assert_eq!(app["error"], Value::Null, "{app}");
    let user = fx.py_flow("write-user", &cache, d::PUBLIC_CLIENT_ID, USER_SCOPE);
    assert_eq!(user["error"], Value::Null, "{user}");
    let added = fx.py(&[
        "add-unknown",
        "--cache",
        cache.to_str().unwrap(),
        "--client-id",
        d::CONFIDENTIAL_CLIENT_ID,
    ]);
    let marked = added["marked"].as_array().unwrap();
    let sections: BTreeSet<&str> = marked.iter().filter_map(|m| m[0].as_str()).collect();
    assert_eq!(
        sections,
        BTreeSet::from(KNOWN_SECTIONS),
        "an entry of every section carries an unknown field: {added}"
    );
    let before = fx.file("cache-before.json");
    std::fs::copy(&cache, &before).unwrap();

    // A token for another resource: msal reads the file, adds an entry and saves it.
    let (code, ours) = fx.client_credentials(d::GRAPH_DEFAULT, &cache);
    assert_eq!(code, 0, "{ours}");
    assert_eq!(ours["source"], "identity_provider");
    let rewritten = read_json(&cache);
    assert!(
        rewritten["AccessToken"]
            .as_object()
            .unwrap()
            .values()
            .any(|at| at["secret"] == token(&ours)),
        "msal saved its token into the file\n{}",
        describe(&cache)
    );

    let check = fx.py(&[
        "check-unknown",
        "--cache",
        cache.to_str().unwrap(),
        "--before",
        before.to_str().unwrap(),
    ]);
    assert_eq!(check["unknown_sections"], added["unknown_sections"]);
    assert_eq!(&check["marked_entries"], &added["marked"]);
    assert_eq!(
        check["problems"],
        serde_json::json!([]),
        "unknown data changed in our rewrite"
    );

    // And MSAL Python still serves its own tokens from the file we rewrote.
    let mark = fx.mark();
    let again = fx.py_flow(
        "read-app",
        &cache,
        d::CONFIDENTIAL_CLIENT_ID,
        d::API_SCOPE_DEFAULT,
    );
    assert_eq!(again["token_source"], "cache", "{again}");
    assert_eq!(token(&again), token(&app));
    let again = fx.py_flow("read-user", &cache, d::PUBLIC_CLIENT_ID, USER_SCOPE);
    assert_eq!(again["token_source"], "cache", "{again}");
    assert_eq!(token(&again), token(&user));
    fx.assert_no_token_request_since(mark, "MSAL Python", &cache);
}

/// Fields whose values differ from one acquisition to the next.
const VOLATILE: [&str; 6] = [
    "secret",
    "cached_at",
    "expires_on",
    "extended_expires_on",
    "refresh_on",
    "last_modification_time",
];

/// Optional fields that one side writes and the other need not: MSAL Python records the grant
/// that created an account (`account_source`); we record the id token's `name`, as MSAL .NET
/// and MSAL.js do.
const ONE_SIDED: [(&str, &str); 2] = [("Account", "account_source"), ("Account", "name")];

/// What tells the entries of one section apart in these tests (one app token, one user).
fn identity(entry: &Value) -> String {
    format!(
        "client {} / account {}",
        entry["client_id"].as_str().unwrap_or("-"),
        entry["home_account_id"].as_str().unwrap_or("(app)")
    )
}

/// Every difference between our entries and MSAL Python's for the same tokens, entry by entry.
fn differences(ours: &Value, theirs: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let empty = Map::new();
    let sections = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    if sections(ours) != sections(theirs) {
        diffs.push(format!(
            "sections: ours {:?}, MSAL Python's {:?}",
            sections(ours),
            sections(theirs)
        ));
    }
    for section in KNOWN_SECTIONS {
        let by_identity = |v: &Value| -> Vec<(String, String, Value)> {
            v[section]
                .as_object()
                .unwrap_or(&empty)
                .iter()
                .map(|(k, e)| (identity(e), k.clone(), e.clone()))
                .collect()
        };
        let (o, t) = (by_identity(ours), by_identity(theirs));
        for (id, key, _) in &o {
            if !t.iter().any(|(i, _, _)| i == id) {
                diffs.push(format!("{section} [{id}]: only ours ({key:?})"));
            }
        }
        for (id, key, theirs) in &t {
            let Some((_, our_key, ours)) = o.iter().find(|(i, _, _)| i == id) else {
                diffs.push(format!("{section} [{id}]: only MSAL Python's ({key:?})"));
                continue;
            };
            if our_key != key {
                diffs.push(format!(
                    "{section} [{id}] key: ours {our_key:?}, MSAL Python's {key:?}"
                ));
            }
            let fields: BTreeSet<&String> = ours
                .as_object()
                .unwrap()
                .keys()
                .chain(theirs.as_object().unwrap().keys())
                .collect();
            for field in fields {
                if VOLATILE.contains(&field.as_str()) {
                    if ours.get(field).is_none() != theirs.get(field).is_none() {
                        diffs.push(format!(
                            "{section} [{id}] field {field}: written by only one side"
                        ));
                    }
                    continue;
                }
                if ONE_SIDED.contains(&(section, field.as_str())) {
                    continue;
                }
                let (a, b) = (ours.get(field), theirs.get(field));
                if a != b {
                    let show = |v: Option<&Value>| v.map_or("(absent)".into(), Value::to_string);
                    diffs.push(format!(
                        "{section} [{id}] field {field}: ours {}, MSAL Python's {}",
                        show(a),
                        show(b)
                    ));
                }
            }
        }
    }
    diffs
}

/// The same tokens make the same entries under the same keys on both sides. Notably
/// `environment` (in the keys too) is the authority's host in lower case WITHOUT its port, as
/// MSAL Python takes it (`urlparse(authority).hostname`): `127.0.0.1` for
/// `https://127.0.0.1:PORT/<tenant>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_write_the_same_entries_under_the_same_keys() {
    let fx = Fixture::start().await;
    let ours = fx.file("ours.json");
    let (code, v) = fx.client_credentials(d::API_SCOPE_DEFAULT, &ours);
    assert_eq!(code, 0, "{v}");
    let (code, v) = fx.device_code(&ours);
    assert_eq!(code, 0, "{v}");

    let theirs = fx.file("theirs.json");
    let py = fx.py_flow(
        "write-app",
        &theirs,
        d::CONFIDENTIAL_CLIENT_ID,
        d::API_SCOPE_DEFAULT,
    );
    assert_eq!(py["error"], Value::Null, "{py}");
    let py = fx.py_flow("write-user", &theirs, d::PUBLIC_CLIENT_ID, USER_SCOPE);
    assert_eq!(py["error"], Value::Null, "{py}");

    let (ours, theirs) = (read_json(&ours), read_json(&theirs));
    let entries = |v: &Value| -> usize {
        KNOWN_SECTIONS
            .iter()
            .filter_map(|s| v[*s].as_object())
            .map(Map::len)
            .sum()
    };
    assert_eq!(
        entries(&theirs),
        7,
        "MSAL Python wrote 2 access tokens, a refresh token, an id token, an account and 2 app \
         metadata"
    );
    let diffs = differences(&ours, &theirs);
    assert!(
        diffs.is_empty(),
        "our cache entries differ from MSAL Python's for the same tokens:\n  {}",
        diffs.join("\n  ")
    );
}
