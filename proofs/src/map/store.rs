//! Versioned map storage: batch updates that write copy-on-write node groups, and proofs and
//! lookups against any version whose groups are still stored.
//!
//! The server implements [`MapStore`] over RocksDB (key: [`NodeKey::to_bytes`], value:
//! [`NodeGroup::to_bytes`]); [`super::MemoryMapStore`] implements it over a hash map. Both
//! run the same [`update`] and [`prove`], so their roots and proofs are identical.
//!
//! Out of scope: durability and pruning policy. [`update`] only computes what to write and
//! which groups the new version no longer uses ([`MapUpdate::stale`]); the caller writes the
//! groups atomically with the rest of its batch and decides when stale groups may go (never
//! while a served checkpoint's version still needs them).

use std::borrow::Cow;

use crate::hash::Hash;

use super::group::{Child, Kind, MapLeaf, NodeGroup, NodeKey, MAX_GROUP_NIBBLES};
use super::proof::{MapProof, Terminal};
use super::{key_bit, MapValue, MAX_MAP_DEPTH};

/// Read access to stored node groups.
pub trait MapStore {
    /// Reads the group stored under `key` (exact version and path); `Ok(None)` if absent.
    ///
    /// # Errors
    /// [`MapStoreError::Backend`] if the storage fails, [`MapStoreError::Corrupt`] if the
    /// stored bytes do not decode.
    fn get_group(&self, key: &NodeKey) -> Result<Option<Cow<'_, NodeGroup>>, MapStoreError>;
}

/// Why a storage operation on the map failed.
#[derive(Debug, thiserror::Error)]
pub enum MapStoreError {
    /// A group that a stored parent (or the requested version's root) refers to is missing:
    /// the version was pruned, never written, or the store lost data.
    #[error("map node group {0:?} is missing: the version was pruned or never written")]
    MissingNode(NodeKey),
    /// Stored bytes or structure are inconsistent.
    #[error("map storage is corrupt: {0}")]
    Corrupt(String),
    /// The new version is not above the base version.
    #[error("map version {version} must be greater than the base version {base}")]
    VersionNotIncreasing {
        /// The base version.
        base: u64,
        /// The requested new version.
        version: u64,
    },
    /// The storage backend failed (the server's RocksDB error, for example).
    #[error("map storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The result of one batch update: what to write for the new version.
#[derive(Debug, Clone)]
pub struct MapUpdate {
    /// The version written.
    pub version: u64,
    /// The map root of the new version.
    pub root: Hash,
    /// Groups to store (each key is new: versioned, never overwritten).
    pub writes: Vec<(NodeKey, NodeGroup)>,
    /// Groups of earlier versions that the new version no longer references. They stay
    /// needed by those versions' proofs until the caller prunes them.
    pub stale: Vec<NodeKey>,
    /// Number of keys that were not in the map before.
    pub new_keys: u64,
}

fn load<'s, S: MapStore + ?Sized>(
    store: &'s S,
    key: NodeKey,
) -> Result<Cow<'s, NodeGroup>, MapStoreError> {
    store
        .get_group(&key)?
        .ok_or(MapStoreError::MissingNode(key))
}

/// Nibble `n` (0–63) of `key`, most significant first.
pub(crate) fn nibble(key: &Hash, n: u8) -> u8 {
    let byte = key.0.get(usize::from(n / 2)).copied().unwrap_or(0);
    if n & 1 == 0 {
        byte >> 4
    } else {
        byte & 0x0f
    }
}

/// Applies a batch of `(key, value)` pairs to the map at version `base` (`None`: the empty
/// map) and returns the groups to write for `version`. Later pairs for the same key win.
///
/// Keys are sorted and each touched group and interior node is rewritten and hashed once per
/// batch. Every new version gets a root group, even for an empty batch.
///
/// # Errors
/// [`MapStoreError::VersionNotIncreasing`] if `version ≤ base`; otherwise whatever reading the
/// base version's groups returns.
pub fn update<S: MapStore + ?Sized>(
    store: &S,
    base: Option<u64>,
    version: u64,
    batch: &[(Hash, MapValue)],
) -> Result<MapUpdate, MapStoreError> {
    update_from(Shared(store), base, version, batch)
}

/// Where an update reads the base version's groups: shared storage (cloned, the groups stay)
/// or an owned in-memory map (moved out: the caller keeps only the newest version).
pub(crate) trait Fetch {
    fn fetch(&mut self, key: NodeKey) -> Result<NodeGroup, MapStoreError>;
}

struct Shared<'s, S: ?Sized>(&'s S);

