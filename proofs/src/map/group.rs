//! Node groups: the unit of versioned map storage (DESIGN §3.6 "versioned storage").
//!
//! A group stores [`GROUP_BITS`] = 4 levels of the binary tree below one key prefix whose length
//! is a multiple of 4 bits (a nibble path, as in JMT): its up to 16 children (a shortcut leaf,
//! or a subtree of ≥ 2 keys stored as its own group) and the hashes of its real interior
//! binary nodes (heap positions 1–15). Positions that hold nothing or only one leaf are not
//! stored: their hash is zero or that leaf's hash (the shortcut rule). Groups are written
//! copy-on-write: an update writes new groups under the new version and never changes a
//! stored one, so every retained version can still be read and proven.
//!
//! Storage is trusted: decoding checks the byte layout (no panic, no trailing bytes) but does
//! not re-hash leaves.

use crate::hash::Hash;

use super::store::MapStoreError;
use super::{map_node_hash, MapValue, MAP_VALUE_LEN};

/// Key bits per node group.
pub const GROUP_BITS: usize = 4;
/// Children per node group.
pub const GROUP_WIDTH: usize = 1 << GROUP_BITS;
/// Deepest nibble path a group can have (its children are then at bit 256).
pub const MAX_GROUP_NIBBLES: u8 = 63;
/// Encoding version byte of a stored group.
const GROUP_FORMAT: u8 = 1;

/// Storage key of a node group: the version that wrote it and its nibble path.
///
/// Byte form ([`NodeKey::to_bytes`]): version (u64 BE) ‖ nibble count (u8) ‖ the path's
/// ⌈count/2⌉ bytes (an odd count leaves the low nibble of the last byte 0). Keys of one
/// version are contiguous in byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey {
    version: u64,
    nibbles: u8,
    path: Hash,
}

impl NodeKey {
    /// The root group of `version`.
    pub fn root(version: u64) -> NodeKey {
        NodeKey {
            version,
            nibbles: 0,
            path: Hash::ZERO,
        }
    }

    /// The group at the first `nibbles` nibbles of `key`, written at `version`.
    /// `nibbles` is clamped to [`MAX_GROUP_NIBBLES`].
    pub fn new(version: u64, key: &Hash, nibbles: u8) -> NodeKey {
        let nibbles = nibbles.min(MAX_GROUP_NIBBLES);
        let mut path = Hash::ZERO;
        let n = usize::from(nibbles);
        for (i, (dst, src)) in path.0.iter_mut().zip(key.0.iter()).enumerate() {
            if 2 * i + 2 <= n {
                *dst = *src;
            } else if 2 * i + 1 == n {
                *dst = src & 0xf0;
            }
        }
        NodeKey {
            version,
            nibbles,
            path,
        }
    }

    /// The version that wrote this group.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of nibbles (4-bit steps) from the root to this group.
    pub fn nibbles(&self) -> u8 {
        self.nibbles
    }

    /// The path as a key whose bits past `4 × nibbles` are 0.
    pub fn path(&self) -> &Hash {
        &self.path
    }

    /// The storage key bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = usize::from(self.nibbles).div_ceil(2);
        let mut out = Vec::with_capacity(9 + n);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.push(self.nibbles);
        out.extend(self.path.0.iter().take(n));
        out
    }

    /// Parses storage key bytes written by [`NodeKey::to_bytes`].
    ///
    /// # Errors
    /// [`MapStoreError::Corrupt`] for a wrong length, a nibble count above
    /// [`MAX_GROUP_NIBBLES`] or a non-zero unused nibble.
    pub fn from_bytes(bytes: &[u8]) -> Result<NodeKey, MapStoreError> {
        let bad = |why: &str| MapStoreError::Corrupt(format!("node key: {why}"));
        let (version, rest) = bytes.split_at_checked(8).ok_or_else(|| bad("too short"))?;
        let (&nibbles, path) = rest.split_first().ok_or_else(|| bad("too short"))?;
        if nibbles > MAX_GROUP_NIBBLES {
            return Err(bad("nibble count above 63"));
        }
        if path.len() != usize::from(nibbles).div_ceil(2) {
            return Err(bad("path length does not match the nibble count"));
        }
        let mut full = Hash::ZERO;
        full.0
            .iter_mut()
            .zip(path)
            .for_each(|(dst, src)| *dst = *src);
        let version = u64::from_be_bytes(version.try_into().map_err(|_| bad("too short"))?);
        let key = NodeKey::new(version, &full, nibbles);
        if key.path != full {
            return Err(bad("non-zero bits past the path"));
        }
        Ok(key)
    }
}

