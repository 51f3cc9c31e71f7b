//! Signed-note costs: checkpoint signing, opening (parse + verify_strict), cosignature
//! verification, and the bound every one of them sits on: one raw Ed25519 `verify_strict`.
//!
//! Run: `cargo bench -p taglog-proofs --bench notes` (smoke: `-- --test`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, SignedCheckpoint};
use taglog_proofs::cosignature::{cosign, verify_cosignature};
use taglog_proofs::hash::sha256;
use taglog_proofs::note::{ed25519_verify_strict, KeyType, SignerKey};

fn keys() -> (SignerKey, SignerKey) {
    let log = SignerKey::from_seed(
        "log.example.org/taglog".parse().unwrap(),
        KeyType::Ed25519,
        sha256(b"taglog vector log").0,
    );
    let witness = SignerKey::from_seed(
        "witness.example".parse().unwrap(),
        KeyType::Cosignature,
        sha256(b"taglog vector witness").0,
    );
    (log, witness)
}

fn bench_notes(c: &mut Criterion) {
    let (log, witness) = keys();
    let log_v = log.verifier();
    let witness_v = witness.verifier();
    let cp = Checkpoint::new("log.example.org/taglog", 20_852_163, sha256(b"root")).unwrap();
    let signed = sign_checkpoint(&cp, &log).unwrap();
    let cosig = cosign(&cp, 1_764_000_071, &witness).unwrap();
    let opened = SignedCheckpoint::open(&signed, &log_v).unwrap();
    let cosigned = opened
        .with_signatures(std::slice::from_ref(&cosig))
        .unwrap()
        .to_bytes();
    let text = cp.to_text();

    c.bench_function("checkpoint_sign", |b| {
        b.iter(|| sign_checkpoint(black_box(&cp), &log).unwrap())
    });
    c.bench_function("checkpoint_open_verify", |b| {
        b.iter(|| SignedCheckpoint::open(black_box(&signed), &log_v).unwrap())
    });
    c.bench_function("checkpoint_open_verify_with_cosignature", |b| {
        b.iter(|| {
            let sc = SignedCheckpoint::open(black_box(&cosigned), &log_v).unwrap();
            sc.cosignatures(std::slice::from_ref(&witness_v)).unwrap()
        })
    });
    c.bench_function("cosignature_verify", |b| {
        b.iter(|| verify_cosignature(black_box(&cosig), black_box(&text), &witness_v).unwrap())
    });

    // The bound: one raw verify_strict over a message of about a checkpoint's size.
    let msg = [0x61u8; 96];
    let sig = log.sign(&msg);
    c.bench_function("ed25519_verify_strict_96B", |b| {
        b.iter(|| {
            assert!(ed25519_verify_strict(
                log_v.public_key(),
                black_box(&msg),
                black_box(&sig)
            ))
        })
    });
}

criterion_group!(benches, bench_notes);
criterion_main!(benches);
