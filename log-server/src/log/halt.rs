//! Why sequencing stopped, kept once: the first reason wins, later ones are logged only.
//!
//! Guarantees: once halted, [`HaltState::get`] returns the reason until the process ends;
//! the sequencer checks it before every batch and the submission path before queueing.
//! Out of scope: reads (they go on while halted).

use std::sync::{Arc, Mutex};

use crate::log::integrate::IntegrateError;

/// What a witness showed that this log lacks, with the evidence the server has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForkRisk {
    /// The witness's key name.
    pub witness: String,
    /// What it showed.
    pub kind: ForkRiskKind,
    /// The witness's cosigned checkpoint (note text, log signature and cosignature
    /// verified), when it could be fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_checkpoint: Option<String>,
    /// The witness's answer to our request, when it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// The kinds of fork risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ForkRiskKind {
    /// The witness cosigned a larger tree than ours.
    WitnessAhead {
        /// Its size.
        witness_size: u64,
        /// Ours.
        our_size: u64,
    },
    /// The witness holds another tree of our size.
    OtherTree {
        /// The size.
        size: u64,
    },
    /// The witness rejected our consistency proof from its own size: it holds another tree
    /// of that size.
    RejectedProof {
        /// Its size.
        witness_size: u64,
        /// Ours.
        our_size: u64,
    },
}

impl std::fmt::Display for ForkRisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = &self.witness;
        match self.kind {
            ForkRiskKind::WitnessAhead {
                witness_size,
                our_size,
            } => write!(
                f,
                "witness {w} has cosigned size {witness_size}, above our size {our_size}"
            )?,
            ForkRiskKind::OtherTree { size } => {
                write!(f, "witness {w} holds another tree of our size {size}")?
            }
            ForkRiskKind::RejectedProof {
                witness_size,
                our_size,
            } => write!(
                f,
                "witness {w} rejected our consistency proof from its size {witness_size} to {our_size}: it holds another tree of size {witness_size}"
            )?,
        }
        if self.witness_checkpoint.is_some() {
            write!(f, " (its cosigned checkpoint is kept as evidence)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ForkRisk {}

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
