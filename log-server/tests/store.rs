//! The storage contract (`store::LogStore`), one suite run on both backends: RocksDB (also
//! across a reopen) and memory; then the memory backend's fault injection itself, since the
//! fault tests of the sequencer rely on it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::hash::Hash;
use taglog_server::store::memory::{Effect, Fault, Op, Schedule};
use taglog_server::store::{
    Batch, CheckpointRow, Corruption, HistoryItem, LogStore, MemoryStore, NewEntry, PublisherRow,
    RocksStore, StaleGroup, StoreError, MAX_MAP_PRUNE_PER_COMMIT,
};
use taglog_testkit::tempdir;

fn h(b: u8) -> Hash {
    Hash([b; 32])
}

/// A batch of `n` leaves on top of `old_size` (contents are opaque to the store).
fn batch(old_size: u64, n: u64, tag: u8) -> Batch {
    let size = old_size + n;
    Batch {
        old_size,
        entries: (old_size..size)
            .map(|i| NewEntry {
                index: i,
                bytes: format!("leaf {i} {tag}").into_bytes(),
                leaf_hash: h(i as u8 ^ tag),
            })
            .collect(),
        hashes: (old_size..size).map(|i| (i * 2, h(i as u8))).collect(),
        map_nodes: vec![(format!("node {size}").into_bytes(), vec![tag; 3])],
        map_stale: Vec::new(),
        map_prune_through: 0,
        history: vec![(
            h(0xAA),
            HistoryItem {
                version: size,
                index: size - 1,
                leaf_hash: h(tag),
            },
        )],
        publishers: vec![PublisherRow {
            prefix: "registry.example/acme".into(),
            vkey: format!("key{tag}"),
            add: true,
        }],
        checkpoint: CheckpointRow {
            size,
            time: 1000 + size,
            note: format!("checkpoint {size}").into_bytes(),
        },
    }
}

/// Stored index of the first hash at level 8 (the subtree of leaves 0..256), a level the
/// RocksDB backend also keeps in memory.
const UPPER: u64 = 510;

