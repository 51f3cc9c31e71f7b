//! Map proofs (DESIGN §3.6): one structure proves both existence and non-existence.
//!
//! A proof for key `K` walks `depth` key bits from the root, lists the non-empty siblings on
//! the way (root side first, a bitmap saying which depths have one) and ends in a terminal:
//! `K`'s own leaf (`value`), another key's leaf sharing `K`'s first `depth` bits
//! (`value_hash`), or an empty subtree. [`MapProof::verify`] accepts only that exact form:
//! see [`MapProof::check_form`] for the encoding rules and [`MapProof::verify`] for the
//! terminal rules. The JSON form is in the `json` submodule.
//!
//! # Why a non-existence proof cannot be forged
//!
//! Let `R` be the root of a map built by the map function (monitors and auditing witnesses
//! recompute it, §6; a log that signs the root of a malformed tree is caught there, not here).
//! Assume SHA-256 is collision resistant and that nobody knows an input hashing to 32 zero
//! bytes.
//!
//! 1. *Every hash names one subtree kind.* Leaves hash `0x02 ‖ 64 bytes`, nodes hash
//!    `0x03 ‖ 64 bytes`, and an empty subtree is the zero string, which is no SHA-256 output
//!    anyone can produce. So a hash equal to a node hash is not a leaf or empty, and so on.
//! 2. *The walk follows the real tree.* Suppose the verifier recomputes `R` from the proof.
//!    If `depth` = 0, the terminal's hash is `R` itself. Otherwise the last value computed is
//!    `node(a, b) = R`, so by 1. and collision resistance the real root is a node whose
//!    children hash to `a` and `b`. The verifier put its running hash on the side that `K`'s
//!    bit 0 names, so the real child on `K`'s path hashes to the value the proof claims for it.
//!    By induction over the `depth` levels, the real subtree at `K`'s first `depth` bits hashes
//!    to the terminal's hash. (The bitmap and the sibling list only say which sibling hashes
//!    are zero; any wrong sibling changes the recomputed root.)
//! 3. *The terminal settles the question.* If the terminal is empty, the real subtree at `K`'s
//!    prefix is empty (zero is no hash of anything else), so no key with that prefix, `K`
//!    included, is in the map. If the terminal is `leaf(K', h)`, the real subtree at that
//!    prefix hashes to a leaf, so it is the shortcut leaf of exactly one key, `K'`, with value
//!    hash `h` (collision resistance of the `0x02` hash binds `K'` and `h`). The verifier
//!    requires `K' ≠ K` for non-existence (so `K` is not that one key, hence absent) and
//!    `K' = K` for existence, and for existence recomputes `h` from the 48-byte value itself.
//!
//! A forger would therefore need a SHA-256 collision or a preimage of zero. The additional
//! exact-form rules (no listed zero sibling, no unused bitmap bits, the terminal key sharing
//! `K`'s first `depth` bits, a non-empty sibling next to the terminal) change no verdict on an
//! honest root; they make every accepted proof the single canonical one, so that two
//! implementations cannot disagree about which bytes are a valid proof.

use crate::hash::Hash;

use super::{
    common_prefix, key_bit, map_leaf_hash, map_node_hash, MapValue, MAP_VALUE_LEN, MAX_MAP_DEPTH,
};

/// How a proof ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Terminal {
    /// The queried key's own leaf: existence. `value` must be [`MAP_VALUE_LEN`] bytes.
    Value {
        /// The leaf's key (must equal the queried key).
        key: Hash,
        /// The full value bytes.
        value: Vec<u8>,
    },
    /// Another key's leaf on the queried key's path: non-existence.
    ValueHash {
        /// The other key (must differ from the queried key and share its first `depth` bits).
        key: Hash,
        /// `SHA-256(value)` of the other key's value.
        value_hash: Hash,
    },
    /// An empty subtree on the queried key's path: non-existence.
    Empty,
}

/// A §3.6 map proof. Serializes to and from exactly the §3.6 JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapProof {
    /// Number of key bits walked before the terminal (0–256).
    pub depth: u16,
    /// ⌈depth/8⌉ bytes; bit i (most significant first) set iff the sibling at depth i+1 is
    /// non-empty; unused bits 0.
    pub bitmap: Vec<u8>,
    /// The non-empty siblings, root side first.
    pub siblings: Vec<Hash>,
    /// How the walk ends.
    pub terminal: Terminal,
}

