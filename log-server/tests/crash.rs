//! Crash test: kill -9 the server under concurrent load at random moments (≥ 20 times),
//! restart it each time, and check that every acknowledged binding is at its index with its
//! bytes and that every checkpoint any client saw is consistent with the final tree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_core::{OsRng, RngCore as _};
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::consistency::verify_consistency;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::inclusion::verify_inclusion;
use taglog_proofs::note::VerifierKey;
use taglog_testkit::bindings::binding;
use taglog_testkit::http::{client, hashes};
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{checkpoint, get, LogServer, PREFIX};
use taglog_testkit::tempdir;

/// Kills in CI; `TAGLOG_CRASH_ROUNDS=50` (or more) runs the longer crash run by hand.
const ROUNDS: usize = 20;

fn rounds() -> usize {
    std::env::var("TAGLOG_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(ROUNDS, |n: usize| n.max(ROUNDS))
}
const CLIENTS: usize = 8;
/// Load comes from one publisher key: lift its quota.
const UNLIMITED: &[&str] = &["--publisher-rate", "0"];
const PER_CLIENT: usize = 40;

#[derive(Default)]
struct Seen {
    acked: Vec<(u64, Vec<u8>)>,
    checkpoints: Vec<(u64, Hash)>,
}

async fn load(url: String, bodies: Vec<Vec<u8>>, seen: Arc<Mutex<Seen>>, key: VerifierKey) {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for body in bodies {
        let resp = c
            .post(format!("{url}/add-binding"))
            .header("content-type", "text/plain")
            .body(body.clone())
            .send()
            .await;
        let Ok(resp) = resp else { return };
        let status = resp.status().as_u16();
        let Ok(text) = resp.text().await else { return };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let index = match status {
            200 => v["binding"]["index"]
                .as_u64()
                .or_else(|| v["index"].as_u64()),
            202 => v["index"].as_u64(),
            _ => None,
        };
        if let Some(i) = index {
            seen.lock().unwrap().acked.push((i, body));
        }
        if let Some(cp) = v["checkpoint"].as_str() {
            let cp = SignedCheckpoint::open(cp.as_bytes(), &key).unwrap();
            seen.lock()
                .unwrap()
                .checkpoints
                .push((cp.checkpoint().size(), cp.checkpoint().root()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing() {
    let dir = tempdir();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut server = LogServer::start(dir.path(), UNLIMITED);
    let key = server.log_key();
    let mut serial = 0u64;
    let rounds = rounds();
    for round in 0..rounds {
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let bodies: Vec<Vec<u8>> = (0..PER_CLIENT)
                .map(|_| {
                    serial += 1;
                    binding(
                        &publisher(),
                        &format!("{PREFIX}/crash:r{serial}"),
                        1,
                        (serial % 251) as u8,
                    )
                })
                .collect();
            tasks.push(tokio::spawn(load(
                server.url.clone(),
                bodies,
                Arc::clone(&seen),
                key.clone(),
            )));
        }
        tokio::time::sleep(Duration::from_millis(
            20 + u64::from(OsRng.next_u32() % 300),
        ))
        .await;
        server.kill();
        for t in tasks {
            t.await.unwrap();
        }
        server = LogServer::try_start(dir.path(), UNLIMITED, Duration::from_secs(60))
            .unwrap_or_else(|e| {
                panic!(
                    "server refused to restart after kill -9 number {}: {e}",
                    round + 1
                )
            });
        let note = checkpoint(&client(), &server.url).await;
        let cp = SignedCheckpoint::open(&note, &key).unwrap();
        seen.lock()
            .unwrap()
            .checkpoints
            .push((cp.checkpoint().size(), cp.checkpoint().root()));
    }
    let c = client();
    let note = checkpoint(&c, &server.url).await;
    let fin = SignedCheckpoint::open(&note, &key).unwrap();
    let (size, root) = (fin.checkpoint().size(), fin.checkpoint().root());
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.acked.len() >= rounds,
        "too little load got through: {} acks",
        seen.acked.len()
    );
    for (index, entry) in &seen.acked {
        let (s, b) = get(
            &c,
            &server.url,
            &format!("/proof?index={index}&size={size}"),
        )
        .await;
        assert_eq!(s, 200);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        verify_inclusion(
            *index,
            size,
            &leaf_hash(entry),
            &hashes(&v["inclusion"]),
            &root,
        )
        .unwrap_or_else(|e| panic!("acknowledged binding at {index} lost or changed: {e}"));
    }
    for (old, old_root) in &seen.checkpoints {
        let (s, b) = get(
            &c,
            &server.url,
            &format!("/consistency?old={old}&new={size}"),
        )
        .await;
        assert_eq!(s, 200);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        if *old == size {
            assert_eq!(old_root, &root);
        } else {
            verify_consistency(*old, size, old_root, &root, &hashes(&v["proof"]))
                .unwrap_or_else(|e| panic!("checkpoint {old} inconsistent: {e}"));
        }
    }
    println!("crash test: {rounds} kills, {} acknowledged bindings, {} checkpoints checked, final size {size}", seen.acked.len(), seen.checkpoints.len());
}
