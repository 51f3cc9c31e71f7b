//! The verifier's inputs and outputs (DESIGN §4): what the caller knows, what was verified,
//! and the state update to apply.

use crate::binding::DigestValue;
use crate::bundle::{Bundle, History};
use crate::hash::Hash;
use crate::policy::Policy;
use crate::refs::TagRef;

/// Tolerated clock skew into the future for cosignature and log times (5 minutes).
pub const FUTURE_SKEW_SECS: u64 = 300;

/// The client's cached checkpoint for one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedCheckpoint {
    /// The signed note as verified (for evidence).
    pub note: Vec<u8>,
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

/// The client's high-water mark for one ref: the newest binding it verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HighWater {
    /// Binding version.
    pub version: u64,
    /// RFC 6962 leaf hash of that binding entry.
    pub leaf_hash: Hash,
}

/// What the caller knows and asks. Everything borrowed; nothing is read from elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The trust policy.
    pub policy: &'a Policy,
    /// The bundle to verify.
    pub bundle: &'a Bundle,
    /// The reference the publisher signed (after `remap`).
    pub signed_ref: &'a TagRef,
    /// The digest the registry serves, if resolved (`None` with `--offline` and no digest).
    pub registry_digest: Option<&'a DigestValue>,
    /// Current Unix time in seconds.
    pub now: u64,
    /// `--accept-stale`: seconds added to max-age (0 = none). A verdict that needs it is
    /// marked and never updates state.
    pub accept_stale: u64,
    /// Offline: a larger checkpoint without a consistency proof from the cached one may
    /// verify, but does not replace the cache. Online such a bundle is rejected.
    pub offline: bool,
    /// Cached checkpoint for the log's origin.
    pub cached: Option<&'a CachedCheckpoint>,
    /// High-water mark for the signed ref.
    pub high_water: Option<&'a HighWater>,
    /// Newest cosignature time this client verified before (stateful clients use
    /// now = max(clock, newest − 5 min)).
    pub newest_cosignature: Option<u64>,
    /// A pin for the signed ref (local or from the policy).
    pub pin: Option<&'a DigestValue>,
    /// The `/history` page that proves the pinned binding (needed when `pin` is set).
    pub history: Option<&'a History>,
}

impl<'a> VerifyRequest<'a> {
    /// The request of a client with no local state: online, nothing cached, no high-water
    /// mark, pin or history, no stale grace. Set the other fields with struct update syntax.
    pub fn stateless(
        policy: &'a Policy,
        bundle: &'a Bundle,
        signed_ref: &'a TagRef,
        registry_digest: Option<&'a DigestValue>,
        now: u64,
    ) -> VerifyRequest<'a> {
        VerifyRequest {
            policy,
            bundle,
            signed_ref,
            registry_digest,
            now,
            accept_stale: 0,
            offline: false,
            cached: None,
            high_water: None,
            newest_cosignature: None,
            pin: None,
            history: None,
        }
    }
}

/// A verified checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The state leaf's time (the log's clock).
    pub log_time: u64,
    /// Witnesses (policy names) whose cosignature verified, with their times.
    pub cosigners: Vec<(String, u64)>,
}

/// The current binding of the ref as of the checkpoint (verified through steps 6–7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentBinding {
    /// Binding version.
    pub version: u64,
    /// Leaf index.
    pub index: u64,
    /// Digest or `withdrawn`.
    pub digest: DigestValue,
    /// The publisher's time.
    pub time: u64,
    /// Leaf hash.
    pub leaf_hash: Hash,
    /// The publisher key that signed it (vkey text).
    pub publisher: String,
}

/// How the verdict was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerdictKind {
    /// The registry digest is the current binding.
    Current,
    /// The pinned digest was proven to have been bound once (S6).
    Pinned {
        /// Version of the proven pinned binding.
        version: u64,
        /// Its leaf index.
        index: u64,
        /// Whether the publisher has since moved the tag away from the pinned digest.
        moved: bool,
    },
}

/// State changes to apply, all or nothing, under the caller's lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateUpdate {
    /// Log origin the checkpoint belongs to.
    pub origin: String,
    /// New cached checkpoint, if it may replace the old one.
    pub checkpoint: Option<CachedCheckpoint>,
    /// New high-water mark for `reference`, if it rose.
    pub high_water: Option<(TagRef, HighWater)>,
    /// Newest verified cosignature time.
    pub newest_cosignature: Option<u64>,
}

impl StateUpdate {
    /// True if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.checkpoint.is_none() && self.high_water.is_none() && self.newest_cosignature.is_none()
    }
}

/// A positive verdict: pull `reference`'s repository by `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The signed reference.
    pub reference: TagRef,
    /// The digest to pull by.
    pub digest: DigestValue,
    /// Current or pinned.
    pub kind: VerdictKind,
    /// The current binding (always present for `Current`; for `Pinned` if it verified).
    pub current: Option<CurrentBinding>,
    /// The verified checkpoint.
    pub checkpoint: CheckpointInfo,
    /// Fresh only thanks to `accept_stale` (then `update` is empty).
    pub stale_accepted: bool,
    /// Human-readable warnings (pin moved, cache not replaced offline, ...).
    pub warnings: Vec<String>,
    /// What to write to local state.
    pub update: StateUpdate,
}
