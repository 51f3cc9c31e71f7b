//! Pruning of the tag map's superseded node groups, through the real sequencer on the memory
//! backend (whose commits keep the storage contract the RocksDB backend keeps):
//!
//! - after many rebinds, the map holds exactly the groups of the versions still needed (the
//!   published head and the one before the last commit), nothing else, and every binding's
//!   `/lookup` bundle at the head verifies;
//! - a pinned head keeps its map version readable however far the log goes on, and it goes
//!   with the first commit after the pin is dropped; a head below the floor cannot be pinned;
//! - a commit that fails while pruning (not persisted, persisted but reported failed, ENOSPC,
//!   EIO) deletes all or nothing of it, and a restart on the same store goes on pruning with
//!   every lookup verifying;
//! - a cosigned checkpoint whose map a later run without witnesses pruned is not served again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod inproc;

use std::collections::BTreeSet;
use std::sync::Arc;

use inproc::*;
use taglog_proofs::binding::DigestValue;
use taglog_proofs::hash::Hash;
use taglog_proofs::map::{Child, NodeGroup, NodeKey};
use taglog_proofs::policy::Policy;
use taglog_proofs::verify::{verify, VerifyRequest};
use taglog_server::config::WitnessConfig;
use taglog_server::log::allowlist::Allowlist;
use taglog_server::log::heads::Head;
use taglog_server::log::reads::lookup;
use taglog_server::log::{Log, Running};
use taglog_server::metrics::Metrics;
use taglog_server::store::memory::{Effect, Fault, Op, Schedule};
use taglog_server::store::MemoryStore;
use taglog_testkit::witness::Witness;

const REFS: u64 = 5;

/// The digest byte of `app:{r}` at `version`.
fn digest(r: u64, version: u64) -> u8 {
    (r * 40 + version) as u8
}

/// Rebinds every ref `rounds` times, one commit per submission, from version `from`.
async fn rebind(running: &Running, from: u64, rounds: u64) {
    for v in from..from + rounds {
        for r in 0..REFS {
            submit(
                running.log(),
                submission(&format!("app:{r}"), v, digest(r, v)),
            )
            .await
            .unwrap();
        }
    }
}

/// The map versions whose root group is stored.
fn root_versions(store: &MemoryStore) -> BTreeSet<u64> {
    store
        .state()
        .map
        .keys()
        .map(|k| NodeKey::from_bytes(k).unwrap())
        .filter(|k| k.nibbles() == 0)
        .map(|k| k.version())
        .collect()
}

/// `path` with nibble `n` set to `slot`.
fn with_nibble(path: &Hash, n: u8, slot: u8) -> Hash {
    let mut p = *path;
    let byte = &mut p.0[usize::from(n / 2)];
    *byte = if n.is_multiple_of(2) {
        (*byte & 0x0f) | (slot << 4)
    } else {
        (*byte & 0xf0) | slot
    };
    p
}

/// Every stored group key that the maps of `versions` read.
fn reachable(store: &MemoryStore, versions: &BTreeSet<u64>) -> BTreeSet<Vec<u8>> {
    let state = store.state();
    let mut seen = BTreeSet::new();
    let mut queue: Vec<NodeKey> = versions.iter().map(|&v| NodeKey::root(v)).collect();
    while let Some(key) = queue.pop() {
        let bytes = key.to_bytes();
        let group = NodeGroup::from_bytes(
            state
                .map
                .get(&bytes)
                .unwrap_or_else(|| panic!("group {key:?} is missing")),
        )
        .unwrap();
        seen.insert(bytes);
        for (slot, child) in group.children() {
            if let Child::Subtree { version, .. } = child {
                let path = with_nibble(key.path(), key.nibbles(), *slot);
                queue.push(NodeKey::new(*version, &path, key.nibbles() + 1));
            }
        }
    }
    seen
}

