//! Read-side answers: proof bundles, history pages, inclusion and consistency proofs, all
//! against one durable checkpoint (DESIGN §5 "What is served").
//!
//! `/lookup` and `/history` use the newest checkpoint meeting the quorum and ≥ `since`;
//! "current" means current as of that checkpoint. These functions block on the store: call
//! them from `spawn_blocking`. Out of scope: HTTP framing (the `http` layer).

use std::sync::Mutex;

use taglog_proofs::binding::SignedBinding;
use taglog_proofs::bundle::{Bundle, ConsistencyMember, History, LeafProof, MapMember, Status};
use taglog_proofs::consistency::consistency_proof;
use taglog_proofs::hash::Hash;
use taglog_proofs::inclusion::inclusion_proof;
use taglog_proofs::refs::TagRef;
use taglog_proofs::tree::TreeError;

use crate::log::heads::Head;
use crate::store::map::MapError;
use crate::store::{LogStore, StoreError, StoredHashes};

/// Most bindings on one `/history` page.
pub const HISTORY_PAGE: usize = 100;

/// Read failures (all are server-side faults: the inputs were checked before).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// The tag map could not prove a key.
    #[error(transparent)]
    Map(#[from] MapError),
    /// A proof could not be built from stored hashes.
    #[error("proof: {0}")]
    Proof(#[from] TreeError),
    /// A stored entry is missing.
    #[error("entry {0} missing from store")]
    MissingEntry(u64),
}

fn entry(store: &dyn LogStore, index: u64) -> Result<Vec<u8>, ReadError> {
    store.entry(index)?.ok_or(ReadError::MissingEntry(index))
}

/// RFC 9162 inclusion proof of leaf `index` in the tree of `size`.
///
/// # Errors
/// [`ReadError::Proof`] if `index ≥ size` or a hash is missing.
pub fn inclusion(store: &dyn LogStore, index: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
    Ok(inclusion_proof(index, size, &StoredHashes::new(store))?)
}

/// RFC 9162 consistency proof from `old` to `new` (empty when `old` is 0 or equal).
///
/// # Errors
/// [`ReadError::Proof`] if `old > new` or a hash is missing.
pub fn consistency(store: &dyn LogStore, old: u64, new: u64) -> Result<Vec<Hash>, ReadError> {
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    Ok(consistency_proof(old, new, &StoredHashes::new(store))?)
}

fn leaf_proof(store: &dyn LogStore, index: u64, size: u64) -> Result<LeafProof, ReadError> {
    Ok(LeafProof {
        index,
        entry: entry(store, index)?,
        inclusion: inclusion(store, index, size)?,
    })
}

fn consistency_member(
    store: &dyn LogStore,
    since: Option<u64>,
    size: u64,
) -> Result<Option<ConsistencyMember>, ReadError> {
    match since {
        Some(s) if s > 0 && s < size => Ok(Some(ConsistencyMember {
            from_size: s,
            proof: consistency(store, s, size)?,
        })),
        _ => Ok(None),
    }
}

/// The state leaf's proof for the newest checkpoint answered so far: every bundle against one
/// checkpoint carries the same one (all the waiters of a batch, and `/lookup`s), so it is
/// built once per checkpoint instead of once per answer.
#[derive(Debug, Default)]
pub struct StateProofs(Mutex<Option<(u64, LeafProof)>>);

impl StateProofs {
    /// The proof of state leaf `size − 1` in the tree of `size`.
    ///
    /// # Errors
    /// [`ReadError`] on store faults.
    pub fn get(&self, store: &dyn LogStore, size: u64) -> Result<LeafProof, ReadError> {
        if let Ok(cached) = self.0.lock() {
            if let Some((_, proof)) = cached.as_ref().filter(|(s, _)| *s == size) {
                return Ok(proof.clone());
            }
        }
        let proof = leaf_proof(store, size.saturating_sub(1), size)?;
        if let Ok(mut cached) = self.0.lock() {
            let older = match cached.as_ref() {
                Some((s, _)) => *s < size,
                None => true,
            };
            if older {
                *cached = Some((size, proof.clone()));
            }
        }
        Ok(proof)
    }
}

/// The §3.10 bundle for `reference` against `head`.
///
/// # Errors
/// [`ReadError`] on store faults.
pub fn lookup(
    store: &dyn LogStore,
    states: &StateProofs,
    head: &Head,
    reference: &TagRef,
    since: Option<u64>,
) -> Result<Bundle, ReadError> {
    let key = reference.key();
    let (proof, value) = crate::store::map::prove(store, head.size, &key)?;
    let state = states.get(store, head.size)?;
    let (status, binding) = match value {
        Some(value) => {
            let leaf = leaf_proof(store, value.index, head.size)?;
            let withdrawn =
                SignedBinding::parse(&leaf.entry).is_ok_and(|b| b.binding().digest.is_withdrawn());
            (
                if withdrawn {
                    Status::Withdrawn
                } else {
                    Status::Bound
                },
                Some(leaf),
            )
        }
        None => (Status::Unbound, None),
    };
    Ok(Bundle {
        reference: reference.clone(),
        status,
        checkpoint: head.note.to_vec(),
        state,
        map: MapMember { proof },
        binding,
        consistency: consistency_member(store, since, head.size)?,
    })
}

/// One `/history` page: bindings of `reference` with version ≥ `cursor` and index < size.
///
/// # Errors
/// [`ReadError`] on store faults.
pub fn history(
    store: &dyn LogStore,
    head: &Head,
    reference: &TagRef,
    cursor: u64,
) -> Result<History, ReadError> {
    let rows = store.ref_history(&reference.key(), cursor, HISTORY_PAGE + 1)?;
    let mut entries = Vec::new();
    let mut next_cursor = None;
    for row in rows {
        if row.index >= head.size {
            break;
        }
        if entries.len() == HISTORY_PAGE {
            next_cursor = Some(row.version.to_string());
            break;
        }
        entries.push(leaf_proof(store, row.index, head.size)?);
    }
    Ok(History {
        reference: reference.clone(),
        checkpoint: head.note.to_vec(),
        entries,
        next_cursor,
    })
}
