//! Map objects: the tag map (DESIGN §3.6) published as immutable objects, each addressed by
//! the map hash of the subtree it holds.
//!
//! A map object spans [`OBJECT_NIBBLES`] = 2 node groups, that is 8 key bits: the group at a
//! nibble path of even length `d` (its *top* group) and, inline, every group at depth `d + 1`
//! below it (its *inner* groups). Its address is the top group's root hash, which the reader
//! already holds: the state leaf's map root for the object at depth 0, and otherwise the hash
//! of a subtree child of an inner group of the object above. Byte form:
//!
//! ```text
//! object  = 0x01 ‖ group(top)                    each object below is at map/<its address>
//!         | 0x02 ‖ group(top) ‖ locator*         one locator per subtree hash, in order
//! group   = child mask (u16 BE) ‖ leaf mask (u16 BE) ‖ one child per set bit, slot 0 first:
//!           leaf     key (32) ‖ value (48)
//!           subtree  in the top group:   group(inner) (inline, its hash is computed)
//!                    in an inner group:  hash (32)    (the address of the object below)
//! locator = pack id (16) ‖ offset (u32 BE) ‖ length (u32 BE)
//! ```
//!
//! A [`Locator`] says where the object below is: `length` bytes at `offset` of the pack
//! `map/pack/<hex pack id>` (a publisher uploads the objects of one publication as one pack,
//! so it creates one object where it would create hundreds), or, all 24 bytes zero, at its
//! own address. Locators are hints, outside the hash: what is fetched by one is opened at the
//! address its parent names, like any object, so a wrong locator can only make a read fail.
//!
//! Guarantees of [`MapObject::open`]: the bytes decode exactly (no trailing bytes, at most
//! [`MAX_MAP_OBJECT_BYTES`], checked first); every leaf's key leads to the slot it sits in
//! (its first `d` nibbles are the object's path, then the slot nibbles); every inline group
//! and every object below the root holds at least two keys (a subtree of one key is that
//! key's shortcut leaf, never a group); every subtree hash is non-zero; and the root hash
//! recomputed from the keys, values and subtree hashes equals the address. So an object that
//! opens is the one subtree its address commits to, and nothing in it is used before that
//! check. Leaf hashes and interior hashes are never read from the bytes: they are recomputed.
//!
//! [`map_objects`] computes, from versioned map storage, the objects a publisher uploads for
//! a map version: all of them, or only those written after an earlier published version.
//!
//! Out of scope: fetching, caching and HTTP; which version is current (the checkpoint and
//! its state leaf say so).

use crate::hash::Hash;
use crate::map::{
    common_prefix, nibble, Child, MapLeaf, MapStore, MapStoreError, MapValue, NodeGroup, NodeKey,
    GROUP_WIDTH, MAP_VALUE_LEN, MAX_GROUP_NIBBLES,
};

/// Format byte of a map object whose objects below are at their own address.
pub const MAP_OBJECT_FORMAT: u8 = 1;
/// Format byte of a map object that ends with a [`Locator`] per object below.
pub const MAP_OBJECT_FORMAT_LOCATED: u8 = 2;
/// Bytes of a pack id.
pub const PACK_ID_BYTES: usize = 16;
/// Bytes of one encoded [`Locator`].
pub const LOCATOR_BYTES: usize = PACK_ID_BYTES + 8;
/// Largest pack: a locator never points past it, and a reader that gets a whole pack (a
/// server that ignores `Range`) reads at most this much.
pub const MAX_PACK_BYTES: usize = 16 << 20;
/// Nibbles (node groups) spanned by one object: 8 key bits.
pub const OBJECT_NIBBLES: u8 = 2;
/// Deepest nibble depth at which an object starts (its inner groups are then at 63).
pub const MAX_OBJECT_NIBBLES: u8 = MAX_GROUP_NIBBLES - 1;
const LEAF_BYTES: usize = 32 + MAP_VALUE_LEN;
const MAX_INNER_BYTES: usize = 4 + GROUP_WIDTH * LEAF_BYTES;
/// Largest map object: sixteen inline groups of sixteen leaves each (a subtree hash and its
/// locator, 56 bytes, are smaller than a leaf).
pub const MAX_MAP_OBJECT_BYTES: usize = 1 + 4 + GROUP_WIDTH * MAX_INNER_BYTES;

