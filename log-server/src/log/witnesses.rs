//! Collecting cosignatures from witnesses over C2SP tlog-witness `add-checkpoint`
//! (DESIGN §5 "Witnessing", "Never contradict a signed checkpoint").
//!
//! One task per witness keeps one request in flight, for the round's checkpoint: the newest durable
//! one, kept until a quorum has cosigned it, so that all witnesses cosign the same checkpoint
//! ([`choose_rounds`]). The first request (`old 0`) asks the witness for its view: a 409 names its
//! size; below ours, we resubmit with a consistency proof from that size. A 409 above ours means
//! published state we lack only if the witness shows it: its cosigned checkpoint of this log above
//! our size (see [`crate::log::evidence`]); then sequencing stops (reads go on), a `fork-risk`
//! error is logged and the checkpoint kept as evidence. Otherwise the claim is logged and not
//! believed. A 422 to a proof from the witness's own size (or for our own size) is fork risk too:
//! the witness holds another tree of that size, unless its own cosigned checkpoint shows our root
//! there. A witness's first 200 tells the log that consistency from its size is proven (sequencing
//! waits for that at start). Answers are read with a size limit. Cosignatures are verified
//! (cosignature/v1, the configured key) before they are stored; a checkpoint is published once K
//! witnesses cosigned it. Idle refresh needs no timer here: the sequencer appends a state leaf
//! every `witness-refresh`, which is a new checkpoint to collect.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::cosignature::verify_cosignature;
use taglog_proofs::note::NoteSignature;
use taglog_proofs::tree::tree_root;
use taglog_proofs::witness::{
    parse_cosignature_response, parse_size_body, AddCheckpointRequest,
    MAX_COSIGNATURE_RESPONSE_BYTES,
};
use tokio::sync::watch;

use crate::config::WitnessConfig;
use crate::log::evidence::{fetch_view, read_limited};
use crate::log::halt::{ForkRisk, ForkRiskKind, HaltReason};
use crate::log::heads::Head;
use crate::log::Log;
use crate::store::StoredHashes;

/// Cosignatures collected per checkpoint size, per witness index.
#[derive(Default)]
pub struct Collected {
    by_size: BTreeMap<u64, BTreeMap<usize, NoteSignature>>,
}

/// Spawns one collector task per configured witness; returns their handles.
pub fn spawn(log: &Arc<Log>) -> Vec<tokio::task::JoinHandle<()>> {
    let collected = Arc::new(Mutex::new(Collected::default()));
    let client = match reqwest::Client::builder()
        .timeout(log.config().witness_timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            log.halt(HaltReason::WitnessClient(e));
            return Vec::new();
        }
    };
    let round = watch::channel(None).0;
    let cosigned = Arc::new(watch::channel(0).0);
    let mut tasks = Vec::new();
    for (i, w) in log.config().witnesses.iter().enumerate() {
        let task = WitnessTask {
            log: Arc::clone(log),
            collected: Arc::clone(&collected),
            client: client.clone(),
            index: i,
            witness: w.clone(),
            known: 0,
            cosigned: Arc::clone(&cosigned),
        };
        tasks.push(tokio::spawn(task.run(round.subscribe())));
    }
    let rounds = choose_rounds(Arc::clone(log), round, cosigned.subscribe());
    tasks.push(tokio::spawn(rounds));
    tasks
}

/// Sets the checkpoint every witness is asked to cosign (the round's), so that they cosign the
/// same one: the newest committed checkpoint, kept until a quorum has cosigned it or a
/// checkpoint at least as large is published (`cosigned` is the largest size a quorum
/// cosigned, whether or not storing the cosignatures succeeded). Left to itself, each witness
/// would take whichever checkpoint was newest when its previous request ended; with a commit
/// every few milliseconds two witnesses then rarely cosign the same checkpoint, and a quorum
/// forms only when they happen to.
async fn choose_rounds(
    log: Arc<Log>,
    round: watch::Sender<Option<Head>>,
    mut cosigned: watch::Receiver<u64>,
) {
    let mut committed = log.heads().watch_committed();
    let mut published = log.heads().watch_published();
    loop {
        let newest = committed.borrow_and_update().clone();
        let published_size = published.borrow_and_update().as_ref().map_or(0, |h| h.size);
        let done = published_size.max(*cosigned.borrow_and_update());
        let current = round.borrow().as_ref().map(|h| h.size);
        if let Some(next) = next_round(current, newest, done) {
            round.send_replace(Some(next));
        }
        tokio::select! {
            changed = committed.changed() => if changed.is_err() { return },
            changed = published.changed() => if changed.is_err() { return },
            changed = cosigned.changed() => if changed.is_err() { return },
        }
    }
}