/// A shortcut leaf stored in its parent group: the key, its value and its leaf hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapLeaf {
    /// The map key (`SHA-256(ref)`).
    pub key: Hash,
    /// The value.
    pub value: MapValue,
    /// `map_leaf_hash(key, SHA-256(value))`.
    pub hash: Hash,
}

impl MapLeaf {
    /// Builds a leaf and computes its hash.
    pub fn new(key: Hash, value: MapValue) -> MapLeaf {
        MapLeaf {
            key,
            value,
            hash: super::map_leaf_hash(&key, &value.value_hash()),
        }
    }
}

/// One non-empty child slot of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Child {
    /// Exactly one key below this slot.
    Leaf(MapLeaf),
    /// Two or more keys: the child group, stored under `NodeKey(version, path ‖ slot)`.
    Subtree {
        /// The child group's root hash.
        hash: Hash,
        /// The version that wrote the child group.
        version: u64,
    },
}

/// What a binary position inside a group holds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind<'a> {
    Empty,
    Leaf(&'a MapLeaf),
    Node(Hash),
    Subtree { hash: Hash, version: u64 },
}

impl Kind<'_> {
    pub(crate) fn hash(&self) -> Hash {
        match self {
            Kind::Empty => Hash::ZERO,
            Kind::Leaf(l) => l.hash,
            Kind::Node(h) | Kind::Subtree { hash: h, .. } => *h,
        }
    }
}

/// Four levels of the tree below one nibble path. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeGroup {
    /// Non-empty child slots (0–15), ascending.
    children: Vec<(u8, Child)>,
    /// Hashes of real interior binary nodes, by heap position (1–15), ascending.
    nodes: Vec<(u8, Hash)>,
}

/// Slot range `[lo, lo + width)` covered by heap position `i` (1–31).
fn heap_range(i: usize) -> (usize, usize) {
    let level = i.ilog2() as usize;
    let width = GROUP_WIDTH >> level;
    ((i - (1 << level)) * width, width)
}

fn range_mask(lo: usize, width: usize) -> u16 {
    let ones = (1u32 << width) - 1;
    u16::try_from((ones << lo) & 0xffff).unwrap_or(u16::MAX)
}

impl NodeGroup {
    /// The non-empty children, ascending by slot.
    pub fn children(&self) -> &[(u8, Child)] {
        &self.children
    }

    /// The child at `slot`, if any.
    pub fn child(&self, slot: u8) -> Option<&Child> {
        self.children
            .binary_search_by_key(&slot, |(s, _)| *s)
            .ok()
            .and_then(|i| self.children.get(i))
            .map(|(_, c)| c)
    }

    /// Sets the child at `slot` (the caller then calls [`NodeGroup::rehash`]).
    pub(crate) fn set_child(&mut self, slot: u8, child: Child) {
        match self.children.binary_search_by_key(&slot, |(s, _)| *s) {
            Ok(i) => {
                if let Some(c) = self.children.get_mut(i) {
                    c.1 = child;
                }
            }
            Err(i) => self.children.insert(i, (slot, child)),
        }
    }

    /// The group's root hash (heap position 1): zero, a leaf's hash, or a node hash.
    ///
    /// # Errors
    /// [`MapStoreError::Corrupt`] if the stored nodes do not fit the children.
    pub fn root_hash(&self) -> Result<Hash, MapStoreError> {
        self.kind(1).map(|k| k.hash())
    }

    fn stored_node(&self, i: usize) -> Option<Hash> {
        let i = u8::try_from(i).ok()?;
        self.nodes
            .binary_search_by_key(&i, |(p, _)| *p)
            .ok()
            .and_then(|j| self.nodes.get(j))
            .map(|(_, h)| *h)
    }

