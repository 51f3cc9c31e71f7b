//! DESIGN §4 steps 3–8 over the independent log-small vectors: the three lookup bundles verify
//! as they should, and each corruption of a bundle field, of the policy or of the local state
//! fails with its own error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use taglog_proofs::binding::{DigestValue, SignedBinding};
use taglog_proofs::bundle::{Bundle, ConsistencyMember, History, LeafProof, Status};
use taglog_proofs::checkpoint::Checkpoint;
use taglog_proofs::consistency::consistency_proof;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::inclusion::inclusion_proof;
use taglog_proofs::note::{KeyType, Note, SignerKey};
use taglog_proofs::policy::Policy;
use taglog_proofs::refs::TagRef;
use taglog_proofs::tree::MemoryTree;
use taglog_proofs::verify::{
    verify, CachedCheckpoint, ErrorClass, HighWater, VerdictKind, VerifyError, VerifyRequest,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/taglog/log-small")
}

fn read(p: &str) -> Vec<u8> {
    std::fs::read(dir().join(p)).unwrap()
}

struct Keys {
    log: String,
    witness: String,
    publisher: String,
    beta: String,
}

fn keys() -> Keys {
    let v: serde_json::Value = serde_json::from_slice(&read("keys.json")).unwrap();
    Keys {
        log: v["log"].as_str().unwrap().into(),
        witness: v["witness"].as_str().unwrap().into(),
        publisher: v["publishers"][0].as_str().unwrap().into(),
        beta: v["publishers"][1].as_str().unwrap().into(),
    }
}

fn policy_text(extra: &str) -> String {
    let k = keys();
    format!(
        "# log-small\nlog {}\nwitness w {}\nquorum w\npublisher registry.example/acme {}\npublisher registry.example/beta {}\n{extra}",
        k.log, k.witness, k.publisher, k.beta
    )
}

fn policy(extra: &str) -> Policy {
    Policy::parse(policy_text(extra).as_bytes()).unwrap()
}

fn bundle(name: &str) -> Bundle {
    Bundle::parse(&read(&format!("lookup/{name}.json"))).unwrap()
}

/// The witness's cosignature time in the newest checkpoint.
fn cosig_time() -> u64 {
    let note = Note::parse(&read("checkpoint")).unwrap();
    let sig = note
        .signatures()
        .iter()
        .find(|s| s.name().as_str() == "witness.example")
        .unwrap();
    u64::from_be_bytes(sig.sig()[..8].try_into().unwrap())
}

/// All 31 entries of the log, from the full-size entry bundle.
fn entries() -> Vec<Vec<u8>> {
    let raw = read("tile/entries/000.p/31");
    let mut out = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        out.push(rest[2..2 + n].to_vec());
        rest = &rest[2 + n..];
    }
    assert_eq!(out.len(), 31);
    out
}

fn tree() -> MemoryTree {
    let mut t = MemoryTree::new();
    for e in entries() {
        t.append(&e).unwrap();
    }
    t
}

fn cached(size: u64) -> CachedCheckpoint {
    let note = read(&format!("checkpoints/{size}"));
    let n = Note::parse(&note).unwrap();
    let cp = Checkpoint::parse(n.text()).unwrap();
    CachedCheckpoint {
        note,
        size: cp.size(),
        root: cp.root(),
    }
}

struct Case {
    policy: Policy,
    bundle: Bundle,
    reference: TagRef,
    registry: Option<DigestValue>,
    now: u64,
    accept_stale: u64,
    offline: bool,
    cached: Option<CachedCheckpoint>,
    high_water: Option<HighWater>,
    pin: Option<DigestValue>,
    history: Option<History>,
}

impl Case {
    fn new(name: &str) -> Case {
        let bundle = bundle(name);
        Case {
            policy: policy(""),
            reference: bundle.reference.clone(),
            bundle,
            registry: None,
            now: cosig_time() + 60,
            accept_stale: 0,
            offline: false,
            cached: None,
            high_water: None,
            pin: None,
            history: None,
        }
    }

    fn run(&self) -> Result<taglog_proofs::verify::Verdict, VerifyError> {
        verify(&VerifyRequest {
            policy: &self.policy,
            bundle: &self.bundle,
            signed_ref: &self.reference,
            registry_digest: self.registry.as_ref(),
            now: self.now,
            accept_stale: self.accept_stale,
            offline: self.offline,
            cached: self.cached.as_ref(),
            high_water: self.high_water.as_ref(),
            newest_cosignature: None,
            pin: self.pin.as_ref(),
            history: self.history.as_ref(),
        })
    }

