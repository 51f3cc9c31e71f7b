//! The rule book (`taglog_proofs::rules`): deciding (the sequencer's side) and checking (the
//! monitor's and auditing witness's side) agree, every rule refuses what it must and changes
//! nothing when it does, and admission tries every admitted key (issue 12, finding 4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::binding::{sign_binding, Binding, SignedBinding, VersionError};
use taglog_proofs::hash::{leaf_hash, sha256, Hash};
use taglog_proofs::leaves::{Leaf, PublisherChange, StateLeaf};
use taglog_proofs::map::{MapValue, SparseMap};
use taglog_proofs::note::{KeyName, KeyType, SignerKey};
use taglog_proofs::refs::{RefPrefix, TagRef};
use taglog_proofs::rules::{
    AppendError, Grant, Ledger, MemoryMap, NotAdmittedReason, SignatureCheck, Violation,
    MAX_LOG_TIME_SKEW_SECS,
};

const ORIGIN: &str = "log.test/rules";
const NOW: u64 = 1_764_000_000;

fn key(name: &str, n: u32) -> SignerKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    SignerKey::from_seed(name.parse::<KeyName>().unwrap(), KeyType::Ed25519, seed)
}

/// Two keys named `tenant.test` whose key IDs collide (both 4870f208; found by a birthday
/// search over the seeds `n.to_be_bytes() ‖ 0…`).
fn colliding_keys() -> (SignerKey, SignerKey) {
    let (a, b) = (key("tenant.test", 66_760), key("tenant.test", 142_304));
    assert_eq!(a.id(), b.id(), "the two keys must share a key ID");
    assert_ne!(a.verifier(), b.verifier());
    (a, b)
}

fn grant(prefix: &str, k: &SignerKey) -> Grant {
    Grant {
        prefix: prefix.parse::<RefPrefix>().unwrap(),
        key: k.verifier(),
    }
}

fn digest(n: u8) -> String {
    format!("sha256:{}", hex::encode([n; 32]))
}

fn binding_for(origin: &str, r: &str, d: &str, version: u64, k: &SignerKey) -> SignedBinding {
    let b = Binding {
        log: origin.into(),
        reference: r.parse::<TagRef>().unwrap(),
        digest: d.parse().unwrap(),
        version,
        time: NOW,
    };
    SignedBinding::parse(&sign_binding(&b, k).unwrap()).unwrap()
}

fn binding(r: &str, n: u8, version: u64, k: &SignerKey) -> SignedBinding {
    binding_for(ORIGIN, r, &digest(n), version, k)
}

fn ledger() -> Ledger<MemoryMap> {
    Ledger::new(ORIGIN, MemoryMap::new())
}

fn rule(e: AppendError<impl std::error::Error>) -> Violation {
    match e {
        AppendError::Rule(v) => *v,
        other => panic!("expected a rule violation, got {other}"),
    }
}

/// A refused append leaves head, allowlist, pending updates and map untouched.
fn assert_unchanged(l: &Ledger<MemoryMap>, before: &Ledger<MemoryMap>) {
    assert_eq!(l.head(), before.head());
    assert_eq!(l.allowlist(), before.allowlist());
    assert_eq!(l.pending(), before.pending());
    assert_eq!(l.map().root(), before.map().root());
}

