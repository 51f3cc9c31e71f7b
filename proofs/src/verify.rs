//! Client verification of a proof bundle: DESIGN §4 steps 3 to 8, as one pure function.
//!
//! [`verify`] takes the policy, a parsed [`Bundle`], the time, the signed reference, the
//! registry's digest (if resolved) and the caller's local state for this origin and ref, and
//! returns a [`Verdict`] (with the [`StateUpdate`] to apply atomically) or the [`VerifyError`]
//! of the first rule that failed. Steps, in order:
//!
//! 3. the checkpoint is signed by the policy's log key for the ref; its *fresh* cosignatures
//!    (now − max-age ≤ t ≤ now + 5 min; first valid line per witness; others ignored) alone
//!    satisfy the quorum (`quorum none`: the state leaf's time is in that window instead);
//! 4. size ≥ the cached size and ≥ the policy's floor, consistent with the cached checkpoint;
//! 5. the state leaf is leaf size−1, included, strict, and names its own index;
//! 6. the map proof for SHA-256(ref) verifies against the state's map root;
//! 7. the binding hashes to the map's leaf hash, is included at the map's index, has the map's
//!    version, this log's origin, exactly the signed ref, and a signature by a key the policy
//!    allows for the ref;
//! 8. rollback against the high-water mark, withdrawal, digest comparison — or, with a pin,
//!    a `/history` inclusion proof that an allowed key once bound the pinned digest.
//!
//! (Step 8 checks the high-water mark before withdrawal, so a replayed older withdrawal is
//! reported as the rollback it is.)
//!
//! Out of scope: I/O, the registry, the clock (`now` is an argument), reading or writing
//! the state (the caller applies [`StateUpdate`] under its lock), step 1's remapping
//! ([`Policy::signed_ref`]) and step 2.

use std::collections::BTreeSet;
use std::fmt;

use crate::binding::{DigestValue, SignedBinding};
use crate::bundle::{Bundle, History, LeafProof, Status};
use crate::checkpoint::SignedCheckpoint;
use crate::consistency::verify_consistency;
use crate::cosignature::verify_cosignature;
use crate::hash::{leaf_hash, Hash};
use crate::inclusion::verify_inclusion;
use crate::leaves::StateLeaf;
use crate::map::MapLookup;
use crate::policy::{Policy, Quorum};
use crate::refs::TagRef;

/// Tolerated clock skew into the future for cosignature and log times (5 minutes).
pub const FUTURE_SKEW_SECS: u64 = 300;

/// The client's cached checkpoint for one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedCheckpoint {
    /// The signed note as verified (for evidence).
    pub note: Vec<u8>,
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

/// The client's high-water mark for one ref: the newest binding it verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HighWater {
    /// Binding version.
    pub version: u64,
    /// RFC 6962 leaf hash of that binding entry.
    pub leaf_hash: Hash,
}

/// What the caller knows and asks. Everything borrowed; nothing is read from elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The trust policy.
    pub policy: &'a Policy,
    /// The bundle to verify.
    pub bundle: &'a Bundle,
    /// The reference the publisher signed (after `remap`).
    pub signed_ref: &'a TagRef,
    /// The digest the registry serves, if resolved (`None` with `--offline` and no digest).
    pub registry_digest: Option<&'a DigestValue>,
    /// Current Unix time in seconds.
    pub now: u64,
    /// `--accept-stale`: seconds added to max-age (0 = none). A verdict that needs it is
    /// marked and never updates state.
    pub accept_stale: u64,
    /// Offline: a larger checkpoint without a consistency proof from the cached one may
    /// verify, but does not replace the cache. Online such a bundle is rejected.
    pub offline: bool,
    /// Cached checkpoint for the log's origin.
    pub cached: Option<&'a CachedCheckpoint>,
    /// High-water mark for the signed ref.
    pub high_water: Option<&'a HighWater>,
    /// Newest cosignature time this client verified before (stateful clients use
    /// now = max(clock, newest − 5 min)).
    pub newest_cosignature: Option<u64>,
    /// A pin for the signed ref (local or from the policy).
    pub pin: Option<&'a DigestValue>,
    /// The `/history` page that proves the pinned binding (needed when `pin` is set).
    pub history: Option<&'a History>,
}

