//! Helpers for the log scenarios (S7–S9): the real `taglog-monitor` binary run with `--once`,
//! an auditing `taglog-witness`, and a crafted log (built leaf by leaf with `proofs`) that
//! serves `/checkpoint`, its entry tiles and `/lookup` over loopback HTTP, so a log can lie in
//! ways the real server never would.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::bundle::{Bundle, LeafProof, MapMember, Status};
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint};
use taglog_proofs::consistency::consistency_proof;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::inclusion::inclusion_proof;
use taglog_proofs::leaves::{PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::map::{MapValue, SparseMap};
use taglog_proofs::note::{KeyType, SignerKey};
use taglog_proofs::refs::TagRef;
use taglog_proofs::tiles::{encode_entry_bundle, TileKind, TilePath};
use taglog_proofs::tree::MemoryTree;
use taglog_proofs::witness::AddCheckpointRequest;

use super::now;

fn bin(name: &str, env_var: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        p.exists(),
        "{name} not found at {} (build it with `cargo build --workspace --bins`, or set {env_var})",
        p.display()
    );
    p
}

pub fn monitor_bin() -> PathBuf {
    bin("taglog-monitor", "TAGLOG_MONITOR_BIN")
}

/// One `taglog-monitor --once` run: exit code, alerts (stdout JSON lines) and stderr.
#[derive(Debug)]
pub struct MonitorRun {
    pub code: i32,
    pub alerts: Vec<serde_json::Value>,
    pub stdout: String,
    pub stderr: String,
}

impl MonitorRun {
    /// The alerts of `kind`.
    pub fn of_kind(&self, kind: &str) -> Vec<&serde_json::Value> {
        self.alerts.iter().filter(|a| a["kind"] == kind).collect()
    }

    /// Asserts exit 1 and at least one alert of `kind`; returns the first.
    pub fn alerted(&self, kind: &str) -> &serde_json::Value {
        assert_eq!(self.code, 1, "monitor should exit 1 (alert):\n{self:#?}");
        let found = self.of_kind(kind);
        assert!(!found.is_empty(), "no {kind:?} alert:\n{self:#?}");
        found[0]
    }
}

/// A monitor state directory; `once` runs the binary with `--once` against it.
pub struct Monitor {
    pub dir: tempfile::TempDir,
    pub log_url: String,
    pub log_vkey: String,
}

impl Monitor {
    pub fn new(log_url: &str, log_vkey: &str) -> Monitor {
        Monitor {
            dir: taglog_testkit::tempdir(),
            log_url: log_url.to_string(),
            log_vkey: log_vkey.to_string(),
        }
    }

