//! Fault injection: misbehaving logs built with `proofs`, served over real HTTP from the
//! test. Each fault must yield exactly its alert, with evidence that verifies on its own
//! (with the log key and the `proofs` crate only); an honest log yields none.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use serde_json::Value;
use taglog_monitor::alerts::{Alert, AlertKind};
use taglog_monitor::{Config, Monitor};
use taglog_proofs::b64;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::consistency::verify_consistency;
use taglog_proofs::hash::{leaf_hash, sha256, Hash};
use taglog_proofs::inclusion::verify_inclusion;
use taglog_proofs::leaves::{Leaf, StateLeaf};
use taglog_proofs::note::VerifierKey;
use taglog_proofs::refs::RefPrefix;
use taglog_proofs::tiles::{TileKind, TilePath};
use taglog_testkit::bindings::digest;
use taglog_testkit::crafted::{CraftedLog, ORIGIN};
use taglog_testkit::http::hashes;
use taglog_testkit::keys;
use taglog_testkit::static_server::StaticServer;
use taglog_testkit::witness::checkpoint_path;

const APP: &str = "registry.test/acme/app:1";
const TOOL: &str = "registry.test/acme/tool:2";

fn config(server: &StaticServer, log: &CraftedLog, dir: &Path) -> Config {
    let mut c = Config::new(&server.url, log.verifier(), dir.to_path_buf());
    c.now = Some(log.time + 10);
    c.chunk = 7;
    c
}

async fn run(c: Config) -> Vec<Alert> {
    let mut m = Monitor::open(c).unwrap();
    m.run_once().await.unwrap()
}

fn kinds(alerts: &[Alert]) -> Vec<AlertKind> {
    alerts.iter().map(|a| a.kind).collect()
}

/// A small honest log: two checkpoints with bindings of two refs.
fn honest() -> CraftedLog {
    let mut log = CraftedLog::admitting();
    log.bind(APP, digest(1));
    log.bind(TOOL, digest(2));
    log.commit();
    log.bind(APP, digest(3));
    log.commit();
    log
}

/// Opens a checkpoint note from evidence with the log key alone.
fn open(note: &Value, key: &VerifierKey) -> SignedCheckpoint {
    SignedCheckpoint::open(note.as_str().unwrap().as_bytes(), key).unwrap()
}

/// Checks entry evidence against the signed checkpoint; returns the entry bytes.
fn verify_entry(ev: &Value, cp: &SignedCheckpoint) -> Vec<u8> {
    let entry = b64::decode(ev["entry"].as_str().unwrap()).unwrap();
    let index = ev["index"].as_u64().unwrap();
    let size = ev["size"].as_u64().unwrap();
    assert_eq!(size, cp.checkpoint().size());
    verify_inclusion(
        index,
        size,
        &leaf_hash(&entry),
        &hashes(&ev["inclusion"]),
        &cp.checkpoint().root(),
    )
    .unwrap();
    entry
}

#[tokio::test]
async fn honest_log_yields_no_alert_across_polls_witnesses_and_reports() {
    let mut log = CraftedLog::admitting();
    log.bind(APP, digest(1));
    let first = log.commit();
    let server = StaticServer::with_files(log.files(first));
    let witness = StaticServer::start();
    witness.put(&checkpoint_path(ORIGIN), log.checkpoints[&first].clone());
    let dir = taglog_testkit::tempdir();
    let reports = dir.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::write(reports.join("a"), &log.checkpoints[&first]).unwrap();
    std::fs::write(reports.join("junk"), b"not a checkpoint").unwrap();
    let mut c = config(&server, &log, &dir.path().join("state"));
    c.witness_urls.push(witness.url.clone());
    c.reports = Some(reports);
    assert!(run(c.clone()).await.is_empty());

    for i in 0..300 {
        log.bind(&format!("registry.test/acme/many:{i}"), digest(i));
    }
    log.bind(APP, digest(9));
    let second = log.commit();
    server.set_all(log.files(second));
    c.now = Some(log.time + 10);
    let mut m = Monitor::open(c).unwrap();
    assert!(m.run_once().await.unwrap().is_empty());
    assert_eq!(m.state().replayed, second);
    assert_eq!(m.state().verified_size(), second);
}

