//! Property tests for `taglog_proofs::binding` and `taglog_proofs::leaves`: parsers never
//! panic, accept only bytes that re-encode to themselves, and parse→to_text round-trips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use taglog_proofs::binding::{sign_binding, Binding, DigestValue, SignedBinding};
use taglog_proofs::hash::Hash;
use taglog_proofs::leaves::{Leaf, PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::note::SignerKey;
use taglog_proofs::num::MAX_TEXT_NUMBER;

const KEY: &str =
    "PRIVATE+KEY+publisher.example+3b942ccf+AeNEPi8kZ0WW7e+Hiwe4/k84NT9n9LmEOga/rw7ix+ci";

fn signer() -> SignerKey {
    KEY.parse().unwrap()
}

fn valid_entries() -> Vec<Vec<u8>> {
    let path = format!(
        "{}/tests/vectors/taglog/binding.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for (list, member) in [
        ("bindings", "note"),
        ("state_leaves", "entry"),
        ("publisher_leaves", "entry"),
    ] {
        for case in v[list].as_array().unwrap() {
            if case["valid"].as_bool().unwrap() {
                out.push(case[member].as_str().unwrap().as_bytes().to_vec());
            }
        }
    }
    out
}

/// What must hold for any input: no panic, and anything accepted re-encodes to itself.
fn check(entry: &[u8]) {
    if let Ok(leaf) = Leaf::parse(entry) {
        assert_eq!(leaf.to_bytes(), entry);
    }
    if let Ok(b) = SignedBinding::parse(entry) {
        assert_eq!(b.entry(), entry);
        assert_eq!(Binding::parse_text(&b.text()).unwrap(), *b.binding());
    }
    if let Ok(s) = StateLeaf::parse(entry) {
        assert_eq!(s.to_text().as_bytes(), entry);
    }
    if let Ok(p) = PublisherLeaf::parse(entry) {
        assert_eq!(p.to_text().as_bytes(), entry);
    }
    if let Ok(text) = std::str::from_utf8(entry) {
        if let Ok(b) = Binding::parse_text(text) {
            assert_eq!(b.to_text(), text);
        }
    }
}

fn mutate(mut e: Vec<u8>, pos: usize, op: u8, byte: u8) -> Vec<u8> {
    let i = pos % (e.len() + 1);
    match op % 5 {
        0 => e.insert(i, byte),
        1 if i < e.len() => {
            e.remove(i);
        }
        2 if i < e.len() => e[i] ^= 1 << (byte % 8),
        3 if i < e.len() => e[i] = byte,
        _ => e.truncate(i),
    }
    e
}

fn reference() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "registry.example/acme/app:1",
        "docker.io/library/nginx:latest",
        "localhost:5000/a/b:V_1.x",
        "10.0.0.1:5000/a:b",
        "docker.io:443/a/b/c:1",
    ])
}

fn digest() -> impl Strategy<Value = DigestValue> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(DigestValue::Sha256),
        (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
            let mut d = [0u8; 64];
            d[..32].copy_from_slice(&a);
            d[32..].copy_from_slice(&b);
            DigestValue::Sha512(d)
        }),
        Just(DigestValue::Withdrawn),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        check(&bytes);
    }

    #[test]
    fn headed_garbage_never_panics(
        header in prop::sample::select(vec!["taglog/v1/binding\n", "taglog/v1/state\n", "taglog/v1/publisher\n"]),
        rest in "[ -~\n\u{2014}]{0,300}",
    ) {
        check(format!("{header}{rest}").as_bytes());
    }

    #[test]
    fn mutations_of_valid_entries(which in any::<prop::sample::Index>(),
                                  edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4)) {
        let entries = valid_entries();
        let mut e = which.get(&entries).clone();
        for (pos, op, byte) in edits {
            e = mutate(e, pos, op, byte);
        }
        check(&e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn signed_bindings_round_trip(r in reference(), d in digest(),
                                  version in 1..=MAX_TEXT_NUMBER, time in 0..=MAX_TEXT_NUMBER) {
        let key = signer();
        let b = Binding {
            log: "log.example.org/taglog".to_owned(),
            reference: r.parse().unwrap(),
            digest: d,
            version,
            time,
        };
        let entry = sign_binding(&b, &key).unwrap();
        let sb = SignedBinding::parse(&entry).unwrap();
        prop_assert_eq!(sb.binding(), &b);
        sb.verify(&key.verifier()).unwrap();
        prop_assert_eq!(Binding::parse_text(&b.to_text()).unwrap(), b.clone());
        prop_assert_eq!(b.digest.to_string().parse::<DigestValue>().unwrap(), b.digest);
    }

    #[test]
    fn log_leaves_round_trip(size in 0..=MAX_TEXT_NUMBER, time in 0..=MAX_TEXT_NUMBER,
                             root in any::<[u8; 32]>(), add in any::<bool>(),
                             prefix in prop::sample::select(vec!["registry.example", "docker.io/acme", "localhost:5000/a:b"])) {
        let s = StateLeaf { size, map_root: Hash(root), time };
        prop_assert_eq!(StateLeaf::parse(s.to_text().as_bytes()).unwrap(), s);
        let p = PublisherLeaf {
            change: if add { PublisherChange::Add } else { PublisherChange::Remove },
            prefix: prefix.parse().unwrap(),
            key: signer().verifier(),
            time,
        };
        prop_assert_eq!(PublisherLeaf::parse(p.to_text().as_bytes()).unwrap(), p.clone());
        prop_assert_eq!(Leaf::parse(p.to_text().as_bytes()).unwrap(), Leaf::Publisher(p));
    }
}

#[test]
fn out_of_range_values_do_not_sign() {
    let mut b = Binding {
        log: "log.example.org/taglog".to_owned(),
        reference: "registry.example/acme/app:1".parse().unwrap(),
        digest: DigestValue::Withdrawn,
        version: 0,
        time: 0,
    };
    assert!(sign_binding(&b, &signer()).is_err());
    b.version = MAX_TEXT_NUMBER + 1;
    assert!(sign_binding(&b, &signer()).is_err());
    b.version = 1;
    b.time = u64::MAX;
    assert!(sign_binding(&b, &signer()).is_err());
    b.time = 0;
    b.log = "two words".to_owned();
    assert!(sign_binding(&b, &signer()).is_err());
    b.log = "log.example.org/taglog".to_owned();
    assert!(sign_binding(&b, &signer()).is_ok());
}
