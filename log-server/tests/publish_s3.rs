//! `--publish s3://bucket/prefix` against a real S3-compatible server run as its own process
//! (`s3s-fs`, see the testkit's `s3` module), with credentials and region from the standard
//! AWS environment variables and the endpoint from `--publish-endpoint`:
//! - every checkpoint's objects reach the bucket, and a checkpoint is never there before the
//!   objects it needs: each checkpoint seen in the bucket while the log runs has its whole
//!   log under it;
//! - the bucket unreachable for a while: the log keeps sequencing, `/healthz` reports the lag
//!   and the error, and once the bucket is back it catches up with nothing missing;
//! - kill -9 of the server while it uploads, then a start: the bucket catches up.
//! - tiles and the edge object deleted from the bucket by hand: the next start finds them
//!   missing and uploads them again;
//! - with `--publish-grace 0s`, the superseded partial tiles and edge objects are deleted
//!   from the bucket, and it still verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::time::{Duration, Instant};

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::note::VerifierKey;
use taglog_testkit::http::get as http_get;
use taglog_testkit::log_server::{submit_all, LogServer, PREFIX};
use taglog_testkit::s3::{S3Server, REGION};
use taglog_testkit::static_objects::{
    bundle_from, check_complete, checkpoint_size, dir_fetch, superseded_objects,
    wait_until_superseded_deleted,
};
use taglog_testkit::tempdir;

const BUCKET: &str = "taglog-objects";
const KEY_PREFIX: &str = "logs/one";
const WAIT: Duration = Duration::from_secs(90);
/// Superseded objects stay until the last part of the test, which deletes them.
const KEEP: &[&str] = &["--publish-grace", "1h"];

fn start_server(dir: &Path, s3: &S3Server, extra: &[&str]) -> LogServer {
    let mut b = LogServer::in_dir(dir)
        .commit_timeout("5s")
        .args(&["--witness-refresh", "1h"])
        .args(&[
            "--publish",
            &format!("s3://{BUCKET}/{KEY_PREFIX}"),
            "--publish-endpoint",
            &s3.endpoint(),
            "--publish-region",
            REGION,
        ])
        .args(extra);
    for (k, v) in s3.client_env() {
        b = b.env(k, &v);
    }
    b.start()
}

fn served_size(server: &LogServer) -> u64 {
    let note = http_get(&format!("{}/checkpoint", server.url)).body;
    SignedCheckpoint::open(&note, &server.log_key())
        .unwrap()
        .checkpoint()
        .size()
}

fn healthz(server: &LogServer) -> serde_json::Value {
    http_get(&format!("{}/healthz", server.url)).json()
}

fn app(i: u64) -> String {
    format!("{PREFIX}/s3app{}:v{i}", i % 5)
}

fn items(range: std::ops::Range<u64>) -> Vec<(String, u64, u8)> {
    range.map(|i| (app(i), 1, (i % 250) as u8 + 1)).collect()
}