#[tokio::test]
async fn forked_view_at_the_same_size_is_a_fork_with_both_notes() {
    let log = honest();
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let witness = StaticServer::start();
    let forged = log.sign_other(size, sha256(b"another history"));
    witness.put(&checkpoint_path(ORIGIN), forged.clone());
    let dir = taglog_testkit::tempdir();
    let mut c = config(&server, &log, dir.path());
    c.witness_urls.push(witness.url.clone());
    let alerts = run(c).await;
    assert_eq!(kinds(&alerts), [AlertKind::Fork]);
    let cps = alerts[0].evidence["checkpoints"].as_array().unwrap();
    let a = open(&cps[0], &log.verifier());
    let b = open(&cps[1], &log.verifier());
    assert_eq!(a.checkpoint().size(), b.checkpoint().size());
    assert_ne!(a.checkpoint().root(), b.checkpoint().root());
}

#[tokio::test]
async fn reported_older_checkpoint_off_the_history_is_a_fork_with_a_consistency_proof() {
    let log = honest();
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let report = dir.path().join("report");
    std::fs::write(&report, log.sign_other(3, sha256(b"x"))).unwrap();
    let mut c = config(&server, &log, &dir.path().join("s"));
    c.reports = Some(report);
    let alerts = run(c).await;
    assert_eq!(kinds(&alerts), [AlertKind::Fork]);
    let ev = &alerts[0].evidence;
    let new = open(&ev["checkpoints"][0], &log.verifier());
    let old = open(&ev["checkpoints"][1], &log.verifier());
    let c = &ev["consistency"];
    let proof = hashes(&c["proof"]);
    let implied = Hash::from_base64(c["old_root_implied"].as_str().unwrap()).unwrap();
    let (m, n) = (old.checkpoint().size(), new.checkpoint().size());
    verify_consistency(m, n, &implied, &new.checkpoint().root(), &proof).unwrap();
    assert_ne!(implied, old.checkpoint().root());
}

#[tokio::test]
async fn rewritten_history_in_a_larger_checkpoint_is_a_fork_proven_from_its_own_tiles() {
    let log = honest();
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let c = config(&server, &log, dir.path());
    assert!(run(c.clone()).await.is_empty());
    // The log restarts from a backup, sequences other entries and signs a larger tree.
    let mut other = CraftedLog::admitting();
    other.bind(APP, digest(1));
    other.bind(TOOL, digest(200));
    other.commit();
    other.bind(APP, digest(3));
    other.bind(APP, digest(4));
    let big = other.commit();
    assert!(big > size);
    server.set_all(other.files(big));
    let mut c = c;
    c.now = Some(other.time + 10);
    let alerts = run(c).await;
    assert_eq!(kinds(&alerts), [AlertKind::Fork]);
    let ev = &alerts[0].evidence;
    let new = open(&ev["checkpoints"][0], &log.verifier());
    let old = open(&ev["checkpoints"][1], &log.verifier());
    assert_eq!(old.checkpoint().size(), size);
    assert_eq!(new.checkpoint().size(), big);
    let c = &ev["consistency"];
    let implied = Hash::from_base64(c["old_root_implied"].as_str().unwrap()).unwrap();
    verify_consistency(
        size,
        big,
        &implied,
        &new.checkpoint().root(),
        &hashes(&c["proof"]),
    )
    .unwrap();
    assert_ne!(implied, old.checkpoint().root());
}

#[tokio::test]
async fn tiles_that_do_not_match_the_checkpoint_are_a_tile_mismatch() {
    let mut log = honest();
    let size = log.size();
    let mut files = log.files(size);
    // Serve an entry that differs from the one the checkpoint commits to.
    log.entries[2] = log.entries[1].clone();
    let mut bad = log.files(size);
    bad.insert("checkpoint".into(), files.remove("checkpoint").unwrap());
    let server = StaticServer::with_files(bad);
    let dir = taglog_testkit::tempdir();
    let mut m = Monitor::open(config(&server, &log, dir.path())).unwrap();
    let alerts = m.run_once().await.unwrap();
    assert_eq!(kinds(&alerts), [AlertKind::TileMismatch]);
    let ev = &alerts[0].evidence;
    let cp = open(&ev["checkpoint"], &log.verifier());
    let computed = Hash::from_base64(ev["computed_root"].as_str().unwrap()).unwrap();
    assert_ne!(computed, cp.checkpoint().root());
    assert_eq!(m.state().verified_size(), 0, "nothing unverified is kept");
    // A second poll does not repeat the alert.
    assert!(m.run_once().await.unwrap().is_empty());
}

