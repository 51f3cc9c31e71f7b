//! Inclusion proofs: building (RFC 9162 §2.1.3.1) and verifying (RFC 9162 §2.1.3.2).
//! <https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.3>
//!
//! Guarantees: [`verify_inclusion`] accepts a proof only if it has exactly the number of hashes
//! the RFC 9162 `PATH` for `(index, size)` has (never trailing or missing hashes), at most
//! [`MAX_PROOF_HASHES`], and recomputes exactly `root`. Generation reads stored hashes through
//! a [`HashReader`]; [`inclusion_proof_indexes`] lets async callers fetch them first.
//! Out of scope: where the leaf hash comes from (hash the entry with
//! [`crate::hash::leaf_hash`]) and whether `root` is trusted (checkpoints do that).

use crate::hash::{node_hash, Hash};
use crate::tree::{
    check_size, read_exact, split_point, HashReader, ProofPlan, TreeError, MAX_PROOF_HASHES,
    MAX_TREE_SIZE,
};

/// Why a proof (inclusion or consistency) did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// More hashes than any valid proof carries; rejected before hashing.
    #[error("proof has {count} hashes, more than the maximum {max}")]
    TooManyHashes {
        /// Hashes in the proof.
        count: usize,
        /// [`MAX_PROOF_HASHES`].
        max: usize,
    },
    /// Inclusion in the empty tree was claimed.
    #[error("the empty tree (size 0) includes no leaf")]
    EmptyTree,
    /// A leaf index at or beyond the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size larger than taglog supports.
    #[error("tree size {size} is larger than the maximum {max}")]
    SizeTooLarge {
        /// The size given.
        size: u64,
        /// [`MAX_TREE_SIZE`].
        max: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old size {old_size} is larger than new size {new_size}: a log never shrinks")]
    OldSizeGreater {
        /// The old tree size.
        old_size: u64,
        /// The new tree size.
        new_size: u64,
    },
    /// A consistency proof from the empty tree (RFC 9162 requires 0 < old size).
    #[error("consistency from the empty tree (old size 0) proves nothing and is not verified; special-case it before calling")]
    OldSizeZero,
    /// The proof does not have the number of hashes the sizes call for.
    #[error("proof has {got} hashes but these sizes need exactly {expected}")]
    WrongLength {
        /// Hashes the proof must have.
        expected: usize,
        /// Hashes it has.
        got: usize,
    },
    /// The inclusion proof does not lead from the leaf to the root.
    #[error(
        "inclusion proof for leaf {index} in size {size} gives root {computed}, not {expected}"
    )]
    RootMismatch {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
        /// The root the proof leads to.
        computed: Hash,
        /// The root it had to lead to.
        expected: Hash,
    },
    /// The consistency proof does not connect the two roots: evidence of a fork if both roots
    /// are signed by the log, otherwise a bad proof.
    #[error("{0}")]
    Inconsistent(Box<Inconsistency>),
}

/// The evidence of a failed consistency check: both trees, the proof, and where it led.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("consistency proof {old_size} -> {new_size} gives roots ({computed_old}, {computed_new}), not ({old_root}, {new_root})")]
pub struct Inconsistency {
    /// The old tree size.
    pub old_size: u64,
    /// The new tree size.
    pub new_size: u64,
    /// The old root given.
    pub old_root: Hash,
    /// The new root given.
    pub new_root: Hash,
    /// The old root the proof leads to.
    pub computed_old: Hash,
    /// The new root the proof leads to.
    pub computed_new: Hash,
    /// The proof that was checked.
    pub proof: Vec<Hash>,
}

/// Checks a tree size against [`MAX_TREE_SIZE`] for verifiers.
pub(crate) fn check_proof_size(size: u64) -> Result<(), ProofError> {
    if size > MAX_TREE_SIZE {
        return Err(ProofError::SizeTooLarge {
            size,
            max: MAX_TREE_SIZE,
        });
    }
    Ok(())
}

/// The leaf ranges of RFC 9162 `PATH(index, D[0:size])`, leaf side first.
fn path_ranges(index: u64, size: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi) = (0u64, size);
    let mut ranges = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
        }
    }
    ranges.reverse();
    ranges
}

/// Number of hashes in the inclusion proof for `(index, size)`, `index < size`.
fn path_len(index: u64, size: u64) -> usize {
    // Each level of the recursion adds one hash; counting levels needs no allocation.
    let (mut lo, mut hi, mut count) = (0u64, size, 0usize);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            hi = lo + k;
        } else {
            lo += k;
        }
        count += 1;
    }
    count
}

fn check_index(index: u64, size: u64) -> Result<(), TreeError> {
    check_size(size)?;
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    Ok(())
}

fn plan(index: u64, size: u64) -> Result<ProofPlan, TreeError> {
    check_index(index, size)?;
    ProofPlan::from_ranges(&path_ranges(index, size))
}

