//! Stored Merkle hashes as proofs' [`HashReader`]: a batch's new hashes first, then the store.
//!
//! Guarantees: a hash is read from the store only when the batch does not hold it, and a
//! missing one is an error (never a default). Out of scope: tree math (proofs `tree`).

use std::collections::HashMap;

use taglog_proofs::hash::Hash;
use taglog_proofs::tree::{HashReader, TreeError};

use super::LogStore;

/// Stored hashes of a store, with an overlay of hashes not yet committed.
pub struct StoredHashes<'a> {
    store: &'a dyn LogStore,
    pending: HashMap<u64, Hash>,
}

impl<'a> StoredHashes<'a> {
    /// A reader over the store only.
    pub fn new(store: &'a dyn LogStore) -> StoredHashes<'a> {
        StoredHashes {
            store,
            pending: HashMap::new(),
        }
    }

    /// Adds a hash not yet committed (read before the store's).
    pub fn insert(&mut self, index: u64, hash: Hash) {
        self.pending.insert(index, hash);
    }
}

impl HashReader for StoredHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        let missing: Vec<u64> = indexes
            .iter()
            .copied()
            .filter(|i| !self.pending.contains_key(i))
            .collect();
        let fetched = if missing.is_empty() {
            Vec::new()
        } else {
            self.store
                .hashes(&missing)
                .map_err(|e| TreeError::Storage(Box::new(e)))?
        };
        let from_store: HashMap<u64, Hash> = missing.into_iter().zip(fetched).collect();
        indexes
            .iter()
            .map(|i| {
                self.pending
                    .get(i)
                    .or_else(|| from_store.get(i))
                    .copied()
                    .ok_or(TreeError::MissingHash { index: *i })
            })
            .collect()
    }
}
