//! Merkle tree costs at 10⁶ leaves: append, inclusion and consistency proof generation and
//! verification, against the floor of one raw SHA-256 node hash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use taglog_proofs::consistency::{consistency_proof, verify_consistency};
use taglog_proofs::hash::{leaf_hash, node_hash};
use taglog_proofs::inclusion::{inclusion_proof, verify_inclusion};
use taglog_proofs::tree::MemoryTree;

const LEAVES: u64 = 1_000_000;

fn tree() -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..LEAVES {
        t.append(&i.to_be_bytes()).unwrap();
    }
    t
}

fn merkle(c: &mut Criterion) {
    let t = tree();
    let size = t.size();
    let root = t.root();
    let mut g = c.benchmark_group("merkle_1e6");
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(2));

    let (l, r) = (leaf_hash(b"l"), leaf_hash(b"r"));
    g.bench_function("sha256_node_hash", |b| {
        b.iter(|| node_hash(black_box(&l), black_box(&r)))
    });

    // Appends grow one copy of the tree past 10⁶ leaves (by the iteration count).
    let mut growing = t.clone();
    g.bench_function("append", |b| {
        b.iter(|| growing.append(black_box(b"taglog bench entry")).unwrap())
    });

    let index = size / 3 + 7;
    let leaf = t.leaf_hash(index).unwrap();
    g.bench_function("inclusion_proof", |b| {
        b.iter(|| inclusion_proof(black_box(index), size, &t).unwrap())
    });
    let proof = inclusion_proof(index, size, &t).unwrap();
    g.bench_function("verify_inclusion", |b| {
        b.iter(|| verify_inclusion(black_box(index), size, &leaf, &proof, &root).unwrap())
    });

    let old = size / 2 + 3;
    let old_root = t.root_at(old).unwrap();
    g.bench_function("consistency_proof", |b| {
        b.iter(|| consistency_proof(black_box(old), size, &t).unwrap())
    });
    let proof = consistency_proof(old, size, &t).unwrap();
    g.bench_function("verify_consistency", |b| {
        b.iter(|| verify_consistency(black_box(old), size, &old_root, &root, &proof).unwrap())
    });
    g.finish();
}

criterion_group!(benches, merkle);
criterion_main!(benches);
