//! The service's questions and typed answers. A front end builds a [`Query`] from its input
//! (a manifest request, an admission review, a containerd call), asks
//! [`super::Service::decide`], and renders the [`Decision`]: it never decides trust itself.

use std::sync::Arc;

use taglog_proofs::binding::DigestValue;
use taglog_proofs::refs::TagRef;
use taglog_proofs::verify::{CheckpointInfo, VerdictKind};

use crate::error::{Class, Error};

/// What was served (or is about to be run) for a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// A digest named by the caller (an image reference by digest, containerd's `-digest`).
    Digest(DigestValue),
    /// Manifest bytes received from a registry: both of their digests.
    Manifest {
        /// SHA-256 of the bytes.
        sha256: DigestValue,
        /// SHA-512 of the bytes.
        sha512: DigestValue,
    },
}

impl Served {
    /// The digest to compare with `bound`: for manifest bytes, the one in `bound`'s algorithm.
    pub fn like(&self, bound: &DigestValue) -> DigestValue {
        match (self, bound) {
            (Served::Digest(d), _) => *d,
            (Served::Manifest { sha512, .. }, DigestValue::Sha512(_)) => *sha512,
            (Served::Manifest { sha256, .. }, _) => *sha256,
        }
    }
}

/// One question: may `reference` (as pulled) be used, and if `served` is given, is that its
/// verified digest?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The reference as pulled (canonical; `remap` is applied by the service).
    pub reference: TagRef,
    /// What was served for it, if anything: `None` asks for the verified digest.
    pub served: Option<Served>,
}

/// How the allowed digest was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The current binding.
    Current {
        /// Its version.
        version: u64,
    },
    /// A local or policy pin proven by `/history` (DESIGN §1 S6).
    Pinned {
        /// The version that bound the pinned digest.
        version: u64,
        /// Whether the publisher has moved the tag since.
        moved: bool,
    },
}

/// A positive answer: use `pulled`'s repository at `digest`.
#[derive(Debug, Clone)]
pub struct Allowed {
    /// The reference as pulled.
    pub pulled: TagRef,
    /// The reference the publisher signed (after `remap`).
    pub signed: TagRef,
    /// The verified digest.
    pub digest: DigestValue,
    /// Current or pinned.
    pub basis: Basis,
    /// The current binding's version and digest (also for a pin, when there is one).
    pub current: Option<(u64, DigestValue)>,
    /// The verified checkpoint.
    pub checkpoint: CheckpointInfo,
    /// Warnings to show (pin moved, ...).
    pub warnings: Vec<String>,
    /// Whether the checkpoint was fresh only thanks to the configured `accept_stale`.
    pub stale_accepted: bool,
    /// Whether the log's answer came from the cache.
    pub cached: bool,
}

impl Allowed {
    /// `<pulled repository>@<digest>`: what to pull or run.
    pub fn pull(&self) -> String {
        format!("{}@{}", self.pulled.repository(), self.digest)
    }

    pub(super) fn basis_of(kind: &VerdictKind, current: Option<u64>) -> Basis {
        match kind {
            VerdictKind::Pinned { version, moved, .. } => Basis::Pinned {
                version: *version,
                moved: *moved,
            },
            VerdictKind::Current => Basis::Current {
                version: current.unwrap_or(0),
            },
        }
    }
}

/// A negative answer, with the error that caused it (shared when it came from the cache).
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The reference as pulled (or as given, when it did not parse).
    pub reference: String,
    /// Why.
    pub error: Arc<Error>,
}

impl Refusal {
    /// The class: denied (failed or security), uncovered, usage, unavailable.
    pub fn class(&self) -> Class {
        self.error.class()
    }

    /// The stable short code (`digest-mismatch`, `withdrawn`, `log-unavailable`, ...).
    pub fn code(&self) -> &'static str {
        self.error.code()
    }

    /// What failed, in one message that names the reference.
    pub fn message(&self) -> String {
        format!("taglog: {}: {}", self.reference, self.error)
    }

    /// What the person who pulled should do about it.
    pub fn advice(&self) -> &'static str {
        advice(self.class(), self.code())
    }
}

/// The service's answer to one [`Query`].
#[derive(Debug, Clone)]
pub enum Decision {
    /// Verified.
    Allow(Box<Allowed>),
    /// Not verified; never a pass.
    Refuse(Refusal),
}

impl Decision {
    /// The label used in metrics.
    pub fn result_label(&self) -> &'static str {
        match self {
            Decision::Allow(_) => "allowed",
            Decision::Refuse(r) => match r.class() {
                Class::Failed | Class::Security => "denied",
                Class::Uncovered => "uncovered",
                Class::Usage => "error",
                Class::Unavailable => "unavailable",
            },
        }
    }
}

/// The advice for a failure, by class and code.
pub fn advice(class: Class, code: &str) -> &'static str {
    match (class, code) {
        (Class::Unavailable, _) => "the log or the registry could not be reached; nothing was pulled: retry once they answer",
        (Class::Uncovered, _) => "no publisher line of the trust policy covers this reference: pull a covered reference, or add a publisher (or remap) line for it",
        (Class::Security, _) => "the log or a mirror shows a history that contradicts what this verifier saw before (a fork or an equivocation): keep the evidence and report it to the log's operator",
        (_, "digest-mismatch") => "the registry serves another image than the one the publisher binds to this tag: pull by the digest the publisher bound, or ask the publisher to bind the new image",
        (_, "withdrawn") => "the publisher withdrew this tag (for example a vulnerable image): use another tag",
        (_, "unbound") => "the publisher has not bound this tag in the log: ask the publisher to publish it with `taglog publish`",
        (_, "stale-checkpoint" | "quorum-not-met") => "the log's checkpoint is not recently cosigned by the policy's witnesses: check that the log and its witnesses are up",
        (_, "stale-view" | "rollback" | "below-floor" | "missing-consistency") => "an older view of the log was served than this verifier has already seen (a replay): check the mirror or network between you and the log",
        (_, "pin-mismatch" | "pin-not-proven") => "the local pin does not match what was served or was never bound by the publisher: check the pin (`taglog pin`)",
        (_, "untrusted-current-binding") => "the current binding is signed by a key the policy does not trust: check the policy's publisher lines, or the publisher's keys",
        (Class::Usage, _) => "fix the request or the configuration named in the message",
        _ => "the log's answer does not verify: do not use this image; report it to the log's operator",
    }
}
