//! Full lookup-bundle verification (DESIGN §4 steps 3–8): parse the `bound` bundle of the
//! `log-small` vectors and verify it under its policy (log key, one witness in quorum, two
//! publishers), as a fresh client with no cached checkpoint. The bound, measured in the same
//! run, is one raw Ed25519 `verify_strict` (DESIGN rev 2: no batch verification); the bundle
//! needs three (log signature, witness cosignature, publisher signature on the binding).
//!
//! Run: `cargo bench -p taglog-proofs --bench bundle` (smoke: `-- --test`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use taglog_proofs::bundle::Bundle;
use taglog_proofs::hash::sha256;
use taglog_proofs::note::{ed25519_verify_strict, KeyType, Note, SignerKey};
use taglog_proofs::policy::Policy;
use taglog_proofs::verify::{verify, VerdictKind, VerifyRequest};

fn read(p: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/taglog/log-small");
    std::fs::read(dir.join(p)).unwrap()
}

/// The policy for log-small, built from `keys.json` as `tests/verify_vectors.rs` does.
fn policy_text() -> String {
    let v: serde_json::Value = serde_json::from_slice(&read("keys.json")).unwrap();
    let s = |x: &serde_json::Value| x.as_str().unwrap().to_string();
    format!(
        "# log-small\nlog {}\nwitness w {}\nquorum w\npublisher registry.example/acme {}\npublisher registry.example/beta {}\n",
        s(&v["log"]),
        s(&v["witness"]),
        s(&v["publishers"][0]),
        s(&v["publishers"][1])
    )
}

/// The witness's cosignature time in the newest checkpoint (the bundle is fresh 60 s later).
fn cosig_time() -> u64 {
    let note = Note::parse(&read("checkpoint")).unwrap();
    let sig = note
        .signatures()
        .iter()
        .find(|s| s.name().as_str() == "witness.example")
        .unwrap();
    u64::from_be_bytes(sig.sig()[..8].try_into().unwrap())
}

fn bench_bundle(c: &mut Criterion) {
    let bytes = read("lookup/bound.json");
    let policy_src = policy_text();
    let policy = Policy::parse(policy_src.as_bytes()).unwrap();
    let now = cosig_time() + 60;

    let parse_verify = |policy: &Policy, bytes: &[u8]| {
        let bundle = Bundle::parse(bytes).unwrap();
        let verdict = verify(&VerifyRequest::stateless(
            policy,
            &bundle,
            &bundle.reference,
            None,
            now,
        ))
        .unwrap();
        assert_eq!(verdict.kind, VerdictKind::Current);
        verdict
    };
    // Checked once outside the timing: the bundle verifies as Current.
    parse_verify(&policy, &bytes);

    c.bench_function("bundle_parse_verify", |b| {
        b.iter(|| parse_verify(&policy, black_box(&bytes)))
    });
    c.bench_function("bundle_policy_parse_verify", |b| {
        b.iter(|| {
            let policy = Policy::parse(black_box(policy_src.as_bytes())).unwrap();
            parse_verify(&policy, black_box(&bytes))
        })
    });

    // The bound, in the same run: one raw verify_strict over a checkpoint-sized message.
    let key = SignerKey::from_seed(
        "log.example.org/taglog".parse().unwrap(),
        KeyType::Ed25519,
        sha256(b"taglog bundle bench").0,
    );
    let v = key.verifier();
    let msg = [0x61u8; 96];
    let sig = key.sign(&msg);
    c.bench_function("bundle_bound_ed25519_verify_strict", |b| {
        b.iter(|| {
            assert!(ed25519_verify_strict(
                v.public_key(),
                black_box(&msg),
                black_box(&sig)
            ))
        })
    });
}

criterion_group!(benches, bench_bundle);
criterion_main!(benches);
