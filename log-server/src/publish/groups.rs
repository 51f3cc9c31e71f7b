//! The log's versioned map as proofs' [`MapStore`] for the publisher, with the groups near the
//! top kept between publications.
//!
//! Every publication rewrites the top map object and, once the map has more than a few
//! thousand keys, nearly every object of the next depth: each of them is encoded from its top
//! group and all its inner groups, of which a publication changes only a few (the others are
//! the same `(version, path)` as in the publication before). [`GroupCache`] keeps the newest
//! group read at each position above [`CACHED_NIBBLES`], so those are read from the store and
//! decoded once, not once per publication. A group is immutable under its key (a new version
//! is a new key), so a cached group is never stale: one of another version is a miss.
//!
//! Bounded by the number of positions above [`CACHED_NIBBLES`]: 1 + 16 + 256 + 4,096 groups
//! of at most 16 children each (~4 MiB at most).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use taglog_proofs::hash::Hash;
use taglog_proofs::map::{MapStore, MapStoreError, NodeGroup, NodeKey};
use taglog_proofs::static_layout::{map_objects, EncodedMapObject};

use crate::store::LogStore;

/// Groups at a nibble depth below this are cached: those of the top two levels of map objects
/// (an object holds two nibbles), which nearly every publication rewrites.
pub const CACHED_NIBBLES: u8 = 4;

/// A group's position: its nibble depth and its key prefix.
type Position = (u8, Hash);

/// The newest group read at each position, with its version.
type Cached = HashMap<Position, (u64, NodeGroup)>;

/// The newest group read at each position above [`CACHED_NIBBLES`] (shared by the
/// publisher's reads, which run one at a time).
#[derive(Debug, Default, Clone)]
pub struct GroupCache(Arc<Mutex<Cached>>);

impl GroupCache {
    /// proofs' [`map_objects`] of map `version` in `store` (see there), reading the groups
    /// near the top from this cache and keeping those it had to read from `store`.
    ///
    /// # Errors
    /// As [`map_objects`].
    pub fn map_objects(
        &self,
        store: &dyn LogStore,
        version: u64,
        newer_than: Option<u64>,
    ) -> Result<Vec<EncodedMapObject>, MapStoreError> {
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let groups = Groups {
            store,
            cached: &cached,
            read: RefCell::default(),
        };
        let objects = map_objects(&groups, version, newer_than);
        for (key, group) in groups.read.into_inner() {
            match cached.entry((key.nibbles(), *key.path())) {
                Entry::Vacant(e) => {
                    e.insert((key.version(), group));
                }
                // Keep the newest version: an older one is not asked for again.
                Entry::Occupied(mut e) if e.get().0 < key.version() => {
                    e.insert((key.version(), group));
                }
                Entry::Occupied(_) => {}
            }
        }
        objects
    }

    /// How many groups are cached.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The log's versioned map (map version = checkpoint size) with the cached groups lent, not
/// copied; the groups near the top it reads from the store are kept in `read`.
struct Groups<'a> {
    store: &'a dyn LogStore,
    cached: &'a Cached,
    read: RefCell<Vec<(NodeKey, NodeGroup)>>,
}

impl MapStore for Groups<'_> {
    fn get_group(&self, key: &NodeKey) -> Result<Option<Cow<'_, NodeGroup>>, MapStoreError> {
        let cached = key.nibbles() < CACHED_NIBBLES;
        if cached {
            match self.cached.get(&(key.nibbles(), *key.path())) {
                Some((version, group)) if *version == key.version() => {
                    return Ok(Some(Cow::Borrowed(group)));
                }
                _ => {}
            }
        }
        let bytes = self
            .store
            .map_node(&key.to_bytes())
            .map_err(|e| MapStoreError::Backend(Box::new(e)))?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let group = NodeGroup::from_bytes(&bytes)?;
        if cached {
            self.read.borrow_mut().push((*key, group.clone()));
        }
        Ok(Some(Cow::Owned(group)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryStore, Op, State};
    use taglog_proofs::map::{self, MapValue, MemoryMapStore};
    use taglog_proofs::static_layout::map_objects;

    /// A map of `keys` keys written over `versions` versions (each version rebinds a share of
    /// them), in both proofs' in-memory map store and the log's in-memory store.
    fn maps(keys: u32, versions: u64) -> (MemoryMapStore, MemoryStore) {
        let (mut proofs, mut state) = (MemoryMapStore::new(), State::default());
        for v in 1..=versions {
            let mut updates: Vec<_> = (0..keys)
                .filter(|k| v == 1 || u64::from(*k) % 97 == v)
                .map(|k| {
                    let value = MapValue {
                        index: u64::from(k) + v,
                        version: v,
                        leaf_hash: Hash([7; 32]),
                    };
                    (taglog_proofs::hash::sha256(&k.to_be_bytes()), value)
                })
                .collect();
            updates.sort_by_key(|(k, _)| *k);
            let base = (v > 1).then_some(v - 1);
            let update = map::update(&proofs, base, v, &updates).unwrap();
            for (key, group) in &update.writes {
                state.map.insert(key.to_bytes(), group.to_bytes());
            }
            proofs.write(update.writes);
        }
        (proofs, MemoryStore::with_state(state))
    }

    #[test]
    fn cached_groups_give_the_same_objects_with_fewer_reads() {
        let (proofs, store) = maps(5_000, 4);
        let cache = GroupCache::default();
        let mut reads = Vec::new();
        for v in 1..=4 {
            let since = (v > 1).then_some(v - 1);
            let before = store.calls(Op::Read);
            let got = cache.map_objects(&store, v, since).unwrap();
            reads.push(store.calls(Op::Read) - before);
            assert_eq!(got, map_objects(&proofs, v, since).unwrap(), "version {v}");
        }
        // Version 1 reads every group once; each later version reads its new groups and no
        // cached group again.
        let plain_reads = {
            let before = store.calls(Op::Read);
            GroupCache::default()
                .map_objects(&store, 4, Some(3))
                .unwrap();
            store.calls(Op::Read) - before
        };
        assert!(
            reads[3] < plain_reads,
            "with the cache {} reads, without {plain_reads}",
            reads[3]
        );
        assert!(cache.len() <= 1 + 16 + 256 + 4096);
        // A group of another version at a cached position is a miss, not the cached one.
        let stale = store.calls(Op::Read);
        let all = cache.map_objects(&store, 2, None).unwrap();
        assert_eq!(all, map_objects(&proofs, 2, None).unwrap());
        assert!(store.calls(Op::Read) > stale);
    }
}
