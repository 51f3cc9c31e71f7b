//! One integration batch: the leaves the rule book admitted (binding, publisher and the
//! closing state leaf), their stored hashes, history and dedup rows, the map's node groups,
//! allowlist rows and the signed checkpoint, all collected into one [`Batch`] and committed at
//! once by [`LogStore::commit`].
//!
//! Guarantees: the leaves are written in the order they were added, from the size the batch
//! was planned on; the state leaf is the last one and its `size` is its own index (otherwise
//! nothing is signed: [`IntegrateError::OutOfStep`]). The checkpoint's root is computed from
//! exactly the hashes written, and the batch applies only on top of the size it was planned
//! on. Out of scope: deciding what is admitted and computing the map (the sequencer asks the
//! rule book, `taglog_proofs::rules`), and the map's node layout (proofs `map`).

use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, CheckpointError};
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::leaves::{PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::note::SignerKey;
use taglog_proofs::rules::AppendError;
use taglog_proofs::tree::{stored_hash_count, stored_hashes_for_leaf, tree_root, TreeError};

use crate::log::heads::Head;
use crate::store::map::{MapError, MapWrites};
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
    /// The rule book could not close the batch (the map update failed).
    #[error("closing the batch: {0}")]
    Close(#[from] AppendError<MapError>),
    /// The checkpoint could not be built or signed (a wrong log key).
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The state leaf's index is not where the batch's leaves end: the rule book and the
    /// batch disagree on the tree (a bug); nothing was signed.
    #[error("the state leaf claims index {state}, but the batch ends at index {planned}")]
    OutOfStep {
        /// The index the batch would give the state leaf.
        planned: u64,
        /// The state leaf's `size`.
        state: u64,
    },
}

/// The plan of one batch.
pub struct Integration<'a> {
    store: &'a dyn LogStore,
    start: u64,
    leaves: Vec<Vec<u8>>,
    history: Vec<(Hash, HistoryItem)>,
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
            publishers: Vec::new(),
        }
    }

    /// The index the next leaf gets.
    pub fn next_index(&self) -> u64 {
        self.start + self.leaves.len() as u64
    }

    /// Number of bindings planned.
    pub fn bindings(&self) -> usize {
        self.history.len()
    }

    /// Appends an admitted `taglog/v1/publisher` leaf; returns its index.
    pub fn add_publisher(&mut self, leaf: &PublisherLeaf) -> u64 {
        let index = self.next_index();
        self.leaves.push(leaf.to_text().into_bytes());
        self.publishers.push(PublisherRow {
            prefix: leaf.prefix.to_string(),
            vkey: leaf.key.to_string(),
            add: leaf.change == PublisherChange::Add,
        });
        index
    }

    /// Appends an admitted binding leaf with its history row (`item.index` is set to the
    /// leaf's index, which is returned).
    pub fn add_binding(&mut self, entry: Vec<u8>, ref_key: Hash, mut item: HistoryItem) -> u64 {
        let index = self.next_index();
        item.index = index;
        self.leaves.push(entry);
        self.history.push((ref_key, item));
        index
    }

    /// Appends the state leaf that closes the batch, signs the checkpoint and commits
    /// everything at once, with the map's rows `map`, deleting in the same write the map groups
    /// superseded at or below `prune_through` (no map version below it is read any more; 0:
    /// none).
    ///
    /// # Errors
    /// [`IntegrateError`]; after [`IntegrateError::Store`] the batch may or may not be
    /// persisted (except [`StoreError::SizeMismatch`]: nothing was written).
    pub fn finish(
        mut self,
        state: &StateLeaf,
        map: MapWrites,
        prune_through: u64,
        key: &SignerKey,
    ) -> Result<Head, IntegrateError> {
        let planned = self.next_index();
        if state.size != planned {
            return Err(IntegrateError::OutOfStep {
                planned,
                state: state.size,
            });
        }
        let new_size = planned + 1;
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
            map_nodes: map.nodes,
            map_stale: map.stale,
            map_prune_through: prune_through,
            history: self.history,
            publishers: self.publishers,
            checkpoint: CheckpointRow {
                size: new_size,
                time: state.time,
                note,
            },
        };
        self.store.commit(&batch)?;
        Ok(Head {
            size: new_size,
            root,
            note: std::sync::Arc::new(batch.checkpoint.note),
            time: state.time,
        })
    }
}