#[test]
fn admission_follows_the_logged_allowlist_and_refusals_change_nothing() {
    let acme = key("acme.test", 1);
    let other = key("other.test", 2);
    let mut l = ledger();
    l.append_publisher(PublisherChange::Add, &grant("reg.test/acme", &acme), NOW)
        .unwrap();
    let before = l.clone();

    let v = rule(
        l.append_binding(&binding("reg.test/other/x:1", 1, 1, &acme), None)
            .unwrap_err(),
    );
    assert!(matches!(
        v,
        Violation::NotAdmitted {
            index: 1,
            reason: NotAdmittedReason::NoPrefix,
            ..
        }
    ));
    assert_unchanged(&l, &before);

    let v = rule(
        l.append_binding(&binding("reg.test/acme/x:1", 1, 1, &other), None)
            .unwrap_err(),
    );
    assert!(matches!(
        v,
        Violation::NotAdmitted {
            reason: NotAdmittedReason::UnknownKey,
            ..
        }
    ));
    assert_eq!(v.code(), "unknown-key");
    assert_unchanged(&l, &before);

    let wrong_log = binding_for(
        "log.test/another",
        "reg.test/acme/x:1",
        &digest(1),
        1,
        &acme,
    );
    let v = rule(l.append_binding(&wrong_log, None).unwrap_err());
    assert!(matches!(v, Violation::WrongLog { .. }), "{v}");
    assert_unchanged(&l, &before);

    // A signature that does not verify: the signature line names acme's key, but the text
    // was changed after signing (re-parsed from tampered bytes).
    let good = binding("reg.test/acme/x:1", 1, 1, &acme);
    let tampered = String::from_utf8(good.entry().to_vec())
        .unwrap()
        .replace("version 1\n", "version 2\n");
    let tampered = SignedBinding::parse(tampered.as_bytes()).unwrap();
    let v = rule(l.append_binding(&tampered, None).unwrap_err());
    assert!(matches!(v, Violation::BadSignature { .. }), "{v}");
    assert_unchanged(&l, &before);

    let a = l.append_binding(&good, None).unwrap();
    assert_eq!(
        (a.index, a.previous, a.signer.clone()),
        (1, None, acme.verifier())
    );
    assert_eq!(a.ref_key, good.binding().reference.key());
    assert_eq!(
        a.value,
        MapValue {
            index: 1,
            version: 1,
            leaf_hash: good.leaf_hash()
        }
    );

    // Once removed, the key admits nothing from the next leaf on.
    l.append_publisher(PublisherChange::Remove, &grant("reg.test/acme", &acme), NOW)
        .unwrap();
    let v = rule(
        l.append_binding(&binding("reg.test/acme/y:1", 1, 1, &acme), None)
            .unwrap_err(),
    );
    assert!(matches!(v, Violation::NotAdmitted { index: 3, .. }));
}

#[test]
fn a_colliding_key_id_cannot_deny_another_tenant() {
    let (mallory, victim) = colliding_keys();
    let mut l = ledger();
    // The colliding key is admitted first, so a first-match lookup would pick it.
    l.append_publisher(
        PublisherChange::Add,
        &grant("reg.test/mallory", &mallory),
        NOW,
    )
    .unwrap();
    l.append_publisher(
        PublisherChange::Add,
        &grant("reg.test/victim", &victim),
        NOW,
    )
    .unwrap();
    let a = l
        .append_binding(&binding("reg.test/victim/app:1", 1, 1, &victim), None)
        .unwrap();
    assert_eq!(a.signer, victim.verifier());
    let a = l
        .append_binding(&binding("reg.test/mallory/app:1", 1, 1, &mallory), None)
        .unwrap();
    assert_eq!(a.signer, mallory.verifier());
    // Neither key reaches the other's prefix.
    let v = rule(
        l.append_binding(&binding("reg.test/victim/app:2", 1, 1, &mallory), None)
            .unwrap_err(),
    );
    assert!(
        matches!(&v, Violation::BadSignature { keys, .. } if keys == &vec![victim.verifier()]),
        "{v}"
    );
    // Both admitted for one prefix: both keys are tried, in either order.
    l.append_publisher(
        PublisherChange::Add,
        &grant("reg.test/shared", &mallory),
        NOW,
    )
    .unwrap();
    l.append_publisher(
        PublisherChange::Add,
        &grant("reg.test/shared", &victim),
        NOW,
    )
    .unwrap();
    for (i, k) in [&victim, &mallory].into_iter().enumerate() {
        let b = binding(&format!("reg.test/shared/app{i}:1"), 1, 1, k);
        assert_eq!(l.append_binding(&b, None).unwrap().signer, k.verifier());
    }
    // The checking side agrees: the whole log replays without a violation.
    let mut log = Vec::new();
    let mut decided = ledger();
    decided
        .append_publisher(
            PublisherChange::Add,
            &grant("reg.test/mallory", &mallory),
            NOW,
        )
        .unwrap();
    log.push(pub_leaf(PublisherChange::Add, "reg.test/mallory", &mallory));
    decided
        .append_publisher(
            PublisherChange::Add,
            &grant("reg.test/victim", &victim),
            NOW,
        )
        .unwrap();
    log.push(pub_leaf(PublisherChange::Add, "reg.test/victim", &victim));
    let b = binding("reg.test/victim/app:1", 1, 1, &victim);
    decided.append_binding(&b, None).unwrap();
    log.push(b.entry().to_vec());
    log.push(decided.append_state(NOW).unwrap().to_text().into_bytes());
    let checked = check_all(&log);
    assert!(checked.iter().all(Vec::is_empty), "{checked:?}");
}

