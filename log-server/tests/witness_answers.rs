//! What a witness answers cannot halt the log or exhaust the server unless it proves its
//! case (issue 12, finding 2): a 409 naming a larger size halts only with the witness's
//! cosigned checkpoint of that size carrying a valid log signature; witness answers are
//! read with a size limit before they are buffered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint};
use taglog_proofs::cosignature::cosign;
use taglog_proofs::hash::Hash;
use taglog_proofs::note::{KeyType, NoteSignature, SignerKey};
use taglog_testkit::bindings::binding;
use taglog_testkit::hostile_witness::{self as hostile, Answer};
use taglog_testkit::http::client;
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{add_binding, LogServer, ORIGIN};
use taglog_testkit::tempdir;

fn write_log_key(data: &Path, seed: u8) -> SignerKey {
    std::fs::create_dir_all(data).unwrap();
    let key = SignerKey::from_seed(ORIGIN.parse().unwrap(), KeyType::Ed25519, [seed; 32]);
    let path = data.join("log.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    key
}

fn witness_args(h: &hostile::Hostile) -> Vec<String> {
    vec![
        "--witness".into(),
        h.vkey().to_string(),
        h.url.clone(),
        "--witness-quorum".into(),
        "1".into(),
    ]
}

async fn wait_requests(h: &hostile::Hostile, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.requests.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "the server did not ask the witness {n} times"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(c: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let r = c.get(format!("{url}/healthz")).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or_default())
}

/// A checkpoint of `size` signed by `log` and cosigned by the hostile witness.
fn cosigned(log: &SignerKey, h: &hostile::Hostile, size: u64) -> Vec<u8> {
    let cp = Checkpoint::new(ORIGIN, size, Hash([7; 32])).unwrap();
    let mut note = sign_checkpoint(&cp, log).unwrap();
    let sig: NoteSignature = cosign(&cp, 1_800_000_000, &h.key).unwrap();
    note.extend_from_slice(sig.to_line().as_bytes());
    note
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unproven_409_does_not_halt_a_proven_one_does() {
    let dir = tempdir();
    let log = write_log_key(&dir.path().join("data"), 3);
    // Cosigns the first checkpoint, then claims a far larger size.
    let h = hostile::start("witness.example/liar", log.verifier(), |n, _| {
        if n == 1 {
            Answer::Cosign
        } else {
            Answer::Conflict(1_000_000)
        }
    });
    // What it serves as its checkpoint is signed by another key: no proof.
    let other = SignerKey::from_seed(ORIGIN.parse().unwrap(), KeyType::Ed25519, [4; 32]);
    *h.checkpoint.lock().unwrap() = Some(cosigned(&other, &h, 1_000_000));
    let args = witness_args(&h);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = LogServer::start(dir.path(), &argv);
    let c = client();
    // The second request gets the 409; give the server time to act on it.
    wait_requests(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (s, b) = health(&c, &server.url).await;
    assert_ne!(
        b["error"], "halted",
        "an unproven 409 halted the log: {s} {b}"
    );
    let (s, b) = add_binding(
        &c,
        &server.url,
        binding(&publisher(), "registry.example/acme/app:1", 1, 1),
    )
    .await;
    assert!(
        s == 200 || s == 202,
        "an unproven 409 stopped the log: {s} {b}"
    );

    // Now it serves a checkpoint of that size with the log's signature: fork risk.
    *h.checkpoint.lock().unwrap() = Some(cosigned(&log, &h, 1_000_000));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, b) = health(&c, &server.url).await;
        if s == 503 && b["error"] == "halted" {
            assert!(b["detail"].as_str().unwrap().contains("fork-risk"), "{b}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a proven 409 did not halt: {s} {b}"
        );
        // A new checkpoint makes the server ask the witness again.
        let _ = add_binding(
            &c,
            &server.url,
            binding(&publisher(), "registry.example/acme/app:2", 1, 2),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(server.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn witness_answers_are_read_with_a_limit() {
    let dir = tempdir();
    let log = write_log_key(&dir.path().join("data"), 3);
    const BODY: u64 = 64 << 20;
    let h = hostile::start("witness.example/flood", log.verifier(), |n, _| {
        if n == 1 {
            Answer::Cosign
        } else {
            Answer::Endless(BODY)
        }
    });
    let args = witness_args(&h);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = LogServer::start(dir.path(), &argv);
    wait_requests(&h, 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent = h.sent.load(Ordering::SeqCst);
    assert!(
        sent < 16 << 20,
        "the server read {sent} bytes of a witness answer (limit 64 KiB)"
    );
    let (s, b) = health(&client(), &server.url).await;
    assert_ne!(b["error"], "halted", "{s} {b}");
    assert_eq!(server.terminate(), Some(0));
}
