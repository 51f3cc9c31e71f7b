//! `taglog-monitor` following a log through its static objects (issue 15): a real
//! `taglog-server` publishes to a directory (`--publish file:///dir`), a plain HTTP file server
//! serves it, and the monitor's `--log` is that server (the bucket has the same `checkpoint`
//! and `tile/...` paths as the log), with the server stopped. An honest bucket gives no alert;
//! a bucket whose checkpoint or entry bundle was altered gives the alert that names it. (The
//! monitor rebuilds the tree from entry bundles and the map from the bindings: it reads no hash
//! tile or map object, which clients check against the checkpoint instead.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_testkit::http::get as http_get;
use taglog_testkit::log_server::{submit_all, LogServer, PREFIX};
use taglog_testkit::monitor::MonitorCli;
use taglog_testkit::static_objects::wait_for_dir;
use taglog_testkit::static_server::{read_dir_files, Files, StaticServer};
use taglog_testkit::tempdir;

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
