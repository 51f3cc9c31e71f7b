//! Entry bundles: the first byte (plus one if the second byte is odd, so 0..=256 is reachable)
//! is the expected entry count, the rest the bundle; decoding never panics and an accepted
//! bundle re-encodes to the same bytes. The same bytes, taken as a full entry bundle or hash
//! tile, are cut to a partial one of the first byte's width (`partial_from_full`, what a
//! reader does when a log deleted a superseded partial tile): never a panic, and an accepted
//! cut is exactly the first entries or hashes of the full one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::tiles::{
    decode_entry_bundle, encode_entry_bundle, partial_from_full, TileKind, TilePath,
    MAX_BUNDLE_ENTRIES,
};

fuzz_target!(|data: &[u8]| {
    let [count, bump, bundle @ ..] = data else {
        return;
    };
    cut_partial(u16::from(*count), bundle);
    let count = usize::from(*count) + usize::from(bump & 1);
    let Ok(entries) = decode_entry_bundle(bundle, count) else {
        return;
    };
    assert_eq!(entries.len(), count);
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    let encoded = encode_entry_bundle(&refs).expect("decoded entries re-encode");
    assert_eq!(encoded, bundle, "entry bundle does not re-encode");
});

fn cut_partial(width: u16, full: &[u8]) {
    let w = usize::from(width);
    if let Ok(p) = TilePath::new(TileKind::Entries, 7, width) {
        if let Ok(cut) = partial_from_full(&p, full) {
            let all = decode_entry_bundle(full, MAX_BUNDLE_ENTRIES).expect("a cut bundle was full");
            let got = decode_entry_bundle(&cut, w).expect("a cut bundle decodes at its width");
            assert_eq!(
                got.as_slice(),
                all.get(..w).expect("the full bundle is wider")
            );
        }
    }
    if let Ok(p) = TilePath::new(TileKind::Hash { level: 1 }, 7, width) {
        if let Ok(cut) = partial_from_full(&p, full) {
            assert_eq!(full.len(), MAX_BUNDLE_ENTRIES * 32, "a cut tile was full");
            assert_eq!(
                cut.as_slice(),
                full.get(..w * 32).expect("the full tile is wider")
            );
        }
    }
}
