//! `/healthz` freshness is judged by the cosignatures clients check, not by the log's own
//! time (issue 12, finding 6): a checkpoint whose state leaf is new but whose cosignatures
//! are old (or from the future, or by unknown witnesses) is stale.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod inproc;

use std::sync::Arc;

use inproc::*;
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, SignedCheckpoint};
use taglog_proofs::cosignature::cosign;
use taglog_proofs::hash::Hash;
use taglog_proofs::note::{KeyType, SignerKey};
use taglog_server::config::{LogConfig, WitnessConfig};
use taglog_server::log::heads::Head;
use taglog_server::log::health::{judge, Stale};

const NOW: u64 = 1_800_000_000;
const LIMIT: u64 = 150;

fn witness(seed: u8) -> SignerKey {
    SignerKey::from_seed(
        format!("witness.example/w{seed}").parse().unwrap(),
        KeyType::Cosignature,
        [seed; 32],
    )
}

/// A published head of size 5 whose state leaf has time `leaf_time`, cosigned by each
/// `(witness, time)`.
fn head(leaf_time: u64, cosigners: &[(&SignerKey, u64)]) -> Head {
    let root = Hash([9; 32]);
    let cp = Checkpoint::new(ORIGIN, 5, root).unwrap();
    let note = sign_checkpoint(&cp, &log_key()).unwrap();
    let signed = SignedCheckpoint::open(&note, &log_key().verifier()).unwrap();
    let sigs: Vec<_> = cosigners
        .iter()
        .map(|(k, t)| cosign(&cp, *t, k).unwrap())
        .collect();
    Head {
        size: 5,
        root,
        note: Arc::new(signed.with_signatures(&sigs).unwrap().to_bytes()),
        time: leaf_time,
    }
}

fn config(quorum: usize, witnesses: &[&SignerKey]) -> LogConfig {
    let mut c = LogConfig::new(log_key());
    c.witnesses = witnesses
        .iter()
        .map(|k| WitnessConfig {
            key: k.verifier(),
            url: "http://127.0.0.1:9".into(),
        })
        .collect();
    c.witness_quorum = quorum;
    c
}

#[test]
fn freshness_follows_the_cosignatures_clients_check() {
    let (w1, w2, stranger) = (witness(1), witness(2), witness(3));
    let two = config(2, &[&w1, &w2]);

    // Fresh cosignatures by both: healthy, even with an old state leaf.
    let fresh = judge(
        &head(NOW - 10_000, &[(&w1, NOW - 5), (&w2, NOW - 60)]),
        &two,
        NOW,
        LIMIT,
    )
    .unwrap();
    assert_eq!((fresh.fresh_cosignatures, fresh.age), (2, 5));

    // A new state leaf but an old cosignature: stale (clients see the old cosignature).
    let old = head(NOW, &[(&w1, NOW - 5), (&w2, NOW - LIMIT - 1)]);
    assert!(
        matches!(
            judge(&old, &two, NOW, LIMIT),
            Err(Stale::Cosignatures {
                fresh: 1,
                quorum: 2,
                ..
            })
        ),
        "{:?}",
        judge(&old, &two, NOW, LIMIT)
    );
    // A cosignature from the future does not count, nor one by an unconfigured witness.
    let future = head(NOW, &[(&w1, NOW), (&w2, NOW + 301)]);
    assert!(judge(&future, &two, NOW, LIMIT).is_err());
    let unknown = head(NOW, &[(&w1, NOW), (&stranger, NOW)]);
    assert!(judge(&unknown, &two, NOW, LIMIT).is_err());
    assert!(judge(&unknown, &config(1, &[&w1, &w2]), NOW, LIMIT).is_ok());

    // Without a quorum clients check the state leaf's time: the same window applies.
    let none = config(0, &[]);
    assert!(judge(&head(NOW - 100, &[]), &none, NOW, LIMIT).is_ok());
    assert!(matches!(
        judge(&head(NOW - LIMIT - 1, &[]), &none, NOW, LIMIT),
        Err(Stale::LogTime { .. })
    ));
    assert!(
        judge(&head(NOW + 301, &[]), &none, NOW, LIMIT).is_err(),
        "a log time from the future is not fresh"
    );
}
