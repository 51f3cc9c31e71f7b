//! DESIGN §4 steps 3 and 5 on their own: a checkpoint and its state leaf, for callers that
//! show a log rather than pull from it (the explorer's in-browser verifier). It runs the very
//! code [`super::verify`] runs for those steps, with no cached checkpoint and no
//! `--accept-stale`.
//!
//! Out of scope: step 4 (a caller with a cached checkpoint uses [`super::verify`]), the map
//! and binding steps (callers verify map proofs with [`crate::map::MapProof::verify`] against
//! [`VerifiedHead::map_root`]).

use crate::bundle::{Bundle, LeafProof, MapMember, Status};
use crate::hash::Hash;
use crate::map::{MapProof, Terminal};
use crate::note::VerifierKey;
use crate::policy::Policy;
use crate::refs::TagRef;

use super::{verify_checkpoint, CheckpointInfo, VerifyError, VerifyRequest};

/// A checkpoint whose signature, cosignatures (quorum and freshness under the policy) and
/// state leaf verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHead {
    /// Origin, size, root, log time and the cosigners that verified.
    pub info: CheckpointInfo,
    /// The tag map root in the state leaf.
    pub map_root: Hash,
}

/// Verifies `checkpoint` (a signed note) with `log_key` and the witnesses and quorum of
/// `policy` at `now`, and `state` as its state leaf.
///
/// # Errors
/// The [`VerifyError`] of the first failed rule: the log signature, the quorum, freshness
/// (`max-age` of the policy), or the state leaf's index, inclusion or form.
pub fn verify_head(
    policy: &Policy,
    log_key: &VerifierKey,
    checkpoint: &[u8],
    state: &LeafProof,
    now: u64,
) -> Result<VerifiedHead, VerifyError> {
    // Steps 3 and 5 read only the bundle's checkpoint and state; the reference and map below
    // are never looked at (no cached checkpoint, so no consistency either).
    let unused_ref: TagRef =
        "localhost/taglog:head"
            .parse()
            .map_err(|e| VerifyError::StateLeafMalformed {
                reason: format!("internal reference: {e}"),
            })?;
    let bundle = Bundle {
        reference: unused_ref.clone(),
        status: Status::Unbound,
        checkpoint: checkpoint.to_vec(),
        state: state.clone(),
        map: MapMember {
            proof: MapProof {
                depth: 0,
                bitmap: Vec::new(),
                siblings: Vec::new(),
                terminal: Terminal::Empty,
            },
        },
        binding: None,
        consistency: None,
    };
    let req = VerifyRequest {
        policy,
        bundle: &bundle,
        signed_ref: &unused_ref,
        registry_digest: None,
        now,
        accept_stale: 0,
        offline: true,
        cached: None,
        high_water: None,
        newest_cosignature: None,
        pin: None,
        history: None,
    };
    let v = verify_checkpoint(&req, log_key)?;
    Ok(VerifiedHead {
        info: v.info,
        map_root: v.map_root,
    })
}
