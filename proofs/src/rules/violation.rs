//! What the rule book reports: one [`Violation`] per broken rule, naming the leaf.
//!
//! The sequencer turns the first violation of a submission into its refusal (403, 409); the
//! monitor turns each into an alert and the auditing witness into a 422 reason. Each variant
//! carries the facts a third party needs to re-check it (with the leaf's inclusion proof,
//! which the caller adds).

use crate::binding::VersionError;
use crate::hash::Hash;
use crate::leaves::LeafError;
use crate::map::MapValue;
use crate::note::{KeyId, KeyName, VerifierKey};
use crate::refs::{RefPrefix, TagRef};

/// Why the logged allowlist does not admit a binding's signer for its ref.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAdmittedReason {
    /// No admitted key has the signature line's name and key ID.
    UnknownKey,
    /// Keys with that name and key ID are admitted, but for no prefix covering the ref.
    NoPrefix,
}

/// A broken rule of the log (DESIGN §3.4–§3.6). Each variant names the leaf index.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The entry does not parse as any taglog leaf.
    #[error("leaf {index} is malformed: {error}")]
    Malformed {
        /// Leaf index.
        index: u64,
        /// The parser's reason.
        error: LeafError,
    },
    /// A binding whose `log` line names another log.
    #[error("leaf {index} is a binding for another log ({found:?}, not {expected:?})")]
    WrongLog {
        /// Leaf index.
        index: u64,
        /// This log's origin.
        expected: String,
        /// The origin the binding names.
        found: String,
    },
    /// A binding whose signer the logged allowlist did not admit for the ref at this index.
    #[error("leaf {index} binds {reference} with key {name}+{id}, which the log had not admitted for it ({})", match .reason {
        NotAdmittedReason::UnknownKey => "no admitted key has this name and key ID",
        NotAdmittedReason::NoPrefix => "the key is admitted, but for no prefix covering the ref",
    })]
    NotAdmitted {
        /// Leaf index.
        index: u64,
        /// The ref.
        reference: TagRef,
        /// Key name on the signature line.
        name: KeyName,
        /// Key ID on the signature line.
        id: KeyId,
        /// Which part of admission failed.
        reason: NotAdmittedReason,
    },
    /// A binding whose signature verifies under none of the admitted keys it names.
    #[error("leaf {index} binds {reference} with a signature that verifies under none of the {} admitted key(s) named {}", .keys.len(), keys_text(.keys))]
    BadSignature {
        /// Leaf index.
        index: u64,
        /// The ref.
        reference: TagRef,
        /// Every admitted key covering the ref with the line's name and key ID (all tried).
        keys: Vec<VerifierKey>,
    },
    /// A binding that breaks the version rule.
    #[error("leaf {index} breaks the version rule for {reference}: {error}")]
    Version {
        /// Leaf index.
        index: u64,
        /// The ref.
        reference: TagRef,
        /// The map value before this binding (None for a first binding).
        previous: Option<MapValue>,
        /// The version given.
        version: u64,
        /// The rule broken (with the expected version, when there is one).
        error: VersionError,
    },
    /// A publisher leaf adding a pair that is already admitted.
    #[error("publisher leaf {index} adds {prefix} {key}, which is already admitted")]
    DuplicateAdd {
        /// Leaf index.
        index: u64,
        /// The prefix.
        prefix: RefPrefix,
        /// The key.
        key: VerifierKey,
    },
    /// A publisher leaf removing a pair that is not admitted.
    #[error("publisher leaf {index} removes {prefix} {key}, which was not admitted")]
    AbsentRemove {
        /// Leaf index.
        index: u64,
        /// The prefix.
        prefix: RefPrefix,
        /// The key.
        key: VerifierKey,
    },
    /// A state leaf whose `size` is not its own index.
    #[error("state leaf {index} claims size {size}; it must be its own index")]
    StateSize {
        /// Leaf index.
        index: u64,
        /// The size it claims.
        size: u64,
    },
    /// A state leaf whose map root differs from the map rebuilt from the bindings before it.
    #[error(
        "state leaf {index} claims map root {claimed}, but the bindings before it give {computed}"
    )]
    MapMismatch {
        /// Leaf index.
        index: u64,
        /// The root the leaf claims.
        claimed: Hash,
        /// The root rebuilt from the bindings before it.
        computed: Hash,
    },
    /// A log-authored leaf whose time is below an earlier log-authored leaf's.
    #[error("log-authored leaf {index} has time {time}, before an earlier leaf's {previous}")]
    TimeDecreased {
        /// Leaf index.
        index: u64,
        /// Its time.
        time: u64,
        /// The largest earlier log time.
        previous: u64,
    },
    /// A log-authored leaf whose time is past the checker's clock plus the allowed skew.
    #[error("log-authored leaf {index} has time {time}, after now + skew ({bound})")]
    TimeInFuture {
        /// Leaf index.
        index: u64,
        /// Its time.
        time: u64,
        /// The checker's clock plus [`super::MAX_LOG_TIME_SKEW_SECS`].
        bound: u64,
    },
    /// A checkpoint whose last leaf is not a state leaf.
    #[error("the checkpoint of size {size} does not end in a state leaf")]
    NoStateLeaf {
        /// The checkpoint size.
        size: u64,
    },
}

fn keys_text(keys: &[VerifierKey]) -> String {
    let names: Vec<String> = keys.iter().map(ToString::to_string).collect();
    names.join(", ")
}

impl Violation {
    /// The leaf index concerned (for a checkpoint boundary: size − 1).
    pub fn index(&self) -> u64 {
        match self {
            Violation::Malformed { index, .. }
            | Violation::WrongLog { index, .. }
            | Violation::NotAdmitted { index, .. }
            | Violation::BadSignature { index, .. }
            | Violation::Version { index, .. }
            | Violation::DuplicateAdd { index, .. }
            | Violation::AbsentRemove { index, .. }
            | Violation::StateSize { index, .. }
            | Violation::MapMismatch { index, .. }
            | Violation::TimeDecreased { index, .. }
            | Violation::TimeInFuture { index, .. } => *index,
            Violation::NoStateLeaf { size } => size.saturating_sub(1),
        }
    }

    /// A stable kebab-case name of the rule broken (for alert identifiers and error codes).
    pub fn code(&self) -> &'static str {
        match self {
            Violation::Malformed { .. } => "malformed",
            Violation::WrongLog { .. } => "wrong-log",
            Violation::NotAdmitted {
                reason: NotAdmittedReason::UnknownKey,
                ..
            } => "unknown-key",
            Violation::NotAdmitted {
                reason: NotAdmittedReason::NoPrefix,
                ..
            } => "ref-not-allowed",
            Violation::BadSignature { .. } => "bad-signature",
            Violation::Version { .. } => "version",
            Violation::DuplicateAdd { .. } => "duplicate-add",
            Violation::AbsentRemove { .. } => "absent-remove",
            Violation::StateSize { .. } => "state-size",
            Violation::MapMismatch { .. } => "map-mismatch",
            Violation::TimeDecreased { .. } => "time-decreased",
            Violation::TimeInFuture { .. } => "time-in-future",
            Violation::NoStateLeaf { .. } => "no-state-leaf",
        }
    }
}
