//! The explorer's index paging a tag's versions as a log's `/history` does: by version, at
//! most a page, with the version the next page starts at; leaves at or above the checkpoint's
//! size are not shown; other refs and leaves that do not parse are not mixed in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use taglog_explorer::Index;
use taglog_testkit::bindings::{filled, sign, T0};
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::ORIGIN;

const REF: &str = "registry.example/acme/app:1.5";
const OTHER: &str = "registry.example/acme/app:2";

#[test]
fn versions_page_by_version_below_the_size() {
    let mut index = Index::new();
    // Leaves: REF v1..v5 interleaved with OTHER v1..v5 and a leaf that is not a binding.
    let mut leaves = Vec::new();
    for v in 1..=5 {
        leaves.push(sign(
            &publisher(),
            ORIGIN,
            REF,
            filled(0x10 + u8::try_from(v).unwrap()),
            v,
            T0 + v,
        ));
        leaves.push(sign(
            &publisher(),
            ORIGIN,
            OTHER,
            filled(0x20 + u8::try_from(v).unwrap()),
            v,
            T0 + v,
        ));
    }
    leaves.insert(3, b"not a leaf".to_vec());
    for (i, leaf) in leaves.iter().enumerate() {
        index.feed(i as u64, leaf).unwrap();
    }
    assert_eq!(index.skipped(), 1);
    // REF's leaves: 0, 2, 5, 7, 9 (the junk leaf sits at 3).
    let all = index.versions(REF, 0, 11, 1000);
    assert_eq!(all, (vec![0, 2, 5, 7, 9], None));
    assert_eq!(index.versions(REF, 0, 11, 2), (vec![0, 2], Some(3)));
    assert_eq!(index.versions(REF, 3, 11, 2), (vec![5, 7], Some(5)));
    assert_eq!(index.versions(REF, 5, 11, 2), (vec![9], None));
    // Below a smaller checkpoint the newer versions are not there yet.
    assert_eq!(index.versions(REF, 0, 6, 1000), (vec![0, 2, 5], None));
    assert_eq!(index.versions(REF, 0, 6, 3), (vec![0, 2, 5], None));
    assert_eq!(index.versions(REF, 6, 11, 10), (vec![], None));
    assert_eq!(
        index.versions("registry.example/acme/none:1", 0, 11, 10),
        (vec![], None)
    );
    // Out of order: refused, nothing changes.
    let before = index.size();
    assert!(index.feed(before + 1, &leaves[0]).is_err());
    assert_eq!(index.size(), before);
    assert_eq!(index.versions(REF, 0, 100, 1000).0.len(), 5);
}

/// `n` versions (1..=n) of REF, with one binding of OTHER after each and junk at 3.
fn history_of(n: u64) -> Index {
    let mut index = Index::new();
    let mut leaves = Vec::new();
    for v in 1..=n {
        let d = u8::try_from(v % 200).unwrap();
        leaves.push(sign(&publisher(), ORIGIN, REF, filled(d), v, T0 + v));
        leaves.push(sign(&publisher(), ORIGIN, OTHER, filled(d), v, T0 + v));
    }
    leaves.insert(3, b"not a leaf".to_vec());
    for (i, leaf) in leaves.iter().enumerate() {
        index.feed(i as u64, leaf).unwrap();
    }
    index
}

/// The versions a timeline page shows, by the leaf indexes of `history_of`.
fn shown(index: &Index, t: &taglog_explorer::Timeline) -> Vec<u64> {
    let size = index.size();
    t.indexes
        .iter()
        .map(|&i| {
            let page = index.versions(REF, 0, size, 10_000).0;
            u64::try_from(page.iter().position(|&x| x == i).unwrap()).unwrap() + 1
        })
        .collect()
}

#[test]
fn timeline_pages_newest_first_and_reaches_every_version() {
    let index = history_of(25);
    let size = index.size();
    // Without a cursor: the newest 10, oldest first, the older page 10 back, no newer one.
    let newest = index.timeline(REF, None, size, 10);
    assert_eq!(shown(&index, &newest), (16..=25).collect::<Vec<_>>());
    assert_eq!(
        (
            newest.from,
            newest.first,
            newest.total,
            newest.older,
            newest.newer
        ),
        (16, 15, 25, Some(6), None)
    );
    // Following `older` from the newest page reaches version 1; each page links back.
    let older = index.timeline(REF, newest.older, size, 10);
    assert_eq!(shown(&index, &older), (6..=15).collect::<Vec<_>>());
    assert_eq!(
        (older.first, older.older, older.newer),
        (5, Some(1), Some(16))
    );
    let oldest = index.timeline(REF, older.older, size, 10);
    assert_eq!(shown(&index, &oldest), (1..=10).collect::<Vec<_>>());
    assert_eq!(
        (oldest.first, oldest.older, oldest.newer),
        (0, None, Some(11))
    );
    // Walking the `older` links from the newest page shows every version.
    let mut seen = std::collections::BTreeSet::new();
    let mut page = index.timeline(REF, None, size, 10);
    let mut hops = 0;
    loop {
        seen.extend(shown(&index, &page));
        match page.older {
            Some(c) => page = index.timeline(REF, Some(c), size, 10),
            None => break,
        }
        hops += 1;
        assert!(hops < 10, "the older links loop");
    }
    assert_eq!(seen, (1..=25).collect());
    // And `newer` from version 1 on.
    let mut seen = std::collections::BTreeSet::new();
    let mut page = index.timeline(REF, Some(0), size, 10);
    loop {
        seen.extend(shown(&index, &page));
        match page.newer {
            Some(c) => page = index.timeline(REF, Some(c), size, 10),
            None => break,
        }
    }
    assert_eq!(seen, (1..=25).collect());
    // A cursor past the newest version: an empty page that links back to the newest ones.
    let past = index.timeline(REF, Some(99), size, 10);
    assert_eq!(
        (past.indexes.len(), past.first, past.older, past.newer),
        (0, 25, Some(16), None)
    );
    // Fewer versions than a page: one page, no links.
    let all = index.timeline(REF, None, size, 100);
    assert_eq!(shown(&index, &all), (1..=25).collect::<Vec<_>>());
    assert_eq!((all.from, all.older, all.newer), (1, None, None));
    // Below a smaller checkpoint the newer versions are not there yet: REF v1..v3 lie below
    // leaf 7 (leaves 0, 2, 5).
    let early = index.timeline(REF, None, 7, 2);
    assert_eq!(early.indexes, vec![2, 5]);
    assert_eq!((early.total, early.older, early.newer), (3, Some(1), None));
    // An unknown ref: nothing, no links.
    let none = index.timeline("registry.example/acme/none:1", None, size, 10);
    assert_eq!(none, taglog_explorer::Timeline::default());
}
