//! Crash test: kill -9 the server under concurrent load at random moments (≥ 20 times in CI;
//! `TAGLOG_CRASH_ROUNDS=50` or more, as `scripts/crash-soak.sh` runs it), restart it each time.
//! The load binds new refs, rebinds refs bound in earlier rounds and withdraws some. After the
//! last restart:
//! - every acknowledged binding is at its index with its bytes, and every checkpoint any client
//!   saw is consistent with the final tree;
//! - every acknowledged binding, submitted again, is answered 200 with its index;
//! - `/lookup` of every acknowledged ref verifies with the client verifier
//!   (`taglog_proofs::verify`) and shows the last acknowledged version (or a later one when a
//!   later submission of the ref went unanswered);
//! - `taglog-monitor --once` replays the whole log with no alert.
//!
//! Needs `taglog-server` and `taglog-monitor` (`cargo test --workspace` builds both; a missing
//! one fails the test with how to build it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_core::{OsRng, RngCore as _};
use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::Bundle;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::consistency::verify_consistency;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::inclusion::verify_inclusion;
use taglog_proofs::note::VerifierKey;
use taglog_proofs::policy::Policy;
use taglog_proofs::verify::{verify, VerifyError, VerifyRequest};
use taglog_testkit::bindings::{digest, sign};
use taglog_testkit::http::{client, hashes};
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{checkpoint, get, LogServer, ORIGIN, PREFIX};
use taglog_testkit::monitor::MonitorCli;
use taglog_testkit::tempdir;

/// Kills in CI; `TAGLOG_CRASH_ROUNDS=50` (or more) runs the longer crash run.
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
/// Of each client's submissions in a round, at most this many change a ref bound earlier.
const CHANGES_PER_CLIENT: usize = 12;
/// Every this many changes, one is a withdrawal (the others rebind to a new digest).
const WITHDRAW_EVERY: usize = 5;

/// One submission: the ref, its version, and the signed note.
#[derive(Clone)]
struct Sub {
    reference: String,
    version: u64,
    withdraw: bool,
    body: Vec<u8>,
}

#[derive(Default)]
struct Seen {
    /// Answered 200 or 202 with an index.
    acked: Vec<(u64, Sub)>,
    /// Sent without a usable answer: maybe logged, maybe not.
    unanswered: Vec<Sub>,
    /// Refused (4xx): the load never sends a binding the log may refuse.
    refused: Vec<(u16, String, Sub)>,
    checkpoints: Vec<(u64, Hash)>,
}

/// What the test knows about a ref it saw acknowledged.
struct RefState {
    version: u64,
    index: u64,
    withdrawn: bool,
    /// A later submission went unanswered: the log may hold a later version.
    unsure: bool,
}

fn sub(reference: &str, version: u64, withdraw: bool, serial: u64) -> Sub {
    let d = if withdraw {
        DigestValue::Withdrawn
    } else {
        digest(serial)
    };
    Sub {
        reference: reference.to_owned(),
        version,
        withdraw,
        body: sign(
            &publisher(),
            ORIGIN,
            reference,
            d,
            version,
            taglog_testkit::now(),
        ),
    }
}

