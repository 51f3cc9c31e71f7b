//! The log's clock: a forward jump of the wall clock while the log runs is capped and
//! alerted instead of persisting in every later state leaf (issue 12, finding 6); log time
//! never decreases.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod inproc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use inproc::*;
use taglog_server::config::WallClock;
use taglog_server::log::allowlist::Allowlist;
use taglog_server::log::Log;
use taglog_server::metrics::Metrics;
use taglog_server::store::MemoryStore;

const T0: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

fn capped_total(metrics: &Metrics) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("taglog_clock_capped_total "))
        .expect("no taglog_clock_capped_total")
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forward_jump_is_capped_and_alerted_and_time_never_goes_back() {
    let wall = Arc::new(AtomicU64::new(T0));
    let mut config = config();
    let w = Arc::clone(&wall);
    config.clock = WallClock::new(move || w.load(Ordering::SeqCst));
    let store = Arc::new(MemoryStore::new());
    let metrics = Arc::new(Metrics::default());
    let running = Log::start(config, store.clone(), Arc::clone(&metrics)).unwrap();
    let log = Arc::clone(running.log());
    let list = Allowlist::parse(
        &format!("publisher {PREFIX} {}\n", publisher().verifier()),
        ORIGIN,
    )
    .unwrap();
    log.apply_allowlist(list).await.unwrap();
    let time = || log.heads().committed().unwrap().time;
    submit(&log, submission("app:1", 1, 1)).await.unwrap();
    assert_eq!(time(), T0);
    assert_eq!(capped_total(&metrics), 0);

    // The wall clock jumps a day ahead: the next state leaf does not follow it.
    wall.store(T0 + DAY, Ordering::SeqCst);
    submit(&log, submission("app:1", 2, 2)).await.unwrap();
    let capped = time();
    assert!(capped >= T0, "log time went back: {capped}");
    assert!(
        capped < T0 + 3600,
        "a one-day jump reached the state leaf: {capped}"
    );
    assert_eq!(capped_total(&metrics), 1, "the jump was not alerted");

    // The clock is corrected: log time neither goes back nor stays stuck a day ahead.
    wall.store(T0 + 5, Ordering::SeqCst);
    submit(&log, submission("app:1", 3, 3)).await.unwrap();
    let after = time();
    assert!(after >= capped, "log time went back: {after} < {capped}");
    assert!(after < T0 + 3600, "log time stuck ahead: {after}");
    running.stop().await.unwrap();
    assert!(check_log(store.as_ref()) > 0);
}
