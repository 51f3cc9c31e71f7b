//! The sequencer under storage faults, through the memory backend: after every injected
//! fault nothing signed or acknowledged is lost or contradicted, nothing unsigned is
//! published, and a new log on the same store (a restart) recovers.
//!
//! - a commit that fails ("failed, not persisted", "persisted, but reported failed", ENOSPC,
//!   EIO) acknowledges nothing, publishes nothing past the durable size, halts sequencing
//!   without writing more; a restart on the same store answers every acknowledged binding
//!   with its index, keeps every signed checkpoint byte for byte and extends it consistently;
//! - a disk that stays full keeps a restarted log from acknowledging anything;
//! - a read error while deciding refuses that submission and writes nothing; one while
//!   integrating halts without a commit;
//! - a read error at any read of the start stops the start and changes nothing, and so does
//!   a stored tag map that is not the one the last signed state leaf commits to;
//! - with a real witness and quorum 1, a failed write of the cosignatures ("failed, not
//!   persisted", "persisted, but reported failed") never makes the published head run ahead
//!   of the durably stored published checkpoint; the next checkpoint is published, and a
//!   restart serves the stored one with its cosignature.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod inproc;

use std::collections::BTreeMap;
use std::sync::Arc;

use inproc::*;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::consistency::{consistency_proof, verify_consistency};
use taglog_server::config::WitnessConfig;
use taglog_server::log::allowlist::Allowlist;
use taglog_server::log::check::Inconsistency;
use taglog_server::log::halt::HaltReason;
use taglog_server::log::heads::Head;
use taglog_server::log::sequencer::{Outcome, Unavailable};
use taglog_server::log::{Log, OpenError, Running};
use taglog_server::metrics::Metrics;
use taglog_server::store::memory::{Effect, Fault, Op, Schedule};
use taglog_server::store::{LogStore, MemoryStore, StoreError, StoredHashes};
use taglog_testkit::witness::Witness;

/// A read error of the tree size at start must stop the start, not be taken for an empty
/// log: a sequencer that believed size 0 would sign a second tree (issue 12, finding 6).
#[tokio::test(flavor = "multi_thread")]
async fn a_size_read_error_at_start_is_not_an_empty_log() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    submit(running.log(), submission("app:1", 1, 1))
        .await
        .unwrap();
    running.stop().await.unwrap();
    let before = store.state();
    assert!(before.size > 2);

    // Every size read after the first one at start fails.
    store.inject(Fault {
        op: Op::Size,
        effect: Effect::Eio,
        schedule: Schedule::From(store.calls(Op::Size) + 2),
    });
    let started = Log::start(config(), store.clone(), Arc::new(Metrics::default()));
    let err = match started {
        Ok(running) => {
            running.stop().await.unwrap();
            panic!("the log started although its size could not be read");
        }
        Err(e) => e,
    };
    assert!(
        matches!(err, OpenError::Store(StoreError::Io(ref e)) if e.raw_os_error() == Some(5)),
        "{err}"
    );
    assert_eq!(store.state(), before, "a failed start changed the store");
    store.clear_faults();
    let running = Log::start(config(), store.clone(), Arc::new(Metrics::default())).unwrap();
    assert_eq!(running.log().heads().committed().unwrap().size, before.size);
    running.stop().await.unwrap();
    assert_eq!(check_log(store.as_ref() as &dyn LogStore), before.size);
}

const COMMIT_FAULTS: [Effect; 4] = [
    Effect::FailNotPersisted,
    Effect::PersistedButFailed,
    Effect::NoSpace,
    Effect::Eio,
];

fn is_halted_by_storage(o: &Outcome) -> bool {
    matches!(o, Outcome::Unavailable(Unavailable::Halted(r)) if matches!(**r, HaltReason::Storage(_)))
}

/// The published head shows only a durably committed checkpoint: its size is at most the
/// stored size and its note is the stored checkpoint of that size (with cosignatures, if any).
fn assert_published_is_durable(running: &Running, store: &MemoryStore) {
    let Some(p) = running.log().heads().published() else {
        return;
    };
    let state = store.state();
    assert!(
        p.size <= state.size,
        "published {} > stored {}",
        p.size,
        state.size
    );
    let stored = &state.checkpoints[&p.size];
    assert!(
        p.note.starts_with(stored),
        "the published note of size {} is not the stored checkpoint",
        p.size
    );
}

