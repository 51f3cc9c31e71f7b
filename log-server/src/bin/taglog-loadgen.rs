//! `taglog-loadgen`: a load generator for `taglog-server`.
//!
//! Pre-signs unique bindings (one fresh ref each, version 1) with a deterministic publisher
//! key, then N concurrent HTTP clients submit them (optionally paced to a target rate) and it
//! prints durable submissions/s and p50/p99 submit→answer latency. `--lookups` instead
//! measures `/lookup` requests/s on refs it submitted. `--versions-of REF` instead submits
//! versions 1..=count of one ref, in order on one client (a long tag history, e.g. for the
//! explorer's benchmark). Run `taglog-loadgen allowlist` to print the `publisher` line the
//! server needs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use rand_core::{OsRng, RngCore as _};
use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::note::{KeyType, SignerKey};

const PREFIX: &str = "loadgen.example/bench";

#[derive(Parser, Debug)]
#[command(about = "Load generator for taglog-server")]
struct Args {
    /// `allowlist` prints the publisher line for the server's --publishers file.
    command: Option<String>,
    /// Server URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The log's origin (the `log` line of every binding).
    #[arg(long, default_value = "localhost/taglog")]
    origin: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Bindings to submit.
    #[arg(long, default_value_t = 20000)]
    count: usize,
    /// Target submissions/s over all clients (0 = as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// After submitting, run this many /lookup requests and report requests/s.
    #[arg(long, default_value_t = 0)]
    lookups: usize,
    /// Submit versions 1..=count of this one ref (under `loadgen.example/bench`), in order on
    /// one client, instead of one fresh ref each.
    #[arg(long, value_name = "REF")]
    versions_of: Option<String>,
}

fn key() -> SignerKey {
    let name = "loadgen.example/publisher"
        .parse()
        .unwrap_or_else(|_| std::process::exit(2));
    SignerKey::from_seed(name, KeyType::Ed25519, [42u8; 32])
}

/// Versions 1..=count of `r`, each binding another digest than the one before.
fn presign_versions(args: &Args, r: &str) -> Vec<(String, Vec<u8>)> {
    let key = key();
    let Ok(reference) = r.parse::<taglog_proofs::refs::TagRef>() else {
        eprintln!("--versions-of: {r:?} is not a canonical tag reference");
        std::process::exit(2)
    };
    (1..=args.count as u64)
        .filter_map(|v| {
            let b = Binding {
                log: args.origin.clone(),
                reference: reference.clone(),
                digest: DigestValue::Sha256([(v % 251) as u8; 32]),
                version: v,
                time: 1_764_000_000 + v,
            };
            Some((r.to_owned(), sign_binding(&b, &key).ok()?))
        })
        .collect()
}

fn presign(args: &Args) -> Vec<(String, Vec<u8>)> {
    if let Some(r) = &args.versions_of {
        return presign_versions(args, r);
    }
    let run = OsRng.next_u32();
    let key = key();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let chunk = args.count.div_ceil(threads).max(1);
    let indexes: Vec<usize> = (0..args.count).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = indexes
            .chunks(chunk)
            .map(|part| {
                let key = &key;
                s.spawn(move || {
                    part.iter()
                        .filter_map(|i| {
                            let r = format!("{PREFIX}/r{run:08x}:t{i}");
                            let b = Binding {
                                log: args.origin.clone(),
                                reference: r.parse().ok()?,
                                digest: DigestValue::Sha256([(*i % 251) as u8; 32]),
                                version: 1,
                                time: 1_764_000_000,
                            };
                            Some((r, sign_binding(&b, key).ok()?))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    ok: usize,
    accepted: usize,
    failed: usize,
}

async fn submit_all(args: &Args, items: Arc<Vec<(String, Vec<u8>)>>) -> (Tally, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()
        .unwrap_or_default();
    let next = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let interval =
        (args.rate > 0).then(|| Duration::from_secs_f64(args.clients as f64 / args.rate as f64));
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, next, tally, items, url) = (
            client.clone(),
            Arc::clone(&next),
            Arc::clone(&tally),
            Arc::clone(&items),
            args.url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tick = interval.map(tokio::time::interval);
            while let Some((_, body)) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                if let Some(t) = tick.as_mut() {
                    t.tick().await;
                }
                let t0 = Instant::now();
                let res = client
                    .post(format!("{url}/add-binding"))
                    .header("content-type", "text/plain")
                    .body(body.clone())
                    .send()
                    .await;
                let status = match res {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(_) => 0,
                };
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                t.latencies.push(t0.elapsed());
                match status {
                    200 => t.ok += 1,
                    202 => t.accepted += 1,
                    _ => t.failed += 1,
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed();
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|e| e.into_inner()));
    (tally, elapsed)
}

async fn lookups(args: &Args, items: Arc<Vec<(String, Vec<u8>)>>) {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, next, items, url, total) = (
            client.clone(),
            Arc::clone(&next),
            Arc::clone(&items),
            args.url.clone(),
            args.lookups,
        );
        tasks.push(tokio::spawn(async move {
            let mut ok = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || items.is_empty() {
                    return ok;
                }
                let Some((r, _)) = items.get(i % items.len()) else {
                    return ok;
                };
                if let Ok(resp) = client.get(format!("{url}/lookup?ref={r}")).send().await {
                    ok += usize::from(resp.status().is_success());
                    let _ = resp.bytes().await;
                }
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap_or(0);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "lookups: {ok}/{} ok in {secs:.2}s = {:.0} lookups/s",
        args.lookups,
        ok as f64 / secs
    );
}

fn main() {
    let mut args = Args::parse();
    if args.versions_of.is_some() {
        // Versions must arrive in order.
        args.clients = 1;
    }
    if args.command.as_deref() == Some("allowlist") {
        println!("publisher {PREFIX} {}", key().verifier());
        return;
    }
    let t0 = Instant::now();
    let items = Arc::new(presign(&args));
    eprintln!(
        "pre-signed {} bindings in {:.2}s",
        items.len(),
        t0.elapsed().as_secs_f64()
    );
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        std::process::exit(1)
    };
    rt.block_on(async {
        let (mut tally, elapsed) = submit_all(&args, Arc::clone(&items)).await;
        tally.latencies.sort();
        let secs = elapsed.as_secs_f64();
        let durable = tally.ok + tally.accepted;
        println!(
            "submissions: {durable} durable ({} x 200, {} x 202), {} failed, {} clients, {secs:.2}s = {:.0} submissions/s; latency p50 {:.1} ms, p99 {:.1} ms",
            tally.ok,
            tally.accepted,
            tally.failed,
            args.clients,
            durable as f64 / secs,
            percentile(&tally.latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&tally.latencies, 0.99).as_secs_f64() * 1e3,
        );
        if args.lookups > 0 {
            lookups(&args, items).await;
        }
    });
}