#[tokio::test]
async fn truncated_entry_bundle_is_a_tile_mismatch_and_nothing_is_replayed() {
    let log = honest();
    let size = log.size();
    let mut files = log.files(size);
    let path = TilePath::new(TileKind::Entries, 0, u16::try_from(size).unwrap())
        .unwrap()
        .to_path();
    let bundle = files.get_mut(&path).unwrap();
    bundle.truncate(bundle.len() - 5);
    let server = StaticServer::with_files(files);
    let dir = taglog_testkit::tempdir();
    let mut m = Monitor::open(config(&server, &log, dir.path())).unwrap();
    let alerts = m.run_once().await.unwrap();
    assert_eq!(kinds(&alerts), [AlertKind::TileMismatch]);
    assert!(alerts[0].evidence["reason"]
        .as_str()
        .unwrap()
        .contains(&path));
    open(&alerts[0].evidence["checkpoint"], &log.verifier());
    assert_eq!(m.state().replayed, 0);
}

#[tokio::test]
async fn state_leaf_with_a_wrong_map_root_is_a_map_mismatch() {
    let mut log = CraftedLog::admitting();
    log.bind(APP, digest(1));
    log.commit();
    log.bind(TOOL, digest(2));
    let wrong = sha256(b"not the map");
    log.state_with(Some(wrong), None);
    let size = log.sign();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let alerts = run(config(&server, &log, dir.path())).await;
    assert_eq!(kinds(&alerts), [AlertKind::MapMismatch]);
    let ev = &alerts[0].evidence;
    let cp = open(&ev["checkpoint"], &log.verifier());
    let entry = verify_entry(&ev["entry"], &cp);
    let state = StateLeaf::parse(&entry).unwrap();
    assert_eq!(state.map_root, wrong);
    assert_eq!(
        ev["computed_map_root"].as_str().unwrap(),
        log.map_root().to_base64()
    );
}

#[tokio::test]
async fn version_regression_carries_both_bindings() {
    let mut log = CraftedLog::admitting();
    log.bind(APP, digest(1));
    log.bind(APP, digest(2));
    let p = log.publisher.clone();
    log.bind_signed(APP, digest(3), 2, log.time, &p);
    let size = log.commit();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let alerts = run(config(&server, &log, dir.path())).await;
    assert_eq!(kinds(&alerts), [AlertKind::VersionRegression]);
    let ev = &alerts[0].evidence;
    let cp = open(&ev["checkpoint"], &log.verifier());
    let now = verify_entry(&ev["entry"], &cp);
    let before = verify_entry(&ev["previous"], &cp);
    let (Leaf::Binding(now), Leaf::Binding(before)) =
        (Leaf::parse(&now).unwrap(), Leaf::parse(&before).unwrap())
    else {
        panic!("bindings expected")
    };
    assert_eq!(now.binding().reference, before.binding().reference);
    assert!(now.binding().version <= before.binding().version);
}

/// Flips one bit of the signature of a signed binding note.
fn flip_signature(entry: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(entry.to_vec()).unwrap();
    let (body, sig_line) = text.trim_end_matches('\n').rsplit_once('\n').unwrap();
    let (prefix, sig) = sig_line.rsplit_once(' ').unwrap();
    let mut raw = b64::decode(sig).unwrap();
    raw[10] ^= 1;
    format!("{body}\n{prefix} {}\n", b64::encode(raw)).into_bytes()
}