/// A verified checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The state leaf's time (the log's clock).
    pub log_time: u64,
    /// Witnesses (policy names) whose cosignature verified, with their times.
    pub cosigners: Vec<(String, u64)>,
}

/// The current binding of the ref as of the checkpoint (verified through steps 6–7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentBinding {
    /// Binding version.
    pub version: u64,
    /// Leaf index.
    pub index: u64,
    /// Digest or `withdrawn`.
    pub digest: DigestValue,
    /// The publisher's time.
    pub time: u64,
    /// Leaf hash.
    pub leaf_hash: Hash,
    /// The publisher key that signed it (vkey text).
    pub publisher: String,
}

/// How the verdict was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictKind {
    /// The registry digest is the current binding.
    Current,
    /// The pinned digest was proven to have been bound once (S6).
    Pinned {
        /// Version of the proven pinned binding.
        version: u64,
        /// Its leaf index.
        index: u64,
        /// Whether the publisher has since moved the tag away from the pinned digest.
        moved: bool,
    },
}

/// State changes to apply, all or nothing, under the caller's lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateUpdate {
    /// Log origin the checkpoint belongs to.
    pub origin: String,
    /// New cached checkpoint, if it may replace the old one.
    pub checkpoint: Option<CachedCheckpoint>,
    /// New high-water mark for `reference`, if it rose.
    pub high_water: Option<(TagRef, HighWater)>,
    /// Newest verified cosignature time.
    pub newest_cosignature: Option<u64>,
}

impl StateUpdate {
    /// True if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.checkpoint.is_none() && self.high_water.is_none() && self.newest_cosignature.is_none()
    }
}

/// A positive verdict: pull `reference`'s repository by `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The signed reference.
    pub reference: TagRef,
    /// The digest to pull by.
    pub digest: DigestValue,
    /// Current or pinned.
    pub kind: VerdictKind,
    /// The current binding (always present for `Current`; for `Pinned` if it verified).
    pub current: Option<CurrentBinding>,
    /// The verified checkpoint.
    pub checkpoint: CheckpointInfo,
    /// Fresh only thanks to `accept_stale` (then `update` is empty).
    pub stale_accepted: bool,
    /// Human-readable warnings (pin moved, cache not replaced offline, ...).
    pub warnings: Vec<String>,
    /// What to write to local state.
    pub update: StateUpdate,
}

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

/// Result of steps 3–5.
struct Verified {
    origin: String,
    checkpoint: SignedCheckpoint,
    info: CheckpointInfo,
    map_root: Hash,
    stale_accepted: bool,
    replace_cache: bool,
    newest_cosignature: Option<u64>,
    warnings: Vec<String>,
}

