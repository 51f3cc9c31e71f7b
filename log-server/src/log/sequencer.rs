//! The sequencer: one thread that turns queued submissions into durable, signed checkpoints
//! (DESIGN §5 "Submission path", §3.5 state and publisher leaves).
//!
//! Group commit: it blocks for one command, then drains everything queued (up to
//! `max_batch`) into one batch, with no fixed sleep. Per batch it enforces the version rule
//! (previous + 1, first ≤ 2³², also between entries of the batch), dedups by leaf hash,
//! re-checks the allowlist, appends the entries and then the state leaf, computes the tree
//! hashes and the map, signs the checkpoint and commits all of it at once
//! ([`crate::store::LogStore::commit`]). Only then are waiters answered and the checkpoint
//! published: nothing signed leaves the process before it is durable. A failed commit halts
//! sequencing (the write may or may not have persisted; a restart recovers from the store).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taglog_proofs::hash::Hash;
use taglog_proofs::leaves::PublisherChange;
use taglog_proofs::note::VerifierKey;
use taglog_proofs::refs::TagRef;
use tokio::sync::{mpsc, oneshot};

use crate::log::allowlist::{Allowlist, Denied};
use crate::log::clock::LogClock;
use crate::log::halt::HaltReason;
use crate::log::heads::Head;
use crate::log::integrate::Integration;
use crate::log::Log;
use crate::store::{HistoryItem, StoreError};

/// The highest version a ref's first binding may carry (DESIGN §3.4).
pub const MAX_FIRST_VERSION: u64 = 1 << 32;

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
    /// The version rule failed.
    Conflict {
        /// The version the log expects next.
        expected: u64,
        /// The ref's current version, if bound.
        current: Option<u64>,
    },
    /// The logged allowlist no longer admits the key for the ref.
    Forbidden(Denied),
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
    /// Sequencing waits until these witnesses have answered (at start).
    #[error("sequencing waits until every witness has answered and proved consistent; waiting for {}", .0.join(", "))]
    AwaitingWitnesses(Vec<String>),
}

/// A verified binding waiting to be sequenced.
#[derive(Debug)]
pub struct Submission {
    /// The exact signed note (the leaf entry).
    pub entry: Vec<u8>,
    /// Its RFC 6962 leaf hash.
    pub leaf: Hash,
    /// The bound ref.
    pub reference: TagRef,
    /// The allowlisted key its signature verified under (the sequencer re-checks that this
    /// key is still admitted for the ref).
    pub key: VerifierKey,
    /// The binding's version.
    pub version: u64,
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
    size: u64,
    clock: LogClock,
    allowlist: Arc<Allowlist>,
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
    let allowlist = log.allowlist();
    let seq = Sequencer {
        log,
        rt,
        last_commit: Instant::now(),
        size,
        clock: LogClock::new(time),
        allowlist,
    };
    std::thread::Builder::new()
        .name("sequencer".into())
        .spawn(move || seq.run(rx))
}

/// One batch being decided: the plan and the answers waiting for its commit.
struct Pending<'a> {
    plan: Integration<'a>,
    replies: Vec<(Reply, Instant, Outcome)>,
    /// Versions set by this batch, by ref key.
    latest: HashMap<Hash, u64>,
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
            latest: HashMap::new(),
            leaves: HashMap::new(),
        };
        let diff = target
            .as_ref()
            .map(|t| self.allowlist.diff(t))
            .unwrap_or_default();
        let changes = diff.len();
        for (change, g) in &diff {
            let add = *change == PublisherChange::Add;
            batch.plan.add_publisher(&g.prefix, &g.key, add, time);
        }
        let allowlist = target
            .map(Arc::new)
            .unwrap_or_else(|| Arc::clone(&self.allowlist));
        for (s, at, reply) in subs {
            let outcome = self.decide(&mut batch, &allowlist, s);
            batch.replies.push((reply, at, outcome));
        }
        let accepted = batch.plan.bindings();
        if accepted == 0 && changes == 0 && self.size > 0 && !self.idle_due() {
            answer(&log, batch.replies);
            return Ok(0);
        }
        match batch.plan.finish(&log.config().key, time) {
            Ok(head) => {
                self.size = head.size;
                self.clock.commit(time, started);
                self.last_commit = Instant::now();
                if changes > 0 {
                    log.set_allowlist(Arc::clone(&allowlist));
                    self.allowlist = allowlist;
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

    /// Decides one submission against the store and the batch so far; adds it to the plan
    /// if it is admitted.
    fn decide(
        &self,
        batch: &mut Pending<'_>,
        allowlist: &Allowlist,
        s: Box<Submission>,
    ) -> Outcome {
        let store = self.log.store();
        if let Some(index) = batch.leaves.get(&s.leaf) {
            return Outcome::Duplicate { index: *index };
        }
        match store.dedup(&s.leaf) {
            Ok(Some(index)) => return Outcome::Duplicate { index },
            Ok(None) => {}
            Err(e) => return Outcome::Unavailable(Unavailable::Store(Arc::new(e))),
        }
        if let Err(denied) = allowlist.check(&s.reference, &s.key) {
            return Outcome::Forbidden(denied);
        }
        let ref_key = s.reference.key();
        let current = match batch.latest.get(&ref_key) {
            Some(v) => Some(*v),
            None => match store.ref_latest(&ref_key) {
                Ok(item) => item.map(|i| i.version),
                Err(e) => return Outcome::Unavailable(Unavailable::Store(Arc::new(e))),
            },
        };
        if let Err(expected) = check_version(current, s.version) {
            return Outcome::Conflict { expected, current };
        }
        let item = HistoryItem {
            version: s.version,
            index: 0,
            leaf_hash: s.leaf,
        };
        let index = batch.plan.add_binding(s.entry, ref_key, item);
        batch.latest.insert(ref_key, s.version);
        batch.leaves.insert(s.leaf, index);
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

/// Checks the version rule; `Err` carries the expected version.
///
/// # Errors
/// The version the log would accept next (for a first binding: 1).
pub fn check_version(current: Option<u64>, version: u64) -> Result<(), u64> {
    match current {
        Some(c) if version == c.saturating_add(1) => Ok(()),
        Some(c) => Err(c.saturating_add(1)),
        None if (1..=MAX_FIRST_VERSION).contains(&version) => Ok(()),
        None => Err(1),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rule() {
        assert_eq!(check_version(None, 1), Ok(()));
        assert_eq!(check_version(None, MAX_FIRST_VERSION), Ok(()));
        assert_eq!(check_version(None, MAX_FIRST_VERSION + 1), Err(1));
        assert_eq!(check_version(None, 0), Err(1));
        assert_eq!(check_version(Some(7), 8), Ok(()));
        assert_eq!(check_version(Some(7), 7), Err(8));
        assert_eq!(check_version(Some(7), 9), Err(8));
    }
}