#[tokio::test]
async fn bad_binding_signature_is_a_bad_signature() {
    let mut log = CraftedLog::admitting();
    log.bind(APP, digest(1));
    let b = taglog_proofs::binding::Binding {
        log: ORIGIN.into(),
        reference: TOOL.parse().unwrap(),
        digest: digest(2),
        version: 1,
        time: log.time,
    };
    let entry = taglog_proofs::binding::sign_binding(&b, &log.publisher).unwrap();
    log.push_binding(&b, flip_signature(&entry));
    let size = log.commit();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let alerts = run(config(&server, &log, dir.path())).await;
    assert_eq!(kinds(&alerts), [AlertKind::BadSignature]);
    let ev = &alerts[0].evidence;
    let cp = open(&ev["checkpoint"], &log.verifier());
    let entry = verify_entry(&ev["entry"], &cp);
    let Leaf::Binding(sb) = Leaf::parse(&entry).unwrap() else {
        panic!("binding expected")
    };
    assert!(sb.verify(&log.publisher.verifier()).is_err());
}

#[tokio::test]
async fn binding_by_a_key_never_admitted_is_a_bad_signature() {
    let mut log = CraftedLog::admitting();
    let stranger = keys::ed25519("publisher.test", 99);
    log.bind_signed(APP, digest(1), 1, log.time, &stranger);
    let size = log.commit();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let alerts = run(config(&server, &log, dir.path())).await;
    assert_eq!(kinds(&alerts), [AlertKind::BadSignature]);
    assert!(alerts[0].message.contains("not admitted"));
}

#[tokio::test]
async fn log_that_shrinks_is_a_log_rollback() {
    let log = honest();
    let (small, big) = (*log.checkpoints.keys().next().unwrap(), log.size());
    let server = StaticServer::with_files(log.files(big));
    let dir = taglog_testkit::tempdir();
    let c = config(&server, &log, dir.path());
    assert!(run(c.clone()).await.is_empty());
    server.set_all(log.files(small));
    let alerts = run(c.clone()).await;
    assert_eq!(kinds(&alerts), [AlertKind::LogRollback]);
    let ev = &alerts[0].evidence;
    let earlier = open(&ev["earlier"], &log.verifier());
    let now = open(&ev["now"], &log.verifier());
    assert!(now.checkpoint().size() < earlier.checkpoint().size());
    // Polling again while it stays shrunk does not repeat the alert.
    assert!(run(c).await.is_empty());
}

#[tokio::test]
async fn rebind_to_an_old_digest_is_a_notice_with_both_bindings() {
    let mut log = CraftedLog::admitting();
    log.bind(APP, digest(1));
    log.bind(APP, digest(2));
    log.bind(APP, digest(2)); // same digest again: not "old"
    log.bind(APP, digest(1));
    let size = log.commit();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let alerts = run(config(&server, &log, dir.path())).await;
    assert_eq!(kinds(&alerts), [AlertKind::RebindToOldDigest]);
    let ev = &alerts[0].evidence;
    let cp = open(&ev["checkpoint"], &log.verifier());
    let now = verify_entry(&ev["entry"], &cp);
    let before = verify_entry(&ev["previous"], &cp);
    let (Leaf::Binding(now), Leaf::Binding(before)) =
        (Leaf::parse(&now).unwrap(), Leaf::parse(&before).unwrap())
    else {
        panic!("bindings expected")
    };
    assert_eq!(now.binding().digest, before.binding().digest);
    assert!(now.binding().version > before.binding().version + 1);
}

#[tokio::test]
async fn watched_prefix_and_watched_key_alert_on_their_bindings_only() {
    let log = honest();
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let mut c = config(&server, &log, &dir.path().join("a"));
    c.watch
        .prefixes
        .push("registry.test/acme/tool".parse::<RefPrefix>().unwrap());
    let alerts = run(c).await;
    assert_eq!(kinds(&alerts), [AlertKind::WatchedBinding]);
    let cp = open(&alerts[0].evidence["checkpoint"], &log.verifier());
    let entry = verify_entry(&alerts[0].evidence["entry"], &cp);
    assert!(String::from_utf8(entry).unwrap().contains(TOOL));

    let mut c = config(&server, &log, &dir.path().join("b"));
    c.watch.keys.push(log.publisher.verifier());
    let alerts = run(c).await;
    assert_eq!(alerts.len(), 3, "every binding by the watched key");
    assert!(alerts.iter().all(|a| a.kind == AlertKind::WatchedBinding));
}

