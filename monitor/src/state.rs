//! The monitor's persistent state in `--state-dir` (DESIGN.md §6).
//!
//! Two files and a lock:
//! - `tree.bin`: every stored hash of the tree of the last verified checkpoint, 32 bytes each,
//!   in stored hash order ([`crate::treefile`]). Appended while a range is checked, synced
//!   only after the range rebuilt the root of a log-signed checkpoint (and truncated if it did
//!   not), and truncated on load to the verified size after every hash was checked. The
//!   monitor reads it with positioned reads to compute the root at any earlier size and build
//!   consistency and inclusion proofs for evidence without trusting the log, and without
//!   holding the tree in memory. A state directory of an earlier monitor has `leaves.bin`
//!   instead (the leaf hashes only): `tree.bin` is built from it once on open, then
//!   `leaves.bin` is removed.
//! - `state.json`: the last verified checkpoint, how many of its entries have been replayed
//!   (checked), the replay checker's state at that point (its map version on disk and the
//!   bindings since the last state leaf), the alert outbox and the ids of
//!   alerts already delivered. Replaced atomically (write temporary file, fsync, rename,
//!   fsync directory) and only after a range of entries was fully checked, so a crash makes
//!   the monitor re-check that range, never skip it. Alerts found in a range are put in the
//!   outbox in the same write that records the range as checked, and moved to `sent` after
//!   delivery: an alert is neither lost nor (outside a crash between delivery and the next
//!   save) delivered twice, and its stable id lets consumers drop that rare repeat.
//! - `lock`: an exclusive advisory lock, held while the monitor runs.
//! - `replay-db/`: the tag map and the notice history on disk ([`crate::store`]). Every
//!   write to it is synced before the `state.json` that relies on it is saved, and a replay
//!   reads from it only what the saved state names (a map version, earlier entries), so it
//!   never runs ahead of `state.json`.
//!
//! Out of scope: what the checks are (see [`crate::checks`]) and how entries are fetched (see
//! [`crate::follow`]).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::{Deserialize, Serialize};
use taglog_proofs::hash::{Hash, HASH_LEN};
use taglog_proofs::tree::TreeError;

use crate::alerts::Alert;
use crate::checks::NoticeState;
use crate::replay::ReplayState;
use crate::treefile::{TreeFile, TreeFileError};

/// The state file format version this code writes (and reads).
///
/// Format 2 keeps the tag map and the notice history in `replay-db/` (`state.json` names a
/// map version and carries only the bindings since the last state leaf); a monitor that
/// reads only format 1 refuses it instead of taking its partial map for the whole one.
pub const STATE_FORMAT: u32 = 2;
/// The earlier format this code also reads: the whole tag map and notice history in
/// `state.json` (taken over into `replay-db/` on open, see [`crate::monitor::Monitor::open`]).
pub const EARLIER_STATE_FORMAT: u32 = 1;
/// The most alert ids remembered as delivered; older ones are forgotten first (ids are
/// stable, so a consumer can still deduplicate).
pub const MAX_SENT_IDS: usize = 100_000;
/// The most alerts kept for a webhook that does not answer; the oldest is dropped first
/// (it was delivered to stdout and the alert file already).
pub const MAX_WEBHOOK_BACKLOG: usize = 10_000;
/// The largest state file accepted on load.
pub const MAX_STATE_BYTES: u64 = 4 << 30;

const STATE_FILE: &str = "state.json";
const LEAVES_FILE: &str = "leaves.bin";
const TREE_FILE: &str = "tree.bin";
const TREE_TMP_FILE: &str = "tree.bin.tmp";
const LOCK_FILE: &str = "lock";

/// Why the state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// File system error.
    #[error("state directory {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another monitor holds the lock.
    #[error(
        "state directory {0} is locked by another monitor; stop it or use another --state-dir"
    )]
    Locked(PathBuf),
    /// A state file does not parse or contradicts itself.
    #[error(
        "state file {path} is corrupt: {defect}; restore it or start with an empty --state-dir"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        defect: StateDefect,
    },
    /// The state belongs to another log.
    #[error("state directory is for log {found}, not {expected}; use another --state-dir")]
    WrongLog {
        /// Origin in the state.
        found: String,
        /// Origin configured.
        expected: String,
    },
    /// `tree.bin` does not hold the verified tree, or cannot be read or extended.
    #[error(transparent)]
    Tree(#[from] TreeFileError),
    /// `leaves.bin` (of an earlier monitor) does not rebuild the verified checkpoint.
    #[error("leaves.bin holds {have} leaf hashes whose tree does not match the verified checkpoint of size {size}; the state directory is damaged")]
    LeavesMismatch {
        /// Leaf hashes found.
        have: u64,
        /// Verified size.
        size: u64,
    },
}