    /// What heap position `i` (1–31) holds; positions 16–31 are the child slots.
    pub(crate) fn kind(&self, i: usize) -> Result<Kind<'_>, MapStoreError> {
        if i >= GROUP_WIDTH {
            let slot = u8::try_from(i - GROUP_WIDTH).unwrap_or(u8::MAX);
            return Ok(match self.child(slot) {
                None => Kind::Empty,
                Some(Child::Leaf(l)) => Kind::Leaf(l),
                Some(Child::Subtree { hash, version }) => Kind::Subtree {
                    hash: *hash,
                    version: *version,
                },
            });
        }
        if let Some(h) = self.stored_node(i) {
            return Ok(Kind::Node(h));
        }
        let (lo, width) = heap_range(i);
        let mut inside = self
            .children
            .iter()
            .filter(|(s, _)| (lo..lo + width).contains(&usize::from(*s)));
        match (inside.next(), inside.next()) {
            (None, _) => Ok(Kind::Empty),
            (Some((_, Child::Leaf(l))), None) => Ok(Kind::Leaf(l)),
            _ => Err(MapStoreError::Corrupt(format!(
                "node group lacks the hash of interior position {i}"
            ))),
        }
    }

    /// Recomputes the interior hashes above the child slots in `dirty` (bit s = slot s),
    /// keeping every other stored hash: each touched node is hashed once.
    pub(crate) fn rehash(&mut self, dirty: u16) -> Result<(), MapStoreError> {
        let mut fresh = Fresh::default();
        self.compute(1, dirty, &mut fresh)?;
        self.nodes.retain(|(i, _)| {
            let (lo, w) = heap_range(usize::from(*i));
            range_mask(lo, w) & dirty == 0
        });
        self.nodes
            .extend_from_slice(fresh.items.get(..fresh.len).unwrap_or_default());
        self.nodes.sort_unstable_by_key(|(i, _)| *i);
        Ok(())
    }

    fn compute(&self, i: usize, dirty: u16, fresh: &mut Fresh) -> Result<Kind<'_>, MapStoreError> {
        if i >= GROUP_WIDTH {
            return self.kind(i);
        }
        let (lo, w) = heap_range(i);
        if range_mask(lo, w) & dirty == 0 {
            return self.kind(i);
        }
        let left = self.compute(2 * i, dirty, fresh)?;
        let right = self.compute(2 * i + 1, dirty, fresh)?;
        Ok(match (left, right) {
            (Kind::Empty, Kind::Empty) => Kind::Empty,
            (Kind::Empty, Kind::Leaf(l)) | (Kind::Leaf(l), Kind::Empty) => Kind::Leaf(l),
            (l, r) => {
                let h = map_node_hash(&l.hash(), &r.hash());
                fresh.push(i, h);
                Kind::Node(h)
            }
        })
    }

    /// The stored byte form: format (1) ‖ child mask ‖ leaf mask ‖ node mask (u16 BE each) ‖
    /// per child by slot: leaf = key ‖ value (48) ‖ leaf hash, subtree = hash ‖ version
    /// (u64 BE) ‖ per stored node by position: hash.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (mut cmask, mut lmask, mut nmask) = (0u16, 0u16, 0u16);
        for (s, c) in &self.children {
            cmask |= 1 << s;
            if matches!(c, Child::Leaf(_)) {
                lmask |= 1 << s;
            }
        }
        for (i, _) in &self.nodes {
            nmask |= 1 << i;
        }
        let mut out = Vec::with_capacity(7 + self.children.len() * 112 + self.nodes.len() * 32);
        out.push(GROUP_FORMAT);
        out.extend_from_slice(&cmask.to_be_bytes());
        out.extend_from_slice(&lmask.to_be_bytes());
        out.extend_from_slice(&nmask.to_be_bytes());
        for (_, c) in &self.children {
            match c {
                Child::Leaf(l) => {
                    out.extend_from_slice(&l.key.0);
                    out.extend_from_slice(&l.value.to_bytes());
                    out.extend_from_slice(&l.hash.0);
                }
                Child::Subtree { hash, version } => {
                    out.extend_from_slice(&hash.0);
                    out.extend_from_slice(&version.to_be_bytes());
                }
            }
        }
        for (_, h) in &self.nodes {
            out.extend_from_slice(&h.0);
        }
        out
    }

    /// Parses [`NodeGroup::to_bytes`] output.
    ///
    /// # Errors
    /// [`MapStoreError::Corrupt`] for an unknown format byte, inconsistent masks, a short
    /// input or trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<NodeGroup, MapStoreError> {
        let mut r = Reader(bytes);
        if r.take(1)? != [GROUP_FORMAT] {
            return Err(MapStoreError::Corrupt("unknown node group format".into()));
        }
        let cmask = r.u16()?;
        let lmask = r.u16()?;
        let nmask = r.u16()?;
        if lmask & !cmask != 0 || nmask & 1 != 0 {
            return Err(MapStoreError::Corrupt(
                "inconsistent node group masks".into(),
            ));
        }
        let mut g = NodeGroup::default();
        for s in 0..16u8 {
            if cmask & (1 << s) == 0 {
                continue;
            }
            let child = if lmask & (1 << s) != 0 {
                let key = r.hash()?;
                let value = MapValue::from_bytes(r.take(MAP_VALUE_LEN)?)
                    .map_err(|e| MapStoreError::Corrupt(e.to_string()))?;
                Child::Leaf(MapLeaf {
                    key,
                    value,
                    hash: r.hash()?,
                })
            } else {
                let hash = r.hash()?;
                let version = u64::from_be_bytes(r.array8()?);
                Child::Subtree { hash, version }
            };
            g.children.push((s, child));
        }
        for i in 1..16u8 {
            if nmask & (1 << i) != 0 {
                g.nodes.push((i, r.hash()?));
            }
        }
        if !r.0.is_empty() {
            return Err(MapStoreError::Corrupt(
                "trailing bytes after node group".into(),
            ));
        }
        Ok(g)
    }
}

