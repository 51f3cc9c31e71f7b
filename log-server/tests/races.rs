//! Same-ref races against the real server (issue 12, "Tests to add"): many submissions of one
//! ref at once, which pass the HTTP layer's early version check together and are decided by
//! the sequencer, within one batch or across batches.
//!
//! - Concurrent version-2 submissions of a bound ref, each with another digest: exactly one is
//!   logged (200), every other is 409 `version_conflict` naming version 2 as current.
//! - Versions 2 and 3 of a new ref at once (several of each): exactly one version 3 is logged,
//!   at most one version 2, and only before it; the rest are 409. The rounds repeat until one
//!   round logged a version 2 and a version 3 of one ref in the same batch (no state leaf
//!   between them), so the rule between entries of one batch is exercised.
//!
//! After each: the log holds exactly the acknowledged bindings (read back from its entry
//! bundles), `/lookup` verifies with the client verifier and names the winner's digest, and
//! `taglog-monitor --once` replays the whole log with no alert.
//!
//! Needs `taglog-server` and `taglog-monitor` (`cargo test --workspace` builds both; a missing
//! one fails the test with how to build it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, HashMap};

use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::Bundle;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::leaves::Leaf;
use taglog_proofs::note::VerifierKey;
use taglog_proofs::policy::Policy;
use taglog_proofs::verify::{verify, VerifyRequest};
use taglog_testkit::bindings::{digest, sign};
use taglog_testkit::http::client;
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{
    add_binding, checkpoint, entries, get, LogServer, ORIGIN, PREFIX,
};
use taglog_testkit::monitor::MonitorCli;
use taglog_testkit::tempdir;

/// Every submission comes from one publisher key: lift its quota.
const UNLIMITED: &[&str] = &["--publisher-rate", "0"];
/// Refs raced at once.
const REFS: usize = 6;
/// Submissions per ref and version in one race.
const RACERS: u64 = 6;
/// Rounds of the version 2 + 3 race at most, until one logged both in one batch.
const MAX_ROUNDS: usize = 20;

/// One submission and its answer.
struct Answer {
    reference: String,
    version: u64,
    digest: DigestValue,
    leaf: Hash,
    status: u16,
    body: serde_json::Value,
}

impl Answer {
    /// The binding's index in the log (`logged`: leaf hash to index), checked against the 200
    /// answer: its bundle shows the ref's current binding, this one or a later version.
    fn index(&self, logged: &HashMap<Hash, u64>) -> u64 {
        let index = *logged.get(&self.leaf).unwrap_or_else(|| {
            panic!(
                "{} v{} answered 200 but is not in the log",
                self.reference, self.version
            )
        });
        let current = self.body["binding"]["index"]
            .as_u64()
            .unwrap_or_else(|| panic!("200 without a bundle: {}", self.body));
        assert!(
            current >= index,
            "the bundle's binding is older: {}",
            self.body
        );
        index
    }

    fn assert_conflict(&self, current: u64) {
        assert_eq!(
            self.status, 409,
            "{} v{}: {}",
            self.reference, self.version, self.body
        );
        assert_eq!(self.body["error"], "version_conflict", "{}", self.body);
        assert_eq!(self.body["current_version"], current, "{}", self.body);
        assert_eq!(self.body["expected_version"], current + 1, "{}", self.body);
    }
}

