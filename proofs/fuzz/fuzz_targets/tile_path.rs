//! tlog-tiles paths: `TilePath::parse` accepts only canonical spellings (round trip), and the
//! stored-hash indexes of any accepted hash tile are computed without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::tiles::{tile_hash_indexes, TileKind, TilePath};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = TilePath::parse(s) else {
        return;
    };
    assert_eq!(t.to_path(), s, "tile path does not re-encode");
    assert_eq!(TilePath::new(t.kind(), t.index(), t.width()), Ok(t));
    match (t.kind(), tile_hash_indexes(&t)) {
        (TileKind::Hash { .. }, Ok(ix)) => assert_eq!(ix.len(), usize::from(t.width())),
        (TileKind::Entries, Ok(_)) => panic!("an entry bundle has hash indexes"),
        (_, Err(_)) => {}
    }
});
