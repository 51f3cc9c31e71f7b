//! `taglog-monitor` following a log through its static objects (issue 15): a real
//! `taglog-server` publishes to a directory (`--publish file:///dir`), a plain HTTP file server
//! serves it, and the monitor's `--log` is that server (the bucket has the same `checkpoint`
//! and `tile/...` paths as the log), with the server stopped. An honest bucket gives no alert;
//! a bucket whose checkpoint or entry bundle was altered gives the alert that names it. (The
//! monitor rebuilds the tree from entry bundles and the map from the bindings: it reads no hash
//! tile or map object, which clients check against the checkpoint instead.)
//!
//! `taglog-witness --audit` audits from the bucket too: as the log's only witness (quorum 1),
//! with the bucket's file server as its `--log-url`, it reads the entries of each checkpoint
//! it is asked to cosign from the bucket (the server uploads the entry bundles of each durable
//! commit before the checkpoint is cosigned), every binding is acknowledged with its
//! cosignature, and its C2SP tlog-witness monitoring endpoint
//! (`GET /<hex sha256(origin)>/checkpoint`) serves the cosigned checkpoint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::witness::origin_hash_hex;
use taglog_testkit::http::get as http_get;
use taglog_testkit::keys;
use taglog_testkit::log_server::{submit_all, LogServer, ORIGIN, PREFIX};
use taglog_testkit::monitor::MonitorCli;
use taglog_testkit::static_objects::{check_complete, dir_fetch, wait_for_dir};
use taglog_testkit::static_server::{read_dir_files, Files, StaticServer};
use taglog_testkit::tempdir;
use taglog_testkit::witness::Witness;

/// `files` with one byte of `path` changed: for the checkpoint, the first character of its
/// root hash line (still a well-formed note); for any other object, its last byte.
fn tamper(files: &Files, path: &str) -> Files {
    let mut out = files.clone();
    let f = out
        .get_mut(path)
        .unwrap_or_else(|| panic!("no {path} in the bucket"));
    let at = if path == "checkpoint" {
        let lines: Vec<usize> = (0..f.len()).filter(|&i| f[i] == b'\n').collect();
        lines[1] + 1
    } else {
        f.len() - 1
    };
    f[at] = if f[at] == b'A' { b'B' } else { b'A' };
    out
}

#[test]
fn the_monitor_follows_the_bucket_and_alerts_on_altered_objects() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let server = LogServer::start(
        dir.path(),
        &["--publish", &format!("file://{}", bucket.display())],
    );
    let key = server.log_key();
    let vkey = server.vkey();
    // Past one full tile, with rebinds.
    let mut items: Vec<_> = (0..290u64)
        .map(|i| {
            (
                format!("{PREFIX}/mon{}:v{i}", i % 6),
                1,
                (i % 250) as u8 + 1,
            )
        })
        .collect();
    items.extend((0..10u64).map(|i| (format!("{PREFIX}/mon{}:v{i}", i % 6), 2, 0xf0)));
    submit_all(&server.url, items[..290].to_vec(), 6);
    submit_all(&server.url, items[290..].to_vec(), 2);
    let note = http_get(&format!("{}/checkpoint", server.url)).body;
    let size = SignedCheckpoint::open(&note, &key)
        .unwrap()
        .checkpoint()
        .size();
    wait_for_dir(&bucket, &key, size, Duration::from_secs(60));
    let files = read_dir_files(&bucket);
    // The server is not needed: the monitor reads only the bucket.
    server.kill();
    let bucket_server = StaticServer::with_files(files.clone());

    let run = MonitorCli::new(&bucket_server.url, &vkey).once(&[]);
    assert_eq!((run.code, run.alerts.len()), (0, 0), "{run:#?}");

    for (path, kind) in [
        ("checkpoint", "bad-signature"),
        ("tile/entries/000", "tile-mismatch"),
    ] {
        bucket_server.set_all(tamper(&files, path));
        let run = MonitorCli::new(&bucket_server.url, &vkey).once(&[]);
        let _alert = run.alerted(kind);
    }
}

#[test]
fn a_witness_audits_from_the_bucket_and_serves_what_it_cosigned() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let files = StaticServer::over_dir(&bucket);
    let log_key = keys::ed25519(ORIGIN, 43);
    let key = log_key.verifier();
    let witness = Witness::start_with(
        44,
        "witness.example/bucket-auditor",
        &key.to_string(),
        &[
            "--audit".to_owned(),
            "--log-url".to_owned(),
            format!("{ORIGIN}={}", files.url),
        ],
    );
    let server = LogServer::in_dir(dir.path())
        .key(&log_key)
        .witness(&witness.vkey(), &witness.url)
        .args(&[
            "--witness-quorum",
            "1",
            "--publish",
            &format!("file://{}", bucket.display()),
        ])
        .commit_timeout("10s")
        .start();

    // Past one full entry bundle, with rebinds: each 200 is a checkpoint the witness cosigned
    // after replaying its entries from the bucket (submit_all asserts 200).
    let mut items: Vec<_> = (0..280u64)
        .map(|i| {
            (
                format!("{PREFIX}/aud{}:v{i}", i % 5),
                1,
                (i % 250) as u8 + 1,
            )
        })
        .collect();
    items.extend((0..5u64).map(|i| (format!("{PREFIX}/aud{i}:v{i}"), 2, 0xf1)));
    submit_all(&server.url, items[..280].to_vec(), 4);
    submit_all(&server.url, items[280..].to_vec(), 1);

    let wkeys = [witness.verifier()];
    let served = http_get(&format!("{}/checkpoint", server.url)).body;
    let served = SignedCheckpoint::open(&served, &key).unwrap();
    assert_eq!(served.cosignatures(&wkeys).unwrap().len(), 1);
    let size = served.checkpoint().size();
    assert!(size > 285, "size {size}");

    // The witness's monitoring endpoint serves the newest checkpoint it cosigned.
    let r = http_get(&format!(
        "{}/{}/checkpoint",
        witness.url,
        origin_hash_hex(ORIGIN)
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let at_witness = SignedCheckpoint::open(&r.body, &key).unwrap();
    assert!(at_witness.checkpoint().size() >= size);
    assert_eq!(at_witness.cosignatures(&wkeys).unwrap().len(), 1);

    // The bucket ends with that checkpoint, cosigned, and everything it needs.
    wait_for_dir(&bucket, &key, size, Duration::from_secs(60));
    let complete = check_complete(dir_fetch(&bucket), &key).unwrap();
    assert!(complete.size >= size, "{complete:?}");
    let in_bucket = std::fs::read(bucket.join("checkpoint")).unwrap();
    let in_bucket = SignedCheckpoint::open(&in_bucket, &key).unwrap();
    assert_eq!(in_bucket.cosignatures(&wkeys).unwrap().len(), 1);
}
