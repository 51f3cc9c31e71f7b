//! Property tests for `taglog_proofs::refs`: no panics, idempotent canonicalisation, strict
//! re-parse of canonical refs, and prefix matching against a component-wise model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use taglog_proofs::refs::{RefPrefix, TagRef};

const SEEDS: &[&str] = &[
    "registry.example/acme/heavylifter:1.5",
    "docker.io/library/nginx:latest",
    "localhost:5000/a/b:c",
    "10.0.0.1:5000/a:b",
    "nginx",
    "acme/app:v1",
    "index.docker.io/library/nginx:1",
    "Registry.Example/acme/app:1",
    "docker.io:443/a/b/c:1",
    "registry.example/a/b-c__d.e/f---g:B_1.x",
];

/// Everything that holds for any input, valid or not.
fn check_invariants(input: &str) {
    let strict = input.parse::<TagRef>();
    match TagRef::canonicalize(input) {
        Ok(c) => {
            // Idempotent, and the canonical form re-parses strictly to itself.
            assert_eq!(TagRef::canonicalize(c.as_str()).unwrap(), c);
            assert_eq!(c.as_str().parse::<TagRef>().unwrap(), c);
            assert_eq!(strict.is_ok(), c.as_str() == input);
            assert_eq!(format!("{}/{}:{}", c.host(), c.path(), c.tag()), c.as_str());
            // A canonical ref's repository is a valid prefix covering it, and so is the ref.
            let repo: RefPrefix = c.repository().parse().unwrap();
            assert!(repo.matches(&c));
            let exact: RefPrefix = c.as_str().parse().unwrap();
            assert!(exact.is_tagged() && exact.matches(&c));
        }
        Err(_) => assert!(strict.is_err()),
    }
    if let Ok(p) = input.parse::<RefPrefix>() {
        assert_eq!(p.as_str(), input);
    }
}

fn mutate(seed: &str, pos: usize, op: u8, ch: char) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    let i = pos % (chars.len() + 1);
    match op % 4 {
        0 => chars.insert(i, ch),
        1 if i < chars.len() => {
            chars.remove(i);
        }
        2 if i < chars.len() => chars[i] = ch,
        _ if i < chars.len() => chars[i] = chars[i].to_ascii_uppercase(),
        _ => chars.push(ch),
    }
    chars.into_iter().collect()
}

/// Prefix matching by whole components, written independently of the library.
fn model(prefix: &str, r: &TagRef) -> bool {
    let after = prefix.rfind('/').map(|i| &prefix[i..]);
    if after.is_some_and(|t| t.contains(':')) {
        return prefix == r.as_str();
    }
    let p: Vec<&str> = prefix.split('/').collect();
    let c: Vec<&str> = r.repository().split('/').collect();
    p.len() <= c.len() && p.iter().zip(&c).all(|(a, b)| a == b)
}

fn host() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "r.example",
        "r.example:5000",
        "r.example:500",
        "r.examplex",
        "localhost",
        "localhost:5000",
        "docker.io",
        "docker.io:443",
        "10.0.0.1",
    ])
}

fn component() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "ab", "a-b", "a.b", "a_b", "b", "library"])
}

fn tag() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["1", "10", "1.0", "latest", "V1"])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        check_invariants(&s);
    }

    #[test]
    fn ref_alphabet_never_panics(s in "[a-zA-Z0-9./:@_\\-\\[\\] ]{0,60}") {
        check_invariants(&s);
    }

    #[test]
    fn mutations_of_valid_refs(seed in prop::sample::select(SEEDS.to_vec()),
                               pos in 0usize..64, op in any::<u8>(),
                               ch in prop::sample::select(vec!['/', ':', '.', '@', '-', '_', 'A', 'a', '0', ' ', '\n', '\u{212a}'])) {
        check_invariants(&mutate(seed, pos, op, ch));
    }

    #[test]
    fn generated_refs_are_canonical(
        h in host(), comps in prop::collection::vec(component(), 1..4), t in tag()
    ) {
        let text = format!("{h}/{}:{t}", comps.join("/"));
        let hub = h == "docker.io";
        let r = text.parse::<TagRef>();
        prop_assert_eq!(r.is_ok(), !hub || comps.len() == 2, "{}", text);
        check_invariants(&text);
    }

    #[test]
    fn prefix_matching_equals_model(
        rh in host(), rc in prop::collection::vec(component(), 1..4), rt in tag(),
        ph in host(), pc in prop::collection::vec(component(), 0..4),
        pt in prop::option::of(tag()),
    ) {
        let Ok(r) = format!("{rh}/{}:{rt}", rc.join("/")).parse::<TagRef>() else {
            return Ok(());
        };
        let mut ptext = ph.to_owned();
        for c in &pc {
            ptext.push('/');
            ptext.push_str(c);
        }
        if let (Some(t), false) = (pt, pc.is_empty()) {
            ptext.push(':');
            ptext.push_str(t);
        }
        let Ok(p) = ptext.parse::<RefPrefix>() else {
            return Ok(());
        };
        prop_assert_eq!(p.matches(&r), model(&ptext, &r), "{} vs {}", ptext, r);
    }
}
