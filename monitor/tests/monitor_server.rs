//! End to end against the real `taglog-server` binary: an honest log written through
//! `/add-binding` yields no alert, across several polls, and a watch list sees exactly the
//! bindings under its prefix. A missing server binary fails the test with how to build it
//! (`cargo test --workspace` builds it first).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_monitor::alerts::AlertKind;
use taglog_monitor::{Config, Monitor};
use taglog_proofs::note::SignerKey;
use taglog_testkit::bindings::{self, digest};
use taglog_testkit::keys;
use taglog_testkit::log_server::{add_binding_blocking, LogServer, Ready};

const ORIGIN: &str = "e2e.test/taglog";

fn publish(url: &str, publisher: &SignerKey, refs: &[String], version: u64, salt: u64) {
    for (i, r) in refs.iter().enumerate() {
        let digest = digest(salt + i as u64);
        let body = bindings::sign(publisher, ORIGIN, r, digest, version, taglog_testkit::now());
        let resp = add_binding_blocking(url, body);
        assert!(
            (200..300).contains(&resp.status),
            "{}: {:?}",
            r,
            resp.text()
        );
    }
}

#[test]
fn honest_server_log_yields_no_alert_and_watch_list_sees_its_bindings() {
    let dir = taglog_testkit::tempdir();
    let log_key = keys::ed25519(ORIGIN, 31);
    let publisher = keys::ed25519("publisher.e2e", 32);
    let server = LogServer::in_dir(dir.path())
        .key(&log_key)
        .publisher("registry.test/acme", &publisher.verifier())
        .ready(Ready::Checkpoint)
        .start();
    // TAGLOG_E2E_BINDINGS=100000 runs the "honest log of 100,000 entries" by hand.
    let n: usize = std::env::var("TAGLOG_E2E_BINDINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let refs: Vec<String> = (0..n)
        .map(|i| format!("registry.test/acme/app{}:v{}", i % 7, i))
        .collect();
    // Publish from 8 threads so the server batches them.
    std::thread::scope(|s| {
        for part in refs.chunks(n.div_ceil(8).max(1)) {
            let (url, publisher) = (&server.url, &publisher);
            s.spawn(move || publish(url, publisher, part, 1, 0));
        }
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = Config::new(&server.url, log_key.verifier(), dir.path().join("mon"));
    c.chunk = 4096;
    let mut m = Monitor::open(c.clone()).unwrap();
    let alerts = rt.block_on(m.run_once()).unwrap();
    assert!(alerts.is_empty(), "{alerts:#?}");
    let first = m.state().replayed;
    assert!(first > n as u64, "bindings plus publisher and state leaves");
    drop(m);

    // Rebind some, poll again (consistency with the first verified checkpoint).
    publish(&server.url, &publisher, &refs[..10], 2, 1000);
    let mut m = Monitor::open(c.clone()).unwrap();
    let alerts = rt.block_on(m.run_once()).unwrap();
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert!(m.state().replayed > first + 10);

    // A watch list on one repository sees exactly its bindings.
    let mut w = c;
    w.state_dir = dir.path().join("watch");
    w.watch
        .prefixes
        .push("registry.test/acme/app3".parse().unwrap());
    let mut m = Monitor::open(w).unwrap();
    let alerts = rt.block_on(m.run_once()).unwrap();
    let expected = refs.iter().filter(|r| r.contains("/app3:")).count()
        + refs[..10].iter().filter(|r| r.contains("/app3:")).count();
    assert_eq!(alerts.len(), expected);
    assert!(alerts.iter().all(|a| a.kind == AlertKind::WatchedBinding));
}