/// Why a map object was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapObjectError {
    /// More bytes than any map object has; rejected before decoding.
    #[error("map object is {len} bytes, more than the maximum {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_MAP_OBJECT_BYTES`].
        max: usize,
    },
    /// The first byte is neither [`MAP_OBJECT_FORMAT`] nor [`MAP_OBJECT_FORMAT_LOCATED`].
    #[error("map object has format byte {0}, expected 1 or 2")]
    UnknownFormat(u8),
    /// A locator that is not canonical: a zero pack id with a non-zero offset or length, or
    /// a pack range that is empty, longer than an object or past [`MAX_PACK_BYTES`].
    #[error("map object locator {index} is not canonical (pack range {offset}+{len})")]
    BadLocator {
        /// Its position among the object's locators.
        index: usize,
        /// Its offset.
        offset: u32,
        /// Its length.
        len: u32,
    },
    /// The bytes end inside a group.
    #[error("map object is truncated")]
    Truncated,
    /// Bytes after the top group.
    #[error("map object has {0} trailing bytes")]
    TrailingBytes(usize),
    /// A leaf-mask bit without its child-mask bit.
    #[error("map object group has a leaf bit for an empty slot")]
    LeafMaskOutsideChildren,
    /// An object with no key: the empty map has no object.
    #[error("map object holds no key (the empty map is published as no object)")]
    Empty,
    /// An object below the root holding one key: that key would be a shortcut leaf.
    #[error(
        "map object at nibble {nibbles} holds one key; a one-key subtree is a leaf, not an object"
    )]
    SingleLeaf {
        /// The object's depth.
        nibbles: u8,
    },
    /// An inline group holding fewer than two keys.
    #[error("inline group at top slot {slot} holds fewer than two keys")]
    InnerTooSmall {
        /// The top slot.
        slot: u8,
    },
    /// A leaf whose key does not lead to the slot it is stored in.
    #[error(
        "leaf {key} is stored at nibble {nibbles} slot {slot}, which its key does not lead to"
    )]
    MisplacedLeaf {
        /// The leaf's key.
        key: Hash,
        /// Nibble depth of the group holding it.
        nibbles: u8,
        /// The slot it is stored in.
        slot: u8,
    },
    /// A subtree below nibble 63 (keys have 64 nibbles).
    #[error("map object at nibble {nibbles} refers to a subtree deeper than a key")]
    TooDeep {
        /// The object's depth.
        nibbles: u8,
    },
    /// A subtree child whose hash is zero (the empty subtree is no child).
    #[error("map object lists an all-zero subtree hash")]
    ZeroSubtree,
    /// An object depth that is odd or above [`MAX_OBJECT_NIBBLES`].
    #[error("map objects start at even nibble depths up to 62, not {0}")]
    BadDepth(u8),
    /// The recomputed root differs from the address the object was fetched by.
    #[error("map object fetched as {address} hashes to {computed}: it was altered or misfiled")]
    AddressMismatch {
        /// The address (the hash the reader expected).
        address: Hash,
        /// The hash recomputed from the bytes.
        computed: Hash,
    },
    /// Recomputing the group hashes failed (a bug: the groups are built here).
    #[error("map object groups are inconsistent: {0}")]
    Inconsistent(String),
}

/// The name of a pack of map objects: `map/pack/<32 lowercase hex digits>`. Chosen by the
/// publisher, unique per pack; it is not a hash (the objects in it are checked by address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackId(pub [u8; PACK_ID_BYTES]);

/// Where the map object below another one is found (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locator {
    /// At its own address, `map/<address>`.
    Own,
    /// `len` bytes at `offset` of pack `pack`.
    Packed {
        /// The pack.
        pack: PackId,
        /// Where the object starts.
        offset: u32,
        /// Its length.
        len: u32,
    },
}

