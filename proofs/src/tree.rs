//! Merkle tree math over stored hashes (RFC 6962 §2.1 / RFC 9162 §2.1).
//!
//! A log stores, in append order, the hash of every *complete* subtree: when leaf `n` is
//! appended, its leaf hash is stored, followed by the hash of every complete subtree that leaf
//! closes (one per trailing 1 bit of `n`). The position of a hash in that sequence is its
//! *stored hash index*; [`stored_hash_index`] numbers them exactly as the Go checksum database
//! (`golang.org/x/mod/sumdb/tlog`, `StoredHashIndex`), so storage and tiles line up with it.
//!
//! Code that needs stored hashes takes a [`HashReader`]. Every generator comes in two halves: a
//! `*_indexes()` function that says which stored hashes it needs, and the computation that
//! reads them, so async callers fetch first and compute after.
//!
//! Guarantees: no panics on any input; every size above [`MAX_TREE_SIZE`] is rejected with an
//! error; a [`HashReader`] that returns the wrong number of hashes is reported, never indexed.
//! Out of scope: proofs (see [`crate::inclusion`], [`crate::consistency`]), tiles (see
//! [`crate::tiles`]) and persistence.

use std::collections::{BTreeMap, HashMap};

use crate::hash::{empty_root, leaf_hash, node_hash, Hash};
use crate::tiles::TileError;

/// The largest tree size taglog handles (2⁶³−1, the largest number in its text formats).
pub const MAX_TREE_SIZE: u64 = crate::num::MAX_TEXT_NUMBER;

/// The most hashes an inclusion or consistency proof may carry (C2SP tlog-witness, RFC 9162).
pub const MAX_PROOF_HASHES: usize = 63;

/// Why a tree computation (root, proof or tile generation) failed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The tree size is larger than taglog supports.
    #[error("tree size {size} is larger than the maximum {max}; use a smaller size")]
    SizeTooLarge {
        /// The size asked for.
        size: u64,
        /// [`MAX_TREE_SIZE`].
        max: u64,
    },
    /// A leaf index at or beyond the tree size.
    #[error(
        "leaf index {index} is not in a tree of size {size}; the index must be below the size"
    )]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked for from a larger tree to a smaller one.
    #[error("old size {old_size} is larger than new size {new_size}; swap or fix the sizes")]
    OldSizeGreater {
        /// The old tree size.
        old_size: u64,
        /// The new tree size.
        new_size: u64,
    },
    /// A consistency proof from the empty tree was asked for (RFC 9162 requires 0 < old size).
    #[error("no consistency proof exists from the empty tree (old size 0); every tree extends it, so skip the check")]
    OldSizeZero,
    /// A proof would carry more hashes than [`MAX_PROOF_HASHES`].
    #[error("proof needs {count} hashes, more than the maximum {max}")]
    ProofTooLong {
        /// Hashes the proof would need.
        count: usize,
        /// [`MAX_PROOF_HASHES`].
        max: usize,
    },
    /// A [`HashReader`] answered with the wrong number of hashes.
    #[error("hash reader returned {got} hashes for {expected} indexes; the reader is broken")]
    WrongHashCount {
        /// Hashes asked for.
        expected: usize,
        /// Hashes returned.
        got: usize,
    },
    /// A stored hash that the reader does not have.
    #[error("stored hash {index} is not available; fetch it (or the tile holding it) first")]
    MissingHash {
        /// The stored hash index.
        index: u64,
    },
    /// A stored hash that cannot exist in a tree of the given size.
    #[error("stored hash {index} is not part of a tree of size {size}")]
    HashBeyondSize {
        /// The stored hash index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Reading from tiles failed (tile missing, malformed or not matching the trusted root).
    #[error("reading hashes from tiles failed: {0}")]
    Tile(#[from] TileError),
    /// The storage behind a [`HashReader`] failed.
    #[error("reading stored hashes failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A source of stored hashes (memory, a database, verified tiles).
pub trait HashReader {
    /// Returns the stored hashes at `indexes`, in the same order and of the same count.
    ///
    /// # Errors
    /// Implementations return [`TreeError::MissingHash`] for a hash they do not have and
    /// [`TreeError::Storage`] or [`TreeError::Tile`] when the backing store fails.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError>;
}

impl HashReader for HashMap<u64, Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes
            .iter()
            .map(|&index| {
                self.get(&index)
                    .copied()
                    .ok_or(TreeError::MissingHash { index })
            })
            .collect()
    }
}

