//! `--audit`: before cosigning, replay every new entry of the log from its tiles (DESIGN §6).
//!
//! For a checkpoint of size `new` extending the last cosigned size `old` (whose consistency
//! the caller has already verified), the auditor:
//! 1. fetches entries `old..new` through C2SP tlog-tiles entry bundles only
//!    ([`crate::follow::LogClient`]), in chunks of [`AUDIT_CHUNK_ENTRIES`];
//! 2. appends their leaf hashes to the persisted *frontier* of the tree at `old` (the roots
//!    of its complete subtrees, at most 63 hashes) and requires the resulting root to be the
//!    checkpoint's root, so the entries checked are exactly the ones the checkpoint commits to
//!    (no hash tiles are trusted or needed);
//! 3. runs every entry through the shared replay checker ([`crate::replay::Replayer`]):
//!    bindings valid under the logged allowlist and the version rule, state leaves with
//!    `size` = index, the recomputed map root and a non-decreasing time ≤ now + 5 min;
//! 4. requires leaf `new − 1` to be a state leaf.
//!
//! Any failure of 2–4 refuses with 422 and the reasons; a log whose tiles cannot be read
//! answers 503 (nothing is known to be wrong yet). The auditor's state (frontier + replay
//! state, JSON) is written before the checkpoint it belongs to ([`super::store`]).
//!
//! Out of scope: auditing a log from the middle (the witness must have replayed from size 0;
//! an existing non-audit state is refused at start), and sharing work between requests of
//! different logs. Each audit clones the replay state (O(refs)), which bounds practical log
//! sizes to what fits comfortably in memory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use taglog_proofs::checkpoint::Checkpoint;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::tree::{
    stored_hash_count, stored_hashes_for_leaf, tree_root, tree_root_indexes, TreeError,
};

use super::store::{Store, StoreError};
use crate::follow::{http_client, FetchError, LogClient};
use crate::replay::{Finding, ReplayError, ReplayState, Replayer};

/// Entries fetched and checked per round trip batch (64 full bundles).
pub const AUDIT_CHUNK_ENTRIES: u64 = 64 * 256;
/// How far in the future a state or publisher leaf's time may be (DESIGN §6: now + 5 min).
pub const MAX_LOG_TIME_SKEW_SECS: u64 = 300;
/// Findings named in a 422 body (all are counted).
pub const MAX_FINDINGS_REPORTED: usize = 8;

/// Why an audit refused, could not run, or why audit state could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// `--audit` needs the log's tile URL.
    #[error("log {origin:?} has no URL; --audit needs --log-url {origin}=<url> or a URL on its config line")]
    MissingUrl {
        /// The origin.
        origin: String,
    },
    /// The witness cosigned this log before without auditing.
    #[error("log {origin:?} was cosigned up to size {size} without --audit; an auditor must replay from size 0 (use a fresh data directory for it)")]
    MissingState {
        /// The origin.
        origin: String,
        /// The stored size.
        size: u64,
    },
    /// Stored audit state that does not parse or does not match the stored checkpoint.
    #[error("audit state of {origin:?} is unusable: {reason}")]
    CorruptState {
        /// The origin.
        origin: String,
        /// Why.
        reason: String,
    },
    /// Reading the audit state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(FetchError),
    /// The log's tiles could not be read (503), or served undecodable content (422).
    #[error("reading the log's entries: {0}")]
    Fetch(FetchError),
    /// The entries served do not hash to the checkpoint's root (422).
    #[error("the log's entries {old}..{new} do not hash to the checkpoint root {claimed} (they give {computed})")]
    RootMismatch {
        /// The last audited size.
        old: u64,
        /// The checkpoint size.
        new: u64,
        /// The checkpoint's root.
        claimed: Hash,
        /// The root the entries give.
        computed: Hash,
    },
    /// Entries that break taglog's rules (422).
    #[error("{}", describe_findings(.0))]
    Findings(Vec<Finding>),
    /// The replay checker or the tree failed internally (500).
    #[error("internal audit error: {0}")]
    Internal(String),
}

impl AuditError {
    /// The HTTP status for this outcome of an `add-checkpoint` audit.
    pub fn status(&self) -> u16 {
        match self {
            AuditError::Fetch(e) if e.is_bad_content() => 422,
            AuditError::Fetch(_) => 503,
            AuditError::RootMismatch { .. } | AuditError::Findings(_) => 422,
            _ => 500,
        }
    }
}

fn describe_findings(findings: &[Finding]) -> String {
    let mut s = format!("{} entries break the log's rules:", findings.len());
    for f in findings.iter().take(MAX_FINDINGS_REPORTED) {
        s.push(' ');
        s.push_str(&f.describe());
        s.push(';');
    }
    if findings.len() > MAX_FINDINGS_REPORTED {
        s.push_str(" ...");
    }
    s
}