#[tokio::test]
async fn checkpoint_with_a_bad_log_signature_is_a_bad_signature() {
    let log = honest();
    let size = log.size();
    let mut files = log.files(size);
    let note = files["checkpoint"].clone();
    files.insert("checkpoint".into(), flip_signature(&note));
    let server = StaticServer::with_files(files);
    let dir = taglog_testkit::tempdir();
    let mut m = Monitor::open(config(&server, &log, dir.path())).unwrap();
    assert!(m.poll().await.is_err());
    let alerts = m.sink().delivered.clone();
    assert_eq!(kinds(&alerts), [AlertKind::BadSignature]);
    assert!(SignedCheckpoint::open(
        alerts[0].evidence["checkpoint"]
            .as_str()
            .unwrap()
            .as_bytes(),
        &log.verifier()
    )
    .is_err());
}

#[tokio::test]
async fn larger_checkpoint_the_log_does_not_serve_is_a_fork_risk() {
    let log = honest();
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let witness = StaticServer::start();
    witness.put(
        &checkpoint_path(ORIGIN),
        log.sign_other(size + 3, sha256(b"hidden entries")),
    );
    let dir = taglog_testkit::tempdir();
    let mut c = config(&server, &log, dir.path());
    c.witness_urls.push(witness.url.clone());
    let mut m = Monitor::open(c).unwrap();
    let alerts = m.run_once().await.unwrap();
    assert_eq!(kinds(&alerts), [AlertKind::ForkRisk]);
    let cp = open(&alerts[0].evidence["checkpoint"], &log.verifier());
    assert_eq!(cp.checkpoint().size(), size + 3);
    // The log's own checkpoint was still verified and replayed.
    assert_eq!(m.state().replayed, size);
}

#[tokio::test]
async fn stale_checkpoint_and_merge_delay() {
    let log = honest();
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let mut c = config(&server, &log, dir.path());
    c.now = Some(log.time + 7200);
    let alerts = run(c).await;
    assert_eq!(kinds(&alerts), [AlertKind::StaleCheckpoint]);

    let mut log = CraftedLog::admitting();
    let p = log.publisher.clone();
    log.bind_signed(APP, digest(1), 1, log.time - 1000, &p);
    let size = log.commit();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let alerts = run(config(&server, &log, dir.path())).await;
    assert_eq!(kinds(&alerts), [AlertKind::MmdViolation]);
    let ev = &alerts[0].evidence;
    let cp = open(&ev["checkpoint"], &log.verifier());
    verify_entry(&ev["entry"], &cp);
    verify_entry(&ev["state"], &cp);
}

