//! Test harness: real `docker-registry` processes, a real `taglog-server`, images pushed through
//! the OCI distribution API, and the `taglog` binary run as a user would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

pub mod monitor;
pub mod pull;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use taglog_proofs::note::{KeyType, SignerKey};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn sha256_digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Kills the child on drop.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
    pub log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn wait_http(url: &str, ok: impl Fn(u16) -> bool, proc: &mut Proc) {
    let start = Instant::now();
    let c = http();
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("{} exited with {status}:\n{}", proc.name, proc.log_text());
        }
        if let Ok(r) = c.get(url).send() {
            if ok(r.status().as_u16()) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} did not answer {url} in 60 s:\n{}",
        proc.name,
        proc.log_text()
    );
}

/// A throwaway distribution registry (Debian `docker-registry`) on loopback.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub auth: Option<(String, String)>,
    pub proc: Proc,
}

impl Registry {
    pub fn start(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: taglog-test\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = auth {
            let hash = bcrypt::hash_with_result(pass, 5)
                .unwrap()
                .format_for_version(bcrypt::Version::TwoY);
            std::fs::write(dir.path().join("htpasswd"), format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: taglog-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let log = dir.path().join("registry.log");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("registry.err")).unwrap())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let mut proc = Proc {
            child,
            name: "docker-registry",
            log: dir.path().join("registry.err"),
        };
        wait_http(
            &format!("http://127.0.0.1:{port}/v2/"),
            |s| s == 200 || s == 401,
            &mut proc,
        );
        Registry {
            dir,
            port,
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            proc,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn req(&self, m: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        let r = http().request(m, url);
        match &self.auth {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    pub fn push_blob(&self, repo: &str, blob: &[u8]) -> String {
        let digest = sha256_digest(blob);
        let base = format!("http://{}", self.host());
        let r = self
            .req(
                reqwest::Method::POST,
                &format!("{base}/v2/{repo}/blobs/uploads/"),
            )
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 202, "{}", r.text().unwrap_or_default());
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let url = if loc.starts_with("http") {
            loc
        } else {
            format!("{base}{loc}")
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let r = self
            .req(reqwest::Method::PUT, &format!("{url}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(blob.to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
        digest
    }

    pub fn put_manifest(&self, repo: &str, tag: &str, manifest: &[u8]) -> String {
        let r = self
            .req(
                reqwest::Method::PUT,
                &format!("http://{}/v2/{repo}/manifests/{tag}", self.host()),
            )
            .header("content-type", OCI_MANIFEST)
            .body(manifest.to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
        sha256_digest(manifest)
    }

    /// Pushes a tiny image whose content depends on `seed`; returns (digest, manifest bytes).
    pub fn push_image(&self, repo: &str, tag: &str, seed: &str) -> (String, Vec<u8>) {
        let (layer, config) = image_blobs(seed);
        let manifest = self.push_blobs_for(repo, &layer, &config);
        let d = self.put_manifest(repo, tag, &manifest);
        (d, manifest)
    }

    /// Pushes the blobs of image `seed` into `repo` and returns its manifest bytes.
    pub fn push_blobs_for(&self, repo: &str, layer: &[u8], config: &[u8]) -> Vec<u8> {
        let ld = self.push_blob(repo, layer);
        let cd = self.push_blob(repo, config);
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{ld}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        )
        .into_bytes()
    }
}

/// The layer and config blobs of a test image.
pub fn image_blobs(seed: &str) -> (Vec<u8>, Vec<u8>) {
    let layer = format!("taglog test layer {seed}\n").repeat(8).into_bytes();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"seed":"{seed}"}}}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256_digest(&layer)
    )
    .into_bytes();
    (layer, config)
}

/// Writes a private key file with mode 0600.
pub fn write_key(path: &Path, key: &SignerKey) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    writeln!(f, "{key}").unwrap();
}

pub fn server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TAGLOG_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("taglog-server")
}

/// A real taglog-server with no witnesses (`quorum none`).
pub struct Server {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub log_key: SignerKey,
    pub proc: Proc,
}

impl Server {
    /// Starts a server whose log key comes from `seed`, admitting `publishers` (prefix, vkey).
    pub fn start(seed: u8, publishers: &[(String, String)]) -> Server {
        Server::start_with(seed, publishers, &[])
    }

    /// The log key a server started with `seed` uses.
    pub fn key_for(seed: u8) -> SignerKey {
        SignerKey::from_seed(
            "log.test/taglog".parse().unwrap(),
            KeyType::Ed25519,
            [seed; 32],
        )
    }

    /// As [`Server::start`], with witnesses (vkey, url) that must all cosign.
    pub fn start_with(
        seed: u8,
        publishers: &[(String, String)],
        witnesses: &[(String, String)],
    ) -> Server {
        Server::start_opts(
            seed,
            publishers,
            witnesses,
            &["--commit-timeout", "10s"],
            true,
        )
    }

