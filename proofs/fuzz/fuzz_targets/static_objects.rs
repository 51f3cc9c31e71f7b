//! Static objects (issue 15): `ObjectPath::parse` accepts only canonical paths (round trip);
//! `MapObject::open` never panics, and an object that opens (at the address it hashes to, at
//! the depth the first input byte picks) re-encodes to exactly its bytes (format 1 or 2, with
//! locators) and opens nowhere else, and every object below it has a locator whose cut of
//! any body never panics; `EdgeObject::parse` never panics, and an edge object that parses (for the size its
//! bytes name) re-encodes to exactly its bytes and parses for no other size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::hash::Hash;
use taglog_proofs::static_layout::{EdgeObject, MapObject, MapObjectError, ObjectPath};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = ObjectPath::parse(s) {
            assert_eq!(p.to_path(), s, "object path does not re-encode");
        }
    }
    // The size the edge object is fetched for: the one its bytes name, so that the fuzzer
    // reaches past the size check.
    let size = data
        .get(1..9)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes);
    if let Ok(edge) = EdgeObject::parse(data, size) {
        assert_eq!(
            edge.to_bytes().ok().as_deref(),
            Some(data),
            "edge object does not re-encode"
        );
        assert!(EdgeObject::parse(data, size.wrapping_add(1)).is_err());
    }
    let Some((&depth, bytes)) = data.split_first() else {
        return;
    };
    let nibbles = (depth % 32) * 2;
    // The path the object is checked against: the first key found in it, or zeros.
    let path = bytes
        .get(5..37)
        .and_then(Hash::from_slice)
        .unwrap_or(Hash::ZERO);
    match MapObject::open(&Hash::ZERO, nibbles, &path, bytes) {
        Err(MapObjectError::AddressMismatch { computed, .. }) => {
            let o = MapObject::open(&computed, nibbles, &path, bytes)
                .expect("an object opens at the address it hashes to");
            assert_eq!(o.to_bytes(), bytes, "map object does not re-encode");
            assert_eq!(o.address(), computed);
            for (a, _, _) in o.children() {
                let at = o.locator(&a).expect("every object below has a locator");
                let _ = at.cut(true, bytes);
                let _ = at.cut(false, bytes);
                let _ = at.range_header();
            }
            let _ = o.leaves();
            let _ = o.next_for(&path);
        }
        Ok(_) => panic!("an object opened at the zero address"),
        Err(_) => {}
    }
});
