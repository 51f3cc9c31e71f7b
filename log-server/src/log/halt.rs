//! Why sequencing stopped, kept once: the first reason wins, later ones are logged only.
//!
//! Guarantees: once halted, [`HaltState::get`] returns the reason until the process ends;
//! the sequencer checks it before every batch and the submission path before queueing.
//! Out of scope: reads (they go on while halted).

use std::sync::{Arc, Mutex};

use crate::log::integrate::IntegrateError;

/// What a witness showed that this log lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForkRisk {
    /// The witness cosigned a larger tree than ours.
    #[error("witness {witness} has cosigned size {witness_size}, above our size {our_size}")]
    WitnessAhead {
        /// The witness's key name.
        witness: String,
        /// Its size.
        witness_size: u64,
        /// Ours.
        our_size: u64,
    },
    /// The witness holds another tree of our size.
    #[error("witness {witness} holds another tree of our size {size}")]
    OtherTree {
        /// The witness's key name.
        witness: String,
        /// The size.
        size: u64,
    },
}

/// Why sequencing stopped.
#[derive(Debug, thiserror::Error)]
pub enum HaltReason {
    /// Published state exists that this log lacks (a restored backup, a second sequencer).
    #[error("fork-risk: {0}")]
    ForkRisk(#[from] ForkRisk),
    /// A storage write failed; it may or may not be persisted.
    #[error("storage write failed, restart the server to recover from disk: {0}")]
    Storage(#[source] IntegrateError),
    /// The witness HTTP client could not be built.
    #[error("cannot build the witness HTTP client: {0}")]
    WitnessClient(#[source] reqwest::Error),
}

/// The halt of one log.
#[derive(Debug, Default)]
pub struct HaltState(Mutex<Option<Arc<HaltReason>>>);

impl HaltState {
    /// Stops sequencing for good (until restart) and logs why, loudly. Returns the reason
    /// in force (an earlier one, if the log was already halted).
    pub fn halt(&self, reason: HaltReason) -> Arc<HaltReason> {
        tracing::error!(%reason, "SEQUENCING STOPPED: the log keeps serving reads but accepts no bindings");
        let mut h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(h.get_or_insert_with(|| Arc::new(reason)))
    }

    /// Why sequencing stopped, if it did.
    pub fn get(&self) -> Option<Arc<HaltReason>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