fn pub_leaf(change: PublisherChange, prefix: &str, k: &SignerKey) -> Vec<u8> {
    taglog_proofs::leaves::PublisherLeaf {
        change,
        prefix: prefix.parse().unwrap(),
        key: k.verifier(),
        time: NOW,
    }
    .to_text()
    .into_bytes()
}

fn check_all(log: &[Vec<u8>]) -> Vec<Vec<Violation>> {
    let mut l = ledger();
    log.iter()
        .enumerate()
        .map(|(i, e)| l.check(i as u64, e, Some(NOW)).unwrap().violations)
        .collect()
}

#[test]
fn the_version_rule_holds_within_a_batch_and_across_checkpoints() {
    let acme = key("acme.test", 1);
    let mut l = ledger();
    l.append_publisher(PublisherChange::Add, &grant("reg.test", &acme), NOW)
        .unwrap();
    let r = "reg.test/acme/app:1.5";
    // (Version 0 cannot even be signed: Binding::validate refuses it.)
    let v = rule(
        l.append_binding(&binding(r, 1, (1 << 32) + 1, &acme), None)
            .unwrap_err(),
    );
    assert!(matches!(
        v,
        Violation::Version {
            error: VersionError::FirstOutOfRange { .. },
            ..
        }
    ));
    let first = l
        .append_binding(&binding(r, 1, 1 << 32, &acme), None)
        .unwrap();
    // Same batch: the pending value counts.
    for bad in [1 << 32, (1 << 32) + 2, 1] {
        let v = rule(
            l.append_binding(&binding(r, 2, bad, &acme), None)
                .unwrap_err(),
        );
        match v {
            Violation::Version {
                error, previous, ..
            } => {
                assert_eq!(error.expected(), Some((1 << 32) + 1));
                assert_eq!(previous, Some(first.value));
            }
            other => panic!("{other}"),
        }
    }
    let second = l
        .append_binding(&binding(r, 2, (1 << 32) + 1, &acme), None)
        .unwrap();
    assert_eq!(second.previous, Some(first.value));
    l.append_state(NOW).unwrap();
    assert!(l.pending().is_empty());
    // Next checkpoint: the committed map counts; a withdrawal is a version too.
    let w = binding_for(ORIGIN, r, "withdrawn", (1 << 32) + 2, &acme);
    assert_eq!(
        l.append_binding(&w, None).unwrap().previous,
        Some(second.value)
    );
    let v = rule(
        l.append_binding(&binding(r, 3, (1 << 32) + 2, &acme), None)
            .unwrap_err(),
    );
    assert!(matches!(v, Violation::Version { .. }));
}

#[test]
fn publisher_changes_are_never_duplicated_or_absent_and_times_never_go_back() {
    let acme = key("acme.test", 1);
    let g = grant("reg.test/acme", &acme);
    let mut l = ledger();
    let leaf = l.append_publisher(PublisherChange::Add, &g, NOW).unwrap();
    assert_eq!(leaf.time, NOW);
    let before = l.clone();
    let v = rule(
        l.append_publisher(PublisherChange::Add, &g, NOW)
            .unwrap_err(),
    );
    assert!(matches!(v, Violation::DuplicateAdd { index: 1, .. }));
    assert_unchanged(&l, &before);
    let other = grant("reg.test/other", &acme);
    let v = rule(
        l.append_publisher(PublisherChange::Remove, &other, NOW)
            .unwrap_err(),
    );
    assert!(matches!(v, Violation::AbsentRemove { index: 1, .. }));
    assert_unchanged(&l, &before);
    // An earlier clock does not move the log's time back.
    let leaf = l
        .append_publisher(PublisherChange::Add, &other, NOW - 100)
        .unwrap();
    assert_eq!(leaf.time, NOW);
    let state = l.append_state(NOW - 50).unwrap();
    assert_eq!(state.time, NOW);
    // A clock far behind the log's time: no valid time exists, and nothing changes.
    let before = l.clone();
    let behind = NOW - MAX_LOG_TIME_SKEW_SECS - 1;
    assert!(matches!(
        l.append_state(behind),
        Err(AppendError::ClockBehind { last: NOW, now }) if now == behind
    ));
    assert!(matches!(
        l.append_publisher(PublisherChange::Remove, &g, behind),
        Err(AppendError::ClockBehind { .. })
    ));
    assert_unchanged(&l, &before);
    // Within the skew the log keeps its own (later) time.
    assert_eq!(
        l.append_state(NOW - MAX_LOG_TIME_SKEW_SECS).unwrap().time,
        NOW
    );
}

