//! Test harness: runs the real `taglog-server` binary on a free loopback port with a
//! temporary data directory, and signs bindings with proofs' `sign_binding`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::note::{KeyType, SignerKey, VerifierKey};

/// A temporary directory removed on drop (no `tempfile` dev-dependency: it changes the
/// feature set of shared build dependencies and would force a second RocksDB compile).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh temporary directory.
pub fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "taglog-server-test-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let p = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

/// The default origin of a server started without --origin.
pub const ORIGIN: &str = "localhost/taglog";
/// The prefix the test publisher may bind under.
pub const PREFIX: &str = "registry.example/acme";

/// The test publisher key (deterministic).
pub fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.example/acme".parse().unwrap(),
        KeyType::Ed25519,
        [7u8; 32],
    )
}

/// A second key that is not on the allowlist.
pub fn stranger() -> SignerKey {
    SignerKey::from_seed(
        "stranger.example".parse().unwrap(),
        KeyType::Ed25519,
        [9u8; 32],
    )
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A signed binding note.
pub fn binding(key: &SignerKey, reference: &str, version: u64, digest_byte: u8) -> Vec<u8> {
    let b = Binding {
        log: ORIGIN.into(),
        reference: reference.parse().unwrap(),
        digest: DigestValue::Sha256([digest_byte; 32]),
        version,
        time: 1_764_000_000,
    };
    sign_binding(&b, key).unwrap()
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub port: u16,
}

impl Server {
    /// Writes the allowlist and starts the server in `dir`.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Self::try_start(dir, extra, Duration::from_secs(60)).expect("server did not become ready")
    }

    /// Starts the server; `None` if it exited or did not answer in time.
    pub fn try_start(dir: &Path, extra: &[&str], wait: Duration) -> Option<Server> {
        let allow = dir.join("publishers.txt");
        if !allow.exists() {
            std::fs::write(
                &allow,
                format!("publisher {PREFIX} {}\n", publisher().verifier()),
            )
            .unwrap();
        }
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taglog-server"));
        cmd.arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--publishers")
            .arg(&allow)
            .args(["--witness-refresh", "1h", "--commit-timeout", "5s"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TAGLOG_TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        let mut child = cmd.spawn().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                let _ = child.wait();
                return None;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Server {
                    child,
                    url,
                    dir: dir.to_path_buf(),
                    port,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The log's verifier key (from the generated key file).
    pub fn log_key(&self) -> VerifierKey {
        let text = std::fs::read_to_string(self.dir.join("data").join("log.key")).unwrap();
        text.trim().parse::<SignerKey>().unwrap().verifier()
    }

    /// kill -9.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns the exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POST /add-binding.
pub async fn post(c: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let r = c
        .post(format!("{url}/add-binding"))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// GET a path; status and body bytes.
pub async fn get(c: &reqwest::Client, url: &str, path: &str) -> (u16, Vec<u8>) {
    let r = c.get(format!("{url}{path}")).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// The served checkpoint note.
pub async fn checkpoint(c: &reqwest::Client, url: &str) -> Vec<u8> {
    let (s, b) = get(c, url, "/checkpoint").await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    b
}