impl HashReader for BTreeMap<u64, Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes
            .iter()
            .map(|&index| {
                self.get(&index)
                    .copied()
                    .ok_or(TreeError::MissingHash { index })
            })
            .collect()
    }
}

/// Reads `indexes` from `r` and checks that the reader kept its promise on the count.
pub(crate) fn read_exact(r: &impl HashReader, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
    let hashes = r.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(TreeError::WrongHashCount {
            expected: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Checks `size <= MAX_TREE_SIZE`.
pub(crate) fn check_size(size: u64) -> Result<(), TreeError> {
    if size > MAX_TREE_SIZE {
        return Err(TreeError::SizeTooLarge {
            size,
            max: MAX_TREE_SIZE,
        });
    }
    Ok(())
}

/// The index, in storage order, of the hash of the `n`-th complete subtree at `level`
/// (level 0 = leaf hashes; the subtree covers leaves `n·2^level .. (n+1)·2^level`).
///
/// Exact for every subtree of a tree of at most [`MAX_TREE_SIZE`] leaves; beyond that the
/// result saturates (and names no real hash) instead of overflowing.
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    // The hash of subtree (level, n) is stored right after the leaf hash of the last leaf it
    // covers, `m = (n + 1)·2^level − 1`, as the `level`-th hash that leaf closes.
    // Overflow (sizes beyond 2^64) saturates to a value that names no real hash.
    let Some(np1) = n.checked_add(1) else {
        return u64::MAX;
    };
    if level >= 64 || np1.leading_zeros() < u32::from(level) {
        return u64::MAX;
    }
    let m = (np1 << level) - 1;
    leaf_position(m).saturating_add(u64::from(level))
}

/// Storage position of leaf `m`'s hash: every leaf `i < m` stored `1 + trailing_ones(i)`
/// hashes, which sums to `m + m/2 + m/4 + … = 2m − popcount(m)`.
fn leaf_position(m: u64) -> u64 {
    m.saturating_mul(2)
        .saturating_sub(u64::from(m.count_ones()))
}

/// The inverse of [`stored_hash_index`]: `(level, n)` of the hash stored at index `i`.
pub fn split_stored_hash_index(i: u64) -> (u8, u64) {
    // Hash i was stored with the largest leaf m such that leaf_position(m) <= i. As
    // 2m − 64 <= leaf_position(m) <= 2m, that m lies in [i/2, i/2 + 32]: search down.
    let mut m = (i / 2).saturating_add(33);
    while m > 0 && leaf_position(m) > i {
        m -= 1;
    }
    let offset = i.saturating_sub(leaf_position(m));
    // offset <= trailing_ones(m) <= 64, so it fits a u8; the level-th hash closed by leaf m is
    // the subtree (offset, m >> offset).
    let level = u8::try_from(offset).unwrap_or(u8::MAX);
    (level, m.checked_shr(u32::from(level)).unwrap_or(0))
}

/// How many hashes a tree of `n` leaves has stored.
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let last = n - 1;
    // Position of the last leaf's hash, plus that hash, plus the subtrees that leaf closed.
    leaf_position(last)
        .saturating_add(1)
        .saturating_add(u64::from(last.trailing_ones()))
}

/// The stored hash indexes that [`stored_hashes_for_leaf`] reads when leaf `n` is appended:
/// the roots of the complete subtrees that the new leaf closes, lowest level first.
pub fn stored_hashes_for_leaf_indexes(n: u64) -> Vec<u64> {
    (0..n.trailing_ones())
        .filter_map(|l| u8::try_from(l).ok())
        .map(|l| stored_hash_index(l, (n >> l) - 1))
        .collect()
}

/// The hashes to store, in order starting at index `stored_hash_count(n)`, when the leaf with
/// hash `leaf` is appended as leaf `n`: the leaf hash, then each complete subtree it closes.
///
/// # Errors
/// [`TreeError::SizeTooLarge`] if `n` is at or above [`MAX_TREE_SIZE`]; errors of `r`.
pub fn stored_hashes_for_leaf(
    n: u64,
    leaf: Hash,
    r: &impl HashReader,
) -> Result<Vec<Hash>, TreeError> {
    check_size(n.saturating_add(1))?;
    let indexes = stored_hashes_for_leaf_indexes(n);
    let left = read_exact(r, &indexes)?;
    let mut out = Vec::with_capacity(left.len() + 1);
    let mut h = leaf;
    out.push(h);
    for l in &left {
        h = node_hash(l, &h);
        out.push(h);
    }
    Ok(out)
}

/// The largest power of two strictly below `n` (`n >= 2`): RFC 6962's split point `k`.
pub(crate) fn split_point(n: u64) -> u64 {
    1u64 << (63 - n.saturating_sub(1).max(1).leading_zeros())
}

/// Appends to `out` the stored hash indexes of the maximal complete subtrees that make up the
/// leaf range `lo..hi`, left to right. `lo` must be a multiple of the largest power of two not
/// above `hi - lo` (always true for the ranges the RFC 6962 recursion produces).
pub(crate) fn range_indexes(lo: u64, hi: u64, out: &mut Vec<u64>) {
    let mut lo = lo;
    while lo < hi {
        let width = hi - lo;
        let level = 63 - width.leading_zeros();
        let level_u8 = u8::try_from(level).unwrap_or(u8::MAX);
        out.push(stored_hash_index(level_u8, lo >> level));
        lo += 1u64 << level;
    }
}

/// Number of maximal complete subtrees in a range of `width` leaves.
pub(crate) fn range_parts(width: u64) -> usize {
    width.count_ones() as usize
}

/// Folds the complete-subtree hashes of a range (left to right) into the range's hash, as
/// RFC 6962 does: the rightmost subtrees are combined first.
pub(crate) fn fold_range(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// The leaf ranges whose hashes make up a proof, in proof order, and the stored hashes they
/// need. Each proof hash is the fold of `parts[i]` consecutive entries of `indexes`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProofPlan {
    pub(crate) indexes: Vec<u64>,
    pub(crate) parts: Vec<usize>,
}

impl ProofPlan {
    /// The plan for proof elements given as leaf ranges `(lo, hi)`, in proof order.
    pub(crate) fn from_ranges(ranges: &[(u64, u64)]) -> Result<ProofPlan, TreeError> {
        if ranges.len() > MAX_PROOF_HASHES {
            return Err(TreeError::ProofTooLong {
                count: ranges.len(),
                max: MAX_PROOF_HASHES,
            });
        }
        let mut plan = ProofPlan::default();
        for &(lo, hi) in ranges {
            let before = plan.indexes.len();
            range_indexes(lo, hi, &mut plan.indexes);
            plan.parts.push(plan.indexes.len() - before);
        }
        Ok(plan)
    }

    /// Folds hashes read at `self.indexes` into the proof.
    pub(crate) fn fold(&self, hashes: &[Hash]) -> Result<Vec<Hash>, TreeError> {
        if hashes.len() != self.indexes.len() {
            return Err(TreeError::WrongHashCount {
                expected: self.indexes.len(),
                got: hashes.len(),
            });
        }
        let mut rest = hashes;
        let mut proof = Vec::with_capacity(self.parts.len());
        for &n in &self.parts {
            let (group, tail) = rest.split_at_checked(n).ok_or(TreeError::WrongHashCount {
                expected: self.indexes.len(),
                got: hashes.len(),
            })?;
            rest = tail;
            let h = fold_range(group).ok_or(TreeError::WrongHashCount {
                expected: self.indexes.len(),
                got: hashes.len(),
            })?;
            proof.push(h);
        }
        Ok(proof)
    }
}

/// The stored hash indexes [`tree_root`] reads: the complete subtrees of `0..size`, left to
/// right (empty for size 0).
pub fn tree_root_indexes(size: u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(range_parts(size));
    range_indexes(0, size, &mut out);
    out
}

/// The root of the tree of `size` leaves, from hashes already read at
/// [`tree_root_indexes`]`(size)`.
///
/// # Errors
/// [`TreeError::WrongHashCount`] if `hashes` does not match those indexes in count.
pub fn tree_root_from_hashes(size: u64, hashes: &[Hash]) -> Result<Hash, TreeError> {
    let expected = range_parts(size);
    if hashes.len() != expected {
        return Err(TreeError::WrongHashCount {
            expected,
            got: hashes.len(),
        });
    }
    Ok(fold_range(hashes).unwrap_or_else(empty_root))
}

/// The root of the tree of `size` leaves (`SHA-256("")` for size 0).
///
/// # Errors
/// [`TreeError::SizeTooLarge`]; errors of `r`.
pub fn tree_root(size: u64, r: &impl HashReader) -> Result<Hash, TreeError> {
    check_size(size)?;
    let hashes = read_exact(r, &tree_root_indexes(size))?;
    tree_root_from_hashes(size, &hashes)
}

/// The RFC 6962 root of a list of leaf hashes, by the definition's recursion. A reference for
/// tests and small inputs; logs use [`MemoryTree`] or [`tree_root`].
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => empty_root(),
        [one] => *one,
        _ => {
            let k = usize::try_from(split_point(leaves.len() as u64)).unwrap_or(0);
            let (left, right) = leaves.split_at(k.min(leaves.len()));
            node_hash(&root_of_leaves(left), &root_of_leaves(right))
        }
    }
}