impl From<ReplayError> for AuditError {
    fn from(e: ReplayError) -> AuditError {
        AuditError::Internal(e.to_string())
    }
}

impl From<TreeError> for AuditError {
    fn from(e: TreeError) -> AuditError {
        AuditError::Internal(e.to_string())
    }
}

/// The right edge of a Merkle tree: the stored hashes of its complete subtrees
/// ([`tree_root_indexes`]), enough to append leaves and compute roots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: BTreeMap<u64, Hash>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from its complete-subtree hashes, left to right.
    ///
    /// # Errors
    /// [`TreeError::WrongHashCount`] if `hashes` does not have one hash per complete subtree.
    pub fn from_hashes(size: u64, hashes: &[Hash]) -> Result<Frontier, TreeError> {
        let indexes = tree_root_indexes(size);
        if indexes.len() != hashes.len() {
            return Err(TreeError::WrongHashCount {
                expected: indexes.len(),
                got: hashes.len(),
            });
        }
        Ok(Frontier {
            size,
            hashes: indexes.into_iter().zip(hashes.iter().copied()).collect(),
        })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    ///
    /// # Errors
    /// [`TreeError::SizeTooLarge`] at the maximum tree size.
    pub fn append(&mut self, leaf: Hash) -> Result<(), TreeError> {
        let new = stored_hashes_for_leaf(self.size, leaf, &self.hashes)?;
        let start = stored_hash_count(self.size);
        for (i, h) in (start..).zip(new) {
            self.hashes.insert(i, h);
        }
        self.size += 1;
        let keep = tree_root_indexes(self.size);
        self.hashes.retain(|i, _| keep.contains(i));
        Ok(())
    }

    /// The root of the tree.
    ///
    /// # Errors
    /// Only if the frontier is inconsistent (a bug).
    pub fn root(&self) -> Result<Hash, TreeError> {
        tree_root(self.size, &self.hashes)
    }

    /// The complete-subtree hashes, left to right.
    pub fn hashes(&self) -> Vec<Hash> {
        self.hashes.values().copied().collect()
    }
}

/// The auditor's state for one log at the last cosigned size.
#[derive(Clone, Debug)]
pub struct AuditState {
    origin: String,
    frontier: Frontier,
    replayer: Replayer,
}

/// The persisted form of [`AuditState`] (JSON).
#[derive(Serialize, Deserialize)]
struct StoredAudit {
    size: u64,
    /// Base64 complete-subtree hashes, left to right.
    frontier: Vec<String>,
    replay: ReplayState,
}

impl AuditState {
    /// The state of a log of which nothing was audited yet (size 0).
    pub fn empty(origin: &str) -> AuditState {
        AuditState {
            origin: origin.to_owned(),
            frontier: Frontier::default(),
            replayer: Replayer::new(origin),
        }
    }