/// Every checkpoint signed before is still stored byte for byte, and the stored tree extends
/// each of them (consistency proofs from the stored hashes verify against the newest root).
fn assert_checkpoints_kept(store: &MemoryStore, before: &BTreeMap<u64, Vec<u8>>) {
    let state = store.state();
    let key = log_key().verifier();
    let newest = SignedCheckpoint::open(&state.checkpoints[&state.size], &key).unwrap();
    let hashes = StoredHashes::new(store);
    for (size, note) in before {
        assert_eq!(
            state.checkpoints.get(size),
            Some(note),
            "checkpoint {size} changed"
        );
        let old = SignedCheckpoint::open(note, &key).unwrap();
        let proof = consistency_proof(*size, state.size, &hashes).unwrap();
        verify_consistency(
            *size,
            state.size,
            &old.checkpoint().root(),
            &newest.checkpoint().root(),
            &proof,
        )
        .unwrap_or_else(|e| panic!("checkpoint {size} -> {}: {e}", state.size));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_commit_loses_nothing_acknowledged_and_publishes_nothing_uncommitted() {
    for effect in COMMIT_FAULTS {
        let store = Arc::new(MemoryStore::new());
        let running = start(&store).await;
        let a = submission("app:1", 1, 1);
        let a_leaf = a.binding.leaf_hash();
        let a_index = submit(running.log(), a).await.unwrap();
        let signed = store.state().checkpoints;
        let before = store.state();
        let published = running.log().heads().published().unwrap();
        assert_eq!(published.size, before.size);

        store.inject(Fault {
            op: Op::Commit,
            effect,
            schedule: Schedule::Next(1),
        });
        let b = submission("app:1", 2, 2);
        let b_leaf = b.binding.leaf_hash();
        let outcome = running.log().submit(b).await.unwrap();
        assert!(is_halted_by_storage(&outcome), "{effect:?}: {outcome:?}");
        let after = store.state();
        if effect == Effect::PersistedButFailed {
            assert!(
                after.size > before.size,
                "{effect:?}: the commit was not persisted"
            );
        } else {
            assert_eq!(
                after, before,
                "{effect:?}: a failed commit changed the store"
            );
        }
        // Nothing past what was published before: the failed batch was never confirmed.
        assert_eq!(
            running.log().heads().published().unwrap().size,
            published.size
        );
        assert_eq!(
            running.log().heads().committed().unwrap().size,
            published.size
        );
        assert_published_is_durable(&running, &store);

        // Halted: nothing more is decided or written, not even a good submission.
        let c = running
            .log()
            .submit(submission("app:2", 1, 3))
            .await
            .unwrap();
        assert!(is_halted_by_storage(&c), "{effect:?}: {c:?}");
        assert_eq!(store.state(), after, "{effect:?}: a halted log wrote");
        running.stop().await.unwrap();

        // A restart on the same store recovers from what is durable.
        store.clear_faults();
        let running = start(&store).await;
        assert_eq!(check_log(store.as_ref()), after.size);
        assert_checkpoints_kept(&store, &signed);
        let log = running.log();
        assert_eq!(
            log.heads().published().unwrap().size,
            after.size,
            "{effect:?}"
        );
        assert_published_is_durable(&running, &store);
        let retry_a = log.submit(submission("app:1", 1, 1)).await.unwrap();
        assert!(
            matches!(retry_a, Outcome::Duplicate { index } if index == a_index),
            "{effect:?}: {retry_a:?}"
        );
        let retry_b = log.submit(submission("app:1", 2, 2)).await.unwrap();
        if effect == Effect::PersistedButFailed {
            // Logged though never acknowledged: a retry gets its index, not a second leaf.
            assert!(
                matches!(retry_b, Outcome::Duplicate { index } if index == after.dedup[&b_leaf]),
                "{effect:?}: {retry_b:?}"
            );
            assert_eq!(
                store.state().size,
                after.size,
                "{effect:?}: a retry was logged twice"
            );
        }
        assert_eq!(store.state().dedup[&a_leaf], a_index);
        submit(log, submission("app:2", 1, 3)).await.unwrap();
        assert_published_is_durable(&running, &store);
        running.stop().await.unwrap();
        assert_checkpoints_kept(&store, &after.checkpoints);
        check_log(store.as_ref());
    }
}

/// A disk that stays full: the first failure halts; a restart on the still-full disk
/// acknowledges and publishes nothing new; once space is back, a restart goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_acknowledges_nothing_until_space_is_back() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    let a_index = submit(running.log(), submission("app:1", 1, 1))
        .await
        .unwrap();
    let before = store.state();
    store.inject(Fault {
        op: Op::Commit,
        effect: Effect::NoSpace,
        schedule: Schedule::From(store.calls(Op::Commit) + 1),
    });
    let o = running
        .log()
        .submit(submission("app:1", 2, 2))
        .await
        .unwrap();
    assert!(is_halted_by_storage(&o), "{o:?}");
    running.stop().await.unwrap();
    for _ in 0..2 {
        let running = start(&store).await;
        let o = running
            .log()
            .submit(submission("app:1", 2, 2))
            .await
            .unwrap();
        assert!(is_halted_by_storage(&o), "{o:?}");
        assert_eq!(running.log().heads().published().unwrap().size, before.size);
        // What was acknowledged is still answered, from the index, while halted.
        assert_eq!(
            store
                .dedup(&submission("app:1", 1, 1).binding.leaf_hash())
                .unwrap(),
            Some(a_index)
        );
        running.stop().await.unwrap();
        assert_eq!(store.state(), before);
    }
    store.clear_faults();
    let running = start(&store).await;
    submit(running.log(), submission("app:1", 2, 2))
        .await
        .unwrap();
    assert_published_is_durable(&running, &store);
    running.stop().await.unwrap();
    assert_checkpoints_kept(&store, &before.checkpoints);
    check_log(store.as_ref());
}

/// A read error while deciding a submission refuses it (503, not a verdict) and writes
/// nothing; the log goes on. A read error while integrating an admitted batch (map groups,
/// tree hashes) halts before anything is signed or written.
#[tokio::test(flavor = "multi_thread")]
async fn read_errors_refuse_or_halt_and_write_nothing() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    let log = running.log();
    submit(log, submission("app:1", 1, 1)).await.unwrap();
    let before = store.state();

    store.inject(Fault {
        op: Op::Read,
        effect: Effect::Eio,
        schedule: Schedule::Next(1),
    });
    let o = log.submit(submission("app:1", 2, 2)).await.unwrap();
    assert!(
        matches!(o, Outcome::Unavailable(Unavailable::Store(_))),
        "{o:?}"
    );
    assert_eq!(store.state(), before);
    assert_eq!(log.halted().map(|h| h.to_string()), None);
    let index = submit(log, submission("app:1", 2, 2)).await.unwrap();
    assert!(index >= before.size);
    let before = store.state();

    // The decision reads (dedup, the ref's latest binding) succeed; the integration's fail.
    store.inject(Fault {
        op: Op::Read,
        effect: Effect::Eio,
        schedule: Schedule::From(store.calls(Op::Read) + 3),
    });
    let o = log.submit(submission("app:2", 1, 3)).await.unwrap();
    assert!(is_halted_by_storage(&o), "{o:?}");
    assert_eq!(store.state(), before);
    assert_eq!(log.heads().published().unwrap().size, before.size);
    running.stop().await.unwrap();
    store.clear_faults();

    let running = start(&store).await;
    submit(running.log(), submission("app:2", 1, 3))
        .await
        .unwrap();
    running.stop().await.unwrap();
    assert_checkpoints_kept(&store, &before.checkpoints);
    check_log(store.as_ref());
}