/// An append-only tree held in memory: every stored hash, in storage order.
///
/// Appending costs O(1) amortized hashes; the root at any earlier size is available.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Appends an entry (hashed with [`leaf_hash`]) and returns its leaf index.
    ///
    /// # Errors
    /// [`TreeError::SizeTooLarge`] once the tree holds [`MAX_TREE_SIZE`] leaves.
    pub fn append(&mut self, entry: &[u8]) -> Result<u64, TreeError> {
        self.append_leaf_hash(leaf_hash(entry))
    }

    /// Appends a leaf given by its RFC 6962 leaf hash and returns its leaf index.
    ///
    /// # Errors
    /// [`TreeError::SizeTooLarge`] once the tree holds [`MAX_TREE_SIZE`] leaves.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<u64, TreeError> {
        let n = self.size;
        let new = stored_hashes_for_leaf(n, leaf, self)?;
        self.hashes.extend(new);
        self.size = n + 1;
        Ok(n)
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        // The tree's own hashes are always present, so this cannot fail; fall back to the
        // reference recursion rather than panic if it ever did.
        self.root_at(self.size).unwrap_or_else(|_| empty_root())
    }

    /// The root the tree had at `size` leaves.
    ///
    /// # Errors
    /// [`TreeError::IndexOutOfRange`] if `size` is larger than the tree.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError> {
        if size > self.size {
            return Err(TreeError::IndexOutOfRange {
                index: size,
                size: self.size,
            });
        }
        tree_root(size, self)
    }

    /// The stored hash at `index`, if the tree has it.
    pub fn stored_hash(&self, index: u64) -> Option<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.hashes.get(i))
            .copied()
    }

    /// The leaf hash of leaf `index`, if the tree has it.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        if index >= self.size {
            return None;
        }
        self.stored_hash(stored_hash_index(0, index))
    }
}

