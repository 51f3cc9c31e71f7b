//! Verification failures, one variant per rule, with the values involved (DESIGN §4).

use std::fmt;

use crate::bundle::Status;
use crate::hash::Hash;

use super::types::{StateUpdate, FUTURE_SKEW_SECS};

/// Evidence of an inconsistent log: two checkpoints (and a proof) that cannot both be true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The cached (older) signed checkpoint.
    pub cached_note: Vec<u8>,
    /// The new signed checkpoint.
    pub new_note: Vec<u8>,
    /// The consistency proof offered (possibly empty).
    pub proof: Vec<Hash>,
    /// Older size.
    pub old_size: u64,
    /// Newer size.
    pub new_size: u64,
}

impl Evidence {
    /// A portable text form: both notes and the proof.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "taglog inconsistency evidence\nold-size {}\nnew-size {}\n\n-- cached checkpoint --\n{}\n-- new checkpoint --\n{}\n-- consistency proof --\n",
            self.old_size,
            self.new_size,
            String::from_utf8_lossy(&self.cached_note),
            String::from_utf8_lossy(&self.new_note)
        );
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s
    }
}

/// How a failure is reported (DESIGN §4 exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The policy does not cover the request (exit 2).
    Policy,
    /// Verification failed (exit 1).
    Failed,
    /// Verification failed and the log or registry is provably misbehaving (exit 1, SECURITY ERROR).
    Security,
}

