//! `--publish file:///dir` against the real server (issue 15): the directory holds, for every
//! published checkpoint, the objects a verifier needs, and the bundle rebuilt from them equals
//! the `/lookup` bundle field by field; a crash (kill -9, also while bindings arrive) or a run
//! without `--publish` is caught up at the next start, with nothing missing; commits within
//! `--publish-interval` go up as one set of objects, none of the versions between; objects
//! deleted by hand (tiles, entry bundles, the edge object) are uploaded again at start;
//! superseded partial tiles and edge objects are deleted after `--publish-grace`, also those a
//! run with a longer grace left behind, and the bucket still verifies; map objects go up in
//! one pack per publication, a restart reads the locators it needs back from the bucket, a
//! pack none of whose objects is in the bucket's map any more is deleted after the grace, and
//! packs deleted by hand make the whole map go up again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::Bundle;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::note::VerifierKey;
use taglog_proofs::policy::Policy;
use taglog_proofs::static_layout::ObjectPath;
use taglog_proofs::verify::{verify, VerifyRequest};
use taglog_testkit::bindings::binding;
use taglog_testkit::http::{blocking, get as http_get};
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{submit_all, LogServer, PREFIX};
use taglog_testkit::static_objects::{
    bundle_from, check_complete, checkpoint_size, dir_fetch, superseded_objects, wait_for_dir,
    wait_until_superseded_deleted,
};
use taglog_testkit::static_server::list_dir_paths;
use taglog_testkit::tempdir;

const WAIT: Duration = Duration::from_secs(60);

fn publish_flag(bucket: &Path) -> String {
    format!("file://{}", bucket.display())
}

fn served_size(server: &LogServer) -> u64 {
    let note = http_get(&format!("{}/checkpoint", server.url)).body;
    SignedCheckpoint::open(&note, &server.log_key())
        .unwrap()
        .checkpoint()
        .size()
}

fn lookup(server: &LogServer, reference: &str, since: Option<u64>) -> Bundle {
    let q = since.map_or(String::new(), |s| format!("&since={s}"));
    let r = http_get(&format!("{}/lookup?ref={reference}{q}", server.url));
    assert_eq!(r.status, 200, "{}", r.text());
    Bundle::parse(&r.body).unwrap()
}