/// What a verified proof established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapLookup {
    /// The key is in the map with this value.
    Present(MapValue),
    /// The key is not in the map.
    Absent,
}

/// Why a map proof was rejected. Encoding defects (not the exact §3.6 form) are kept apart
/// from proofs that are well-formed but prove something else or do not match the root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapProofError {
    /// Malformed: the depth is larger than the number of key bits.
    #[error("map proof depth {depth} exceeds {MAX_MAP_DEPTH}: a key has only 256 bits")]
    DepthTooLarge {
        /// The depth given.
        depth: u16,
    },
    /// Malformed: the bitmap does not have ⌈depth/8⌉ bytes.
    #[error("map proof bitmap has {len} bytes, expected {expected} for depth {depth}")]
    BitmapLength {
        /// Bytes given.
        len: usize,
        /// ⌈depth/8⌉.
        expected: usize,
        /// The depth.
        depth: u16,
    },
    /// Malformed: a bitmap bit past `depth` is set.
    #[error("map proof bitmap has bits set past depth {depth}: unused bits must be 0")]
    BitmapUnusedBits {
        /// The depth.
        depth: u16,
    },
    /// Malformed: the sibling count differs from the number of bitmap bits set.
    #[error("map proof lists {siblings} siblings but its bitmap has {bits} bits set")]
    SiblingCount {
        /// Siblings listed.
        siblings: usize,
        /// Bits set.
        bits: usize,
    },
    /// Malformed: a listed sibling is 32 zero bytes (empty siblings are never listed).
    #[error("map proof lists an all-zero sibling at position {position}; empty siblings must be left out of the list and their bitmap bit cleared")]
    EmptySiblingListed {
        /// Position in the sibling list.
        position: usize,
    },
    /// Malformed: a map value must be exactly 48 bytes.
    #[error("map value has {len} bytes; a map value is exactly {MAP_VALUE_LEN} bytes")]
    ValueLength {
        /// Bytes given.
        len: usize,
    },
    /// Malformed: the sibling next to the terminal is empty, so the terminal is not at the
    /// first unique prefix (a real tree has no such node).
    #[error("map proof is not minimal: the sibling at depth {depth} is empty, so the terminal would have been a shortcut one level up")]
    NotMinimal {
        /// The depth.
        depth: u16,
    },
    /// Malformed JSON or base64 (details in the message).
    #[error("malformed map proof: {0}")]
    Encoding(String),
    /// Wrong terminal kind: the queried key's own leaf was given as `value_hash`.
    #[error("map proof gives the queried key's own leaf as value_hash; existence proofs must carry the value")]
    OwnLeafAsValueHash,
    /// Wrong terminal kind: another key's leaf was given as `value`.
    #[error(
        "map proof gives another key's leaf as value; non-existence proofs must carry value_hash"
    )]
    OtherLeafAsValue,
    /// The terminal leaf's key does not share the queried key's first `depth` bits.
    #[error("map proof terminal key leaves the queried key's path within the first {depth} bits")]
    TerminalOffPath {
        /// The depth.
        depth: u16,
    },
    /// The recomputed root differs from the trusted root.
    #[error("map proof does not recompute the trusted map root (recomputed {computed}, trusted {trusted})")]
    RootMismatch {
        /// Root the proof recomputes.
        computed: Hash,
        /// Root it was checked against.
        trusted: Hash,
    },
}

