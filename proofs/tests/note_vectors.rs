//! Signed-note, checkpoint and cosignature vectors: Go `sumdb/note` examples, the C2SP
//! examples, and the taglog `log-small` static log (whose keys come from published seeds).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use serde_json::Value;
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, CheckpointError, SignedCheckpoint};
use taglog_proofs::cosignature::{
    cosign, cosignature_message, verify_cosignature, COSIGNATURE_LEN,
};
use taglog_proofs::hash::{leaf_hash, sha256, Hash};
use taglog_proofs::note::{
    sign_note, KeyId, KeyName, KeyType, Note, NoteError, NoteSignature, SignerKey, VerifierKey,
};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn signed_note_json() -> Value {
    serde_json::from_slice(&std::fs::read(vectors().join("signed-note.json")).unwrap()).unwrap()
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_else(|| panic!("missing {path:?}"))
}

#[test]
fn go_note_sign_reproduces_the_exact_bytes() {
    let j = signed_note_json();
    let signer: SignerKey = s(&j, &["go_note", "signer_key"]).parse().unwrap();
    let vkey: VerifierKey = s(&j, &["go_note", "verifier_key"]).parse().unwrap();
    assert_eq!(signer.verifier(), vkey);
    assert_eq!(signer.to_string(), s(&j, &["go_note", "signer_key"]));
    assert_eq!(vkey.to_string(), s(&j, &["go_note", "verifier_key"]));
    assert_eq!(vkey.id(), KeyId([0xc7, 0x4f, 0x20, 0xa3]));
    assert_eq!(vkey.key_type(), KeyType::Ed25519);
    let signed = sign_note(s(&j, &["go_note", "text"]), &[&signer]).unwrap();
    assert_eq!(signed, s(&j, &["go_note", "signed_note"]).as_bytes());
}

#[test]
fn go_note_verifies_with_one_and_two_signatures() {
    let j = signed_note_json();
    let peter: VerifierKey = s(&j, &["go_note", "verifier_key"]).parse().unwrap();
    let enoch: VerifierKey = s(&j, &["go_note", "other_verifier_key"]).parse().unwrap();
    let text = s(&j, &["go_note", "text"]);

    let one = Note::parse(s(&j, &["go_note", "signed_note"]).as_bytes()).unwrap();
    assert_eq!(one.text(), text);
    assert_eq!(one.signatures().len(), 1);
    assert_eq!(
        one.verify(std::slice::from_ref(&peter)).unwrap(),
        vec![peter.clone()]
    );
    assert_eq!(
        one.verify(std::slice::from_ref(&enoch)),
        Err(NoteError::NoTrustedSignature)
    );

    let two_bytes = s(&j, &["go_note", "signed_note_two_sigs"]).as_bytes();
    let two = Note::parse(two_bytes).unwrap();
    assert_eq!(two.to_bytes(), two_bytes);
    assert_eq!(two.signatures().len(), 2);
    assert_eq!(
        two.verify(&[peter.clone(), enoch.clone()]).unwrap(),
        vec![peter.clone(), enoch.clone()]
    );
    assert_eq!(
        two.verify(&[enoch.clone(), peter.clone()]).unwrap(),
        vec![peter.clone(), enoch.clone()]
    );
    assert_eq!(
        two.verify(std::slice::from_ref(&enoch)).unwrap(),
        vec![enoch]
    );
    assert_eq!(
        two.verify(std::slice::from_ref(&peter)).unwrap(),
        vec![peter]
    );
}

#[test]
fn c2sp_vkey_and_signed_note_example() {
    let j = signed_note_json();
    let vkey_str = s(&j, &["c2sp_signed_note_example", "verifier_key"]);
    let vkey: VerifierKey = vkey_str.parse().unwrap();
    assert_eq!(vkey.to_string(), vkey_str);
    assert_eq!(vkey.name().as_str(), "example.com/foo");
    let bytes = s(&j, &["c2sp_signed_note_example", "signed_note"]).as_bytes();
    let note = Note::parse(bytes).unwrap();
    assert_eq!(note.text(), "This is an example message.\n");
    assert_eq!(
        note.verify(std::slice::from_ref(&vkey)).unwrap(),
        vec![vkey]
    );
    assert_eq!(note.to_bytes(), bytes);
}

/// The cosignature line from C2SP tlog-cosignature's example (no public key is published).
const C2SP_COSIGNATURE_LINE: &str = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";

