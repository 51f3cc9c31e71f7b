//! Pure alert logic: turns verified facts into [`Alert`]s with evidence (DESIGN.md §6).
//!
//! Nothing here does I/O or reads a clock: the caller passes `now`, the verified tree and
//! the notes. Evidence is built so that a third party can check it with the `proofs` crate
//! and the log's public key alone:
//! - `fork`: two notes signed by the log key; for different sizes, the RFC 9162 consistency
//!   proof from the monitor's verified tree, which implies a root at the smaller size that
//!   differs from the one the log signed for it.
//! - `log-rollback`: the larger checkpoint served earlier and the smaller one served now.
//! - entry alerts: the entry bytes with an inclusion proof against a signed checkpoint, plus
//!   the earlier binding concerned (version regression, rebind).
//!
//! Out of scope: replay rules (see [`crate::replay`]) and fetching.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use taglog_proofs::b64;
use taglog_proofs::binding::SignedBinding;
use taglog_proofs::checkpoint::Checkpoint;
use taglog_proofs::consistency::consistency_proof;
use taglog_proofs::hash::{empty_root, sha256, Hash};
use taglog_proofs::inclusion::inclusion_proof;
use taglog_proofs::note::VerifierKey;
use taglog_proofs::refs::RefPrefix;
use taglog_proofs::tree::{stored_hash_index, HashReader};

use crate::alerts::{Alert, AlertKind};
use crate::replay::Violation;
use crate::store::{ReplayDb, StoreError};

/// The note as text for evidence (notes are UTF-8; anything else is shown lossily).
pub fn note_text(note: &[u8]) -> String {
    String::from_utf8_lossy(note).into_owned()
}

/// Sets a member of a JSON object (no-op on other values).
fn set(obj: &mut Value, key: &str, value: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.insert(key.to_owned(), value);
    }
}

fn hashes_b64(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_base64).collect()
}

/// Entry evidence: index, base64 entry, leaf hash and inclusion proof in the tree of `size`.
pub fn entry_evidence(index: u64, entry: &[u8], tree: &impl HashReader, size: u64) -> Value {
    let proof = inclusion_proof(index, size, tree)
        .map(|p| hashes_b64(&p))
        .unwrap_or_default();
    json!({
        "index": index,
        "entry": b64::encode(entry),
        "leaf_hash": taglog_proofs::hash::leaf_hash(entry).to_base64(),
        "size": size,
        "inclusion": proof,
    })
}

/// Evidence for a verified entry whose bytes the log no longer serves (or serves wrongly):
/// what the monitor's verified tree holds (index, leaf hash, inclusion proof in the tree of
/// `size`), `"entry": null`, and why the bytes are missing. The alert it supports was decided
/// from entries checked earlier, so it is raised all the same (DESIGN §6: never drop an alert).
pub fn unavailable_entry_evidence(
    index: u64,
    reason: &str,
    tree: &impl HashReader,
    size: u64,
) -> Value {
    let proof = inclusion_proof(index, size, tree)
        .map(|p| hashes_b64(&p))
        .unwrap_or_default();
    json!({
        "index": index,
        "entry": Value::Null,
        "entry_unavailable": reason,
        "leaf_hash": (index < size)
            .then(|| tree.read_hashes(&[stored_hash_index(0, index)]).ok())
            .flatten()
            .and_then(|h| h.first().map(Hash::to_base64)),
        "size": size,
        "inclusion": proof,
    })
}

/// A log-signed checkpoint as the monitor saw it.
#[derive(Clone, Debug)]
pub struct SeenCheckpoint {
    /// The exact note bytes.
    pub note: Vec<u8>,
    /// The parsed checkpoint (log signature verified).
    pub checkpoint: Checkpoint,
    /// Where it came from (`log`, a witness URL, a report file).
    pub source: String,
}