impl Locator {
    fn to_bytes(self) -> [u8; LOCATOR_BYTES] {
        let mut out = [0u8; LOCATOR_BYTES];
        if let Locator::Packed { pack, offset, len } = self {
            out[..PACK_ID_BYTES].copy_from_slice(&pack.0);
            out[PACK_ID_BYTES..PACK_ID_BYTES + 4].copy_from_slice(&offset.to_be_bytes());
            out[PACK_ID_BYTES + 4..].copy_from_slice(&len.to_be_bytes());
        }
        out
    }

    fn parse(b: &[u8; LOCATOR_BYTES], index: usize) -> Result<Locator, MapObjectError> {
        let [id @ .., o0, o1, o2, o3, l0, l1, l2, l3] = *b;
        let (offset, len) = (
            u32::from_be_bytes([o0, o1, o2, o3]),
            u32::from_be_bytes([l0, l1, l2, l3]),
        );
        let bad = MapObjectError::BadLocator { index, offset, len };
        let pack = PackId(id);
        if pack.0 == [0; PACK_ID_BYTES] {
            return if offset == 0 && len == 0 {
                Ok(Locator::Own)
            } else {
                Err(bad)
            };
        }
        let end = u64::from(offset) + u64::from(len);
        if len == 0 || len as usize > MAX_MAP_OBJECT_BYTES || end > MAX_PACK_BYTES as u64 {
            return Err(bad);
        }
        Ok(Locator::Packed { pack, offset, len })
    }

    /// The object's bytes in the answer to an HTTP request for its range of the pack:
    /// `partial` for a 206 answer (the body must be exactly the range), otherwise the whole
    /// pack (a server that ignores `Range`), which must hold the range. `None` if the body
    /// does not fit, or for [`Locator::Own`].
    pub fn cut<'a>(&self, partial: bool, body: &'a [u8]) -> Option<&'a [u8]> {
        let (_, r) = self.range()?;
        if partial {
            return (body.len() as u64 == r.end - r.start).then_some(body);
        }
        body.get(usize::try_from(r.start).ok()?..usize::try_from(r.end).ok()?)
    }

    /// The `Range` header value that asks for the object's bytes of its pack.
    pub fn range_header(&self) -> Option<String> {
        let (_, r) = self.range()?;
        Some(format!("bytes={}-{}", r.start, r.end.saturating_sub(1)))
    }

    /// The pack and byte range, or `None` for [`Locator::Own`].
    pub fn range(&self) -> Option<(PackId, std::ops::Range<u64>)> {
        match *self {
            Locator::Own => None,
            Locator::Packed { pack, offset, len } => {
                Some((pack, u64::from(offset)..u64::from(offset) + u64::from(len)))
            }
        }
    }
}

/// A map object that opened: its address verified against its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapObject {
    address: Hash,
    nibbles: u8,
    path: Hash,
    top: NodeGroup,
    inner: Vec<(u8, NodeGroup)>,
    /// One per object below, in [`MapObject::children`] order; `None` for format 1.
    locators: Option<Vec<Locator>>,
}

/// `path` with nibble `n` set to `v` (nibbles past `n` are left as they are).
pub(crate) fn with_nibble(path: &Hash, n: u8, v: u8) -> Hash {
    let mut out = *path;
    if let Some(b) = out.0.get_mut(usize::from(n / 2)) {
        *b = if n.is_multiple_of(2) {
            (*b & 0x0f) | (v << 4)
        } else {
            (*b & 0xf0) | (v & 0x0f)
        };
    }
    out
}