/// Runs DESIGN §4 steps 3 and 5–8 (and step 4's checks against the cached checkpoint and
/// floor) on one bundle.
///
/// # Errors
/// The [`VerifyError`] of the first failed rule; see each variant. Errors whose
/// [`VerifyError::state_update`] is `Some` carry state that may be recorded.
pub fn verify(req: &VerifyRequest<'_>) -> Result<Verdict, VerifyError> {
    let reference = req.signed_ref.as_str().to_string();
    let log = req
        .policy
        .log_for(req.signed_ref)
        .map_err(|reason| VerifyError::NotCovered {
            reference: reference.clone(),
            reason,
        })?;
    if &req.bundle.reference != req.signed_ref {
        return Err(VerifyError::RefMismatch {
            expected: reference,
            found: req.bundle.reference.as_str().to_string(),
        });
    }
    let v = verify_checkpoint(req, &log.key)?;
    let size = v.info.size;

    let mut update = StateUpdate {
        origin: v.origin.clone(),
        checkpoint: (v.replace_cache && !v.stale_accepted).then(|| CachedCheckpoint {
            note: v.checkpoint.to_bytes(),
            size,
            root: v.info.root,
        }),
        high_water: None,
        newest_cosignature: if v.stale_accepted {
            None
        } else {
            v.newest_cosignature
        },
    };

    let current = current_binding(req, &v, &update);
    if let Some(pin) = req.pin {
        return verify_pin(req, v, current, pin, update);
    }
    let current = current?;

    check_high_water(req, &current)?;
    if !v.stale_accepted {
        update.high_water = rising(req, &current);
    }
    if current.digest == DigestValue::Withdrawn {
        return Err(VerifyError::Withdrawn {
            reference,
            version: current.version,
            time: current.time,
            update: Box::new(update),
        });
    }
    if let Some(reg) = req.registry_digest {
        if *reg != current.digest {
            return Err(VerifyError::DigestMismatch {
                reference,
                registry: reg.to_string(),
                current: current.digest.to_string(),
                version: current.version,
                time: current.time,
                update: Box::new(update),
            });
        }
    }
    Ok(Verdict {
        reference: req.signed_ref.clone(),
        digest: current.digest,
        kind: VerdictKind::Current,
        current: Some(current),
        checkpoint: v.info,
        stale_accepted: v.stale_accepted,
        warnings: v.warnings,
        update,
    })
}

/// Steps 3, 4 and 5.
fn verify_checkpoint(
    req: &VerifyRequest<'_>,
    log_key: &crate::note::VerifierKey,
) -> Result<Verified, VerifyError> {
    let origin = log_key.name().as_str().to_string();
    let cp = SignedCheckpoint::open(&req.bundle.checkpoint, log_key).map_err(|e| {
        VerifyError::CheckpointSignature {
            origin: origin.clone(),
            reason: e.to_string(),
        }
    })?;
    let size = cp.checkpoint().size();
    let root = cp.checkpoint().root();

    // Step 3: cosignatures. First valid line per witness key; failures ignored.
    let text = cp.note().text();
    let mut cosigners: Vec<(String, u64)> = Vec::new();
    for sig in cp.note().signatures() {
        for w in req.policy.witnesses() {
            if w.key.matches(sig) && !cosigners.iter().any(|(n, _)| *n == w.name) {
                if let Ok(t) = verify_cosignature(sig, text, &w.key) {
                    cosigners.push((w.name.clone(), t));
                }
            }
        }
    }
    let newest_seen = cosigners.iter().map(|(_, t)| *t).max();
    let now = req
        .newest_cosignature
        .map_or(req.now, |n| req.now.max(n.saturating_sub(FUTURE_SKEW_SECS)));
    let max_age = req.policy.max_age();
    let extended = max_age.saturating_add(req.accept_stale);
    let fresh = |t: u64, age: u64| {
        t >= now.saturating_sub(age) && t <= now.saturating_add(FUTURE_SKEW_SECS)
    };
    let names = |age: u64| -> BTreeSet<String> {
        cosigners
            .iter()
            .filter(|(_, t)| fresh(*t, age))
            .map(|(n, _)| n.clone())
            .collect()
    };
    let mut stale_accepted = false;
    if let Quorum::Name(q) = req.policy.quorum() {
        let all: BTreeSet<String> = cosigners.iter().map(|(n, _)| n.clone()).collect();
        if !req.policy.quorum_met(&all) {
            return Err(VerifyError::QuorumNotMet {
                origin,
                quorum: q.clone(),
                cosigners: all.into_iter().collect(),
            });
        }
        if !req.policy.quorum_met(&names(extended)) {
            return Err(VerifyError::StaleCheckpoint {
                origin,
                what: "cosignature",
                newest: newest_seen.unwrap_or(0),
                now,
                max_age: extended,
            });
        }
        stale_accepted = !req.policy.quorum_met(&names(max_age));
    }

    // Step 4: cached checkpoint and floor.
    let floor = req.policy.floor(&origin);
    if size < floor {
        return Err(VerifyError::BelowFloor {
            origin,
            floor,
            size,
        });
    }
    let mut warnings = Vec::new();
    let mut replace_cache = true;
    if let Some(cached) = req.cached {
        replace_cache = check_cached(req, &origin, &cp, cached, &mut warnings)?;
    }

    // Step 5: the state leaf.
    let state = &req.bundle.state;
    let expected = size.checked_sub(1).ok_or(VerifyError::StateLeafIndex {
        index: state.index,
        claimed: state.index,
        expected: 0,
    })?;
    if state.index != expected {
        return Err(VerifyError::StateLeafIndex {
            index: state.index,
            claimed: state.index,
            expected,
        });
    }
    verify_inclusion(
        state.index,
        size,
        &leaf_hash(&state.entry),
        &state.inclusion,
        &root,
    )
    .map_err(|e| VerifyError::StateLeafNotIncluded {
        index: state.index,
        size,
        reason: e.to_string(),
    })?;
    let leaf = StateLeaf::parse(&state.entry).map_err(|e| VerifyError::StateLeafMalformed {
        reason: e.to_string(),
    })?;
    if leaf.size != expected {
        return Err(VerifyError::StateLeafIndex {
            index: state.index,
            claimed: leaf.size,
            expected,
        });
    }
    if *req.policy.quorum() == Quorum::None {
        if !fresh(leaf.time, extended) {
            return Err(VerifyError::StaleCheckpoint {
                origin,
                what: "log time",
                newest: leaf.time,
                now,
                max_age: extended,
            });
        }
        stale_accepted = !fresh(leaf.time, max_age);
    }
    if stale_accepted {
        warnings.push(format!(
            "accepted a stale checkpoint: it is older than max-age {}s and only --accept-stale made it pass; local state was not updated",
            max_age
        ));
    }
    let newest_cosignature = match (newest_seen, req.newest_cosignature) {
        (Some(a), Some(b)) if a > b => Some(a),
        (Some(a), None) => Some(a),
        _ => None,
    };
    Ok(Verified {
        info: CheckpointInfo {
            origin: origin.clone(),
            size,
            root,
            log_time: leaf.time,
            cosigners,
        },
        origin,
        checkpoint: cp,
        map_root: leaf.map_root,
        stale_accepted,
        replace_cache,
        newest_cosignature,
        warnings,
    })
}

