//! What the replay checker reports: one [`Finding`] per broken rule, naming the leaf.

use taglog_proofs::binding::VersionError;
use taglog_proofs::hash::Hash;
use taglog_proofs::map::MapValue;

/// What is wrong with an entry (or a checkpoint boundary). Each variant names the leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The entry does not parse as any taglog leaf.
    Malformed {
        /// Leaf index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A binding for another log's origin.
    WrongLog {
        /// Leaf index.
        index: u64,
        /// The origin it names.
        found: String,
    },
    /// A binding whose signer was not admitted for the ref at this index.
    NotAdmitted {
        /// Leaf index.
        index: u64,
        /// The ref.
        reference: String,
        /// `name+hex id` on the signature line.
        signer: String,
    },
    /// A binding whose signature by an admitted key does not verify.
    BadSignature {
        /// Leaf index.
        index: u64,
        /// The ref.
        reference: String,
        /// The admitted key (vkey) whose signature failed.
        key: String,
    },
    /// A binding that breaks the version rule.
    Version {
        /// Leaf index.
        index: u64,
        /// The ref.
        reference: String,
        /// The map value before this binding (None for a first binding).
        previous: Option<MapValue>,
        /// The version given.
        version: u64,
        /// The rule broken.
        error: VersionError,
    },
    /// A publisher leaf that repeats an `add` or removes an absent pair.
    BadPublisherChange {
        /// Leaf index.
        index: u64,
        /// Why.
        reason: String,
    },
    /// A state leaf whose `size` is not its own index.
    StateSize {
        /// Leaf index.
        index: u64,
        /// The size it claims.
        size: u64,
    },
    /// A state leaf whose map root differs from the recomputed map.
    MapMismatch {
        /// Leaf index.
        index: u64,
        /// The root the leaf claims.
        claimed: Hash,
        /// The root rebuilt from the bindings before it.
        computed: Hash,
    },
    /// A log-authored leaf whose time is below an earlier one's (or above the bound).
    Time {
        /// Leaf index.
        index: u64,
        /// Its time.
        time: u64,
        /// The bound it broke (the previous log time, or the caller's maximum).
        bound: u64,
        /// Whether the bound was an upper bound (the clock) rather than the previous time.
        future: bool,
    },
    /// A checkpoint whose last leaf is not a state leaf.
    NoStateLeaf {
        /// The checkpoint size.
        size: u64,
    },
}

impl Finding {
    /// The leaf index concerned (for a checkpoint boundary: size − 1).
    pub fn index(&self) -> u64 {
        match self {
            Finding::Malformed { index, .. }
            | Finding::WrongLog { index, .. }
            | Finding::NotAdmitted { index, .. }
            | Finding::BadSignature { index, .. }
            | Finding::Version { index, .. }
            | Finding::BadPublisherChange { index, .. }
            | Finding::StateSize { index, .. }
            | Finding::MapMismatch { index, .. }
            | Finding::Time { index, .. } => *index,
            Finding::NoStateLeaf { size } => size.saturating_sub(1),
        }
    }

    /// One sentence for humans and for 422 bodies.
    pub fn describe(&self) -> String {
        match self {
            Finding::Malformed { index, reason } => format!("leaf {index} is malformed: {reason}"),
            Finding::WrongLog { index, found } => {
                format!("leaf {index} is a binding for another log ({found})")
            }
            Finding::NotAdmitted {
                index,
                reference,
                signer,
            } => format!("leaf {index} binds {reference} with key {signer}, which the log had not admitted for it"),
            Finding::BadSignature { index, reference, key } => {
                format!("leaf {index} binds {reference} with a signature by {key} that does not verify")
            }
            Finding::Version {
                index,
                reference,
                error,
                ..
            } => format!("leaf {index} breaks the version rule for {reference}: {error}"),
            Finding::BadPublisherChange { index, reason } => {
                format!("publisher leaf {index}: {reason}")
            }
            Finding::StateSize { index, size } => {
                format!("state leaf {index} claims size {size}; it must be its own index")
            }
            Finding::MapMismatch {
                index,
                claimed,
                computed,
            } => format!(
                "state leaf {index} claims map root {claimed}, but the bindings before it give {computed}"
            ),
            Finding::Time {
                index,
                time,
                bound,
                future,
            } => {
                if *future {
                    format!("log-authored leaf {index} has time {time}, after the bound {bound}")
                } else {
                    format!("log-authored leaf {index} has time {time}, before an earlier leaf's {bound}")
                }
            }
            Finding::NoStateLeaf { size } => {
                format!("the checkpoint of size {size} does not end in a state leaf")
            }
        }
    }
}