/// Whether a group holds at least two keys (a one-key subtree would be a shortcut leaf).
fn holds_two_keys(g: &NodeGroup) -> bool {
    match g.children() {
        [] => false,
        [(_, child)] => matches!(child, Child::Subtree { .. }),
        _ => true,
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MapObjectError> {
        let (head, tail) = self
            .0
            .split_at_checked(n)
            .ok_or(MapObjectError::Truncated)?;
        self.0 = tail;
        Ok(head)
    }
    fn u16(&mut self) -> Result<u16, MapObjectError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes(b.try_into().unwrap_or([0; 2])))
    }
    fn hash(&mut self) -> Result<Hash, MapObjectError> {
        Hash::from_slice(self.take(32)?).ok_or(MapObjectError::Truncated)
    }
    fn masks(&mut self) -> Result<(u16, u16), MapObjectError> {
        let (children, leaves) = (self.u16()?, self.u16()?);
        if leaves & !children != 0 {
            return Err(MapObjectError::LeafMaskOutsideChildren);
        }
        Ok((children, leaves))
    }
    /// A leaf in slot `slot` of the group at `nibbles` deep on `path`.
    fn leaf(&mut self, nibbles: u8, path: &Hash, slot: u8) -> Result<MapLeaf, MapObjectError> {
        let key = self.hash()?;
        let value = MapValue::from_bytes(self.take(MAP_VALUE_LEN)?)
            .map_err(|_| MapObjectError::Truncated)?;
        let bits = 4 * usize::from(nibbles);
        if !common_prefix(&key, path, bits) || nibble(&key, nibbles) != slot {
            return Err(MapObjectError::MisplacedLeaf { key, nibbles, slot });
        }
        Ok(MapLeaf::new(key, value))
    }
}

fn slots(mask: u16) -> impl Iterator<Item = u8> {
    (0..16u8).filter(move |s| mask & (1 << s) != 0)
}

fn rehashed(mut g: NodeGroup) -> Result<(NodeGroup, Hash), MapObjectError> {
    let bad = |e: MapStoreError| MapObjectError::Inconsistent(e.to_string());
    g.rehash(u16::MAX).map_err(bad)?;
    let root = g.root_hash().map_err(bad)?;
    Ok((g, root))
}

/// Decodes an inner group (depth `nibbles`, odd) whose subtree children are hashes.
fn read_inner(r: &mut Reader<'_>, nibbles: u8, path: &Hash) -> Result<NodeGroup, MapObjectError> {
    let (children, leaves) = r.masks()?;
    let mut g = NodeGroup::default();
    for slot in slots(children) {
        let child = if leaves & (1 << slot) != 0 {
            Child::Leaf(r.leaf(nibbles, path, slot)?)
        } else {
            if nibbles >= MAX_GROUP_NIBBLES {
                return Err(MapObjectError::TooDeep { nibbles });
            }
            let hash = r.hash()?;
            if hash == Hash::ZERO {
                return Err(MapObjectError::ZeroSubtree);
            }
            Child::Subtree { hash, version: 0 }
        };
        g.set_child(slot, child);
    }
    Ok(g)
}

