//! The sequencer: one thread that turns queued submissions into durable, signed checkpoints
//! (DESIGN §5 "Submission path", §3.5 state and publisher leaves).
//!
//! Group commit: it blocks for one command, then drains everything queued (up to
//! `max_batch`) into one batch, with no fixed sleep. Per batch it enforces the version rule
//! (previous + 1, first ≤ 2³², also between entries of the batch), dedups by leaf hash,
//! re-checks the allowlist, appends the entries and then the state leaf, computes the tree
//! hashes and the map, signs the checkpoint and writes all of it in one synced
//! [`crate::storage::Batch`]. Only then are waiters answered and the checkpoint published:
//! nothing signed leaves the process before it is durable. A failed write stops sequencing
//! (the write may or may not have persisted; a restart recovers from disk).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taglog_proofs::hash::Hash;
use taglog_proofs::note::{KeyId, KeyName};
use taglog_proofs::refs::TagRef;
use tokio::sync::{mpsc, oneshot};

use crate::allowlist::Allowlist;
use crate::integrate::Integration;
use crate::state::{now_unix, Head, Shared};
use crate::store::HistoryItem;

/// The highest version a ref's first binding may carry (DESIGN §3.4).
pub const MAX_FIRST_VERSION: u64 = 1 << 32;

/// What became of one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The logged allowlist no longer admits the key for the ref: error code and reason.
    Forbidden(&'static str, String),
    /// Sequencing stopped or shutdown began.
    Unavailable(String),
}

/// A validated binding waiting to be sequenced.
#[derive(Debug)]
pub struct Submission {
    /// The exact signed note (the leaf entry).
    pub entry: Vec<u8>,
    /// Its RFC 6962 leaf hash.
    pub leaf: Hash,
    /// The bound ref.
    pub reference: TagRef,
    /// Signer name and key ID (already verified against an allowlisted key).
    pub signer: (KeyName, KeyId),
    /// The binding's version.
    pub version: u64,
    /// When it was enqueued.
    pub enqueued: Instant,
    /// Where to send the outcome.
    pub reply: oneshot::Sender<Outcome>,
}

/// Commands for the sequencer.
#[derive(Debug)]
pub enum Command {
    /// Sequence a binding.
    Submit(Submission),
    /// Log the changes that turn the logged allowlist into this one.
    Allowlist(Allowlist, oneshot::Sender<Result<usize, String>>),
    /// Finish what is queued before this command, then stop.
    Shutdown,
}

/// The sequencer's in-memory view of the durable tree.
struct Sequencer {
    shared: Arc<Shared>,
    rt: tokio::runtime::Handle,
    last_commit: Instant,
    size: u64,
    time: u64,
    allowlist: Arc<Allowlist>,
}

/// Spawns the sequencer thread.
///
/// # Errors
/// An I/O error if the thread cannot be spawned.
pub fn spawn(
    shared: Arc<Shared>,
    rt: tokio::runtime::Handle,
    rx: mpsc::Receiver<Command>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let storage = Arc::clone(&shared.storage);
    let size = storage.size().unwrap_or(0);
    let time = storage.last_time().unwrap_or(0);
    let allowlist = shared.allowlist();
    let seq = Sequencer {
        shared,
        rt,
        last_commit: Instant::now(),
        size,
        time,
        allowlist,
    };
    std::thread::Builder::new()
        .name("sequencer".into())
        .spawn(move || seq.run(rx))
}

