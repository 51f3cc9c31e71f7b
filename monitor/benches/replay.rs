//! Replay benchmark: entries/s of the monitor on a generated log, with the bound measured in
//! the same run (Ed25519 `verify_strict`/s on one core: every binding costs one).
//!
//! `cargo bench -p taglog-monitor --bench replay` (size: `TAGLOG_BENCH_ENTRIES`, default
//! 200000). Prints four figures: the pure replay checker (parse, signature, version rule,
//! map update and map root at each state leaf) on one core and with signatures verified on
//! all cores, the whole monitor over loopback HTTP (tiles,
//! tree rebuild, replay, state saves), and the verification bound.
//!
//! With `TAGLOG_BENCH_SERVE=<file>` it instead builds a log of `TAGLOG_BENCH_ENTRIES`
//! bindings to `TAGLOG_BENCH_REFS` distinct refs (default: one ref per binding), serves the
//! log on loopback and writes `url`, `vkey` and `size` lines (`name value`) to the file, then
//! serves until its standard input closes: `scripts/bench-monitor.sh` runs the
//! `taglog-monitor` binary against it, so the monitor's own RSS is measured apart.
//! With `TAGLOG_BENCH_BOUND` set it only measures the bound, the `verify_strict` rate on one
//! core and on every core at once (`bound_1`, `bound_all` and `cores` lines on stdout): the
//! script takes it right before each monitor run, under the same machine load.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Instant;

use taglog_monitor::replay::Replayer;
use taglog_monitor::{Config, Monitor};
use taglog_testkit::bindings::digest;
use taglog_testkit::crafted::{CraftedLog, ORIGIN};
use taglog_testkit::static_server::StaticServer;

/// Ed25519 `verify_strict`/s on `threads` threads at once (each its own loop).
fn verify_rate(log: &CraftedLog, threads: usize) -> f64 {
    let key = log.publisher.verifier();
    let msg = b"taglog/v1/binding\n";
    let sig = log.publisher.sign(msg);
    let k = 20_000u32;
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..k {
                    assert!(key.verify_raw(msg, &sig));
                }
            });
        }
    });
    f64::from(k) * threads as f64 / t.elapsed().as_secs_f64()
}

/// `TAGLOG_BENCH_SERVE`: see the module documentation.
fn serve(out: &str, n: u64) {
    let refs: u64 = std::env::var("TAGLOG_BENCH_REFS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
        .max(1);
    eprintln!("building a log of {n} bindings to {refs} refs ...");
    let t = Instant::now();
    let mut log = CraftedLog::admitting();
    let mut i = 0u64;
    while i < n {
        // A state leaf every 1,000 bindings, one signed checkpoint at the end.
        log.bind(&format!("registry.test/acme/app{}:v", i % refs), digest(i));
        if i % 1000 == 999 {
            log.state();
        }
        i += 1;
    }
    let size = log.commit();
    eprintln!("built {size} entries in {:.1} s", t.elapsed().as_secs_f64());
    let server = StaticServer::with_files(log.files(size));
    let vkey = log.vkey();
    drop(log);
    let info = format!("url {}\nvkey {vkey}\nsize {size}\n", server.url);
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, info).unwrap();
    std::fs::rename(&tmp, out).unwrap();
    // Serve until the standard input closes.
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    drop(server);
}

fn main() {
    let n: u64 = std::env::var("TAGLOG_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    if let Ok(out) = std::env::var("TAGLOG_BENCH_SERVE") {
        serve(&out, n);
        return;
    }
    if std::env::var_os("TAGLOG_BENCH_BOUND").is_some() {
        // Only the bound, as `bound_1`, `bound_all` and `cores` lines.
        let mut log = CraftedLog::admitting();
        log.bind("registry.test/acme/app:v", digest(0));
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let bound_1 = verify_rate(&log, 1);
        let bound_all = verify_rate(&log, cores);
        println!("bound_1 {bound_1:.0}\nbound_all {bound_all:.0}\ncores {cores}");
        return;
    }
    eprintln!("building a log of {n} entries ...");
    let t = Instant::now();
    let mut log = CraftedLog::admitting();
    let mut i = 0u64;
    while log.size() < n {
        // 100,000 refs, rebound as the log grows; a state leaf every 1,000 bindings.
        log.bind(
            &format!("registry.test/acme/app{}:v", i % 100_000),
            digest(i),
        );
        if i % 1000 == 999 {
            log.commit();
        }
        i += 1;
    }
    let size = log.commit();
    eprintln!("built {size} entries in {:.1} s", t.elapsed().as_secs_f64());

    // The bound: one Ed25519 verify_strict per binding.
    let key = log.publisher.verifier();
    let msg = b"taglog/v1/binding\n";
    let sig = log.publisher.sign(msg);
    let k = 20_000;
    let t = Instant::now();
    for _ in 0..k {
        assert!(key.verify_raw(msg, &sig));
    }
    let verify_rate = f64::from(k) / t.elapsed().as_secs_f64();

    // The pure checker.
    let mut r = Replayer::new(ORIGIN);
    let t = Instant::now();
    for (idx, e) in log.entries.iter().enumerate() {
        let findings = r.check(idx as u64, e).unwrap().violations;
        assert!(findings.is_empty());
    }
    let pure_rate = size as f64 / t.elapsed().as_secs_f64();

    // The same checker, signatures verified on all cores (what the monitor uses).
    let mut r = Replayer::new(ORIGIN);
    let t = Instant::now();
    for (n, part) in log.entries.chunks(65_536).enumerate() {
        for findings in r
            .check_many((n * 65_536) as u64, part)
            .unwrap()
            .into_iter()
            .map(|c| c.violations)
        {
            assert!(findings.is_empty());
        }
    }
    let many_rate = size as f64 / t.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);

    // The whole monitor over loopback HTTP.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = taglog_testkit::tempdir();
    let (rate, replayed) = rt.block_on(async {
        let server = StaticServer::with_files(log.files(size));
        let mut c = Config::new(&server.url, log.verifier(), dir.path().to_path_buf());
        c.now = Some(log.time + 10);
        let mut m = Monitor::open(c).unwrap();
        let t = Instant::now();
        let alerts = m.run_once().await.unwrap();
        assert!(alerts.is_empty());
        (size as f64 / t.elapsed().as_secs_f64(), m.state().replayed)
    });
    assert_eq!(replayed, size);
    println!("entries: {size}");
    println!("ed25519 verify_strict/s (bound, 1 core): {verify_rate:.0}");
    println!("replay checker entries/s (pure, 1 core): {pure_rate:.0}");
    println!("replay checker entries/s (pure, signatures on {cores} cores): {many_rate:.0}");
    println!("monitor entries/s (loopback HTTP, tiles, state saves): {rate:.0}");
}