fn contract(store: &dyn LogStore) {
    assert_eq!(store.size().unwrap(), 0);
    assert_eq!(store.last_time().unwrap(), 0);
    assert_eq!(store.published_size().unwrap(), 0);
    assert_eq!(store.halt().unwrap(), None);
    assert!(store.publishers().unwrap().is_empty());

    store.commit(&batch(0, 3, 1)).unwrap();
    assert_eq!(store.size().unwrap(), 3);
    assert_eq!(store.last_time().unwrap(), 1003);
    assert_eq!(store.entry(1).unwrap().unwrap(), b"leaf 1 1");
    assert_eq!(store.entry(3).unwrap(), None);
    assert_eq!(store.entries(0, 3).unwrap().len(), 3);
    assert!(matches!(
        store.entries(2, 2),
        Err(StoreError::Corrupt(Corruption::MissingEntry(3)))
    ));
    assert_eq!(store.hashes(&[4, 0]).unwrap(), vec![h(2), h(0)]);
    assert!(matches!(
        store.hashes(&[1]),
        Err(StoreError::Corrupt(Corruption::MissingHash(1)))
    ));
    assert_eq!(store.dedup(&h(0)).unwrap(), Some(1)); // leaf 1 of tag 1: h(1 ^ 1)
    assert_eq!(store.dedup(&h(0xEE)).unwrap(), None);
    assert_eq!(store.map_node(b"node 3").unwrap(), Some(vec![1; 3]));
    assert_eq!(store.checkpoint(3).unwrap().unwrap(), b"checkpoint 3");
    assert_eq!(store.checkpoint(2).unwrap(), None);

    // A commit planned on a stale size writes nothing.
    let before = snapshot(store);
    for stale in [0, 2, 4] {
        let e = store.commit(&batch(stale, 1, 9)).unwrap_err();
        assert!(
            matches!(e, StoreError::SizeMismatch { planned, stored: 3 } if planned == stale),
            "{e}"
        );
    }
    assert_eq!(snapshot(store), before);
    // Nor does one carrying a hash of the tree's upper levels (which RocksDB keeps in memory
    // too): it is not readable afterwards.
    let mut refused = batch(2, 1, 9);
    refused.hashes.push((UPPER, h(0x51)));
    assert!(store.commit(&refused).is_err());
    assert!(matches!(
        store.hashes(&[UPPER]),
        Err(StoreError::Corrupt(Corruption::MissingHash(UPPER)))
    ));

    // History: newest first for latest, oldest first (from a version) for pages.
    let mut b = batch(3, 2, 2);
    b.publishers[0].add = false;
    b.publishers[0].vkey = "key1".into();
    b.publishers.push(PublisherRow {
        prefix: "registry.example/other".into(),
        vkey: "key2".into(),
        add: true,
    });
    b.hashes.push((UPPER, h(0x52)));
    store.commit(&b).unwrap();
    assert_eq!(
        store.hashes(&[4, UPPER, 0]).unwrap(),
        vec![h(2), h(0x52), h(0)]
    );
    let latest = store.ref_latest(&h(0xAA)).unwrap().unwrap();
    assert_eq!((latest.version, latest.index), (5, 4));
    assert_eq!(store.ref_latest(&h(0xAB)).unwrap(), None);
    let page = store.ref_history(&h(0xAA), 0, 10).unwrap();
    assert_eq!(page.iter().map(|i| i.version).collect::<Vec<_>>(), [3, 5]);
    assert_eq!(store.ref_history(&h(0xAA), 4, 10).unwrap().len(), 1);
    assert_eq!(store.ref_history(&h(0xAA), 0, 1).unwrap().len(), 1);
    assert_eq!(
        store.publishers().unwrap(),
        vec![("registry.example/other".to_string(), "key2".to_string())]
    );

    // The published size never goes back.
    store.publish(3, b"cosig 3\n").unwrap();
    store.publish(5, b"cosig 5\n").unwrap();
    let e = store.publish(3, b"again\n").unwrap_err();
    assert!(matches!(
        e,
        StoreError::PublishedRegression {
            size: 3,
            published: 5
        }
    ));
    assert_eq!(store.published_size().unwrap(), 5);
    assert_eq!(store.cosignatures(3).unwrap(), b"cosig 3\n");
    assert_eq!(store.cosignatures(4).unwrap(), b"");

    store.set_halt(Some(b"fork-risk evidence")).unwrap();
    assert_eq!(store.halt().unwrap().unwrap(), b"fork-risk evidence");
}

/// What a reader sees of the whole store (for "nothing changed" checks).
fn snapshot(store: &dyn LogStore) -> Vec<Vec<u8>> {
    let size = store.size().unwrap();
    let mut out = vec![
        size.to_be_bytes().to_vec(),
        store.last_time().unwrap().to_be_bytes().to_vec(),
        store.published_size().unwrap().to_be_bytes().to_vec(),
        store.halt().unwrap().unwrap_or_default(),
        format!("{:?}", store.publishers().unwrap()).into_bytes(),
        format!("{:?}", store.ref_history(&h(0xAA), 0, 100).unwrap()).into_bytes(),
    ];
    out.extend(store.entries(0, size).unwrap());
    out.push(store.checkpoint(size).unwrap().unwrap_or_default());
    out
}

#[test]
fn memory_store_keeps_the_contract() {
    contract(&MemoryStore::new());
}

#[test]
fn rocks_store_keeps_the_contract_across_a_reopen() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let before = {
        let store = RocksStore::open(&data).unwrap();
        contract(&store);
        // One directory, one store: a second open is refused while the first lives.
        assert!(matches!(
            RocksStore::open(&data),
            Err(StoreError::Locked(_))
        ));
        store.set_halt(None).unwrap();
        assert_eq!(store.halt().unwrap(), None);
        snapshot(&store)
    };
    let store = RocksStore::open(&data).unwrap();
    assert_eq!(snapshot(&store), before);
    assert_eq!(store.cosignatures(5).unwrap(), b"cosig 5\n");
    assert_eq!(store.hashes(&[UPPER, 4]).unwrap(), vec![h(0x52), h(2)]);
}

fn group(version: u64, i: usize) -> Vec<u8> {
    format!("group {version} {i}").into_bytes()
}

