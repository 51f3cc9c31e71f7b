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
//! answers 503 (nothing is known to be wrong yet).
//!
//! State: the replay state lives in memory and is applied in place (no per-request copy).
//! A snapshot (frontier, its root, replay state; JSON) is written at most every
//! [`AUDIT_SNAPSHOT_ENTRIES`] entries, before the checkpoint it belongs to ([`super::store`]).
//! After a restart, or after a failed audit that had already applied entries, the auditor
//! resumes from the newest snapshot at or below the cosigned size, and the next audit replays
//! from there: entries replayed twice give the same results, and the root check at the new
//! checkpoint covers them all. A witness that cosigned without `--audit` before starts from
//! the empty snapshot and replays the whole log at its next request.
//!
//! Out of scope: sharing work between logs; the replay state must fit in memory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use taglog_proofs::checkpoint::Checkpoint;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::tree::{
    stored_hash_count, stored_hashes_for_leaf, tree_root, tree_root_indexes, TreeError,
};

use super::store::{Store, StoreError};
use crate::follow::{http_client, FetchError, LogClient};
use crate::replay::{ReplayError, ReplayState, Replayer, Violation};
pub use taglog_proofs::rules::MAX_LOG_TIME_SKEW_SECS;

/// Entries fetched and checked per round trip batch (64 full bundles).
pub const AUDIT_CHUNK_ENTRIES: u64 = 64 * 256;
/// Findings named in a 422 body (all are counted).
pub const MAX_FINDINGS_REPORTED: usize = 8;
/// A snapshot of the audit state is written once the audited size is this many entries past
/// the last snapshot (the cost of a snapshot grows with the number of refs, of a replay after
/// a restart with this number).
pub const AUDIT_SNAPSHOT_ENTRIES: u64 = 4096;