/// Step 4 against the cached checkpoint. Returns whether the new checkpoint may replace it.
fn check_cached(
    req: &VerifyRequest<'_>,
    origin: &str,
    cp: &SignedCheckpoint,
    cached: &CachedCheckpoint,
    warnings: &mut Vec<String>,
) -> Result<bool, VerifyError> {
    let size = cp.checkpoint().size();
    let root = cp.checkpoint().root();
    let inconsistent = |reason: String, proof: Vec<Hash>| VerifyError::Inconsistent {
        origin: origin.to_string(),
        reason,
        evidence: Box::new(Evidence {
            cached_note: cached.note.clone(),
            new_note: cp.to_bytes(),
            proof,
            old_size: cached.size,
            new_size: size,
        }),
    };
    if size < cached.size {
        return Err(VerifyError::StaleView {
            origin: origin.to_string(),
            cached: cached.size,
            size,
        });
    }
    if size == cached.size {
        if root != cached.root {
            return Err(inconsistent("same size, different root".into(), Vec::new()));
        }
        return Ok(false);
    }
    match &req.bundle.consistency {
        Some(c) if c.from_size == cached.size => {
            verify_consistency(cached.size, size, &cached.root, &root, &c.proof).map_err(|e| {
                inconsistent(format!("consistency proof fails: {e}"), c.proof.clone())
            })?;
            Ok(true)
        }
        _ if req.offline => {
            warnings.push(format!(
                "the bundle has no consistency proof from the cached size {}; it verified, but the cached checkpoint was kept",
                cached.size
            ));
            Ok(false)
        }
        _ => Err(VerifyError::MissingConsistency {
            cached: cached.size,
            size,
        }),
    }
}