    /// The audited size.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The durable encoding (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        let stored = StoredAudit {
            size: self.frontier.size(),
            frontier: self.frontier.hashes().iter().map(Hash::to_base64).collect(),
            replay: self.replayer.state().clone(),
        };
        // Serializing plain strings, numbers and maps cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Parses [`AuditState::to_bytes`] and checks it against the cosigned `(size, root)`.
    ///
    /// # Errors
    /// [`AuditError::CorruptState`] if it does not parse, is for another size, or its
    /// frontier does not give `root`.
    pub fn from_bytes(
        origin: &str,
        bytes: &[u8],
        size: u64,
        root: &Hash,
    ) -> Result<AuditState, AuditError> {
        let corrupt = |reason: String| AuditError::CorruptState {
            origin: origin.to_owned(),
            reason,
        };
        let stored: StoredAudit =
            serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        if stored.size != size || stored.replay.next_index != size {
            return Err(corrupt(format!(
                "it is for size {} (replayed {}), the checkpoint for {size}",
                stored.size, stored.replay.next_index
            )));
        }
        let hashes = stored
            .frontier
            .iter()
            .map(|h| Hash::from_base64(h).ok_or_else(|| corrupt(format!("bad hash {h:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let frontier = Frontier::from_hashes(size, &hashes).map_err(|e| corrupt(e.to_string()))?;
        if frontier.root().map_err(|e| corrupt(e.to_string()))? != *root {
            return Err(corrupt("its tree does not give the checkpoint root".into()));
        }
        let replayer =
            Replayer::from_state(origin, stored.replay).map_err(|e| corrupt(e.to_string()))?;
        Ok(AuditState {
            origin: origin.to_owned(),
            frontier,
            replayer,
        })
    }
}

/// Fetches and checks entries for every log the witness audits.
#[derive(Debug, Clone)]
pub struct Auditor {
    http: reqwest::Client,
}

impl Auditor {
    /// Creates an auditor with the monitor's HTTP client (timeouts, size limits).
    ///
    /// # Errors
    /// [`AuditError::Client`] if the HTTP client cannot be built.
    pub fn new() -> Result<Auditor, AuditError> {
        Ok(Auditor {
            http: http_client().map_err(AuditError::Client)?,
        })
    }

    /// Loads one log's audit state at the cosigned `(size, root)` (empty at size 0).
    ///
    /// # Errors
    /// [`AuditError::MissingUrl`], [`AuditError::MissingState`],
    /// [`AuditError::CorruptState`] or [`AuditError::Store`].
    pub fn load(
        &self,
        store: &Store,
        origin: &str,
        url: Option<&str>,
        size: u64,
        root: &Hash,
    ) -> Result<AuditState, AuditError> {
        if url.is_none() {
            return Err(AuditError::MissingUrl {
                origin: origin.to_owned(),
            });
        }
        match store.load_audit(origin, size)? {
            Some(bytes) => AuditState::from_bytes(origin, &bytes, size, root),
            None if size == 0 => Ok(AuditState::empty(origin)),
            None => Err(AuditError::MissingState {
                origin: origin.to_owned(),
                size,
            }),
        }
    }

    /// Audits the entries from `state`'s size up to `checkpoint` (already verified to be
    /// consistent with it) at POSIX time `now`, and returns the state at the checkpoint.
    ///
    /// # Errors
    /// [`AuditError::Fetch`], [`AuditError::RootMismatch`], [`AuditError::Findings`],
    /// [`AuditError::MissingUrl`] or [`AuditError::Internal`]; `state` is never changed.
    pub async fn audit(
        &self,
        url: Option<&str>,
        state: &AuditState,
        checkpoint: &Checkpoint,
        now: u64,
    ) -> Result<AuditState, AuditError> {
        let url = url.ok_or_else(|| AuditError::MissingUrl {
            origin: state.origin.clone(),
        })?;
        let old = state.size();
        let new = checkpoint.size();
        let mut next = state.clone();
        if new <= old {
            return Ok(next);
        }
        next.replayer
            .set_max_time(Some(now.saturating_add(MAX_LOG_TIME_SKEW_SECS)));
        let client = LogClient::new(self.http.clone(), url);
        let mut findings = Vec::new();
        let mut start = old;
        while start < new {
            let end = start.saturating_add(AUDIT_CHUNK_ENTRIES).min(new);
            let entries = client
                .entries(start, end, new)
                .await
                .map_err(AuditError::Fetch)?;
            if entries.len() as u64 != end - start {
                return Err(AuditError::Internal(format!(
                    "asked for entries {start}..{end}, got {}",
                    entries.len()
                )));
            }
            for (index, entry) in (start..).zip(&entries) {
                next.frontier.append(leaf_hash(entry))?;
                let (_, found) = next.replayer.check(index, entry)?;
                findings.extend(found);
            }
            start = end;
        }
        let computed = next.frontier.root()?;
        if computed != checkpoint.root() {
            return Err(AuditError::RootMismatch {
                old,
                new,
                claimed: checkpoint.root(),
                computed,
            });
        }
        findings.extend(next.replayer.end_checkpoint(new));
        if !findings.is_empty() {
            return Err(AuditError::Findings(findings));
        }
        next.replayer.set_max_time(None);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::tree::MemoryTree;

    #[test]
    fn frontier_tracks_memory_tree_roots() {
        let mut tree = MemoryTree::new();
        let mut f = Frontier::default();
        for i in 0..600u32 {
            let h = leaf_hash(&i.to_be_bytes());
            tree.append_leaf_hash(h).unwrap();
            f.append(h).unwrap();
            assert_eq!(f.root().unwrap(), tree.root(), "size {}", i + 1);
            assert!(f.hashes().len() <= 10);
            let again = Frontier::from_hashes(f.size(), &f.hashes()).unwrap();
            assert_eq!(again.root().unwrap(), tree.root());
        }
        assert!(Frontier::from_hashes(600, &[]).is_err());
    }

    #[test]
    fn state_round_trips_and_is_checked_against_the_checkpoint() {
        let mut s = AuditState::empty("o");
        for i in 0..5u8 {
            s.frontier.append(leaf_hash(&[i])).unwrap();
            let _ = s.replayer.check(u64::from(i), &[i]).unwrap();
        }
        let root = s.frontier.root().unwrap();
        let bytes = s.to_bytes();
        let back = AuditState::from_bytes("o", &bytes, 5, &root).unwrap();
        assert_eq!(back.frontier, s.frontier);
        assert!(AuditState::from_bytes("o", &bytes, 4, &root).is_err());
        assert!(AuditState::from_bytes("o", &bytes, 5, &Hash([0; 32])).is_err());
        assert!(AuditState::from_bytes("o", b"{}", 5, &root).is_err());
    }
}
