//! One integration batch: new leaves, their stored hashes, history and dedup rows, map node
//! groups, allowlist rows, the closing state leaf and the signed checkpoint, all collected
//! into one [`Batch`] and committed at once by [`LogStore::commit`].
//!
//! Guarantees: the state leaf is the last leaf, its `size` is its own index and its map root
//! is the map after all leaves before it (map version = checkpoint size). The checkpoint's
//! root is computed from exactly the hashes written, and the batch applies only on top of the
//! size it was planned on. Out of scope: admission decisions (the sequencer makes them) and
//! the map's node layout (proofs `map`).

use std::collections::BTreeMap;

use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, CheckpointError};
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::leaves::{PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::map::MapValue;
use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_proofs::refs::RefPrefix;
use taglog_proofs::tree::{stored_hash_count, stored_hashes_for_leaf, tree_root, TreeError};

use crate::log::heads::Head;
use crate::store::map::MapError;
use crate::store::{
    Batch, CheckpointRow, HistoryItem, LogStore, NewEntry, PublisherRow, StoreError, StoredHashes,
};

/// Why a batch could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum IntegrateError {
    /// The store failed; after a commit error the batch may or may not be persisted.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Tree math failed (a missing stored hash means a damaged database).
    #[error("tree: {0}")]
    Tree(#[from] TreeError),
    /// The map update failed.
    #[error(transparent)]
    Map(#[from] MapError),
    /// The checkpoint could not be built or signed (a wrong log key).
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// The plan of one batch.
pub struct Integration<'a> {
    store: &'a dyn LogStore,
    start: u64,
    leaves: Vec<Vec<u8>>,
    history: Vec<(Hash, HistoryItem)>,
    map_updates: BTreeMap<Hash, MapValue>,
    publishers: Vec<PublisherRow>,
}

impl<'a> Integration<'a> {
    /// Starts a batch on a tree of `size` leaves.
    pub fn new(store: &'a dyn LogStore, size: u64) -> Integration<'a> {
        Integration {
            store,
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

    /// Appends a `taglog/v1/publisher` leaf; returns its index.
    pub fn add_publisher(
        &mut self,
        prefix: &RefPrefix,
        key: &VerifierKey,
        add: bool,
        time: u64,
    ) -> u64 {
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
        self.publishers.push(PublisherRow {
            prefix: prefix.to_string(),
            vkey: key.to_string(),
            add,
        });
        index
    }

    /// Appends a binding leaf; `item.index` is filled in and returned.
    pub fn add_binding(&mut self, entry: Vec<u8>, ref_key: Hash, mut item: HistoryItem) -> u64 {
        let index = self.next_index();
        item.index = index;
        self.leaves.push(entry);
        self.history.push((ref_key, item));
        self.map_updates.insert(
            ref_key,
            MapValue {
                index,
                version: item.version,
                leaf_hash: item.leaf_hash,
            },
        );
        index
    }

    /// Appends the state leaf, signs the checkpoint and commits everything at once.
    ///
    /// # Errors
    /// [`IntegrateError`]; after [`IntegrateError::Store`] the batch may or may not be
    /// persisted (except [`StoreError::SizeMismatch`]: nothing was written).
    pub fn finish(mut self, key: &SignerKey, time: u64) -> Result<Head, IntegrateError> {
        let new_size = self.next_index() + 1;
        let updates: Vec<(Hash, MapValue)> =
            std::mem::take(&mut self.map_updates).into_iter().collect();
        let base = (self.start > 0).then_some(self.start);
        let (map_root, map_nodes) =
            crate::store::map::update(self.store, base, new_size, &updates)?;
        let state = StateLeaf {
            size: new_size - 1,
            map_root,
            time,
        };
        self.leaves.push(state.to_text().into_bytes());
        let mut hashes = StoredHashes::new(self.store);
        let mut new_hashes = Vec::new();
        let mut entries = Vec::with_capacity(self.leaves.len());
        for (index, bytes) in (self.start..).zip(self.leaves) {
            let lh = leaf_hash(&bytes);
            let base = stored_hash_count(index);
            for (j, h) in (base..).zip(stored_hashes_for_leaf(index, lh, &hashes)?) {
                hashes.insert(j, h);
                new_hashes.push((j, h));
            }
            entries.push(NewEntry {
                index,
                bytes,
                leaf_hash: lh,
            });
        }
        let root = tree_root(new_size, &hashes)?;
        let checkpoint = Checkpoint::new(key.name().as_str(), new_size, root)?;
        let note = sign_checkpoint(&checkpoint, key)?;
        let batch = Batch {
            old_size: self.start,
            entries,
            hashes: new_hashes,
            map_nodes,
            history: self.history,
            publishers: self.publishers,
            checkpoint: CheckpointRow {
                size: new_size,
                time,
                note,
            },
        };
        self.store.commit(&batch)?;
        Ok(Head {
            size: new_size,
            root,
            note: std::sync::Arc::new(batch.checkpoint.note),
            time,
        })
    }
}
