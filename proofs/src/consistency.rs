//! Consistency proofs: building (RFC 9162 §2.1.4.1) and verifying (RFC 9162 §2.1.4.2).
//! <https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.4>
//!
//! Policy for the cases RFC 9162's algorithm leaves out (it assumes `0 < old < new`), chosen
//! to agree with the transparency-dev/merkle vectors:
//! - `old > new`: [`ProofError::OldSizeGreater`].
//! - `old == new > 0`: the proof must be empty and the two roots equal.
//! - `old == 0` (with any `new`, including 0): [`ProofError::OldSizeZero`]. Every tree extends
//!   the empty tree, so there is nothing to verify; a caller that accepts "old size 0" (a
//!   tlog-witness seeing a log for the first time) decides that before calling. Generation
//!   refuses it the same way ([`TreeError::OldSizeZero`]).
//!
//! Guarantees: exact proof length (no trailing or missing hashes), at most
//! [`MAX_PROOF_HASHES`]; a failed check carries both sizes, both roots and the proof.
//! Out of scope: whether the roots are signed (checkpoints do that).

pub use crate::inclusion::{Inconsistency, ProofError};

use crate::hash::{node_hash, Hash};
use crate::inclusion::check_proof_size;
use crate::tree::{
    check_size, read_exact, split_point, HashReader, ProofPlan, TreeError, MAX_PROOF_HASHES,
};

/// The leaf ranges of RFC 9162 `PROOF(old, D[0:new])`, in proof order (`0 < old <= new`).
fn subproof_ranges(old: u64, new: u64) -> Vec<(u64, u64)> {
    let (mut lo, mut hi, mut whole) = (0u64, new, true);
    let mut ranges = Vec::new();
    loop {
        if old == hi {
            // SUBPROOF(m, D[m], b): nothing when b (the old root is the verifier's own),
            // else the hash of this old subtree.
            if !whole {
                ranges.push((lo, hi));
            }
            break;
        }
        let k = split_point(hi - lo);
        if old <= lo + k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            lo += k;
            whole = false;
        }
    }
    ranges.reverse();
    ranges
}

fn check_sizes(old_size: u64, new_size: u64) -> Result<(), TreeError> {
    check_size(new_size)?;
    if old_size > new_size {
        return Err(TreeError::OldSizeGreater { old_size, new_size });
    }
    if old_size == 0 {
        return Err(TreeError::OldSizeZero);
    }
    Ok(())
}

fn plan(old_size: u64, new_size: u64) -> Result<ProofPlan, TreeError> {
    check_sizes(old_size, new_size)?;
    ProofPlan::from_ranges(&subproof_ranges(old_size, new_size))
}

/// The stored hash indexes that [`consistency_proof`] reads.
///
/// # Errors
/// [`TreeError::OldSizeGreater`], [`TreeError::OldSizeZero`], [`TreeError::SizeTooLarge`];
/// [`TreeError::ProofTooLong`] for the few size pairs above 2⁶² whose proof needs 64 hashes.
pub fn consistency_proof_indexes(old_size: u64, new_size: u64) -> Result<Vec<u64>, TreeError> {
    Ok(plan(old_size, new_size)?.indexes)
}

/// The consistency proof from hashes already read at [`consistency_proof_indexes`].
///
/// # Errors
/// As [`consistency_proof_indexes`]; [`TreeError::WrongHashCount`] if `hashes` does not match.
pub fn consistency_proof_from_hashes(
    old_size: u64,
    new_size: u64,
    hashes: &[Hash],
) -> Result<Vec<Hash>, TreeError> {
    plan(old_size, new_size)?.fold(hashes)
}

/// The RFC 9162 consistency proof (`PROOF(old_size, D[0:new_size])`); empty when the sizes
/// are equal.
///
/// # Errors
/// As [`consistency_proof_indexes`]; errors of `r`.
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    r: &impl HashReader,
) -> Result<Vec<Hash>, TreeError> {
    let plan = plan(old_size, new_size)?;
    let hashes = read_exact(r, &plan.indexes)?;
    plan.fold(&hashes)
}