fn stale(superseded_at: u64, key: Vec<u8>) -> StaleGroup {
    StaleGroup { superseded_at, key }
}

/// Superseded map groups are deleted only by a commit that asks for them, only up to the
/// version it names, at most `MAX_MAP_PRUNE_PER_COMMIT` per commit (the rest by the next), and
/// never by a commit that is refused. Leaves the store at size 4 with `group 1 extra` pruned
/// through version 3 and `group 2 0` still recorded as superseded at 4.
fn pruning(store: &dyn LogStore) {
    // Size 1 writes many groups; size 2 supersedes all but one of them and writes its own;
    // size 3 supersedes one group of size 2.
    let many = MAX_MAP_PRUNE_PER_COMMIT + 5;
    let mut b = batch(0, 1, 1);
    b.map_nodes = (0..many).map(|i| (group(1, i), vec![1])).collect();
    b.map_nodes.push((group(1, usize::MAX), vec![1]));
    store.commit(&b).unwrap();
    let mut b = batch(1, 1, 2);
    b.map_nodes = vec![(group(2, 0), vec![2]), (group(2, 1), vec![2])];
    b.map_stale = (0..many).map(|i| stale(2, group(1, i))).collect();
    store.commit(&b).unwrap();
    let mut b = batch(2, 1, 3);
    b.map_stale = vec![stale(3, group(2, 1))];
    b.map_prune_through = 1; // nothing was superseded at or below 1
    store.commit(&b).unwrap();
    assert_eq!(store.map_node(&group(1, 0)).unwrap(), Some(vec![1]));
    assert_eq!(store.map_node(&group(2, 1)).unwrap(), Some(vec![2]));

    // A refused commit deletes nothing, whatever it asks.
    let mut refused = batch(0, 1, 9);
    refused.map_prune_through = 3;
    assert!(matches!(
        store.commit(&refused),
        Err(StoreError::SizeMismatch { .. })
    ));
    assert_eq!(store.map_node(&group(1, 0)).unwrap(), Some(vec![1]));

    // Through 2: the groups superseded at 2, at most the per-commit limit of them, oldest
    // first; the one superseded at 3 stays.
    let mut b = batch(3, 1, 4);
    b.map_stale = vec![stale(4, group(2, 0))];
    b.map_prune_through = 2;
    store.commit(&b).unwrap();
    let left: Vec<usize> = (0..many)
        .filter(|&i| store.map_node(&group(1, i)).unwrap().is_some())
        .collect();
    assert_eq!(left.len(), many - MAX_MAP_PRUNE_PER_COMMIT, "{left:?}");
    assert_eq!(store.map_node(&group(2, 1)).unwrap(), Some(vec![2]));
    assert_eq!(
        store.map_node(&group(1, usize::MAX)).unwrap(),
        Some(vec![1])
    );
    assert_eq!(store.entry(3).unwrap().unwrap(), b"leaf 3 4");

    // Through 3: the rest of version 2's and the one superseded at 3; never a group that was
    // not recorded as superseded, nor one superseded later.
    let mut b = batch(4, 1, 5);
    b.map_prune_through = 3;
    store.commit(&b).unwrap();
    for i in 0..many {
        assert_eq!(store.map_node(&group(1, i)).unwrap(), None, "group 1 {i}");
    }
    assert_eq!(store.map_node(&group(2, 1)).unwrap(), None);
    assert_eq!(store.map_node(&group(2, 0)).unwrap(), Some(vec![2]));
    assert_eq!(
        store.map_node(&group(1, usize::MAX)).unwrap(),
        Some(vec![1])
    );
    assert_eq!(store.map_node(b"node 5").unwrap(), Some(vec![5; 3]));
}

#[test]
fn memory_store_prunes_only_what_a_commit_asks_for() {
    let store = MemoryStore::new();
    pruning(&store);
    let state = store.state();
    assert_eq!(state.map_pruned, 3);
    assert_eq!(
        state.map_stale.into_iter().collect::<Vec<_>>(),
        vec![(4, group(2, 0))]
    );
}

