//! The versioned tag map (DESIGN §3.6) on a [`LogStore`]: proofs' copy-on-write node groups
//! stored under [`NodeKey::to_bytes`].
//!
//! Map version = checkpoint size: the map of version `s` is the map after all leaves before
//! the state leaf `s−1`. Each update records the groups its version supersedes
//! ([`MapWrites::stale`]); a commit deletes those superseded at or below a version the `log`
//! layer no longer serves ([`crate::store::Batch::map_prune_through`]), so proofs can be given
//! against every version from that one on, and the map takes the space of its live versions
//! only. [`StoreMap`] is this map as the rule book's [`MapState`], for the sequencer's
//! [`taglog_proofs::rules::Ledger`]. Out of scope: the node layout (proofs `map`), and which
//! versions are still served (the `log` layer).

use std::borrow::Cow;
use std::sync::Arc;

use taglog_proofs::hash::Hash;
use taglog_proofs::map::{
    self, MapProof, MapProofError, MapStore, MapStoreError, MapValue, NodeGroup, NodeKey, Terminal,
};
use taglog_proofs::rules::MapState;

use super::{LogStore, StaleGroup, StoreError};

/// Why a map update or proof failed.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// The map layer failed (missing or corrupt groups, or the store failed).
    #[error("tag map: {0}")]
    Store(#[from] MapStoreError),
    /// A stored map leaf does not hold a 48-byte value.
    #[error("tag map: stored leaf value: {0}")]
    Value(#[from] MapProofError),
    /// A ref's current value could not be read.
    #[error("tag map: {0}")]
    Read(#[from] StoreError),
}

struct Groups<'a>(&'a dyn LogStore);

impl MapStore for Groups<'_> {
    fn get_group(&self, key: &NodeKey) -> Result<Option<Cow<'_, NodeGroup>>, MapStoreError> {
        let bytes = self
            .0
            .map_node(&key.to_bytes())
            .map_err(|e| MapStoreError::Backend(Box::new(e)))?;
        bytes
            .map(|b| NodeGroup::from_bytes(&b).map(Cow::Owned))
            .transpose()
    }
}

/// What map updates add to a commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapWrites {
    /// Node-group rows to write: (key bytes, group bytes).
    pub nodes: Vec<(Vec<u8>, Vec<u8>)>,
    /// Stored groups that the new versions no longer read.
    pub stale: Vec<StaleGroup>,
}

impl MapWrites {
    fn extend(&mut self, other: MapWrites) {
        self.nodes.extend(other.nodes);
        self.stale.extend(other.stale);
    }
}

/// Applies `updates` on top of version `base` (`None`: the empty map) as `version`; returns
/// the new root and the rows to commit with the batch (new groups, and the base groups the
/// new version supersedes).
///
/// # Errors
/// [`MapError::Store`] for missing or corrupt groups or a store failure.
pub fn update(
    store: &dyn LogStore,
    base: Option<u64>,
    version: u64,
    updates: &[(Hash, MapValue)],
) -> Result<(Hash, MapWrites), MapError> {
    let u = map::update(&Groups(store), base, version, updates)?;
    let nodes = u
        .writes
        .into_iter()
        .map(|(k, g)| (k.to_bytes(), g.to_bytes()))
        .collect();
    let stale = u
        .stale
        .into_iter()
        .map(|k| StaleGroup {
            superseded_at: version,
            key: k.to_bytes(),
        })
        .collect();
    Ok((u.root, MapWrites { nodes, stale }))
}

/// The stored map root of `version`.
///
/// # Errors
/// [`MapError::Store`] if that version's root group is missing or damaged, or the store failed.
pub fn root(store: &dyn LogStore, version: u64) -> Result<Hash, MapError> {
    Ok(map::root_hash(&Groups(store), version)?)
}

/// The proof for `key` in `version`, with the value if present.
///
/// # Errors
/// [`MapError`] for missing or corrupt groups, a bad stored value, or a store failure.
pub fn prove(
    store: &dyn LogStore,
    version: u64,
    key: &Hash,
) -> Result<(MapProof, Option<MapValue>), MapError> {
    let proof = map::prove(&Groups(store), version, key)?;
    // An existence proof ends in the key's own leaf, which carries the value: no second walk.
    let value = match &proof.terminal {
        Terminal::Value { key: k, value } if k == key => Some(MapValue::from_bytes(value)?),
        _ => None,
    };
    Ok((proof, value))
}

/// The committed tag map of a store as the rule book's [`MapState`]: a ref's value is its
/// newest logged binding (the history row written in the same commit as the map's node
/// groups), and an update computes the new version's node groups on top of the stored ones
/// and keeps them for the next commit ([`StoreMap::take_writes`]).
///
/// Guarantees: nothing is written to the store here; the rows returned by `take_writes` are
/// exactly those of the versions applied since the last call. Out of scope: committing them.
pub struct StoreMap {
    store: Arc<dyn LogStore>,
    base: Option<u64>,
    staged: MapWrites,
}

impl StoreMap {
    /// The map of `store` as of the checkpoint of `size` leaves (0: the empty map).
    pub fn new(store: Arc<dyn LogStore>, size: u64) -> StoreMap {
        StoreMap {
            store,
            base: (size > 0).then_some(size),
            staged: MapWrites::default(),
        }
    }

    /// The node-group rows of the versions applied since the last call, to commit with them.
    pub fn take_writes(&mut self) -> MapWrites {
        std::mem::take(&mut self.staged)
    }
}

impl MapState for StoreMap {
    type Error = MapError;

    fn get(&self, key: &Hash) -> Result<Option<MapValue>, MapError> {
        Ok(self.store.ref_latest(key)?.map(|item| MapValue {
            index: item.index,
            version: item.version,
            leaf_hash: item.leaf_hash,
        }))
    }

    fn apply(&mut self, version: u64, updates: &[(Hash, MapValue)]) -> Result<Hash, MapError> {
        // Every version gets its node groups, even without updates: proofs are served
        // against every checkpoint's map version still in use.
        let (root, writes) = update(self.store.as_ref(), self.base, version, updates)?;
        self.staged.extend(writes);
        self.base = Some(version);
        Ok(root)
    }
}
