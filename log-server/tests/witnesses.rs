//! Witnessing with two real `taglog-witness` processes: the served checkpoint carries both
//! cosignatures; after a server restart the witnesses still accept its checkpoints; a second
//! server with the same key and another tree is refused by the witnesses and stops
//! sequencing (fork-risk) while still serving reads.
//!
//! Needs the `taglog-witness` binary (`cargo test --workspace` builds it; a missing one fails
//! the test with how to build it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::time::Duration;

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_testkit::bindings::binding;
use taglog_testkit::http::client;
use taglog_testkit::keys::{self, publisher};
use taglog_testkit::log_server::{add_binding, checkpoint, get, LogServer, ORIGIN};
use taglog_testkit::tempdir;
use taglog_testkit::witness::Witness;

fn write_log_key(data: &Path) -> SignerKey {
    std::fs::create_dir_all(data).unwrap();
    let key = keys::ed25519(ORIGIN, 3);
    keys::write_key(&data.join("log.key"), &key);
    key
}

fn cosigners(note: &[u8], log: &VerifierKey, ws: &[&Witness]) -> usize {
    let keys: Vec<VerifierKey> = ws.iter().map(|w| w.verifier()).collect();
    SignedCheckpoint::open(note, log)
        .unwrap()
        .cosignatures(&keys)
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_witnesses_restart_and_fork() {
    let dir = tempdir();
    let log = write_log_key(&dir.path().join("data")).verifier();
    let w1 = Witness::start(31, "witness.example/w1", &log.to_string());
    let w2 = Witness::start(32, "witness.example/w2", &log.to_string());
    let args: Vec<String> = vec![
        "--witness".into(),
        w1.vkey(),
        w1.url.clone(),
        "--witness".into(),
        w2.vkey(),
        w2.url.clone(),
        "--witness-quorum".into(),
        "2".into(),
    ];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = LogServer::start(dir.path(), &argv);
    let c = client();
    let r = "registry.example/acme/witnessed:1";
    let (s, b) = add_binding(&c, &server.url, binding(&publisher(), r, 1, 1)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        cosigners(
            b["checkpoint"].as_str().unwrap().as_bytes(),
            &log,
            &[&w1, &w2]
        ),
        2
    );
    let note = checkpoint(&c, &server.url).await;
    assert_eq!(
        cosigners(&note, &log, &[&w1, &w2]),
        2,
        "served checkpoint lacks a cosignature"
    );

    // Restart: the witnesses still accept the server's checkpoints.
    let path = server.dir.clone();
    assert_eq!(server.terminate(), Some(0));
    let server = LogServer::start(&path, &argv);
    let (s, b) = add_binding(&c, &server.url, binding(&publisher(), r, 2, 2)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        cosigners(
            b["checkpoint"].as_str().unwrap().as_bytes(),
            &log,
            &[&w1, &w2]
        ),
        2
    );
    let size_before = SignedCheckpoint::open(&checkpoint(&c, &server.url).await, &log)
        .unwrap()
        .checkpoint()
        .size();
    drop(server);

    // A second server with the same key and another (shorter) tree: fork risk.
    let fork = tempdir();
    write_log_key(&fork.path().join("data"));
    let forked = LogServer::start(fork.path(), &argv);
    let mut halted = false;
    for _ in 0..100 {
        let (s, b) = get(&c, &forked.url, "/healthz").await;
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
        if s == 503 && v["error"] == "halted" {
            halted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(halted, "the forked server did not stop sequencing");
    let (s, b) = add_binding(&c, &forked.url, binding(&publisher(), r, 1, 9)).await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(
        get(&c, &forked.url, "/checkpoint").await.0,
        503,
        "no witness may cosign the fork"
    );
    let (s, _) = get(&c, &forked.url, "/tile/entries/000.p/1").await;
    assert_eq!(s, 200, "reads go on while halted");
    assert!(size_before > 2);
}