    fn err(&self) -> VerifyError {
        match self.run() {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }
}

fn current_digest(b: &Bundle) -> DigestValue {
    let sb = SignedBinding::parse(&b.binding.as_ref().unwrap().entry).unwrap();
    sb.binding().digest
}

fn flip(h: &mut Hash) {
    h.0[0] ^= 1;
}

#[test]
fn bound_verifies_within_max_age() {
    let mut c = Case::new("bound");
    let digest = current_digest(&c.bundle);
    c.registry = Some(digest);
    let v = c.run().unwrap();
    assert_eq!(v.digest, digest);
    assert_eq!(v.kind, VerdictKind::Current);
    assert!(!v.stale_accepted);
    assert_eq!(v.checkpoint.size, 31);
    assert_eq!(
        v.checkpoint.cosigners,
        vec![("w".to_string(), cosig_time())]
    );
    let cur = v.current.unwrap();
    assert_eq!((cur.version, cur.index), (4, 23));
    // A first verification caches the checkpoint and the high-water mark.
    assert_eq!(v.update.checkpoint.as_ref().unwrap().size, 31);
    let (r, hw) = v.update.high_water.unwrap();
    assert_eq!(r, c.reference);
    assert_eq!(hw.version, 4);
    // Still fresh at exactly max-age, and 5 minutes into the future.
    c.now = cosig_time() + 3600;
    assert!(c.run().is_ok());
    c.now = cosig_time() - 300;
    assert!(c.run().is_ok());
    // Without a registry digest (offline with a bundle) the verdict is the bound digest.
    c.registry = None;
    assert_eq!(c.run().unwrap().digest, digest);
}

#[test]
fn withdrawn_unbound_and_digest_mismatch() {
    let c = Case::new("withdrawn");
    match c.err() {
        VerifyError::Withdrawn {
            version, update, ..
        } => {
            assert_eq!(version, 103);
            assert_eq!(update.high_water.unwrap().1.version, 103);
        }
        e => panic!("{e:?}"),
    }
    let c = Case::new("unbound");
    match c.err() {
        VerifyError::Unbound { size, update, .. } => {
            assert_eq!(size, 31);
            assert!(update.checkpoint.is_some());
        }
        e => panic!("{e:?}"),
    }
    let mut c = Case::new("bound");
    c.registry = Some(
        "sha256:b4e67fbdb8acb1656c45535658910492b7d7d07cae10adc3dd423c38497bdfef"
            .parse()
            .unwrap(),
    );
    match c.err() {
        e @ VerifyError::DigestMismatch { .. } => {
            let VerifyError::DigestMismatch {
                registry,
                current,
                version,
                ..
            } = &e
            else {
                unreachable!()
            };
            assert!(registry.starts_with("sha256:b4e6"));
            assert!(current.starts_with("sha256:0c8e"));
            assert_eq!(*version, 4);
            assert!(e.to_string().contains("sha256:b4e6") && e.to_string().contains("sha256:0c8e"));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn staleness_and_accept_stale() {
    let mut c = Case::new("bound");
    c.now = cosig_time() + 3601;
    assert!(matches!(
        c.err(),
        VerifyError::StaleCheckpoint {
            what: "cosignature",
            ..
        }
    ));
    c.now = cosig_time() - 301;
    assert!(matches!(c.err(), VerifyError::StaleCheckpoint { .. }));
    // --accept-stale 1d: passes, is marked, and updates nothing.
    c.now = cosig_time() + 7200;
    c.accept_stale = 86400;
    let v = c.run().unwrap();
    assert!(v.stale_accepted);
    assert!(v.update.is_empty());
    assert!(!v.warnings.is_empty());
    // A longer policy max-age accepts it without --accept-stale.
    c.accept_stale = 0;
    c.policy = policy("max-age 3h\n");
    assert!(!c.run().unwrap().stale_accepted);
    // A client that saw a cosignature far in the future moves its clock forward.
    let r = verify(&VerifyRequest {
        policy: &policy(""),
        bundle: &c.bundle,
        signed_ref: &c.reference,
        registry_digest: None,
        now: cosig_time(),
        accept_stale: 0,
        offline: false,
        cached: None,
        high_water: None,
        newest_cosignature: Some(cosig_time() + 10_000),
        pin: None,
        history: None,
    });
    assert!(matches!(r, Err(VerifyError::StaleCheckpoint { .. })));
}

#[test]
fn quorum_none_uses_the_log_time() {
    let k = keys();
    let text = format!(
        "log {}\nquorum none\npublisher registry.example/acme {}\n",
        k.log, k.publisher
    );
    let mut c = Case::new("bound");
    c.policy = Policy::parse(text.as_bytes()).unwrap();
    // The state leaf's time is 1764000070.
    c.now = 1_764_000_070 + 100;
    assert!(c.run().is_ok());
    c.now = 1_764_000_070 + 3601;
    assert!(matches!(
        c.err(),
        VerifyError::StaleCheckpoint {
            what: "log time",
            ..
        }
    ));
}

#[test]
fn policy_failures() {
    let k = keys();
    // Uncovered ref: a policy error, never a pass.
    let mut c = Case::new("bound");
    c.policy = Policy::parse(
        format!(
            "log {}\nwitness w {}\nquorum w\npublisher registry.example/beta {}\n",
            k.log, k.witness, k.beta
        )
        .as_bytes(),
    )
    .unwrap();
    let e = c.err();
    assert!(matches!(e, VerifyError::NotCovered { .. }));
    assert_eq!(e.class(), ErrorClass::Policy);
    // Covered, but by a key that did not sign the current binding.
    c.policy = Policy::parse(
        format!(
            "log {}\nwitness w {}\nquorum w\npublisher registry.example/acme {}\n",
            k.log, k.witness, k.beta
        )
        .as_bytes(),
    )
    .unwrap();
    match c.err() {
        VerifyError::UntrustedCurrentBinding { key, version, .. } => {
            assert!(key.starts_with("publisher.example+"), "{key}");
            assert_eq!(version, 4);
        }
        e => panic!("{e:?}"),
    }
    // A quorum that also needs a witness that did not cosign.
    let other = SignerKey::from_seed(
        "other.witness".parse().unwrap(),
        KeyType::Cosignature,
        [7; 32],
    );
    c.policy = Policy::parse(
        format!(
            "log {}\nwitness w {}\nwitness x {}\ngroup both all w x\nquorum both\npublisher registry.example/acme {}\n",
            k.log,
            k.witness,
            other.verifier(),
            k.publisher
        )
        .as_bytes(),
    )
    .unwrap();
    match c.err() {
        VerifyError::QuorumNotMet { cosigners, .. } => assert_eq!(cosigners, vec!["w".to_string()]),
        e => panic!("{e:?}"),
    }
    // `group any` of the two is met.
    c.policy = Policy::parse(
        format!(
            "log {}\nwitness w {}\nwitness x {}\ngroup one any w x\nquorum one\npublisher registry.example/acme {}\n",
            k.log,
            k.witness,
            other.verifier(),
            k.publisher
        )
        .as_bytes(),
    )
    .unwrap();
    assert!(c.run().is_ok());
}

#[test]
fn each_bundle_field_corruption_has_its_error() {
    let mut count = 0;
    let mut check = |mutate: &dyn Fn(&mut Case), want: &str| {
        let mut c = Case::new("bound");
        c.registry = Some(current_digest(&c.bundle));
        mutate(&mut c);
        let e = c.err();
        assert_eq!(e.code(), want, "{e}");
        count += 1;
    };
    check(
        &|c| c.reference = "registry.example/acme/app1:v1".parse().unwrap(),
        "ref-mismatch",
    );
    check(
        &|c| {
            let s = String::from_utf8(c.bundle.checkpoint.clone()).unwrap();
            c.bundle.checkpoint = s.replacen("\n31\n", "\n32\n", 1).into_bytes();
        },
        "bad-checkpoint",
    );
    check(
        &|c| {
            let s = String::from_utf8(c.bundle.checkpoint.clone()).unwrap();
            let cut = s.find("— witness.example").unwrap();
            c.bundle.checkpoint = s.as_bytes()[..cut].to_vec();
        },
        "quorum-not-met",
    );
    check(&|c| c.bundle.state.index = 29, "state-leaf-index");
    check(
        &|c| flip(&mut c.bundle.state.inclusion[0]),
        "state-leaf-not-included",
    );
    check(
        &|c| c.bundle.state.entry[20] ^= 1,
        "state-leaf-not-included",
    );
    check(
        &|c| {
            c.bundle.state.inclusion.pop();
        },
        "state-leaf-not-included",
    );
    check(
        &|c| flip(&mut c.bundle.map.proof.siblings[0]),
        "bad-map-proof",
    );
    check(&|c| c.bundle.map.proof.depth += 1, "bad-map-proof");
    check(
        &|c| c.bundle.binding.as_mut().unwrap().index = 22,
        "binding-index",
    );
    check(
        &|c| c.bundle.binding.as_mut().unwrap().entry[30] ^= 1,
        "binding-leaf-hash",
    );
    check(
        &|c| flip(&mut c.bundle.binding.as_mut().unwrap().inclusion[1]),
        "binding-not-included",
    );
    check(&|c| c.bundle.binding = None, "missing-binding");
    check(&|c| c.bundle.status = Status::Withdrawn, "status-mismatch");
    check(&|c| c.bundle.status = Status::Unbound, "status-mismatch");
    // The bound bundle's binding inside the unbound bundle.
    check(
        &|c| {
            let b = bundle("bound").binding;
            *c = Case::new("unbound");
            c.bundle.binding = b;
        },
        "unexpected-binding",
    );
    check(
        &|c| {
            *c = Case::new("unbound");
            c.bundle.status = Status::Bound;
        },
        "status-mismatch",
    );
    // Another ref's bundle presented under this ref.
    check(
        &|c| {
            c.bundle = bundle("withdrawn");
            c.bundle.reference = c.reference.clone();
        },
        "bad-map-proof",
    );
    assert_eq!(count, 18);
}

#[test]
fn cached_checkpoint_and_consistency() {
    let t = tree();
    assert_eq!(t.root(), cached(31).root);
    // Online: a larger checkpoint needs a proof from the cached size.
    let mut c = Case::new("bound");
    c.cached = Some(cached(21));
    assert!(matches!(
        c.err(),
        VerifyError::MissingConsistency {
            cached: 21,
            size: 31
        }
    ));
    // Offline: it verifies but does not replace the cache.
    c.offline = true;
    let v = c.run().unwrap();
    assert!(v.update.checkpoint.is_none());
    assert!(!v.warnings.is_empty());
    // With a correct proof it replaces the cache.
    c.offline = false;
    let proof = consistency_proof(21, 31, &t).unwrap();
    c.bundle.consistency = Some(ConsistencyMember {
        from_size: 21,
        proof: proof.clone(),
    });
    assert_eq!(c.run().unwrap().update.checkpoint.unwrap().size, 31);
    // A bad proof is a security error with evidence.
    let mut bad = proof.clone();
    flip(&mut bad[0]);
    c.bundle.consistency = Some(ConsistencyMember {
        from_size: 21,
        proof: bad,
    });
    match c.err() {
        e @ VerifyError::Inconsistent { .. } => {
            assert_eq!(e.class(), ErrorClass::Security);
            let VerifyError::Inconsistent { evidence, .. } = e else {
                unreachable!()
            };
            assert_eq!((evidence.old_size, evidence.new_size), (21, 31));
            let text = evidence.to_text();
            assert!(text.contains("\n21\n") && text.contains("\n31\n"));
        }
        e => panic!("{e:?}"),
    }
    // Same size, other root: inconsistent.
    let mut fake = cached(31);
    flip(&mut fake.root);
    c.cached = Some(fake);
    assert_eq!(c.err().code(), "inconsistent");
    // Same checkpoint: fine, nothing to replace.
    c.cached = Some(cached(31));
    assert!(c.run().unwrap().update.checkpoint.is_none());
    // A client that saw a larger checkpoint: stale view.
    let mut larger = cached(31);
    larger.size = 40;
    c.cached = Some(larger);
    assert!(matches!(
        c.err(),
        VerifyError::StaleView {
            cached: 40,
            size: 31,
            ..
        }
    ));
    // Floor.
    c.cached = None;
    c.policy = policy("floor log.example.org/taglog 32\n");
    assert!(matches!(
        c.err(),
        VerifyError::BelowFloor {
            floor: 32,
            size: 31,
            ..
        }
    ));
    c.policy = policy("floor log.example.org/taglog 31\n");
    assert!(c.run().is_ok());
}

#[test]
fn high_water_rollback_and_equivocation() {
    let mut c = Case::new("bound");
    let cur = c.run().unwrap().current.unwrap();
    c.high_water = Some(HighWater {
        version: 5,
        leaf_hash: cur.leaf_hash,
    });
    assert!(matches!(
        c.err(),
        VerifyError::Rollback {
            seen: 5,
            found: 4,
            ..
        }
    ));
    let mut other = cur.leaf_hash;
    flip(&mut other);
    c.high_water = Some(HighWater {
        version: 4,
        leaf_hash: other,
    });
    let e = c.err();
    assert!(matches!(e, VerifyError::Equivocation { version: 4, .. }));
    assert_eq!(e.class(), ErrorClass::Security);
    c.high_water = Some(HighWater {
        version: 4,
        leaf_hash: cur.leaf_hash,
    });
    assert!(c.run().unwrap().update.high_water.is_none());
    c.high_water = Some(HighWater {
        version: 3,
        leaf_hash: other,
    });
    assert_eq!(c.run().unwrap().update.high_water.unwrap().1.version, 4);
}

/// Every binding of `r` with its inclusion proof at size 31.
fn history_for(r: &TagRef) -> History {
    let t = tree();
    let mut out = Vec::new();
    for (i, e) in entries().into_iter().enumerate() {
        if let Ok(sb) = SignedBinding::parse(&e) {
            if &sb.binding().reference == r {
                out.push(LeafProof {
                    index: i as u64,
                    inclusion: inclusion_proof(i as u64, 31, &t).unwrap(),
                    entry: e,
                });
            }
        }
    }
    History {
        reference: r.clone(),
        checkpoint: read("checkpoint"),
        entries: out,
        next_cursor: None,
    }
}

#[test]
fn pin_via_history_inclusion() {
    let mut c = Case::new("bound");
    let h = history_for(&c.reference);
    assert_eq!(h.entries.len(), 4, "app0:v1 has versions 1..=4");
    assert_eq!(
        leaf_hash(&h.entries[3].entry),
        c.run().unwrap().current.unwrap().leaf_hash
    );
    let old = SignedBinding::parse(&h.entries[0].entry)
        .unwrap()
        .binding()
        .digest;
    c.pin = Some(old);
    c.registry = Some(old);
    c.history = Some(h.clone());
    let v = c.run().unwrap();
    assert_eq!(v.digest, old);
    assert!(matches!(
        v.kind,
        VerdictKind::Pinned {
            version: 1,
            moved: true,
            ..
        }
    ));
    assert_eq!(v.current.as_ref().unwrap().version, 4);
    assert!(v.warnings.iter().any(|w| w.contains("moved")));
    // The registry serves something else than the pin.
    c.registry = Some(current_digest(&c.bundle));
    assert_eq!(c.err().code(), "pin-mismatch");
    // A pin nobody bound.
    let never: DigestValue = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
    c.pin = Some(never);
    c.registry = Some(never);
    assert_eq!(c.err().code(), "pin-not-proven");
    // A history entry with a broken inclusion proof does not prove the pin.
    c.pin = Some(old);
    c.registry = Some(old);
    let mut broken = h.clone();
    broken.entries.truncate(1);
    flip(&mut broken.entries[0].inclusion[0]);
    c.history = Some(broken);
    assert_eq!(c.err().code(), "pin-not-proven");
    // A history against another checkpoint does not either.
    let mut other = h;
    other.checkpoint = read("checkpoints/21");
    c.history = Some(other);
    assert_eq!(c.err().code(), "pin-not-proven");
    c.history = None;
    assert_eq!(c.err().code(), "pin-not-proven");
}

#[test]
fn future_cosignatures_are_ignored_and_never_move_the_clock() {
    use taglog_proofs::checkpoint::SignedCheckpoint;
    use taglog_proofs::cosignature::cosign;
    let k = keys();
    let log_key: taglog_proofs::note::VerifierKey = k.log.parse().unwrap();
    let mine = SignerKey::from_seed(
        "future.witness".parse().unwrap(),
        KeyType::Cosignature,
        [9; 32],
    );
    let mut c = Case::new("bound");
    let cp = SignedCheckpoint::open(&c.bundle.checkpoint, &log_key).unwrap();
    let sig = cosign(cp.checkpoint(), cosig_time() + 100_000, &mine).unwrap();
    c.bundle.checkpoint = cp.with_signatures(&[sig]).unwrap().to_bytes();
    c.policy = Policy::parse(
        format!(
            "log {}\nwitness w {}\nwitness f {}\ngroup g any w f\nquorum g\npublisher registry.example/acme {}\n",
            k.log,
            k.witness,
            mine.verifier(),
            k.publisher
        )
        .as_bytes(),
    )
    .unwrap();
    let v = c.run().unwrap();
    assert_eq!(v.checkpoint.cosigners.len(), 2);
    assert_eq!(v.update.newest_cosignature, Some(cosig_time()));
    // Requiring the future-dated witness alone fails as stale, not as a quorum failure.
    c.policy = Policy::parse(
        format!(
            "log {}\nwitness f {}\nquorum f\npublisher registry.example/acme {}\n",
            k.log,
            mine.verifier(),
            k.publisher
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(c.err().code(), "stale-checkpoint");
}