impl MapObject {
    /// Decodes `bytes` as the object at nibble depth `nibbles` on the key path `path` (only
    /// its first `nibbles` nibbles matter) and checks it against `address`.
    ///
    /// # Errors
    /// [`MapObjectError::TooLarge`] before decoding; [`MapObjectError::BadDepth`];
    /// [`MapObjectError::UnknownFormat`], [`MapObjectError::Truncated`],
    /// [`MapObjectError::TrailingBytes`], [`MapObjectError::LeafMaskOutsideChildren`] for bytes
    /// that are not an object; [`MapObjectError::Empty`], [`MapObjectError::SingleLeaf`],
    /// [`MapObjectError::InnerTooSmall`], [`MapObjectError::MisplacedLeaf`],
    /// [`MapObjectError::TooDeep`], [`MapObjectError::ZeroSubtree`] for an object that is not
    /// in the canonical form; [`MapObjectError::AddressMismatch`] if it is another subtree.
    pub fn open(
        address: &Hash,
        nibbles: u8,
        path: &Hash,
        bytes: &[u8],
    ) -> Result<MapObject, MapObjectError> {
        if bytes.len() > MAX_MAP_OBJECT_BYTES {
            return Err(MapObjectError::TooLarge {
                len: bytes.len(),
                max: MAX_MAP_OBJECT_BYTES,
            });
        }
        if !nibbles.is_multiple_of(OBJECT_NIBBLES) || nibbles > MAX_OBJECT_NIBBLES {
            return Err(MapObjectError::BadDepth(nibbles));
        }
        let path = NodeKey::new(0, path, nibbles).path().to_owned();
        let mut r = Reader(bytes);
        let format = r.take(1)?.first().copied().unwrap_or(0);
        if format != MAP_OBJECT_FORMAT && format != MAP_OBJECT_FORMAT_LOCATED {
            return Err(MapObjectError::UnknownFormat(format));
        }
        let (children, leaves) = r.masks()?;
        let mut top = NodeGroup::default();
        let mut inner = Vec::new();
        for slot in slots(children) {
            if leaves & (1 << slot) != 0 {
                top.set_child(slot, Child::Leaf(r.leaf(nibbles, &path, slot)?));
                continue;
            }
            let below = with_nibble(&path, nibbles, slot);
            let group = read_inner(&mut r, nibbles + 1, &below)?;
            if !holds_two_keys(&group) {
                return Err(MapObjectError::InnerTooSmall { slot });
            }
            let (group, hash) = rehashed(group)?;
            top.set_child(slot, Child::Subtree { hash, version: 0 });
            inner.push((slot, group));
        }
        let locators = if format == MAP_OBJECT_FORMAT_LOCATED {
            let below = inner
                .iter()
                .flat_map(|(_, g)| g.children())
                .filter(|(_, c)| matches!(c, Child::Subtree { .. }))
                .count();
            let mut out = Vec::with_capacity(below);
            for index in 0..below {
                let b = r.take(LOCATOR_BYTES)?;
                let b = b.try_into().map_err(|_| MapObjectError::Truncated)?;
                out.push(Locator::parse(b, index)?);
            }
            Some(out)
        } else {
            None
        };
        if !r.0.is_empty() {
            return Err(MapObjectError::TrailingBytes(r.0.len()));
        }
        if top.children().is_empty() {
            return Err(MapObjectError::Empty);
        }
        if nibbles > 0 && !holds_two_keys(&top) {
            return Err(MapObjectError::SingleLeaf { nibbles });
        }
        let (top, computed) = rehashed(top)?;
        if computed != *address {
            return Err(MapObjectError::AddressMismatch {
                address: *address,
                computed,
            });
        }
        Ok(MapObject {
            address: computed,
            nibbles,
            path,
            top,
            inner,
            locators,
        })
    }

    /// Where the object below this one at `address` is found: `None` if no subtree child of
    /// this object has that address; [`Locator::Own`] for every child of a format-1 object.
    pub fn locator(&self, address: &Hash) -> Option<Locator> {
        let i = self.children().iter().position(|(a, _, _)| a == address)?;
        match &self.locators {
            None => Some(Locator::Own),
            Some(l) => l.get(i).copied(),
        }
    }

    /// The object's address: the root hash of the subtree it holds.
    pub fn address(&self) -> Hash {
        self.address
    }

    /// The nibble depth of its top group.
    pub fn nibbles(&self) -> u8 {
        self.nibbles
    }

    /// The inner group at top slot `slot`, if that slot holds a subtree.
    fn inner(&self, slot: u8) -> Option<&NodeGroup> {
        self.inner
            .binary_search_by_key(&slot, |(s, _)| *s)
            .ok()
            .and_then(|i| self.inner.get(i))
            .map(|(_, g)| g)
    }

    /// Where the walk for `key` goes after this object: the address and nibble depth of the
    /// next object, or `None` if the walk ends here (at a leaf or an empty slot). `key` must
    /// lie on this object's path; for another key the answer is meaningless.
    pub fn next_for(&self, key: &Hash) -> Option<(Hash, u8)> {
        let s = nibble(key, self.nibbles);
        let Some(Child::Subtree { .. }) = self.top.child(s) else {
            return None;
        };
        match self.inner(s)?.child(nibble(key, self.nibbles + 1)) {
            Some(Child::Subtree { hash, .. }) => Some((*hash, self.nibbles + OBJECT_NIBBLES)),
            _ => None,
        }
    }

