//! The client's verifier tries every allowed publisher key with the binding's (name, key ID):
//! a key with a colliding key ID listed first for the same prefix cannot make a valid binding
//! fail (issue 12, finding 4, "as the client must too"). The bundle is built here from a
//! two-leaf log (the binding, the state leaf), signed and cosigned.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::binding::{sign_binding, Binding};
use taglog_proofs::bundle::{Bundle, LeafProof, MapMember, Status};
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, SignedCheckpoint};
use taglog_proofs::cosignature::cosign;
use taglog_proofs::hash::leaf_hash;
use taglog_proofs::inclusion::inclusion_proof;
use taglog_proofs::leaves::StateLeaf;
use taglog_proofs::map::{MapValue, SparseMap};
use taglog_proofs::note::{KeyName, KeyType, SignerKey};
use taglog_proofs::policy::Policy;
use taglog_proofs::refs::TagRef;
use taglog_proofs::tree::MemoryTree;
use taglog_proofs::verify::{verify, VerifyError, VerifyRequest};

const ORIGIN: &str = "log.test/collide";
const NOW: u64 = 1_764_000_000;
const REF: &str = "reg.test/shared/app:1";

fn key(name: &str, n: u32, t: KeyType) -> SignerKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    SignerKey::from_seed(name.parse::<KeyName>().unwrap(), t, seed)
}

/// A bundle for `REF` bound by `signer`, against a checkpoint cosigned by `witness`.
fn bundle(signer: &SignerKey, log: &SignerKey, witness: &SignerKey) -> Bundle {
    let reference: TagRef = REF.parse().unwrap();
    let b = Binding {
        log: ORIGIN.into(),
        reference: reference.clone(),
        digest: format!("sha256:{}", "ab".repeat(32)).parse().unwrap(),
        version: 1,
        time: NOW,
    };
    let entry = sign_binding(&b, signer).unwrap();
    let mut map = SparseMap::new();
    let value = MapValue {
        index: 0,
        version: 1,
        leaf_hash: leaf_hash(&entry),
    };
    map.insert(reference.key(), value).unwrap();
    let state = StateLeaf {
        size: 1,
        map_root: map.root(),
        time: NOW,
    }
    .to_text()
    .into_bytes();
    let mut tree = MemoryTree::new();
    tree.append(&entry).unwrap();
    tree.append(&state).unwrap();
    let cp = Checkpoint::new(ORIGIN, 2, tree.root()).unwrap();
    let note = sign_checkpoint(&cp, log).unwrap();
    let signed = SignedCheckpoint::open(&note, &log.verifier()).unwrap();
    let cosig = cosign(&cp, NOW, witness).unwrap();
    let checkpoint = signed.with_signatures(&[cosig]).unwrap().to_bytes();
    Bundle {
        reference,
        status: Status::Bound,
        checkpoint,
        state: LeafProof {
            index: 1,
            entry: state,
            inclusion: inclusion_proof(1, 2, &tree).unwrap(),
        },
        map: MapMember {
            proof: map.prove(&REF.parse::<TagRef>().unwrap().key()).unwrap(),
        },
        binding: Some(LeafProof {
            index: 0,
            entry,
            inclusion: inclusion_proof(0, 2, &tree).unwrap(),
        }),
        consistency: None,
    }
}

#[test]
fn a_colliding_key_listed_first_does_not_shadow_the_publisher() {
    // Two keys named tenant.test with the same key ID (birthday search over seeds).
    let mallory = key("tenant.test", 66_760, KeyType::Ed25519);
    let victim = key("tenant.test", 142_304, KeyType::Ed25519);
    assert_eq!(mallory.id(), victim.id());
    let log = key(ORIGIN, 1, KeyType::Ed25519);
    let witness = key("witness.test", 2, KeyType::Cosignature);
    let policy = Policy::parse(
        format!(
            "log {}\nwitness w {}\nquorum w\npublisher reg.test/shared {}\npublisher reg.test/shared {}\n",
            log.verifier(),
            witness.verifier(),
            mallory.verifier(),
            victim.verifier()
        )
        .as_bytes(),
    )
    .unwrap();
    let reference: TagRef = REF.parse().unwrap();
    let run = |b: &Bundle| {
        verify(&VerifyRequest {
            policy: &policy,
            bundle: b,
            signed_ref: &reference,
            registry_digest: None,
            now: NOW + 60,
            accept_stale: 0,
            offline: false,
            cached: None,
            high_water: None,
            newest_cosignature: None,
            pin: None,
            history: None,
        })
    };
    for signer in [&victim, &mallory] {
        let verdict = run(&bundle(signer, &log, &witness)).unwrap();
        assert_eq!(
            verdict.current.unwrap().publisher,
            signer.verifier().to_string()
        );
    }
    // A binding whose signature verifies under neither key is still refused.
    let stranger = key("tenant.test", 3, KeyType::Ed25519);
    let mut forged = bundle(&stranger, &log, &witness);
    assert!(matches!(
        run(&forged),
        Err(VerifyError::UntrustedCurrentBinding { .. })
    ));
    // Same name and key ID as the allowed keys, but a signature neither verifies.
    let good = bundle(&victim, &log, &witness);
    let mut entry = good.binding.clone().unwrap().entry;
    let n = entry.len();
    entry[n - 3] ^= 1; // inside the base64 signature
    forged.binding = Some(LeafProof {
        entry,
        ..good.binding.clone().unwrap()
    });
    assert!(run(&forged).is_err());
}