fn verify_static(bundle: &Bundle, log_key: &VerifierKey, reference: &str, digest_byte: u8) {
    let text = format!(
        "log {log_key}\nquorum none\npublisher {PREFIX} {}\n",
        publisher().verifier()
    );
    let policy = Policy::parse(text.as_bytes()).unwrap();
    let r = reference.parse().unwrap();
    let digest = DigestValue::Sha256([digest_byte; 32]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let req = VerifyRequest::stateless(&policy, bundle, &r, Some(&digest), now);
    let verdict = verify(&req).unwrap_or_else(|e| panic!("static bundle for {reference}: {e}"));
    assert_eq!(verdict.digest, digest);
}

fn app(i: u64) -> String {
    format!("{PREFIX}/app{}:v{i}", i % 7)
}

#[test]
fn every_checkpoint_is_published_and_rebuilds_the_lookup_bundle() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let server = LogServer::start(dir.path(), &["--publish", &publish_flag(&bucket)]);
    let key = server.log_key();
    let rebound = format!("{PREFIX}/app:latest");
    submit_all(&server.url, vec![(rebound.clone(), 1, 1)], 1);
    let early = served_size(&server);
    // Past one full tile: full tiles, partial tiles and map objects below the root object.
    let items: Vec<_> = (0..300)
        .map(|i| (app(i), 1, (i % 200) as u8 + 10))
        .collect();
    submit_all(&server.url, items, 6);
    submit_all(&server.url, vec![(rebound.clone(), 2, 2)], 1);
    let size = served_size(&server);
    assert!(size > 300, "{size}");
    wait_for_dir(&bucket, &key, size, WAIT);
    assert_eq!(
        std::fs::read(bucket.join("checkpoint")).unwrap(),
        http_get(&format!("{}/checkpoint", server.url)).body,
        "without a quorum the bucket's checkpoint is the served one"
    );

    for (reference, digest, since) in [
        (rebound.clone(), Some(2u8), None),
        (rebound.clone(), Some(2), Some(early)),
        (app(5), Some(15), None),
        (app(299), Some(109), Some(size - 1)),
        (format!("{PREFIX}/never:bound"), None, None),
    ] {
        let (from_objects, fetched) =
            bundle_from(dir_fetch(&bucket), &key, &reference, since).unwrap();
        let served = lookup(&server, &reference, since);
        assert_eq!(from_objects.checkpoint, served.checkpoint, "{reference}");
        assert_eq!(from_objects.state, served.state, "{reference}");
        assert_eq!(from_objects.map, served.map, "{reference}");
        assert_eq!(from_objects.binding, served.binding, "{reference}");
        assert_eq!(from_objects.consistency, served.consistency, "{reference}");
        assert_eq!(from_objects, served, "{reference}");
        assert!(fetched.len() <= 12, "{reference}: {fetched:?}");
        if let Some(d) = digest {
            verify_static(&from_objects, &key, &reference, d);
        }
    }

    // The whole log is there, and nothing else: every file is an object path.
    let complete = check_complete(dir_fetch(&bucket), &key).unwrap();
    assert_eq!(complete.size, size);
    assert_eq!(complete.map_keys, 301, "{complete:?}");
    for path in taglog_testkit::static_server::read_dir_files(&bucket).keys() {
        ObjectPath::parse(path).unwrap_or_else(|e| panic!("stray file {path}: {e}"));
    }

    // /healthz and /metrics report the bucket caught up.
    let health = blocking()
        .get(format!("{}/healthz", server.url))
        .send()
        .unwrap()
        .json::<serde_json::Value>()
        .unwrap();
    assert_eq!(health["bucket"]["size"], size, "{health}");
    assert_eq!(health["bucket"]["lag_entries"], 0, "{health}");
    assert!(health["bucket"]["error"].is_null(), "{health}");
    let metrics = http_get(&format!("{}/metrics", server.url)).text();
    assert!(
        metrics.contains(&format!("taglog_publish_bucket_size {size}\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains("taglog_publish_lag_entries 0\n"),
        "{metrics}"
    );

    // The publisher works on threads of its own name (bench-static.sh counts their CPU time).
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.proc.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .collect();
    assert!(
        threads
            .iter()
            .any(|t| t == taglog_server::publish::PUBLISHER_THREAD),
        "{threads:?}"
    );
}

#[test]
fn a_start_catches_up_after_a_run_without_publishing_and_after_kill_9() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let flag = publish_flag(&bucket);

    // A run without --publish: the next start publishes all of it.
    let server = LogServer::start(dir.path(), &[]);
    let key = server.log_key();
    let items: Vec<_> = (0..40).map(|i| (app(i), 1, i as u8 + 1)).collect();
    submit_all(&server.url, items, 4);
    let size = served_size(&server);
    server.kill();
    assert!(!bucket.join("checkpoint").exists());
    let server = LogServer::start(dir.path(), &["--publish", &flag]);
    wait_for_dir(&bucket, &key, size, WAIT);
    assert_eq!(check_complete(dir_fetch(&bucket), &key).unwrap().size, size);

    // A crash after the map objects went up but before the checkpoint did, made certain by
    // deleting the checkpoint and its edge object: the next start lays the map's packs out
    // anew, so the edge object's top map object has other locators than the one at its own
    // address (put once, kept). Both lead to the whole map.
    assert_eq!(server.terminate(), Some(0));
    let edge = ObjectPath::Edge(size).to_path();
    for path in ["checkpoint", edge.as_str()] {
        std::fs::remove_file(bucket.join(path)).unwrap();
    }
    let server = LogServer::start(dir.path(), &["--publish", &flag]);
    wait_for_dir(&bucket, &key, size, WAIT);
    let complete = check_complete(dir_fetch(&bucket), &key).unwrap();
    assert_eq!(complete.size, size);
    assert_eq!(complete.map_keys, 40);
    let (rebuilt, _) = bundle_from(dir_fetch(&bucket), &key, &app(3), None).unwrap();
    assert_eq!(rebuilt, lookup(&server, &app(3), None));

    // kill -9 while bindings arrive and the publisher uploads, three times: each start
    // catches up, and the bucket then holds the whole log, every acknowledged binding in it.
    let mut server = server;
    let (mut next, mut acked_total) = (40u64, 40usize);
    for round in 0..3u64 {
        let url = server.url.clone();
        let batch: Vec<_> = (next..next + 60).map(|i| (app(i), 1, i as u8)).collect();
        next += 60;
        let submitter = std::thread::spawn(move || {
            let c = blocking();
            let mut acked = 0;
            for (r, v, d) in batch {
                let sent = c
                    .post(format!("{url}/add-binding"))
                    .header("content-type", "text/plain")
                    .body(binding(&publisher(), &r, v, d))
                    .send();
                match sent {
                    Ok(resp) if resp.status().as_u16() == 200 => acked += 1,
                    _ => break, // killed
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(200 + 150 * round));
        server.kill();
        acked_total += submitter.join().unwrap();
        server = LogServer::start(dir.path(), &["--publish", &flag]);
        let size = served_size(&server);
        wait_for_dir(&bucket, &key, size, WAIT);
        let complete = check_complete(dir_fetch(&bucket), &key).unwrap();
        assert_eq!(complete.size, size);
        assert!(
            complete.map_keys >= acked_total,
            "round {round}: {complete:?}, {acked_total} acknowledged"
        );
        let (rebuilt, _) = bundle_from(dir_fetch(&bucket), &key, &app(3), None).unwrap();
        assert_eq!(rebuilt, lookup(&server, &app(3), None), "round {round}");
    }
}

#[test]
fn objects_deleted_from_the_bucket_by_hand_are_uploaded_again_at_start() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let flag = publish_flag(&bucket);
    let server = LogServer::start(dir.path(), &["--publish", &flag]);
    let key = server.log_key();
    let items: Vec<_> = (0..300).map(|i| (app(i), 1, (i % 200) as u8 + 1)).collect();
    submit_all(&server.url, items, 6);
    let size = served_size(&server);
    wait_for_dir(&bucket, &key, size, WAIT);
    assert_eq!(server.terminate(), Some(0));
    let before = taglog_testkit::static_server::read_dir_files(&bucket);

    // A full and a partial entry bundle, a hash tile and the edge object of the checkpoint,
    // deleted by hand.
    let partial = taglog_proofs::tiles::entry_bundle_for(size - 1, size)
        .unwrap()
        .to_path();
    assert!(partial.contains(".p/"), "{partial}");
    let deleted = [
        "tile/entries/000".to_owned(),
        partial,
        "tile/0/000".to_owned(),
        ObjectPath::Edge(size).to_path(),
    ];
    for path in &deleted {
        std::fs::remove_file(bucket.join(path)).unwrap();
    }
    assert!(check_complete(dir_fetch(&bucket), &key).is_err());

    // The next start finds them missing, uploads them again and counts them; nothing else
    // changes (no new binding arrived).
    let server = LogServer::start(dir.path(), &["--publish", &flag]);
    let deadline = std::time::Instant::now() + WAIT;
    while deleted.iter().any(|p| !bucket.join(p).exists()) {
        assert!(std::time::Instant::now() < deadline, "not uploaded again");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(check_complete(dir_fetch(&bucket), &key).unwrap().size, size);
    assert_eq!(
        taglog_testkit::static_server::read_dir_files(&bucket),
        before
    );
    let metrics = http_get(&format!("{}/metrics", server.url)).text();
    assert!(
        metrics.contains("taglog_publish_repaired_total 4\n"),
        "{metrics}"
    );
}

/// The paths `check_complete` reads for the bucket's checkpoint: every object a verifier of
/// that checkpoint may need (its tiles, entry bundles, edge object and map objects, and the
/// checkpoint).
fn objects_of_checkpoint(bucket: &Path, key: &VerifierKey) -> (u64, BTreeSet<String>) {
    let mut read = BTreeSet::new();
    let mut fetch = dir_fetch(bucket);
    let complete = check_complete(
        |p: &str| {
            read.insert(p.to_owned());
            fetch(p)
        },
        key,
    )
    .unwrap();
    (complete.size, read)
}

fn metric(server: &LogServer, name: &str) -> u64 {
    let text = http_get(&format!("{}/metrics", server.url)).text();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .parse()
        .unwrap()
}

#[test]
fn commits_within_the_publish_interval_go_up_as_one_set_of_objects() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let flag = publish_flag(&bucket);
    let server = LogServer::start(
        dir.path(),
        &["--publish", &flag, "--publish-interval", "1h"],
    );
    let key = server.log_key();
    // The first head the publisher sees goes up at once (one of the start's commits, or a
    // first binding); every later one waits for the interval, far longer than this test.
    if served_size(&server) == 0 {
        submit_all(&server.url, vec![(app(1000), 1, 1)], 1);
    }
    let first = wait_for_dir(&bucket, &key, 1, WAIT);
    let (size, first_objects) = objects_of_checkpoint(&bucket, &key);
    assert_eq!(size, first);

    // 40 bindings one after the other: 40 commits, 40 log checkpoints, none uploaded yet.
    let items: Vec<_> = (0..40).map(|i| (app(i), 1, i as u8 + 1)).collect();
    submit_all(&server.url, items, 1);
    let last = served_size(&server);
    assert!(last >= first + 40, "{first} -> {last}");
    assert_eq!(checkpoint_size(dir_fetch(&bucket), &key), Some(first));
    assert_eq!(metric(&server, "taglog_publish_checkpoints_total"), 1);
    assert!(metric(&server, "taglog_publish_lag_entries") > 0);

    // A stopping server uploads the newest head at once: the bucket then holds the objects of
    // its two checkpoints and nothing of the 39 log checkpoints between them (no map object of
    // an intermediate map version, no partial tile or entry bundle of an intermediate size).
    assert_eq!(server.terminate(), Some(0));
    let (size, last_objects) = objects_of_checkpoint(&bucket, &key);
    assert_eq!(size, last);
    let expected: BTreeSet<String> = first_objects.union(&last_objects).cloned().collect();
    let held: BTreeSet<String> = taglog_testkit::static_server::read_dir_files(&bucket)
        .into_keys()
        .collect();
    assert_eq!(held, expected);

    // Every binding verifies from the bucket, and the bundle equals the served one.
    let server = LogServer::start(dir.path(), &["--publish", &flag]);
    assert_eq!(served_size(&server), last);
    for i in [0u64, 17, 39] {
        let (bundle, _) = bundle_from(dir_fetch(&bucket), &key, &app(i), None).unwrap();
        assert_eq!(bundle, lookup(&server, &app(i), None), "{}", app(i));
        verify_static(&bundle, &key, &app(i), i as u8 + 1);
    }
}

/// Waits until the metric `name` of `server` is `value`.
fn wait_for_metric(server: &LogServer, name: &str, value: u64) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = metric(server, name);
        if got == value {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} is {got}, not {value}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks that `bucket` verifies: complete for its checkpoint, and the bundles rebuilt from
/// it equal the served ones.
fn check_bucket(server: &LogServer, bucket: &Path, size: u64, refs: &[u64]) {
    let key = server.log_key();
    assert_eq!(check_complete(dir_fetch(bucket), &key).unwrap().size, size);
    for &i in refs {
        let (bundle, _) = bundle_from(dir_fetch(bucket), &key, &app(i), None).unwrap();
        assert_eq!(bundle, lookup(server, &app(i), None), "{}", app(i));
        verify_static(&bundle, &key, &app(i), (i % 200) as u8 + 1);
    }
}

#[test]
fn superseded_partial_tiles_and_edge_objects_are_deleted_after_the_grace() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let flag = publish_flag(&bucket);
    let items = |from: u64, to: u64| -> Vec<_> {
        (from..to)
            .map(|i| (app(i), 1, (i % 200) as u8 + 1))
            .collect()
    };

    // A long grace: the objects that later checkpoints supersede stay.
    let server = LogServer::start(
        dir.path(),
        &[
            "--publish",
            &flag,
            "--publish-interval",
            "0",
            "--publish-grace",
            "1h",
        ],
    );
    let key = server.log_key();
    for (from, to) in [(0, 100), (100, 200), (200, 300)] {
        submit_all(&server.url, items(from, to), 4);
        wait_for_dir(&bucket, &key, served_size(&server), WAIT);
    }
    let size = served_size(&server);
    assert!(size > 256, "{size}");
    let left = superseded_objects(&bucket, size);
    assert!(
        left.iter().any(|p| p.starts_with("tile/entries/000.p/"))
            && left.iter().any(|p| p.starts_with("tile/0/000.p/"))
            && left.iter().any(|p| p.starts_with("edge/")),
        "{left:?}"
    );
    // So are the packs of map objects none of which is in the map any more.
    let read = check_complete(dir_fetch(&bucket), &key).unwrap().packs;
    let dead = map_files(&bucket)
        .0
        .into_iter()
        .filter(|p| !read.contains(p))
        .count();
    assert!(dead > 0, "no pack was superseded");
    wait_for_metric(
        &server,
        "taglog_publish_superseded",
        (left.len() + dead) as u64,
    );
    assert_eq!(metric(&server, "taglog_publish_deleted_total"), 0);
    assert_eq!(server.terminate(), Some(0));

    // A start with no grace finds them by listing the bucket and deletes them, and nothing
    // else (the packs of the earlier process are not known whole, so they stay): the
    // bucket's checkpoint still verifies.
    let before = list_dir_paths(&bucket);
    let grace0 = ["--publish", &flag, "--publish-grace", "0s"];
    let server = LogServer::start(dir.path(), &grace0);
    assert_eq!(served_size(&server), size);
    wait_until_superseded_deleted(&bucket, size, WAIT);
    let after = list_dir_paths(&bucket);
    let gone: Vec<&String> = before.difference(&after).collect();
    assert_eq!(gone, left.iter().collect::<Vec<_>>());
    assert!(after.is_subset(&before), "{after:?}");
    check_bucket(&server, &bucket, size, &[0, 150, 299]);
    wait_for_metric(&server, "taglog_publish_deleted_total", left.len() as u64);
    wait_for_metric(&server, "taglog_publish_superseded", 0);
    assert_eq!(metric(&server, "taglog_publish_delete_failures_total"), 0);
    // No directory is left empty behind them.
    assert!(!bucket.join("tile/entries/000.p").exists());

    // While it runs, what each new checkpoint supersedes goes as the log crosses the next tile.
    let before_second = metric(&server, "taglog_publish_deleted_total");
    for (from, to) in [(300, 400), (400, 500), (500, 600)] {
        submit_all(&server.url, items(from, to), 4);
        wait_for_dir(&bucket, &key, served_size(&server), WAIT);
    }
    let size = served_size(&server);
    assert!(size > 512, "{size}");
    wait_until_superseded_deleted(&bucket, size, WAIT);
    let edges: Vec<String> = list_dir_paths(&bucket)
        .into_iter()
        .filter(|p| p.starts_with("edge/"))
        .collect();
    assert_eq!(edges, [ObjectPath::Edge(size).to_path()]);
    assert!(metric(&server, "taglog_publish_deleted_total") > before_second);
    check_bucket(&server, &bucket, size, &[0, 299, 450, 599]);
}

/// The bucket's map files: packs and objects at their own address.
fn map_files(bucket: &Path) -> (Vec<String>, Vec<String>) {
    list_dir_paths(bucket)
        .into_iter()
        .filter(|p| p.starts_with("map/"))
        .partition(|p| p.starts_with("map/pack/"))
}

#[test]
fn map_objects_go_up_in_packs_and_a_restart_reads_their_locators_back() {
    let (dir, out) = (tempdir(), tempdir());
    let bucket = out.path().join("bucket");
    let flag = publish_flag(&bucket);
    let server = LogServer::start(dir.path(), &["--publish", &flag]);
    let key = server.log_key();
    let items = |r: std::ops::Range<u64>| -> Vec<_> {
        r.map(|i| (app(i), 1, (i % 200) as u8 + 1)).collect()
    };
    submit_all(&server.url, items(0..400), 6);
    let size = served_size(&server);
    wait_for_dir(&bucket, &key, size, WAIT);
    let complete = check_complete(dir_fetch(&bucket), &key).unwrap();
    let (packs, own) = map_files(&bucket);
    let uploads = metric(&server, "taglog_publish_checkpoints_total");
    // One pack and one top object per publication, however many map objects changed.
    assert!(
        !packs.is_empty() && packs.len() as u64 <= uploads,
        "{packs:?}"
    );
    assert!(own.len() as u64 <= uploads, "{own:?}");
    assert!(complete.map_objects > packs.len() + 1, "{complete:?}");
    assert_eq!(server.terminate(), Some(0));

    // A new process knows no locator: it reads those it needs from the bucket, and uploads
    // only what changed (nothing repaired).
    let server = LogServer::start(dir.path(), &["--publish", &flag, "--publish-grace", "0s"]);
    submit_all(&server.url, items(400..460), 6);
    let size = served_size(&server);
    wait_for_dir(&bucket, &key, size, WAIT);
    check_bucket(&server, &bucket, size, &[0, 5, 399, 401, 459]);
    assert_eq!(metric(&server, "taglog_publish_repaired_total"), 0);
    let (made, _) = map_files(&bucket);
    let made: Vec<String> = made.into_iter().filter(|p| !packs.contains(p)).collect();
    assert!(!made.is_empty());

    // The same refs bound again: every object in the packs just made is replaced, so those
    // packs are superseded and deleted (grace 0); the packs of the earlier process stay (not
    // known whole), and the bucket verifies.
    let again: Vec<_> = (400..460u64)
        .map(|i| (app(i), 2, (i % 200) as u8 + 2))
        .collect();
    submit_all(&server.url, again, 6);
    let size = served_size(&server);
    wait_for_dir(&bucket, &key, size, WAIT);
    let deadline = std::time::Instant::now() + WAIT;
    while made.iter().any(|p| bucket.join(p).exists()) {
        assert!(std::time::Instant::now() < deadline, "{made:?} not deleted");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(packs.iter().all(|p| bucket.join(p).exists()));
    check_bucket(&server, &bucket, size, &[0, 5, 399]);
    for i in [401, 459] {
        let (bundle, _) = bundle_from(dir_fetch(&bucket), &key, &app(i), None).unwrap();
        assert_eq!(bundle, lookup(&server, &app(i), None), "{}", app(i));
    }
    assert!(metric(&server, "taglog_publish_deleted_total") >= made.len() as u64);
    let (after, _) = map_files(&bucket);
    assert_eq!(server.terminate(), Some(0));

    // Packs deleted by hand: the next publication cannot locate what it needs, so the whole
    // map goes up again (counted as repaired), and the bucket verifies again.
    for p in &after {
        std::fs::remove_file(bucket.join(p)).unwrap();
    }
    assert!(check_complete(dir_fetch(&bucket), &key).is_err());
    let server = LogServer::start(dir.path(), &["--publish", &flag]);
    submit_all(&server.url, items(460..470), 2);
    let size = served_size(&server);
    wait_for_dir(&bucket, &key, size, WAIT);
    check_bucket(&server, &bucket, size, &[0, 5, 399, 465]);
    assert_eq!(metric(&server, "taglog_publish_repaired_total"), 1);
    let complete = check_complete(dir_fetch(&bucket), &key).unwrap();
    assert_eq!(complete.map_keys, 470);
}