impl HashReader for MemoryTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes
            .iter()
            .map(|&index| {
                self.stored_hash(index)
                    .ok_or(TreeError::MissingHash { index })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored-hash numbering straight from the definition: replay appends.
    fn naive_numbering(leaves: u64) -> Vec<(u8, u64)> {
        let mut out = Vec::new();
        for n in 0..leaves {
            out.push((0, n));
            for l in 1..=n.trailing_ones() {
                out.push((l as u8, ((n + 1) >> l) - 1));
            }
        }
        out
    }

    #[test]
    fn numbering_matches_definition() {
        let order = naive_numbering(1000);
        for (i, &(level, n)) in order.iter().enumerate() {
            assert_eq!(stored_hash_index(level, n), i as u64, "({level},{n})");
            assert_eq!(split_stored_hash_index(i as u64), (level, n), "{i}");
        }
        for size in 0..1000u64 {
            assert_eq!(
                stored_hash_count(size),
                naive_numbering(size).len() as u64,
                "{size}"
            );
        }
    }

    #[test]
    fn numbering_known_values() {
        // Values of Go sumdb tlog's StoredHashIndex.
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
        assert_eq!(stored_hash_index(0, 3), 4);
        assert_eq!(stored_hash_index(1, 1), 5);
        assert_eq!(stored_hash_index(2, 0), 6);
        assert_eq!(stored_hash_index(0, 4), 7);
    }

    #[test]
    fn numbering_extremes_do_not_panic() {
        let max = MAX_TREE_SIZE;
        let i = stored_hash_index(0, max - 1);
        assert_eq!(split_stored_hash_index(i), (0, max - 1));
        assert_eq!(stored_hash_index(62, 0), leaf_position((1 << 62) - 1) + 62);
        assert_eq!(split_stored_hash_index(stored_hash_index(62, 0)), (62, 0));
        assert_eq!(stored_hash_index(63, 1), u64::MAX);
        assert_eq!(stored_hash_index(0, u64::MAX), u64::MAX);
        let _ = split_stored_hash_index(u64::MAX);
        let _ = stored_hash_count(u64::MAX);
        assert!(stored_hash_count(max) > stored_hash_index(0, max - 1));
    }

    #[test]
    fn memory_tree_roots_match_reference() {
        let mut t = MemoryTree::new();
        let mut leaves = Vec::new();
        assert_eq!(t.root(), empty_root());
        for i in 0..200u32 {
            let e = i.to_be_bytes();
            leaves.push(leaf_hash(&e));
            assert_eq!(t.append(&e).unwrap(), u64::from(i));
            assert_eq!(t.root(), root_of_leaves(&leaves), "size {}", i + 1);
            assert_eq!(t.hashes.len() as u64, stored_hash_count(t.size()));
        }
        for s in 0..=200usize {
            assert_eq!(t.root_at(s as u64).unwrap(), root_of_leaves(&leaves[..s]));
        }
        assert!(matches!(
            t.root_at(201),
            Err(TreeError::IndexOutOfRange { .. })
        ));
        assert_eq!(t.leaf_hash(5), Some(leaves[5]));
        assert_eq!(t.leaf_hash(200), None);
    }

    #[test]
    fn broken_reader_is_reported() {
        struct Short;
        impl HashReader for Short {
            fn read_hashes(&self, _: &[u64]) -> Result<Vec<Hash>, TreeError> {
                Ok(vec![])
            }
        }
        assert!(matches!(
            tree_root(3, &Short),
            Err(TreeError::WrongHashCount {
                expected: 2,
                got: 0
            })
        ));
        assert!(matches!(
            tree_root(MAX_TREE_SIZE + 1, &Short),
            Err(TreeError::SizeTooLarge { .. })
        ));
    }
}