/// Interior hashes recomputed by one [`NodeGroup::rehash`] (at most 15), on the stack.
#[derive(Default)]
struct Fresh {
    items: [(u8, Hash); GROUP_WIDTH - 1],
    len: usize,
}

impl Fresh {
    fn push(&mut self, i: usize, h: Hash) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = (u8::try_from(i).unwrap_or(0), h);
            self.len += 1;
        }
    }
}

/// Bounded reader over stored bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MapStoreError> {
        let (head, tail) = self
            .0
            .split_at_checked(n)
            .ok_or_else(|| MapStoreError::Corrupt("node group is truncated".into()))?;
        self.0 = tail;
        Ok(head)
    }
    fn u16(&mut self) -> Result<u16, MapStoreError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes(b.try_into().unwrap_or([0; 2])))
    }
    fn array8(&mut self) -> Result<[u8; 8], MapStoreError> {
        let b = self.take(8)?;
        Ok(b.try_into().unwrap_or([0; 8]))
    }
    fn hash(&mut self) -> Result<Hash, MapStoreError> {
        let b = self.take(32)?;
        Hash::from_slice(b).ok_or_else(|| MapStoreError::Corrupt("short hash".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_key_round_trip() {
        let key = Hash([0xab; 32]);
        for n in [0u8, 1, 2, 7, 63] {
            let k = NodeKey::new(9, &key, n);
            let b = k.to_bytes();
            assert_eq!(b.len(), 9 + usize::from(n).div_ceil(2));
            assert_eq!(NodeKey::from_bytes(&b).unwrap(), k);
        }
        assert_eq!(NodeKey::new(1, &key, 1).path().0[0], 0xa0);
        let mut bad = NodeKey::new(1, &key, 1).to_bytes();
        bad[9] = 0xab;
        assert!(NodeKey::from_bytes(&bad).is_err());
        assert!(NodeKey::from_bytes(&[0; 8]).is_err());
    }

    #[test]
    fn heap_ranges() {
        assert_eq!(heap_range(1), (0, 16));
        assert_eq!(heap_range(3), (8, 8));
        assert_eq!(heap_range(15), (14, 2));
        assert_eq!(heap_range(31), (15, 1));
        assert_eq!(range_mask(0, 16), 0xffff);
        assert_eq!(range_mask(14, 2), 0xc000);
    }
}
