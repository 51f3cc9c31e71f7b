//! The tag map as the rule book needs it ([`MapState`]), and an in-memory implementation
//! ([`MemoryMap`]).
//!
//! The [`super::Ledger`] keeps the bindings since the last state leaf in its own overlay and
//! hands them to [`MapState::apply`] once per state leaf, so an implementation only answers
//! committed lookups and applies sorted batches: the server implements it over its versioned
//! RocksDB map, the monitor and the witness over [`MemoryMap`], and a disk-backed monitor map
//! can implement it without touching the rules. Out of scope: map proofs (see
//! [`crate::map`]).

use std::collections::BTreeMap;

use crate::hash::Hash;
use crate::map::{MapStoreError, MapValue, SparseMap};

/// Committed tag-map state behind the ledger.
pub trait MapState {
    /// Why a lookup or an update failed (storage trouble; never a rule violation).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The value of `key` as of the last [`MapState::apply`] (the ledger adds its own pending
    /// updates on top).
    ///
    /// # Errors
    /// A storage failure.
    fn get(&self, key: &Hash) -> Result<Option<MapValue>, Self::Error>;

    /// Sets every `(key, value)` of `updates` (sorted by key, each key once) as map version
    /// `version` (the size of the checkpoint whose state leaf commits to it) and returns the
    /// new root. An empty batch returns the current root.
    ///
    /// # Errors
    /// A storage failure; the ledger then keeps its pending updates.
    fn apply(&mut self, version: u64, updates: &[(Hash, MapValue)]) -> Result<Hash, Self::Error>;
}

/// An in-memory tag map: a sorted index of the values (for lookups and persistence) and the
/// sparse Merkle tree over them (for roots).
#[derive(Clone, Debug, Default)]
pub struct MemoryMap {
    values: BTreeMap<Hash, MapValue>,
    tree: SparseMap,
}

impl MemoryMap {
    /// The empty map.
    pub fn new() -> MemoryMap {
        MemoryMap::default()
    }

    /// A map holding `entries` (a later entry for a key wins).
    ///
    /// # Errors
    /// Only on an internal map inconsistency (a bug).
    pub fn from_entries(
        entries: impl IntoIterator<Item = (Hash, MapValue)>,
    ) -> Result<MemoryMap, MapStoreError> {
        let values: BTreeMap<Hash, MapValue> = entries.into_iter().collect();
        let mut tree = SparseMap::new();
        if !values.is_empty() {
            let batch: Vec<(Hash, MapValue)> = values.iter().map(|(k, v)| (*k, *v)).collect();
            tree.insert_batch(&batch)?;
        }
        Ok(MemoryMap { values, tree })
    }

    /// Every `(key, value)`, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (&Hash, &MapValue)> {
        self.values.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The root over every applied value.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }
}

impl MapState for MemoryMap {
    type Error = MapStoreError;

    fn get(&self, key: &Hash) -> Result<Option<MapValue>, MapStoreError> {
        Ok(self.values.get(key).copied())
    }

    fn apply(
        &mut self,
        _version: u64,
        updates: &[(Hash, MapValue)],
    ) -> Result<Hash, MapStoreError> {
        if updates.is_empty() {
            return Ok(self.tree.root());
        }
        let root = self.tree.insert_batch(updates)?;
        self.values.extend(updates.iter().copied());
        Ok(root)
    }
}
