//! The sequencer: one thread that turns queued submissions into durable, signed checkpoints
//! (DESIGN §5 "Submission path", §3.5 state and publisher leaves).
//!
//! Group commit: it blocks for one command, then drains everything queued (up to
//! `max_batch`) into one batch, with no fixed sleep. Per batch it dedups by leaf hash, then
//! asks the log's one rule book ([`taglog_proofs::rules::Ledger`], the same the monitor and
//! the auditing witness check with) to append each entry: admission by the logged
//! allowlist, the signature, the version rule (also between entries of the batch), and the
//! map update; publisher leaves and the closing state leaf come from it too. Then it computes
//! the tree hashes, signs the checkpoint and commits all of it at once
//! ([`crate::store::LogStore::commit`]). Only then are waiters answered and the checkpoint
//! published: nothing signed leaves the process before it is durable. A failed commit halts
//! sequencing (the write may or may not have persisted; a restart recovers from the store).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taglog_proofs::binding::SignedBinding;
use taglog_proofs::hash::Hash;
use taglog_proofs::rules::{AppendError, Ledger, LedgerHead, SignatureCheck, Violation};
use tokio::sync::{mpsc, oneshot};

use crate::log::allowlist::Allowlist;
use crate::log::clock::LogClock;
use crate::log::halt::HaltReason;
use crate::log::heads::Head;
use crate::log::integrate::{IntegrateError, Integration};
use crate::log::Log;
use crate::store::map::{MapError, StoreMap};
use crate::store::{HistoryItem, StoreError};

/// What became of one submission.
#[derive(Debug)]
pub enum Outcome {
    /// Logged at this index in a durable checkpoint.
    Added {
        /// Leaf index.
        index: u64,
    },
    /// The same entry was already logged.
    Duplicate {
        /// Its leaf index.
        index: u64,
    },
    /// The rule book refused it (admission, signature or version rule); nothing changed.
    Refused(Box<Violation>),
    /// Not decided: sequencing is halted, or the store failed.
    Unavailable(Unavailable),
}

/// Why a submission was not decided.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// Sequencing is halted.
    #[error("{0}")]
    Halted(Arc<HaltReason>),
    /// A read of the store failed while deciding.
    #[error("storage read failed: {0}")]
    Store(Arc<StoreError>),
    /// The rule book could not decide (its map could not be read).
    #[error("cannot decide: {0}")]
    Rules(Arc<AppendError<MapError>>),
    /// Sequencing waits until these witnesses have answered (at start).
    #[error("sequencing waits until every witness has answered and proved consistent; waiting for {}", .0.join(", "))]
    AwaitingWitnesses(Vec<String>),
}

/// A parsed binding waiting to be sequenced, with its signature checked ahead.
#[derive(Debug)]
pub struct Submission {
    /// The binding (its exact entry bytes are the leaf).
    pub binding: SignedBinding,
    /// Its signature checked against the candidate keys of the logged allowlist when it
    /// arrived; the rule book uses it only if the candidates are still the same, else checks
    /// again.
    pub signature: SignatureCheck,
}

impl Submission {
    /// The submission of `binding`, its signature checked against `candidates`.
    pub fn new(binding: SignedBinding, candidates: &[taglog_proofs::note::VerifierKey]) -> Self {
        let signature = SignatureCheck::run(&binding, candidates);
        Submission { binding, signature }
    }
}

type Reply = oneshot::Sender<Outcome>;

/// Commands for the sequencer.
#[derive(Debug)]
pub enum Command {
    /// Sequence a binding (enqueued at the instant given).
    Submit(Box<Submission>, Instant, Reply),
    /// Log the changes that turn the logged allowlist into this one.
    Allowlist(Allowlist, oneshot::Sender<Result<usize, Arc<HaltReason>>>),
    /// Finish what is queued before this command, then stop.
    Shutdown,
}