/// Compares a log-signed checkpoint no larger than the verified tree (of `n` leaves, read
/// through `tree`) with that tree.
/// Returns a `fork` alert if the log signed a root that its verified history does not have.
pub fn check_against_tree(
    origin: &str,
    verified_note: &[u8],
    tree: &impl HashReader,
    n: u64,
    other: &SeenCheckpoint,
    now: u64,
) -> Option<Alert> {
    let m = other.checkpoint.size();
    if m > n {
        return None;
    }
    let expected = if m == 0 {
        empty_root()
    } else {
        taglog_proofs::tree::tree_root(m, tree).ok()?
    };
    let claimed = other.checkpoint.root();
    if expected == claimed {
        return None;
    }
    let mut evidence = json!({
        "checkpoints": [note_text(verified_note), note_text(&other.note)],
        "source": other.source,
    });
    if m > 0 && m < n {
        if let Ok(proof) = consistency_proof(m, n, tree) {
            set(
                &mut evidence,
                "consistency",
                json!({
                    "old_size": m,
                    "new_size": n,
                    "proof": hashes_b64(&proof),
                    "old_root_implied": expected.to_base64(),
                }),
            );
        }
    }
    Some(Alert::new(
        AlertKind::Fork,
        origin,
        &format!("{m} {}", claimed.to_base64()),
        None,
        format!(
            "the log signed root {} for size {m} ({}), but the log-signed tree of size {n} has root {} at that size",
            claimed.to_base64(),
            other.source,
            expected.to_base64()
        ),
        now,
        evidence,
    ))
}

/// `log-rollback` if the log now serves a checkpoint smaller than one it served before.
pub fn check_rollback(
    origin: &str,
    largest: &SeenCheckpoint,
    served: &SeenCheckpoint,
    now: u64,
) -> Option<Alert> {
    let (big, small) = (largest.checkpoint.size(), served.checkpoint.size());
    if small >= big {
        return None;
    }
    Some(Alert::new(
        AlertKind::LogRollback,
        origin,
        &format!("{big} {small} {}", served.checkpoint.root().to_base64()),
        None,
        format!("the log now serves size {small}, after it served size {big}"),
        now,
        json!({
            "earlier": note_text(&largest.note),
            "now": note_text(&served.note),
        }),
    ))
}

/// `fork-risk`: a log-signed checkpoint larger than anything the log's tiles rebuild.
pub fn fork_risk(
    origin: &str,
    verified_note: Option<&[u8]>,
    other: &SeenCheckpoint,
    reason: &str,
    now: u64,
) -> Alert {
    let m = other.checkpoint.size();
    Alert::new(
        AlertKind::ForkRisk,
        origin,
        &format!("{m} {}", other.checkpoint.root().to_base64()),
        None,
        format!(
            "the log signed a checkpoint of size {m} (seen via {}) that its tiles do not rebuild: {reason}",
            other.source
        ),
        now,
        json!({
            "checkpoint": note_text(&other.note),
            "verified": verified_note.map(note_text),
            "reason": reason,
        }),
    )
}

/// `tile-mismatch`: the tiles served do not rebuild the log's own checkpoint.
pub fn tile_mismatch(
    origin: &str,
    checkpoint: &SeenCheckpoint,
    from_size: u64,
    computed: Option<Hash>,
    reason: &str,
    now: u64,
) -> Alert {
    let cp = &checkpoint.checkpoint;
    Alert::new(
        AlertKind::TileMismatch,
        origin,
        &format!("{} {} {reason}", cp.size(), cp.root().to_base64()),
        None,
        format!(
            "the tiles served for size {} do not match the log's checkpoint: {reason}",
            cp.size()
        ),
        now,
        json!({
            "checkpoint": note_text(&checkpoint.note),
            "verified_size": from_size,
            "computed_root": computed.map(|h| h.to_base64()),
            "reason": reason,
        }),
    )
}

