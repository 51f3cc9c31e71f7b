//! Tag map benchmarks (DESIGN §3.6 probe): updates/s at 10⁶ random keys in batches of 1,000,
//! proof generation, proof verification, and the average proof size.
//!
//! `TAGLOG_MAP_BENCH_KEYS` sets the map size (default 1,000,000). Proof size is reported as
//! `MapProof::binary_len`: 2 bytes of depth + bitmap + 32 bytes per sibling + terminal
//! (1 tag byte + key 32 + value 48, or key 32 + value hash 32, or nothing for "empty"), and
//! as JSON length.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use taglog_proofs::hash::{sha256, Hash};
use taglog_proofs::map::{MapValue, SparseMap};

const BATCH: u64 = 1_000;

fn key(i: u64) -> Hash {
    sha256(&i.to_be_bytes())
}

fn batch(start: u64) -> Vec<(Hash, MapValue)> {
    (start..start + BATCH)
        .map(|i| {
            let value = MapValue {
                index: i,
                version: 1,
                leaf_hash: sha256(&[&i.to_le_bytes()[..], b"leaf"].concat()),
            };
            (key(i), value)
        })
        .collect()
}

fn keys_from_env() -> u64 {
    std::env::var("TAGLOG_MAP_BENCH_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

fn build(n: u64) -> SparseMap {
    let mut map = SparseMap::new();
    let batches: Vec<_> = (0..n.div_ceil(BATCH)).map(|b| batch(b * BATCH)).collect();
    let (t, cpu) = (Instant::now(), thread_cpu_secs());
    for b in &batches {
        map.insert_batch(b).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    print!(
        "map: loaded {} keys in {secs:.2} s wall ({:.0} updates/s from empty, batches of {BATCH}",
        map.len(),
        map.len() as f64 / secs,
    );
    if let (Some(a), Some(b)) = (cpu, thread_cpu_secs()) {
        print!(
            "; {:.0} updates/s of thread CPU time",
            map.len() as f64 / (b - a)
        );
    }
    println!("), {} node groups", map.group_count());
    // The last tenth of the load, timed alone: updates/s near the full size.
    let extra = (n / 10).div_ceil(BATCH).max(1);
    let start = n.div_ceil(BATCH) * BATCH + (1 << 40);
    let batches: Vec<_> = (0..extra).map(|b| batch(start + b * BATCH)).collect();
    let (t, cpu) = (Instant::now(), thread_cpu_secs());
    for b in &batches {
        map.insert_batch(b).unwrap();
    }
    let (secs, k) = (t.elapsed().as_secs_f64(), (extra * BATCH) as f64);
    print!(
        "map: {k} more new keys at {n}: {:.0} updates/s wall",
        k / secs
    );
    if let (Some(a), Some(b)) = (cpu, thread_cpu_secs()) {
        print!(", {:.0} updates/s of thread CPU time", k / (b - a));
    }
    println!();
    map
}

/// CPU time of this thread (Linux `schedstat`), so that figures survive a loaded machine.
fn thread_cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

fn report_sizes(map: &SparseMap, n: u64) {
    let samples = 10_000u64;
    for (label, offset) in [("present", 0u64), ("absent", u64::MAX / 2)] {
        let (mut bin, mut json, mut depth, mut path) = (0usize, 0usize, 0usize, 0usize);
        for i in 0..samples {
            let k = key(offset.wrapping_add(i * (n / samples).max(1)));
            let p = map.prove(&k).unwrap();
            bin += p.binary_len();
            json += p.to_json().len();
            depth += usize::from(p.depth);
            path += p.bitmap.len() + 32 * p.siblings.len();
        }
        let s = samples as f64;
        println!(
            "map: {label} proofs at {n} keys, averages: {:.0} B binary (depth + bitmap + siblings + terminal), {:.0} B of bitmap + siblings, {:.0} B JSON, depth {:.1}",
            bin as f64 / s,
            path as f64 / s,
            json as f64 / s,
            depth as f64 / s
        );
    }
}

/// Proof generation and verification per call, in thread CPU time.
fn report_times(map: &SparseMap, n: u64) {
    let samples = 10_000u64;
    let keys: Vec<Hash> = (0..samples)
        .map(|i| key(i * (n / samples).max(1)))
        .collect();
    let cpu = thread_cpu_secs();
    let proofs: Vec<_> = keys.iter().map(|k| map.prove(k).unwrap()).collect();
    let mid = thread_cpu_secs();
    let root = map.root();
    for (k, p) in keys.iter().zip(&proofs) {
        p.verify(k, &root).unwrap();
    }
    if let (Some(a), Some(b), Some(c)) = (cpu, mid, thread_cpu_secs()) {
        let s = samples as f64;
        println!(
            "map: thread CPU per call at {n} keys: prove {:.1} µs, verify {:.1} µs",
            (b - a) * 1e6 / s,
            (c - b) * 1e6 / s
        );
    }
}

fn bench_map(c: &mut Criterion) {
    let n = keys_from_env();
    let mut map = build(n);
    report_sizes(&map, n);
    report_times(&map, n);

    let mut group = c.benchmark_group("map");
    group.throughput(Throughput::Elements(BATCH));
    let mut next = n.div_ceil(BATCH) * BATCH;
    group.bench_function(format!("update_batch_{BATCH}_at_{n}"), |b| {
        b.iter_batched(
            || {
                let bt = batch(next);
                next += BATCH;
                bt
            },
            |bt| map.insert_batch(&bt).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("prove_present", |b| {
        b.iter(|| {
            i = (i + 7919) % n;
            map.prove(&key(i)).unwrap()
        })
    });
    let root = map.root();
    let k = key(n / 3);
    let proof = map.prove(&k).unwrap();
    group.bench_function("verify_present", |b| {
        b.iter(|| proof.verify(&k, &root).unwrap())
    });
    let absent = key(u64::MAX - 1);
    let absent_proof = map.prove(&absent).unwrap();
    group.bench_function("verify_absent", |b| {
        b.iter(|| absent_proof.verify(&absent, &root).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_map
}
criterion_main!(benches);
