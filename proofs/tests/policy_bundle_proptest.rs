//! The policy and bundle parsers never panic, on arbitrary bytes or on mutations of valid
//! inputs, and whatever they accept re-parses to the same value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use taglog_proofs::bundle::{Bundle, History};
use taglog_proofs::policy::Policy;

const BOUND: &[u8] = include_bytes!("vectors/taglog/log-small/lookup/bound.json");
const UNBOUND: &[u8] = include_bytes!("vectors/taglog/log-small/lookup/unbound.json");

fn policy_text() -> String {
    let keys: serde_json::Value =
        serde_json::from_slice(include_bytes!("vectors/taglog/log-small/keys.json")).unwrap();
    format!(
        "# p\nlog {}\nwitness w {}\ngroup g any w\nquorum g\npublisher registry.example/acme {}\nremap mirror.local/acme registry.example/acme\nmax-age 2h\npin registry.example/acme/a:1 sha256:{}\nfloor log.example.org/taglog 3\ninsecure-registry localhost:5000\n",
        keys["log"].as_str().unwrap(),
        keys["witness"].as_str().unwrap(),
        keys["publishers"][0].as_str().unwrap(),
        "0".repeat(64)
    )
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..12)
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..80).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(input: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut v = input.to_vec();
    for m in muts {
        if v.is_empty() {
            break;
        }
        let len = v.len();
        match m {
            Mutation::Flip(i, b) => v[i % len] ^= b,
            Mutation::Delete(i, n) => {
                let s = i % len;
                let e = (s + n).min(len);
                v.drain(s..e);
            }
            Mutation::Insert(i, bytes) => {
                let s = i % (len + 1);
                v.splice(s..s, bytes.iter().copied());
            }
            Mutation::Duplicate(i, n) => {
                let s = i % len;
                let e = (s + n).min(len);
                let chunk = v[s..e].to_vec();
                v.splice(e..e, chunk);
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn policy_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Policy::parse(&bytes);
    }

    #[test]
    fn policy_mutations(muts in proptest::collection::vec(mutation(), 1..4)) {
        let text = apply(policy_text().as_bytes(), &muts);
        if let Ok(p) = Policy::parse(&text) {
            let c2sp = p.export_c2sp();
            let again = Policy::parse(c2sp.as_bytes()).unwrap();
            prop_assert_eq!(again.export_c2sp(), c2sp);
            let _ = p.check();
        }
    }

    #[test]
    fn bundle_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Bundle::parse(&bytes);
        let _ = History::parse(&bytes);
    }

    #[test]
    fn bundle_mutations(muts in proptest::collection::vec(mutation(), 1..4), which in any::<bool>()) {
        let input = if which { BOUND } else { UNBOUND };
        let bytes = apply(input, &muts);
        if let Ok(b) = Bundle::parse(&bytes) {
            let again = Bundle::parse(b.to_json().as_bytes()).unwrap();
            prop_assert_eq!(again, b);
        }
    }
}

#[test]
fn valid_inputs_parse() {
    assert!(Policy::parse(policy_text().as_bytes()).is_ok());
    assert!(Bundle::parse(BOUND).is_ok());
    assert!(Bundle::parse(UNBOUND).is_ok());
}