/// The next round's checkpoint, if the round changes: the `newest` committed one once the
/// `current` round's size is `done` (cosigned by a quorum, or covered by a published
/// checkpoint), or if there is no round yet.
fn next_round(current: Option<u64>, newest: Option<Head>, done: u64) -> Option<Head> {
    let newest = newest?;
    match current {
        Some(c) if c > done || c >= newest.size => None,
        _ => Some(newest),
    }
}

/// Why a consistency proof for a witness could not be built.
#[derive(Debug, thiserror::Error)]
enum ProofError {
    /// The blocking task failed.
    #[error("proof task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The proof could not be read.
    #[error(transparent)]
    Read(crate::log::reads::ReadError),
}

enum Step {
    /// Cosigned this size.
    Done(u64),
    /// Try again now (the witness's size is now known).
    Retry,
    /// Wait and retry later.
    Backoff,
    /// Stop: fork risk.
    Stop,
}

struct WitnessTask {
    log: Arc<Log>,
    collected: Arc<Mutex<Collected>>,
    client: reqwest::Client,
    index: usize,
    witness: WitnessConfig,
    /// The witness's size as we last learned it.
    known: u64,
    /// The largest size a quorum of witnesses cosigned (ends the round, see [`choose_rounds`]).
    cosigned: Arc<watch::Sender<u64>>,
}