/// `bad-signature` for a checkpoint whose log signature does not verify.
pub fn bad_checkpoint_signature(origin: &str, note: &[u8], detail: &str, now: u64) -> Alert {
    Alert::new(
        AlertKind::BadSignature,
        origin,
        &format!("checkpoint {}", sha256(note).to_base64()),
        None,
        format!("the log served a checkpoint whose log signature does not verify: {detail}"),
        now,
        json!({ "checkpoint": note_text(note), "detail": detail }),
    )
}

/// `stale-checkpoint` if the freshest time vouching for the checkpoint is older than
/// `max_age` seconds.
pub fn check_stale(
    origin: &str,
    checkpoint: &SeenCheckpoint,
    freshest: Option<u64>,
    max_age: u64,
    now: u64,
) -> Option<Alert> {
    let fresh = freshest.is_some_and(|t| now.saturating_sub(t) <= max_age);
    if fresh {
        return None;
    }
    let cp = &checkpoint.checkpoint;
    Some(Alert::new(
        AlertKind::StaleCheckpoint,
        origin,
        &format!(
            "{} {} {}",
            cp.size(),
            cp.root().to_base64(),
            freshest.unwrap_or(0)
        ),
        None,
        match freshest {
            Some(t) => format!(
                "the newest checkpoint (size {}) was last vouched for at {t}, more than {max_age} s ago",
                cp.size()
            ),
            None => format!(
                "the newest checkpoint (size {}) carries no time at all (no witness cosignature, no state leaf)",
                cp.size()
            ),
        },
        now,
        json!({ "checkpoint": note_text(&checkpoint.note), "freshest": freshest, "max_age": max_age, "now": now }),
    ))
}

/// The alert kind a rule violation maps to.
pub fn finding_kind(f: &Violation) -> AlertKind {
    match f {
        Violation::Malformed { .. }
        | Violation::WrongLog { .. }
        | Violation::DuplicateAdd { .. }
        | Violation::AbsentRemove { .. }
        | Violation::StateSize { .. }
        | Violation::TimeDecreased { .. }
        | Violation::TimeInFuture { .. }
        | Violation::NoStateLeaf { .. } => AlertKind::MalformedEntry,
        Violation::NotAdmitted { .. } | Violation::BadSignature { .. } => AlertKind::BadSignature,
        Violation::Version { .. } => AlertKind::VersionRegression,
        Violation::MapMismatch { .. } => AlertKind::MapMismatch,
    }
}

/// The alert for a replay finding. `entry` is the leaf evidence ([`entry_evidence`]),
/// `previous` that of an earlier leaf the finding refers to (the previous binding).
pub fn finding_alert(
    origin: &str,
    finding: &Violation,
    checkpoint_note: &[u8],
    entry: Value,
    previous: Option<Value>,
    now: u64,
) -> Alert {
    let kind = finding_kind(finding);
    let mut evidence = json!({
        "checkpoint": note_text(checkpoint_note),
        "entry": entry,
    });
    if let Some(p) = previous {
        set(&mut evidence, "previous", p);
    }
    if let Violation::MapMismatch {
        claimed, computed, ..
    } = finding
    {
        set(
            &mut evidence,
            "claimed_map_root",
            json!(claimed.to_base64()),
        );
        set(
            &mut evidence,
            "computed_map_root",
            json!(computed.to_base64()),
        );
    }
    Alert::new(
        kind,
        origin,
        &format!("{} {}", finding.index(), finding.code()),
        Some(finding.index()),
        finding.to_string(),
        now,
        evidence,
    )
}

/// What the monitor watches (S9).
#[derive(Clone, Debug, Default)]
pub struct Watchlist {
    /// Any binding under one of these prefixes.
    pub prefixes: Vec<RefPrefix>,
    /// Any binding signed by one of these publisher keys.
    pub keys: Vec<VerifierKey>,
}

