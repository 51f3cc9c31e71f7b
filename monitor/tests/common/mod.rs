//! Shared harness for tests that drive the real `taglog-witness` binary over loopback HTTP.
#![allow(dead_code)]

pub mod tiles;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint};
use taglog_proofs::consistency::consistency_proof;
use taglog_proofs::hash::Hash;
use taglog_proofs::note::{KeyType, SignerKey, VerifierKey};
use taglog_proofs::tree::MemoryTree;
use taglog_proofs::witness::AddCheckpointRequest;

pub const BIN: &str = env!("CARGO_BIN_EXE_taglog-witness");

/// A running witness process; killed on drop.
pub struct WitnessProc {
    pub child: Child,
    pub url: String,
    pub stderr_path: PathBuf,
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl WitnessProc {
    /// Starts the binary with `args` (plus `--listen 127.0.0.1:0`) and waits for its address.
    pub fn start(dir: &Path, args: &[String]) -> WitnessProc {
        let mut all = args.to_vec();
        all.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
        WitnessProc::start_exact(dir, &all)
    }

    /// Starts the binary with exactly `args` and waits for its address.
    pub fn start_exact(dir: &Path, args: &[String]) -> WitnessProc {
        let stderr_path = dir.join(format!("stderr-{}", rand_suffix()));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.wait();
            let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("witness did not start: stdout {line:?}, stderr {err}");
        };
        WitnessProc {
            url: format!("http://{addr}"),
            child,
            stderr_path,
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into()
}

/// Runs `taglog-witness --init` and returns the witness vkey.
pub fn init_key(path: &Path, name: &str) -> VerifierKey {
    let out = Command::new(BIN)
        .args(["--init", "--name", name, "--key"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// A log built in memory with a signing key.
pub struct TestLog {
    pub key: SignerKey,
    pub tree: MemoryTree,
}

impl TestLog {
    pub fn new(origin: &str, seed: u8) -> TestLog {
        TestLog {
            key: SignerKey::from_seed(origin.parse().unwrap(), KeyType::Ed25519, [seed; 32]),
            tree: MemoryTree::new(),
        }
    }

    pub fn origin(&self) -> String {
        self.key.name().to_string()
    }

    pub fn vkey(&self) -> String {
        self.key.verifier().to_string()
    }

    pub fn append_n(&mut self, n: usize, tag: &str) {
        for i in 0..n {
            self.tree
                .append(format!("{tag} entry {}", self.tree.size() + i as u64).as_bytes())
                .unwrap();
        }
    }

    pub fn checkpoint(&self, size: u64) -> Checkpoint {
        Checkpoint::new(&self.origin(), size, self.tree.root_at(size).unwrap()).unwrap()
    }

    pub fn signed(&self, size: u64) -> Vec<u8> {
        sign_checkpoint(&self.checkpoint(size), &self.key).unwrap()
    }

    /// A well-formed add-checkpoint body from `old` to `new`.
    pub fn request(&self, old: u64, new: u64) -> Vec<u8> {
        let proof = if old == 0 {
            vec![]
        } else {
            consistency_proof(old, new, &self.tree).unwrap()
        };
        body(old, proof, self.signed(new))
    }
}

pub fn body(old: u64, proof: Vec<Hash>, checkpoint: Vec<u8>) -> Vec<u8> {
    AddCheckpointRequest {
        old_size: old,
        proof,
        checkpoint,
    }
    .to_bytes()
}

/// A response: status, content type and body.
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

pub fn post(url: &str, body: Vec<u8>) -> Resp {
    let r = client()
        .post(format!("{url}/add-checkpoint"))
        .body(body)
        .send()
        .unwrap();
    to_resp(r)
}

pub fn get(url: &str) -> Resp {
    to_resp(client().get(url).send().unwrap())
}

fn to_resp(mut r: reqwest::blocking::Response) -> Resp {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let mut body = Vec::new();
    r.read_to_end(&mut body).unwrap();
    Resp {
        status,
        content_type,
        body,
    }
}

pub fn now() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
