//! Tag map vectors (DESIGN §3.6): tests/vectors/taglog/map.json, written by an independent
//! implementation. Every map root is recomputed three ways, every valid proof verifies with
//! the stated result and is reproduced byte for byte by our prover, and every invalid proof is
//! rejected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;

use serde_json::Value;
use taglog_proofs::hash::{sha256, Hash};
use taglog_proofs::map::{
    map_leaf_hash, naive_root, MapLookup, MapProof, MapValue, SparseMap, Terminal,
};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/taglog/map.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn h(v: &Value) -> Hash {
    Hash::from_base64(v.as_str().unwrap()).unwrap()
}

fn entries(map: &Value) -> Vec<(Hash, MapValue)> {
    map["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = sha256(e[0].as_str().unwrap().as_bytes());
            let value = MapValue {
                index: e[1].as_u64().unwrap(),
                version: e[2].as_u64().unwrap(),
                leaf_hash: h(&e[3]),
            };
            (key, value)
        })
        .collect()
}

fn build(map: &Value) -> SparseMap {
    let entries = entries(map);
    let mut one_batch = SparseMap::new();
    one_batch.insert_batch(&entries).unwrap();
    // The same entries one at a time, and in batches of 7, give the same root.
    let mut single = SparseMap::new();
    for (k, v) in &entries {
        single.insert(*k, *v).unwrap();
    }
    let mut chunked = SparseMap::new();
    for chunk in entries.chunks(7) {
        chunked.insert_batch(chunk).unwrap();
    }
    assert_eq!(single.root(), one_batch.root());
    assert_eq!(chunked.root(), one_batch.root());
    let reference: BTreeMap<Hash, Hash> =
        entries.iter().map(|(k, v)| (*k, v.value_hash())).collect();
    assert_eq!(naive_root(&reference), one_batch.root());
    assert_eq!(one_batch.len(), reference.len() as u64);
    one_batch
}

#[test]
fn map_vectors() {
    let v = vectors();
    let (mut maps, mut valid, mut invalid, mut parse_rejects) = (0, 0, 0, 0);
    let mut verify_rejects = 0;
    for map in v["maps"].as_array().unwrap() {
        let name = map["name"].as_str().unwrap();
        let root = h(&map["root"]);
        let sparse = build(map);
        assert_eq!(sparse.root(), root, "map {name}: root");
        assert_eq!(
            sparse.len(),
            map["keys"].as_u64().unwrap(),
            "map {name}: keys"
        );
        if let Some(w) = map.get("worked_example") {
            let value_hash =
                sha256(&taglog_proofs::b64::decode(w["value"].as_str().unwrap()).unwrap());
            assert_eq!(value_hash, h(&w["value_hash"]));
            assert_eq!(map_leaf_hash(&h(&w["key"]), &value_hash), h(&w["leaf"]));
            assert_eq!(h(&w["leaf"]), root);
        }
        maps += 1;
        for case in map["proofs"].as_array().unwrap() {
            let key = h(&case["key"]);
            assert_eq!(key, sha256(case["ref"].as_str().unwrap().as_bytes()));
            let parsed = serde_json::from_value::<MapProof>(case["proof"].clone());
            if case["valid"].as_bool().unwrap() {
                let proof = parsed.unwrap_or_else(|e| panic!("map {name}: {e}"));
                let got = proof.verify(&key, &root).unwrap();
                let exists = case["exists"].as_bool().unwrap();
                match (&got, exists) {
                    (MapLookup::Present(value), true) => {
                        let expected =
                            taglog_proofs::b64::decode(case["value"].as_str().unwrap()).unwrap();
                        assert_eq!(value.to_bytes().to_vec(), expected);
                        assert_eq!(sparse.get(&key).unwrap(), Some(*value));
                    }
                    (MapLookup::Absent, false) => assert_eq!(sparse.get(&key).unwrap(), None),
                    _ => panic!("map {name}: {got:?} but exists = {exists}"),
                }
                let kind = match proof.terminal {
                    Terminal::Value { .. } => "value",
                    Terminal::ValueHash { .. } => "value_hash",
                    Terminal::Empty => "empty",
                };
                assert_eq!(kind, case["terminal"].as_str().unwrap());
                // Our prover gives the identical proof, and it serializes to the same JSON.
                let ours = sparse.prove(&key).unwrap();
                assert_eq!(ours, proof, "map {name}: prover differs");
                assert_eq!(serde_json::to_value(&ours).unwrap(), case["proof"]);
                assert_eq!(ours.to_json(), expected_json(&case["proof"]));
                valid += 1;
            } else {
                let corruption = case["corruption"].as_str().unwrap();
                match parsed {
                    Err(_) => parse_rejects += 1,
                    Ok(proof) => assert!(
                        proof.verify(&key, &root).is_err(),
                        "map {name}: {corruption} accepted"
                    ),
                }
                // verify() alone rejects it too, when the struct can hold it at all.
                if let Some(proof) = lenient(&case["proof"]) {
                    assert!(
                        proof.verify(&key, &root).is_err(),
                        "map {name}: {corruption} accepted by verify"
                    );
                    verify_rejects += 1;
                }
                invalid += 1;
            }
        }
    }
    let mut length = 0;
    for case in v["value_length_proofs"].as_array().unwrap() {
        let key = h(&case["key"]);
        let root = h(&case["root"]);
        let raw = &case["proof"]["terminal"]["value"];
        let value = taglog_proofs::b64::decode(raw.as_str().unwrap()).unwrap();
        assert_ne!(value.len(), 48);
        // The vector is what it claims: the root recomputes from the odd-length value.
        assert_eq!(map_leaf_hash(&key, &sha256(&value)), root);
        assert!(serde_json::from_value::<MapProof>(case["proof"].clone()).is_err());
        let proof = MapProof {
            depth: 0,
            bitmap: vec![],
            siblings: vec![],
            terminal: Terminal::Value { key, value },
        };
        assert!(proof.verify(&key, &root).is_err());
        length += 1;
    }
    assert_eq!((maps, valid, invalid, length), (5, 36, 71, 2));
    // Only the three sibling-not-canonical-base64 cases cannot be held by the struct at all.
    assert_eq!(verify_rejects, invalid - 3);
    eprintln!(
        "map vectors: {invalid} invalid proofs rejected, {parse_rejects} when parsing, \
         {verify_rejects} by verify() on an unchecked struct"
    );
}