/// Every read the start makes, failing, stops the start: none is taken for "nothing stored".
#[tokio::test(flavor = "multi_thread")]
async fn a_read_error_anywhere_in_the_start_stops_it() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    submit(running.log(), submission("app:1", 1, 1))
        .await
        .unwrap();
    running.stop().await.unwrap();
    let before = store.state();
    let reads_before = store.calls(Op::Read);
    let running = Log::start(config(), store.clone(), Arc::new(Metrics::default())).unwrap();
    running.stop().await.unwrap();
    let reads = store.calls(Op::Read) - reads_before;
    assert!(reads >= 5, "the start read only {reads} times");
    for k in 1..=reads {
        store.inject(Fault {
            op: Op::Read,
            effect: Effect::Eio,
            schedule: Schedule::At(store.calls(Op::Read) + k),
        });
        let started = Log::start(config(), store.clone(), Arc::new(Metrics::default()));
        store.clear_faults();
        match started {
            Ok(running) => {
                running.stop().await.unwrap();
                panic!("the log started although its read {k} of {reads} failed");
            }
            Err(e) => assert!(
                e.to_string().contains("Input/output error"),
                "read {k}: {e}"
            ),
        }
        assert_eq!(
            store.state(),
            before,
            "a failed start (read {k}) changed the store"
        );
    }
}

/// Waits (with a deadline, not a timing assertion) until the published head has `size`.
async fn published_at_least(running: &Running, size: u64) -> Head {
    let mut rx = running.log().heads().watch_published();
    let wait = rx.wait_for(|h| h.as_ref().is_some_and(|h| h.size >= size));
    let head = match tokio::time::timeout(std::time::Duration::from_secs(30), wait).await {
        Ok(Ok(h)) => h.clone(),
        _ => None,
    };
    head.unwrap_or_else(|| panic!("no checkpoint of size ≥ {size} was published"))
}