    /// Every object directly below this one: `(address, a key path leading to it, depth)`.
    pub fn children(&self) -> Vec<(Hash, Hash, u8)> {
        let mut out = Vec::new();
        for (s, g) in &self.inner {
            let p = with_nibble(&self.path, self.nibbles, *s);
            for (t, child) in g.children() {
                if let Child::Subtree { hash, .. } = child {
                    let below = with_nibble(&p, self.nibbles + 1, *t);
                    out.push((*hash, below, self.nibbles + OBJECT_NIBBLES));
                }
            }
        }
        out
    }

    /// Every leaf stored in this object.
    pub fn leaves(&self) -> Vec<MapLeaf> {
        let direct = self.top.children().iter();
        let nested = self.inner.iter().flat_map(|(_, g)| g.children().iter());
        direct
            .chain(nested)
            .filter_map(|(_, c)| match c {
                Child::Leaf(l) => Some(*l),
                Child::Subtree { .. } => None,
            })
            .collect()
    }

    /// The node groups on `key`'s path inside this object, as `(nibble depth, group)`, with
    /// every subtree version 0: what [`crate::map::prove`] reads.
    pub(crate) fn groups_on_path(&self, key: &Hash) -> Vec<(u8, NodeGroup)> {
        let mut out = vec![(self.nibbles, self.top.clone())];
        if let Some(g) = self.inner(nibble(key, self.nibbles)) {
            out.push((self.nibbles + 1, g.clone()));
        }
        out
    }

    /// The object's canonical bytes (what [`MapObject::open`] accepts), in the format it was
    /// opened in.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Built from groups this module decoded and checked: encoding cannot fail.
        let plain = encode_map_object(&self.top, &self.inner).unwrap_or_default();
        match &self.locators {
            None => plain,
            Some(l) => with_locators(plain, l),
        }
    }
}

fn put_masks(out: &mut Vec<u8>, g: &NodeGroup) {
    let (mut children, mut leaves) = (0u16, 0u16);
    for (s, c) in g.children() {
        children |= 1 << s;
        if matches!(c, Child::Leaf(_)) {
            leaves |= 1 << s;
        }
    }
    out.extend_from_slice(&children.to_be_bytes());
    out.extend_from_slice(&leaves.to_be_bytes());
}

fn put_leaf(out: &mut Vec<u8>, l: &MapLeaf) {
    out.extend_from_slice(&l.key.0);
    out.extend_from_slice(&l.value.to_bytes());
}

