//! The log: everything that decides what is logged and published (DESIGN §5), between the
//! HTTP layer above and the store below.
//!
//! - [`sequencer`]: the one writer of the tree; decides every submission and commits
//!   batches through [`integrate`];
//! - [`heads`]: the committed and published heads;
//! - [`witnesses`]: collects cosignatures and watches for fork risk, believing a witness
//!   only on [`evidence`];
//! - [`check`]: the checks a stored log passes before it sequences; [`clock`]: log time;
//! - [`reads`]: proofs and bundles against a durable checkpoint;
//! - [`allowlist`]: the logged publisher allowlist; [`halt`]: why sequencing stopped;
//!   [`health`]: whether clients would take the published checkpoint as fresh.
//!
//! Imports go one way: `http` → `log` → `store` (config and metrics are leaves). Guarantees:
//! a submission is answered `Added` only after its batch, including the signed checkpoint,
//! is durable; nothing signed leaves this module before that. Out of scope: HTTP framing and
//! input parsing (the `http` layer does both, and only hands over verified submissions).

pub mod allowlist;
pub mod check;
pub mod clock;
pub mod evidence;
pub mod halt;
pub mod heads;
pub mod health;
pub mod integrate;
pub mod reads;
pub mod sequencer;
pub mod witnesses;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use crate::config::LogConfig;
use crate::metrics::Metrics;
use crate::store::map::MapError;
use crate::store::{LogStore, StoreError};
use allowlist::{Allowlist, GrantError};
use check::Inconsistency;
use halt::{HaltReason, HaltRecord, HaltState};
use heads::{Head, Heads};
use reads::StateProofs;
use sequencer::{Command, Outcome, Submission};
use taglog_proofs::map::MapStoreError;

