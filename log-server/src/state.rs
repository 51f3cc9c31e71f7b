//! State shared by the HTTP handlers, the sequencer and the witness collector.
//!
//! The sequencer is the only writer of the tree; it publishes each durable checkpoint on
//! `committed`. The witness collector (or, without witnesses, the sequencer) publishes the
//! newest checkpoint meeting the quorum on `published`. Handlers only read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use taglog_proofs::hash::Hash;
use tokio::sync::{mpsc, watch};

use crate::allowlist::Allowlist;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::quota::Quotas;
use crate::reads::StateProofs;
use crate::sequencer::Command;
use crate::store::LogStore;

/// A durable checkpoint.
#[derive(Clone, Debug)]
pub struct Head {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Signed note bytes (for `published`, with the stored cosignatures).
    pub note: Arc<Vec<u8>>,
    /// Time of its state leaf (log clock, Unix seconds).
    pub time: u64,
}

/// Everything the tasks share.
pub struct Shared {
    /// Resolved configuration.
    pub config: Config,
    /// The database.
    pub storage: Arc<dyn LogStore>,
    /// The logged allowlist (changes only after its publisher leaves are durable).
    pub allowlist: RwLock<Arc<Allowlist>>,
    /// Newest durable checkpoint.
    pub committed: watch::Sender<Option<Head>>,
    /// Newest checkpoint meeting the configured quorum, with its cosignatures.
    pub published: watch::Sender<Option<Head>>,
    /// Why sequencing stopped (fork risk, storage failure), if it did.
    halted: Mutex<Option<String>>,
    /// Set once shutdown begins.
    pub shutting_down: AtomicBool,
    /// Metrics.
    pub metrics: Metrics,
    /// The sequencer's queue.
    pub queue: mpsc::Sender<Command>,
    /// Per-publisher-key submission quotas.
    pub quotas: Quotas,
    /// The state leaf's proof, built once per checkpoint for every answer against it.
    pub state_proofs: StateProofs,
}

impl Shared {
    /// Builds the shared state.
    pub fn new(
        config: Config,
        storage: Arc<dyn LogStore>,
        allowlist: Allowlist,
        queue: mpsc::Sender<Command>,
    ) -> Shared {
        let quotas = Quotas::new(config.publisher_rate, config.publisher_burst);
        Shared {
            config,
            storage,
            allowlist: RwLock::new(Arc::new(allowlist)),
            committed: watch::channel(None).0,
            published: watch::channel(None).0,
            halted: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
            metrics: Metrics::default(),
            queue,
            quotas,
            state_proofs: StateProofs::default(),
        }
    }

    /// The current logged allowlist.
    pub fn allowlist(&self) -> Arc<Allowlist> {
        self.allowlist
            .read()
            .map(|a| Arc::clone(&a))
            .unwrap_or_default()
    }

    /// Stops sequencing for good (until restart) and logs why, loudly.
    pub fn halt(&self, reason: String) {
        tracing::error!(%reason, "SEQUENCING STOPPED: the log keeps serving reads but accepts no bindings");
        if let Ok(mut h) = self.halted.lock() {
            h.get_or_insert(reason);
        }
    }

    /// Why sequencing stopped, if it did.
    pub fn halted(&self) -> Option<String> {
        self.halted.lock().ok().and_then(|h| h.clone())
    }

    /// True once shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Newest durable checkpoint.
    pub fn committed(&self) -> Option<Head> {
        self.committed.borrow().clone()
    }

    /// Newest quorum checkpoint.
    pub fn published(&self) -> Option<Head> {
        self.published.borrow().clone()
    }
}

/// Current Unix time in seconds.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