/// The sequencer's in-memory view of the durable tree.
struct Sequencer {
    log: Arc<Log>,
    rt: tokio::runtime::Handle,
    last_commit: Instant,
    /// The committed size.
    size: u64,
    clock: LogClock,
    /// The rule book's state after the committed tree (ahead of it only within a batch; a
    /// failed commit halts the sequencer, and a restart resumes from the store).
    ledger: Ledger<StoreMap>,
}

/// The durable tree the sequencer starts from, as read (and checked) by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Start {
    /// The committed tree size.
    pub size: u64,
    /// The log time of its state leaf.
    pub time: u64,
}

/// Spawns the sequencer thread on the tree `start` (read by the caller, so that a read
/// error stops the start instead of being taken for an empty log).
///
/// # Errors
/// An I/O error if the thread cannot be spawned.
pub fn spawn(
    log: Arc<Log>,
    rt: tokio::runtime::Handle,
    rx: mpsc::Receiver<Command>,
    start: Start,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let Start { size, time } = start;
    let head = LedgerHead {
        next_index: size,
        log_time: (size > 0).then_some(time),
        last_state: size.checked_sub(1),
    };
    let ledger = Ledger::resume(
        log.config().key.name().as_str(),
        head,
        log.allowlist().rules().clone(),
        StoreMap::new(Arc::clone(log.store()), size),
    );
    let seq = Sequencer {
        log,
        rt,
        last_commit: Instant::now(),
        size,
        clock: LogClock::new(time),
        ledger,
    };
    std::thread::Builder::new()
        .name("sequencer".into())
        .spawn(move || seq.run(rx))
}

/// One batch being decided: the plan and the answers waiting for its commit.
struct Pending<'a> {
    plan: Integration<'a>,
    replies: Vec<(Reply, Instant, Outcome)>,
    /// Leaves added by this batch, by leaf hash.
    leaves: HashMap<Hash, u64>,
}