/// What is wrong with a state file.
#[derive(Debug, thiserror::Error)]
pub enum StateDefect {
    /// The JSON does not parse (or the state cannot be encoded).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A format this monitor does not read.
    #[error("format {found} (this monitor reads {EARLIER_STATE_FORMAT} and {STATE_FORMAT})")]
    Format {
        /// The format found.
        found: u32,
    },
    /// More entries replayed than verified.
    #[error("{replayed} entries replayed, beyond the verified size {verified}")]
    ReplayedBeyondVerified {
        /// Entries replayed.
        replayed: u64,
        /// The verified size.
        verified: u64,
    },
    /// The leaf hashes do not form a tree.
    #[error("{0}")]
    Tree(#[from] TreeError),
    /// The verified root is not a base64 hash.
    #[error("verified root {0:?} is not a base64 SHA-256 hash")]
    Root(String),
    /// Entries were replayed, but the replay database they wrote is gone.
    #[error("{replayed} entries replayed, but the replay database {db} that holds their tag map and notice history is missing")]
    MissingReplayDb {
        /// Entries replayed.
        replayed: u64,
        /// The database directory.
        db: PathBuf,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The last checkpoint whose root the monitor rebuilt from the log's entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The signed checkpoint note, exactly as verified (with its cosignatures).
    pub note: String,
    /// Its tree size.
    pub size: u64,
    /// Its root (standard base64).
    pub root: String,
}

/// Everything in `state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MonitorState {
    /// [`STATE_FORMAT`].
    pub format: u32,
    /// The log origin.
    pub origin: String,
    /// The last verified checkpoint, if any.
    pub verified: Option<Verified>,
    /// Entries replayed and checked: `0..replayed` (≤ the verified size).
    pub replayed: u64,
    /// The replay checker's state after entry `replayed − 1`.
    pub replay: ReplayState,
    /// Notice bookkeeping (digests seen, bindings awaiting a state leaf) at `replayed`.
    pub notices: NoticeState,
    /// Alerts found but not yet delivered.
    pub outbox: Vec<Alert>,
    /// Ids of alerts delivered (to stdout and the alert file), oldest first.
    pub sent: Vec<String>,
    /// Alerts delivered locally but not yet accepted by the webhook.
    #[serde(default)]
    pub webhook_outbox: Vec<Alert>,
    /// The largest log checkpoint ever served to this monitor (note), for rollback checks.
    pub largest_served: Option<String>,
    /// Monitor clock when the verified size last grew or a fresh checkpoint was seen.
    pub last_progress: u64,
    /// Verified checkpoint sizes above `replayed`: each must end in a state leaf, checked
    /// when the replay reaches it.
    #[serde(default)]
    pub boundaries: BTreeSet<u64>,
    /// `sent` as a set (not stored; rebuilt on load).
    #[serde(skip)]
    sent_index: BTreeSet<String>,
    /// Ids in `outbox` (not stored; rebuilt on load).
    #[serde(skip)]
    outbox_index: BTreeSet<String>,
}

impl MonitorState {
    /// A fresh state for a log.
    pub fn new(origin: &str, now: u64) -> MonitorState {
        MonitorState {
            format: STATE_FORMAT,
            origin: origin.to_owned(),
            verified: None,
            replayed: 0,
            replay: ReplayState::default(),
            notices: NoticeState::default(),
            outbox: Vec::new(),
            sent: Vec::new(),
            webhook_outbox: Vec::new(),
            largest_served: None,
            last_progress: now,
            boundaries: BTreeSet::new(),
            sent_index: BTreeSet::new(),
            outbox_index: BTreeSet::new(),
        }
    }

    /// The verified size (0 before the first checkpoint).
    pub fn verified_size(&self) -> u64 {
        self.verified.as_ref().map_or(0, |v| v.size)
    }

