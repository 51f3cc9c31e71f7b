//! The versioned tag map (DESIGN §3.6) backed by RocksDB: proofs' copy-on-write node groups
//! stored under [`NodeKey::to_bytes`] in the `map` column family.
//!
//! Map version = checkpoint size: the map of version `s` is the map after all leaves before
//! the state leaf `s−1`. Every version is kept (nothing is pruned), so proofs can be given
//! against any checkpoint still served. Out of scope: the node layout (proofs `map`).

use std::borrow::Cow;

use taglog_proofs::hash::Hash;
use taglog_proofs::map::{
    self, MapProof, MapStore, MapStoreError, MapValue, NodeGroup, NodeKey, Terminal,
};

use crate::storage::Storage;

struct DbMap<'a>(&'a Storage);

impl MapStore for DbMap<'_> {
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

/// Node-group rows to write.
pub type MapWrites = Vec<(Vec<u8>, Vec<u8>)>;

/// Applies `updates` on top of version `base` (`None`: empty map) as `version`.
///
/// # Errors
/// A message from the map layer (missing or corrupt groups, storage failure).
pub fn update(
    storage: &Storage,
    base: Option<u64>,
    version: u64,
    updates: &[(Hash, MapValue)],
) -> Result<(Hash, MapWrites), String> {
    let u = map::update(&DbMap(storage), base, version, updates).map_err(|e| e.to_string())?;
    let writes = u
        .writes
        .into_iter()
        .map(|(k, g)| (k.to_bytes(), g.to_bytes()))
        .collect();
    Ok((u.root, writes))
}

/// The proof for `key` in `version`, with the value if present.
///
/// # Errors
/// A message from the map layer.
pub fn prove(
    storage: &Storage,
    version: u64,
    key: &Hash,
) -> Result<(MapProof, Option<MapValue>), String> {
    let proof = map::prove(&DbMap(storage), version, key).map_err(|e| e.to_string())?;
    // An existence proof ends in the key's own leaf, which carries the value: no second walk.
    let value = match &proof.terminal {
        Terminal::Value { key: k, value } if k == key => {
            Some(MapValue::from_bytes(value).map_err(|e| format!("stored map leaf: {e}"))?)
        }
        _ => None,
    };
    Ok((proof, value))
}