impl Watchlist {
    /// Why this binding is watched, if it is.
    pub fn reason(&self, b: &SignedBinding) -> Option<String> {
        let r = &b.binding().reference;
        if let Some(p) = self.prefixes.iter().find(|p| p.matches(r)) {
            return Some(format!("ref {r} is under watched prefix {p}"));
        }
        let (name, id) = b.signer();
        self.keys
            .iter()
            .find(|k| k.name() == name && k.id() == id)
            .map(|k| format!("signed by watched key {k}"))
    }
}

/// Per-log memory for notices: bindings not yet covered by a state leaf (for the
/// merge-delay check), persisted with the monitor state. The digests each ref was bound to
/// are in the replay database ([`ReplayDb::note_binding`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeState {
    /// Written by earlier monitors only (taken over into the replay database on open): hex
    /// SHA-256(ref ‖ "\n" ‖ digest) → index of the latest binding to that digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bound: BTreeMap<String, u64>,
    /// Written by earlier monitors only: hex SHA-256(ref) → digest of the current binding.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub current: BTreeMap<String, String>,
    /// (index, publisher time) of bindings after the last state leaf.
    pub unsettled: Vec<(u64, u64)>,
}

/// A rebind to a digest the ref had before (not the current one). Returns the index of the
/// earlier binding to that digest. Records the binding in the replay database (the digests
/// each ref was bound to) and `state` (awaiting a state leaf).
///
/// # Errors
/// The replay database failed; nothing is recorded in `state`.
pub fn note_binding(
    db: &ReplayDb,
    state: &mut NoticeState,
    index: u64,
    b: &SignedBinding,
) -> Result<Option<u64>, StoreError> {
    let binding = b.binding();
    let r = binding.reference.as_str();
    let digest = binding.digest.to_string();
    let pair = sha256(format!("{r}\n{digest}").as_bytes());
    let (earlier, current) = db.note_binding(index, &pair, &binding.reference.key(), &digest)?;
    let old = !binding.digest.is_withdrawn() && current.as_deref() != Some(digest.as_str());
    state.unsettled.push((index, binding.time));
    Ok(if old { earlier } else { None })
}

/// On a state leaf with log time `time`: the bindings it settles whose publisher time is
/// more than `mmd` seconds earlier (index, publisher time).
pub fn settle(state: &mut NoticeState, time: u64, mmd: u64) -> Vec<(u64, u64)> {
    std::mem::take(&mut state.unsettled)
        .into_iter()
        .filter(|&(_, t)| time.saturating_sub(t) > mmd)
        .collect()
}

/// `rebind-to-old-digest` notice.
pub fn rebind_alert(
    origin: &str,
    b: &SignedBinding,
    checkpoint_note: &[u8],
    entry: Value,
    previous: Value,
    now: u64,
) -> Alert {
    let binding = b.binding();
    let index = entry.get("index").and_then(Value::as_u64);
    Alert::new(
        AlertKind::RebindToOldDigest,
        origin,
        &format!("{} {}", index.unwrap_or(0), binding.reference),
        index,
        format!(
            "{} version {} rebinds to {}, a digest it was bound to before",
            binding.reference, binding.version, binding.digest
        ),
        now,
        json!({ "checkpoint": note_text(checkpoint_note), "entry": entry, "previous": previous }),
    )
}

/// `watched-binding` alert.
pub fn watched_alert(
    origin: &str,
    b: &SignedBinding,
    reason: &str,
    checkpoint_note: &[u8],
    entry: Value,
    now: u64,
) -> Alert {
    let binding = b.binding();
    let index = entry.get("index").and_then(Value::as_u64);
    let (name, id) = b.signer();
    Alert::new(
        AlertKind::WatchedBinding,
        origin,
        &format!("{}", index.unwrap_or(0)),
        index,
        format!(
            "{} bound to {} (version {}) by {name}+{id}: {reason}",
            binding.reference, binding.digest, binding.version
        ),
        now,
        json!({ "checkpoint": note_text(checkpoint_note), "entry": entry, "reason": reason }),
    )
}