/// Why an audit refused, could not run, or why audit state could not be loaded. The HTTP
/// status of each is chosen with the witness's other refusals, in
/// [`super::AddError::status`].
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// `--audit` needs the log's tile URL.
    #[error("log {origin:?} has no URL; --audit needs --log-url {origin}=<url> or a URL on its config line")]
    MissingUrl {
        /// The origin.
        origin: String,
    },
    /// A stored audit snapshot that does not parse or is not self-consistent.
    #[error("audit state of {origin:?} is unusable: {defect}")]
    CorruptState {
        /// The origin.
        origin: String,
        /// What is wrong.
        #[source]
        defect: SnapshotDefect,
    },
    /// Reading the audit state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(#[source] FetchError),
    /// The log's tiles could not be read (503), or served undecodable content (422).
    #[error("reading the log's entries: {0}")]
    Fetch(#[source] FetchError),
    /// The log served fewer entries than asked for (422).
    #[error("asked the log for entries {start}..{end}, got {got}")]
    ShortRead {
        /// First entry asked for.
        start: u64,
        /// End of the range asked for.
        end: u64,
        /// Entries received.
        got: usize,
    },
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
    Findings(Vec<Violation>),
    /// The audit state of the log could not be loaded at start or after a failure (500;
    /// the witness's log says why). Nothing is cosigned unaudited.
    #[error("the audit state of this log could not be loaded; see the witness's log")]
    Unloaded,
    /// The replay checker failed internally (500).
    #[error("internal audit error: {0}")]
    Replay(#[from] ReplayError),
    /// The tree frontier failed internally (500).
    #[error("internal audit error: {0}")]
    Tree(#[from] TreeError),
}

/// What is wrong with a stored audit snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotDefect {
    /// The JSON does not parse.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The replay state is not at the snapshot's size.
    #[error("it is for size {size} but replayed {replayed} entries")]
    NotReplayedTo {
        /// The snapshot's size.
        size: u64,
        /// Entries its replay state covers.
        replayed: u64,
    },
    /// A frontier hash is not base64 of 32 bytes.
    #[error("bad hash {0:?}")]
    BadHash(String),
    /// The frontier does not fit the size.
    #[error("{0}")]
    Frontier(#[from] TreeError),
    /// The frontier does not give the stored root.
    #[error("its frontier does not give its root")]
    RootMismatch,
    /// The replay state does not load.
    #[error("{0}")]
    Replay(#[from] ReplayError),
    /// The file for one size holds another.
    #[error("file audit-{file} holds size {holds}")]
    WrongFile {
        /// The size in the file name.
        file: u64,
        /// The size it holds.
        holds: u64,
    },
}

fn describe_findings(findings: &[Violation]) -> String {
    let mut s = format!("{} entries break the log's rules:", findings.len());
    for f in findings.iter().take(MAX_FINDINGS_REPORTED) {
        s.push(' ');
        s.push_str(&f.to_string());
        s.push(';');
    }
    if findings.len() > MAX_FINDINGS_REPORTED {
        s.push_str(" ...");
    }
    s
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
    /// Base64 root of the tree at `size` (checked against the frontier on load).
    root: String,
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
            root: self
                .frontier
                .root()
                .map(|r| r.to_base64())
                .unwrap_or_default(),
            frontier: self.frontier.hashes().iter().map(Hash::to_base64).collect(),
            replay: self.replayer.state(),
        };
        // Serializing plain strings, numbers and maps cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    /// Parses [`AuditState::to_bytes`], checking that it is self-consistent: the replay
    /// reached its size and its frontier gives its root.
    ///
    /// # Errors
    /// [`AuditError::CorruptState`].
    pub fn from_bytes(origin: &str, bytes: &[u8]) -> Result<AuditState, AuditError> {
        let corrupt = |defect: SnapshotDefect| AuditError::CorruptState {
            origin: origin.to_owned(),
            defect,
        };
        let stored: StoredAudit = serde_json::from_slice(bytes).map_err(|e| corrupt(e.into()))?;
        let size = stored.size;
        if stored.replay.next_index != size {
            return Err(corrupt(SnapshotDefect::NotReplayedTo {
                size,
                replayed: stored.replay.next_index,
            }));
        }
        let hashes = stored
            .frontier
            .iter()
            .map(|h| {
                Hash::from_base64(h).ok_or_else(|| corrupt(SnapshotDefect::BadHash(h.clone())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let frontier = Frontier::from_hashes(size, &hashes).map_err(|e| corrupt(e.into()))?;
        let root = frontier.root().map_err(|e| corrupt(e.into()))?;
        if Some(root) != Hash::from_base64(&stored.root) {
            return Err(corrupt(SnapshotDefect::RootMismatch));
        }
        let replayer =
            Replayer::from_state(origin, stored.replay).map_err(|e| corrupt(e.into()))?;
        Ok(AuditState {
            origin: origin.to_owned(),
            frontier,
            replayer,
        })
    }
}

/// A failed audit: the error, and the state back if no entry had been applied to it yet
/// (otherwise the caller reloads the last snapshot with [`Auditor::load`]).
#[derive(Debug)]
pub struct AuditFailure {
    /// What went wrong.
    pub error: AuditError,
    /// The unchanged state, if nothing was applied.
    pub state: Option<AuditState>,
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

    /// Loads one log's audit state: the newest snapshot at or below the cosigned `size`
    /// (empty if none), and removes every other snapshot (those above `size` were never
    /// committed).
    ///
    /// # Errors
    /// [`AuditError::MissingUrl`], [`AuditError::CorruptState`] or [`AuditError::Store`].
    pub fn load(
        &self,
        store: &Store,
        origin: &str,
        url: Option<&str>,
        size: u64,
    ) -> Result<AuditState, AuditError> {
        if url.is_none() {
            return Err(AuditError::MissingUrl {
                origin: origin.to_owned(),
            });
        }
        let state = match store.load_latest_audit(origin, size)? {
            Some((at, bytes)) => {
                let state = AuditState::from_bytes(origin, &bytes)?;
                if state.size() != at {
                    return Err(AuditError::CorruptState {
                        origin: origin.to_owned(),
                        defect: SnapshotDefect::WrongFile {
                            file: at,
                            holds: state.size(),
                        },
                    });
                }
                state
            }
            None => AuditState::empty(origin),
        };
        store.prune_audit(origin, Some(state.size()));
        Ok(state)
    }

    /// Audits the entries from `state`'s size up to `checkpoint` (already verified to be
    /// consistent with the last cosigned checkpoint, which `state` does not exceed) at POSIX
    /// time `now`, applying them to `state` in place; returns the state at the checkpoint.
    ///
    /// # Errors
    /// An [`AuditFailure`] with [`AuditError::Fetch`], [`AuditError::RootMismatch`],
    /// [`AuditError::ShortRead`], [`AuditError::Findings`], [`AuditError::MissingUrl`],
    /// [`AuditError::Replay`] or [`AuditError::Tree`].
    pub async fn audit(
        &self,
        url: Option<&str>,
        mut state: AuditState,
        checkpoint: &Checkpoint,
        now: u64,
    ) -> Result<AuditState, AuditFailure> {
        let old = state.size();
        let new = checkpoint.size();
        if new <= old {
            return Ok(state);
        }
        let Some(url) = url else {
            let error = AuditError::MissingUrl {
                origin: state.origin.clone(),
            };
            return Err(AuditFailure {
                error,
                state: Some(state),
            });
        };
        let client = LogClient::new(self.http.clone(), url);
        let mut start = old;
        let mut findings = Vec::new();
        state.replayer.set_clock(Some(now));
        while start < new {
            let end = start.saturating_add(AUDIT_CHUNK_ENTRIES).min(new);
            let entries = match client.entries(start, end, new).await {
                Ok(e) if e.len() as u64 == end - start => e,
                Ok(e) => {
                    let error = AuditError::ShortRead {
                        start,
                        end,
                        got: e.len(),
                    };
                    return Err(failure(error, state, start == old));
                }
                Err(e) => return Err(failure(AuditError::Fetch(e), state, start == old)),
            };
            if let Err(error) = apply(&mut state, start, &entries, &mut findings) {
                return Err(failure(error, state, false));
            }
            start = end;
        }
        state.replayer.set_clock(None);
        let computed = match state.frontier.root() {
            Ok(r) => r,
            Err(e) => return Err(failure(e.into(), state, false)),
        };
        if computed != checkpoint.root() {
            let error = AuditError::RootMismatch {
                old,
                new,
                claimed: checkpoint.root(),
                computed,
            };
            return Err(failure(error, state, false));
        }
        findings.extend(state.replayer.end_checkpoint(new));
        if !findings.is_empty() {
            return Err(failure(AuditError::Findings(findings), state, false));
        }
        Ok(state)
    }
}

/// Builds a failure, handing `state` back only if nothing was applied to it.
fn failure(error: AuditError, mut state: AuditState, untouched: bool) -> AuditFailure {
    state.replayer.set_clock(None);
    AuditFailure {
        error,
        state: untouched.then_some(state),
    }
}

/// Hashes and replays `entries` (the first at index `start`) into `state`, with the
/// signatures verified on all cores.
fn apply(
    state: &mut AuditState,
    start: u64,
    entries: &[Vec<u8>],
    findings: &mut Vec<Violation>,
) -> Result<(), AuditError> {
    for entry in entries {
        state.frontier.append(leaf_hash(entry))?;
    }
    for checked in state.replayer.check_many(start, entries)? {
        findings.extend(checked.violations);
    }
    Ok(())
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
    fn state_round_trips_and_is_checked_for_consistency() {
        let mut s = AuditState::empty("o");
        for i in 0..5u8 {
            s.frontier.append(leaf_hash(&[i])).unwrap();
            let _ = s.replayer.check(u64::from(i), &[i]).unwrap();
        }
        let bytes = s.to_bytes();
        let back = AuditState::from_bytes("o", &bytes).unwrap();
        assert_eq!(back.frontier, s.frontier);
        assert_eq!(back.replayer.state(), s.replayer.state());
        let text = String::from_utf8(bytes).unwrap();
        let root = s.frontier.root().unwrap().to_base64();
        let other = Hash([7; 32]).to_base64();
        for bad in [
            text.replace(&root, &other),
            text.replacen("\"size\":5", "\"size\":4", 1),
            "{}".to_owned(),
        ] {
            assert!(
                AuditState::from_bytes("o", bad.as_bytes()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn load_takes_the_newest_snapshot_not_above_the_cosigned_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let auditor = Auditor::new().unwrap();
        let url = Some("http://127.0.0.1:9");
        let mut s = AuditState::empty("o");
        for i in 0..8u8 {
            s.frontier.append(leaf_hash(&[i])).unwrap();
            let _ = s.replayer.check(u64::from(i), &[i]).unwrap();
            if i == 2 || i == 5 || i == 7 {
                store.save_audit("o", s.size(), &s.to_bytes()).unwrap();
            }
        }
        // Cosigned size 7: snapshot 6 is the newest not above it; 8 was never committed.
        assert_eq!(auditor.load(&store, "o", url, 7).unwrap().size(), 6);
        assert_eq!(store.load_audit("o", 8).unwrap(), None);
        assert_eq!(store.load_audit("o", 3).unwrap(), None);
        assert_eq!(auditor.load(&store, "o", url, 2).unwrap().size(), 0);
        assert!(matches!(
            auditor.load(&store, "o", None, 7),
            Err(AuditError::MissingUrl { .. })
        ));
    }
}