#[test]
fn parallel_signature_checks_find_exactly_what_sequential_checks_find() {
    use taglog_monitor::replay::Replayer;
    let mut log = CraftedLog::admitting();
    let beta = keys::ed25519("beta.test", 5);
    for i in 0..700 {
        log.bind(&format!("registry.test/acme/a{}:1", i % 300), digest(i));
        if i % 100 == 99 {
            log.state();
        }
    }
    log.admit("registry.test/beta", &beta.verifier());
    for i in 0..100 {
        log.bind_signed(
            &format!("registry.test/beta/b{i}:1"),
            digest(i),
            1,
            log.time,
            &beta,
        );
    }
    log.remove("registry.test/beta", &beta.verifier());
    log.bind_signed("registry.test/beta/late:1", digest(1), 1, log.time, &beta);
    log.admit("registry.test/beta", &beta.verifier());
    log.admit("registry.test/beta", &beta.verifier()); // duplicate add
    let b = taglog_proofs::binding::Binding {
        log: ORIGIN.into(),
        reference: "registry.test/beta/flip:1".parse().unwrap(),
        digest: digest(3),
        version: 1,
        time: log.time,
    };
    let entry = taglog_proofs::binding::sign_binding(&b, &beta).unwrap();
    log.push_binding(&b, flip_signature(&entry));
    for i in 0..100 {
        log.bind_signed(
            &format!("registry.test/beta/c{i}:1"),
            digest(i),
            1,
            log.time,
            &beta,
        );
    }
    log.commit();

    let mut one = Replayer::new(ORIGIN);
    let sequential: Vec<_> = log
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| one.check(i as u64, e).unwrap().violations)
        .collect();
    let bad = sequential.iter().filter(|f| !f.is_empty()).count();
    assert_eq!(bad, 3, "late binding, duplicate add, flipped signature");
    for threads in [0, 1, 2, 3, 8] {
        for chunk in [1usize, 7, 64, 300, 5000] {
            let mut many = Replayer::new(ORIGIN);
            many.set_verify_threads(threads);
            let mut got = Vec::new();
            for (n, part) in log.entries.chunks(chunk).enumerate() {
                let start = (n * chunk) as u64;
                got.extend(
                    many.check_many(start, part)
                        .unwrap()
                        .into_iter()
                        .map(|c| c.violations),
                );
            }
            assert_eq!(got, sequential, "threads {threads}, chunk {chunk}");
            assert_eq!(many.state(), one.state());
        }
    }

    // The same over the monitor's map on disk: the sequential path and the pipelined one
    // give the same violations, map roots at every state leaf and saved state.
    use taglog_monitor::replay::ReplayState;
    use taglog_monitor::store::ReplayDb;
    let dir = taglog_testkit::tempdir();
    let mut runs = Vec::new();
    for (n, (threads, chunk)) in [(1usize, 5000usize), (2, 5000), (8, 300), (3, 777)]
        .into_iter()
        .enumerate()
    {
        let db = ReplayDb::open(&dir.path().join(n.to_string())).unwrap();
        let mut r = Replayer::on_disk(ORIGIN, &ReplayState::default(), db).unwrap();
        r.set_verify_threads(threads);
        let mut got = Vec::new();
        for (k, part) in log.entries.chunks(chunk).enumerate() {
            got.extend(
                r.check_many((k * chunk) as u64, part)
                    .unwrap()
                    .into_iter()
                    .map(|c| c.violations),
            );
        }
        assert_eq!(got, sequential, "on disk: threads {threads}, chunk {chunk}");
        runs.push(r.state());
    }
    assert!(runs.windows(2).all(|w| w[0] == w[1]));
    assert!(runs[0].map_version.is_some());
}

#[tokio::test]
async fn every_verified_checkpoint_must_end_in_a_state_leaf_even_when_passed_mid_replay() {
    let mut log = CraftedLog::admitting();
    for i in 0..10 {
        log.bind(&format!("registry.test/acme/a{i}:1"), digest(i));
    }
    let a = log.sign(); // no state leaf before this checkpoint
    log.bind(APP, digest(1));
    let b = log.commit();
    let server = StaticServer::with_files(log.files(a));
    let dir = taglog_testkit::tempdir();
    let mut c = config(&server, &log, dir.path());
    c.max_entries = Some(3);
    let mut m = Monitor::open(c.clone()).unwrap();
    assert!(m.poll().await.unwrap().alerts.is_empty());
    assert_eq!((m.state().verified_size(), m.state().replayed), (a, 3));
    drop(m);
    server.set_all(log.files(b));
    c.max_entries = None;
    let alerts = run(c).await;
    assert_eq!(kinds(&alerts), [AlertKind::MalformedEntry]);
    assert_eq!(alerts[0].index, Some(a - 1));
    assert!(alerts[0].message.contains("does not end in a state leaf"));
}

#[tokio::test]
async fn entries_that_change_after_verification_are_a_tile_mismatch_and_not_replayed() {
    let mut log = honest();
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let mut c = config(&server, &log, dir.path());
    c.max_entries = Some(3);
    let mut m = Monitor::open(c.clone()).unwrap();
    assert!(m.poll().await.unwrap().alerts.is_empty());
    assert_eq!((m.state().verified_size(), m.state().replayed), (size, 3));
    // Restarted (nothing read earlier is kept in memory), the mirror now serves other bytes
    // for an entry the monitor already verified.
    drop(m);
    let mut m = Monitor::open(c).unwrap();
    log.entries[4] = log.entries[3].clone();
    let files = log.files(size);
    for (path, bytes) in files {
        if path.starts_with("tile/") {
            server.put(&path, bytes);
        }
    }
    let r = m.poll().await.unwrap();
    assert_eq!(kinds(&r.alerts), [AlertKind::TileMismatch]);
    assert!(r.alerts[0].evidence["reason"]
        .as_str()
        .unwrap()
        .contains("differs from the verified one"));
    assert_eq!(m.state().replayed, 3, "nothing unverified was replayed");
}
