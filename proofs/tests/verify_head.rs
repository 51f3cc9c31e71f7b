//! `verify_head` (DESIGN §4 steps 3 and 5 alone) over the log-small vectors: the checkpoint
//! and state leaf of a lookup bundle verify and give the map root the bundle's map proof
//! verifies against; a wrong log key, a changed checkpoint, a missing quorum, staleness and a
//! wrong state leaf each fail with the error `verify` gives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use taglog_proofs::bundle::Bundle;
use taglog_proofs::map::MapLookup;
use taglog_proofs::note::{KeyType, Note, SignerKey, VerifierKey};
use taglog_proofs::policy::Policy;
use taglog_proofs::verify::{verify_head, VerifyError};

fn read(p: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/taglog/log-small");
    std::fs::read(dir.join(p)).unwrap()
}

fn keys() -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(&read("keys.json")).unwrap();
    (
        v["log"].as_str().unwrap().into(),
        v["witness"].as_str().unwrap().into(),
    )
}

fn policy(quorum: &str) -> Policy {
    let (log, witness) = keys();
    Policy::parse(format!("log {log}\nwitness w {witness}\nquorum {quorum}\n").as_bytes()).unwrap()
}

fn now() -> u64 {
    let note = Note::parse(&read("checkpoint")).unwrap();
    let sig = note
        .signatures()
        .iter()
        .find(|s| s.name().as_str() == "witness.example")
        .unwrap();
    u64::from_be_bytes(sig.sig()[..8].try_into().unwrap()) + 60
}

#[test]
fn the_head_of_a_bundle_verifies_and_gives_its_map_root() {
    let b = Bundle::parse(&read("lookup/bound.json")).unwrap();
    let log: VerifierKey = keys().0.parse().unwrap();
    let head = verify_head(&policy("w"), &log, &b.checkpoint, &b.state, now()).unwrap();
    assert_eq!(head.info.size, b.state.index + 1);
    assert_eq!(head.info.cosigners.len(), 1);
    let found = b
        .map
        .proof
        .verify(&b.reference.key(), &head.map_root)
        .unwrap();
    assert!(
        matches!(found, MapLookup::Present(v) if Some(v.index) == b.binding.as_ref().map(|l| l.index))
    );
}

#[test]
fn each_broken_part_fails_with_its_own_error() {
    let b = Bundle::parse(&read("lookup/bound.json")).unwrap();
    let log: VerifierKey = keys().0.parse().unwrap();
    let witness: VerifierKey = keys().1.parse().unwrap();
    let p = policy("w");

    let e = verify_head(&p, &witness, &b.checkpoint, &b.state, now()).unwrap_err();
    assert!(matches!(e, VerifyError::CheckpointSignature { .. }), "{e}");

    let mut changed = b.checkpoint.clone();
    let at = changed.iter().position(|c| *c == b'\n').unwrap() + 1;
    changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
    let e = verify_head(&p, &log, &changed, &b.state, now()).unwrap_err();
    assert!(matches!(e, VerifyError::CheckpointSignature { .. }), "{e}");

    let stale = now() + 2 * 3600;
    let e = verify_head(&p, &log, &b.checkpoint, &b.state, stale).unwrap_err();
    assert!(matches!(e, VerifyError::StaleCheckpoint { .. }), "{e}");

    let other = SignerKey::from_seed(
        "other.example".parse().unwrap(),
        KeyType::Cosignature,
        [9; 32],
    );
    let text = format!(
        "log {}\nwitness o {}\nquorum o\n",
        keys().0,
        other.verifier()
    );
    let q = Policy::parse(text.as_bytes()).unwrap();
    let e = verify_head(&q, &log, &b.checkpoint, &b.state, now()).unwrap_err();
    assert!(matches!(e, VerifyError::QuorumNotMet { .. }), "{e}");

    let mut state = b.state.clone();
    state.index -= 1;
    let e = verify_head(&p, &log, &b.checkpoint, &state, now()).unwrap_err();
    assert!(matches!(e, VerifyError::StateLeafIndex { .. }), "{e}");
    let mut state = b.state.clone();
    state.entry.push(b'x');
    let e = verify_head(&p, &log, &b.checkpoint, &state, now()).unwrap_err();
    assert!(matches!(e, VerifyError::StateLeafNotIncluded { .. }), "{e}");
}