    /// Whether an alert with this id was delivered or is waiting in the outbox.
    pub fn knows_alert(&self, id: &str) -> bool {
        self.sent_index.contains(id) || self.outbox_index.contains(id)
    }

    /// Queues an alert unless it is already known. Returns whether it was queued.
    pub fn queue_alert(&mut self, alert: Alert) -> bool {
        if self.knows_alert(&alert.id) {
            return false;
        }
        self.outbox_index.insert(alert.id.clone());
        self.outbox.push(alert);
        true
    }

    /// Takes every alert out of the outbox for delivery; hand the undelivered ones back with
    /// [`MonitorState::return_outbox`] (delivered ones: [`MonitorState::mark_sent`]).
    pub fn take_outbox(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.outbox)
    }

    /// Puts undelivered alerts back at the front of the outbox.
    pub fn return_outbox(&mut self, mut rest: Vec<Alert>) {
        rest.retain(|a| self.outbox_index.contains(&a.id));
        rest.append(&mut self.outbox);
        self.outbox = rest;
    }

    /// Records an outbox alert as delivered.
    pub fn mark_sent(&mut self, id: &str) {
        if self.outbox_index.remove(id) {
            // Usually delivered in order: the first entry.
            if let Some(pos) = self.outbox.iter().position(|a| a.id == id) {
                self.outbox.remove(pos);
            }
        }
        if self.sent_index.insert(id.to_owned()) {
            self.sent.push(id.to_owned());
        }
        if self.sent.len() > MAX_SENT_IDS {
            let excess = self.sent.len() - MAX_SENT_IDS;
            for old in self.sent.drain(..excess) {
                self.sent_index.remove(&old);
            }
        }
    }

    /// The delivered ids as a set (for tests).
    pub fn sent_set(&self) -> BTreeSet<String> {
        self.sent.iter().cloned().collect()
    }
}

/// An open state directory: the lock, the state and the verified tree.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    _lock: File,
    /// The state as last loaded or saved (callers mutate it, then [`StateDir::save`]).
    pub state: MonitorState,
    /// The tree of the verified checkpoint, in `tree.bin`.
    pub tree: TreeFile,
}

impl StateDir {
    /// Opens (creating if needed) a state directory for `origin`, takes the lock, loads the
    /// state and rebuilds the verified tree.
    ///
    /// # Errors
    /// [`StateError::Locked`], [`StateError::WrongLog`], [`StateError::Corrupt`],
    /// [`StateError::LeavesMismatch`], [`StateError::Io`].
    pub fn open(dir: &Path, origin: &str, now: u64) -> Result<StateDir, StateError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.try_lock_exclusive()
            .map_err(|_| StateError::Locked(dir.to_path_buf()))?;
        let state = load_state(dir, origin, now)?;
        let tree = load_tree(dir, &state)?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
            _lock: lock,
            state,
            tree,
        })
    }

    /// Appends leaf hashes (already checked against a signed root) to `tree.bin`, durably,
    /// before the state that refers to them is saved. (The monitor appends a range leaf by
    /// leaf and checks its root before committing: [`TreeFile::push`].)
    ///
    /// # Errors
    /// [`StateError::Tree`].
    pub fn append_leaves(&mut self, leaves: &[Hash]) -> Result<(), StateError> {
        self.tree.begin()?;
        for h in leaves {
            self.tree.push(*h)?;
        }
        self.tree.commit()?;
        Ok(())
    }

    /// Saves `state.json` atomically.
    ///
    /// # Errors
    /// [`StateError::Io`], [`StateError::Corrupt`] if the state cannot be encoded.
    pub fn save(&self) -> Result<(), StateError> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join("state.json.tmp");
        let bytes = serde_json::to_vec(&self.state).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            defect: e.into(),
        })?;
        {
            let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
            f.write_all(&bytes).map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        Ok(())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

fn load_state(dir: &Path, origin: &str, now: u64) -> Result<MonitorState, StateError> {
    let path = dir.join(STATE_FILE);
    let mut f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(MonitorState::new(origin, now))
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut bytes = Vec::new();
    Read::by_ref(&mut f)
        .take(MAX_STATE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io_err(&path))?;
    let mut state: MonitorState =
        serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            defect: e.into(),
        })?;
    if state.format != STATE_FORMAT && state.format != EARLIER_STATE_FORMAT {
        return Err(StateError::Corrupt {
            path,
            defect: StateDefect::Format {
                found: state.format,
            },
        });
    }
    state.sent_index = state.sent.iter().cloned().collect();
    state.outbox_index = state.outbox.iter().map(|a| a.id.clone()).collect();
    if state.origin != origin {
        return Err(StateError::WrongLog {
            found: state.origin,
            expected: origin.to_owned(),
        });
    }
    if state.replayed > state.verified_size() {
        return Err(StateError::Corrupt {
            path,
            defect: StateDefect::ReplayedBeyondVerified {
                replayed: state.replayed,
                verified: state.verified_size(),
            },
        });
    }
    Ok(state)
}

