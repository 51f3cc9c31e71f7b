//! `taglog-server` as a real process on a loopback port, and its HTTP API for tests.
//!
//! A server lives in a directory: `data/` (its database, and `log.key` when it generates its
//! key), `log.key` when the test gives the key, `publishers.txt` (the allowlist) and
//! `server.log` (its output, appended across restarts). Restarting in the same directory
//! resumes the same log. Guarantees: `start` returns once the server is ready (listening, or
//! serving a checkpoint), or fails the test with the server's log; the process is killed when
//! the handle drops.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use taglog_proofs::note::{SignerKey, VerifierKey};

use crate::bins::Bin;
use crate::keys;
pub use crate::process::Exit;
use crate::process::{self, Proc, StartError, START_TIMEOUT};
use crate::TempDir;

/// The origin of a server that generated its own key (started without a key).
pub const ORIGIN: &str = "localhost/taglog";
/// The prefix the default allowlist admits [`keys::publisher`] for.
pub const PREFIX: &str = "registry.example/acme";

/// When a started server counts as ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// Its port accepts connections (the server binds it before it opens the log, so this
    /// does not mean it will serve).
    Listening,
    /// It answers HTTP, with any status (a server whose witnesses are down serves no
    /// checkpoint): it opened its log and serves, with its signal handlers in place. A server
    /// with `--tls-cert` is waited for as [`Ready::Listening`] (the probe speaks plain HTTP).
    Answering,
    /// It serves a checkpoint (`GET /checkpoint` is 200).
    Checkpoint,
}

/// How to start a server; see [`LogServer::in_dir`] and [`LogServer::seeded`].
#[must_use]
pub struct Builder {
    dir: PathBuf,
    tmp: Option<TempDir>,
    key: Option<SignerKey>,
    publishers: Option<Vec<(String, String)>>,
    witnesses: Vec<(String, String)>,
    commit_timeout: Option<String>,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    port: Option<u16>,
    ready: Ready,
}

impl Builder {
    /// Signs with `key` (written to `log.key`, mode 0600) instead of a generated key.
    pub fn key(mut self, key: &SignerKey) -> Self {
        self.key = Some(key.clone());
        self
    }

    /// The allowlist: `(prefix, verifier key)` lines, replacing any `publishers.txt`. Without
    /// it, an existing file is kept, and a missing one admits [`keys::publisher`] for
    /// [`PREFIX`].
    pub fn publishers(mut self, publishers: &[(String, String)]) -> Self {
        self.publishers = Some(publishers.to_vec());
        self
    }

    /// Adds one allowlist line.
    pub fn publisher(mut self, prefix: &str, key: &VerifierKey) -> Self {
        self.publishers
            .get_or_insert_with(Vec::new)
            .push((prefix.to_owned(), key.to_string()));
        self
    }

    /// Adds a witness (`--witness VKEY URL`).
    pub fn witness(mut self, vkey: &str, url: &str) -> Self {
        self.witnesses.push((vkey.to_owned(), url.to_owned()));
        self
    }

    /// `--commit-timeout` (none: the server's default).
    pub fn commit_timeout(mut self, timeout: &str) -> Self {
        self.commit_timeout = Some(timeout.to_owned());
        self
    }

