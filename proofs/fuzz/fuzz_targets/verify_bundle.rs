//! The client verifier (DESIGN §4) on fuzzed proof bundles, with the log-small vector log's
//! policy, at the witness's cosignature time plus one minute, without cached state. Beyond
//! never panicking, an accepted bundle must tell the truth: the verdict's current binding is
//! the newest binding of its ref among the log's entries below the verified checkpoint size
//! (the oracle reads the vector log's entry bundle), and the checkpoint is one the log signed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use taglog_proofs::bundle::Bundle;
use taglog_proofs::hash::leaf_hash;
use taglog_proofs::leaves::Leaf;
use taglog_proofs::note::Note;
use taglog_proofs::policy::Policy;
use taglog_proofs::tiles::decode_entry_bundle;
use taglog_proofs::verify::{verify, VerdictKind, VerifyRequest};
use taglog_proofs_fuzz::{log_key, witness_key, LOG_VKEY, PUBLISHER_VKEY, WITNESS_VKEY};

const BETA_VKEY: &str = "beta.example+c07937eb+AVyIyhvR2GEwYIoHXJKiaRk8Ua/m0BpvBAfN00AU4aCd";
const ENTRIES: &[u8] = include_bytes!("../../tests/vectors/taglog/log-small/tile/entries/000.p/31");
const CHECKPOINT: &[u8] = include_bytes!("../../tests/vectors/taglog/log-small/checkpoint");

struct Fixture {
    policy: Policy,
    now: u64,
    entries: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let policy = format!(
            "log {LOG_VKEY}\nwitness w {WITNESS_VKEY}\nquorum w\n\
             publisher registry.example/acme {PUBLISHER_VKEY}\n\
             publisher registry.example/beta {BETA_VKEY}\n"
        );
        let note = Note::parse(CHECKPOINT).expect("vector checkpoint parses");
        let cosig = note
            .signatures()
            .iter()
            .find(|s| witness_key().matches(s))
            .expect("vector checkpoint is cosigned");
        let time = u64::from_be_bytes(cosig.sig()[..8].try_into().expect("8 bytes"));
        Fixture {
            policy: Policy::parse(policy.as_bytes()).expect("fixture policy parses"),
            now: time + 60,
            entries: decode_entry_bundle(ENTRIES, 31).expect("vector entry bundle decodes"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = Bundle::parse(data) else {
        return;
    };
    let f = fixture();
    let req = VerifyRequest::stateless(&f.policy, &bundle, &bundle.reference, None, f.now);
    let Ok(verdict) = verify(&req) else {
        return;
    };
    // The checkpoint must be one the vector log really signed.
    let signed = taglog_proofs::checkpoint::SignedCheckpoint::open(&bundle.checkpoint, log_key())
        .expect("verify accepted a checkpoint the log key did not sign");
    assert_eq!(signed.checkpoint().size(), verdict.checkpoint.size);
    assert_eq!(signed.checkpoint().root(), verdict.checkpoint.root);
    // The oracle: the newest binding of the ref below that size.
    let size = usize::try_from(verdict.checkpoint.size).expect("small log");
    let truth =
        f.entries
            .iter()
            .take(size)
            .enumerate()
            .rev()
            .find_map(|(i, e)| match Leaf::parse(e) {
                Ok(Leaf::Binding(b)) if b.binding().reference == verdict.reference => {
                    Some((i, e, b))
                }
                _ => None,
            });
    assert_eq!(verdict.kind, VerdictKind::Current);
    let current = verdict
        .current
        .as_ref()
        .expect("a current verdict has a binding");
    let (index, entry, b) = truth.expect("verify accepted a binding for a ref the log never bound");
    assert_eq!(current.index, index as u64, "not the newest binding");
    assert_eq!(current.leaf_hash, leaf_hash(entry));
    assert_eq!(current.version, b.binding().version);
    assert_eq!(current.digest, b.binding().digest);
    assert_eq!(verdict.digest, b.binding().digest);
});