    /// The general form: extra flags, and whether to wait for a served checkpoint (a server
    /// whose witnesses are down never serves one).
    pub fn start_opts(
        seed: u8,
        publishers: &[(String, String)],
        witnesses: &[(String, String)],
        extra: &[&str],
        wait_checkpoint: bool,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log_key = SignerKey::from_seed(
            "log.test/taglog".parse().unwrap(),
            KeyType::Ed25519,
            [seed; 32],
        );
        write_key(&dir.path().join("log.key"), &log_key);
        let allow: String = publishers
            .iter()
            .map(|(p, k)| format!("publisher {p} {k}\n"))
            .collect();
        std::fs::write(dir.path().join("publishers"), allow).unwrap();
        let port = free_port();
        let bin = server_bin();
        assert!(
            bin.exists(),
            "taglog-server binary not found at {} (build it with `cargo build -p taglog-server`, or set TAGLOG_SERVER_BIN)",
            bin.display()
        );
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(&bin);
        for (vkey, url) in witnesses {
            cmd.arg("--witness").arg(vkey).arg(url);
        }
        let child = cmd
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--key")
            .arg(dir.path().join("log.key"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--publishers")
            .arg(dir.path().join("publishers"))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut proc = Proc {
            child,
            name: "taglog-server",
            log,
        };
        let want_checkpoint = move |s: u16| s == 200 || !wait_checkpoint;
        wait_http(
            &format!("http://127.0.0.1:{port}/checkpoint"),
            want_checkpoint,
            &mut proc,
        );
        Server {
            dir,
            port,
            log_key,
            proc,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn vkey(&self) -> String {
        self.log_key.verifier().to_string()
    }
}

pub fn witness_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("TAGLOG_WITNESS_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("taglog-witness")
}

/// A real taglog-witness for one log.
pub struct Witness {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub key: SignerKey,
    pub proc: Proc,
}

impl Witness {
    pub fn start(seed: u8, name: &str, log_vkey: &str) -> Witness {
        Self::start_with(seed, name, log_vkey, &[])
    }

    /// Started with extra flags (e.g. `--audit --log-url ORIGIN=URL`).
    pub fn start_with(seed: u8, name: &str, log_vkey: &str, extra: &[String]) -> Witness {
        let dir = tempfile::tempdir().unwrap();
        let key = SignerKey::from_seed(name.parse().unwrap(), KeyType::Cosignature, [seed; 32]);
        write_key(&dir.path().join("witness.key"), &key);
        let port = free_port();
        let bin = witness_bin();
        assert!(
            bin.exists(),
            "taglog-witness binary not found at {}",
            bin.display()
        );
        let log = dir.path().join("witness.log");
        let child = Command::new(&bin)
            .arg("--key")
            .arg(dir.path().join("witness.key"))
            .arg("--log")
            .arg(log_vkey)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut proc = Proc {
            child,
            name: "taglog-witness",
            log,
        };
        // Any HTTP answer means it listens.
        wait_http(&format!("http://127.0.0.1:{port}/"), |_| true, &mut proc);
        Witness {
            dir,
            port,
            key,
            proc,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn vkey(&self) -> String {
        self.key.verifier().to_string()
    }

    /// `POST /add-checkpoint`: (status, body).
    pub fn add_checkpoint(&self, body: Vec<u8>) -> (u16, String) {
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/add-checkpoint", self.url()))
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().unwrap_or_default())
    }
}

/// Output of one `taglog` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, 0, "expected success:\n{self:?}");
        self
    }

    pub fn code(&self, c: i32) -> &Run {
        assert_eq!(self.code, c, "expected exit {c}:\n{self:?}");
        self
    }

    pub fn stderr_has(&self, s: &str) -> &Run {
        assert!(self.stderr.contains(s), "stderr lacks {s:?}:\n{self:?}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// A client environment: a policy file and a state directory.
pub struct Client {
    pub dir: tempfile::TempDir,
    pub policy: PathBuf,
    pub state: PathBuf,
}

impl Client {
    pub fn new(policy_text: &str) -> Client {
        let dir = tempfile::tempdir().unwrap();
        let policy = dir.path().join("policy");
        std::fs::write(&policy, policy_text).unwrap();
        let state = dir.path().join("state");
        Client { dir, policy, state }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs with the (debug build's) clock set to `now` (`TAGLOG_TEST_NOW`).
    pub fn run_at(&self, now: &str, args: &[&str]) -> Run {
        self.run_env(args, &[("TAGLOG_TEST_NOW", now)])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_taglog"));
        cmd.arg("--policy")
            .arg(&self.policy)
            .arg("--state-dir")
            .arg(&self.state)
            .args(args)
            // Credentials come only from what a test puts in its own directory.
            .env("HOME", self.dir.path())
            .env_remove("TAGLOG_REGISTRY_HOST")
            .env_remove("TAGLOG_REGISTRY_USER")
            .env_remove("TAGLOG_REGISTRY_PASSWORD")
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("TAGLOG_TEST_NOW")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn state_bytes(&self) -> Vec<u8> {
        std::fs::read(self.state.join("state.json")).unwrap_or_default()
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fake HTTP server answering each request with `answer(request head)` (raw response
/// bytes); for registry behaviour the real registry cannot produce. Returns its port.
pub fn fake_http_with(answer: impl Fn(&str) -> Vec<u8> + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = s.write_all(&answer(&head));
            let _ = s.flush();
        }
    });
    port
}

/// A fake HTTP server answering every request with `response` (raw bytes). Returns its port.
pub fn fake_http(response: Vec<u8>) -> u16 {
    fake_http_with(move |_| response.clone())
}

/// One request as a [`Recorder`] received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server on loopback that records every request it receives and answers each with
/// `answer(request)` (raw response bytes): a registry or token endpoint that behaves as a
/// hostile one would, and proves what a client sent it.
pub struct Recorder {
    pub port: u16,
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub fn start(answer: impl Fn(&Recorded) -> Vec<u8> + Send + 'static) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 65536 {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split(' ');
                let req = Recorded {
                    method: first.next().unwrap_or("").to_string(),
                    target: first.next().unwrap_or("").to_string(),
                    headers: lines
                        .take_while(|l| !l.is_empty())
                        .filter_map(|l| l.split_once(':'))
                        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect(),
                };
                let resp = answer(&req);
                log.lock().unwrap().push(req);
                let _ = s.write_all(&resp);
                let _ = s.flush();
            }
        });
        Recorder { port, seen }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

/// A raw HTTP response with `Connection: close`.
pub fn http_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}