impl<S: MapStore + ?Sized> Fetch for Shared<'_, S> {
    fn fetch(&mut self, key: NodeKey) -> Result<NodeGroup, MapStoreError> {
        load(self.0, key).map(Cow::into_owned)
    }
}

/// [`update`] over any [`Fetch`]; the same code for every storage.
pub(crate) fn update_from<F: Fetch>(
    src: F,
    base: Option<u64>,
    version: u64,
    batch: &[(Hash, MapValue)],
) -> Result<MapUpdate, MapStoreError> {
    if let Some(base) = base {
        if version <= base {
            return Err(MapStoreError::VersionNotIncreasing { base, version });
        }
    }
    let mut sorted: Vec<&(Hash, MapValue)> = batch.iter().collect();
    sorted.sort_by_key(|(k, _)| *k); // stable: equal keys keep batch order
    let mut items: Vec<MapLeaf> = Vec::with_capacity(sorted.len());
    let mut iter = sorted.into_iter().peekable();
    while let Some((k, v)) = iter.next() {
        if iter.peek().is_some_and(|(next, _)| next == k) {
            continue; // a later pair for the same key wins
        }
        items.push(MapLeaf::new(*k, *v));
    }
    let mut u = Updater {
        src,
        version,
        writes: Vec::new(),
        stale: Vec::new(),
        placed: 0,
        replaced: 0,
        pushed: 0,
    };
    let root_group = match base {
        Some(b) => {
            let key = NodeKey::root(b);
            let g = u.src.fetch(key)?;
            u.stale.push(key);
            g
        }
        None => NodeGroup::default(),
    };
    let root = u.update_group(root_group, 0, &Hash::ZERO, &items)?;
    Ok(MapUpdate {
        version,
        root,
        new_keys: u.placed.saturating_sub(u.replaced + u.pushed),
        writes: u.writes,
        stale: u.stale,
    })
}

struct Updater<F> {
    src: F,
    version: u64,
    writes: Vec<(NodeKey, NodeGroup)>,
    stale: Vec<NodeKey>,
    /// Leaves placed; each is a new key, a replaced key or an old leaf pushed down.
    placed: u64,
    replaced: u64,
    pushed: u64,
}

impl<F: Fetch> Updater<F> {
    /// Writes `items` (sorted, distinct, all under this group's path) into `group` at nibble
    /// depth `nibbles`, stores the result and returns its root hash.
    fn update_group(
        &mut self,
        mut group: NodeGroup,
        nibbles: u8,
        path: &Hash,
        items: &[MapLeaf],
    ) -> Result<Hash, MapStoreError> {
        let mut dirty = 0u16;
        let mut rest = items;
        while let Some(first) = rest.first() {
            let slot = nibble(&first.key, nibbles);
            let n = rest.partition_point(|l| nibble(&l.key, nibbles) <= slot);
            let (run, tail) = rest.split_at(n);
            rest = tail;
            let child = self.update_child(group.child(slot).copied(), nibbles + 1, run)?;
            group.set_child(slot, child);
            dirty |= 1 << slot;
        }
        group.rehash(dirty)?;
        let hash = group.root_hash()?;
        self.writes
            .push((NodeKey::new(self.version, path, nibbles), group));
        Ok(hash)
    }

    /// The new content of a child slot whose keys start at nibble depth `nibbles`.
    fn update_child(
        &mut self,
        existing: Option<Child>,
        nibbles: u8,
        run: &[MapLeaf],
    ) -> Result<Child, MapStoreError> {
        match existing {
            None => self.build(nibbles, run),
            Some(Child::Leaf(old)) => {
                if run.iter().any(|l| l.key == old.key) {
                    self.replaced += 1;
                    self.build(nibbles, run)
                } else {
                    self.pushed += 1;
                    let (before, after) = run.split_at(run.partition_point(|l| l.key < old.key));
                    let mut merged = Vec::with_capacity(run.len() + 1);
                    merged.extend_from_slice(before);
                    merged.push(old);
                    merged.extend_from_slice(after);
                    self.build(nibbles, &merged)
                }
            }
            Some(Child::Subtree { version, .. }) => {
                let path = run.first().map(|l| l.key).unwrap_or_default();
                let key = NodeKey::new(version, &path, nibbles);
                let group = self.src.fetch(key)?;
                self.stale.push(key);
                let hash = self.update_group(group, nibbles, &path, run)?;
                Ok(Child::Subtree {
                    hash,
                    version: self.version,
                })
            }
        }
    }