/// The compact §3.6 JSON text of a vector proof, members in §3.6 order.
fn expected_json(p: &Value) -> String {
    let j = |v: &Value| serde_json::to_string(v).unwrap();
    let terminal = match &p["terminal"] {
        Value::Object(t) => {
            let (name, val) = t.iter().find(|(k, _)| *k != "key").unwrap();
            format!(
                r#"{{"key":{},{}:{}}}"#,
                j(&t["key"]),
                j(&Value::from(name.as_str())),
                j(val)
            )
        }
        other => j(other),
    };
    format!(
        r#"{{"depth":{},"bitmap":{},"siblings":{},"terminal":{}}}"#,
        j(&p["depth"]),
        j(&p["bitmap"]),
        j(&p["siblings"]),
        terminal
    )
}

/// Builds the struct from a vector proof without the parser's form checks (base64 must still
/// decode; hashes must be 32 bytes), so that verify() is tested on its own.
fn lenient(p: &Value) -> Option<MapProof> {
    let b = |v: &Value| taglog_proofs::b64::decode(v.as_str()?).ok();
    let terminal = match &p["terminal"] {
        Value::String(s) if s == "empty" => Terminal::Empty,
        Value::Object(t) => {
            let key = Hash::from_slice(&b(&t["key"])?)?;
            match (t.get("value"), t.get("value_hash")) {
                (Some(v), None) => Terminal::Value { key, value: b(v)? },
                (None, Some(vh)) => Terminal::ValueHash {
                    key,
                    value_hash: Hash::from_slice(&b(vh)?)?,
                },
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(MapProof {
        depth: u16::try_from(p["depth"].as_u64()?).ok()?,
        bitmap: b(&p["bitmap"])?,
        siblings: p["siblings"]
            .as_array()?
            .iter()
            .map(|s| Hash::from_slice(&b(s)?))
            .collect::<Option<Vec<_>>>()?,
        terminal,
    })
}
