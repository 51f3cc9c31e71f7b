//! One integration batch: new leaves, their stored hashes, history and dedup rows, map node
//! groups, allowlist rows, the closing state leaf and the signed checkpoint, all collected
//! into one [`crate::storage::Batch`] and committed with sync.
//!
//! Guarantees: the state leaf is the last leaf, its `size` is its own index and its map root
//! is the map after all leaves before it (map version = checkpoint size). The checkpoint's
//! root is computed from exactly the hashes written. Out of scope: admission decisions
//! (the sequencer makes them) and the map's node layout (proofs `map`).

use std::collections::{BTreeMap, HashMap};

use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint};
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::leaves::{PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::map::MapValue;
use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_proofs::refs::RefPrefix;
use taglog_proofs::tree::{
    stored_hash_count, stored_hashes_for_leaf, tree_root, HashReader, TreeError,
};

use crate::state::Head;
use crate::storage::{HistoryItem, Storage, StorageError};

/// Why a batch could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum IntegrateError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Tree math failed (a missing stored hash means a damaged database).
    #[error("tree: {0}")]
    Tree(#[from] TreeError),
    /// The map update failed.
    #[error("map: {0}")]
    Map(String),
    /// A log-authored leaf or the checkpoint could not be built.
    #[error("format: {0}")]
    Format(String),
}

/// Stored hashes: this batch's new ones first, then the database.
pub struct Hashes<'a> {
    storage: &'a Storage,
    new: HashMap<u64, Hash>,
}

impl<'a> Hashes<'a> {
    /// A reader over the database only.
    pub fn new(storage: &'a Storage) -> Hashes<'a> {
        Hashes {
            storage,
            new: HashMap::new(),
        }
    }
}

impl HashReader for Hashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        let missing: Vec<u64> = indexes
            .iter()
            .copied()
            .filter(|i| !self.new.contains_key(i))
            .collect();
        let fetched = self
            .storage
            .hashes(&missing)
            .map_err(|e| TreeError::Storage(Box::new(e)))?;
        let from_db: HashMap<u64, Hash> = missing.into_iter().zip(fetched).collect();
        indexes
            .iter()
            .map(|i| {
                self.new
                    .get(i)
                    .or_else(|| from_db.get(i))
                    .copied()
                    .ok_or(TreeError::MissingHash { index: *i })
            })
            .collect()
    }
}

/// The plan of one batch.
pub struct Integration<'a> {
    storage: &'a Storage,
    start: u64,
    leaves: Vec<Vec<u8>>,
    history: Vec<(Hash, HistoryItem)>,
    map_updates: BTreeMap<Hash, MapValue>,
    publishers: Vec<(String, String, bool)>,
}

impl<'a> Integration<'a> {
    /// Starts a batch on a tree of `size` leaves.
    pub fn new(storage: &'a Storage, size: u64) -> Integration<'a> {
        Integration {
            storage,
            start: size,
            leaves: Vec::new(),
            history: Vec::new(),
            map_updates: BTreeMap::new(),
            publishers: Vec::new(),
        }
    }

    fn next_index(&self) -> u64 {
        self.start + self.leaves.len() as u64
    }

    /// Number of bindings planned.
    pub fn bindings(&self) -> usize {
        self.history.len()
    }

    /// Appends a `taglog/v1/publisher` leaf.
    ///
    /// # Errors
    /// [`IntegrateError::Format`] if the leaf cannot be encoded.
    pub fn add_publisher(
        &mut self,
        prefix: &RefPrefix,
        key: &VerifierKey,
        add: bool,
        time: u64,
    ) -> Result<u64, IntegrateError> {
        let change = if add {
            PublisherChange::Add
        } else {
            PublisherChange::Remove
        };
        let leaf = PublisherLeaf {
            change,
            prefix: prefix.clone(),
            key: key.clone(),
            time,
        };
        let index = self.next_index();
        self.leaves.push(leaf.to_text().into_bytes());
        self.publishers
            .push((prefix.to_string(), key.to_string(), add));
        Ok(index)
    }

    /// Appends a binding leaf; `item.index` is filled in.
    ///
    /// # Errors
    /// None today; kept fallible for storage-backed plans.
    pub fn add_binding(
        &mut self,
        entry: &[u8],
        ref_key: Hash,
        mut item: HistoryItem,
    ) -> Result<u64, IntegrateError> {
        let index = self.next_index();
        item.index = index;
        self.leaves.push(entry.to_vec());
        self.history.push((ref_key, item));
        self.map_updates.insert(
            ref_key,
            MapValue {
                index,
                version: item.version,
                leaf_hash: item.leaf_hash,
            },
        );
        Ok(index)
    }

    /// Appends the state leaf, signs the checkpoint and commits everything with sync.
    ///
    /// # Errors
    /// [`IntegrateError`]; after a storage error the batch may or may not be persisted.
    pub fn finish(mut self, key: &SignerKey, time: u64) -> Result<Head, IntegrateError> {
        let new_size = self.next_index() + 1;
        let updates: Vec<(Hash, MapValue)> =
            std::mem::take(&mut self.map_updates).into_iter().collect();
        let (map_root, nodes) = crate::tagmap::update(
            self.storage,
            (self.start > 0).then_some(self.start),
            new_size,
            &updates,
        )
        .map_err(IntegrateError::Map)?;
        let state = StateLeaf {
            size: new_size - 1,
            map_root,
            time,
        };
        self.leaves.push(state.to_text().into_bytes());
        let mut batch = self.storage.batch();
        let mut hashes = Hashes::new(self.storage);
        for (i, entry) in self.leaves.iter().enumerate() {
            let index = self.start + i as u64;
            let lh = leaf_hash(entry);
            let base = stored_hash_count(index);
            for (j, h) in stored_hashes_for_leaf(index, lh, &hashes)?
                .into_iter()
                .enumerate()
            {
                hashes.new.insert(base + j as u64, h);
                batch.put_hash(base + j as u64, &h)?;
            }
            batch.put_entry(index, entry, &lh)?;
        }
        for (ref_key, item) in &self.history {
            batch.put_history(ref_key, item)?;
        }
        for (k, v) in &nodes {
            batch.put_map_node(k, v)?;
        }
        for (prefix, vkey, add) in &self.publishers {
            batch.set_publisher(prefix, vkey, *add)?;
        }
        let root = tree_root(new_size, &hashes)?;
        let origin = key.name().to_string();
        let checkpoint = Checkpoint::new(&origin, new_size, root)
            .map_err(|e| IntegrateError::Format(e.to_string()))?;
        let note =
            sign_checkpoint(&checkpoint, key).map_err(|e| IntegrateError::Format(e.to_string()))?;
        batch.put_checkpoint(new_size, time, &note)?;
        batch.commit()?;
        Ok(Head {
            size: new_size,
            root,
            note: std::sync::Arc::new(note),
            time,
        })
    }
}
