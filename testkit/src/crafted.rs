//! A taglog log built leaf by leaf in memory with `taglog-proofs`, for the misbehaviour the
//! real server never shows: it signs checkpoints, builds entry bundles, `/lookup` answers and
//! witness `add-checkpoint` requests, and serves them through a [`StaticServer`].
//!
//! It checks nothing: a test makes it lie. `map` is what the log claims (in its state leaves
//! and lookups) and `true_map` what its bindings say; [`CraftedLog::bind_hidden`] makes them
//! differ, [`CraftedLog::state_with`] claims any root or time, [`CraftedLog::push`] appends any
//! bytes, and `entries`/`tree` can be edited directly. Entry bundles follow C2SP
//! tlog-tiles (256 entries per bundle, partial bundles for every published size).

use std::collections::{BTreeMap, HashMap};

use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::bundle::{Bundle, LeafProof, MapMember, Status};
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint};
use taglog_proofs::consistency::consistency_proof;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::inclusion::inclusion_proof;
use taglog_proofs::leaves::{PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::map::{MapValue, SparseMap};
use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_proofs::refs::{RefPrefix, TagRef};
use taglog_proofs::tiles::{encode_entry_bundle, TileKind, TilePath};
use taglog_proofs::tree::MemoryTree;
use taglog_proofs::witness::AddCheckpointRequest;

use crate::bindings::T0;
use crate::keys;
use crate::static_server::{Files, StaticServer};

/// The origin of [`CraftedLog::admitting`].
pub const ORIGIN: &str = "log.test/taglog";
/// The prefix [`CraftedLog::admitting`] admits its publisher for.
pub const ADMITTED: &str = "registry.test/acme";

/// A log built in memory; see the module documentation.
pub struct CraftedLog {
    /// The log's signing key (its name is the origin).
    pub key: SignerKey,
    /// The key [`CraftedLog::bind`] signs with.
    pub publisher: SignerKey,
    /// The Merkle tree of `entries`.
    pub tree: MemoryTree,
    /// Every entry, in order.
    pub entries: Vec<Vec<u8>>,
    /// The map the log claims.
    pub map: SparseMap,
    /// The map its bindings really make.
    pub true_map: SparseMap,
    /// The time of the last leaf (leaves take `time + 1`).
    pub time: u64,
    /// The checkpoints signed with [`CraftedLog::sign`], by size.
    pub checkpoints: BTreeMap<u64, Vec<u8>>,
    versions: BTreeMap<String, u64>,
}

impl CraftedLog {
    /// An empty log of `origin` signing with [`keys::ed25519`]`(origin, seed)`, at time
    /// [`T0`]; its publisher key is `publisher.test` (seed 2), not yet admitted.
    #[must_use]
    pub fn new(origin: &str, seed: u8) -> CraftedLog {
        CraftedLog {
            key: keys::ed25519(origin, seed),
            publisher: keys::ed25519("publisher.test", 2),
            tree: MemoryTree::new(),
            entries: Vec::new(),
            map: SparseMap::new(),
            true_map: SparseMap::new(),
            time: T0,
            checkpoints: BTreeMap::new(),
            versions: BTreeMap::new(),
        }
    }

    /// A log of [`ORIGIN`] (seed 1) whose first leaf admits its publisher for [`ADMITTED`].
    #[must_use]
    pub fn admitting() -> CraftedLog {
        let mut log = CraftedLog::new(ORIGIN, 1);
        let p = log.publisher.verifier();
        log.admit(ADMITTED, &p);
        log
    }

    /// The origin (the log key's name).
    #[must_use]
    pub fn origin(&self) -> String {
        self.key.name().to_string()
    }

    /// The log's verifier key.
    #[must_use]
    pub fn verifier(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// The log's verifier key as text.
    #[must_use]
    pub fn vkey(&self) -> String {
        self.verifier().to_string()
    }

    /// The number of entries.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Appends any bytes as an entry; its index.
    ///
    /// # Panics
    /// When the tree refuses (it never does below 2^63 entries).
    pub fn push(&mut self, entry: Vec<u8>) -> u64 {
        let index = self.tree.append(&entry).expect("append to the tree");
        self.entries.push(entry);
        index
    }

    /// Appends `n` opaque entries (`"{tag} entry {k}"`), for witness tests of the tree alone.
    pub fn append_n(&mut self, n: usize, tag: &str) {
        for i in 0..n as u64 {
            let entry = format!("{tag} entry {}", self.tree.size() + i);
            self.push(entry.into_bytes());
        }
    }

    /// A publisher leaf admitting `key` for `prefix`; its index.
    pub fn admit(&mut self, prefix: &str, key: &VerifierKey) -> u64 {
        self.change(PublisherChange::Add, prefix, key)
    }

    /// A publisher leaf removing `key` from `prefix`; its index.
    pub fn remove(&mut self, prefix: &str, key: &VerifierKey) -> u64 {
        self.change(PublisherChange::Remove, prefix, key)
    }

    /// A publisher leaf; its index.
    ///
    /// # Panics
    /// When `prefix` is not a valid prefix.
    pub fn change(&mut self, change: PublisherChange, prefix: &str, key: &VerifierKey) -> u64 {
        self.time += 1;
        let leaf = PublisherLeaf {
            change,
            prefix: prefix
                .parse::<RefPrefix>()
                .unwrap_or_else(|e| panic!("prefix {prefix:?}: {e}")),
            key: key.clone(),
            time: self.time,
        };
        self.push(leaf.to_text().into_bytes())
    }

    fn binding(
        reference: &str,
        log: String,
        digest: DigestValue,
        version: u64,
        time: u64,
    ) -> Binding {
        Binding {
            log,
            reference: reference
                .parse::<TagRef>()
                .unwrap_or_else(|e| panic!("reference {reference:?}: {e}")),
            digest,
            version,
            time,
        }
    }

    /// The next binding of `reference` (its last version + 1, or 1), signed by `publisher`.
    pub fn bind(&mut self, reference: &str, digest: DigestValue) -> u64 {
        let version = self.versions.get(reference).map_or(1, |v| v + 1);
        let key = self.publisher.clone();
        self.bind_signed(reference, digest, version, self.time, &key)
    }

    /// A binding signed by `key` with an explicit version and time; both maps follow it.
    ///
    /// # Panics
    /// When `reference` is not canonical or signing fails.
    pub fn bind_signed(
        &mut self,
        reference: &str,
        digest: DigestValue,
        version: u64,
        time: u64,
        key: &SignerKey,
    ) -> u64 {
        let b = Self::binding(reference, self.origin(), digest, version, time);
        let entry = sign_binding(&b, key).expect("sign the binding");
        self.push_binding(&b, entry)
    }

    /// A binding that is logged (the true map follows it) while the claimed map keeps what it
    /// had: a log that lies about the current binding.
    ///
    /// # Panics
    /// When `reference` is not canonical or signing fails.
    pub fn bind_hidden(
        &mut self,
        reference: &str,
        digest: DigestValue,
        version: u64,
        key: &SignerKey,
    ) -> u64 {
        let b = Self::binding(reference, self.origin(), digest, version, self.time);
        let entry = sign_binding(&b, key).expect("sign the binding");
        let value = MapValue {
            index: self.size(),
            version,
            leaf_hash: leaf_hash(&entry),
        };
        let index = self.push(entry);
        self.true_map
            .insert(b.reference.key(), value)
            .expect("insert into the map");
        index
    }

    /// Appends a binding entry (possibly corrupted) for `b`; both maps follow `b`.
    ///
    /// # Panics
    /// When the map refuses the value.
    pub fn push_binding(&mut self, b: &Binding, entry: Vec<u8>) -> u64 {
        let value = MapValue {
            index: self.size(),
            version: b.version,
            leaf_hash: leaf_hash(&entry),
        };
        let index = self.push(entry);
        for map in [&mut self.map, &mut self.true_map] {
            map.insert(b.reference.key(), value)
                .expect("insert into the map");
        }
        self.versions
            .insert(b.reference.as_str().to_owned(), b.version);
        index
    }

    /// The claimed map's root.
    #[must_use]
    pub fn map_root(&self) -> Hash {
        self.map.root()
    }

    /// A state leaf claiming `map_root` (None: the claimed map's root) at `time` (None: the
    /// next time); its index.
    pub fn state_with(&mut self, map_root: Option<Hash>, time: Option<u64>) -> u64 {
        self.time += 1;
        let leaf = StateLeaf {
            size: self.size(),
            map_root: map_root.unwrap_or_else(|| self.map.root()),
            time: time.unwrap_or(self.time),
        };
        self.push(leaf.to_text().into_bytes())
    }

    /// A state leaf with the claimed map's root; its index.
    pub fn state(&mut self) -> u64 {
        self.state_with(None, None)
    }

    /// A state leaf, then a checkpoint signed at the new size; the size.
    pub fn commit(&mut self) -> u64 {
        self.state();
        self.sign()
    }

    /// Signs a checkpoint at the current size and keeps it in `checkpoints`; the size.
    pub fn sign(&mut self) -> u64 {
        let size = self.size();
        let note = self.signed(size);
        self.checkpoints.insert(size, note);
        size
    }

    /// The checkpoint of the tree at `size`.
    ///
    /// # Panics
    /// When `size` is larger than the tree.
    #[must_use]
    pub fn checkpoint(&self, size: u64) -> Checkpoint {
        let root = self.tree.root_at(size).expect("a size of the tree");
        Checkpoint::new(&self.origin(), size, root).expect("a checkpoint")
    }

    /// The signed checkpoint note of the tree at `size`.
    ///
    /// # Panics
    /// As [`CraftedLog::checkpoint`].
    #[must_use]
    pub fn signed(&self, size: u64) -> Vec<u8> {
        sign_checkpoint(&self.checkpoint(size), &self.key).expect("sign the checkpoint")
    }

    /// A checkpoint of `size` with an arbitrary `root`, signed by the log key (a fork).
    ///
    /// # Panics
    /// When signing fails.
    #[must_use]
    pub fn sign_other(&self, size: u64, root: Hash) -> Vec<u8> {
        let cp = Checkpoint::new(&self.origin(), size, root).expect("a checkpoint");
        sign_checkpoint(&cp, &self.key).expect("sign the checkpoint")
    }

    /// A well-formed `add-checkpoint` request from `old` to `new` (proof of consistency
    /// included unless `old` is 0).
    ///
    /// # Panics
    /// When a size is beyond the tree or `old > new`.
    #[must_use]
    pub fn request(&self, old: u64, new: u64) -> Vec<u8> {
        let proof = if old == 0 {
            vec![]
        } else {
            consistency_proof(old, new, &self.tree).expect("a consistency proof")
        };
        add_checkpoint_body(old, proof, self.signed(new))
    }

    fn leaf(&self, index: u64, size: u64) -> LeafProof {
        LeafProof {
            index,
            entry: self.entries[usize::try_from(index).expect("an index")].clone(),
            inclusion: inclusion_proof(index, size, &self.tree).expect("an inclusion proof"),
        }
    }

    /// The `/lookup` answer for `reference` at the current size (which must end in a state
    /// leaf), proven against the claimed map, carrying `checkpoint` (note plus cosignatures).
    ///
    /// # Panics
    /// When `reference` is not bound in the claimed map.
    #[must_use]
    pub fn lookup(&self, reference: &str, checkpoint: Vec<u8>) -> Vec<u8> {
        let size = self.size();
        let reference: TagRef = reference.parse().expect("a canonical reference");
        let key: Hash = reference.key();
        let value = self
            .map
            .get(&key)
            .expect("a map lookup")
            .expect("the reference is bound");
        Bundle {
            reference,
            status: Status::Bound,
            checkpoint,
            state: self.leaf(size - 1, size),
            map: MapMember {
                proof: self.map.prove(&key).expect("a map proof"),
            },
            binding: Some(self.leaf(value.index, size)),
            consistency: None,
        }
        .to_json()
        .into_bytes()
    }

    /// The entry bundles of the tree at `size`: (path, bytes), full bundles then the partial.
    ///
    /// # Panics
    /// When `size` is larger than the log.
    #[must_use]
    pub fn bundles(&self, size: u64) -> Vec<(String, Vec<u8>)> {
        let size = usize::try_from(size).expect("a size");
        self.entries[..size]
            .chunks(256)
            .enumerate()
            .map(|(n, chunk)| {
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                let width = u16::try_from(chunk.len()).expect("at most 256");
                let tile = TilePath::new(TileKind::Entries, n as u64, width).expect("a tile");
                (
                    tile.to_path(),
                    encode_entry_bundle(&refs).expect("an entry bundle"),
                )
            })
            .collect()
    }

    /// The static files of the log as published at `size`, a size it signed with
    /// [`CraftedLog::sign`]: `checkpoint`, and the entry bundles of every signed size up to it
    /// (earlier sizes keep their partial bundles, as C2SP requires).
    ///
    /// # Panics
    /// When no checkpoint was signed at `size`.
    #[must_use]
    pub fn files(&self, size: u64) -> Files {
        let mut files = HashMap::new();
        let note = self
            .checkpoints
            .get(&size)
            .expect("a checkpoint signed at size");
        files.insert("checkpoint".to_owned(), note.clone());
        for &s in self.checkpoints.range(..=size).map(|(s, _)| s) {
            files.extend(self.bundles(s));
        }
        files
    }

    /// Puts the entry bundles of the tree at `size` on `server`, as a tiles log publishes.
    pub fn publish(&self, server: &StaticServer, size: u64) {
        for (path, bytes) in self.bundles(size) {
            server.put(&path, bytes);
        }
    }

    /// Puts on `server`: `checkpoint`, `lookup` (answering any `/lookup?...`), and the entry
    /// bundles of every size up to the current one (a reader at an older checkpoint asks for
    /// that size's partial bundle).
    pub fn serve(&self, server: &StaticServer, checkpoint: &[u8], lookup: Vec<u8>) {
        for size in 1..=self.size() {
            self.publish(server, size);
        }
        server.put("checkpoint", checkpoint.to_vec());
        server.put("lookup", lookup);
    }
}

/// An `add-checkpoint` request body (C2SP tlog-witness).
#[must_use]
pub fn add_checkpoint_body(old: u64, proof: Vec<Hash>, checkpoint: Vec<u8>) -> Vec<u8> {
    AddCheckpointRequest {
        old_size: old,
        proof,
        checkpoint,
    }
    .to_bytes()
}