#[test]
fn c2sp_checkpoint_and_cosignature_examples() {
    let j = signed_note_json();
    let cp_bytes = s(&j, &["c2sp_checkpoint_example_unverifiable", "checkpoint"]);
    let note = Note::parse(cp_bytes.as_bytes()).unwrap();
    assert_eq!(note.to_bytes(), cp_bytes.as_bytes());
    let cp = Checkpoint::parse(note.text()).unwrap();
    assert_eq!(cp.origin(), "example.com/behind-the-sofa");
    assert_eq!(cp.size(), 20852163);
    assert_eq!(
        cp.root().to_base64(),
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    );
    assert_eq!(cp.to_text(), note.text());

    // The cosigned message for time 1679315147.
    assert_eq!(
        cosignature_message(&cp.to_text(), 1679315147),
        s(
            &j,
            &[
                "c2sp_checkpoint_example_unverifiable",
                "cosignature_v1_signed_message"
            ]
        )
        .as_bytes()
    );
    // The cosignature line: key ID 8d66cf3f, u64 BE time 1679315147, 64-byte signature.
    let cosig = NoteSignature::parse_line(C2SP_COSIGNATURE_LINE, 1).unwrap();
    assert_eq!(cosig.id, KeyId([0x8d, 0x66, 0xcf, 0x3f]));
    assert_eq!(cosig.sig.len(), COSIGNATURE_LEN);
    assert_eq!(
        u64::from_be_bytes(cosig.sig[..8].try_into().unwrap()),
        1679315147
    );
    assert_eq!(cosig.to_line(), format!("{C2SP_COSIGNATURE_LINE}\n"));
    let with = format!("{cp_bytes}{C2SP_COSIGNATURE_LINE}\n");
    let cosigned = Note::parse(with.as_bytes()).unwrap();
    assert_eq!(cosigned.signatures().len(), 2);
    assert_eq!(cosigned.to_bytes(), with.as_bytes());

    // Without its vkey the log signature is unknown: opening with another key of the same
    // name finds no trusted signature.
    let other = SignerKey::from_seed(cp.origin().parse().unwrap(), KeyType::Ed25519, [7; 32]);
    assert_eq!(
        SignedCheckpoint::open(cp_bytes.as_bytes(), &other.verifier()),
        Err(CheckpointError::Note(NoteError::NoTrustedSignature))
    );
}

#[test]
fn go_tlog_tree_note_text_is_a_checkpoint_text() {
    let j = signed_note_json();
    let text = s(&j, &["go_tlog_tree_note", "text"]);
    let cp = Checkpoint::parse(text).unwrap();
    assert_eq!(cp.origin(), "go.sum database tree");
    assert_eq!(cp.size(), j["go_tlog_tree_note"]["size"].as_u64().unwrap());
    assert_eq!(cp.root(), leaf_hash(b"hello world"));
    assert_eq!(cp.to_text(), text);
}

struct LogSmall {
    dir: PathBuf,
    log: VerifierKey,
    witness: VerifierKey,
    size: u64,
    sizes: Vec<u64>,
}

fn log_small() -> LogSmall {
    let dir = vectors().join("taglog/log-small");
    let keys: Value =
        serde_json::from_slice(&std::fs::read(dir.join("keys.json")).unwrap()).unwrap();
    let log: VerifierKey = s(&keys, &["log"]).parse().unwrap();
    let witness: VerifierKey = s(&keys, &["witness"]).parse().unwrap();
    assert_eq!(log.name().as_str(), s(&keys, &["origin"]));
    assert_eq!(log.key_type(), KeyType::Ed25519);
    assert_eq!(witness.key_type(), KeyType::Cosignature);
    for p in keys["publishers"].as_array().unwrap() {
        let k: VerifierKey = p.as_str().unwrap().parse().unwrap();
        assert_eq!(k.to_string(), p.as_str().unwrap());
    }
    let sizes = keys["checkpoint_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    LogSmall {
        dir,
        log,
        witness,
        size: keys["size"].as_u64().unwrap(),
        sizes,
    }
}

fn seeded(name: &str, key_type: KeyType, seed: &str) -> SignerKey {
    SignerKey::from_seed(
        name.parse::<KeyName>().unwrap(),
        key_type,
        sha256(seed.as_bytes()).0,
    )
}