    /// Extra command-line arguments.
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Self {
        self.args.extend(args.iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Listens on `port` instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets an environment variable of the process (e.g. `AWS_ACCESS_KEY_ID`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// When it counts as started (default [`Ready::Answering`]).
    pub fn ready(mut self, ready: Ready) -> Self {
        self.ready = ready;
        self
    }

    /// Starts it and waits until it is ready.
    ///
    /// # Panics
    /// When it exits or is not ready within [`START_TIMEOUT`] (with its log).
    #[must_use]
    pub fn start(self) -> LogServer {
        self.try_start(START_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts it and waits up to `wait` until it is ready.
    ///
    /// # Errors
    /// [`StartError`] when it exits or is not ready in time (it is then killed).
    pub fn try_start(self, wait: Duration) -> Result<LogServer, StartError> {
        std::fs::create_dir_all(&self.dir).expect("create the server directory");
        let allow = self.dir.join("publishers.txt");
        match &self.publishers {
            Some(list) => {
                let text: String = list
                    .iter()
                    .map(|(p, k)| format!("publisher {p} {k}\n"))
                    .collect();
                std::fs::write(&allow, text).expect("write the allowlist");
            }
            None if !allow.exists() => {
                let line = format!("publisher {PREFIX} {}\n", keys::publisher().verifier());
                std::fs::write(&allow, line).expect("write the allowlist");
            }
            None => {}
        }
        let port = self.port.unwrap_or_else(crate::free_port);
        let mut cmd = Bin::Server.command();
        cmd.arg("--data-dir")
            .arg(self.dir.join("data"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--publishers")
            .arg(&allow);
        if let Some(key) = &self.key {
            let path = self.dir.join("log.key");
            keys::write_key(&path, key);
            cmd.arg("--key").arg(path);
        }
        for (vkey, url) in &self.witnesses {
            cmd.arg("--witness").arg(vkey).arg(url);
        }
        if let Some(t) = &self.commit_timeout {
            cmd.arg("--commit-timeout").arg(t);
        }
        cmd.args(&self.args);
        cmd.envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut proc = Proc::spawn("taglog-server", cmd, &self.dir.join("server.log"));
        let tls = self.args.iter().any(|a| a == "--tls-cert");
        let ready = match self.ready {
            Ready::Answering if tls => {
                proc.wait_until("listening", wait, || process::listening(port))
            }
            Ready::Listening => proc.wait_until("listening", wait, || process::listening(port)),
            Ready::Answering => proc.wait_until("answering HTTP", wait, || {
                process::http_status(port, "/checkpoint").is_some()
            }),
            Ready::Checkpoint => proc.wait_until("serving a checkpoint", wait, || {
                process::http_status(port, "/checkpoint") == Some(200)
            }),
        };
        ready?;
        Ok(LogServer {
            proc,
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir: self.dir,
            key: self.key,
            _tmp: self.tmp,
        })
    }
}

/// A running `taglog-server`, killed on drop.
pub struct LogServer {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// Its directory (see the module documentation).
    pub dir: PathBuf,
    key: Option<SignerKey>,
    _tmp: Option<TempDir>,
}

impl LogServer {
    /// A server living in `dir` (which the test owns), with a generated key and no flags.
    pub fn in_dir(dir: &Path) -> Builder {
        Builder {
            dir: dir.to_path_buf(),
            tmp: None,
            key: None,
            publishers: None,
            witnesses: Vec::new(),
            commit_timeout: None,
            args: Vec::new(),
            envs: Vec::new(),
            port: None,
            ready: Ready::Answering,
        }
    }

    /// A server in a temporary directory of its own, signing with [`keys::log`]`(seed)`,
    /// admitting `publishers` (prefix, verifier key), ready once it serves a checkpoint, with
    /// `--commit-timeout 10s`.
    pub fn seeded(seed: u8, publishers: &[(String, String)]) -> Builder {
        let tmp = crate::tempdir();
        let mut b = LogServer::in_dir(tmp.path())
            .key(&keys::log(seed))
            .publishers(publishers)
            .commit_timeout("10s")
            .ready(Ready::Checkpoint);
        b.tmp = Some(tmp);
        b
    }

    /// The server tests' usual start in `dir`: the default allowlist (unless `dir` has one),
    /// a generated key, `--witness-refresh 1h --commit-timeout 5s`, then `extra`.
    ///
    /// # Panics
    /// When it does not start (with its log).
    #[must_use]
    pub fn start(dir: &Path, extra: &[&str]) -> LogServer {
        Self::try_start(dir, extra, START_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`LogServer::start`], waiting up to `wait`.
    ///
    /// # Errors
    /// [`StartError`] when it exits or does not answer in time.
    pub fn try_start(dir: &Path, extra: &[&str], wait: Duration) -> Result<LogServer, StartError> {
        LogServer::in_dir(dir)
            .commit_timeout("5s")
            .args(&["--witness-refresh", "1h"])
            .args(extra)
            .try_start(wait)
    }

    /// The log's signing key: the one it was given, or the one it generated.
    ///
    /// # Panics
    /// When the generated key file cannot be read.
    #[must_use]
    pub fn signer(&self) -> SignerKey {
        match &self.key {
            Some(k) => k.clone(),
            None => keys::read_key(&self.dir.join("data").join("log.key")),
        }
    }

    /// The log's verifier key.
    #[must_use]
    pub fn log_key(&self) -> VerifierKey {
        self.signer().verifier()
    }

    /// The log's verifier key as text (for policies and flags).
    #[must_use]
    pub fn vkey(&self) -> String {
        self.log_key().to_string()
    }

    /// kill -9.
    pub fn kill(mut self) {
        self.proc.kill();
    }

    /// SIGTERM, then the exit code once it has exited.
    pub fn terminate(mut self) -> Option<i32> {
        self.proc.terminate()
    }
}

fn bare_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Bin::Server.command();
    cmd.arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", crate::free_port()))
        .args(args);
    cmd
}

/// Runs the server on `dir/data` with `args` (and a free port) until it exits; for startup
/// refusals.
///
/// # Panics
/// When it cannot be run.
#[must_use]
pub fn run_to_exit(dir: &Path, args: &[&str]) -> Exit {
    process::run_to_exit(&mut bare_command(dir, args))
}

/// Runs the server on `dir/data` until it exits (then what it did) or for at most `wait`
/// (then it is killed and `None` returned: it started).
///
/// # Panics
/// When it cannot be run.
#[must_use]
pub fn exit_within(dir: &Path, wait: Duration) -> Option<Exit> {
    exit_within_args(dir, &[], wait)
}

/// As [`exit_within`], with flags `args` (e.g. a configuration it must refuse).
///
/// # Panics
/// When it cannot be run.
#[must_use]
pub fn exit_within_args(dir: &Path, args: &[&str], wait: Duration) -> Option<Exit> {
    let log = dir.join("stderr.txt");
    let _ = std::fs::remove_file(&log);
    let mut proc = Proc::spawn("taglog-server", bare_command(dir, args), &log);
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some(status) = proc.exited() {
            return Some(Exit {
                code: status.code(),
                stderr: proc.log_text(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// `POST /add-binding`: status and the JSON answer (a JSON string when the body is not JSON).
///
/// # Panics
/// When the request fails (no answer, timeout).
pub async fn add_binding(
    c: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let r = c
        .post(format!("{url}/add-binding"))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}/add-binding: {e}"));
    let status = r.status().as_u16();
    let text = r.text().await.expect("read the answer");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// `GET path` (async): status and body bytes.
///
/// # Panics
/// When the request fails (no answer, timeout).
pub async fn get(c: &reqwest::Client, url: &str, path: &str) -> (u16, Vec<u8>) {
    crate::http::get_async(c, &format!("{url}{path}")).await
}

/// The served checkpoint note, which must be there (200).
///
/// # Panics
/// When the request fails or the status is not 200.
pub async fn checkpoint(c: &reqwest::Client, url: &str) -> Vec<u8> {
    let (s, b) = get(c, url, "/checkpoint").await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    b
}

/// `POST /add-binding` from a blocking test: the answer, whatever its status.
///
/// # Panics
/// When the request fails (no answer, timeout).
#[must_use]
pub fn add_binding_blocking(url: &str, body: Vec<u8>) -> crate::http::Resp {
    let r = crate::http::blocking()
        .post(format!("{url}/add-binding"))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .unwrap_or_else(|e| panic!("POST {url}/add-binding: {e}"));
    crate::http::Resp::from_blocking(r)
}

/// Every leaf of the first `size` leaves, read from the entry bundles (`/tile/entries/...`).
///
/// # Panics
/// When a bundle is not served (200) or does not decode to its width.
pub async fn entries(c: &reqwest::Client, url: &str, size: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in taglog_proofs::tiles::new_entry_bundles(0, size) {
        let path = format!("/{}", t.to_path());
        let (s, data) = get(c, url, &path).await;
        assert_eq!(s, 200, "{path}: {}", String::from_utf8_lossy(&data));
        let bundle = taglog_proofs::tiles::decode_entry_bundle(&data, usize::from(t.width()))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        out.extend(bundle);
    }
    assert_eq!(out.len() as u64, size, "entry bundles of size {size}");
    out
}

/// Submits `(ref, version, digest byte)` bindings by [`crate::keys::publisher`], signed now
/// (so a monitor sees no merge delay), from `threads` threads at once (so that the server
/// batches them); each must be answered 200.
///
/// # Panics
/// When a submission is not answered 200.
pub fn submit_all(url: &str, items: Vec<(String, u64, u8)>, threads: usize) {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    let chunks: Vec<Vec<_>> = items.chunks(per).map(<[_]>::to_vec).collect();
    std::thread::scope(|s| {
        for chunk in chunks {
            s.spawn(move || {
                for (r, v, d) in chunk {
                    let body = crate::bindings::sign(
                        &crate::keys::publisher(),
                        ORIGIN,
                        &r,
                        crate::bindings::filled(d),
                        v,
                        crate::now(),
                    );
                    let resp = add_binding_blocking(url, body);
                    assert_eq!(resp.status, 200, "{r} v{v}: {}", resp.text());
                }
            });
        }
    });
}