/// Sends every `(ref, version, digest)` at once; the answers in the same order.
async fn race(url: &str, subs: Vec<(String, u64, DigestValue)>) -> Vec<Answer> {
    let mut tasks = Vec::new();
    for (reference, version, d) in subs {
        let body = sign(
            &publisher(),
            ORIGIN,
            &reference,
            d,
            version,
            taglog_testkit::now(),
        );
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let leaf = leaf_hash(&body);
            let (status, answer) = add_binding(&client(), &url, body).await;
            Answer {
                reference,
                version,
                digest: d,
                leaf,
                status,
                body: answer,
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn policy(log_key: &VerifierKey) -> Policy {
    let text = format!(
        "log {log_key}\nquorum none\npublisher {PREFIX} {}\n",
        publisher().verifier()
    );
    Policy::parse(text.as_bytes()).unwrap()
}

/// `/lookup` of `r` through the client verifier, with the registry answering `d`: the current
/// binding must be `version` with digest `d`.
async fn assert_current(
    c: &reqwest::Client,
    server: &LogServer,
    r: &str,
    version: u64,
    d: &DigestValue,
) {
    let (s, b) = get(c, &server.url, &format!("/lookup?ref={r}")).await;
    assert_eq!(s, 200, "/lookup {r}: {}", String::from_utf8_lossy(&b));
    let bundle = Bundle::parse(&b).unwrap();
    let policy = policy(&server.log_key());
    let reference = r.parse().unwrap();
    let verdict = verify(&VerifyRequest::stateless(
        &policy,
        &bundle,
        &reference,
        Some(d),
        taglog_testkit::now(),
    ))
    .unwrap_or_else(|e| panic!("/lookup {r} does not verify: {e}"));
    assert_eq!(verdict.current.unwrap().version, version, "{r}");
}

/// The whole log as served: every leaf, read from the entry bundles of the served checkpoint.
async fn log_leaves(c: &reqwest::Client, server: &LogServer) -> Vec<Leaf> {
    let note = checkpoint(c, &server.url).await;
    let size = SignedCheckpoint::open(&note, &server.log_key())
        .unwrap()
        .checkpoint()
        .size();
    entries(c, &server.url, size)
        .await
        .iter()
        .map(|e| Leaf::parse(e).unwrap())
        .collect()
}

/// Leaf hash to index, for every leaf.
fn indexes(leaves: &[Leaf]) -> HashMap<Hash, u64> {
    (0u64..)
        .zip(leaves)
        .map(|(i, l)| (l.leaf_hash(), i))
        .collect()
}

/// The bindings the log holds per ref: (index, version, leaf hash), in index order.
fn bindings_by_ref(leaves: &[Leaf]) -> BTreeMap<String, Vec<(u64, u64, Hash)>> {
    let mut out: BTreeMap<String, Vec<(u64, u64, Hash)>> = BTreeMap::new();
    for (i, leaf) in leaves.iter().enumerate() {
        if let Leaf::Binding(b) = leaf {
            out.entry(b.binding().reference.to_string())
                .or_default()
                .push((i as u64, b.binding().version, b.leaf_hash()));
        }
    }
    out
}

fn assert_monitor_replays_without_alerts(server: &LogServer) {
    let run = MonitorCli::new(&server.url, &server.vkey()).once(&[]);
    assert_eq!(run.code, 0, "monitor replay: {run:#?}");
    assert!(run.alerts.is_empty(), "monitor alerts: {run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_version_2_submissions_log_exactly_one() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), UNLIMITED);
    let c = client();
    let refs: Vec<String> = (0..REFS).map(|i| format!("{PREFIX}/race:r{i}")).collect();
    let firsts = race(
        &server.url,
        refs.iter().map(|r| (r.clone(), 1, digest(0))).collect(),
    )
    .await;
    for a in &firsts {
        assert_eq!(a.status, 200, "{}: {}", a.reference, a.body);
    }

    let mut subs = Vec::new();
    let mut serial = 1;
    for _ in 0..RACERS {
        for r in &refs {
            subs.push((r.clone(), 2, digest(serial)));
            serial += 1;
        }
    }
    let answers = race(&server.url, subs).await;

    let leaves = log_leaves(&c, &server).await;
    let (logged, at) = (bindings_by_ref(&leaves), indexes(&leaves));
    for r in &refs {
        let mine: Vec<&Answer> = answers.iter().filter(|a| &a.reference == r).collect();
        let won: Vec<&&Answer> = mine.iter().filter(|a| a.status == 200).collect();
        assert_eq!(
            won.len(),
            1,
            "{r}: {} of {RACERS} version 2 submissions logged",
            won.len()
        );
        let winner = won[0];
        for a in mine.iter().filter(|a| a.status != 200) {
            a.assert_conflict(2);
        }
        // The log holds version 1 and the winner, nothing else of this ref.
        let first = firsts.iter().find(|a| &a.reference == r).unwrap();
        assert_eq!(
            logged[r],
            [
                (first.index(&at), 1, first.leaf),
                (winner.index(&at), 2, winner.leaf)
            ],
            "{r}"
        );
        assert_current(&c, &server, r, 2, &winner.digest).await;
    }
    assert_monitor_replays_without_alerts(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn versions_2_and_3_of_a_new_ref_at_once() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), UNLIMITED);
    let c = client();
    let mut serial = 0;
    let mut same_batch = 0;
    let mut rounds = 0;
    while same_batch == 0 {
        assert!(
            rounds < MAX_ROUNDS,
            "in {MAX_ROUNDS} rounds no version 2 and 3 of one ref were logged in one batch"
        );
        let refs: Vec<String> = (0..REFS)
            .map(|i| format!("{PREFIX}/race:n{rounds}-{i}"))
            .collect();
        let mut subs = Vec::new();
        for _ in 0..RACERS {
            for r in &refs {
                for v in [2, 3] {
                    serial += 1;
                    subs.push((r.clone(), v, digest(serial)));
                }
            }
        }
        let answers = race(&server.url, subs).await;
        let leaves = log_leaves(&c, &server).await;
        let (logged, at) = (bindings_by_ref(&leaves), indexes(&leaves));
        for r in &refs {
            let won = |v: u64| -> Vec<&Answer> {
                answers
                    .iter()
                    .filter(|a| &a.reference == r && a.version == v && a.status == 200)
                    .collect()
            };
            let (v2, v3) = (won(2), won(3));
            assert_eq!(v3.len(), 1, "{r}: {} version 3 bindings logged", v3.len());
            assert!(v2.len() <= 1, "{r}: {} version 2 bindings logged", v2.len());
            let v3 = v3[0];
            let mut expected = Vec::new();
            if let Some(v2) = v2.first() {
                assert!(
                    v2.index(&at) < v3.index(&at),
                    "{r}: version 3 logged before version 2"
                );
                expected.push((v2.index(&at), 2, v2.leaf));
                // No state leaf between them: the two were decided in one batch.
                if leaves[v2.index(&at) as usize..v3.index(&at) as usize]
                    .iter()
                    .all(|l| !matches!(l, Leaf::State(_)))
                {
                    same_batch += 1;
                }
            }
            expected.push((v3.index(&at), 3, v3.leaf));
            // Every refused submission is a version conflict against what won.
            // A version 3 loses only to the version 3 logged; a version 2 to the version 3,
            // or to the version 2 logged before it.
            for a in answers
                .iter()
                .filter(|a| &a.reference == r && a.status != 200)
            {
                let current = a.body["current_version"].as_u64();
                let can_be_2 = a.version == 2 && !v2.is_empty();
                a.assert_conflict(if can_be_2 && current == Some(2) { 2 } else { 3 });
            }
            assert_eq!(logged[r], expected, "{r}");
            assert_current(&c, &server, r, 3, &v3.digest).await;
        }
        rounds += 1;
    }
    eprintln!("{rounds} round(s); version 2 and 3 of one ref in one batch {same_batch} time(s)");
    assert_monitor_replays_without_alerts(&server);
}