#[test]
fn log_small_checkpoints_open_and_cosignatures_verify() {
    let l = log_small();
    let mut files: Vec<(u64, Vec<u8>)> = l
        .sizes
        .iter()
        .map(|n| {
            (
                *n,
                std::fs::read(l.dir.join(format!("checkpoints/{n}"))).unwrap(),
            )
        })
        .collect();
    files.push((l.size, std::fs::read(l.dir.join("checkpoint")).unwrap()));
    assert_eq!(files.len(), 4);
    let mut times = Vec::new();
    for (size, bytes) in &files {
        let sc = SignedCheckpoint::open(bytes, &l.log).unwrap();
        assert_eq!(sc.checkpoint().size(), *size);
        assert_eq!(sc.checkpoint().origin(), l.log.name().as_str());
        assert_eq!(sc.to_bytes(), *bytes);
        let cos = sc.cosignatures(std::slice::from_ref(&l.witness)).unwrap();
        assert_eq!(cos.len(), 1, "one witness cosignature on checkpoint {size}");
        assert_eq!(cos[0].key, l.witness);
        times.push(cos[0].time);
        // The note-level verifier accepts both key types at once.
        assert_eq!(
            sc.note()
                .verify(&[l.log.clone(), l.witness.clone()])
                .unwrap()
                .len(),
            2
        );
        // Unknown witnesses give no cosignature, not an error.
        let stranger = seeded("witness.example", KeyType::Cosignature, "someone else");
        assert!(sc.cosignatures(&[stranger.verifier()]).unwrap().is_empty());
    }
    assert!(
        times.windows(2).take(2).all(|w| w[0] <= w[1]),
        "times {times:?}"
    );
}

#[test]
fn log_small_keys_come_from_their_seeds_and_signing_is_reproducible() {
    let l = log_small();
    let log = seeded(
        "log.example.org/taglog",
        KeyType::Ed25519,
        "taglog vector log",
    );
    let witness = seeded(
        "witness.example",
        KeyType::Cosignature,
        "taglog vector witness",
    );
    assert_eq!(log.verifier(), l.log);
    assert_eq!(witness.verifier(), l.witness);
    let publisher = seeded(
        "publisher.example",
        KeyType::Ed25519,
        "taglog vector publisher",
    );
    assert_eq!(
        publisher.verifier().to_string(),
        "publisher.example+3b942ccf+ASG/kR3s9AYKwXkOcXRtgCuiZg/Se/OAnpXon/HsY3Ee"
    );

    for n in &l.sizes {
        let bytes = std::fs::read(l.dir.join(format!("checkpoints/{n}"))).unwrap();
        let sc = SignedCheckpoint::open(&bytes, &l.log).unwrap();
        let note = sc.note();
        // The log signature is deterministic: re-signing the parsed checkpoint gives line 1.
        let resigned = sign_checkpoint(sc.checkpoint(), &log).unwrap();
        let resigned = Note::parse(&resigned).unwrap();
        assert_eq!(resigned.signatures()[0], note.signatures()[0]);
        // Re-cosigning at the recorded time reproduces the witness line byte for byte.
        let wline = &note.signatures()[1];
        let time = verify_cosignature(wline, note.text(), &l.witness).unwrap();
        assert_eq!(&cosign(sc.checkpoint(), time, &witness).unwrap(), wline);
        // And the whole note is text + both lines.
        let rebuilt = Note::new(
            note.text().to_owned(),
            vec![resigned.signatures()[0].clone(), wline.clone()],
        )
        .unwrap();
        assert_eq!(rebuilt.to_bytes(), bytes);
    }
}

#[test]
fn checkpoints_sign_and_open_round_trip() {
    let log = seeded(
        "log.example.org/taglog",
        KeyType::Ed25519,
        "taglog vector log",
    );
    let witness = seeded(
        "witness.example",
        KeyType::Cosignature,
        "taglog vector witness",
    );
    for size in [0u64, 1, 12, (1 << 63) - 1] {
        let root = if size == 0 {
            sha256(b"")
        } else {
            Hash([size as u8; 32])
        };
        let cp = Checkpoint::new("log.example.org/taglog", size, root).unwrap();
        let bytes = sign_checkpoint(&cp, &log).unwrap();
        let sc = SignedCheckpoint::open(&bytes, &log.verifier()).unwrap();
        assert_eq!(sc.checkpoint(), &cp);
        let cosig = cosign(&cp, 1_700_000_000, &witness).unwrap();
        let cosigned = sc.with_signatures(std::slice::from_ref(&cosig)).unwrap();
        let reopened = SignedCheckpoint::open(&cosigned.to_bytes(), &log.verifier()).unwrap();
        let got = reopened.cosignatures(&[witness.verifier()]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].time, 1_700_000_000);
        // Adding the same line again changes nothing.
        assert_eq!(reopened.with_signatures(&[cosig]).unwrap(), reopened);
    }
}