/// Verifies that the tree `(new_size, new_root)` extends the tree `(old_size, old_root)`, by
/// the algorithm of RFC 9162 §2.1.4.2 (and the policy in the module docs for equal sizes and
/// size 0).
///
/// # Errors
/// [`ProofError::TooManyHashes`], [`ProofError::OldSizeGreater`], [`ProofError::OldSizeZero`],
/// [`ProofError::SizeTooLarge`] and [`ProofError::WrongLength`] before any hashing;
/// [`ProofError::Inconsistent`] if the proof does not lead to both roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooManyHashes {
            count: proof.len(),
            max: MAX_PROOF_HASHES,
        });
    }
    if old_size > new_size {
        return Err(ProofError::OldSizeGreater { old_size, new_size });
    }
    if old_size == 0 {
        return Err(ProofError::OldSizeZero);
    }
    check_proof_size(new_size)?;
    let expected = subproof_ranges(old_size, new_size).len();
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    }
    let inconsistent = |computed_old: Hash, computed_new: Hash| {
        ProofError::Inconsistent(Box::new(Inconsistency {
            old_size,
            new_size,
            old_root: *old_root,
            new_root: *new_root,
            computed_old,
            computed_new,
            proof: proof.to_vec(),
        }))
    };
    if old_size == new_size {
        // Empty proof (checked above): the trees are the same tree.
        if old_root != new_root {
            return Err(inconsistent(*new_root, *old_root));
        }
        return Ok(());
    }
    let Some((computed_old, computed_new)) = roots_from_proof(old_size, new_size, old_root, proof)
    else {
        return Err(ProofError::WrongLength {
            expected,
            got: proof.len(),
        });
    };
    if &computed_old != old_root || &computed_new != new_root {
        return Err(inconsistent(computed_old, computed_new));
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2 steps 2–7 for `0 < first < second`, returning `(fr, sr)`; `None` where
/// the RFC says "fail" for a path of the wrong shape.
fn roots_from_proof(
    first: u64,
    second: u64,
    first_hash: &Hash,
    path: &[Hash],
) -> Option<(Hash, Hash)> {
    // Step 2: if first is a power of two, the old root itself starts the path.
    let (start, rest): (Hash, &[Hash]) = if first.is_power_of_two() {
        (*first_hash, path)
    } else {
        let (head, tail) = path.split_first()?;
        (*head, tail)
    };
    let mut fnode = first - 1;
    let mut snode = second - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if snode == 0 {
            return None;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    (snode == 0).then_some((fr, sr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::{MemoryTree, MAX_TREE_SIZE};

    #[test]
    fn all_small_proofs_verify_and_have_exact_length() {
        let mut t = MemoryTree::new();
        for i in 0..70u32 {
            t.append(&i.to_le_bytes()).unwrap();
        }
        for new in 1..=70u64 {
            let new_root = t.root_at(new).unwrap();
            for old in 1..=new {
                let old_root = t.root_at(old).unwrap();
                let proof = consistency_proof(old, new, &t).unwrap();
                verify_consistency(old, new, &old_root, &new_root, &proof)
                    .unwrap_or_else(|e| panic!("{old}->{new}: {e}"));
                let mut long = proof.clone();
                long.push(new_root);
                assert!(verify_consistency(old, new, &old_root, &new_root, &long).is_err());
                if old < new {
                    assert!(matches!(
                        verify_consistency(old, new, &new_root, &new_root, &proof),
                        Err(ProofError::Inconsistent(_))
                    ));
                }
            }
        }
    }

    #[test]
    fn edge_cases_have_clear_errors() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        assert_eq!(
            verify_consistency(2, 1, &a, &a, &[]),
            Err(ProofError::OldSizeGreater {
                old_size: 2,
                new_size: 1
            })
        );
        assert_eq!(
            verify_consistency(0, 0, &a, &a, &[]),
            Err(ProofError::OldSizeZero)
        );
        assert_eq!(
            verify_consistency(0, 5, &a, &b, &[]),
            Err(ProofError::OldSizeZero)
        );
        assert_eq!(verify_consistency(3, 3, &a, &a, &[]), Ok(()));
        assert!(matches!(
            verify_consistency(3, 3, &a, &b, &[]),
            Err(ProofError::Inconsistent(_))
        ));
        assert_eq!(
            verify_consistency(3, 3, &a, &a, &[a]),
            Err(ProofError::WrongLength {
                expected: 0,
                got: 1
            })
        );
        assert_eq!(
            verify_consistency(1, 2, &a, &b, &[]),
            Err(ProofError::WrongLength {
                expected: 1,
                got: 0
            })
        );
        assert!(matches!(
            consistency_proof_indexes(0, 4),
            Err(TreeError::OldSizeZero)
        ));
        assert!(matches!(
            consistency_proof_indexes(5, 4),
            Err(TreeError::OldSizeGreater { .. })
        ));
        // Only size pairs beyond 2^62 can need a 64th hash; those are refused, not truncated.
        assert_eq!(consistency_proof_indexes(3, 1 << 62).unwrap().len(), 63);
        assert!(matches!(
            consistency_proof_indexes(3, MAX_TREE_SIZE),
            Err(TreeError::ProofTooLong { count: 64, max: 63 })
        ));
        assert!(matches!(
            consistency_proof_indexes(1, MAX_TREE_SIZE + 1),
            Err(TreeError::SizeTooLarge { .. })
        ));
    }
}
