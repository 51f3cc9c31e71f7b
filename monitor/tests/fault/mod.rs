//! Test support for the monitor: a builder of (mis)behaving taglog logs made with the
//! `proofs` crate, and a tiny static HTTP server whose files a test can change between polls.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint};
use taglog_proofs::hash::{leaf_hash, sha256, Hash};
use taglog_proofs::leaves::{PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::map::{MapValue, SparseMap};
use taglog_proofs::note::{KeyName, KeyType, SignerKey, VerifierKey};
use taglog_proofs::refs::{RefPrefix, TagRef};
use taglog_proofs::tiles::{encode_entry_bundle, TileKind, TilePath};
use taglog_proofs::tree::MemoryTree;

pub const ORIGIN: &str = "log.test/taglog";
pub const T0: u64 = 1_764_000_000;

pub fn key(name: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(
        name.parse::<KeyName>().unwrap(),
        KeyType::Ed25519,
        [seed; 32],
    )
}

pub fn digest(n: u64) -> DigestValue {
    format!("sha256:{}", hex::encode(sha256(&n.to_be_bytes()).0))
        .parse()
        .unwrap()
}

/// A log built entry by entry. It never checks anything: tests make it misbehave.
pub struct LogBuilder {
    pub log_key: SignerKey,
    pub publisher: SignerKey,
    pub entries: Vec<Vec<u8>>,
    pub tree: MemoryTree,
    map: SparseMap,
    versions: BTreeMap<String, u64>,
    pub time: u64,
    /// Signed checkpoints by size.
    pub checkpoints: BTreeMap<u64, Vec<u8>>,
}

impl LogBuilder {
    /// A log whose first leaf admits `publisher` for `registry.test/acme`.
    pub fn new() -> LogBuilder {
        let mut b = LogBuilder {
            log_key: key(ORIGIN, 1),
            publisher: key("publisher.test", 2),
            entries: Vec::new(),
            tree: MemoryTree::new(),
            map: SparseMap::new(),
            versions: BTreeMap::new(),
            time: T0,
            checkpoints: BTreeMap::new(),
        };
        let p = b.publisher.verifier();
        b.admit("registry.test/acme", &p);
        b
    }

    pub fn vkey(&self) -> VerifierKey {
        self.log_key.verifier()
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    pub fn push(&mut self, entry: Vec<u8>) -> u64 {
        let i = self.tree.append(&entry).unwrap();
        self.entries.push(entry);
        i
    }

    pub fn admit(&mut self, prefix: &str, key: &VerifierKey) -> u64 {
        self.change(PublisherChange::Add, prefix, key)
    }

    pub fn remove(&mut self, prefix: &str, key: &VerifierKey) -> u64 {
        self.change(PublisherChange::Remove, prefix, key)
    }

    pub fn change(&mut self, change: PublisherChange, prefix: &str, key: &VerifierKey) -> u64 {
        self.time += 1;
        let leaf = PublisherLeaf {
            change,
            prefix: prefix.parse::<RefPrefix>().unwrap(),
            key: key.clone(),
            time: self.time,
        };
        self.push(leaf.to_text().into_bytes())
    }

    /// A binding signed by `key`, with an explicit version; the map follows it.
    pub fn bind_signed(
        &mut self,
        reference: &str,
        digest: DigestValue,
        version: u64,
        time: u64,
        key: &SignerKey,
    ) -> u64 {
        let b = Binding {
            log: ORIGIN.to_owned(),
            reference: reference.parse::<TagRef>().unwrap(),
            digest,
            version,
            time,
        };
        let entry = sign_binding(&b, key).unwrap();
        self.push_binding(&b, entry)
    }

    /// Appends a binding entry (possibly corrupted) and updates the map as the log would.
    pub fn push_binding(&mut self, b: &Binding, entry: Vec<u8>) -> u64 {
        let lh = leaf_hash(&entry);
        let i = self.push(entry);
        self.map
            .insert(
                b.reference.key(),
                MapValue {
                    index: i,
                    version: b.version,
                    leaf_hash: lh,
                },
            )
            .unwrap();
        self.versions
            .insert(b.reference.as_str().to_owned(), b.version);
        i
    }

    /// The next honest binding of `reference` (version previous + 1, or 1).
    pub fn bind(&mut self, reference: &str, digest: DigestValue) -> u64 {
        let v = self.versions.get(reference).map_or(1, |v| v + 1);
        let key = self.publisher.clone();
        self.bind_signed(reference, digest, v, self.time, &key)
    }

    pub fn map_root(&self) -> Hash {
        self.map.root()
    }

    /// A state leaf claiming `map_root` (None: the true root).
    pub fn state_with(&mut self, map_root: Option<Hash>) -> u64 {
        self.time += 1;
        let s = StateLeaf {
            size: self.size(),
            map_root: map_root.unwrap_or_else(|| self.map.root()),
            time: self.time,
        };
        self.push(s.to_text().into_bytes())
    }

    /// An honest state leaf, then a signed checkpoint; returns the size.
    pub fn commit(&mut self) -> u64 {
        self.state_with(None);
        self.sign()
    }

    /// Signs a checkpoint at the current size.
    pub fn sign(&mut self) -> u64 {
        let size = self.size();
        let cp = Checkpoint::new(ORIGIN, size, self.tree.root()).unwrap();
        self.checkpoints
            .insert(size, sign_checkpoint(&cp, &self.log_key).unwrap());
        size
    }

    /// A checkpoint of `size` with an arbitrary root, signed by the log key.
    pub fn sign_other(&self, size: u64, root: Hash) -> Vec<u8> {
        let cp = Checkpoint::new(ORIGIN, size, root).unwrap();
        sign_checkpoint(&cp, &self.log_key).unwrap()
    }

    /// The static files of the log as published at `size` (every earlier checkpoint size
    /// keeps its partial bundles, as C2SP requires): `checkpoint` and `tile/entries/...`.
    pub fn files(&self, size: u64) -> HashMap<String, Vec<u8>> {
        let mut files = HashMap::new();
        files.insert("checkpoint".to_owned(), self.checkpoints[&size].clone());
        for (&s, _) in self.checkpoints.range(..=size) {
            self.bundles_at(s, &mut files);
        }
        files
    }

    fn bundles_at(&self, size: u64, files: &mut HashMap<String, Vec<u8>>) {
        let mut n = 0u64;
        while n * 256 < size {
            let end = size.min(n * 256 + 256);
            let width = u16::try_from(end - n * 256).unwrap();
            let tile = TilePath::new(TileKind::Entries, n, width).unwrap();
            let entries: Vec<&[u8]> = self.entries[(n * 256) as usize..end as usize]
                .iter()
                .map(Vec::as_slice)
                .collect();
            files.insert(tile.to_path(), encode_entry_bundle(&entries).unwrap());
            n += 1;
        }
    }
}

/// Path of a witness's checkpoint for ORIGIN.
pub fn witness_path() -> String {
    format!("{}/checkpoint", hex::encode(sha256(ORIGIN.as_bytes()).0))
}

type Files = Arc<RwLock<HashMap<String, Vec<u8>>>>;
type Posts = Arc<RwLock<Vec<(String, Vec<u8>)>>>;

/// A static file server on a loopback port; it also records POST bodies (a webhook).
pub struct StaticServer {
    pub addr: SocketAddr,
    files: Files,
    posts: Posts,
    task: tokio::task::JoinHandle<()>,
}

async fn record(
    State((_, posts)): State<(Files, Posts)>,
    Path(path): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    posts.write().unwrap().push((path, body.to_vec()));
    StatusCode::OK
}

async fn serve_file(
    State((files, _)): State<(Files, Posts)>,
    Path(path): Path<String>,
) -> impl IntoResponse {
    match files.read().unwrap().get(&path) {
        Some(b) => (StatusCode::OK, b.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl StaticServer {
    pub async fn start(files: HashMap<String, Vec<u8>>) -> StaticServer {
        let files: Files = Arc::new(RwLock::new(files));
        let posts: Posts = Arc::default();
        let app = Router::new()
            .route("/{*path}", axum::routing::get(serve_file).post(record))
            .with_state((files.clone(), posts.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        StaticServer {
            addr,
            files,
            posts,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_all(&self, files: HashMap<String, Vec<u8>>) {
        *self.files.write().unwrap() = files;
    }

    pub fn set(&self, path: &str, bytes: Vec<u8>) {
        self.files.write().unwrap().insert(path.to_owned(), bytes);
    }

    pub fn posts(&self) -> Vec<(String, Vec<u8>)> {
        self.posts.read().unwrap().clone()
    }

    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.files.read().unwrap().get(path).cloned()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads every file under `dir` into a path → bytes map (paths relative, with `/`).
pub fn read_dir_files(dir: &std::path::Path) -> HashMap<String, Vec<u8>> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut HashMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = HashMap::new();
    walk(dir, dir, &mut out);
    out
}
