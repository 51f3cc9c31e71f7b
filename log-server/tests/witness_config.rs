//! Witness configuration is refused at load, before anything is opened (issue 12, finding 2):
//! a witness listed twice (it would count twice toward the quorum), a key that is not a
//! cosignature key (0x04), more witnesses than fit in a note beside the log's signature
//! (signed-note: at most 32 signature lines), and a quorum above the number of witnesses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use taglog_proofs::note::{KeyType, SignerKey};
use taglog_testkit::log_server::exit_within_args;
use taglog_testkit::tempdir;

fn witness_vkey(seed: u8, ty: KeyType) -> String {
    SignerKey::from_seed(
        format!("witness.example/w{seed}").parse().unwrap(),
        ty,
        [seed; 32],
    )
    .verifier()
    .to_string()
}

/// Runs the server with `args`; its exit code and stderr, or `None` if it was still running
/// after a few seconds (it started).
fn outcome(dir: &std::path::Path, args: &[String]) -> Option<(Option<i32>, String)> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    exit_within_args(dir, &args, Duration::from_secs(5)).map(|e| (e.code, e.stderr))
}

fn witnesses(list: &[String]) -> Vec<String> {
    list.iter()
        .enumerate()
        .flat_map(|(i, k)| {
            [
                "--witness".to_string(),
                k.clone(),
                format!("http://127.0.0.1:9/w{i}"),
            ]
        })
        .collect()
}

#[test]
fn bad_witness_configurations_are_refused_at_load() {
    let w1 = witness_vkey(1, KeyType::Cosignature);
    let w2 = witness_vkey(2, KeyType::Cosignature);
    let ed = witness_vkey(3, KeyType::Ed25519);
    let many: Vec<String> = (1..=32u8)
        .map(|i| witness_vkey(i, KeyType::Cosignature))
        .collect();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            witnesses(&[w1.clone(), w2.clone(), w1.clone()]),
            "listed twice",
        ),
        (witnesses(&[w1.clone(), ed]), "not a cosignature key"),
        (witnesses(&many), "at most 31 witnesses"),
        (
            [
                witnesses(&[w1.clone(), w2.clone()]),
                vec!["--witness-quorum".into(), "3".into()],
            ]
            .concat(),
            "quorum 3 > 2",
        ),
    ];
    for (args, message) in cases {
        let dir = tempdir();
        let got = outcome(dir.path(), &args);
        let (code, err) = got.unwrap_or_else(|| panic!("started with {message:?} args"));
        assert_eq!(code, Some(2), "{message}: {err}");
        assert!(err.contains(message), "expected {message:?} in: {err}");
        assert!(
            !dir.path().join("data").exists(),
            "{message}: the data directory was created"
        );
    }
    // 31 distinct cosignature keys are fine (the log's signature makes 32 lines).
    let dir = tempdir();
    let fine = witnesses(&many[..31]);
    let args = [fine, vec!["--witness-quorum".into(), "0".into()]].concat();
    assert!(
        outcome(dir.path(), &args).is_none(),
        "31 witnesses were refused"
    );
}