/// The first rule that failed, with the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Step 1: no publisher line covers the ref (a policy error, never a pass).
    #[error("{reason}")]
    NotCovered {
        /// The signed reference.
        reference: String,
        /// Why (uncovered, or covered by several logs).
        reason: String,
    },
    /// The bundle is about another reference.
    #[error("the bundle is for {found} but {expected} was requested: the log or a proxy answered for another reference")]
    RefMismatch {
        /// Requested signed ref.
        expected: String,
        /// The bundle's ref.
        found: String,
    },
    /// Step 3: the checkpoint is malformed or not signed by the policy's log key.
    #[error("checkpoint is not a valid checkpoint of log {origin}: {reason}")]
    CheckpointSignature {
        /// Expected origin.
        origin: String,
        /// Why.
        reason: String,
    },
    /// Step 3: even counting stale cosignatures, the quorum is not met.
    #[error("checkpoint of {origin} lacks the quorum `{quorum}`: valid cosignatures from [{}]; ask the log operator to collect cosignatures from the policy's witnesses", .cosigners.join(", "))]
    QuorumNotMet {
        /// Origin.
        origin: String,
        /// Quorum name.
        quorum: String,
        /// Witnesses whose cosignature verified (any time).
        cosigners: Vec<String>,
    },
    /// Step 3: the quorum is met only by cosignatures (or, under `quorum none`, a log time)
    /// outside the freshness window.
    #[error("stale checkpoint of {origin}: the newest {what} is from {newest} but now is {now} and max-age is {max_age}s (future skew {FUTURE_SKEW_SECS}s); fetch a fresh bundle, or pass --accept-stale <duration> to accept it explicitly")]
    StaleCheckpoint {
        /// Origin.
        origin: String,
        /// "cosignature" or "log time".
        what: &'static str,
        /// The newest relevant time (0 if none).
        newest: u64,
        /// The `now` used (after the stateful adjustment).
        now: u64,
        /// The max-age used (including accept-stale).
        max_age: u64,
    },
    /// Step 4: smaller than the locally cached checkpoint.
    #[error("stale view of {origin}: the log shows size {size} but this client already verified size {cached}; the log or a proxy serves an old view")]
    StaleView {
        /// Origin.
        origin: String,
        /// Cached size.
        cached: u64,
        /// Bundle size.
        size: u64,
    },
    /// Step 4: below the policy's floor.
    #[error("checkpoint of {origin} has size {size}, below the policy's floor {floor}: the log serves a view older than the policy allows")]
    BelowFloor {
        /// Origin.
        origin: String,
        /// Floor.
        floor: u64,
        /// Bundle size.
        size: u64,
    },
    /// Step 4 (online): no consistency proof from the cached size.
    #[error("the bundle has no consistency proof from the cached size {cached} to {size}; retry (the client sends since={cached})")]
    MissingConsistency {
        /// Cached size.
        cached: u64,
        /// Bundle size.
        size: u64,
    },
    /// Step 4: the new checkpoint contradicts the cached one. SECURITY ERROR.
    #[error("SECURITY ERROR: log {origin} is inconsistent: checkpoint of size {} does not extend the cached checkpoint of size {} ({reason}); keep the evidence and report it to the log's monitors", .evidence.new_size, .evidence.old_size)]
    Inconsistent {
        /// Origin.
        origin: String,
        /// Why.
        reason: String,
        /// Both notes and the proof.
        evidence: Box<Evidence>,
    },
    /// Step 5: the state leaf is not at size−1.
    #[error("state leaf index {index} (size line {claimed}) is not size-1 = {expected}")]
    StateLeafIndex {
        /// Bundle index.
        index: u64,
        /// The leaf's own `size` line (or the index if unparsed).
        claimed: u64,
        /// size−1.
        expected: u64,
    },
    /// Step 5: the state leaf is not included.
    #[error("state leaf {index} is not included in the checkpoint of size {size}: {reason}")]
    StateLeafNotIncluded {
        /// Index.
        index: u64,
        /// Size.
        size: u64,
        /// Proof error.
        reason: String,
    },
    /// Step 5: the state leaf does not parse.
    #[error("state leaf is malformed: {reason}")]
    StateLeafMalformed {
        /// Parser error.
        reason: String,
    },
    /// Step 6: the map proof is invalid.
    #[error("map proof for {reference} is invalid: {reason}")]
    MapProof {
        /// Ref.
        reference: String,
        /// Proof error.
        reason: String,
    },
    /// Step 6: the ref has no binding in this log.
    #[error("{reference} is not bound in log {origin} (as of size {size}): the publisher has not published this tag")]
    Unbound {
        /// Ref.
        reference: String,
        /// Origin.
        origin: String,
        /// Size.
        size: u64,
        /// The verified checkpoint may still be cached.
        update: Box<StateUpdate>,
    },
    /// The bundle's `status` hint contradicts what was derived.
    #[error("bundle says `{claimed}` but its proofs show `{derived}`")]
    StatusMismatch {
        /// Hint.
        claimed: Status,
        /// Derived.
        derived: Status,
    },
    /// Step 7: the map names a binding but the bundle has none.
    #[error(
        "the map names binding version {version} at index {index} but the bundle has no binding"
    )]
    MissingBinding {
        /// Map index.
        index: u64,
        /// Map version.
        version: u64,
    },
    /// Step 7: the map proves absence but the bundle carries a binding.
    #[error("the map proves {reference} absent but the bundle carries a binding")]
    UnexpectedBinding {
        /// Ref.
        reference: String,
    },
    /// Step 7: the binding is at another index than the map says.
    #[error("binding is at index {found} but the map says {expected}")]
    BindingIndex {
        /// Map index.
        expected: u64,
        /// Bundle index.
        found: u64,
    },
    /// Step 7: the binding entry does not hash to the map's leaf hash.
    #[error("binding entry hashes to {found:?} but the map says {expected:?}")]
    BindingLeafHash {
        /// Map leaf hash.
        expected: Hash,
        /// Entry's leaf hash.
        found: Hash,
    },
    /// Step 7: the binding is not included.
    #[error("binding {index} is not included in the checkpoint of size {size}: {reason}")]
    BindingNotIncluded {
        /// Index.
        index: u64,
        /// Size.
        size: u64,
        /// Proof error.
        reason: String,
    },
    /// Step 7: the binding entry does not parse.
    #[error("binding entry is malformed: {reason}")]
    BindingMalformed {
        /// Parser error.
        reason: String,
    },
    /// Step 7: version differs from the map's.
    #[error("binding has version {found} but the map says {expected}")]
    BindingVersion {
        /// Map version.
        expected: u64,
        /// Binding version.
        found: u64,
    },
    /// Step 7: the binding is for another log.
    #[error("binding is for log {found}, not {expected}")]
    BindingLog {
        /// This origin.
        expected: String,
        /// Binding's `log`.
        found: String,
    },
    /// Step 7: the binding names another reference (S2).
    #[error("binding names {found}, not {expected}: another repository's binding was served")]
    BindingRef {
        /// Signed ref.
        expected: String,
        /// Binding's ref.
        found: String,
    },
    /// Step 7: the current binding is signed by a key the policy does not allow for the ref.
    #[error("the current binding of {reference} (version {version}) is signed by {key}, which the policy does not trust for it; if the publisher rotated keys, update the policy's publisher line")]
    UntrustedCurrentBinding {
        /// Ref.
        reference: String,
        /// Signer name+id.
        key: String,
        /// Version.
        version: u64,
    },
    /// Step 7: the signature by an allowed key does not verify.
    #[error("the binding's signature by {key} does not verify: {reason}")]
    BindingSignature {
        /// Signer.
        key: String,
        /// Why.
        reason: String,
    },
    /// Step 8: the current binding is older than one this client verified before.
    #[error("rollback: {reference} is at version {found} in this bundle but this client already verified version {seen}; the log or a proxy replays an old binding")]
    Rollback {
        /// Ref.
        reference: String,
        /// High-water version.
        seen: u64,
        /// Bundle version.
        found: u64,
    },
    /// Step 8: same version, different leaf. SECURITY ERROR.
    #[error("SECURITY ERROR: {reference} version {version} has leaf hash {found:?} but this client verified {seen:?} for the same version")]
    Equivocation {
        /// Ref.
        reference: String,
        /// Version.
        version: u64,
        /// Known leaf hash.
        seen: Hash,
        /// Bundle leaf hash.
        found: Hash,
    },
    /// Step 8: the publisher withdrew the tag (S5).
    #[error("{reference} was withdrawn by publisher at version {version} (publisher time {time}); do not pull it; pin an earlier digest explicitly if you must")]
    Withdrawn {
        /// Ref.
        reference: String,
        /// Version of the withdrawal.
        version: u64,
        /// Publisher time.
        time: u64,
        /// State to record.
        update: Box<StateUpdate>,
    },
    /// Step 8: the registry's digest is not the current binding (S1/S2).
    #[error("the registry serves {registry} for {reference} but the current binding (version {version}, publisher time {time}) is {current}: the registry or a mirror is serving another image")]
    DigestMismatch {
        /// Ref.
        reference: String,
        /// Registry digest.
        registry: String,
        /// Current bound digest.
        current: String,
        /// Current version.
        version: u64,
        /// Publisher time.
        time: u64,
        /// State to record.
        update: Box<StateUpdate>,
    },
    /// Pin: no history entry proves that an allowed key bound the pinned digest.
    #[error("pin {pin} for {reference} is not proven: {reason}")]
    PinNotProven {
        /// Ref.
        reference: String,
        /// Pinned digest.
        pin: String,
        /// Why.
        reason: String,
    },
    /// Pin: the registry serves another digest than the pinned one.
    #[error("the registry serves {registry} for {reference} but it is pinned to {pin}")]
    PinMismatch {
        /// Ref.
        reference: String,
        /// Registry digest.
        registry: String,
        /// Pinned digest.
        pin: String,
    },
}