impl WitnessTask {
    async fn run(mut self, mut rx: watch::Receiver<Option<Head>>) {
        let mut done = 0u64;
        loop {
            let head = rx.borrow_and_update().clone();
            if let Some(head) = head.filter(|h| h.size != done) {
                let started = Instant::now();
                match self.submit(&head).await {
                    Step::Done(size) => {
                        done = size;
                        self.log.witness_confirmed(self.witness.key.name().as_str());
                    }
                    Step::Retry => continue,
                    Step::Backoff => tokio::time::sleep(Duration::from_secs(1)).await,
                    Step::Stop => return,
                }
                let name = self.witness.key.name().to_string();
                self.log
                    .metrics()
                    .witness_rtt(&name, started.elapsed().as_secs_f64());
                let min = self.log.config().witness_min_interval;
                if !min.is_zero() {
                    tokio::time::sleep(min.saturating_sub(started.elapsed())).await;
                }
                if rx.borrow().as_ref().is_some_and(|h| h.size != done) {
                    continue;
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    async fn submit(&mut self, head: &Head) -> Step {
        let name = self.witness.key.name().to_string();
        let proof = if self.known == 0 {
            Ok(Vec::new())
        } else {
            self.proof(self.known, head.size).await
        };
        let proof = match proof {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(witness = %name, error = %e, "cannot build consistency proof");
                return Step::Backoff;
            }
        };
        let body = AddCheckpointRequest {
            old_size: self.known,
            proof,
            checkpoint: head.note.to_vec(),
        }
        .to_bytes();
        let url = format!("{}/add-checkpoint", self.witness.url);
        let resp = match self.client.post(&url).body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(witness = %name, error = %e, "witness request failed");
                return Step::Backoff;
            }
        };
        let status = resp.status();
        let bytes = match read_limited(resp, MAX_COSIGNATURE_RESPONSE_BYTES).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(witness = %name, status = %status, error = %e, "witness answer not read");
                return Step::Backoff;
            }
        };
        match status {
            StatusCode::OK => self.accept(head, &bytes),
            StatusCode::CONFLICT => self.conflict(head, &bytes).await,
            StatusCode::UNPROCESSABLE_ENTITY if self.known > 0 => {
                self.rejected_proof(head, &bytes).await
            }
            other => {
                let text = String::from_utf8_lossy(&bytes);
                tracing::warn!(witness = %name, status = %other, body = %text.trim(), "witness refused the checkpoint");
                self.known = 0;
                Step::Backoff
            }
        }
    }

    async fn proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<taglog_proofs::hash::Hash>, ProofError> {
        let store = Arc::clone(self.log.store());
        tokio::task::spawn_blocking(move || {
            crate::log::reads::consistency(store.as_ref(), old, new)
        })
        .await?
        .map_err(ProofError::Read)
    }

    async fn conflict(&mut self, head: &Head, body: &[u8]) -> Step {
        let name = self.witness.key.name().to_string();
        let Ok(size) = parse_size_body(body) else {
            tracing::warn!(witness = %name, "409 without a valid text/x.tlog.size body");
            return Step::Backoff;
        };
        if size > head.size {
            return self.claims_larger(head, size).await;
        }
        if size == self.known {
            tracing::warn!(witness = %name, size, "witness repeated its size; backing off");
            return Step::Backoff;
        }
        tracing::info!(witness = %name, size, "witness view learned; resubmitting with a consistency proof");
        self.known = size;
        Step::Retry
    }

    /// The witness rejected our checkpoint with a proof from its own size: it holds another
    /// tree of that size, unless its own cosigned checkpoint shows our root at that size
    /// (then the refusal is something else, e.g. an auditing witness's, and is logged).
    async fn rejected_proof(&mut self, head: &Head, body: &[u8]) -> Step {
        let name = self.witness.key.name().to_string();
        let known = self.known;
        let answer = String::from_utf8_lossy(body).into_owned();
        let store = Arc::clone(self.log.store());
        let ours = tokio::task::spawn_blocking(move || {
            tree_root(known, &StoredHashes::new(store.as_ref()))
        })
        .await;
        let Ok(Ok(ours)) = ours else {
            tracing::error!(witness = %name, size = known, "cannot compute our root at the witness's size");
            return Step::Backoff;
        };
        let log_key = self.log.config().key.verifier();
        let view = fetch_view(&self.client, &self.witness, &log_key).await;
        if let Some(v) = view
            .as_ref()
            .ok()
            .filter(|v| v.size == known && v.root == ours)
        {
            tracing::warn!(witness = %name, size = v.size, answer = %answer.trim(), "the witness refused our checkpoint although its own checkpoint agrees with our tree; not a fork");
            self.known = 0;
            return Step::Backoff;
        }
        let kind = if known == head.size {
            ForkRiskKind::OtherTree { size: known }
        } else {
            ForkRiskKind::RejectedProof {
                witness_size: known,
                our_size: head.size,
            }
        };
        self.fork_risk(ForkRisk {
            witness: name,
            kind,
            witness_checkpoint: view
                .ok()
                .map(|v| String::from_utf8_lossy(&v.note).into_owned()),
            answer: Some(answer),
        })
    }

    /// A 409 naming a size above ours halts only if the witness shows a checkpoint above
    /// ours that this log signed and it cosigned (kept as evidence); anyone can send a 409.
    async fn claims_larger(&self, head: &Head, claimed: u64) -> Step {
        let name = self.witness.key.name().to_string();
        let log_key = self.log.config().key.verifier();
        match fetch_view(&self.client, &self.witness, &log_key).await {
            Ok(view) if view.size > head.size => self.fork_risk(ForkRisk {
                witness: name,
                kind: ForkRiskKind::WitnessAhead {
                    witness_size: view.size,
                    our_size: head.size,
                },
                witness_checkpoint: Some(String::from_utf8_lossy(&view.note).into_owned()),
                answer: None,
            }),
            Ok(view) => {
                tracing::warn!(witness = %name, claimed, shown = view.size, our_size = head.size, "witness claims a larger size than the checkpoint it serves; not believed");
                Step::Backoff
            }
            Err(e) => {
                tracing::warn!(witness = %name, claimed, our_size = head.size, error = %e, "witness claims a larger size without a cosigned checkpoint of this log to show for it; not believed");
                Step::Backoff
            }
        }
    }

    fn fork_risk(&self, risk: ForkRisk) -> Step {
        tracing::error!(alert = "fork-risk", reason = %risk, "FORK RISK: published state exists that this log lacks");
        self.log.halt(HaltReason::ForkRisk(risk));
        Step::Stop
    }

    fn accept(&mut self, head: &Head, body: &[u8]) -> Step {
        let name = self.witness.key.name().to_string();
        let log_key = self.log.config().key.verifier();
        let Ok(signed) = SignedCheckpoint::open(&head.note, &log_key) else {
            return Step::Backoff;
        };
        let sigs = parse_cosignature_response(body).unwrap_or_default();
        let text = signed.note().text();
        let Some(good) = sigs.into_iter().find(|s| {
            self.witness.key.matches(s) && verify_cosignature(s, text, &self.witness.key).is_ok()
        }) else {
            tracing::warn!(witness = %name, "200 without a valid cosignature by the configured key; ignored");
            return Step::Backoff;
        };
        self.known = head.size;
        self.record(head, &signed, good);
        Step::Done(head.size)
    }

    fn record(&self, head: &Head, signed: &SignedCheckpoint, sig: NoteSignature) {
        let quorum = self.log.config().witness_quorum;
        let sigs: Vec<NoteSignature> = {
            let Ok(mut c) = self.collected.lock() else {
                return;
            };
            let entry = c.by_size.entry(head.size).or_default();
            entry.insert(self.index, sig);
            let sigs = entry.values().cloned().collect();
            // Older sizes can no longer become the newest published checkpoint.
            let published = self.log.heads().published().map_or(0, |h| h.size);
            c.by_size.retain(|s, _| *s >= published.min(head.size));
            sigs
        };
        if sigs.len() < quorum {
            return;
        }
        // The round is over even if storing the cosignatures fails below: the next round's
        // checkpoint is published instead.
        self.cosigned.send_if_modified(|c| {
            let newer = head.size > *c;
            if newer {
                *c = head.size;
            }
            newer
        });
        let Ok(with) = signed.with_signatures(&sigs) else {
            return;
        };
        let lines: String = sigs.iter().map(NoteSignature::to_line).collect();
        let published = Head {
            note: Arc::new(with.to_bytes()),
            ..head.clone()
        };
        match self
            .log
            .heads()
            .publish(self.log.store().as_ref(), published, Some(lines.as_bytes()))
        {
            Ok(true) => {
                self.log
                    .metrics()
                    .published_size
                    .fetch_max(head.size, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "cannot store cosignatures"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::hash::Hash;

    fn head(size: u64) -> Head {
        Head {
            size,
            root: Hash::ZERO,
            note: Arc::new(Vec::new()),
            time: 0,
        }
    }

    fn next(current: Option<u64>, newest: Option<u64>, done: u64) -> Option<u64> {
        next_round(current, newest.map(head), done).map(|h| h.size)
    }

    #[test]
    fn a_round_holds_its_checkpoint_until_a_quorum_covers_it() {
        // The first round takes the newest committed checkpoint.
        assert_eq!(next(None, Some(5), 0), Some(5));
        assert_eq!(next(None, None, 0), None);
        // Newer commits do not move an open round: the witnesses still cosign size 5.
        assert_eq!(next(Some(5), Some(9), 0), None);
        assert_eq!(next(Some(5), Some(9), 4), None);
        // Once a quorum cosigned it (or a published checkpoint covers it), the next round
        // takes the newest commit.
        assert_eq!(next(Some(5), Some(9), 5), Some(9));
        // A closed round with nothing newer stays as it is.
        assert_eq!(next(Some(9), Some(9), 9), None);
        // Without a quorum requirement the log publishes at commit: every commit is a round.
        assert_eq!(next(Some(9), Some(12), 12), Some(12));
    }
}
