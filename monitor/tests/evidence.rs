//! The monitor never drops an alert because evidence for it cannot be fetched (issue 12,
//! finding 5): a rebind to an old digest and a merge-delay violation whose earlier binding
//! the log no longer serves are still raised, with the evidence the monitor's verified tree
//! holds (index, leaf hash, inclusion proof) and why the entry bytes are missing.
//!
//! Each log is replayed in two polls (`max_entries`): the first checks the full first tile,
//! then the log stops serving that tile, and the second poll meets the entry that refers
//! back into it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::Value;
use taglog_monitor::alerts::{Alert, AlertKind};
use taglog_monitor::{Config, Monitor};
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::hash::Hash;
use taglog_proofs::inclusion::verify_inclusion;
use taglog_testkit::bindings::digest;
use taglog_testkit::crafted::CraftedLog;
use taglog_testkit::static_server::StaticServer;

const APP: &str = "registry.test/acme/app:1";

/// Fills the log with bindings of other refs up to `size` entries.
fn fill_to(log: &mut CraftedLog, size: u64) {
    let mut i = 0;
    while log.size() < size {
        log.bind(&format!("registry.test/acme/fill{i}:1"), digest(1000 + i));
        i += 1;
    }
}

/// Polls once, replaying at most 256 entries (the first tile), then removes that tile from
/// the server and polls again; returns the second poll's alerts.
async fn two_polls(log: &CraftedLog, size: u64) -> Vec<Alert> {
    let mut files = log.files(size);
    let server = StaticServer::with_files(files.clone());
    let dir = taglog_testkit::tempdir();
    let mut c = Config::new(&server.url, log.verifier(), dir.path().to_path_buf());
    c.now = Some(log.time + 10);
    c.max_entries = Some(256);
    let mut m = Monitor::open(c.clone()).unwrap();
    assert!(m.run_once().await.unwrap().is_empty());
    assert_eq!(m.state().replayed, 256);
    drop(m);
    assert!(files.remove("tile/entries/000").is_some());
    server.set_all(files);
    c.max_entries = None;
    let mut m = Monitor::open(c).unwrap();
    let alerts = m.run_once().await.unwrap();
    assert_eq!(
        m.state().replayed,
        size,
        "the replay completed and was saved"
    );
    alerts
}

/// The evidence of an entry the log no longer serves: no bytes, the reason, and a leaf hash
/// with an inclusion proof that verifies against the signed checkpoint.
fn assert_unavailable(ev: &Value, index: u64, log: &CraftedLog) {
    assert_eq!(ev["index"].as_u64(), Some(index), "{ev}");
    assert!(ev["entry"].is_null(), "{ev}");
    let reason = ev["entry_unavailable"].as_str().unwrap();
    assert!(
        reason.contains("404") || reason.contains("not found"),
        "{reason}"
    );
    let leaf = Hash::from_base64(ev["leaf_hash"].as_str().unwrap()).unwrap();
    assert_eq!(
        leaf,
        taglog_proofs::hash::leaf_hash(&log.entries[index as usize])
    );
    let size = ev["size"].as_u64().unwrap();
    let proof: Vec<Hash> = ev["inclusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    let cp = SignedCheckpoint::open(&log.checkpoints[&size], &log.verifier()).unwrap();
    verify_inclusion(index, size, &leaf, &proof, &cp.checkpoint().root()).unwrap();
}

#[tokio::test]
async fn a_rebind_to_an_old_digest_is_raised_when_the_earlier_binding_is_gone() {
    let mut log = CraftedLog::admitting();
    let first = log.bind(APP, digest(1));
    log.bind(APP, digest(2));
    fill_to(&mut log, 300);
    log.bind(APP, digest(1)); // back to the first digest, in the second tile
    let size = log.commit();
    let alerts = two_polls(&log, size).await;
    let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [AlertKind::RebindToOldDigest]);
    assert_unavailable(&alerts[0].evidence["previous"], first, &log);
    // The rebinding entry itself is served, with its bytes.
    assert!(alerts[0].evidence["entry"]["entry"].is_string());
}

#[tokio::test]
async fn a_merge_delay_violation_is_raised_when_the_late_binding_is_gone() {
    let mut log = CraftedLog::admitting();
    fill_to(&mut log, 255);
    let p = log.publisher.clone();
    // Entry 255 (last of the first tile), signed 1000 s before the state leaf after it.
    let late = log.bind_signed(APP, digest(1), 1, log.time - 1000, &p);
    assert_eq!(late, 255);
    let size = log.commit();
    let alerts = two_polls(&log, size).await;
    let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [AlertKind::MmdViolation]);
    let ev = &alerts[0].evidence;
    let binding = ev
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, v)| v["index"].as_u64() == Some(late))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no evidence for entry {late}: {ev}"));
    assert_unavailable(&binding, late, &log);
}