/// The published head is never ahead of the durably stored published checkpoint, and it
/// carries the stored cosignatures.
fn assert_published_is_stored(running: &Running, store: &MemoryStore, witness: &Witness) {
    let Some(p) = running.log().heads().published() else {
        return;
    };
    let state = store.state();
    assert!(
        p.size <= state.published,
        "published head {} ahead of the stored published size {}",
        p.size,
        state.published
    );
    let cosigs = &state.cosignatures[&p.size];
    assert!(!cosigs.is_empty());
    let text = String::from_utf8(p.note.to_vec()).unwrap();
    assert!(
        text.ends_with(std::str::from_utf8(cosigs).unwrap()),
        "{text}"
    );
    let name = witness.verifier().name().to_string();
    assert!(text.contains(&format!("\u{2014} {name} ")), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_cosignature_write_never_publishes_ahead_of_the_store() {
    let witness = Witness::start(41, "witness.example/w1", &log_key().verifier().to_string());
    let mut cfg = config();
    cfg.witnesses = vec![WitnessConfig {
        key: witness.verifier(),
        url: witness.url.clone(),
    }];
    cfg.witness_quorum = 1;
    let store = Arc::new(MemoryStore::new());
    let start_witnessed = || {
        let running = Log::start(cfg.clone(), store.clone(), Arc::new(Metrics::default())).unwrap();
        let list = Allowlist::parse(
            &format!("publisher {PREFIX} {}\n", publisher().verifier()),
            ORIGIN,
        )
        .unwrap();
        (running, list)
    };
    let (running, list) = start_witnessed();
    running.log().apply_allowlist(list).await.unwrap();
    submit(running.log(), submission("app:1", 1, 1))
        .await
        .unwrap();
    let size = store.state().size;
    published_at_least(&running, size).await;
    assert_published_is_stored(&running, &store, &witness);

    for (n, effect) in [Effect::FailNotPersisted, Effect::PersistedButFailed]
        .into_iter()
        .enumerate()
    {
        let n = n as u64;
        store.inject(Fault {
            op: Op::Publish,
            effect,
            schedule: Schedule::Next(1),
        });
        let published = running.log().heads().published().unwrap().size;
        let calls = store.calls(Op::Publish);
        // Durable and acknowledged: the commit goes through; only recording its cosignature
        // fails.
        submit(running.log(), submission("app:1", 2 + 2 * n, 2))
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while store.calls(Op::Publish) == calls {
            assert!(
                std::time::Instant::now() < deadline,
                "the witness never cosigned"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            running.log().heads().published().unwrap().size,
            published,
            "{effect:?}: published although its cosignatures were not recorded"
        );
        assert_published_is_stored(&running, &store, &witness);
        // The next checkpoint is published once its cosignatures are stored.
        submit(running.log(), submission("app:1", 3 + 2 * n, 3))
            .await
            .unwrap();
        let size = store.state().size;
        published_at_least(&running, size).await;
        assert_published_is_stored(&running, &store, &witness);
    }
    running.stop().await.unwrap();

    // A restart serves the stored published checkpoint with its cosignature.
    let stored = store.state().published;
    let (running, _) = start_witnessed();
    assert_eq!(running.log().heads().published().unwrap().size, stored);
    assert_published_is_stored(&running, &store, &witness);
    running.stop().await.unwrap();
    check_log(store.as_ref());
}

/// A store whose tag map is not the one its last signed state leaf commits to (here: the map
/// rows of another log of the same size) must not start: its next state leaves would carry
/// roots that no monitor recomputes.
#[tokio::test(flavor = "multi_thread")]
async fn a_map_that_contradicts_the_signed_state_leaf_stops_the_start() {
    let mut states = Vec::new();
    for digest in [1, 2] {
        let store = Arc::new(MemoryStore::new());
        let running = start(&store).await;
        submit(running.log(), submission("app:1", 1, digest))
            .await
            .unwrap();
        running.stop().await.unwrap();
        states.push(store.state());
    }
    let (mine, other) = (states[0].clone(), &states[1]);
    assert_eq!(mine.size, other.size);
    assert_ne!(mine.map, other.map);
    let mut damaged = mine.clone();
    damaged.map = other.map.clone();
    let store = Arc::new(MemoryStore::with_state(damaged.clone()));
    let err = match Log::start(config(), store.clone(), Arc::new(Metrics::default())) {
        Ok(running) => {
            running.stop().await.unwrap();
            panic!("the log started on a map its state leaf does not commit to");
        }
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            OpenError::Inconsistent(Inconsistency::MapRootMismatch { .. })
        ),
        "{err}"
    );
    assert_eq!(store.state(), damaged);
    // The same store with its own map starts.
    let store = Arc::new(MemoryStore::with_state(mine));
    let running = Log::start(config(), store.clone(), Arc::new(Metrics::default())).unwrap();
    running.stop().await.unwrap();
}
