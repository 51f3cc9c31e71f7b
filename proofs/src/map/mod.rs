//! The tag map (DESIGN §3.6): which binding is current for each reference.
//!
//! A compact binary sparse Merkle tree over 256-bit keys (`SHA-256(ref)`), with shortcut
//! leaves at the first unique key prefix, as in Diem's and Penumbra's Jellyfish trees:
//!
//! - `leaf = SHA-256(0x02 ‖ key ‖ SHA-256(value))`, `node = SHA-256(0x03 ‖ left ‖ right)`;
//! - an empty subtree, and the empty map, hash to 32 zero bytes;
//! - a subtree holding exactly one key hashes to that key's leaf (the shortcut);
//! - key bit `i` is bit `7 − (i mod 8)` of byte `⌊i/8⌋`; 0 goes left.
//!
//! Values are exactly [`MAP_VALUE_LEN`] bytes: leaf index (u64 BE) ‖ version (u64 BE) ‖
//! RFC 6962 leaf hash ([`MapValue`]).
//!
//! What this module guarantees:
//! - [`MapProof::verify`] accepts only proofs in the exact §3.6 form and returns what it
//!   verified ([`MapLookup`]); the JSON form parses strictly (see [`proof`]).
//! - [`SparseMap`] (in memory) and the versioned storage functions [`update`] / [`prove`] over
//!   any [`MapStore`] run the same code, so the server, the monitor and the tests compute the
//!   same roots and byte-identical proofs.
//! - [`naive_root`] is an independent, slow reference used by the tests.
//!
//! Out of scope: deleting keys (the map function never deletes), durable storage (the server
//! implements [`MapStore`] over RocksDB), and deciding which versions to keep (the caller prunes
//! with [`MapUpdate::stale`]).

mod group;
mod json;
mod memory;
pub mod proof;
mod store;

use sha2::{Digest as _, Sha256};

use crate::hash::{Hash, HASH_LEN};

pub use group::{Child, MapLeaf, NodeGroup, NodeKey, GROUP_BITS, GROUP_WIDTH, MAX_GROUP_NIBBLES};
pub use memory::{MemoryMapStore, SparseMap};
pub use proof::{MapLookup, MapProof, MapProofError, Terminal};
pub(crate) use store::nibble;
pub use store::{get, prove, root_hash, update, MapStore, MapStoreError, MapUpdate};

/// Length in bytes of every map value: index (8) ‖ version (8) ‖ leaf hash (32).
pub const MAP_VALUE_LEN: usize = 48;

/// Number of key bits, and so the largest proof depth.
pub const MAX_MAP_DEPTH: u16 = 256;

/// Domain-separation byte of a map leaf hash.
pub const MAP_LEAF_PREFIX: u8 = 0x02;

/// Domain-separation byte of a map interior node hash.
pub const MAP_NODE_PREFIX: u8 = 0x03;

/// The value the map holds for one reference: which log leaf is the current binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MapValue {
    /// Index of the binding leaf in the log.
    pub index: u64,
    /// The binding's version.
    pub version: u64,
    /// RFC 6962 leaf hash of the binding entry.
    pub leaf_hash: Hash,
}

impl MapValue {
    /// The 48-byte encoding: index (u64 BE) ‖ version (u64 BE) ‖ leaf hash.
    pub fn to_bytes(&self) -> [u8; MAP_VALUE_LEN] {
        let mut out = [0u8; MAP_VALUE_LEN];
        let (index, rest) = out.split_at_mut(8);
        let (version, leaf) = rest.split_at_mut(8);
        index.copy_from_slice(&self.index.to_be_bytes());
        version.copy_from_slice(&self.version.to_be_bytes());
        leaf.copy_from_slice(&self.leaf_hash.0);
        out
    }

