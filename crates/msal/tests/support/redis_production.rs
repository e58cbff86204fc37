//! Redis as production runs it, for tests: a `redis-server` serving TLS only with an ACL user
//! (as Azure Cache for Redis does), and a three-node Redis Cluster on loopback. Each process is
//! killed on drop; their files live in a temporary directory removed on drop.
//!
//! Fails (does not skip) when `redis-server` or `redis-cli` is missing: `scripts/test` installs
//! them.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The ACL user the servers know, and its password.
pub const USER: &str = "msal-cache";
pub const PASSWORD: &str = "acl-pass-word";

fn spawn(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start `redis-server` ({e}): these tests need it. Run `scripts/test`, \
                 which installs it, or `apt-get install redis-server`."
            )
        })
}

/// A free loopback port whose cluster bus port (`port + 10000`) is free too.
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `redis-cli` ({e}): `scripts/test` installs it"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The ACL: the default user off, one user with a password and every right.
fn acl_args() -> Vec<String> {
    [
        "--user",
        "default",
        "off",
        "--user",
        USER,
        "on",
        &format!(">{PASSWORD}"),
        "~*",
        "&*",
        "+@all",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A test CA and a server certificate it signed for `127.0.0.1` and `localhost`.
pub struct TestPki {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn generate() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(DnType::CommonName, "msal-rs test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, &ca_key);

        let key = KeyPair::generate().unwrap();
        let leaf =
            CertificateParams::new(["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        TestPki {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A `redis-server` that serves TLS only (no plain port) and knows one ACL user.
pub struct TlsRedis {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    pub fn start(pki: &TestPki) -> TlsRedis {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        };
        let (cert, key, ca) = (
            write("server.crt", &pki.cert_pem),
            write("server.key", &pki.key_pem),
            write("ca.crt", &pki.ca_pem),
        );
        let port = free_port();
        let mut args: Vec<String> = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(acl_args());
        let child = spawn(&args);
        wait_for_port(port);
        TlsRedis {
            port,
            child,
            _dir: dir,
        }
    }

    /// `rediss://<user>:<password>@127.0.0.1:<port>/`.
    pub fn url(&self, user: &str, password: &str) -> String {
        format!("rediss://{user}:{password}@127.0.0.1:{}/", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three masters of a Redis Cluster on loopback (no replicas), each with the ACL user. The
/// cluster keeps serving the slots of the nodes that are up when one is down
/// (`cluster-require-full-coverage no`), as a production cluster does for a replica's time.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Option<Child>>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let children = ports
            .iter()
            .map(|port| Some(spawn(&Self::node_args(dir.path(), *port))))
            .collect();
        for port in &ports {
            wait_for_port(*port);
        }
        let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut args = vec![
            "--user",
            USER,
            "--pass",
            PASSWORD,
            "--no-auth-warning",
            "--cluster",
            "create",
        ];
        args.extend(nodes.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        cli(&args);
        let cluster = RedisCluster {
            ports,
            children,
            _dir: dir,
        };
        cluster.wait_until_ok();
        cluster
    }

    fn node_args(dir: &Path, port: u16) -> Vec<String> {
        let conf = dir.join(format!("nodes-{port}.conf")).display().to_string();
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &conf,
            "--cluster-node-timeout",
            "1000",
            "--cluster-require-full-coverage",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(acl_args());
        args.extend(["--masteruser", USER, "--masterauth", PASSWORD].map(str::to_owned));
        args
    }

    fn node_cli(&self, port: u16, cmd: &[&str]) -> String {
        let p = port.to_string();
        let mut args = vec![
            "-p",
            &p,
            "--user",
            USER,
            "--pass",
            PASSWORD,
            "--no-auth-warning",
        ];
        args.extend_from_slice(cmd);
        cli(&args)
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in &self.ports {
            while !self
                .node_cli(*port, &["cluster", "info"])
                .contains("cluster_state:ok")
            {
                assert!(Instant::now() < deadline, "the Redis Cluster did not form");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// `redis://<user>:<password>@127.0.0.1:<port>/` for each node.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://{USER}:{PASSWORD}@127.0.0.1:{p}/"))
            .collect()
    }

    /// The keys node `i` holds.
    pub fn keys_on(&self, i: usize) -> Vec<String> {
        self.node_cli(self.ports[i], &["--raw", "keys", "*"])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Kills node `i`, as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}