impl VerifyError {
    /// How to report this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            VerifyError::NotCovered { .. } => ErrorClass::Policy,
            VerifyError::Inconsistent { .. } | VerifyError::Equivocation { .. } => {
                ErrorClass::Security
            }
            _ => ErrorClass::Failed,
        }
    }

    /// The state that may still be recorded: the checkpoint and binding were verified, the
    /// answer is just negative (unbound, withdrawn, digest mismatch).
    pub fn state_update(&self) -> Option<&StateUpdate> {
        match self {
            VerifyError::Unbound { update, .. }
            | VerifyError::Withdrawn { update, .. }
            | VerifyError::DigestMismatch { update, .. } => Some(update),
            _ => None,
        }
    }

    /// A short stable code for JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::NotCovered { .. } => "not-covered",
            VerifyError::RefMismatch { .. } => "ref-mismatch",
            VerifyError::CheckpointSignature { .. } => "bad-checkpoint",
            VerifyError::QuorumNotMet { .. } => "quorum-not-met",
            VerifyError::StaleCheckpoint { .. } => "stale-checkpoint",
            VerifyError::StaleView { .. } => "stale-view",
            VerifyError::BelowFloor { .. } => "below-floor",
            VerifyError::MissingConsistency { .. } => "missing-consistency",
            VerifyError::Inconsistent { .. } => "inconsistent",
            VerifyError::StateLeafIndex { .. } => "state-leaf-index",
            VerifyError::StateLeafNotIncluded { .. } => "state-leaf-not-included",
            VerifyError::StateLeafMalformed { .. } => "state-leaf-malformed",
            VerifyError::MapProof { .. } => "bad-map-proof",
            VerifyError::Unbound { .. } => "unbound",
            VerifyError::StatusMismatch { .. } => "status-mismatch",
            VerifyError::MissingBinding { .. } => "missing-binding",
            VerifyError::UnexpectedBinding { .. } => "unexpected-binding",
            VerifyError::BindingIndex { .. } => "binding-index",
            VerifyError::BindingLeafHash { .. } => "binding-leaf-hash",
            VerifyError::BindingNotIncluded { .. } => "binding-not-included",
            VerifyError::BindingMalformed { .. } => "binding-malformed",
            VerifyError::BindingVersion { .. } => "binding-version",
            VerifyError::BindingLog { .. } => "binding-log",
            VerifyError::BindingRef { .. } => "binding-ref",
            VerifyError::UntrustedCurrentBinding { .. } => "untrusted-current-binding",
            VerifyError::BindingSignature { .. } => "binding-signature",
            VerifyError::Rollback { .. } => "rollback",
            VerifyError::Equivocation { .. } => "equivocation",
            VerifyError::Withdrawn { .. } => "withdrawn",
            VerifyError::DigestMismatch { .. } => "digest-mismatch",
            VerifyError::PinNotProven { .. } => "pin-not-proven",
            VerifyError::PinMismatch { .. } => "pin-mismatch",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Policy => "policy",
            ErrorClass::Failed => "failed",
            ErrorClass::Security => "security",
        })
    }
}