fn load_tree(dir: &Path, state: &MonitorState) -> Result<TreeFile, StateError> {
    let path = dir.join(TREE_FILE);
    let Some(verified) = &state.verified else {
        return Ok(TreeFile::create(&path)?);
    };
    let root = Hash::from_base64(&verified.root).ok_or_else(|| StateError::Corrupt {
        path: dir.join(STATE_FILE),
        defect: StateDefect::Root(verified.root.clone()),
    })?;
    let exists = match std::fs::metadata(&path) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_err(&path)(e)),
    };
    if !exists {
        migrate_leaves(dir, verified.size, root)?;
    }
    Ok(TreeFile::open(&path, verified.size, root)?)
}

/// Builds `tree.bin` from the `leaves.bin` of an earlier monitor (through a temporary file,
/// so a crash leaves `leaves.bin` to build from again), then removes `leaves.bin`.
fn migrate_leaves(dir: &Path, size: u64, root: Hash) -> Result<(), StateError> {
    let leaves_path = dir.join(LEAVES_FILE);
    let tmp = dir.join(TREE_TMP_FILE);
    let mut have = 0u64;
    let mut tree = TreeFile::create(&tmp)?;
    match File::open(&leaves_path) {
        Ok(f) => {
            let mut r = BufReader::with_capacity(1 << 20, f);
            let mut b = [0u8; HASH_LEN];
            while have < size {
                match r.read_exact(&mut b) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(io_err(&leaves_path)(e)),
                }
                tree.push(Hash(b))?;
                have += 1;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&leaves_path)(e)),
    }
    if have != size || tree.pending_root().ok() != Some(root) {
        drop(tree);
        let _ = std::fs::remove_file(&tmp);
        return Err(StateError::LeavesMismatch { have, size });
    }
    tree.commit()?;
    drop(tree);
    let path = dir.join(TREE_FILE);
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)?;
    match std::fs::remove_file(&leaves_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&leaves_path)(e)),
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::hash::leaf_hash;

    #[test]
    fn save_load_roundtrip_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let mut sd = StateDir::open(dir.path(), "o", 5).unwrap();
        assert!(matches!(
            StateDir::open(dir.path(), "o", 5),
            Err(StateError::Locked(_))
        ));
        let leaves: Vec<Hash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        sd.append_leaves(&leaves).unwrap();
        sd.state.verified = Some(Verified {
            note: "n".into(),
            size: 5,
            root: sd.tree.root().unwrap().to_base64(),
        });
        sd.state.replayed = 3;
        sd.save().unwrap();
        let root = sd.tree.root().unwrap();
        drop(sd);
        let sd = StateDir::open(dir.path(), "o", 5).unwrap();
        assert_eq!(sd.state.replayed, 3);
        assert_eq!(sd.tree.root().unwrap(), root);
        drop(sd);
        assert!(matches!(
            StateDir::open(dir.path(), "other", 5),
            Err(StateError::WrongLog { .. })
        ));
    }

    #[test]
    fn leaves_beyond_verified_size_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut sd = StateDir::open(dir.path(), "o", 0).unwrap();
        sd.append_leaves(&[leaf_hash(b"a")]).unwrap();
        sd.state.verified = Some(Verified {
            note: String::new(),
            size: 1,
            root: sd.tree.root().unwrap().to_base64(),
        });
        sd.save().unwrap();
        // Leaves of a range that was never verified (crash before the state save).
        sd.append_leaves(&[leaf_hash(b"b")]).unwrap();
        drop(sd);
        let mut sd = StateDir::open(dir.path(), "o", 0).unwrap();
        assert_eq!(sd.tree.size(), 1);
        sd.append_leaves(&[leaf_hash(b"c")]).unwrap();
        assert_eq!(sd.tree.leaf_hash(1).unwrap(), leaf_hash(b"c"));
    }

    /// A state directory of an earlier monitor (`leaves.bin`, no `tree.bin`).
    fn earlier_dir(leaves: &[Hash], size: u64) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let root = taglog_proofs::tree::root_of_leaves(&leaves[..size as usize]);
        let mut state = MonitorState::new("o", 0);
        state.verified = Some(Verified {
            note: String::new(),
            size,
            root: root.to_base64(),
        });
        std::fs::write(
            dir.path().join(STATE_FILE),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
        let bytes: Vec<u8> = leaves.iter().flat_map(|h| h.0).collect();
        std::fs::write(dir.path().join(LEAVES_FILE), bytes).unwrap();
        (dir, root.to_base64())
    }

    #[test]
    fn leaves_of_an_earlier_monitor_become_tree_bin() {
        let leaves: Vec<Hash> = (0..1000u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        // One leaf hash past the verified size: a range whose state was never saved.
        let (dir, root) = earlier_dir(&leaves, 999);
        let sd = StateDir::open(dir.path(), "o", 0).unwrap();
        assert_eq!(sd.tree.size(), 999);
        assert_eq!(sd.tree.root().unwrap().to_base64(), root);
        assert_eq!(sd.tree.leaf_hash(500).unwrap(), leaves[500]);
        drop(sd);
        assert!(!dir.path().join(LEAVES_FILE).exists());
        assert!(!dir.path().join(TREE_TMP_FILE).exists());
        let sd = StateDir::open(dir.path(), "o", 0).unwrap();
        assert_eq!(sd.tree.root().unwrap().to_base64(), root);
    }

    #[test]
    fn damaged_leaves_of_an_earlier_monitor_are_reported_and_kept() {
        let leaves: Vec<Hash> = (0..100u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let (dir, _) = earlier_dir(&leaves, 100);
        let path = dir.path().join(LEAVES_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[40 * 32 + 3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let e = StateDir::open(dir.path(), "o", 0).unwrap_err();
        assert!(
            matches!(
                e,
                StateError::LeavesMismatch {
                    have: 100,
                    size: 100
                }
            ),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert!(!dir.path().join(TREE_FILE).exists());
        std::fs::write(&path, &bytes[..99 * 32]).unwrap();
        let e = StateDir::open(dir.path(), "o", 0).unwrap_err();
        assert!(
            matches!(
                e,
                StateError::LeavesMismatch {
                    have: 99,
                    size: 100
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn damaged_tree_bin_is_reported_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut sd = StateDir::open(dir.path(), "o", 0).unwrap();
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        sd.append_leaves(&leaves).unwrap();
        sd.state.verified = Some(Verified {
            note: String::new(),
            size: 300,
            root: sd.tree.root().unwrap().to_base64(),
        });
        sd.save().unwrap();
        drop(sd);
        let path = dir.path().join(TREE_FILE);
        let good = std::fs::read(&path).unwrap();
        let state = std::fs::read(dir.path().join(STATE_FILE)).unwrap();
        let mut flipped = good.clone();
        flipped[100 * 32] ^= 0x80;
        for bad in [flipped, good[..good.len() - 32].to_vec()] {
            std::fs::write(&path, &bad).unwrap();
            let e = StateDir::open(dir.path(), "o", 0).unwrap_err();
            assert!(
                matches!(
                    e,
                    StateError::Tree(TreeFileError::Mismatch { size: 300, .. })
                ),
                "{e}"
            );
            assert!(e.to_string().contains("damaged"), "{e}");
            assert_eq!(std::fs::read(&path).unwrap(), bad);
            assert_eq!(std::fs::read(dir.path().join(STATE_FILE)).unwrap(), state);
        }
        std::fs::write(&path, &good).unwrap();
        assert!(StateDir::open(dir.path(), "o", 0).is_ok());
    }
}
