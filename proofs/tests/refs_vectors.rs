//! refs.json and prefixes.json (DESIGN §3.3) against `taglog_proofs::refs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use serde_json::Value;
use taglog_proofs::refs::{longest_match, remap, RefError, RefPrefix, RemapError, TagRef};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/taglog/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn refs_json() {
    let v = load("refs.json");
    assert_eq!(v["open"].as_array().unwrap().len(), 0);
    let cases = v["cases"].as_array().unwrap();
    let (mut canonical, mut expanded, mut invalid) = (0, 0, 0);
    for case in cases {
        let input = s(&case["input"]);
        let is_canonical = case["is_canonical"].as_bool().unwrap();
        let client = TagRef::canonicalize(input);
        let strict = input.parse::<TagRef>();
        match case["canonical"].as_str() {
            Some(want) => {
                let got = client.unwrap_or_else(|e| panic!("{input:?}: {e}"));
                assert_eq!(got.as_str(), want, "{input:?}");
                assert_eq!(is_canonical, input == want, "vector consistency {input:?}");
                // Accessors split the canonical text exactly.
                assert_eq!(format!("{}/{}:{}", got.host(), got.path(), got.tag()), want);
                assert_eq!(got.repository(), format!("{}/{}", got.host(), got.path()));
                if is_canonical {
                    canonical += 1;
                    assert_eq!(strict.unwrap(), got, "{input:?}");
                } else {
                    expanded += 1;
                    assert_eq!(
                        strict.unwrap_err(),
                        RefError::NotCanonical {
                            canonical: want.to_owned()
                        },
                        "{input:?}"
                    );
                }
            }
            None => {
                invalid += 1;
                assert!(!is_canonical);
                assert!(case["error"].is_string());
                assert!(client.is_err(), "{input:?} accepted as {client:?}");
                assert!(strict.is_err(), "{input:?} accepted strictly");
            }
        }
    }
    assert_eq!((canonical, expanded, invalid), (33, 28, 65));
    assert_eq!(cases.len(), 126);
}

/// The prefix model of §3.3, component by component (no string prefix tricks).
fn naive_matches(prefix: &str, r: &str) -> bool {
    let last = prefix.rfind('/');
    if last.is_some_and(|i| prefix[i..].contains(':')) {
        return prefix == r;
    }
    let repo = &r[..r.rfind(':').unwrap()];
    let p: Vec<&str> = prefix.split('/').collect();
    let c: Vec<&str> = repo.split('/').collect();
    p.len() <= c.len() && p.iter().zip(&c).all(|(a, b)| a == b)
}

#[test]
fn prefixes_json() {
    let v = load("prefixes.json");
    let cases = v["cases"].as_array().unwrap();
    let (mut yes, mut no) = (0, 0);
    for case in cases {
        let (ps, rs) = (s(&case["prefix"]), s(&case["ref"]));
        let want = case["matches"].as_bool().unwrap();
        let p: RefPrefix = ps.parse().unwrap_or_else(|e| panic!("{ps:?}: {e}"));
        assert_eq!(p.as_str(), ps);
        let r: TagRef = rs.parse().unwrap_or_else(|e| panic!("{rs:?}: {e}"));
        assert_eq!(p.matches(&r), want, "{ps:?} vs {rs:?}");
        assert_eq!(naive_matches(ps, rs), want, "model: {ps:?} vs {rs:?}");
        if want {
            yes += 1;
        } else {
            no += 1;
        }
    }
    assert_eq!(cases.len(), 64);
    assert!(yes > 0 && no > 0);
    let invalid = v["invalid_prefixes"].as_array().unwrap();
    for case in invalid {
        let ps = s(&case["prefix"]);
        assert!(case["error"].is_string());
        let got = ps.parse::<RefPrefix>();
        assert!(got.is_err(), "{ps:?} accepted as {got:?}");
    }
    assert_eq!(invalid.len(), 34);
}

fn p(s: &str) -> RefPrefix {
    s.parse().unwrap()
}

fn r(s: &str) -> TagRef {
    s.parse().unwrap()
}

