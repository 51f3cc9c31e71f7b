//! In-memory map storage: [`MemoryMapStore`] keeps every version until pruned, and
//! [`SparseMap`] is the map a monitor or a test replays, keeping only its newest version.
//!
//! Both go through [`super::update`] and [`super::prove`], the same code the server runs over
//! RocksDB, so roots and proofs are identical on every path.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::hash::Hash;

use super::group::{NodeGroup, NodeKey};
use super::proof::{MapProof, Terminal};
use super::store::{self, Fetch, MapStore, MapStoreError, MapUpdate};
use super::MapValue;

/// A fast hasher for node keys. Their paths are prefixes of SHA-256 outputs, so a simple
/// multiply-rotate mix spreads them well; nothing here is exposed to chosen-hash flooding
/// beyond grinding SHA-256 prefixes, which buys an attacker only a few bits.
#[derive(Default)]
struct NodeKeyHasher(u64);

impl Hasher for NodeKeyHasher {
    fn finish(&self) -> u64 {
        // splitmix64 finalizer
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w.iter_mut().zip(chunk).for_each(|(d, s)| *d = *s);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(23) ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

type Groups = HashMap<NodeKey, NodeGroup, BuildHasherDefault<NodeKeyHasher>>;

/// Node groups in a hash map: every written version stays readable until pruned.
#[derive(Clone, Debug, Default)]
pub struct MemoryMapStore {
    groups: Groups,
}

/// Moves the base version's groups out of the map: used when only the newest version is kept.
struct Owned<'m>(&'m mut Groups);

impl Fetch for Owned<'_> {
    fn fetch(&mut self, key: NodeKey) -> Result<NodeGroup, MapStoreError> {
        self.0.remove(&key).ok_or(MapStoreError::MissingNode(key))
    }
}

impl MapStore for MemoryMapStore {
    fn get_group(&self, key: &NodeKey) -> Result<Option<Cow<'_, NodeGroup>>, MapStoreError> {
        Ok(self.groups.get(key).map(Cow::Borrowed))
    }
}

impl MemoryMapStore {
    /// An empty store.
    pub fn new() -> MemoryMapStore {
        MemoryMapStore::default()
    }

    /// Stores the groups of an update (the in-memory counterpart of the server's write batch).
    pub fn write(&mut self, writes: Vec<(NodeKey, NodeGroup)>) {
        self.groups.extend(writes);
    }

    /// Removes groups, typically an earlier update's [`MapUpdate::stale`] list once no
    /// retained version needs them.
    pub fn prune(&mut self, keys: &[NodeKey]) {
        for k in keys {
            self.groups.remove(k);
        }
    }

    /// Number of stored groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }
}

/// An in-memory tag map holding only its newest version.
#[derive(Clone, Debug, Default)]
pub struct SparseMap {
    store: MemoryMapStore,
    version: Option<u64>,
    root: Hash,
    len: u64,
}

impl SparseMap {
    /// The empty map (root = 32 zero bytes).
    pub fn new() -> SparseMap {
        SparseMap::default()
    }

    /// Sets every `(key, value)` of the batch (later pairs for one key win) and returns the
    /// new root. This runs the same update as [`super::update`], but moves the old version's
    /// groups instead of copying them, so stale groups are gone at once.
    ///
    /// # Errors
    /// Only if the in-memory groups are inconsistent, which is a bug; the map is then unusable.
    pub fn insert_batch(&mut self, batch: &[(Hash, MapValue)]) -> Result<Hash, MapStoreError> {
        let next = self.version.map_or(0, |v| v.saturating_add(1));
        let MapUpdate {
            version,
            root,
            writes,
            new_keys,
            ..
        } = store::update_from(Owned(&mut self.store.groups), self.version, next, batch)?;
        self.store.write(writes);
        self.version = Some(version);
        self.root = root;
        self.len = self.len.saturating_add(new_keys);
        Ok(root)
    }

    /// Sets one key; see [`SparseMap::insert_batch`].
    ///
    /// # Errors
    /// As [`SparseMap::insert_batch`].
    pub fn insert(&mut self, key: Hash, value: MapValue) -> Result<Hash, MapStoreError> {
        self.insert_batch(&[(key, value)])
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of `key`, if present.
    ///
    /// # Errors
    /// Only if the in-memory groups are inconsistent, which is a bug.
    pub fn get(&self, key: &Hash) -> Result<Option<MapValue>, MapStoreError> {
        match self.version {
            None => Ok(None),
            Some(v) => store::get(&self.store, v, key),
        }
    }

    /// The §3.6 proof for `key` against [`SparseMap::root`].
    ///
    /// # Errors
    /// Only if the in-memory groups are inconsistent, which is a bug.
    pub fn prove(&self, key: &Hash) -> Result<MapProof, MapStoreError> {
        match self.version {
            None => Ok(MapProof {
                depth: 0,
                bitmap: Vec::new(),
                siblings: Vec::new(),
                terminal: Terminal::Empty,
            }),
            Some(v) => store::prove(&self.store, v, key),
        }
    }

    /// Number of node groups held (a memory-use figure).
    pub fn group_count(&self) -> usize {
        self.store.group_count()
    }
}