/// `mmd-violation` warning: a binding first covered by a state leaf whose log time is more
/// than the MMD after the publisher's time. The publisher's time is informative, so a
/// backdated binding also triggers it; the evidence lets a reader judge.
pub fn mmd_alert(
    origin: &str,
    late: &LateBinding,
    checkpoint_note: &[u8],
    entry: Value,
    state_entry: Value,
    now: u64,
) -> Alert {
    let LateBinding {
        index,
        publisher_time,
        state_time,
        mmd,
    } = *late;
    Alert::new(
        AlertKind::MmdViolation,
        origin,
        &format!("{index}"),
        Some(index),
        format!(
            "binding {index} (publisher time {publisher_time}) was first covered by a state leaf at log time {state_time}, more than the MMD of {mmd} s later"
        ),
        now,
        json!({ "checkpoint": note_text(checkpoint_note), "entry": entry, "state": state_entry, "mmd": mmd }),
    )
}

/// A binding first covered by a state leaf later than the MMD allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LateBinding {
    /// Binding leaf index.
    pub index: u64,
    /// The publisher's time in the binding.
    pub publisher_time: u64,
    /// The log time of the first state leaf after it.
    pub state_time: u64,
    /// The MMD applied (seconds).
    pub mmd: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::checkpoint::{sign_checkpoint, SignedCheckpoint};
    use taglog_proofs::consistency::verify_consistency;
    use taglog_proofs::note::{KeyType, SignerKey};
    use taglog_proofs::tree::MemoryTree;

    fn key() -> SignerKey {
        SignerKey::from_seed("log.test/x".parse().unwrap(), KeyType::Ed25519, [7; 32])
    }

    fn seen(size: u64, root: Hash) -> SeenCheckpoint {
        let k = key();
        let cp = Checkpoint::new("log.test/x", size, root).unwrap();
        let note = sign_checkpoint(&cp, &k).unwrap();
        let cp = SignedCheckpoint::open(&note, &k.verifier()).unwrap();
        SeenCheckpoint {
            note,
            checkpoint: cp.checkpoint().clone(),
            source: "test".into(),
        }
    }

    #[test]
    fn fork_evidence_proves_a_different_old_root() {
        let mut t = MemoryTree::new();
        for i in 0..10u8 {
            t.append(&[i]).unwrap();
        }
        let verified = seen(10, t.root());
        assert!(check_against_tree(
            "o",
            &verified.note,
            &t,
            10,
            &seen(4, t.root_at(4).unwrap()),
            0
        )
        .is_none());
        let bad = seen(4, sha256(b"other"));
        let a = check_against_tree("o", &verified.note, &t, 10, &bad, 0).unwrap();
        assert_eq!(a.kind, AlertKind::Fork);
        let c = &a.evidence["consistency"];
        let proof: Vec<Hash> = c["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
            .collect();
        let implied = Hash::from_base64(c["old_root_implied"].as_str().unwrap()).unwrap();
        verify_consistency(4, 10, &implied, &t.root(), &proof).unwrap();
        assert!(verify_consistency(4, 10, &sha256(b"other"), &t.root(), &proof).is_err());
        // Same size, other root.
        let same = seen(10, sha256(b"x"));
        assert_eq!(
            check_against_tree("o", &verified.note, &t, 10, &same, 0)
                .unwrap()
                .kind,
            AlertKind::Fork
        );
    }

    #[test]
    fn rollback_and_stale() {
        let a = seen(10, sha256(b"a"));
        let b = seen(5, sha256(b"b"));
        assert!(check_rollback("o", &a, &b, 0).is_some());
        assert!(check_rollback("o", &b, &a, 0).is_none());
        assert!(check_stale("o", &a, Some(100), 50, 120).is_none());
        assert!(check_stale("o", &a, Some(100), 10, 120).is_some());
        assert!(check_stale("o", &a, None, 10, 120).is_some());
    }
}