#[test]
fn remap_rules() {
    let pulled = r("mirror.local/upstream/acme/app:1.5");
    let got = remap(&pulled, &p("mirror.local/upstream"), &p("registry.example")).unwrap();
    assert_eq!(got.as_str(), "registry.example/acme/app:1.5");
    // Whole components only.
    assert!(matches!(
        remap(&pulled, &p("mirror.local/up"), &p("registry.example")),
        Err(RemapError::NotCovered { .. })
    ));
    // Exact repository and exact ref.
    let got = remap(
        &pulled,
        &p("mirror.local/upstream/acme/app"),
        &p("docker.io/acme/app"),
    );
    assert_eq!(got.unwrap().as_str(), "docker.io/acme/app:1.5");
    let got = remap(
        &pulled,
        &p("mirror.local/upstream/acme/app:1.5"),
        &p("r.example/x"),
    );
    assert_eq!(got.unwrap().as_str(), "r.example/x:1.5");
    let got = remap(
        &pulled,
        &p("mirror.local/upstream/acme/app:1.5"),
        &p("r.example/x:1.5"),
    );
    assert_eq!(got.unwrap().as_str(), "r.example/x:1.5");
    // The tag never changes.
    for (from, to) in [
        ("mirror.local/upstream/acme/app:1.5", "r.example/x:2"),
        ("mirror.local/upstream", "r.example/x:1.5"),
    ] {
        assert!(matches!(
            remap(&pulled, &p(from), &p(to)),
            Err(RemapError::ChangesTag { .. })
        ));
    }
    // A result that is not canonical is an error, never expanded.
    assert!(matches!(
        remap(
            &r("mirror.local/hub/nginx:1"),
            &p("mirror.local/hub"),
            &p("docker.io")
        ),
        Err(RemapError::Invalid { .. })
    ));
    // Longest rule wins.
    let rules = [
        (p("mirror.local"), p("a.example")),
        (p("mirror.local/upstream/acme"), p("c.example")),
        (p("mirror.local/upstream"), p("b.example")),
        (p("mirror.local/upstream/acme/app:2"), p("d.example/x")),
    ];
    let best = longest_match(&rules, |x| &x.0, &pulled).unwrap();
    assert_eq!(best.1.as_str(), "c.example");
    assert!(longest_match(&rules, |x| &x.0, &r("other.example/a:b")).is_none());
}

#[test]
fn limits_and_accessors() {
    let x = r("registry.example:5000/acme/app:v1");
    assert_eq!(x.host(), "registry.example:5000");
    assert_eq!(x.port(), Some(5000));
    assert_eq!(x.path(), "acme/app");
    assert_eq!(x.repository(), "registry.example:5000/acme/app");
    assert_eq!(x.tag(), "v1");
    assert_eq!(
        x.key(),
        taglog_proofs::hash::sha256(b"registry.example:5000/acme/app:v1")
    );
    assert!(!x.is_docker_hub());
    assert!(r("docker.io/library/nginx:1").is_docker_hub());
    assert!(!r("docker.io:443/library/nginx:1").is_docker_hub());
    let long = "a".repeat(taglog_proofs::refs::MAX_INPUT_BYTES + 1);
    assert!(matches!(
        TagRef::canonicalize(&long),
        Err(RefError::TooLong { .. })
    ));
    // Numeric last label that is not an IPv4 address.
    assert!(TagRef::canonicalize("0x7f.0.0.1/a:b").is_err());
    assert!(TagRef::canonicalize("registry.123/a:b").is_err());
    // An uppercase one-component host is not a host (Docker's rule): it is a Hub path.
    assert!(matches!(
        TagRef::canonicalize("LOCALHOST/a"),
        Err(RefError::UppercasePath(_))
    ));
    // serde is strict.
    assert!(serde_json::from_str::<TagRef>("\"nginx\"").is_err());
    let back: TagRef = serde_json::from_str(&serde_json::to_string(&x).unwrap()).unwrap();
    assert_eq!(back, x);
}
