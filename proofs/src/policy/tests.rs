//! Policy parser, check and export tests.

use super::*;
use crate::note::{KeyType, SignerKey};

fn vkey(name: &str, t: KeyType, seed: u8) -> String {
    SignerKey::from_seed(name.parse().unwrap(), t, [seed; 32])
        .verifier()
        .to_string()
}

fn base() -> String {
    format!(
        "log {}\nwitness a {}\nwitness b {}\nwitness c {}\n",
        vkey("log.example/taglog", KeyType::Ed25519, 1),
        vkey("wa", KeyType::Cosignature, 2),
        vkey("wb", KeyType::Cosignature, 3),
        vkey("wc", KeyType::Cosignature, 4)
    )
}

fn publisher() -> String {
    format!(
        "publisher registry.example/acme {}\n",
        vkey("pub", KeyType::Ed25519, 5)
    )
}

#[test]
fn parses_all_lines() {
    let text = format!(
        "  # comment\n\n{}group two 2 a b c\ngroup q all two\nquorum q\n{}remap mirror.local/acme registry.example/acme\nmax-age 1h30m\t\npin registry.example/acme/app:1 sha256:{}\nfloor log.example/taglog 10\ninsecure-registry localhost:5000\n",
        base(),
        publisher(),
        "ab".repeat(32)
    );
    let p = Policy::parse(text.as_bytes()).unwrap();
    assert_eq!(p.logs().len(), 1);
    assert_eq!(p.witnesses().len(), 3);
    assert_eq!(p.groups()[0].threshold, 2);
    assert_eq!(p.groups()[1].threshold, 1);
    assert_eq!(p.max_age(), 5400);
    assert_eq!(p.floor("log.example/taglog"), 10);
    assert_eq!(p.floor("other"), 0);
    assert!(p.is_insecure_registry("localhost:5000"));
    assert_eq!(p.publishers()[0].log, "log.example/taglog");
    let pulled: TagRef = "mirror.local/acme/app:1".parse().unwrap();
    assert_eq!(
        p.signed_ref(&pulled).unwrap().as_str(),
        "registry.example/acme/app:1"
    );
    let signed = p.signed_ref(&pulled).unwrap();
    assert!(p.pin_for(&signed).is_some());
    assert_eq!(p.log_for(&signed).unwrap().origin(), "log.example/taglog");
    let other: TagRef = "registry.example/other/app:1".parse().unwrap();
    assert!(p.log_for(&other).is_err());
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert!(p.quorum_met(&set(&["a", "c"])));
    assert!(!p.quorum_met(&set(&["a"])));
    assert!(p.check().is_empty(), "{:?}", p.check());
    // export is C2SP only and parses again (with a publisher-free check).
    let c2sp = p.export_c2sp();
    assert!(!c2sp.contains("publisher") && !c2sp.contains("max-age"));
    let again = Policy::parse(c2sp.as_bytes()).unwrap();
    assert_eq!(again.export_c2sp(), c2sp);
    assert_eq!(again.groups(), p.groups());
}

#[test]
fn check_warns() {
    let p = Policy::parse(format!("{}quorum none\n{}", base(), publisher()).as_bytes()).unwrap();
    assert_eq!(p.check(), vec![PolicyWarning::QuorumNone]);
    let p =
        Policy::parse(format!("{}group g any a b c\nquorum g\n{}", base(), publisher()).as_bytes())
            .unwrap();
    assert!(matches!(
        p.check().as_slice(),
        [PolicyWarning::DisjointQuorums { .. }]
    ));
    let p =
        Policy::parse(format!("{}group g 2 a b c\nquorum g\n{}", base(), publisher()).as_bytes())
            .unwrap();
    assert!(p.check().is_empty());
    let p = Policy::parse(format!("{}group g 2 a b c\nquorum g\n", base()).as_bytes()).unwrap();
    assert_eq!(p.check(), vec![PolicyWarning::NoPublishers]);
    // Nested: (a and b) or c — {a,b} and {c} are disjoint.
    let p = Policy::parse(
        format!(
            "{}group ab all a b\ngroup q any ab c\nquorum q\n{}",
            base(),
            publisher()
        )
        .as_bytes(),
    )
    .unwrap();
    match p.check().as_slice() {
        [PolicyWarning::DisjointQuorums { first, second }] => {
            assert_eq!(first.len() + second.len(), 3);
        }
        w => panic!("{w:?}"),
    }
}