/// The map holds exactly the groups read by the versions from `floor` on (plus the head's),
/// and only versions from `floor` on have a root.
fn assert_only_needed_groups(store: &MemoryStore, floor: u64) {
    let roots = root_versions(store);
    let size = store.state().size;
    assert!(
        roots.contains(&size),
        "the head's map is missing: {roots:?}"
    );
    assert!(
        roots.iter().all(|&v| v >= floor),
        "versions below {floor} kept: {roots:?}"
    );
    let stored: BTreeSet<Vec<u8>> = store.state().map.keys().cloned().collect();
    assert_eq!(
        stored,
        reachable(store, &roots),
        "groups no kept version reads are stored"
    );
    // Every record of a superseded group is above the floor and names a stored group.
    for (at, key) in &store.state().map_stale {
        assert!(*at > floor, "record superseded at {at} ≤ {floor} kept");
        assert!(store.state().map.contains_key(key));
    }
}

/// Every ref's `/lookup` bundle at `head` verifies and names its newest binding.
fn assert_lookups_verify(running: &Running, head: &Head, newest: u64) {
    let log = running.log();
    let policy = Policy::parse(
        format!(
            "log {}\nquorum none\npublisher {PREFIX} {}\n",
            log_key().verifier(),
            publisher().verifier()
        )
        .as_bytes(),
    )
    .unwrap();
    for r in 0..REFS {
        let reference = format!("{PREFIX}/app:{r}").parse().unwrap();
        let bundle = lookup(
            log.store().as_ref(),
            log.state_proofs(),
            head,
            &reference,
            None,
        )
        .unwrap();
        let want = DigestValue::Sha256([digest(r, newest); 32]);
        let req = VerifyRequest::stateless(
            &policy,
            &bundle,
            &reference,
            Some(&want),
            taglog_server::log::now_unix(),
        );
        let verdict = verify(&req).unwrap_or_else(|e| panic!("app:{r} at {}: {e}", head.size));
        assert_eq!(verdict.digest, want);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rebinding_keeps_only_the_map_versions_still_needed() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    rebind(&running, 1, 12).await;
    let head = running.log().heads().published().unwrap();
    // Without witnesses the head is published after each commit: the last commit pruned
    // below the head before it.
    let before_last = head.size - 2; // one binding and its state leaf per commit
    assert_eq!(
        root_versions(&store),
        BTreeSet::from([before_last, head.size])
    );
    assert_only_needed_groups(&store, before_last);
    assert_lookups_verify(&running, &head, 12);
    running.stop().await.unwrap();
    assert_eq!(check_log(store.as_ref()), head.size);

    // A restart checks the head's map against its state leaf and goes on pruning.
    let running = start(&store).await;
    rebind(&running, 13, 3).await;
    let head = running.log().heads().published().unwrap();
    assert_only_needed_groups(&store, head.size - 2);
    assert_lookups_verify(&running, &head, 15);
    running.stop().await.unwrap();
    check_log(store.as_ref());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_head_keeps_its_map_version_until_released() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    rebind(&running, 1, 2).await;
    let heads = running.log().heads();
    let pinned = heads.published_pinned().unwrap();
    let old: Head = (*pinned).clone();
    rebind(&running, 3, 6).await;
    assert!(heads.published().unwrap().size > old.size + 10);
    assert!(root_versions(&store).contains(&old.size));
    assert_only_needed_groups(&store, old.size);
    // The old head still answers, with the bindings it covers.
    assert_lookups_verify(&running, &pinned, 2);
    assert!(heads.prune_floor() <= old.size);

    drop(pinned);
    rebind(&running, 9, 1).await;
    let head = heads.published().unwrap();
    assert!(!root_versions(&store).contains(&old.size));
    assert_only_needed_groups(&store, head.size - 2);
    assert!(
        heads.pin(old.clone()).is_none(),
        "a head below the floor was pinned"
    );
    let again = heads.pin(head.clone()).unwrap();
    assert_lookups_verify(&running, &again, 9);
    drop(again);
    running.stop().await.unwrap();
    check_log(store.as_ref());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_commit_prunes_all_or_nothing_and_a_restart_goes_on() {
    for effect in [
        Effect::FailNotPersisted,
        Effect::PersistedButFailed,
        Effect::NoSpace,
        Effect::Eio,
    ] {
        let store = Arc::new(MemoryStore::new());
        let running = start(&store).await;
        rebind(&running, 1, 3).await;
        let before = store.state();
        let stale_due = before.map_stale.iter().filter(|(at, _)| *at <= before.size);
        assert!(stale_due.count() > 0, "{effect:?}: nothing to prune");
        store.inject(Fault {
            op: Op::Commit,
            effect,
            schedule: Schedule::Next(1),
        });
        let failed = submit(running.log(), submission("app:0", 4, digest(0, 4))).await;
        assert!(failed.is_err(), "{effect:?}: {failed:?}");
        let after = store.state();
        if effect == Effect::PersistedButFailed {
            assert!(after.size > before.size, "{effect:?}");
            assert!(after.map_pruned > before.map_pruned, "{effect:?}");
        } else {
            assert_eq!(
                after, before,
                "{effect:?}: a failed commit changed the store"
            );
        }
        running.stop().await.unwrap();

        store.clear_faults();
        let running = start(&store).await;
        let first = if effect == Effect::PersistedButFailed {
            5
        } else {
            4
        };
        if first == 5 {
            // The persisted binding of app:0 at 4 is logged: bring the others to 4 too.
            for r in 1..REFS {
                submit(
                    running.log(),
                    submission(&format!("app:{r}"), 4, digest(r, 4)),
                )
                .await
                .unwrap();
            }
        }
        rebind(&running, first, 2).await;
        let head = running.log().heads().published().unwrap();
        assert_only_needed_groups(&store, head.size - 2);
        assert_lookups_verify(&running, &head, first + 1);
        running.stop().await.unwrap();
        check_log(store.as_ref());
    }
}

/// A log that published a cosigned checkpoint, then ran without witnesses (pruning the map of
/// that checkpoint), then gets its witnesses back: it never serves the old checkpoint whose
/// map is gone, and serves lookups again once the witness cosigns the committed head.
#[tokio::test(flavor = "multi_thread")]
async fn a_cosigned_checkpoint_whose_map_was_pruned_is_not_served_again() {
    let witness = Witness::start(43, "witness.example/w1", &log_key().verifier().to_string());
    let mut witnessed = config();
    witnessed.witnesses = vec![WitnessConfig {
        key: witness.verifier(),
        url: witness.url.clone(),
    }];
    witnessed.witness_quorum = 1;
    let store = Arc::new(MemoryStore::new());
    let list = || {
        Allowlist::parse(
            &format!("publisher {PREFIX} {}\n", publisher().verifier()),
            ORIGIN,
        )
        .unwrap()
    };
    let running = Log::start(
        witnessed.clone(),
        store.clone(),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    running.log().apply_allowlist(list()).await.unwrap();
    for r in 0..REFS {
        submit(
            running.log(),
            submission(&format!("app:{r}"), 1, digest(r, 1)),
        )
        .await
        .unwrap();
    }
    let size = store.state().size;
    let mut heads = running.log().heads().watch_published();
    heads
        .wait_for(|h| h.as_ref().is_some_and(|h| h.size >= size))
        .await
        .unwrap();
    running.stop().await.unwrap();
    let cosigned = store.state().published;
    assert!(cosigned > 0);

    let running = start(&store).await;
    rebind(&running, 2, 3).await;
    running.stop().await.unwrap();
    assert!(!root_versions(&store).contains(&cosigned));

    let running = Log::start(witnessed, store.clone(), Arc::new(Metrics::default())).unwrap();
    let heads = running.log().heads();
    assert!(
        heads.published().is_none_or(|h| h.size > cosigned),
        "the checkpoint whose map was pruned is served"
    );
    let committed = store.state().size;
    let mut watch = heads.watch_published();
    let head = watch
        .wait_for(|h| h.as_ref().is_some_and(|h| h.size >= committed))
        .await
        .unwrap()
        .clone()
        .unwrap();
    assert_lookups_verify(&running, &head, 4);
    running.stop().await.unwrap();
}