/// Why a log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored tree contradicts the stored checkpoint, or the checkpoint does not verify.
    #[error("REFUSING TO START: {0}. The log must never contradict a checkpoint it signed; restore the data directory from a consistent backup")]
    Inconsistent(#[from] Inconsistency),
    /// A stored allowlist row does not parse.
    #[error("REFUSING TO START: the logged allowlist is damaged: {0}; restore the data directory from a consistent backup")]
    LoggedAllowlist(#[from] GrantError),
    /// The sequencer thread could not be started.
    #[error("cannot start the sequencer thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Why a submission was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue is full; retry later.
    #[error("the submission queue is full; retry later")]
    Full,
    /// The sequencer stopped.
    #[error("the sequencer stopped")]
    Stopped,
}

/// Why an allowlist change was not logged.
#[derive(Debug, thiserror::Error)]
pub enum AllowlistChangeError {
    /// The sequencer stopped.
    #[error("the sequencer stopped")]
    Stopped,
    /// Sequencing is halted (or halted while writing the change).
    #[error("{0}")]
    Halted(Arc<HaltReason>),
}

/// Why the log stopped uncleanly.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The sequencer thread panicked.
    #[error("the sequencer thread panicked")]
    SequencerPanicked,
    /// Waiting for the sequencer failed.
    #[error("waiting for the sequencer failed: {0}")]
    Join(#[source] tokio::task::JoinError),
}

/// One log: its store, heads, logged allowlist, halt state and sequencer queue.
pub struct Log {
    config: LogConfig,
    store: Arc<dyn LogStore>,
    heads: Heads,
    allowlist: RwLock<Arc<Allowlist>>,
    halt: HaltState,
    queue: mpsc::Sender<Command>,
    metrics: Arc<Metrics>,
    state_proofs: StateProofs,
    shutting_down: AtomicBool,
    /// Witnesses (key names) that must answer before sequencing starts.
    gate: watch::Sender<BTreeSet<String>>,
    /// Set by the sequencer once it runs after the gate.
    ready: watch::Sender<bool>,
}

/// A started log: its sequencer thread and witness tasks run until [`Running::stop`].
pub struct Running {
    log: Arc<Log>,
    sequencer: std::thread::JoinHandle<()>,
    witnesses: Vec<tokio::task::JoinHandle<()>>,
}

impl Log {
    /// Opens the log on `store` and starts it: checks the stored tree against its signed
    /// checkpoint, loads the heads and the logged allowlist, then starts the sequencer thread
    /// and one witness task per configured witness. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`OpenError`]; nothing was written to the store.
    pub fn start(
        config: LogConfig,
        store: Arc<dyn LogStore>,
        metrics: Arc<Metrics>,
    ) -> Result<Running, OpenError> {
        let committed = check::verify_store(store.as_ref(), &config.key.verifier())?;
        // Read again, and never defaulted: a sequencer that took a read error for an empty
        // log would sign a second tree.
        let start = sequencer::Start {
            size: store.size()?,
            time: store.last_time()?,
        };
        if start.size != committed.as_ref().map_or(0, |h| h.size) {
            return Err(OpenError::Inconsistent(Inconsistency::SizeChanged {
                checked: committed.map_or(0, |h| h.size),
                now: start.size,
            }));
        }
        let logged = Allowlist::from_rows(&store.publishers()?)?;
        let (tx, rx) = mpsc::channel(config.queue_size.max(1));
        let log = Arc::new(Log {
            config,
            store,
            heads: Heads::default(),
            allowlist: RwLock::new(Arc::new(logged)),
            halt: HaltState::default(),
            queue: tx,
            metrics,
            state_proofs: StateProofs::default(),
            shutting_down: AtomicBool::new(false),
            gate: watch::channel(BTreeSet::new()).0,
            ready: watch::channel(false).0,
        });
        log.load_halt()?;
        log.close_gate();
        log.load_heads(committed)?;
        let handle = tokio::runtime::Handle::current();
        let sequencer =
            sequencer::spawn(Arc::clone(&log), handle, rx, start).map_err(OpenError::Spawn)?;
        let witnesses = witnesses::spawn(&log);
        Ok(Running {
            log,
            sequencer,
            witnesses,
        })
    }

    /// A persisted halt halts this run too, unless the operator clears it.
    fn load_halt(&self) -> Result<(), OpenError> {
        let Some(bytes) = self.store.halt()? else {
            return Ok(());
        };
        let record = String::from_utf8_lossy(&bytes).into_owned();
        if self.config.clear_halt {
            tracing::warn!(%record, "--clear-halt: clearing the persisted halt; make sure its cause (a restored backup, a second sequencer) is resolved");
            self.store.set_halt(None)?;
        } else {
            self.halt.halt(HaltRecord::reason(&bytes));
        }
        Ok(())
    }

    /// Sequencing waits for every configured witness not named by `--start-without-witness`.
    fn close_gate(&self) {
        let mut waiting = BTreeSet::new();
        for w in &self.config.witnesses {
            let name = w.key.name().to_string();
            if self.config.start_without.contains(&name) {
                tracing::warn!(witness = %name, "--start-without-witness: sequencing starts without this witness's answer; a restored backup or a second sequencer would not be caught by it at start");
            } else {
                waiting.insert(name);
            }
        }
        if !waiting.is_empty() {
            tracing::info!(witnesses = ?waiting, "sequencing waits until every witness has answered and proved consistent");
        }
        self.gate.send_replace(waiting);
    }

    fn load_heads(&self, committed: Option<Head>) -> Result<(), OpenError> {
        let Some(head) = committed else { return Ok(()) };
        self.metrics.tree_size.store(head.size, Ordering::Relaxed);
        if self.config.witness_quorum == 0 {
            self.heads
                .publish(self.store.as_ref(), head.clone(), None)?;
        } else {
            let p = self.store.published_size()?;
            if p > 0 {
                let key = self.config.key.verifier();
                let published = check::load_head(self.store.as_ref(), &key, p, true)?;
                // A log run without witnesses since it published `p` with them pruned the
                // map of `p`: nothing could be looked up against it, so it waits for the
                // witnesses to cosign the committed head instead.
                match crate::store::map::root(self.store.as_ref(), p) {
                    Ok(_) => {
                        self.heads.publish(self.store.as_ref(), published, None)?;
                    }
                    Err(MapError::Store(MapStoreError::MissingNode(_))) => {
                        tracing::warn!(
                            published = p,
                            committed = head.size,
                            "the stored cosigned checkpoint is older than the tag map kept (the log ran without witnesses since); serving reads once the witnesses cosign the committed checkpoint"
                        );
                    }
                    Err(source) => return Err(Inconsistency::Map { size: p, source }.into()),
                }
            }
        }
        self.heads.set_committed(head);
        Ok(())
    }

    /// The log's configuration.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// The store, for readers.
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// The heads.
    pub fn heads(&self) -> &Heads {
        &self.heads
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The state leaf's proof cache shared by every answer against one checkpoint.
    pub fn state_proofs(&self) -> &StateProofs {
        &self.state_proofs
    }

    /// The current logged allowlist.
    pub fn allowlist(&self) -> Arc<Allowlist> {
        self.allowlist
            .read()
            .map(|a| Arc::clone(&a))
            .unwrap_or_default()
    }

    fn set_allowlist(&self, list: Arc<Allowlist>) {
        if let Ok(mut a) = self.allowlist.write() {
            *a = list;
        }
    }

    /// Why sequencing stopped, if it did.
    pub fn halted(&self) -> Option<Arc<HaltReason>> {
        self.halt.get()
    }

    /// Halts sequencing; a fork-risk halt is also persisted with its evidence, so that it
    /// outlives the process.
    pub(crate) fn halt(&self, reason: HaltReason) -> Arc<HaltReason> {
        let record = match &reason {
            HaltReason::ForkRisk(risk) => Some(HaltRecord {
                fork_risk: risk.clone(),
                since: self.config.clock.now(),
            }),
            _ => None,
        };
        let (reason, new) = self.halt.halt(reason);
        if let Some(record) = record.filter(|_| new) {
            if let Err(e) = self.store.set_halt(Some(&record.to_bytes())) {
                tracing::error!(error = %e, "cannot persist the halt: it will not survive a restart");
            }
        }
        reason
    }

    /// The witnesses (key names) sequencing still waits for at start; `None` once the
    /// sequencer runs (every awaited witness answered and the changes held back meanwhile,
    /// such as the allowlist, are logged).
    pub fn awaiting_witnesses(&self) -> Option<Vec<String>> {
        if *self.ready.borrow() {
            return None;
        }
        Some(self.gate.borrow().iter().cloned().collect())
    }

    /// True once every awaited witness answered (the sequencer may commit).
    pub(crate) fn gate_open(&self) -> bool {
        self.gate.borrow().is_empty()
    }

    /// The sequencer runs: submissions are queued from now on.
    pub(crate) fn set_ready(&self) {
        self.ready.send_replace(true);
    }

    /// Waits at most `limit` for the sequencer to run (see [`Log::awaiting_witnesses`]);
    /// returns whether it does.
    pub async fn wait_ready(&self, limit: std::time::Duration) -> bool {
        let mut rx = self.ready.subscribe();
        let ready = tokio::time::timeout(limit, rx.wait_for(|r| *r)).await;
        matches!(ready, Ok(Ok(_)))
    }

    /// Records that a witness cosigned the committed checkpoint (so consistency from its
    /// size is proven); sequencing starts once every awaited witness did.
    pub(crate) fn witness_confirmed(&self, name: &str) {
        self.gate.send_if_modified(|waiting| {
            let removed = waiting.remove(name);
            if removed && waiting.is_empty() {
                tracing::info!("every witness answered and proved consistent: sequencing starts");
            }
            removed
        });
    }

    /// Follows the set of witnesses sequencing waits for.
    pub(crate) fn watch_gate(&self) -> watch::Receiver<BTreeSet<String>> {
        self.gate.subscribe()
    }

    /// Marks the start of shutdown: new submissions are refused from now on.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
    }

    /// True once shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Queues a verified submission and waits for the sequencer's decision.
    ///
    /// # Errors
    /// [`QueueError::Full`] at once if the queue is full; [`QueueError::Stopped`] if the
    /// sequencer stopped before deciding.
    pub async fn submit(&self, submission: Submission) -> Result<Outcome, QueueError> {
        let (tx, rx) = oneshot::channel();
        let command = Command::Submit(Box::new(submission), Instant::now(), tx);
        self.queue.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => QueueError::Full,
            mpsc::error::TrySendError::Closed(_) => QueueError::Stopped,
        })?;
        rx.await.map_err(|_| QueueError::Stopped)
    }

    /// Logs the changes that turn the logged allowlist into `list` (publisher leaves, in one
    /// checkpoint, after the bindings queued before); returns how many changes were logged.
    ///
    /// # Errors
    /// [`AllowlistChangeError`] if the sequencer stopped or sequencing is halted.
    pub async fn apply_allowlist(&self, list: Allowlist) -> Result<usize, AllowlistChangeError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send(Command::Allowlist(list, tx))
            .await
            .map_err(|_| AllowlistChangeError::Stopped)?;
        rx.await
            .map_err(|_| AllowlistChangeError::Stopped)?
            .map_err(AllowlistChangeError::Halted)
    }
}

impl Running {
    /// The running log.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Finishes what is queued, stops the sequencer and the witness tasks.
    ///
    /// # Errors
    /// [`StopError`] if the sequencer thread panicked.
    pub async fn stop(self) -> Result<(), StopError> {
        self.log.begin_shutdown();
        let _ = self.log.queue.send(Command::Shutdown).await;
        let seq = self.sequencer;
        let joined = tokio::task::spawn_blocking(move || seq.join())
            .await
            .map_err(StopError::Join)?;
        for w in &self.witnesses {
            w.abort();
        }
        joined.map_err(|_| StopError::SequencerPanicked)
    }
}

/// Current Unix time in seconds (0 if the clock is before 1970).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