async fn load(url: String, subs: Vec<Sub>, seen: Arc<Mutex<Seen>>, key: VerifierKey) {
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for s in subs {
        let resp = c
            .post(format!("{url}/add-binding"))
            .header("content-type", "text/plain")
            .body(s.body.clone())
            .send()
            .await;
        // A failed send may have reached the server before it died; later ones are never sent.
        let Ok(resp) = resp else {
            seen.lock().unwrap().unanswered.push(s);
            return;
        };
        let status = resp.status().as_u16();
        let Ok(text) = resp.text().await else {
            seen.lock().unwrap().unanswered.push(s);
            return;
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let index = match status {
            200 => v["binding"]["index"]
                .as_u64()
                .or_else(|| v["index"].as_u64()),
            202 => v["index"].as_u64(),
            _ => None,
        };
        if let Some(cp) = v["checkpoint"].as_str() {
            let cp = SignedCheckpoint::open(cp.as_bytes(), &key).unwrap();
            seen.lock()
                .unwrap()
                .checkpoints
                .push((cp.checkpoint().size(), cp.checkpoint().root()));
        }
        let mut seen = seen.lock().unwrap();
        match index {
            Some(i) => seen.acked.push((i, s)),
            None if (400..500).contains(&status) => seen.refused.push((status, text, s)),
            None => seen.unanswered.push(s),
        }
    }
}

/// This round's changes: refs acknowledged earlier with nothing unanswered since, at most
/// `max`, chosen at random; every [`WITHDRAW_EVERY`]th is a withdrawal.
fn changes(refs: &BTreeMap<String, RefState>, max: usize, serial: &mut u64) -> Vec<Sub> {
    let mut open: Vec<&String> = refs
        .iter()
        .filter(|(_, st)| !st.unsure && !st.withdrawn)
        .map(|(r, _)| r)
        .collect();
    // Fisher-Yates on the first `max` slots.
    for i in 0..open.len().min(max) {
        let j = i + (OsRng.next_u32() as usize) % (open.len() - i);
        open.swap(i, j);
    }
    open.truncate(max);
    open.into_iter()
        .enumerate()
        .map(|(n, r)| {
            *serial += 1;
            sub(r, refs[r].version + 1, n % WITHDRAW_EVERY == 0, *serial)
        })
        .collect()
}

fn policy(log_key: &VerifierKey) -> Policy {
    let text = format!(
        "log {log_key}\nquorum none\npublisher {PREFIX} {}\n",
        publisher().verifier()
    );
    Policy::parse(text.as_bytes()).unwrap()
}

/// `/lookup` of `r` through the client verifier: `Ok(version, index)` of the current binding,
/// `Err(version)` of a withdrawal; any other failure fails the test.
async fn verified_lookup(
    c: &reqwest::Client,
    url: &str,
    policy: &Policy,
    r: &str,
) -> Result<(u64, u64), u64> {
    let (s, b) = get(c, url, &format!("/lookup?ref={r}")).await;
    assert_eq!(s, 200, "/lookup {r}: {}", String::from_utf8_lossy(&b));
    let bundle = Bundle::parse(&b).unwrap_or_else(|e| panic!("/lookup {r}: {e}"));
    let reference = r.parse().unwrap();
    let verdict = verify(&VerifyRequest::stateless(
        policy,
        &bundle,
        &reference,
        None,
        taglog_testkit::now(),
    ));
    match verdict {
        Ok(v) => {
            let cur = v
                .current
                .unwrap_or_else(|| panic!("{r}: verified without a current binding"));
            Ok((cur.version, cur.index))
        }
        Err(VerifyError::Withdrawn { version, .. }) => Err(version),
        Err(e) => panic!("/lookup {r} does not verify: {e}"),
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
    let mut refs: BTreeMap<String, RefState> = BTreeMap::new();
    let (mut seen_acked, mut seen_unanswered) = (0, 0);
    for round in 0..rounds {
        let mut per_client: Vec<Vec<Sub>> = vec![Vec::new(); CLIENTS];
        for (n, s) in changes(&refs, CLIENTS * CHANGES_PER_CLIENT, &mut serial)
            .into_iter()
            .enumerate()
        {
            per_client[n % CLIENTS].push(s);
        }
        for subs in &mut per_client {
            while subs.len() < PER_CLIENT {
                serial += 1;
                subs.push(sub(&format!("{PREFIX}/crash:r{serial}"), 1, false, serial));
            }
            // Changes and new refs in random order.
            for i in (1..subs.len()).rev() {
                subs.swap(i, (OsRng.next_u32() as usize) % (i + 1));
            }
        }
        let tasks: Vec<_> = per_client
            .into_iter()
            .map(|subs| {
                tokio::spawn(load(
                    server.url.clone(),
                    subs,
                    Arc::clone(&seen),
                    key.clone(),
                ))
            })
            .collect();
        // The kill comes at a random time after this round's first acknowledgement, so that
        // every round kills a server under load however slow the machine is.
        let first_ack_by = tokio::time::Instant::now() + Duration::from_secs(60);
        while seen.lock().unwrap().acked.len() == seen_acked
            && tokio::time::Instant::now() < first_ack_by
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(
            20 + u64::from(OsRng.next_u32() % 300),
        ))
        .await;
        server.kill();
        for t in tasks {
            t.await.unwrap();
        }
        // What this round acknowledged, and the refs it left unsure.
        {
            let s = seen.lock().unwrap();
            for (index, sub) in &s.acked[seen_acked..] {
                refs.insert(
                    sub.reference.clone(),
                    RefState {
                        version: sub.version,
                        index: *index,
                        withdrawn: sub.withdraw,
                        unsure: false,
                    },
                );
            }
            for sub in &s.unanswered[seen_unanswered..] {
                if let Some(st) = refs.get_mut(&sub.reference) {
                    st.unsure = true;
                }
            }
            (seen_acked, seen_unanswered) = (s.acked.len(), s.unanswered.len());
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
    let refused: Vec<String> = seen
        .refused
        .iter()
        .map(|(status, text, s)| format!("{} v{}: {status} {text}", s.reference, s.version))
        .collect();
    assert!(
        refused.is_empty(),
        "the log refused valid bindings: {refused:#?}"
    );
    assert!(
        seen.acked.len() >= rounds,
        "too little load got through: {} acks",
        seen.acked.len()
    );
    let changed = seen.acked.iter().filter(|(_, s)| s.version > 1).count();
    let withdrawn = seen.acked.iter().filter(|(_, s)| s.withdraw).count();
    assert!(
        changed > 0 && withdrawn > 0,
        "the load must rebind and withdraw: {changed} changes, {withdrawn} withdrawals acknowledged"
    );

    // Every acknowledged binding is at its index, with its bytes.
    for (index, s) in &seen.acked {
        let (st, b) = get(
            &c,
            &server.url,
            &format!("/proof?index={index}&size={size}"),
        )
        .await;
        assert_eq!(st, 200);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        verify_inclusion(
            *index,
            size,
            &leaf_hash(&s.body),
            &hashes(&v["inclusion"]),
            &root,
        )
        .unwrap_or_else(|e| panic!("acknowledged binding at {index} lost or changed: {e}"));
    }
    // Every checkpoint a client saw is consistent with the final one.
    for (old, old_root) in &seen.checkpoints {
        let (st, b) = get(
            &c,
            &server.url,
            &format!("/consistency?old={old}&new={size}"),
        )
        .await;
        assert_eq!(st, 200);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        if *old == size {
            assert_eq!(old_root, &root);
        } else {
            verify_consistency(*old, size, old_root, &root, &hashes(&v["proof"]))
                .unwrap_or_else(|e| panic!("checkpoint {old} inconsistent: {e}"));
        }
    }
    // Every acknowledged binding submitted again is answered with its index.
    let parts: Vec<Vec<(u64, Sub)>> = seen
        .acked
        .chunks(seen.acked.len().div_ceil(CLIENTS))
        .map(<[_]>::to_vec)
        .collect();
    let mut again = Vec::new();
    for part in parts {
        let (url, c) = (server.url.clone(), c.clone());
        again.push(tokio::spawn(async move {
            for (index, s) in part {
                let (st, v) =
                    taglog_testkit::log_server::add_binding(&c, &url, s.body.clone()).await;
                assert_eq!(st, 200, "{} v{} again: {v}", s.reference, s.version);
                let got = v["index"]
                    .as_u64()
                    .or_else(|| v["binding"]["index"].as_u64());
                assert_eq!(
                    got,
                    Some(index),
                    "{} v{} again answers another index: {v}",
                    s.reference,
                    s.version
                );
            }
        }));
    }
    for t in again {
        t.await.unwrap();
    }
    // The final checkpoint did not move: resubmissions add nothing.
    let after = SignedCheckpoint::open(&checkpoint(&c, &server.url).await, &key).unwrap();
    assert_eq!(after.checkpoint().size(), size);

    // /lookup of every acknowledged ref verifies with the client verifier.
    let policy = policy(&key);
    let mut unsure = 0;
    for (r, st) in &refs {
        let got = verified_lookup(&c, &server.url, &policy, r).await;
        if st.unsure {
            unsure += 1;
            let v = match got {
                Ok((v, _)) | Err(v) => v,
            };
            assert!(
                v >= st.version,
                "{r}: version {v} below the acknowledged {}",
                st.version
            );
        } else if st.withdrawn {
            assert_eq!(got, Err(st.version), "{r}: the acknowledged withdrawal");
        } else {
            assert_eq!(
                got,
                Ok((st.version, st.index)),
                "{r}: the acknowledged binding"
            );
        }
    }

    // The monitor replays the whole log without an alert.
    let monitor = MonitorCli::new(&server.url, &server.vkey());
    let run = monitor.once(&[]);
    assert_eq!((run.code, run.alerts.len()), (0, 0), "{run:#?}");

    println!(
        "crash test: {rounds} kills, {} acknowledged bindings ({changed} rebinds or withdrawals, \
         {withdrawn} withdrawals), {} unanswered, {} checkpoints checked, {} refs verified by \
         /lookup ({unsure} with an unanswered later submission), final size {size}, monitor \
         alerts {}",
        seen.acked.len(),
        seen.unanswered.len(),
        seen.checkpoints.len(),
        refs.len(),
        run.alerts.len()
    );
}