#[test]
fn errors_name_their_line() {
    let cases: Vec<(String, usize)> = vec![
        (format!("{}quorum x\n", base()), 5),
        (format!("{}quorum none\nquorum none\n", base()), 6),
        (format!("{}group g 4 a b c\nquorum g\n", base()), 5),
        (format!("{}group g 0 a b c\nquorum g\n", base()), 5),
        (format!("{}group g any a a\nquorum g\n", base()), 5),
        (format!("{}group a any b\nquorum a\n", base()), 5),
        (format!("{}group none any b\nquorum none\n", base()), 5),
        (
            format!(
                "{}witness d {}\nquorum none\n",
                base(),
                vkey("wa", KeyType::Cosignature, 2)
            ),
            5,
        ),
        (
            format!(
                "{}witness d {}\nquorum none\n",
                base(),
                vkey("wd", KeyType::Ed25519, 9)
            ),
            5,
        ),
        (format!("{}quorum none\nmax-age 1x\n", base()), 6),
        (format!("{}quorum none\nmax-age 01h\n", base()), 6),
        (format!("{}quorum none\nmax-age 367d\n", base()), 6),
        (
            format!("{}quorum none\nmax-age 1h\nmax-age 2h\n", base()),
            7,
        ),
        (format!("{}quorum none\nfrobnicate\n", base()), 6),
        (
            format!(
                "{}quorum none\npublisher Registry.example/acme {}\n",
                base(),
                vkey("p", KeyType::Ed25519, 5)
            ),
            6,
        ),
        (
            format!(
                "{}quorum none\npublisher registry.example/acme {} other.log\n",
                base(),
                vkey("p", KeyType::Ed25519, 5)
            ),
            6,
        ),
        (
            format!(
                "{}quorum none\npin registry.example/a:1 withdrawn\n",
                base()
            ),
            6,
        ),
        (
            format!(
                "{}quorum none\npin nginx sha256:{}\n",
                base(),
                "ab".repeat(32)
            ),
            6,
        ),
        (format!("{}quorum none\nfloor o 01\n", base()), 6),
        (
            format!(
                "{}quorum none\ninsecure-registry localhost:5000/x\n",
                base()
            ),
            6,
        ),
        (format!("{}quorum none\nremap a.example/x\n", base()), 6),
        (format!("{}quorum none\nlog a b c\n", base()), 6),
        (format!("{}quorum none # trailing comment\n", base()), 5),
        (format!("{}quorum none\r\n", base()), 5),
    ];
    for (text, line) in &cases {
        let e = Policy::parse(text.as_bytes()).unwrap_err();
        assert!(
            e.to_string().contains(&format!("line {line}")),
            "{e} (want line {line})\n{text}"
        );
    }
    assert_eq!(
        Policy::parse(base().as_bytes()).unwrap_err(),
        PolicyError::MissingQuorum
    );
    let big = vec![b'#'; MAX_POLICY_BYTES + 1];
    assert!(matches!(
        Policy::parse(&big),
        Err(PolicyError::TooLarge { .. })
    ));
    // Two logs: a publisher must name one.
    let two = format!(
        "{}log {}\nquorum none\n{}",
        base(),
        vkey("log2.example/taglog", KeyType::Ed25519, 8),
        publisher()
    );
    assert!(matches!(
        Policy::parse(two.as_bytes()),
        Err(PolicyError::PublisherLog { line: 7, .. })
    ));
    let named = two.trim_end().to_string() + " log2.example/taglog\n";
    let p = Policy::parse(named.as_bytes()).unwrap();
    assert_eq!(p.publishers()[0].log, "log2.example/taglog");
}

#[test]
fn limits_are_enforced() {
    let mut text = String::new();
    for i in 0..=MAX_WITNESSES {
        text.push_str(&format!(
            "witness w{i} {}\n",
            vkey(&format!("w{i}"), KeyType::Cosignature, i as u8)
        ));
    }
    assert!(matches!(
        Policy::parse(text.as_bytes()),
        Err(PolicyError::Limit {
            what: "witness lines",
            ..
        })
    ));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s"), Ok(90));
    assert_eq!(parse_duration("14d"), Ok(14 * 86400));
    assert_eq!(parse_duration("1h30m"), Ok(5400));
    for bad in [
        "",
        "h",
        "1",
        "1y",
        "-1h",
        "1h ",
        "366d1s",
        "99999999999999999999d",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    for s in [1u64, 59, 60, 3600, 5400, 86400 + 61] {
        assert_eq!(parse_duration(&format_duration(s)), Ok(s));
    }
}

/// C2SP tlog-policy: each defined name is a group member at most once, so one witness cannot
/// count twice toward a quorum (issue 12, finding 3). With `a` in both groups, `a` alone
/// would satisfy `q` (all of g1, g2).
#[test]
fn a_name_listed_in_two_groups_is_rejected() {
    for (groups, line, name, first) in [
        (
            "group g1 any a b\ngroup g2 any a c\ngroup q all g1 g2\nquorum q\n",
            6,
            "a",
            5,
        ),
        (
            "group g1 any a b\ngroup g2 any b c\ngroup q all g1 g2 b\nquorum q\n",
            6,
            "b",
            5,
        ),
        (
            "group g1 any a\ngroup q1 all g1\ngroup q2 any g1 b\nquorum q2\n",
            7,
            "g1",
            6,
        ),
    ] {
        let text = format!("{}{groups}{}", base(), publisher());
        match Policy::parse(text.as_bytes()) {
            Err(e @ PolicyError::MemberOfTwoGroups { .. }) => {
                assert_eq!(
                    e,
                    PolicyError::MemberOfTwoGroups {
                        line,
                        name: name.into(),
                        first
                    }
                );
                assert!(e.to_string().contains("at most one group"), "{e}");
            }
            other => panic!("{groups}: expected MemberOfTwoGroups, got {other:?}"),
        }
    }
    // One name in one group, and the quorum naming a group member directly, stay valid.
    let ok = format!(
        "{}group g1 any a b\ngroup g2 any c\nquorum a\n{}",
        base(),
        publisher()
    );
    assert!(Policy::parse(ok.as_bytes()).is_ok());
}