impl MapProof {
    /// Checks the encoding rules of §3.6 that need no key or root: depth ≤ 256, a bitmap of
    /// ⌈depth/8⌉ bytes with unused bits 0, exactly one sibling per set bit, no all-zero
    /// sibling, a 48-byte value, and a non-empty sibling next to the terminal.
    ///
    /// # Errors
    /// The first rule broken, as a [`MapProofError`].
    pub fn check_form(&self) -> Result<(), MapProofError> {
        let depth = self.depth;
        if depth > MAX_MAP_DEPTH {
            return Err(MapProofError::DepthTooLarge { depth });
        }
        let d = usize::from(depth);
        let expected = d.div_ceil(8);
        if self.bitmap.len() != expected {
            return Err(MapProofError::BitmapLength {
                len: self.bitmap.len(),
                expected,
                depth,
            });
        }
        if d % 8 != 0 {
            let unused = 0xffu8 >> (d % 8);
            if self.bitmap.last().is_some_and(|b| b & unused != 0) {
                return Err(MapProofError::BitmapUnusedBits { depth });
            }
        }
        let bits: usize = self.bitmap.iter().map(|b| b.count_ones() as usize).sum();
        if bits != self.siblings.len() {
            return Err(MapProofError::SiblingCount {
                siblings: self.siblings.len(),
                bits,
            });
        }
        if let Some(position) = self.siblings.iter().position(|s| *s == Hash::ZERO) {
            return Err(MapProofError::EmptySiblingListed { position });
        }
        if let Terminal::Value { value, .. } = &self.terminal {
            if value.len() != MAP_VALUE_LEN {
                return Err(MapProofError::ValueLength { len: value.len() });
            }
        }
        if d > 0 && !bitmap_bit(&self.bitmap, d - 1) {
            return Err(MapProofError::NotMinimal { depth });
        }
        Ok(())
    }

    /// Verifies the proof for `key` against a trusted map `root` and returns what it proves.
    ///
    /// On top of [`MapProof::check_form`]: a `value` terminal must carry `key` itself, a
    /// `value_hash` terminal must carry another key that shares `key`'s first `depth` bits, and
    /// the recomputed root must equal `root`. See the module docs for why a non-existence proof
    /// cannot be forged.
    ///
    /// # Errors
    /// A [`MapProofError`] naming the first defect found.
    pub fn verify(&self, key: &Hash, root: &Hash) -> Result<MapLookup, MapProofError> {
        self.check_form()?;
        let depth = self.depth;
        let (mut h, lookup) = match &self.terminal {
            Terminal::Value { key: k, value } => {
                if k != key {
                    return Err(MapProofError::OtherLeafAsValue);
                }
                let v = MapValue::from_bytes(value)?;
                (
                    map_leaf_hash(k, &crate::hash::sha256(value)),
                    MapLookup::Present(v),
                )
            }
            Terminal::ValueHash { key: k, value_hash } => {
                if k == key {
                    return Err(MapProofError::OwnLeafAsValueHash);
                }
                if !common_prefix(k, key, usize::from(depth)) {
                    return Err(MapProofError::TerminalOffPath { depth });
                }
                (map_leaf_hash(k, value_hash), MapLookup::Absent)
            }
            Terminal::Empty => (Hash::ZERO, MapLookup::Absent),
        };
        let mut siblings = self.siblings.iter().rev();
        for i in (0..usize::from(depth)).rev() {
            let sibling = if bitmap_bit(&self.bitmap, i) {
                // check_form guarantees one sibling per set bit.
                siblings.next().copied().unwrap_or(Hash::ZERO)
            } else {
                Hash::ZERO
            };
            h = if key_bit(key, i) {
                map_node_hash(&sibling, &h)
            } else {
                map_node_hash(&h, &sibling)
            };
        }
        if h != *root {
            return Err(MapProofError::RootMismatch {
                computed: h,
                trusted: *root,
            });
        }
        Ok(lookup)
    }

    /// Size of the proof's content in a compact binary form: 2 bytes of depth, the bitmap,
    /// 32 bytes per sibling, and the terminal (1 tag byte, plus key ‖ value or key ‖ value
    /// hash). Used to report proof sizes; the wire form is JSON.
    pub fn binary_len(&self) -> usize {
        let terminal = match &self.terminal {
            Terminal::Value { value, .. } => 1 + 32 + value.len(),
            Terminal::ValueHash { .. } => 1 + 32 + 32,
            Terminal::Empty => 1,
        };
        2 + self.bitmap.len() + 32 * self.siblings.len() + terminal
    }
}

/// Bit `i` of a most-significant-first bitmap; bits past the end read 0.
pub(crate) fn bitmap_bit(bitmap: &[u8], i: usize) -> bool {
    bitmap
        .get(i / 8)
        .is_some_and(|b| (b >> (7 - (i % 8))) & 1 == 1)
}
