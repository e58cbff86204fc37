//! The state every request of one emulator shares: its address, admin token, signing key, the
//! mutable directory and grants ([`State`]) and the request log.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use crate::crypto::SigningKey;
use crate::state::State;
use crate::wire::RecordedRequest;

/// The last requests received, oldest first, at most `capacity` of them.
pub(crate) struct RequestLog {
    pub entries: VecDeque<RecordedRequest>,
    pub capacity: usize,
}

impl RequestLog {
    pub fn new(capacity: usize) -> Self {
        RequestLog {
            entries: VecDeque::new(),
            capacity,
        }
    }

    /// Appends a record, forgetting the oldest ones beyond the capacity.
    pub fn push(&mut self, r: RecordedRequest) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(r);
    }
}

/// The directory the Azure Arc source writes its challenge key files in. One the emulator
/// made is removed with everything in it when the emulator goes; in one it was given, the key
/// files it wrote are removed.
pub(crate) struct ArcKeyDir {
    pub path: std::path::PathBuf,
    /// The directory the emulator made (removed on drop).
    pub owned: Option<tempfile::TempDir>,
    /// The key files written (removed on drop).
    pub written: Mutex<Vec<std::path::PathBuf>>,
}

impl ArcKeyDir {
    /// The configured directory (made if missing), else a new one of the emulator's own
    /// (mode 0700).
    pub fn new(configured: Option<&std::path::Path>) -> std::io::Result<Self> {
        let (path, owned) = match configured {
            Some(p) => {
                std::fs::create_dir_all(p)?;
                (p.to_path_buf(), None)
            }
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("msal-emulator-arc-")
                    .tempdir()?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        Ok(ArcKeyDir {
            path,
            owned,
            written: Mutex::new(Vec::new()),
        })
    }
}

impl Drop for ArcKeyDir {
    fn drop(&mut self) {
        if self.owned.is_none() {
            for p in lock(&self.written).drain(..) {
                // Already gone (expired and removed, or removed by someone else): fine.
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// State shared by every request of one emulator.
pub(crate) struct Shared {
    pub base: String,
    pub port: u16,
    pub admin_token: String,
    pub key: &'static SigningKey,
    /// The service account issuer's key.
    pub federation_key: &'static SigningKey,
    pub arc_dir: ArcKeyDir,
    pub state: Mutex<State>,
    pub log: Mutex<RequestLog>,
}

/// Locks a mutex, ignoring poisoning (the state stays usable after a handler panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// `{base}{tid}/v2.0`.
    pub fn issuer(&self, tid: &str) -> String {
        format!("{}{}/v2.0", self.base, tid)
    }

    /// The service account issuer: `{base}federation`.
    pub fn federation_issuer(&self) -> String {
        format!("{}federation", self.base)
    }

    /// A federated credential's issuer with `{base}` replaced by the base URL.
    pub fn expand_issuer(&self, configured: &str) -> String {
        configured.replace(crate::config::defaults::BASE_PLACEHOLDER, &self.base)
    }

    /// The host of the base URL, with its port unless it is the scheme's default
    /// (`127.0.0.1:41234`, `idp.test`): the emulator's `cloud_instance_name`.
    pub fn host(&self) -> String {
        url::Url::parse(&self.base)
            .map(|u| host_port(&u))
            .unwrap_or_default()
    }

    /// The hosts instance discovery names: the base URL's, then `127.0.0.1` and `localhost`
    /// on the port it listens on, each written as [`Shared::host`] writes it.
    pub fn host_aliases(&self) -> Vec<String> {
        let mut aliases = vec![self.host()];
        if let Ok(mut u) = url::Url::parse(&self.base) {
            for h in ["127.0.0.1", "localhost"] {
                if u.set_host(Some(h)).is_ok() && u.set_port(Some(self.port)).is_ok() {
                    let a = host_port(&u);
                    if !aliases.contains(&a) {
                        aliases.push(a);
                    }
                }
            }
        }
        aliases
    }
}

/// `host[:port]` of a URL, the port left out when it is the scheme's default.
pub(crate) fn host_port(u: &url::Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_is_bounded() {
        let mut log = RequestLog {
            entries: VecDeque::new(),
            capacity: 2,
        };
        for i in 0..5u16 {
            log.push(RecordedRequest {
                method: "GET".into(),
                path: "/".into(),
                query: None,
                headers: vec![],
                form: vec![],
                body: String::new(),
                status: i,
                response_body: String::new(),
                response_headers: vec![],
            });
        }
        let statuses: Vec<u16> = log.entries.iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![3, 4]);
    }
}
