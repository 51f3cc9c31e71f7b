//! `--audit`: replaying the new entries before cosigning (DESIGN §6). Not implemented yet:
//! [`Auditor::new`] refuses, so `--audit` cannot silently cosign unaudited checkpoints.

use taglog_proofs::checkpoint::Checkpoint;
use taglog_proofs::hash::Hash;

use super::store::Store;
use super::AddError;

/// Why an audit failed or could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// This build cannot audit yet.
    #[error("--audit is not implemented yet")]
    NotImplemented,
}

/// The auditor's durable state for one log (none yet).
#[derive(Debug, Clone)]
pub struct AuditState;

impl AuditState {
    /// The state's durable encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        Vec::new()
    }
}

/// The auditor (cannot be constructed yet).
#[derive(Debug)]
pub struct Auditor(());

impl Auditor {
    /// Creates an auditor.
    ///
    /// # Errors
    /// Always [`AuditError::NotImplemented`] for now.
    pub fn new() -> Result<Auditor, AuditError> {
        Err(AuditError::NotImplemented)
    }

    /// Loads one log's audit state.
    ///
    /// # Errors
    /// Never (no auditor exists).
    pub fn load(
        &self,
        _store: &Store,
        _origin: &str,
        _url: Option<&str>,
        _size: u64,
        _root: &Hash,
    ) -> Result<AuditState, AuditError> {
        Ok(AuditState)
    }

    /// Audits the entries up to `checkpoint`.
    ///
    /// # Errors
    /// Never (no auditor exists).
    pub async fn audit(
        &self,
        _url: Option<&str>,
        state: &AuditState,
        _checkpoint: &Checkpoint,
        _now: u64,
    ) -> Result<AuditState, AddError> {
        Ok(state.clone())
    }
}