#[test]
fn rocks_store_prunes_only_what_a_commit_asks_for_across_a_reopen() {
    let dir = tempdir();
    let data = dir.path().join("data");
    {
        let store = RocksStore::open(&data).unwrap();
        pruning(&store);
    }
    // The record of `group 2 0` survived the reopen: pruning through 4 deletes it.
    let store = RocksStore::open(&data).unwrap();
    assert_eq!(store.map_node(&group(2, 0)).unwrap(), Some(vec![2]));
    let mut b = batch(5, 1, 6);
    b.map_prune_through = 4;
    store.commit(&b).unwrap();
    assert_eq!(store.map_node(&group(2, 0)).unwrap(), None);
    assert_eq!(
        store.map_node(&group(1, usize::MAX)).unwrap(),
        Some(vec![1])
    );
}

fn errno(e: &StoreError) -> Option<i32> {
    match e {
        StoreError::Io(e) => e.raw_os_error(),
        _ => None,
    }
}

#[test]
fn memory_faults_fire_as_scheduled_with_the_effect_named() {
    let store = MemoryStore::new();
    store.commit(&batch(0, 1, 1)).unwrap();
    let fault = |op, effect, schedule| Fault {
        op,
        effect,
        schedule,
    };

    // Failed, not persisted (twice), then the third try goes through.
    store.inject(fault(
        Op::Commit,
        Effect::FailNotPersisted,
        Schedule::Next(2),
    ));
    let before = store.state();
    for _ in 0..2 {
        let e = store.commit(&batch(1, 1, 2)).unwrap_err();
        assert_eq!(errno(&e), Some(5), "{e}");
        assert_eq!(store.state(), before);
    }
    store.commit(&batch(1, 1, 2)).unwrap();
    assert_eq!(store.size().unwrap(), 2);

    // Persisted, but reported failed: the retry of the same plan now mismatches.
    store.inject(fault(
        Op::Commit,
        Effect::PersistedButFailed,
        Schedule::Next(1),
    ));
    assert_eq!(errno(&store.commit(&batch(2, 1, 3)).unwrap_err()), Some(5));
    assert_eq!(store.size().unwrap(), 3);
    assert!(matches!(
        store.commit(&batch(2, 1, 3)),
        Err(StoreError::SizeMismatch {
            planned: 2,
            stored: 3
        })
    ));

    // ENOSPC from the 7th commit call on, until cleared.
    assert_eq!(store.calls(Op::Commit), 6);
    store.inject(fault(Op::Commit, Effect::NoSpace, Schedule::From(7)));
    for _ in 0..3 {
        let e = store.commit(&batch(3, 1, 4)).unwrap_err();
        assert_eq!(errno(&e), Some(28), "{e}");
    }
    assert_eq!(store.size().unwrap(), 3);
    store.clear_faults();
    store.commit(&batch(3, 1, 4)).unwrap();

    // EIO on reads; writes are not reads.
    store.inject(fault(Op::Read, Effect::Eio, Schedule::Next(2)));
    assert_eq!(errno(&store.size().unwrap_err()), Some(5));
    assert_eq!(errno(&store.entry(0).unwrap_err()), Some(5));
    assert_eq!(store.size().unwrap(), 4);

    // At the k-th read only: the one before and the one after go through.
    store.inject(fault(
        Op::Read,
        Effect::Eio,
        Schedule::At(store.calls(Op::Read) + 2),
    ));
    assert_eq!(store.last_time().unwrap(), 1004);
    assert_eq!(errno(&store.entry(0).unwrap_err()), Some(5));
    assert_eq!(store.last_time().unwrap(), 1004);
    store.clear_faults();

    // Publish and halt writes have their own faults.
    store.inject(fault(
        Op::Publish,
        Effect::PersistedButFailed,
        Schedule::Next(1),
    ));
    assert!(store.publish(4, b"c\n").is_err());
    assert_eq!(store.published_size().unwrap(), 4);
    store.inject(fault(
        Op::SetHalt,
        Effect::FailNotPersisted,
        Schedule::Next(1),
    ));
    assert!(store.set_halt(Some(b"x")).is_err());
    assert_eq!(store.halt().unwrap(), None);
}
