//! A tiny static HTTP file server (std only) and a builder of taglog logs served through it.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::leaves::{PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::map::{MapValue, SparseMap};
use taglog_proofs::note::{KeyType, SignerKey};
use taglog_proofs::refs::TagRef;
use taglog_proofs::tiles::{encode_entry_bundle, TileKind, TilePath};

use super::TestLog;

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// Serves `files` (path without the leading `/`) over HTTP/1.1 on a loopback port.
pub struct TileServer {
    pub url: String,
    files: Files,
    stop: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    addr: std::net::SocketAddr,
}

impl TileServer {
    pub fn start() -> TileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let files: Files = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (f, s, d) = (Arc::clone(&files), Arc::clone(&stop), Arc::clone(&delay_ms));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let f = Arc::clone(&f);
                    let delay = d.load(Ordering::SeqCst);
                    std::thread::spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(delay));
                        serve(conn, &f);
                    });
                }
            }
        });
        TileServer {
            url: format!("http://{addr}"),
            files,
            stop,
            delay_ms,
            addr,
        }
    }

    /// Delays every later response by `ms` milliseconds.
    pub fn set_delay_ms(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_owned(), bytes);
    }

    pub fn clear(&self) {
        self.files.lock().unwrap().clear();
    }

    /// Serves every file under `dir` at its relative path.
    pub fn put_dir(&self, dir: &std::path::Path) {
        fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    let rel = p.strip_prefix(base).unwrap().to_str().unwrap().to_owned();
                    out.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        for (p, b) in out {
            self.put(&p, b);
        }
    }
}

impl Drop for TileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut conn: TcpStream, files: &Files) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req);
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_owned();
    let body = files.lock().unwrap().get(&path).cloned();
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found\n".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}

/// A taglog log built leaf by leaf with `proofs`: publisher leaves, signed bindings, state
/// leaves with the map root the log should claim (or a wrong one).
pub struct TaglogBuilder {
    pub log: TestLog,
    pub entries: Vec<Vec<u8>>,
    pub map: SparseMap,
    pub time: u64,
}

impl TaglogBuilder {
    pub fn new(origin: &str, seed: u8) -> TaglogBuilder {
        TaglogBuilder {
            log: TestLog::new(origin, seed),
            entries: Vec::new(),
            map: SparseMap::new(),
            time: 1_764_000_000,
        }
    }

    pub fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn push(&mut self, entry: Vec<u8>) -> u64 {
        self.log.tree.append(&entry).unwrap();
        self.entries.push(entry);
        self.size() - 1
    }

    pub fn publisher_key(seed: u8) -> SignerKey {
        SignerKey::from_seed(
            format!("publisher{seed}.test").parse().unwrap(),
            KeyType::Ed25519,
            [seed; 32],
        )
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

    /// Appends a binding and updates the map as an honest log would.
    pub fn bind(&mut self, key: &SignerKey, reference: &str, digest: u8, version: u64) -> u64 {
        let reference: TagRef = reference.parse().unwrap();
        let binding = Binding {
            log: self.log.origin(),
            reference: reference.clone(),
            digest: DigestValue::Sha256([digest; 32]),
            version,
            time: self.time,
        };
        let entry = sign_binding(&binding, key).unwrap();
        let lh = leaf_hash(&entry);
        let index = self.push(entry);
        self.map
            .insert(
                reference.key(),
                MapValue {
                    index,
                    version,
                    leaf_hash: lh,
                },
            )
            .unwrap();
        index
    }

    /// Appends a state leaf with the honest map root (or `map_root`) and time (or `time`).
    pub fn state_with(&mut self, map_root: Option<Hash>, time: Option<u64>) {
        self.time += 1;
        let leaf = StateLeaf {
            size: self.size(),
            map_root: map_root.unwrap_or_else(|| self.map.root()),
            time: time.unwrap_or(self.time),
        };
        self.push(leaf.to_text().into_bytes());
    }

    pub fn state(&mut self) {
        self.state_with(None, None);
    }

    /// Writes the entry bundles of the tree at `size` to `server`, as a tiles log does.
    pub fn publish(&self, server: &TileServer, size: u64) {
        let size = usize::try_from(size).unwrap();
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
}
