//! The checks a log passes before it sequences: the stored tree must match the checkpoint the
//! log signed for it (DESIGN §5 "Never contradict a signed checkpoint").
//!
//! Guarantees: [`verify_store`] recomputes the root of the stored size from the stored hashes,
//! checks the stored checkpoint's log signature, that it names that root, that the last
//! leaf hashes to its stored hash, and that this state leaf names its own index and the root
//! of the stored tag map the sequencer goes on from. Out of scope: checking every leaf (the monitor replays the
//! whole log), and witnesses (see [`crate::log::witnesses`]).

use std::sync::Arc;

use taglog_proofs::checkpoint::{CheckpointError, SignedCheckpoint};
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::leaves::{LeafError, StateLeaf};
use taglog_proofs::note::{NoteSignature, VerifierKey};
use taglog_proofs::tree::{stored_hash_index, tree_root, TreeError};

use crate::log::heads::Head;
use crate::store::map::MapError;
use crate::store::{LogStore, StoreError, StoredHashes};

/// How the stored log contradicts itself.
#[derive(Debug, thiserror::Error)]
pub enum Inconsistency {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No checkpoint is stored for the stored size.
    #[error("no stored checkpoint for size {size}")]
    MissingCheckpoint {
        /// The size.
        size: u64,
    },
    /// The stored checkpoint does not verify under the log key.
    #[error("stored checkpoint {size}: {source}")]
    BadCheckpoint {
        /// The size.
        size: u64,
        /// Why.
        #[source]
        source: CheckpointError,
    },
    /// The last leaf is missing.
    #[error("state leaf {index} missing")]
    MissingStateLeaf {
        /// Its index.
        index: u64,
    },
    /// The last leaf is not a state leaf.
    #[error("leaf {index} is not a state leaf: {source}")]
    BadStateLeaf {
        /// Its index.
        index: u64,
        /// Why.
        #[source]
        source: LeafError,
    },
    /// The root cannot be recomputed from the stored hashes.
    #[error("cannot recompute the root of size {size}: {source}")]
    Root {
        /// The size.
        size: u64,
        /// Why.
        #[source]
        source: TreeError,
    },
    /// The stored hashes give another root than the signed checkpoint.
    #[error(
        "stored hashes give root {computed} for size {size}, the signed checkpoint says {signed}"
    )]
    RootMismatch {
        /// The size.
        size: u64,
        /// From the stored hashes.
        computed: Hash,
        /// From the checkpoint.
        signed: Hash,
    },
    /// The last leaf does not hash to its stored hash.
    #[error("leaf {index} does not match its stored hash")]
    LeafHash {
        /// Its index.
        index: u64,
    },
    /// The stored size changed while the log was being opened (another writer).
    #[error("the stored size changed from {checked} to {now} while the log was opened")]
    SizeChanged {
        /// The size checked.
        checked: u64,
        /// The size read after.
        now: u64,
    },
    /// The last leaf is a state leaf of another index.
    #[error("state leaf {index} claims size {size}; it must be its own index")]
    StateSize {
        /// Its index.
        index: u64,
        /// The size it claims.
        size: u64,
    },
    /// The stored tag map of the checkpoint's version cannot be read.
    #[error("cannot read the stored tag map of size {size}: {source}")]
    Map {
        /// The size (map version).
        size: u64,
        /// Why.
        #[source]
        source: MapError,
    },
    /// The stored tag map is not the one the signed state leaf commits to: new state leaves
    /// would carry roots no monitor can recompute.
    #[error(
        "the stored tag map of size {size} has root {stored}, the signed state leaf says {signed}"
    )]
    MapRootMismatch {
        /// The size (map version).
        size: u64,
        /// The root of the stored map.
        stored: Hash,
        /// The root in the state leaf.
        signed: Hash,
    },
    /// The stored cosignatures do not fit the checkpoint.
    #[error("stored cosignatures of checkpoint {size}: {source}")]
    Cosignatures {
        /// The size.
        size: u64,
        /// Why.
        #[source]
        source: CheckpointError,
    },
}

/// Loads the stored checkpoint of `size` as a [`Head`] after checking its log signature,
/// optionally with its stored cosignatures.
///
/// # Errors
/// [`Inconsistency`] if it is missing, does not verify, or its state leaf is bad.
pub fn load_head(
    store: &dyn LogStore,
    log_key: &VerifierKey,
    size: u64,
    cosigned: bool,
) -> Result<Head, Inconsistency> {
    let note = store
        .checkpoint(size)?
        .ok_or(Inconsistency::MissingCheckpoint { size })?;
    let signed = SignedCheckpoint::open(&note, log_key)
        .map_err(|source| Inconsistency::BadCheckpoint { size, source })?;
    let index = size.saturating_sub(1);
    let state = store
        .entry(index)?
        .ok_or(Inconsistency::MissingStateLeaf { index })?;
    let time = StateLeaf::parse(&state)
        .map_err(|source| Inconsistency::BadStateLeaf { index, source })?
        .time;
    let mut out = signed.clone();
    if cosigned {
        let lines = store.cosignatures(size)?;
        let text = String::from_utf8_lossy(&lines);
        let sigs: Vec<NoteSignature> = text
            .lines()
            .filter_map(|l| NoteSignature::parse_line(l, 0).ok())
            .collect();
        out = signed
            .with_signatures(&sigs)
            .map_err(|source| Inconsistency::Cosignatures { size, source })?;
    }
    Ok(Head {
        size,
        root: signed.checkpoint().root(),
        note: Arc::new(out.to_bytes()),
        time,
    })
}

/// Checks the stored tree against its signed checkpoint; the committed head, or `None` for a
/// new log.
///
/// # Errors
/// [`Inconsistency`] on any mismatch or read failure.
pub fn verify_store(
    store: &dyn LogStore,
    log_key: &VerifierKey,
) -> Result<Option<Head>, Inconsistency> {
    let size = store.size()?;
    if size == 0 {
        return Ok(None);
    }
    let head = load_head(store, log_key, size, false)?;
    let root = tree_root(size, &StoredHashes::new(store))
        .map_err(|source| Inconsistency::Root { size, source })?;
    if root != head.root {
        return Err(Inconsistency::RootMismatch {
            size,
            computed: root,
            signed: head.root,
        });
    }
    let index = size - 1;
    let entry = store
        .entry(index)?
        .ok_or(Inconsistency::MissingStateLeaf { index })?;
    let stored = store.hashes(&[stored_hash_index(0, index)])?;
    if Some(&leaf_hash(&entry)) != stored.first() {
        return Err(Inconsistency::LeafHash { index });
    }
    let state =
        StateLeaf::parse(&entry).map_err(|source| Inconsistency::BadStateLeaf { index, source })?;
    if state.size != index {
        return Err(Inconsistency::StateSize {
            index,
            size: state.size,
        });
    }
    let map_root = crate::store::map::root(store, size)
        .map_err(|source| Inconsistency::Map { size, source })?;
    if map_root != state.map_root {
        return Err(Inconsistency::MapRootMismatch {
            size,
            stored: map_root,
            signed: state.map_root,
        });
    }
    Ok(Some(head))
}