/// Steps 6 and 7: the current binding as of the checkpoint.
fn current_binding(
    req: &VerifyRequest<'_>,
    v: &Verified,
    update: &StateUpdate,
) -> Result<CurrentBinding, VerifyError> {
    let reference = req.signed_ref.as_str().to_string();
    let lookup = req
        .bundle
        .map
        .proof
        .verify(&req.signed_ref.key(), &v.map_root)
        .map_err(|e| VerifyError::MapProof {
            reference: reference.clone(),
            reason: e.to_string(),
        })?;
    let value = match lookup {
        MapLookup::Absent => {
            if req.bundle.binding.is_some() {
                return Err(VerifyError::UnexpectedBinding { reference });
            }
            if req.bundle.status != Status::Unbound {
                return Err(VerifyError::StatusMismatch {
                    claimed: req.bundle.status,
                    derived: Status::Unbound,
                });
            }
            return Err(VerifyError::Unbound {
                reference,
                origin: v.origin.clone(),
                size: v.info.size,
                update: Box::new(update.clone()),
            });
        }
        MapLookup::Present(value) => value,
    };
    let b = req
        .bundle
        .binding
        .as_ref()
        .ok_or(VerifyError::MissingBinding {
            index: value.index,
            version: value.version,
        })?;
    if b.index != value.index {
        return Err(VerifyError::BindingIndex {
            expected: value.index,
            found: b.index,
        });
    }
    let lh = leaf_hash(&b.entry);
    if lh != value.leaf_hash {
        return Err(VerifyError::BindingLeafHash {
            expected: value.leaf_hash,
            found: lh,
        });
    }
    let (binding, publisher) = check_binding_leaf(req, v, b)?;
    if binding.binding().version != value.version {
        return Err(VerifyError::BindingVersion {
            expected: value.version,
            found: binding.binding().version,
        });
    }
    let derived = if binding.binding().digest == DigestValue::Withdrawn {
        Status::Withdrawn
    } else {
        Status::Bound
    };
    if req.bundle.status != derived {
        return Err(VerifyError::StatusMismatch {
            claimed: req.bundle.status,
            derived,
        });
    }
    Ok(CurrentBinding {
        version: binding.binding().version,
        index: b.index,
        digest: binding.binding().digest,
        time: binding.binding().time,
        leaf_hash: lh,
        publisher,
    })
}

/// Step 7 for one binding leaf: included, strict, this log, this ref, allowed signer.
fn check_binding_leaf(
    req: &VerifyRequest<'_>,
    v: &Verified,
    b: &LeafProof,
) -> Result<(SignedBinding, String), VerifyError> {
    let size = v.info.size;
    verify_inclusion(
        b.index,
        size,
        &leaf_hash(&b.entry),
        &b.inclusion,
        &v.info.root,
    )
    .map_err(|e| VerifyError::BindingNotIncluded {
        index: b.index,
        size,
        reason: e.to_string(),
    })?;
    let sb = SignedBinding::parse(&b.entry).map_err(|e| VerifyError::BindingMalformed {
        reason: e.to_string(),
    })?;
    if sb.binding().log != v.origin {
        return Err(VerifyError::BindingLog {
            expected: v.origin.clone(),
            found: sb.binding().log.clone(),
        });
    }
    if &sb.binding().reference != req.signed_ref {
        return Err(VerifyError::BindingRef {
            expected: req.signed_ref.as_str().to_string(),
            found: sb.binding().reference.as_str().to_string(),
        });
    }
    let (name, id) = sb.signer();
    let allowed = req
        .policy
        .publishers_for(req.signed_ref)
        .filter(|p| p.log == v.origin)
        .find(|p| p.key.name() == name && p.key.id() == id);
    let Some(rule) = allowed else {
        return Err(VerifyError::UntrustedCurrentBinding {
            reference: req.signed_ref.as_str().to_string(),
            key: format!("{name}+{id}"),
            version: sb.binding().version,
        });
    };
    sb.verify(&rule.key)
        .map_err(|e| VerifyError::BindingSignature {
            key: format!("{name}+{id}"),
            reason: e.to_string(),
        })?;
    Ok((sb, rule.key.to_string()))
}

