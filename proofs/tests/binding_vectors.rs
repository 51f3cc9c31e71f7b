//! binding.json (DESIGN §3.4, §3.5) and the log-small log against `taglog_proofs::binding`
//! and `taglog_proofs::leaves`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;

use serde_json::Value;
use taglog_proofs::binding::{
    check_version, sign_binding, BindingError, SignedBinding, MAX_FIRST_VERSION,
};
use taglog_proofs::hash::Hash;
use taglog_proofs::leaves::{Leaf, PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_proofs::refs::RefPrefix;

fn vectors(rel: &str) -> String {
    format!("{}/tests/vectors/taglog/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn load(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(vectors(rel)).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// Everything `valid` means in binding.json, in the order a log checks it.
fn accept(note: &[u8], origin: &str, key: &VerifierKey) -> Result<SignedBinding, BindingError> {
    let b = SignedBinding::parse(note)?;
    b.check_log(origin)?;
    b.verify(key)?;
    Ok(b)
}

#[test]
fn bindings_json() {
    let v = load("binding.json");
    let origin = s(&v["log_origin"]);
    let vkey: VerifierKey = s(&v["publisher"]["vkey"]).parse().unwrap();
    let signer: SignerKey = s(&v["publisher"]["private_key"]).parse().unwrap();
    assert_eq!(signer.verifier(), vkey);
    let other: VerifierKey = s(&v["other_key"]["vkey"]).parse().unwrap();

    let (mut valid, mut invalid) = (0, 0);
    for case in v["bindings"].as_array().unwrap() {
        let name = s(&case["name"]);
        let note = s(&case["note"]).as_bytes();
        let got = accept(note, origin, &vkey);
        if !case["valid"].as_bool().unwrap() {
            invalid += 1;
            assert!(got.is_err(), "{name}: accepted");
            assert!(Leaf::parse(note).is_err() || SignedBinding::parse(note).is_ok());
            continue;
        }
        valid += 1;
        let sb = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        let b = sb.binding();
        let f = &case["fields"];
        assert_eq!(b.log, s(&f["log"]), "{name}");
        assert_eq!(b.reference.as_str(), s(&f["ref"]), "{name}");
        assert_eq!(b.digest.to_string(), s(&f["digest"]), "{name}");
        assert_eq!(b.version.to_string(), s(&f["version"]), "{name}");
        assert_eq!(b.time, f["time"].as_u64().unwrap(), "{name}");
        let want = Hash::from_base64(s(&case["leaf_hash"])).unwrap();
        assert_eq!(sb.leaf_hash(), want, "{name}");
        assert_eq!(sb.entry(), note);
        assert_eq!(sb.signer(), (vkey.name(), vkey.id()));
        // Ed25519 is deterministic: re-signing the parsed fields gives the same bytes.
        assert_eq!(sign_binding(b, &signer).unwrap(), note, "{name}");
        // The other key with the same name is a different signer.
        assert!(matches!(
            sb.verify(&other),
            Err(BindingError::WrongSigner { .. })
        ));
        assert_eq!(
            sb.verify_any(&[other.clone(), vkey.clone()]).unwrap(),
            &vkey
        );
        match Leaf::parse(note).unwrap() {
            Leaf::Binding(x) => assert_eq!(x, sb),
            other => panic!("{name}: parsed as {other:?}"),
        }
        // Cases with a context are judged on their own; here is the context rule.
        let first_ok = check_version(None, b.version).is_ok();
        assert_eq!(first_ok, b.version <= MAX_FIRST_VERSION, "{name}");
        assert!(
            check_version(Some(b.version - 1), b.version).is_ok(),
            "{name}"
        );
    }
    assert_eq!((valid, invalid), (12, 38));
}

#[test]
fn state_leaves_json() {
    let v = load("binding.json");
    let (mut valid, mut invalid) = (0, 0);
    for case in v["state_leaves"].as_array().unwrap() {
        let name = s(&case["name"]);
        let entry = s(&case["entry"]).as_bytes();
        let got = StateLeaf::parse(entry);
        if case["valid"].as_bool().unwrap() {
            valid += 1;
            let leaf = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            leaf.validate().unwrap();
            assert_eq!(leaf.to_text().as_bytes(), entry, "{name}");
            assert_eq!(Leaf::parse(entry).unwrap(), Leaf::State(leaf));
        } else {
            invalid += 1;
            assert!(got.is_err(), "{name}: accepted");
            assert!(Leaf::parse(entry).is_err(), "{name}: accepted as a leaf");
        }
    }
    assert_eq!((valid, invalid), (3, 15));
}

#[test]
fn publisher_leaves_json() {
    let v = load("binding.json");
    let vkey: VerifierKey = s(&v["publisher"]["vkey"]).parse().unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for case in v["publisher_leaves"].as_array().unwrap() {
        let name = s(&case["name"]);
        let entry = s(&case["entry"]).as_bytes();
        let got = PublisherLeaf::parse(entry);
        if case["valid"].as_bool().unwrap() {
            valid += 1;
            let leaf = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            leaf.validate().unwrap();
            assert_eq!(leaf.key, vkey);
            assert_eq!(leaf.to_text().as_bytes(), entry, "{name}");
            assert_eq!(Leaf::parse(entry).unwrap(), Leaf::Publisher(leaf));
        } else {
            invalid += 1;
            assert!(got.is_err(), "{name}: accepted");
            assert!(Leaf::parse(entry).is_err(), "{name}: accepted as a leaf");
        }
    }
    assert_eq!((valid, invalid), (10, 21));
}

/// Reads an entry bundle: `u16 BE length ‖ entry`, repeated, nothing after the last one.
fn decode_bundle(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        out.push(bytes[2..2 + len].to_vec());
        bytes = &bytes[2 + len..];
    }
    out
}

#[test]
fn log_small_entries() {
    let keys = load("log-small/keys.json");
    let origin = s(&keys["origin"]);
    let size = keys["size"].as_u64().unwrap();
    let publishers: Vec<VerifierKey> = keys["publishers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| s(k).parse().unwrap())
        .collect();
    let bundle = std::fs::read(vectors("log-small/tile/entries/000.p/31")).unwrap();
    let entries = decode_bundle(&bundle);
    assert_eq!(entries.len() as u64, size);
    // The level-0 hash tile holds the leaf hashes in order.
    let tile = std::fs::read(vectors("log-small/tile/0/000.p/31")).unwrap();
    assert_eq!(tile.len(), entries.len() * 32);

    let mut allowed: Vec<(RefPrefix, VerifierKey)> = Vec::new();
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    let mut withdrawn = std::collections::BTreeSet::new();
    let (mut bindings, mut states, mut changes) = (0, 0, 0);
    let mut last_time = 0;
    for (index, entry) in entries.iter().enumerate() {
        let leaf = Leaf::parse(entry).unwrap_or_else(|e| panic!("leaf {index}: {e}"));
        assert_eq!(leaf.to_bytes(), *entry);
        assert_eq!(leaf.leaf_hash().0, tile[index * 32..index * 32 + 32]);
        match leaf {
            Leaf::Binding(sb) => {
                bindings += 1;
                sb.check_log(origin).unwrap();
                let key = sb.verify_any(&publishers).unwrap();
                let b = sb.binding();
                assert!(
                    allowed
                        .iter()
                        .any(|(p, k)| k == key && p.matches(&b.reference)),
                    "leaf {index}: {key} not admitted for {}",
                    b.reference
                );
                let prev = versions.insert(b.reference.to_string(), b.version);
                check_version(prev, b.version).unwrap();
                if b.digest.is_withdrawn() {
                    withdrawn.insert(b.reference.to_string());
                }
            }
            Leaf::State(st) => {
                states += 1;
                assert_eq!(st.size, index as u64);
                assert!(st.time >= last_time);
                last_time = st.time;
            }
            Leaf::Publisher(p) => {
                changes += 1;
                assert!(p.time >= last_time);
                last_time = p.time;
                let pair = (p.prefix.clone(), p.key.clone());
                match p.change {
                    PublisherChange::Add => {
                        assert!(!allowed.contains(&pair));
                        allowed.push(pair);
                    }
                    PublisherChange::Remove => {
                        assert!(allowed.contains(&pair));
                        allowed.retain(|x| x != &pair);
                    }
                }
            }
        }
    }
    assert_eq!((bindings, states, changes), (24, 3, 4));
    assert_eq!(versions.len(), 6);
    // One ref is withdrawn (three times in a row, each a new version).
    assert_eq!(withdrawn.len(), 1);
    for f in [1, 7, 100, MAX_FIRST_VERSION] {
        assert!(entries.iter().any(|e| {
            let text = String::from_utf8_lossy(e);
            text.contains(&format!("\nversion {f}\n"))
        }));
    }
}
