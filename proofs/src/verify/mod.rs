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

mod error;
mod head;
mod types;

pub use error::{ErrorClass, Evidence, VerifyError};
pub use head::{verify_head, VerifiedHead};
pub use types::{
    CachedCheckpoint, CheckpointInfo, CurrentBinding, HighWater, StateUpdate, Verdict, VerdictKind,
    VerifyRequest, FUTURE_SKEW_SECS,
};

use std::collections::BTreeSet;

use crate::binding::{DigestValue, SignedBinding};
use crate::bundle::{LeafProof, Status};
use crate::checkpoint::SignedCheckpoint;
use crate::consistency::verify_consistency;
use crate::cosignature::verify_cosignature;
use crate::hash::{leaf_hash, Hash};
use crate::inclusion::verify_inclusion;
use crate::leaves::StateLeaf;
use crate::map::MapLookup;
use crate::policy::Quorum;
use crate::refs::TagRef;

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
    // Only fresh cosignatures (≤ now + 5 min) may move a stateful client's clock forward: a
    // witness with a clock far in the future must not make every later checkpoint stale.
    let newest_fresh = cosigners
        .iter()
        .map(|(_, t)| *t)
        .filter(|t| fresh(*t, extended))
        .max();
    let newest_cosignature = match (newest_fresh, req.newest_cosignature) {
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
    // Every allowed key with the line's name and key ID is tried (as the log's rule book
    // does), so a key with a colliding ID allowed for the ref cannot shadow the real one.
    let mut allowed = req
        .policy
        .publishers_for(req.signed_ref)
        .filter(|p| p.log == v.origin)
        .filter(|p| p.key.name() == name && p.key.id() == id)
        .peekable();
    if allowed.peek().is_none() {
        return Err(VerifyError::UntrustedCurrentBinding {
            reference: req.signed_ref.as_str().to_string(),
            key: format!("{name}+{id}"),
            version: sb.binding().version,
        });
    }
    let mut failure = None;
    for rule in allowed {
        match sb.verify(&rule.key) {
            Ok(()) => return Ok((sb, rule.key.to_string())),
            Err(e) => failure = Some(e),
        }
    }
    Err(VerifyError::BindingSignature {
        key: format!("{name}+{id}"),
        reason: failure.map(|e| e.to_string()).unwrap_or_default(),
    })
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
    // A current binding that does not verify fails the pin too (issue 12: never a warning).
    // That includes "unbound": the history just proved a binding of this ref included before
    // the state leaf, so a map without the ref contradicts it.
    let c = current?;
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
    let moved = c.digest != *pin;
    Ok(Verdict {
        reference: req.signed_ref.clone(),
        digest: *pin,
        kind: VerdictKind::Pinned {
            version,
            index,
            moved,
        },
        current: Some(c),
        checkpoint: v.info,
        stale_accepted: v.stale_accepted,
        warnings,
        update,
    })
}