#[test]
fn state_leaves_commit_to_the_map_of_every_binding_before_them() {
    let acme = key("acme.test", 1);
    let mut l = ledger();
    l.append_publisher(PublisherChange::Add, &grant("reg.test", &acme), NOW)
        .unwrap();
    let mut reference = SparseMap::new();
    let empty = l.append_state(NOW).unwrap();
    assert_eq!((empty.size, empty.map_root), (1, Hash([0; 32])));
    for round in 0..3u8 {
        for i in 0..5u8 {
            let r = format!("reg.test/acme/app{i}:1");
            let version = u64::from(round) + 1;
            let a = l
                .append_binding(&binding(&r, round, version, &acme), None)
                .unwrap();
            reference.insert(a.ref_key, a.value).unwrap();
        }
        let index = l.next_index();
        let s = l.append_state(NOW + u64::from(round)).unwrap();
        assert_eq!(s.size, index, "a state leaf's size is its own index");
        assert_eq!(s.map_root, reference.root());
        assert_eq!(l.head().last_state, Some(index));
        assert_eq!(l.end_checkpoint(index + 1), None);
        assert!(l.end_checkpoint(index).is_some());
    }
}

/// A log built by deciding, with every refused submission kept aside.
struct Built {
    log: Vec<Vec<u8>>,
    refused: Vec<(Vec<u8>, Violation)>,
    root: Hash,
}

