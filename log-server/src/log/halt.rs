//! Why sequencing stopped, kept once: the first reason wins, later ones are logged only.
//!
//! Guarantees: once halted, [`HaltState::get`] returns the reason until the process ends;
//! the sequencer checks it before every batch and the submission path before queueing. A
//! fork-risk halt is also persisted ([`HaltRecord`], with its evidence) and halts every later
//! start until an operator clears it with `--clear-halt`. Out of scope: reads (they go on
//! while halted).

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
    /// Persisted until an operator clears it (`--clear-halt`).
    #[error("fork-risk: {0}")]
    ForkRisk(#[from] ForkRisk),
    /// A halt persisted by an earlier run; cleared only with `--clear-halt`.
    #[error("fork-risk (halted since {since}, before the last restart; clear with --clear-halt after resolving it): {risk}")]
    Persisted {
        /// What was found.
        risk: ForkRisk,
        /// When (Unix seconds).
        since: u64,
    },
    /// A halt record persisted by an earlier run that cannot be read; still a halt.
    #[error("fork-risk (a persisted halt record that does not parse: {0}; see the data directory's halt record, clear with --clear-halt after resolving it)")]
    Unreadable(String),
    /// A storage write failed; it may or may not be persisted.
    #[error("storage write failed, restart the server to recover from disk: {0}")]
    Storage(#[source] IntegrateError),
    /// The witness HTTP client could not be built.
    #[error("cannot build the witness HTTP client: {0}")]
    WitnessClient(#[source] reqwest::Error),
}

/// The persisted form of a fork-risk halt (JSON in the store's halt record).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HaltRecord {
    /// What was found, with its evidence.
    pub fork_risk: ForkRisk,
    /// When (Unix seconds).
    pub since: u64,
}

impl HaltRecord {
    /// The record's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The halt a stored record stands for (an unreadable record still halts).
    pub fn reason(bytes: &[u8]) -> HaltReason {
        match serde_json::from_slice::<HaltRecord>(bytes) {
            Ok(r) => HaltReason::Persisted {
                risk: r.fork_risk,
                since: r.since,
            },
            Err(e) => HaltReason::Unreadable(e.to_string()),
        }
    }
}

/// The halt of one log.
#[derive(Debug, Default)]
pub struct HaltState(Mutex<Option<Arc<HaltReason>>>);

impl HaltState {
    /// Stops sequencing for good (until restart, or until cleared for a persisted halt) and
    /// logs why, loudly. Returns the reason in force (an earlier one, if already halted) and
    /// whether this call halted.
    pub fn halt(&self, reason: HaltReason) -> (Arc<HaltReason>, bool) {
        let mut h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(earlier) = h.as_ref() {
            tracing::error!(%reason, earlier = %earlier, "another reason to stop sequencing (already stopped)");
            return (Arc::clone(earlier), false);
        }
        tracing::error!(%reason, "SEQUENCING STOPPED: the log keeps serving reads but accepts no bindings");
        let reason = Arc::new(reason);
        *h = Some(Arc::clone(&reason));
        (reason, true)
    }

    /// Why sequencing stopped, if it did.
    pub fn get(&self) -> Option<Arc<HaltReason>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
