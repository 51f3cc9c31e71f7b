//! The upper levels of the Merkle tree in memory, so that every inclusion and consistency
//! proof reads its top hashes without a database lookup.
//!
//! An inclusion proof at 10⁷ leaves needs about 24 stored hashes; the ones at level
//! [`UPPER_LEVEL`] and above are shared by every proof against the same tree, and there are
//! few of them (one per 2^[`UPPER_LEVEL`] leaves per level, so about size/128 in all).
//!
//! Guarantees: a committed tree hash never changes, so a copy needs no invalidation; the
//! cache only ever holds hashes that were committed (given to [`UpperHashes::insert`] after the
//! synced write) or read back from the store. It holds at most [`MAX_UPPER_HASHES`] hashes and
//! then stops growing (reads of the rest go to the store, as without it). Out of scope: which
//! hashes a proof needs (proofs `tree`), where the rest are stored (the backend).

use std::collections::HashMap;
use std::sync::RwLock;

use taglog_proofs::hash::Hash;
use taglog_proofs::tree::split_stored_hash_index;

/// Lowest tree level kept (level 0 = leaf hashes).
pub const UPPER_LEVEL: u8 = 8;
/// Most hashes kept: ~12 MiB, all upper hashes of a log of 2^25 (3.3·10⁷) leaves.
pub const MAX_UPPER_HASHES: usize = 1 << 18;

/// Upper-level tree hashes by stored-hash index.
#[derive(Debug, Default)]
pub struct UpperHashes(RwLock<HashMap<u64, Hash>>);

/// Whether stored hash `index` is kept here.
fn is_upper(index: u64) -> bool {
    split_stored_hash_index(index).0 >= UPPER_LEVEL
}

impl UpperHashes {
    /// Fills `out[k]` for every `indexes[k]` held here and returns the positions it could not
    /// fill. `out` has the length of `indexes`.
    pub fn lookup(&self, indexes: &[u64], out: &mut [Hash]) -> Vec<usize> {
        let held = self.0.read().unwrap_or_else(|e| e.into_inner());
        let mut missing = Vec::new();
        for (k, (i, slot)) in indexes.iter().zip(out.iter_mut()).enumerate() {
            match held.get(i) {
                Some(h) => *slot = *h,
                None => missing.push(k),
            }
        }
        missing
    }

    /// Keeps the upper-level ones of `hashes` (committed or read from the store), while
    /// there is room.
    pub fn insert(&self, hashes: impl IntoIterator<Item = (u64, Hash)>) {
        let mut upper = hashes.into_iter().filter(|(i, _)| is_upper(*i)).peekable();
        if upper.peek().is_none() {
            return;
        }
        let mut held = self.0.write().unwrap_or_else(|e| e.into_inner());
        for (i, h) in upper {
            if held.len() >= MAX_UPPER_HASHES {
                return;
            }
            held.insert(i, h);
        }
    }

    /// How many hashes are held.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use taglog_proofs::tree::stored_hash_index;

    use super::*;

    fn h(b: u8) -> Hash {
        Hash([b; 32])
    }

    #[test]
    fn keeps_only_upper_levels() {
        // The subtree of leaves 0..256 is closed by leaf 255 (stored at 2·255 − 8 = 502).
        assert_eq!(stored_hash_index(UPPER_LEVEL, 0), 510);
        let cache = UpperHashes::default();
        let low = stored_hash_index(UPPER_LEVEL - 1, 3);
        let high = stored_hash_index(UPPER_LEVEL, 3);
        let top = stored_hash_index(20, 0);
        cache.insert([(low, h(1)), (high, h(2)), (top, h(3))]);
        assert_eq!(cache.len(), 2);
        let mut out = vec![Hash::ZERO; 4];
        let missing = cache.lookup(&[top, low, high, 7], &mut out);
        assert_eq!(missing, vec![1, 3]);
        assert_eq!(out, vec![h(3), Hash::ZERO, h(2), Hash::ZERO]);
    }

    #[test]
    fn stops_growing_at_its_limit() {
        let cache = UpperHashes::default();
        let n = u64::try_from(MAX_UPPER_HASHES).unwrap_or(u64::MAX) + 10;
        cache.insert((0..n).map(|k| (stored_hash_index(UPPER_LEVEL, k), h(9))));
        assert_eq!(cache.len(), MAX_UPPER_HASHES);
        let last = stored_hash_index(UPPER_LEVEL, n - 1);
        let mut out = vec![Hash::ZERO];
        assert_eq!(cache.lookup(&[last], &mut out), vec![0]);
    }
}
