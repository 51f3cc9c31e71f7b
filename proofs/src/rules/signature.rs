//! A binding's signature checked against its candidate keys, so that the expensive part of
//! admission (Ed25519 `verify_strict`) can run ahead of the ledger: off the server's async
//! runtime, or on many threads in a monitor.
//!
//! Guarantee: a [`SignatureCheck`] can only be made by [`SignatureCheck::run`], and the
//! [`super::Ledger`] uses one only if it was run on the same entry with exactly the
//! candidates the allowlist yields at the binding's index; otherwise it checks again.

use crate::binding::SignedBinding;
use crate::hash::Hash;
use crate::note::VerifierKey;

/// The outcome of verifying one binding under a list of candidate keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureCheck {
    leaf: Hash,
    tried: Vec<VerifierKey>,
    verified: Option<usize>,
}

impl SignatureCheck {
    /// Verifies `b` under each of `candidates` in order, stopping at the first that verifies.
    pub fn run(b: &SignedBinding, candidates: &[VerifierKey]) -> SignatureCheck {
        SignatureCheck {
            leaf: b.leaf_hash(),
            tried: candidates.to_vec(),
            verified: candidates.iter().position(|k| b.verify(k).is_ok()),
        }
    }

    /// The key the signature verified under, if any.
    pub fn verified(&self) -> Option<&VerifierKey> {
        self.verified.and_then(|i| self.tried.get(i))
    }

    /// The keys tried.
    pub fn tried(&self) -> &[VerifierKey] {
        &self.tried
    }

    /// Whether this check was run on `b` with exactly `candidates`.
    pub(super) fn applies_to(&self, b: &SignedBinding, candidates: &[VerifierKey]) -> bool {
        self.tried == candidates && self.leaf == b.leaf_hash()
    }
}