    pub fn once(&self, extra: &[&str]) -> MonitorRun {
        let out = Command::new(monitor_bin())
            .arg("--once")
            .arg("--log")
            .arg(&self.log_url)
            .arg("--log-key")
            .arg(&self.log_vkey)
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let alerts = stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("alert not JSON ({e}): {l}"))
            })
            .collect();
        MonitorRun {
            code: out.status.code().unwrap_or(-1),
            alerts,
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// A loopback HTTP server answering GETs from a path → body table; any `/lookup?...` is
/// answered with the file stored as `lookup`. Stops accepting on drop.
pub struct FileServer {
    pub url: String,
    files: Files,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl FileServer {
    pub fn start() -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let files: Files = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (Arc::clone(&files), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let f = Arc::clone(&f);
                    std::thread::spawn(move || serve(conn, &f));
                }
            }
        });
        FileServer {
            url: format!("http://{addr}"),
            files,
            stop,
            addr,
        }
    }

    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_owned(), bytes);
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut conn: TcpStream, files: &Files) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req);
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let path = target.trim_start_matches('/');
    let key = if path.starts_with("lookup?") || path == "lookup" {
        "lookup"
    } else {
        path
    };
    let body = files.lock().unwrap().get(key).cloned();
    let (status, ctype, body) = match body {
        Some(b) => ("200 OK", "application/octet-stream", b),
        None => (
            "404 Not Found",
            "application/json",
            br#"{"error":"not-found","detail":"not found"}"#.to_vec(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: {ctype}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}

/// A taglog log built leaf by leaf with `proofs`. `map` is what the log claims in its state
/// leaves and proves in `/lookup`; `true_map` is what the bindings really say.
pub struct CraftedLog {
    pub key: SignerKey,
    pub tree: MemoryTree,
    pub entries: Vec<Vec<u8>>,
    pub map: SparseMap,
    pub true_map: SparseMap,
    pub time: u64,
}

impl CraftedLog {
    pub fn new(origin: &str, seed: u8) -> CraftedLog {
        CraftedLog {
            key: SignerKey::from_seed(origin.parse().unwrap(), KeyType::Ed25519, [seed; 32]),
            tree: MemoryTree::new(),
            entries: Vec::new(),
            map: SparseMap::new(),
            true_map: SparseMap::new(),
            // Log time close to now, so checkpoints are fresh for clients and monitors.
            time: now() - 60,
        }
    }

    pub fn origin(&self) -> String {
        self.key.name().to_string()
    }

    pub fn vkey(&self) -> String {
        self.key.verifier().to_string()
    }

    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    fn push(&mut self, entry: Vec<u8>) -> u64 {
        self.tree.append(&entry).unwrap();
        self.entries.push(entry);
        self.size() - 1
    }

    pub fn add_publisher(&mut self, prefix: &str, key: &SignerKey) {
        self.time += 1;
        let leaf = PublisherLeaf {
            change: PublisherChange::Add,
            prefix: prefix.parse().unwrap(),
            key: key.verifier(),
            time: self.time,
        };
        self.push(leaf.to_text().into_bytes());
    }

    /// Appends a binding; the claimed map follows it only if `honest`. Returns its index.
    pub fn bind(
        &mut self,
        key: &SignerKey,
        reference: &str,
        digest: [u8; 32],
        version: u64,
        honest: bool,
    ) -> u64 {
        let reference: TagRef = reference.parse().unwrap();
        let binding = Binding {
            log: self.origin(),
            reference: reference.clone(),
            digest: DigestValue::Sha256(digest),
            version,
            time: self.time,
        };
        let entry = sign_binding(&binding, key).unwrap();
        let value = MapValue {
            index: self.size(),
            version,
            leaf_hash: leaf_hash(&entry),
        };
        let index = self.push(entry);
        self.true_map.insert(reference.key(), value).unwrap();
        if honest {
            self.map.insert(reference.key(), value).unwrap();
        }
        index
    }

    /// Appends a state leaf carrying the claimed map's root.
    pub fn state(&mut self) {
        self.time += 1;
        let leaf = StateLeaf {
            size: self.size(),
            map_root: self.map.root(),
            time: self.time,
        };
        self.push(leaf.to_text().into_bytes());
    }

    pub fn signed(&self, size: u64) -> Vec<u8> {
        let cp = Checkpoint::new(&self.origin(), size, self.tree.root_at(size).unwrap()).unwrap();
        sign_checkpoint(&cp, &self.key).unwrap()
    }

    /// An add-checkpoint request from `old` to `new`.
    pub fn request(&self, old: u64, new: u64) -> Vec<u8> {
        let proof = if old == 0 {
            vec![]
        } else {
            consistency_proof(old, new, &self.tree).unwrap()
        };
        AddCheckpointRequest {
            old_size: old,
            proof,
            checkpoint: self.signed(new),
        }
        .to_bytes()
    }

    fn leaf(&self, index: u64, size: u64) -> LeafProof {
        LeafProof {
            index,
            entry: self.entries[usize::try_from(index).unwrap()].clone(),
            inclusion: inclusion_proof(index, size, &self.tree).unwrap(),
        }
    }

    /// The `/lookup` answer for `reference` at the current size, proven against the claimed
    /// map, with `checkpoint` (the signed note plus any cosignatures).
    pub fn lookup(&self, reference: &str, checkpoint: Vec<u8>) -> Vec<u8> {
        let size = self.size();
        let reference: TagRef = reference.parse().unwrap();
        let key: Hash = reference.key();
        let value = self.map.get(&key).unwrap().expect("ref is bound");
        Bundle {
            reference,
            status: Status::Bound,
            checkpoint,
            state: self.leaf(size - 1, size),
            map: MapMember {
                proof: self.map.prove(&key).unwrap(),
            },
            binding: Some(self.leaf(value.index, size)),
            consistency: None,
        }
        .to_json()
        .into_bytes()
    }

    /// Serves the checkpoint note, `/lookup`, and the entry tiles of every size up to the
    /// current one (a reader at an older checkpoint asks for that size's partial bundle).
    pub fn serve(&self, server: &FileServer, checkpoint: &[u8], lookup: Vec<u8>) {
        for size in 1..=self.entries.len() {
            for (n, chunk) in self.entries[..size].chunks(256).enumerate() {
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                let tile = TilePath::new(
                    TileKind::Entries,
                    n as u64,
                    u16::try_from(chunk.len()).unwrap(),
                )
                .unwrap();
                server.put(&tile.to_path(), encode_entry_bundle(&refs).unwrap());
            }
        }
        server.put("checkpoint", checkpoint.to_vec());
        server.put("lookup", lookup);
    }
}