impl Sequencer {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let refresh = self.shared.config.witness_refresh;
        if self.size == 0 {
            let _ = self.integrate(Vec::new(), None);
        }
        loop {
            let first = match recv_timeout(&self.rt, &mut rx, refresh) {
                Recv::Command(c) => Some(c),
                Recv::Timeout => None,
                Recv::Closed => break,
            };
            let mut commands: Vec<Command> = first.into_iter().collect();
            while commands.len() < self.shared.config.max_batch {
                match rx.try_recv() {
                    Ok(c) => commands.push(c),
                    Err(_) => break,
                }
            }
            self.shared
                .metrics
                .queue_depth
                .store(rx.len() as u64, std::sync::atomic::Ordering::Relaxed);
            if !self.handle(commands) {
                break;
            }
        }
        tracing::info!(size = self.size, "sequencer stopped after the last batch");
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
                Command::Submit(s) => subs.push(s),
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
        self.last_commit.elapsed() >= self.shared.config.witness_refresh
    }

    /// Integrates one batch; returns the number of allowlist changes logged.
    fn integrate(
        &mut self,
        subs: Vec<Submission>,
        target: Option<Allowlist>,
    ) -> Result<usize, String> {
        if let Some(reason) = self.shared.halted() {
            for s in subs {
                let _ = s.reply.send(Outcome::Unavailable(reason.clone()));
            }
            return Err(reason);
        }
        let started = Instant::now();
        let time = now_unix().max(self.time);
        let storage = Arc::clone(&self.shared.storage);
        let mut plan = Integration::new(storage.as_ref(), self.size);
        let (removes, adds) = target
            .as_ref()
            .map(|t| self.allowlist.diff(t))
            .unwrap_or_default();
        let changes = removes.len() + adds.len();
        for (g, add) in removes
            .iter()
            .map(|g| (g, false))
            .chain(adds.iter().map(|g| (g, true)))
        {
            plan.add_publisher(&g.prefix, &g.key, add, time);
        }
        let allowlist = target
            .map(Arc::new)
            .unwrap_or_else(|| Arc::clone(&self.allowlist));
        let mut replies = Vec::with_capacity(subs.len());
        let mut latest: HashMap<Hash, u64> = HashMap::new();
        let mut batch_leaves: HashMap<Hash, u64> = HashMap::new();
        for s in subs {
            replies.push(self.decide(&mut plan, &allowlist, s, &mut latest, &mut batch_leaves));
        }
        let accepted = plan.bindings();
        if accepted == 0 && changes == 0 && self.size > 0 && !self.idle_due() {
            answer(&self.shared, replies);
            return Ok(0);
        }
        match plan.finish(&self.shared.config.key, time) {
            Ok(head) => {
                self.size = head.size;
                self.time = time;
                self.last_commit = Instant::now();
                if changes > 0 {
                    if let Ok(mut a) = self.shared.allowlist.write() {
                        *a = Arc::clone(&allowlist);
                    }
                    self.allowlist = allowlist;
                }
                self.publish(head, accepted, started);
                answer(&self.shared, replies);
                Ok(changes)
            }
            Err(e) => {
                let reason =
                    format!("storage write failed, restart the server to recover from disk: {e}");
                self.shared.halt(reason.clone());
                for (reply, _, _) in replies {
                    let _ = reply.send(Outcome::Unavailable(reason.clone()));
                }
                Err(reason)
            }
        }
    }

    fn decide(
        &self,
        plan: &mut Integration<'_>,
        allowlist: &Allowlist,
        s: Submission,
        latest: &mut HashMap<Hash, u64>,
        batch_leaves: &mut HashMap<Hash, u64>,
    ) -> (oneshot::Sender<Outcome>, Instant, Outcome) {
        let Submission {
            entry,
            leaf,
            reference,
            signer,
            version,
            enqueued,
            reply,
        } = s;
        let outcome = self.decide_one(
            plan,
            allowlist,
            (entry, leaf, &reference, &signer, version),
            latest,
            batch_leaves,
        );
        (reply, enqueued, outcome)
    }

    fn decide_one(
        &self,
        plan: &mut Integration<'_>,
        allowlist: &Allowlist,
        (entry, leaf, reference, signer, version): (Vec<u8>, Hash, &TagRef, &(KeyName, KeyId), u64),
        latest: &mut HashMap<Hash, u64>,
        batch_leaves: &mut HashMap<Hash, u64>,
    ) -> Outcome {
        if let Some(index) = batch_leaves.get(&leaf) {
            return Outcome::Duplicate { index: *index };
        }
        match self.shared.storage.dedup(&leaf) {
            Ok(Some(index)) => return Outcome::Duplicate { index },
            Ok(None) => {}
            Err(e) => return Outcome::Unavailable(e.to_string()),
        }
        if let Err(e) = allowlist
            .key(&signer.0, signer.1)
            .and_then(|k| allowlist.check(reference, k))
        {
            let code = match e {
                crate::allowlist::Denied::UnknownKey { .. } => "unknown_key",
                crate::allowlist::Denied::RefNotAllowed { .. } => "ref_not_allowed",
            };
            return Outcome::Forbidden(code, e.to_string());
        }
        let ref_key = reference.key();
        let current = match latest.get(&ref_key) {
            Some(v) => Some(*v),
            None => match self.shared.storage.ref_latest(&ref_key) {
                Ok(item) => item.map(|i| i.version),
                Err(e) => return Outcome::Unavailable(e.to_string()),
            },
        };
        if let Err(expected) = check_version(current, version) {
            return Outcome::Conflict { expected, current };
        }
        let item = HistoryItem {
            version,
            index: 0,
            leaf_hash: leaf,
        };
        let index = plan.add_binding(entry, ref_key, item);
        latest.insert(ref_key, version);
        batch_leaves.insert(leaf, index);
        Outcome::Added { index }
    }

    fn publish(&self, head: Head, accepted: usize, started: Instant) {
        let m = &self.shared.metrics;
        m.batch_size.observe(accepted as f64);
        m.tree_size
            .store(head.size, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(
            size = head.size,
            accepted,
            ms = started.elapsed().as_millis() as u64,
            "checkpoint committed"
        );
        if self.shared.config.witness_quorum == 0 {
            m.published_size
                .store(head.size, std::sync::atomic::Ordering::Relaxed);
            self.shared.published.send_replace(Some(head.clone()));
        }
        self.shared.committed.send_replace(Some(head));
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

fn answer(shared: &Shared, replies: Vec<(oneshot::Sender<Outcome>, Instant, Outcome)>) {
    for (reply, enqueued, outcome) in replies {
        if matches!(outcome, Outcome::Added { .. }) {
            shared
                .metrics
                .integration_latency
                .observe(enqueued.elapsed().as_secs_f64());
        }
        let _ = reply.send(outcome);
    }
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