fn build(ops: &[Op]) -> Built {
    let keys = [key("a.test", 1), key("b.test", 2)];
    let prefixes = ["reg.test/a", "reg.test/b"];
    let mut l = ledger();
    let mut log = Vec::new();
    let mut refused = Vec::new();
    let mut time = NOW;
    for op in ops {
        match *op {
            Op::Grant(add, p, k) => {
                let g = grant(prefixes[p], &keys[k]);
                let change = if add {
                    PublisherChange::Add
                } else {
                    PublisherChange::Remove
                };
                match l.append_publisher(change, &g, time) {
                    Ok(leaf) => log.push(leaf.to_text().into_bytes()),
                    Err(e) => {
                        let leaf = taglog_proofs::leaves::PublisherLeaf {
                            change,
                            prefix: g.prefix.clone(),
                            key: g.key.clone(),
                            time,
                        };
                        refused.push((leaf.to_text().into_bytes(), rule(e)));
                    }
                }
            }
            Op::Bind(p, tag, version, k) => {
                let r = format!("{}/app:{tag}", prefixes[p]);
                let b = binding(&r, tag, version, &keys[k]);
                let check = l
                    .allowlist()
                    .candidates(&b)
                    .map(|c| SignatureCheck::run(&b, &c))
                    .ok();
                match l.append_binding(&b, check.as_ref()) {
                    Ok(_) => log.push(b.entry().to_vec()),
                    Err(e) => refused.push((b.entry().to_vec(), rule(e))),
                }
            }
            Op::State(dt) => {
                time += dt;
                log.push(l.append_state(time).unwrap().to_text().into_bytes());
            }
        }
    }
    let end = l.append_state(time).unwrap();
    log.push(end.to_text().into_bytes());
    Built {
        log,
        refused,
        root: end.map_root,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Grant(bool, usize, usize),
    Bind(usize, u8, u64, usize),
    State(u64),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (any::<bool>(), 0..2usize, 0..2usize).prop_map(|(a, p, k)| Op::Grant(a, p, k)),
        (0..2usize, 0..3u8, 0..4u64, 0..2usize).prop_map(|(p, t, v, k)| Op::Bind(p, t, v + 1, k)),
        (0..3u64).prop_map(Op::State),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// What the deciding side appends, the checking side accepts without a violation and
    /// with the same map; and every leaf the deciding side refused, slipped into the log at
    /// the index it would have had, is reported by the checking side with the same first
    /// violation.
    #[test]
    fn deciding_and_checking_agree(ops in proptest::collection::vec(op(), 1..40)) {
        let built = build(&ops);
        let mut checker = ledger();
        for (i, e) in built.log.iter().enumerate() {
            let c = checker.check(i as u64, e, Some(NOW + 1000)).unwrap();
            proptest::prop_assert!(c.violations.is_empty(), "leaf {i}: {:?}", c.violations);
        }
        proptest::prop_assert_eq!(checker.map().root(), built.root);
        proptest::prop_assert_eq!(checker.end_checkpoint(built.log.len() as u64), None);

        for (entry, violation) in &built.refused {
            // Replay the log up to the refused leaf's index, then the refused leaf.
            let at = violation.index();
            let mut c = ledger();
            for (i, e) in built.log.iter().take(at as usize).enumerate() {
                c.check(i as u64, e, Some(NOW + 1000)).unwrap();
            }
            let got = c.check(at, entry, Some(NOW + 1000)).unwrap().violations;
            proptest::prop_assert_eq!(got.first(), Some(violation));
        }
    }
}

#[test]
fn checking_reports_each_bad_leaf_once_and_applies_it_anyway() {
    let acme = key("acme.test", 1);
    let stranger = key("stranger.test", 9);
    let r = "reg.test/acme/app:1";
    let mut log: Vec<Vec<u8>> = vec![pub_leaf(PublisherChange::Add, "reg.test/acme", &acme)];
    log.push(binding(r, 1, 1, &acme).entry().to_vec());
    // 2: not admitted, but it still sets the map (version 2 for the ref).
    log.push(binding(r, 2, 2, &stranger).entry().to_vec());
    // 3: version 3 follows the invalid binding, as an honest log's map would have it.
    log.push(binding(r, 3, 3, &acme).entry().to_vec());
    // 4: garbage.
    log.push(b"taglog/v1/nothing\n".to_vec());
    // 5: duplicate add with a time going back.
    let mut dup = taglog_proofs::leaves::PublisherLeaf::parse(&log[0]).unwrap();
    dup.time = NOW - 1;
    log.push(dup.to_text().into_bytes());
    // 6: a state leaf with the wrong size, a wrong root and a time in the future.
    let mut honest = ledger();
    for (i, e) in log.iter().enumerate() {
        honest.check(i as u64, e, None).unwrap();
    }
    let bad_state = StateLeaf {
        size: 5,
        map_root: sha256(b"not the map"),
        time: NOW + MAX_LOG_TIME_SKEW_SECS + 1,
    };
    log.push(bad_state.to_text().into_bytes());
    let found = check_all(&log);
    let codes: Vec<Vec<&str>> = found
        .iter()
        .map(|v| v.iter().map(Violation::code).collect())
        .collect();
    assert_eq!(
        codes,
        vec![
            vec![],
            vec![],
            vec!["unknown-key"],
            vec![],
            vec!["malformed"],
            vec!["time-decreased", "duplicate-add"],
            vec!["state-size", "map-mismatch", "time-in-future"],
        ]
    );
    // The recomputed root includes the invalid binding's update (then version 3's).
    let mut l = ledger();
    for (i, e) in log.iter().enumerate() {
        l.check(i as u64, e, Some(NOW)).unwrap();
    }
    let value = l
        .current(&r.parse::<TagRef>().unwrap().key())
        .unwrap()
        .unwrap();
    assert_eq!((value.index, value.version), (3, 3));
    assert_eq!(value.leaf_hash, leaf_hash(&log[3]));
    // Out of order is an error, not a finding, and applies nothing.
    let head = l.head();
    assert!(l.check(3, &log[3], None).is_err());
    assert_eq!(l.head(), head);
}

#[test]
fn a_signature_check_run_ahead_counts_only_for_the_candidates_it_was_run_with() {
    let acme = key("acme.test", 1);
    let mut l = ledger();
    let g = grant("reg.test/acme", &acme);
    l.append_publisher(PublisherChange::Add, &g, NOW).unwrap();
    let b = binding("reg.test/acme/app:1", 1, 1, &acme);
    let check = SignatureCheck::run(&b, &l.allowlist().candidates(&b).unwrap());
    assert_eq!(check.verified(), Some(&acme.verifier()));
    // The key is removed before the binding is sequenced: the check run ahead is stale.
    l.append_publisher(PublisherChange::Remove, &g, NOW)
        .unwrap();
    let v = rule(l.append_binding(&b, Some(&check)).unwrap_err());
    assert!(matches!(v, Violation::NotAdmitted { .. }));
    // A check run for another entry is not taken for this one.
    l.append_publisher(PublisherChange::Add, &g, NOW).unwrap();
    let other = binding("reg.test/acme/app:2", 1, 1, &acme);
    let foreign = SignatureCheck::run(&other, &[acme.verifier()]);
    let good = String::from_utf8(b.entry().to_vec()).unwrap();
    let tampered =
        SignedBinding::parse(good.replace("version 1\n", "version 2\n").as_bytes()).unwrap();
    let v = rule(l.append_binding(&tampered, Some(&foreign)).unwrap_err());
    assert!(matches!(v, Violation::BadSignature { .. }), "{v}");

    // candidates_ahead replays the publisher changes of the leaves given.
    let leaves: Vec<Result<Leaf, _>> = vec![
        Leaf::parse(&pub_leaf(PublisherChange::Remove, "reg.test/acme", &acme)),
        Leaf::parse(b.entry()),
        Leaf::parse(&pub_leaf(PublisherChange::Add, "reg.test/acme", &acme)),
        Leaf::parse(b.entry()),
    ];
    let ahead = l.candidates_ahead(&leaves);
    assert_eq!(ahead, vec![None, None, None, Some(vec![acme.verifier()])]);
}

/// The `log-small` vector log (31 entries, written by an independent implementation from
/// DESIGN): checking finds nothing wrong, every checkpoint ends in a state leaf, and deciding
/// the same leaves in order accepts each and rewrites the log-authored ones byte for byte.
#[test]
fn the_log_small_vector_log_replays_clean_and_decides_identically() {
    let dir = format!(
        "{}/tests/vectors/taglog/log-small",
        env!("CARGO_MANIFEST_DIR")
    );
    let bundle = std::fs::read(format!("{dir}/tile/entries/000.p/31")).unwrap();
    let entries = taglog_proofs::tiles::decode_entry_bundle(&bundle, 31).unwrap();
    let origin = "log.example.org/taglog";
    let mut checker = Ledger::new(origin, MemoryMap::new());
    let mut decider = Ledger::new(origin, MemoryMap::new());
    let (mut bindings, mut publishers, mut states) = (0, 0, 0);
    for (i, e) in entries.iter().enumerate() {
        let c = checker.check(i as u64, e, Some(NOW + 3600)).unwrap();
        assert!(c.violations.is_empty(), "leaf {i}: {:?}", c.violations);
        match c.leaf.unwrap() {
            Leaf::Binding(b) => {
                bindings += 1;
                assert_eq!(decider.append_binding(&b, None).unwrap().index, i as u64);
            }
            Leaf::Publisher(p) => {
                publishers += 1;
                let g = Grant {
                    prefix: p.prefix.clone(),
                    key: p.key.clone(),
                };
                let leaf = decider.append_publisher(p.change, &g, p.time).unwrap();
                assert_eq!(leaf.to_text().as_bytes(), e.as_slice());
            }
            Leaf::State(s) => {
                states += 1;
                assert_eq!(decider.append_state(s.time).unwrap(), s);
            }
        }
    }
    assert!(bindings > 0 && publishers > 0 && states >= 3);
    for size in [12, 21, 31] {
        // Checkpoint boundaries of the vector log: each ends in a state leaf.
        let mut l = Ledger::new(origin, MemoryMap::new());
        for (i, e) in entries.iter().take(size).enumerate() {
            l.check(i as u64, e, None).unwrap();
        }
        assert_eq!(l.end_checkpoint(size as u64), None, "size {size}");
    }
    assert_eq!(checker.map().root(), decider.map().root());
}