/// Encodes the object whose top group is `top` and whose inner groups (one per subtree
/// child of `top`, by slot) are `inner`.
///
/// # Errors
/// [`MapStoreError::Corrupt`] if a subtree child of `top` has no inner group in `inner`.
pub fn encode_map_object<G: std::borrow::Borrow<NodeGroup>>(
    top: &NodeGroup,
    inner: &[(u8, G)],
) -> Result<Vec<u8>, MapStoreError> {
    let mut out = Vec::with_capacity(5 + top.children().len() * LEAF_BYTES);
    out.push(MAP_OBJECT_FORMAT);
    put_masks(&mut out, top);
    for (s, c) in top.children() {
        match c {
            Child::Leaf(l) => put_leaf(&mut out, l),
            Child::Subtree { .. } => {
                let g = inner
                    .iter()
                    .find(|(slot, _)| slot == s)
                    .map(|(_, g)| g.borrow())
                    .ok_or_else(|| {
                        MapStoreError::Corrupt(format!("map object lacks its inner group {s}"))
                    })?;
                put_masks(&mut out, g);
                for (_, c) in g.children() {
                    match c {
                        Child::Leaf(l) => put_leaf(&mut out, l),
                        Child::Subtree { hash, .. } => out.extend_from_slice(&hash.0),
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Format-1 bytes `plain` turned into format 2 with `locators`.
fn with_locators(mut plain: Vec<u8>, locators: &[Locator]) -> Vec<u8> {
    if let Some(f) = plain.first_mut() {
        *f = MAP_OBJECT_FORMAT_LOCATED;
    }
    plain.reserve(locators.len() * LOCATOR_BYTES);
    for l in locators {
        plain.extend_from_slice(&l.to_bytes());
    }
    plain
}

/// A map object as a publisher uploads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMapObject {
    /// Its address (the root hash of its subtree).
    pub address: Hash,
    /// Nibble depth of its top group.
    pub nibbles: u8,
    /// A key path leading to it (its first `nibbles` nibbles matter).
    pub path: Hash,
    /// Its bytes in format 1 (objects below at their own address).
    pub bytes: Vec<u8>,
    /// The objects directly below it, as [`MapObject::children`] lists them.
    pub children: Vec<(Hash, Hash, u8)>,
}

impl EncodedMapObject {
    /// Its bytes in format 2, with one locator per child (in [`Self::children`] order).
    ///
    /// # Errors
    /// [`MapStoreError::Corrupt`] if `locators` does not have one locator per child.
    pub fn located(&self, locators: &[Locator]) -> Result<Vec<u8>, MapStoreError> {
        if locators.len() != self.children.len() {
            return Err(MapStoreError::Corrupt(format!(
                "{} locators for the {} objects below map object {}",
                locators.len(),
                self.children.len(),
                self.address
            )));
        }
        Ok(with_locators(self.bytes.clone(), locators))
    }

    /// The length of [`Self::located`]'s bytes.
    pub fn located_len(&self) -> usize {
        self.bytes.len() + self.children.len() * LOCATOR_BYTES
    }
}

/// The map objects of map `version` in `store`: all of them (`newer_than` = `None`), or only
/// those whose top group was written after map version `newer_than` (copy-on-write: every
/// other object of `version` is already an object of `newer_than`, which was published
/// before). Root first, then breadth first.
///
/// # Errors
/// [`MapStoreError::MissingNode`] if a group of `version` is not stored (pruned), any read
/// error, or [`MapStoreError::Corrupt`] for a group whose subtree is missing.
pub fn map_objects<S: MapStore + ?Sized>(
    store: &S,
    version: u64,
    newer_than: Option<u64>,
) -> Result<Vec<EncodedMapObject>, MapStoreError> {
    // Groups are borrowed where the store lends them: a publisher's cache of the groups
    // near the top is read, not copied.
    let load = |key: NodeKey| -> Result<std::borrow::Cow<'_, NodeGroup>, MapStoreError> {
        store
            .get_group(&key)?
            .ok_or(MapStoreError::MissingNode(key))
    };
    let fresh = |v: u64| newer_than.is_none_or(|old| v > old);
    let mut out = Vec::new();
    let mut queue = std::collections::VecDeque::from([NodeKey::root(version)]);
    while let Some(key) = queue.pop_front() {
        let top = load(key)?;
        let address = top.root_hash()?;
        if top.children().is_empty() {
            continue; // the empty map: no object
        }
        let (nibbles, path) = (key.nibbles(), *key.path());
        let mut inner = Vec::new();
        let mut children = Vec::new();
        for (s, c) in top.children() {
            let Child::Subtree { version: v, .. } = c else {
                continue;
            };
            let p = with_nibble(&path, nibbles, *s);
            let g = load(NodeKey::new(*v, &p, nibbles + 1))?;
            for (t, c) in g.children() {
                if let Child::Subtree { version: w, hash } = c {
                    let below = with_nibble(&p, nibbles + 1, *t);
                    children.push((*hash, below, nibbles + OBJECT_NIBBLES));
                    if fresh(*w) {
                        queue.push_back(NodeKey::new(*w, &below, nibbles + OBJECT_NIBBLES));
                    }
                }
            }
            inner.push((*s, g));
        }
        out.push(EncodedMapObject {
            address,
            nibbles,
            path,
            bytes: encode_map_object(&top, &inner)?,
            children,
        });
    }
    Ok(out)
}