impl Sequencer {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let refresh = self.log.config().witness_refresh;
        if self.size == 0 {
            // The genesis checkpoint gives the witnesses something to answer; without a
            // quorum it is published only once they have.
            let _ = self.integrate(Vec::new(), None);
        }
        if !self.wait_for_witnesses(&mut rx) {
            tracing::info!(
                size = self.size,
                "sequencer stopped before the witnesses answered"
            );
            return;
        }
        loop {
            let first = match recv_timeout(&self.rt, &mut rx, refresh) {
                Recv::Command(c) => Some(c),
                Recv::Timeout => None,
                Recv::Closed => break,
            };
            let mut commands: Vec<Command> = first.into_iter().collect();
            while commands.len() < self.log.config().max_batch {
                match rx.try_recv() {
                    Ok(c) => commands.push(c),
                    Err(_) => break,
                }
            }
            self.log
                .metrics()
                .queue_depth
                .store(rx.len() as u64, Ordering::Relaxed);
            if !self.handle(commands) {
                break;
            }
        }
        tracing::info!(size = self.size, "sequencer stopped after the last batch");
    }

    /// Waits until every awaited witness has answered (see [`Log::awaiting_witnesses`]):
    /// meanwhile submissions are refused and allowlist changes kept for later. Returns false
    /// if the log stops first.
    fn wait_for_witnesses(&mut self, rx: &mut mpsc::Receiver<Command>) -> bool {
        let mut gate = self.log.watch_gate();
        let mut deferred = Vec::new();
        while !self.log.gate_open() {
            let event = self.rt.block_on(async {
                tokio::select! {
                    changed = gate.changed() => Gated::Changed(changed.is_ok()),
                    command = rx.recv() => Gated::Command(command),
                }
            });
            match event {
                Gated::Changed(true) => {}
                Gated::Changed(false) | Gated::Command(None | Some(Command::Shutdown)) => {
                    return false
                }
                Gated::Command(Some(Command::Submit(_, _, reply))) => {
                    let why = match self.log.halted() {
                        Some(h) => Unavailable::Halted(h),
                        None => Unavailable::AwaitingWitnesses(
                            self.log.awaiting_witnesses().unwrap_or_default(),
                        ),
                    };
                    let _ = reply.send(Outcome::Unavailable(why));
                }
                Gated::Command(Some(c @ Command::Allowlist(..))) => deferred.push(c),
            }
        }
        if self.log.config().witness_quorum == 0 {
            if let Some(head) = self.log.heads().committed() {
                let _ = self
                    .log
                    .heads()
                    .publish(self.log.store().as_ref(), head, None);
            }
        }
        let running = self.handle(deferred);
        self.log.set_ready();
        running
    }

    /// Handles one drained batch; returns false after a shutdown command.
    fn handle(&mut self, commands: Vec<Command>) -> bool {
        let mut subs = Vec::new();
        for c in commands {
            match c {
                Command::Shutdown => {
                    let _ = self.integrate(subs, None);
                    return false;
                }
                Command::Submit(s, at, reply) => subs.push((s, at, reply)),
                Command::Allowlist(target, reply) => {
                    // Bindings queued before the change are sequenced under the old list.
                    let _ = self.integrate(std::mem::take(&mut subs), None);
                    let changes = self.integrate(Vec::new(), Some(target));
                    let _ = reply.send(changes);
                }
            }
        }
        let _ = self.integrate(subs, None);
        true
    }

    fn idle_due(&self) -> bool {
        self.last_commit.elapsed() >= self.log.config().witness_refresh
    }

    /// Integrates one batch; returns the number of allowlist changes logged.
    fn integrate(
        &mut self,
        subs: Vec<(Box<Submission>, Instant, Reply)>,
        target: Option<Allowlist>,
    ) -> Result<usize, Arc<HaltReason>> {
        if let Some(reason) = self.log.halted() {
            for (_, _, reply) in subs {
                let _ = reply.send(Outcome::Unavailable(Unavailable::Halted(Arc::clone(
                    &reason,
                ))));
            }
            return Err(reason);
        }
        let started = Instant::now();
        let time = self.log_time(started);
        let log = Arc::clone(&self.log);
        let mut batch = Pending {
            plan: Integration::new(log.store().as_ref(), self.size),
            replies: Vec::with_capacity(subs.len()),
            leaves: HashMap::new(),
        };
        let changes = match target {
            Some(t) => self.change_allowlist(&mut batch, &t, time),
            None => 0,
        };
        for (s, at, reply) in subs {
            let outcome = self.decide(&mut batch, s);
            batch.replies.push((reply, at, outcome));
        }
        let accepted = batch.plan.bindings();
        if accepted == 0 && changes == 0 && self.size > 0 && !self.idle_due() {
            answer(&log, batch.replies);
            return Ok(0);
        }
        match self.close(batch.plan, time) {
            Ok(head) => {
                self.size = head.size;
                self.clock.commit(time, started);
                self.last_commit = Instant::now();
                if changes > 0 {
                    let list = Allowlist::from_rules(self.ledger.allowlist().clone());
                    log.set_allowlist(Arc::new(list));
                }
                self.publish(head, accepted, started);
                answer(&log, batch.replies);
                Ok(changes)
            }
            Err(e) => {
                let reason = log.halt(HaltReason::Storage(e));
                for (reply, _, _) in batch.replies {
                    let _ = reply.send(Outcome::Unavailable(Unavailable::Halted(Arc::clone(
                        &reason,
                    ))));
                }
                Err(reason)
            }
        }
    }

    /// Closes a batch: the rule book appends the state leaf (and updates the map), then the
    /// plan is signed and committed at once, with the map groups that no version still read
    /// (below the published head and every pinned one) deleted in the same write.
    fn close(&mut self, plan: Integration<'_>, time: u64) -> Result<Head, IntegrateError> {
        let state = self.ledger.append_state(time)?;
        let map = self.ledger.map_mut().take_writes();
        let prune_through = self.log.heads().prune_floor();
        plan.finish(&state, map, prune_through, &self.log.config().key)
    }

    /// Appends the publisher leaves that turn the logged allowlist into `target`; returns
    /// how many.
    fn change_allowlist(
        &mut self,
        batch: &mut Pending<'_>,
        target: &Allowlist,
        time: u64,
    ) -> usize {
        let mut changes = 0;
        for (change, grant) in self.ledger.allowlist().diff(target.rules()) {
            match self.ledger.append_publisher(change, &grant, time) {
                Ok(leaf) => {
                    batch.plan.add_publisher(&leaf);
                    changes += 1;
                }
                // A diff applies without refusal and log time never runs backwards here;
                // should the rule book refuse anyway, the change is not logged.
                Err(e) => {
                    tracing::error!(error = %e, prefix = %grant.prefix, key = %grant.key, "allowlist change not logged")
                }
            }
        }
        changes
    }

    /// The time of the next state leaf: the wall clock, capped if it jumped ahead (alerted).
    fn log_time(&self, now: Instant) -> u64 {
        let (time, jump) = self.clock.next(self.log.config().clock.now(), now);
        if let Some(j) = jump {
            self.log
                .metrics()
                .clock_capped
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                alert = "clock-jump",
                wall = j.wall,
                log_time = j.capped,
                previous = self.clock.last(),
                "the wall clock jumped ahead of the monotonic clock; log time capped (check the system clock)"
            );
        }
        time
    }

    /// Decides one submission: a replay of a logged (or batched) leaf gets its index; any
    /// other is appended if the rule book admits it, and added to the plan.
    fn decide(&mut self, batch: &mut Pending<'_>, s: Box<Submission>) -> Outcome {
        let leaf = s.binding.leaf_hash();
        if let Some(index) = batch.leaves.get(&leaf) {
            return Outcome::Duplicate { index: *index };
        }
        match self.log.store().dedup(&leaf) {
            Ok(Some(index)) => return Outcome::Duplicate { index },
            Ok(None) => {}
            Err(e) => return Outcome::Unavailable(Unavailable::Store(Arc::new(e))),
        }
        let appended = match self.ledger.append_binding(&s.binding, Some(&s.signature)) {
            Ok(a) => a,
            Err(AppendError::Rule(v)) => return Outcome::Refused(v),
            Err(e) => return Outcome::Unavailable(Unavailable::Rules(Arc::new(e))),
        };
        let item = HistoryItem {
            version: appended.value.version,
            index: appended.index,
            leaf_hash: leaf,
        };
        let index = batch
            .plan
            .add_binding(s.binding.entry().to_vec(), appended.ref_key, item);
        batch.leaves.insert(leaf, index);
        Outcome::Added { index }
    }

    fn publish(&self, head: Head, accepted: usize, started: Instant) {
        let m = self.log.metrics();
        m.batch_size.observe(accepted as f64);
        m.tree_size.store(head.size, Ordering::Relaxed);
        tracing::debug!(
            size = head.size,
            accepted,
            ms = started.elapsed().as_millis() as u64,
            "checkpoint committed"
        );
        if self.log.config().witness_quorum == 0 && self.log.gate_open() {
            m.published_size.store(head.size, Ordering::Relaxed);
            // Without a quorum nothing is stored for publishing: the committed checkpoint is it.
            let _ = self
                .log
                .heads()
                .publish(self.log.store().as_ref(), head.clone(), None);
        }
        self.log.heads().set_committed(head);
    }
}

fn answer(log: &Log, replies: Vec<(Reply, Instant, Outcome)>) {
    for (reply, enqueued, outcome) in replies {
        if matches!(outcome, Outcome::Added { .. }) {
            log.metrics()
                .integration_latency
                .observe(enqueued.elapsed().as_secs_f64());
        }
        let _ = reply.send(outcome);
    }
}

enum Gated {
    Changed(bool),
    Command(Option<Command>),
}

enum Recv {
    Command(Command),
    Timeout,
    Closed,
}

fn recv_timeout(
    rt: &tokio::runtime::Handle,
    rx: &mut mpsc::Receiver<Command>,
    timeout: Duration,
) -> Recv {
    match rt.block_on(async { tokio::time::timeout(timeout, rx.recv()).await }) {
        Ok(Some(c)) => Recv::Command(c),
        Ok(None) => Recv::Closed,
        Err(_) => Recv::Timeout,
    }
}