    /// Parses the 48-byte encoding.
    ///
    /// # Errors
    /// [`MapProofError::ValueLength`] unless `bytes` is exactly [`MAP_VALUE_LEN`] bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<MapValue, MapProofError> {
        let arr: &[u8; MAP_VALUE_LEN] = bytes
            .try_into()
            .map_err(|_| MapProofError::ValueLength { len: bytes.len() })?;
        let (index, rest) = arr.split_at(8);
        let (version, leaf) = rest.split_at(8);
        let (Ok(index), Ok(version), Some(leaf_hash)) = (
            <[u8; 8]>::try_from(index),
            <[u8; 8]>::try_from(version),
            Hash::from_slice(leaf),
        ) else {
            return Err(MapProofError::ValueLength { len: bytes.len() });
        };
        Ok(MapValue {
            index: u64::from_be_bytes(index),
            version: u64::from_be_bytes(version),
            leaf_hash,
        })
    }

    /// `SHA-256(value bytes)`, the hash a leaf commits to.
    pub fn value_hash(&self) -> Hash {
        crate::hash::sha256(&self.to_bytes())
    }
}

/// Map leaf hash: `SHA-256(0x02 ‖ key ‖ value_hash)`.
pub fn map_leaf_hash(key: &Hash, value_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([MAP_LEAF_PREFIX]);
    h.update(key.0);
    h.update(value_hash.0);
    Hash(h.finalize().into())
}

/// Map interior node hash: `SHA-256(0x03 ‖ left ‖ right)`.
pub fn map_node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([MAP_NODE_PREFIX]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Key bit `i` (0 = most significant bit of byte 0); `false` = left. Bits past 255 read 0.
pub fn key_bit(key: &Hash, i: usize) -> bool {
    key.0
        .get(i / 8)
        .is_some_and(|b| (b >> (7 - (i % 8))) & 1 == 1)
}

/// Whether `a` and `b` agree on their first `bits` bits (`bits` ≤ 256).
pub fn common_prefix(a: &Hash, b: &Hash, bits: usize) -> bool {
    let full = (bits / 8).min(HASH_LEN);
    if a.0.get(..full) != b.0.get(..full) {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 || full == HASH_LEN {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.0.get(full), b.0.get(full)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

/// The map root computed the slow, obvious way: recursive bit splitting of the sorted key set
/// (`values` maps each key to `SHA-256(value)`). A reference for tests, independent of the
/// node groups and of the proof code.
pub fn naive_root(values: &std::collections::BTreeMap<Hash, Hash>) -> Hash {
    let items: Vec<(Hash, Hash)> = values.iter().map(|(k, v)| (*k, *v)).collect();
    naive_subtree(&items, 0)
}

fn naive_subtree(items: &[(Hash, Hash)], depth: usize) -> Hash {
    match items {
        [] => Hash::ZERO,
        [(k, v)] => map_leaf_hash(k, v),
        _ => {
            let split = items.partition_point(|(k, _)| !key_bit(k, depth));
            let (left, right) = items.split_at(split);
            map_node_hash(
                &naive_subtree(left, depth + 1),
                &naive_subtree(right, depth + 1),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_round_trip_and_length() {
        let v = MapValue {
            index: 42,
            version: 7,
            leaf_hash: Hash([9; 32]),
        };
        let b = v.to_bytes();
        assert_eq!(&b[..8], &42u64.to_be_bytes());
        assert_eq!(&b[8..16], &7u64.to_be_bytes());
        assert_eq!(MapValue::from_bytes(&b).unwrap(), v);
        assert!(MapValue::from_bytes(&b[..47]).is_err());
        assert!(MapValue::from_bytes(&[0u8; 49]).is_err());
    }

    #[test]
    fn bits_and_prefixes() {
        let mut k = Hash::ZERO;
        k.0[0] = 0b1000_0001;
        k.0[31] = 1;
        assert!(key_bit(&k, 0));
        assert!(!key_bit(&k, 1));
        assert!(key_bit(&k, 7));
        assert!(key_bit(&k, 255));
        assert!(!key_bit(&k, 256));
        let mut j = k;
        j.0[1] = 0b0010_0000;
        assert!(common_prefix(&k, &j, 10));
        assert!(!common_prefix(&k, &j, 11));
        assert!(common_prefix(&k, &k, 256));
        assert!(!common_prefix(&k, &Hash::ZERO, 256));
    }
}