fn check_high_water(req: &VerifyRequest<'_>, current: &CurrentBinding) -> Result<(), VerifyError> {
    let Some(hw) = req.high_water else {
        return Ok(());
    };
    let reference = req.signed_ref.as_str().to_string();
    if current.version < hw.version {
        return Err(VerifyError::Rollback {
            reference,
            seen: hw.version,
            found: current.version,
        });
    }
    if current.version == hw.version && current.leaf_hash != hw.leaf_hash {
        return Err(VerifyError::Equivocation {
            reference,
            version: current.version,
            seen: hw.leaf_hash,
            found: current.leaf_hash,
        });
    }
    Ok(())
}

fn rising(req: &VerifyRequest<'_>, current: &CurrentBinding) -> Option<(TagRef, HighWater)> {
    let new = HighWater {
        version: current.version,
        leaf_hash: current.leaf_hash,
    };
    match req.high_water {
        Some(hw) if *hw == new => None,
        _ => Some((req.signed_ref.clone(), new)),
    }
}

/// Step 8 with a pin: the pinned digest must have been bound by an allowed key, proven by
/// inclusion in the same checkpoint; the current binding is shown, not required.
fn verify_pin(
    req: &VerifyRequest<'_>,
    v: Verified,
    current: Result<CurrentBinding, VerifyError>,
    pin: &DigestValue,
    mut update: StateUpdate,
) -> Result<Verdict, VerifyError> {
    let reference = req.signed_ref.as_str().to_string();
    let not_proven = |reason: String| VerifyError::PinNotProven {
        reference: reference.clone(),
        pin: pin.to_string(),
        reason,
    };
    if let Some(reg) = req.registry_digest {
        if reg != pin {
            return Err(VerifyError::PinMismatch {
                reference: reference.clone(),
                registry: reg.to_string(),
                pin: pin.to_string(),
            });
        }
    }
    let history = req
        .history
        .ok_or_else(|| not_proven("no /history page was given".into()))?;
    if &history.reference != req.signed_ref {
        return Err(not_proven(format!(
            "the history is for {}",
            history.reference.as_str()
        )));
    }
    let hcp = crate::note::Note::parse(&history.checkpoint)
        .ok()
        .and_then(|n| crate::checkpoint::Checkpoint::parse(n.text()).ok());
    if hcp.as_ref() != Some(v.checkpoint.checkpoint()) {
        return Err(not_proven(format!(
            "the history is not proven against the bundle's checkpoint (size {}); fetch both again",
            v.info.size
        )));
    }
    let mut proven = None;
    let mut last_reason = "no history entry binds it".to_string();
    for e in &history.entries {
        match check_binding_leaf(req, &v, e) {
            Ok((sb, _)) if sb.binding().digest == *pin => {
                proven = Some((sb.binding().version, e.index));
                break;
            }
            Ok(_) => {}
            Err(err) => last_reason = format!("entry {}: {err}", e.index),
        }
    }
    let (version, index) = proven.ok_or_else(|| not_proven(last_reason))?;
    let mut warnings = v.warnings;
    let current = match current {
        Ok(c) => {
            check_high_water(req, &c)?;
            if !v.stale_accepted {
                update.high_water = rising(req, &c);
            }
            if c.digest == DigestValue::Withdrawn {
                warnings.push(format!(
                    "the publisher has since withdrawn {reference} (version {})",
                    c.version
                ));
            } else if c.digest != *pin {
                warnings.push(format!(
                    "the publisher has since moved {reference} to {} (version {})",
                    c.digest, c.version
                ));
            }
            Some(c)
        }
        Err(VerifyError::Unbound { .. }) => None,
        Err(e) => {
            warnings.push(format!("the current binding could not be verified: {e}"));
            None
        }
    };
    let moved = current.as_ref().is_some_and(|c| c.digest != *pin);
    Ok(Verdict {
        reference: req.signed_ref.clone(),
        digest: *pin,
        kind: VerdictKind::Pinned {
            version,
            index,
            moved,
        },
        current,
        checkpoint: v.info,
        stale_accepted: v.stale_accepted,
        warnings,
        update,
    })
}