/// Waits until the bucket's checkpoint reaches `size`; every checkpoint seen on the way must
/// have its whole log in the bucket already (checkpoint last).
fn watch_until(objects: &Path, key: &VerifierKey, size: u64) -> usize {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        if let Some(s) = checkpoint_size(dir_fetch(objects), key) {
            if seen.last() != Some(&s) {
                let complete = check_complete(dir_fetch(objects), key).unwrap_or_else(|e| {
                    panic!("checkpoint {s} is in the bucket before its objects: {e}")
                });
                assert!(complete.size >= s);
                seen.push(s);
            }
            if s >= size {
                return seen.len();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the bucket did not reach size {size} within {WAIT:?}; seen {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_unreachable_bucket_catches_up_in_order_and_kill_9_loses_nothing() {
    let mut s3 = S3Server::start(&[BUCKET]);
    let objects = s3.bucket_dir(BUCKET).join(KEY_PREFIX);
    let dir = tempdir();
    let server = start_server(dir.path(), &s3, KEEP);
    let key = server.log_key();

    // Publishing while the log grows past one full tile.
    let load = {
        let url = server.url.clone();
        std::thread::spawn(move || submit_all(&url, items(0..300), 6))
    };
    let size_now = served_size(&server);
    watch_until(&objects, &key, size_now);
    load.join().unwrap();
    let size = served_size(&server);
    watch_until(&objects, &key, size);
    assert_eq!(
        std::fs::read(objects.join("checkpoint")).unwrap(),
        http_get(&format!("{}/checkpoint", server.url)).body
    );
    let (rebuilt, _) = bundle_from(dir_fetch(&objects), &key, &app(7), None).unwrap();
    let served = http_get(&format!("{}/lookup?ref={}", server.url, app(7)));
    assert_eq!(rebuilt.to_json().as_bytes(), served.body.as_slice());

    // The bucket goes away: the log keeps sequencing, the lag shows.
    s3.stop();
    submit_all(&server.url, items(300..360), 4);
    let grown = served_size(&server);
    let deadline = Instant::now() + WAIT;
    loop {
        let h = healthz(&server);
        let lagging = h["bucket"]["lag_entries"].as_u64().unwrap_or(0) > 0;
        if lagging && !h["bucket"]["error"].is_null() {
            assert_eq!(h["bucket"]["size"], size, "{h}");
            break;
        }
        assert!(Instant::now() < deadline, "no lag reported: {h}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(checkpoint_size(dir_fetch(&objects), &key), Some(size));

    // Back: it catches up, checkpoint last, nothing missing.
    s3.resume();
    watch_until(&objects, &key, grown);
    let complete = check_complete(dir_fetch(&objects), &key).unwrap();
    assert_eq!(complete.map_keys, 360, "{complete:?}");
    let deadline = Instant::now() + WAIT;
    while healthz(&server)["bucket"]["lag_entries"] != 0
        || !healthz(&server)["bucket"]["error"].is_null()
    {
        assert!(Instant::now() < deadline, "{}", healthz(&server));
        std::thread::sleep(Duration::from_millis(50));
    }

    // kill -9 while bindings arrive and the publisher uploads; the next start catches up.
    let load = {
        let url = server.url.clone();
        std::thread::spawn(move || {
            let c = taglog_testkit::http::blocking();
            for (r, v, d) in items(360..460) {
                let body =
                    taglog_testkit::bindings::binding(&taglog_testkit::keys::publisher(), &r, v, d);
                let sent = c
                    .post(format!("{url}/add-binding"))
                    .header("content-type", "text/plain")
                    .body(body)
                    .send();
                if !sent.is_ok_and(|r| r.status().as_u16() == 200) {
                    break;
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    load.join().unwrap();
    let server = start_server(dir.path(), &s3, KEEP);
    let size = served_size(&server);
    watch_until(&objects, &key, size);
    let complete = check_complete(dir_fetch(&objects), &key).unwrap();
    assert_eq!(complete.size, size);
    assert!(complete.map_keys >= 360, "{complete:?}");

    // An entry bundle, a hash tile and the edge object deleted from the bucket by hand: the
    // next start finds them missing and uploads them again.
    assert_eq!(server.terminate(), Some(0));
    let edge = taglog_proofs::static_layout::ObjectPath::Edge(size).to_path();
    let deleted = ["tile/entries/000", "tile/0/000", edge.as_str()];
    for path in deleted {
        std::fs::remove_file(objects.join(path)).unwrap();
    }
    assert!(check_complete(dir_fetch(&objects), &key).is_err());
    let server = start_server(dir.path(), &s3, KEEP);
    let deadline = Instant::now() + WAIT;
    while deleted.iter().any(|p| !objects.join(p).exists()) {
        assert!(
            Instant::now() < deadline,
            "not uploaded again: {}",
            healthz(&server)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        check_complete(dir_fetch(&objects), &key).unwrap().size,
        size
    );

    // With no grace the superseded partial tiles and edge objects go (found by listing the
    // bucket at start), nothing the bucket's checkpoint needs does.
    assert_eq!(server.terminate(), Some(0));
    let left = superseded_objects(&objects, size);
    assert!(left.iter().any(|p| p.starts_with("edge/")), "{left:?}");
    let server = start_server(dir.path(), &s3, &["--publish-grace", "0s"]);
    wait_until_superseded_deleted(&objects, size, WAIT);
    assert_eq!(
        check_complete(dir_fetch(&objects), &key).unwrap().size,
        size
    );
    let (rebuilt, _) = bundle_from(dir_fetch(&objects), &key, &app(7), None).unwrap();
    let served = http_get(&format!("{}/lookup?ref={}", server.url, app(7)));
    assert_eq!(rebuilt.to_json().as_bytes(), served.body.as_slice());
}
