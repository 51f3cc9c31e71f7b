//! Deciding: the sequencer asks the ledger whether a leaf may be appended next, and the
//! ledger answers with what the leaf changes (or why not, changing nothing).
//!
//! A batch is a run of appends closed by [`Ledger::append_state`]; the caller writes the
//! leaves, the map updates and the checkpoint in one commit. If that commit fails, the ledger
//! is ahead of storage: rebuild it from storage with [`Ledger::resume`].

use crate::binding::SignedBinding;
use crate::hash::Hash;
use crate::leaves::{LeafError, PublisherChange, PublisherLeaf, StateLeaf};
use crate::map::MapValue;
use crate::note::VerifierKey;

use super::MAX_LOG_TIME_SKEW_SECS;
use super::{ChangeRefused, Grant, Ledger, MapState, SignatureCheck, Violation};

/// What appending a binding changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The binding's leaf index.
    pub index: u64,
    /// `SHA-256(ref)`, the map key set.
    pub ref_key: Hash,
    /// The map value set (index, version, leaf hash).
    pub value: MapValue,
    /// The value it replaces (None for a ref's first binding).
    pub previous: Option<MapValue>,
    /// The admitted key the signature verified under.
    pub signer: VerifierKey,
}

/// Why a leaf may not be appended. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError<E: std::error::Error + 'static> {
    /// The leaf would break a rule (the first broken, in the order a submitter should fix
    /// them: log, admission, signature, version).
    #[error(transparent)]
    Rule(Box<Violation>),
    /// The log's last log-authored time is past the clock plus the allowed skew, so no time
    /// for a new log-authored leaf is both non-decreasing and not in the future.
    #[error("the log's last time {last} is more than {MAX_LOG_TIME_SKEW_SECS} s after the clock ({now}): check the clock before signing anything more")]
    ClockBehind {
        /// The log's largest time so far.
        last: u64,
        /// The clock given.
        now: u64,
    },
    /// The leaf cannot be encoded (a number above 2⁶³−1).
    #[error("the leaf cannot be encoded: {0}")]
    Encode(#[source] LeafError),
    /// The tag map's storage failed.
    #[error("tag map: {0}")]
    Map(#[source] E),
}

impl<M: MapState> Ledger<M> {
    /// The time the next log-authored leaf gets at clock `now`: `max(now, last log time)`.
    ///
    /// # Errors
    /// [`AppendError::ClockBehind`] if the last log time is past `now` +
    /// [`MAX_LOG_TIME_SKEW_SECS`].
    pub fn log_time_for(&self, now: u64) -> Result<u64, AppendError<M::Error>> {
        let last = self.head.log_time.unwrap_or(0);
        if last > now.saturating_add(MAX_LOG_TIME_SKEW_SECS) {
            return Err(AppendError::ClockBehind { last, now });
        }
        Ok(now.max(last))
    }

    /// Appends binding `b` as the next leaf if every rule holds. `sig` may carry a signature
    /// check run ahead (off the async runtime); it is used only if it was run with the
    /// candidates the allowlist yields now, else the signature is checked here.
    ///
    /// # Errors
    /// [`AppendError::Rule`] with the first violation, or [`AppendError::Map`]; the ledger is
    /// then unchanged.
    pub fn append_binding(
        &mut self,
        b: &SignedBinding,
        sig: Option<&SignatureCheck>,
    ) -> Result<Appended, AppendError<M::Error>> {
        let index = self.head.next_index;
        let judged = self
            .judge_binding(index, b, sig)
            .map_err(AppendError::Map)?;
        if let Some(v) = judged.violations.into_iter().next() {
            return Err(AppendError::Rule(Box::new(v)));
        }
        let Some(signer) = judged.signer else {
            // judge_binding reports a violation whenever no key verified.
            return Err(AppendError::Rule(Box::new(Violation::BadSignature {
                index,
                reference: b.binding().reference.clone(),
                keys: Vec::new(),
            })));
        };
        let (ref_key, value) = self.set_binding(index, b);
        self.head.next_index = index.saturating_add(1);
        Ok(Appended {
            index,
            ref_key,
            value,
            previous: judged.previous,
            signer,
        })
    }

    /// Appends a publisher leaf changing `grant`, at clock `now`; returns the leaf to write.
    ///
    /// # Errors
    /// [`AppendError::Rule`] ([`Violation::DuplicateAdd`], [`Violation::AbsentRemove`]),
    /// [`AppendError::ClockBehind`] or [`AppendError::Encode`]; the ledger is then unchanged.
    pub fn append_publisher(
        &mut self,
        change: PublisherChange,
        grant: &Grant,
        now: u64,
    ) -> Result<PublisherLeaf, AppendError<M::Error>> {
        let index = self.head.next_index;
        let time = self.log_time_for(now)?;
        let leaf = PublisherLeaf {
            change,
            prefix: grant.prefix.clone(),
            key: grant.key.clone(),
            time,
        };
        leaf.validate().map_err(AppendError::Encode)?;
        // `apply` changes nothing when it refuses.
        self.allowlist
            .apply(change, &grant.prefix, &grant.key)
            .map_err(|refused| {
                AppendError::Rule(Box::new(refused_violation(index, refused, grant)))
            })?;
        self.note_time(time);
        self.head.next_index = index.saturating_add(1);
        Ok(leaf)
    }

    /// Closes a checkpoint: appends the state leaf (its own index as `size`, the root of the
    /// map after every binding before it, the log time at clock `now`) and applies the
    /// pending map updates as map version index + 1. Returns the leaf to write; the
    /// checkpoint has index + 1 leaves.
    ///
    /// # Errors
    /// [`AppendError::ClockBehind`], [`AppendError::Encode`] or [`AppendError::Map`]; the
    /// ledger is then unchanged (the pending updates are kept).
    pub fn append_state(&mut self, now: u64) -> Result<StateLeaf, AppendError<M::Error>> {
        let index = self.head.next_index;
        let time = self.log_time_for(now)?;
        let size = index.saturating_add(1);
        StateLeaf {
            size: index,
            map_root: Hash([0; 32]),
            time,
        }
        .validate()
        .map_err(AppendError::Encode)?;
        let map_root = self.commit_map(size).map_err(AppendError::Map)?;
        self.note_time(time);
        self.head.next_index = size;
        self.head.last_state = Some(index);
        Ok(StateLeaf {
            size: index,
            map_root,
            time,
        })
    }
}

/// The violation for a refused allowlist change at `index`.
pub(super) fn refused_violation(index: u64, refused: ChangeRefused, grant: &Grant) -> Violation {
    let (prefix, key) = (grant.prefix.clone(), grant.key.clone());
    match refused {
        ChangeRefused::DuplicateAdd => Violation::DuplicateAdd { index, prefix, key },
        ChangeRefused::AbsentRemove => Violation::AbsentRemove { index, prefix, key },
    }
}
