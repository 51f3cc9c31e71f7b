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