/// The stored hash indexes that [`inclusion_proof`] reads for leaf `index` in a tree of `size`.
///
/// # Errors
/// [`TreeError::IndexOutOfRange`] if `index >= size` (including size 0),
/// [`TreeError::SizeTooLarge`] above [`MAX_TREE_SIZE`].
pub fn inclusion_proof_indexes(index: u64, size: u64) -> Result<Vec<u64>, TreeError> {
    Ok(plan(index, size)?.indexes)
}

/// The inclusion proof from hashes already read at [`inclusion_proof_indexes`]`(index, size)`.
///
/// # Errors
/// As [`inclusion_proof_indexes`]; [`TreeError::WrongHashCount`] if `hashes` does not match.
pub fn inclusion_proof_from_hashes(
    index: u64,
    size: u64,
    hashes: &[Hash],
) -> Result<Vec<Hash>, TreeError> {
    plan(index, size)?.fold(hashes)
}

/// The RFC 9162 inclusion proof (`PATH`) of leaf `index` in the tree of `size` leaves, leaf
/// side first.
///
/// # Errors
/// As [`inclusion_proof_indexes`]; errors of `r`.
pub fn inclusion_proof(index: u64, size: u64, r: &impl HashReader) -> Result<Vec<Hash>, TreeError> {
    let plan = plan(index, size)?;
    let hashes = read_exact(r, &plan.indexes)?;
    plan.fold(&hashes)
}

/// Verifies that `leaf` (an RFC 6962 leaf hash) is leaf `index` of the tree of `size` leaves
/// with root `root`, by the algorithm of RFC 9162 §2.1.3.2.
///
/// # Errors
/// [`ProofError::TooManyHashes`], [`ProofError::EmptyTree`], [`ProofError::IndexOutOfRange`],
/// [`ProofError::SizeTooLarge`] and [`ProofError::WrongLength`] before any hashing;
/// [`ProofError::RootMismatch`] if the proof leads elsewhere.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooManyHashes {
            count: proof.len(),
            max: MAX_PROOF_HASHES,
        });
    }
    if size == 0 {
        return Err(ProofError::EmptyTree);
    }
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    check_proof_size(size)?;
    let expected = path_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    let computed = root_from_path(index, size, leaf, proof).ok_or(ProofError::WrongLength {
        expected,
        got: proof.len(),
    })?;
    if &computed != root {
        return Err(ProofError::RootMismatch {
            index,
            size,
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2 steps 2–5 (without the final root comparison). `None` if the path length
/// does not fit the sizes (the caller has checked it already; this is the RFC's own check).
fn root_from_path(index: u64, size: u64, leaf: &Hash, proof: &[Hash]) -> Option<Hash> {
    let mut fnode = index;
    let mut snode = size - 1;
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return None;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    (snode == 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::{root_of_leaves, MemoryTree};

    #[test]
    fn all_small_proofs_verify_and_have_exact_length() {
        let mut t = MemoryTree::new();
        let mut leaves = Vec::new();
        for i in 0..70u32 {
            leaves.push(leaf_hash(&i.to_le_bytes()));
            t.append(&i.to_le_bytes()).unwrap();
            let size = u64::from(i) + 1;
            let root = root_of_leaves(&leaves);
            for index in 0..size {
                let proof = inclusion_proof(index, size, &t).unwrap();
                assert_eq!(proof.len(), path_len(index, size));
                verify_inclusion(index, size, &leaves[index as usize], &proof, &root).unwrap();
                let mut long = proof.clone();
                long.push(root);
                assert!(matches!(
                    verify_inclusion(index, size, &leaves[index as usize], &long, &root),
                    Err(ProofError::WrongLength { .. })
                ));
            }
        }
    }

    #[test]
    fn edge_cases_have_clear_errors() {
        let h = leaf_hash(b"x");
        assert_eq!(
            verify_inclusion(0, 0, &h, &[], &h),
            Err(ProofError::EmptyTree)
        );
        assert_eq!(
            verify_inclusion(1, 1, &h, &[], &h),
            Err(ProofError::IndexOutOfRange { index: 1, size: 1 })
        );
        assert_eq!(verify_inclusion(0, 1, &h, &[], &h), Ok(()));
        assert_eq!(
            verify_inclusion(0, 1, &h, &[h; 64], &h),
            Err(ProofError::TooManyHashes { count: 64, max: 63 })
        );
        assert!(matches!(
            verify_inclusion(0, u64::MAX, &h, &[], &h),
            Err(ProofError::SizeTooLarge { .. })
        ));
        assert!(matches!(
            inclusion_proof_indexes(0, 0),
            Err(TreeError::IndexOutOfRange { .. })
        ));
        // The largest tree has proofs of exactly 63 hashes for its first leaf.
        assert_eq!(path_len(0, MAX_TREE_SIZE), 63);
        assert_eq!(plan(0, MAX_TREE_SIZE).unwrap().parts.len(), 63);
    }
}
