//! Notary v1 trust data (Docker Content Trust), verified so that `taglog import notary` can
//! carry each signed tag into the log. Notary is The Update Framework as implemented by
//! <https://github.com/notaryproject/notary> (`tuf/` package, spec at
//! <https://theupdateframework.github.io/specification/>); taglog reads what Notary 0.7
//! writes, verifies it the way Notary's client does, and is stricter where noted.
//!
//! Order (each step only with what the previous one verified):
//! 1. [`TrustedRoot::pin`]: the root the user already trusts (their trust directory's
//!    `root.json`, written by `docker trust` / `notary` on first use, or a file they name);
//!    [`TrustedRoot::rotate`] to each newer root, which both old and new root keys must sign;
//!    [`TrustedRoot::check_fresh`] on the last one.
//! 2. [`TrustedRoot::timestamp`] → [`Timestamp::snapshot`] → [`Snapshot::targets`] →
//!    [`Snapshot::delegation`] for `targets/releases`: signatures, thresholds, expiry,
//!    version floors, and the length and hashes each parent signed for the child.
//! 3. [`docker_tags`]: the tags and digests Docker would pull, and the tags that failed.
//!
//! Signed bytes are the canonical JSON of the parsed `signed` value ([`canonical`]); keys and
//! signature methods are in [`keys`]. Limits: [`MAX_METADATA_BYTES`], [`MAX_SIGNATURES`],
//! [`MAX_ROLE_KEYS`], [`MAX_TARGETS`], [`MAX_DELEGATIONS`], checked before use.
//!
//! Out of scope: fetching (the client does it), writing or signing Notary data, RSA keys,
//! delegations other than `targets/releases`, and the meaning of a digest (the registry).

pub mod canonical;
pub mod keys;
mod roles;
mod signed;
mod tags;

pub use roles::{
    claimed_targets, claimed_version, Delegation, Snapshot, Targets, Timestamp, TrustedRoot,
    MAX_DELEGATIONS, MAX_TARGETS,
};
pub use signed::{
    FileMeta, RoleKeys, MAX_METADATA_BYTES, MAX_ROLE_KEYS, MAX_SIGNATURES, MAX_SIGNATURE_BYTES,
};
pub use tags::{docker_tags, DockerTags, Releases, SignedTag, TagFailure, RELEASES_ROLE};

/// Most root versions walked in one update (rotations since the trusted root).
pub const MAX_ROOT_ROTATIONS: u64 = 64;

/// Why Notary metadata was rejected. Each names the role (file) it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotaryError {
    /// The file is larger than its limit.
    #[error("{role}.json is {len} bytes; at most {limit} are read")]
    TooLarge {
        /// Role.
        role: String,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not the shape Notary writes.
    #[error("{role}.json is malformed: {reason}")]
    Malformed {
        /// Role.
        role: String,
        /// What is wrong.
        reason: String,
    },
    /// Too few valid signatures by the role's keys.
    #[error("{role}.json has {valid} valid signature(s) by its role's keys, {threshold} needed ({problems})")]
    Threshold {
        /// Role.
        role: String,
        /// Valid signatures counted.
        valid: u64,
        /// Needed.
        threshold: u64,
        /// Why the other keys did not count.
        problems: String,
    },
    /// Expired.
    #[error("{role}.json expired at {expires}")]
    Expired {
        /// Role.
        role: String,
        /// Its `expires` text.
        expires: String,
    },
    /// A version below what was already trusted.
    #[error(
        "{role}.json is version {found}, below version {trusted} already trusted (a rollback)"
    )]
    Rollback {
        /// Role.
        role: String,
        /// The lowest acceptable version.
        trusted: u64,
        /// The version found.
        found: u64,
    },
    /// Not the length its parent signed.
    #[error("{role}.json is {found} bytes, but its parent signed a length of {expected}")]
    LengthMismatch {
        /// Role.
        role: String,
        /// Signed length.
        expected: u64,
        /// Actual length.
        found: u64,
    },
    /// Not the hash its parent signed.
    #[error("{role}.json does not have the hash its parent signed (tampered or out of date)")]
    HashMismatch {
        /// Role.
        role: String,
    },
    /// The snapshot does not list the role.
    #[error("the snapshot does not list {role}")]
    NotListed {
        /// Role.
        role: String,
    },
    /// The parent targets file does not delegate the role.
    #[error("{role} is not delegated by its parent targets file")]
    NotDelegated {
        /// Role.
        role: String,
    },
    /// More root rotations than [`MAX_ROOT_ROTATIONS`].
    #[error("the server's root is {found} versions ahead of the trusted root; at most {MAX_ROOT_ROTATIONS} are walked")]
    TooManyRotations {
        /// Versions ahead.
        found: u64,
    },
}

impl NotaryError {
    /// Whether Notary's client skips a *delegated* role failing this way (and goes on with
    /// the others) rather than failing the whole update: missed thresholds and expiry.
    pub fn is_role_skippable(&self) -> bool {
        matches!(
            self,
            NotaryError::Threshold { .. } | NotaryError::Expired { .. }
        )
    }
}

#[cfg(test)]
mod tests;
