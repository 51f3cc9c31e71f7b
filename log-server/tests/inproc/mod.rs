//! In-process harness for the fault tests: a log started on a shared `MemoryStore`, signed
//! submissions, and a full check of the stored log (every leaf hash, every stored hash on the
//! way to the root, the signed checkpoint, the state leaf, and every leaf replayed through the
//! rule book as a monitor does), after Sunlight's `CheckLog`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

use std::sync::Arc;

use taglog_proofs::binding::{sign_binding, Binding, DigestValue, SignedBinding};
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::hash::leaf_hash;
use taglog_proofs::leaves::StateLeaf;
use taglog_proofs::note::{KeyType, SignerKey};
use taglog_proofs::rules::{Ledger, MemoryMap};
use taglog_proofs::tree::{stored_hash_index, tree_root, HashReader as _};
use taglog_server::config::LogConfig;
use taglog_server::log::allowlist::Allowlist;
use taglog_server::log::sequencer::{Outcome, Submission};
use taglog_server::log::{Log, Running};
use taglog_server::metrics::Metrics;
use taglog_server::store::{LogStore, MemoryStore, StoredHashes};

pub const ORIGIN: &str = "localhost/taglog";
pub const PREFIX: &str = "registry.example/acme";

/// The log key (deterministic).
pub fn log_key() -> SignerKey {
    SignerKey::from_seed(ORIGIN.parse().unwrap(), KeyType::Ed25519, [3u8; 32])
}

/// The publisher key (deterministic).
pub fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.example/acme".parse().unwrap(),
        KeyType::Ed25519,
        [7u8; 32],
    )
}

/// A log configuration for in-process tests: no witnesses, a long idle refresh.
pub fn config() -> LogConfig {
    let mut c = LogConfig::new(log_key());
    c.witness_refresh = std::time::Duration::from_secs(3600);
    c
}

/// Starts a log on `store` and logs the test allowlist.
pub async fn start(store: &Arc<MemoryStore>) -> Running {
    let running = Log::start(config(), store.clone(), Arc::new(Metrics::default())).unwrap();
    let list = Allowlist::parse(
        &format!("publisher {PREFIX} {}\n", publisher().verifier()),
        ORIGIN,
    )
    .unwrap();
    running.log().apply_allowlist(list).await.unwrap();
    running
}

/// A verified submission of `reference` at `version` with a digest made of `digest`.
pub fn submission(reference: &str, version: u64, digest: u8) -> Submission {
    let b = Binding {
        log: ORIGIN.into(),
        reference: format!("{PREFIX}/{reference}").parse().unwrap(),
        digest: DigestValue::Sha256([digest; 32]),
        version,
        time: 1_764_000_000,
    };
    let entry = sign_binding(&b, &publisher()).unwrap();
    let signed = SignedBinding::parse(&entry).unwrap();
    Submission::new(signed, &[publisher().verifier()])
}

/// Submits and returns the index of an `Added` or `Duplicate` outcome, or the outcome.
pub async fn submit(log: &Log, s: Submission) -> Result<u64, Outcome> {
    match log.submit(s).await.unwrap() {
        Outcome::Added { index } | Outcome::Duplicate { index } => Ok(index),
        other => Err(other),
    }
}

/// Checks the whole stored log against its signed checkpoint; returns its size.
pub fn check_log(store: &dyn LogStore) -> u64 {
    let size = store.size().unwrap();
    if size == 0 {
        return 0;
    }
    let note = store.checkpoint(size).unwrap().expect("no checkpoint");
    let signed = SignedCheckpoint::open(&note, &log_key().verifier()).unwrap();
    assert_eq!(signed.checkpoint().size(), size);
    let hashes = StoredHashes::new(store);
    assert_eq!(
        tree_root(size, &hashes).unwrap(),
        signed.checkpoint().root()
    );
    let entries = store.entries(0, size).unwrap();
    let leaf_indexes: Vec<u64> = (0..size).map(|i| stored_hash_index(0, i)).collect();
    let stored = hashes.read_hashes(&leaf_indexes).unwrap();
    for (i, (e, h)) in entries.iter().zip(&stored).enumerate() {
        assert_eq!(leaf_hash(e), *h, "leaf {i} does not match its stored hash");
        assert_eq!(
            store.dedup(h).unwrap(),
            Some(i as u64),
            "dedup row of leaf {i}"
        );
    }
    let state = StateLeaf::parse(entries.last().unwrap()).unwrap();
    assert_eq!(state.size, size - 1);
    // The rule book, replaying every leaf as the monitor does, finds nothing wrong.
    let mut ledger = Ledger::new(ORIGIN, MemoryMap::new());
    for (i, e) in (0u64..).zip(&entries) {
        let checked = ledger.check(i, e, None).unwrap();
        assert!(
            checked.violations.is_empty(),
            "leaf {i}: {:?}",
            checked.violations
        );
        if let Some(size) = store.checkpoint(i + 1).unwrap().map(|_| i + 1) {
            assert_eq!(ledger.end_checkpoint(size), None);
        }
    }
    size
}
