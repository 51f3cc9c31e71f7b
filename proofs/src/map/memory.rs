//! In-memory map storage: [`MemoryMapStore`] keeps every version until pruned, and
//! [`SparseMap`] is the map a monitor or a test replays, keeping only its newest version.
//!
//! Both go through [`super::update`] and [`super::prove`], the same code the server runs over
//! RocksDB, so roots and proofs are identical on every path.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::hash::Hash;

use super::group::{NodeGroup, NodeKey};
use super::proof::{MapProof, Terminal};
use super::store::{self, MapStore, MapStoreError, MapUpdate};
use super::MapValue;

/// Node groups in a hash map: every written version stays readable until pruned.
#[derive(Clone, Debug, Default)]
pub struct MemoryMapStore {
    groups: HashMap<NodeKey, NodeGroup>,
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
    /// new root. Stale groups are dropped at once.
    ///
    /// # Errors
    /// Only if the in-memory groups are inconsistent, which is a bug.
    pub fn insert_batch(&mut self, batch: &[(Hash, MapValue)]) -> Result<Hash, MapStoreError> {
        let next = self.version.map_or(0, |v| v.saturating_add(1));
        let MapUpdate {
            version,
            root,
            writes,
            stale,
            new_keys,
        } = store::update(&self.store, self.version, next, batch)?;
        self.store.write(writes);
        self.store.prune(&stale);
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
