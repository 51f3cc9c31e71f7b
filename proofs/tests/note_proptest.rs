//! Property tests: the note-family parsers never panic, accept only what re-encodes to the
//! same bytes, and a mutation never yields a different text that still verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, SignedCheckpoint};
use taglog_proofs::cosignature::cosign;
use taglog_proofs::hash::Hash;
use taglog_proofs::note::{sign_note, KeyType, Note, SignerKey, VerifierKey};
use taglog_proofs::tlogproof::TlogProof;
use taglog_proofs::witness::{
    encode_cosignature_response, encode_size_body, parse_cosignature_response, parse_size_body,
    AddCheckpointRequest,
};

const ORIGIN: &str = "log.example.org/taglog";

fn log_key() -> SignerKey {
    SignerKey::from_seed(ORIGIN.parse().unwrap(), KeyType::Ed25519, [1; 32])
}

fn witness_key() -> SignerKey {
    SignerKey::from_seed(
        "witness.example".parse().unwrap(),
        KeyType::Cosignature,
        [2; 32],
    )
}

/// A cosigned checkpoint plus an unknown signature line.
fn valid_checkpoint() -> Vec<u8> {
    let cp = Checkpoint::new(ORIGIN, 31, Hash([5; 32])).unwrap();
    let sc = SignedCheckpoint::open(
        &sign_checkpoint(&cp, &log_key()).unwrap(),
        &log_key().verifier(),
    )
    .unwrap();
    let other = SignerKey::from_seed("other.example".parse().unwrap(), KeyType::Ed25519, [3; 32]);
    let extra = Note::parse(&sign_note(&cp.to_text(), &[&other]).unwrap())
        .unwrap()
        .signatures()[0]
        .clone();
    sc.with_signatures(&[cosign(&cp, 1_764_000_071, &witness_key()).unwrap(), extra])
        .unwrap()
        .to_bytes()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (
            any::<usize>(),
            prop_oneof![
                Just(b'\n'),
                Just(b' '),
                Just(b'='),
                Just(b'\r'),
                Just(b'+'),
                any::<u8>()
            ]
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(mut v: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        let len = v.len().max(1);
        match *m {
            Mutation::Flip(i, x) if !v.is_empty() => v[i % len] ^= x,
            Mutation::Insert(i, b) => v.insert(i % (v.len() + 1), b),
            Mutation::Delete(i) if !v.is_empty() => {
                v.remove(i % len);
            }
            Mutation::Truncate(i) => v.truncate(i % (v.len() + 1)),
            Mutation::Duplicate(i, n) if !v.is_empty() => {
                let start = i % len;
                let end = (start + n).min(v.len());
                let chunk = v[start..end].to_vec();
                v.splice(start..start, chunk);
            }
            _ => {}
        }
    }
    v
}

proptest! {
    #[test]
    fn note_parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(n) = Note::parse(&bytes) {
            prop_assert_eq!(n.to_bytes(), bytes);
        }
    }

    #[test]
    fn note_parse_on_note_shaped_text(
        text in "[a-z0-9 /.\u{2014}\n=+]{0,40}",
        lines in proptest::collection::vec("\u{2014} [a-z.+ ]{0,12} [A-Za-z0-9+/=]{0,16}", 0..4),
    ) {
        let s = format!("{text}\n\n{}\n", lines.join("\n"));
        if let Ok(n) = Note::parse(s.as_bytes()) {
            prop_assert_eq!(n.to_bytes(), s.as_bytes());
        }
    }

    #[test]
    fn mutated_notes_never_verify_with_another_text(ms in proptest::collection::vec(mutation(), 1..4)) {
        let valid = valid_checkpoint();
        let original = Note::parse(&valid).unwrap();
        let mutated = apply(valid.clone(), &ms);
        if let Ok(n) = Note::parse(&mutated) {
            prop_assert_eq!(n.to_bytes(), mutated.clone());
            if n.verify(&[log_key().verifier()]).is_ok() {
                prop_assert_eq!(n.text(), original.text());
            }
        }
        if let Ok(sc) = SignedCheckpoint::open(&mutated, &log_key().verifier()) {
            prop_assert_eq!(sc.note().text(), original.text());
            prop_assert_eq!(sc.to_bytes(), mutated.clone());
            if let Ok(c) = sc.cosignatures(&[witness_key().verifier()]) {
                prop_assert!(c.iter().all(|c| c.time == 1_764_000_071));
            }
        }
    }

    #[test]
    fn sign_then_parse_is_identity(text in "[ -~\u{a0}-\u{2fff}\n]{0,200}\n", n in 1usize..4) {
        let keys: Vec<SignerKey> = (0..n)
            .map(|i| SignerKey::from_seed(format!("k{i}.example").parse().unwrap(), KeyType::Ed25519, [i as u8; 32]))
            .collect();
        let refs: Vec<&SignerKey> = keys.iter().collect();
        let bytes = sign_note(&text, &refs).unwrap();
        let note = Note::parse(&bytes).unwrap();
        prop_assert_eq!(note.text(), text.as_str());
        prop_assert_eq!(note.to_bytes(), bytes);
        let vkeys: Vec<VerifierKey> = keys.iter().map(SignerKey::verifier).collect();
        prop_assert_eq!(note.verify(&vkeys).unwrap(), vkeys);
    }

    #[test]
    fn checkpoint_parse_round_trips(s in "[a-z./ ]{0,12}\n[0-9]{0,20}\n[A-Za-z0-9+/=]{40,46}\n([a-z]{0,3}\n)?") {
        if let Ok(cp) = Checkpoint::parse(&s) {
            prop_assert_eq!(cp.to_text(), s);
        }
    }

    #[test]
    fn key_strings_never_panic(s in "[ -~]{0,80}") {
        if let Ok(k) = s.parse::<VerifierKey>() {
            prop_assert_eq!(k.to_string(), s.clone());
        }
        if let Ok(k) = s.parse::<SignerKey>() {
            prop_assert_eq!(k.to_string(), s);
        }
    }

    #[test]
    fn witness_and_tlog_proof_parsers_round_trip(ms in proptest::collection::vec(mutation(), 0..4), old in 0u64..100) {
        let cp = valid_checkpoint();
        let req = AddCheckpointRequest { old_size: old, proof: vec![Hash([7; 32]), Hash([8; 32])], checkpoint: cp.clone() };
        let body = apply(req.to_bytes(), &ms);
        if let Ok(r) = AddCheckpointRequest::parse(&body) {
            prop_assert_eq!(r.to_bytes(), body);
        }
        let proof = TlogProof::new(Some(b"x".to_vec()), old, vec![Hash([9; 32])], cp.clone()).unwrap();
        let text = apply(proof.to_bytes(), &ms);
        if let Ok(p) = TlogProof::parse(&text) {
            prop_assert_eq!(p.to_bytes(), text);
        }
        let note = Note::parse(&cp).unwrap();
        let resp = apply(encode_cosignature_response(note.signatures()), &ms);
        if let Ok(sigs) = parse_cosignature_response(&resp) {
            prop_assert_eq!(encode_cosignature_response(&sigs), resp);
        }
        let size = apply(encode_size_body(old), &ms);
        if let Ok(n) = parse_size_body(&size) {
            prop_assert_eq!(encode_size_body(n), size);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_parser(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = AddCheckpointRequest::parse(&bytes);
        let _ = TlogProof::parse(&bytes);
        let _ = parse_cosignature_response(&bytes);
        let _ = parse_size_body(&bytes);
        let _ = SignedCheckpoint::open(&bytes, &log_key().verifier());
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = Checkpoint::parse(s);
            let _ = s.parse::<VerifierKey>();
        }
    }
}