    /// A child slot holding exactly `run` (sorted, distinct, non-empty).
    fn build(&mut self, nibbles: u8, run: &[MapLeaf]) -> Result<Child, MapStoreError> {
        match run {
            [] => Err(MapStoreError::Corrupt("empty run in map update".into())),
            [one] => {
                self.placed += 1;
                Ok(Child::Leaf(*one))
            }
            [first, ..] => {
                if nibbles > MAX_GROUP_NIBBLES {
                    return Err(MapStoreError::Corrupt("duplicate key in map update".into()));
                }
                let path = first.key;
                let hash = self.update_group(NodeGroup::default(), nibbles, &path, run)?;
                Ok(Child::Subtree {
                    hash,
                    version: self.version,
                })
            }
        }
    }
}

/// The map root of `version`.
///
/// # Errors
/// [`MapStoreError::MissingNode`] if that version's root group is not stored, or a read error.
pub fn root_hash<S: MapStore + ?Sized>(store: &S, version: u64) -> Result<Hash, MapStoreError> {
    load(store, NodeKey::root(version))?.root_hash()
}

/// The value of `key` in `version`, if present.
///
/// # Errors
/// [`MapStoreError::MissingNode`] if a group of that version is not stored, or a read error.
pub fn get<S: MapStore + ?Sized>(
    store: &S,
    version: u64,
    key: &Hash,
) -> Result<Option<MapValue>, MapStoreError> {
    let mut group = load(store, NodeKey::root(version))?;
    let mut nibbles = 0u8;
    loop {
        let next = match group.child(nibble(key, nibbles)) {
            None => return Ok(None),
            Some(Child::Leaf(l)) => return Ok((l.key == *key).then_some(l.value)),
            Some(Child::Subtree { version, .. }) => *version,
        };
        nibbles += 1;
        if nibbles > MAX_GROUP_NIBBLES {
            return Err(MapStoreError::Corrupt(
                "map path deeper than 256 bits".into(),
            ));
        }
        group = load(store, NodeKey::new(next, key, nibbles))?;
    }
}

/// The §3.6 proof for `key` against the root of `version` (existence or non-existence).
///
/// # Errors
/// [`MapStoreError::MissingNode`] if a group of that version is not stored, or a read error.
pub fn prove<S: MapStore + ?Sized>(
    store: &S,
    version: u64,
    key: &Hash,
) -> Result<MapProof, MapStoreError> {
    let mut group = load(store, NodeKey::root(version))?;
    let mut nibbles = 0u8;
    let mut depth = 0usize;
    let mut bitmap = [0u8; 32];
    let mut siblings = Vec::new();
    loop {
        let mut i = 1usize;
        let next = loop {
            match group.kind(i)? {
                Kind::Empty => return Ok(finish(depth, &bitmap, siblings, Terminal::Empty)),
                Kind::Leaf(l) => {
                    let terminal = if l.key == *key {
                        Terminal::Value {
                            key: l.key,
                            value: l.value.to_bytes().to_vec(),
                        }
                    } else {
                        Terminal::ValueHash {
                            key: l.key,
                            value_hash: l.value.value_hash(),
                        }
                    };
                    return Ok(finish(depth, &bitmap, siblings, terminal));
                }
                Kind::Node(_) => {
                    if depth >= usize::from(MAX_MAP_DEPTH) {
                        return Err(MapStoreError::Corrupt(
                            "map path deeper than 256 bits".into(),
                        ));
                    }
                    let (next, sibling) = if key_bit(key, depth) {
                        (2 * i + 1, 2 * i)
                    } else {
                        (2 * i, 2 * i + 1)
                    };
                    let h = group.kind(sibling)?.hash();
                    if h != Hash::ZERO {
                        if let Some(b) = bitmap.get_mut(depth / 8) {
                            *b |= 0x80 >> (depth % 8);
                        }
                        siblings.push(h);
                    }
                    depth += 1;
                    i = next;
                }
                Kind::Subtree { version, .. } => break version,
            }
        };
        nibbles += 1;
        if nibbles > MAX_GROUP_NIBBLES {
            return Err(MapStoreError::Corrupt(
                "map path deeper than 256 bits".into(),
            ));
        }
        group = load(store, NodeKey::new(next, key, nibbles))?;
    }
}

fn finish(depth: usize, bitmap: &[u8; 32], siblings: Vec<Hash>, terminal: Terminal) -> MapProof {
    MapProof {
        depth: u16::try_from(depth).unwrap_or(MAX_MAP_DEPTH),
        bitmap: bitmap.iter().take(depth.div_ceil(8)).copied().collect(),
        siblings,
        terminal,
    }
}
