//! Map storage bytes (read back from the server's database): `NodeKey::from_bytes`,
//! `NodeGroup::from_bytes` and `MapValue::from_bytes` never panic, accepted bytes re-encode
//! to the same bytes, and a parsed group's root hash is computed without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::map::{MapValue, NodeGroup, NodeKey};

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = NodeKey::from_bytes(data) {
        assert_eq!(k.to_bytes(), data, "node key does not re-encode");
    }
    if let Ok(v) = MapValue::from_bytes(data) {
        assert_eq!(v.to_bytes().as_slice(), data);
    }
    if let Ok(g) = NodeGroup::from_bytes(data) {
        assert_eq!(g.to_bytes(), data, "node group does not re-encode");
        let _ = g.root_hash();
    }
});
