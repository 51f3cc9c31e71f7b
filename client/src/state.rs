//! The client's local trusted state (DESIGN §4 step 9): per-origin cached checkpoint and newest
//! cosignature time, per-ref high-water marks `(version, leaf hash)`, and local pins.
//!
//! Location: `--state-dir`, else `$TAGLOG_STATE_DIR`, else `$XDG_STATE_HOME/taglog`, else
//! `~/.local/state/taglog`. One JSON file, `state.json`, guarded by an exclusive `fs2` lock on
//! `state.lock` that a command holds from reading the state until it has written the update,
//! so two concurrent `taglog verify` runs serialise instead of losing or mixing updates.
//! Writes are atomic: a temporary file in the same directory, fsync, rename, fsync of the
//! directory; a save killed before its rename leaves the old file (and a temporary file that
//! the next command removes under the lock). A state file that does not parse is an error,
//! never silently reset or overwritten.
//!
//! Out of scope: deciding what to write (that is [`taglog_proofs::verify::StateUpdate`]).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use fs2::FileExt as _;
use serde::{Deserialize, Serialize};
use taglog_proofs::binding::DigestValue;
use taglog_proofs::hash::Hash;
use taglog_proofs::refs::TagRef;
use taglog_proofs::verify::{CachedCheckpoint, HighWater, StateUpdate};

/// The state file's name.
pub const STATE_FILE: &str = "state.json";
/// The lock file's name.
pub const LOCK_FILE: &str = "state.lock";
/// Largest state file read.
pub const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;
/// The format version written.
pub const STATE_FORMAT: u32 = 1;

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No directory could be determined.
    #[error("no state directory: set --state-dir, TAGLOG_STATE_DIR, XDG_STATE_HOME or HOME")]
    NoDirectory,
    /// An I/O failure.
    #[error("state {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The state file is corrupt.
    #[error("state file {path} is corrupt: {reason}; move it away to start from an empty state (you lose rollback protection for what it recorded)")]
    Corrupt {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

fn io(path: &Path, source: std::io::Error) -> StateError {
    StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct StoredCheckpoint {
    note: String,
    size: u64,
    root: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct StoredHighWater {
    version: u64,
    leaf_hash: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
struct StoredState {
    format: u32,
    #[serde(default)]
    checkpoints: BTreeMap<String, StoredCheckpoint>,
    #[serde(default)]
    newest_cosignature: BTreeMap<String, u64>,
    #[serde(default)]
    high_water: BTreeMap<String, StoredHighWater>,
    #[serde(default)]
    pins: BTreeMap<String, String>,
}

/// The parsed state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Cached checkpoint per origin.
    pub checkpoints: BTreeMap<String, CachedCheckpoint>,
    /// Newest verified cosignature time per origin.
    pub newest_cosignature: BTreeMap<String, u64>,
    /// High-water mark per signed ref.
    pub high_water: BTreeMap<String, HighWater>,
    /// Local pins per signed ref.
    pub pins: BTreeMap<String, DigestValue>,
}

impl State {
    fn from_stored(s: StoredState, path: &Path) -> Result<State, StateError> {
        let corrupt = |reason: String| StateError::Corrupt {
            path: path.display().to_string(),
            reason,
        };
        let mut out = State {
            newest_cosignature: s.newest_cosignature,
            ..State::default()
        };
        for (origin, c) in s.checkpoints {
            let root =
                Hash::from_base64(&c.root).ok_or_else(|| corrupt(format!("root of {origin}")))?;
            out.checkpoints.insert(
                origin,
                CachedCheckpoint {
                    note: c.note.into_bytes(),
                    size: c.size,
                    root,
                },
            );
        }
        for (r, hw) in s.high_water {
            let leaf_hash = Hash::from_base64(&hw.leaf_hash)
                .ok_or_else(|| corrupt(format!("leaf hash of {r}")))?;
            out.high_water.insert(
                r,
                HighWater {
                    version: hw.version,
                    leaf_hash,
                },
            );
        }
        for (r, d) in s.pins {
            let digest: DigestValue = d.parse().map_err(|_| corrupt(format!("pin of {r}")))?;
            out.pins.insert(r, digest);
        }
        Ok(out)
    }

    fn to_stored(&self) -> StoredState {
        StoredState {
            format: STATE_FORMAT,
            checkpoints: self
                .checkpoints
                .iter()
                .map(|(o, c)| {
                    (
                        o.clone(),
                        StoredCheckpoint {
                            note: String::from_utf8_lossy(&c.note).into_owned(),
                            size: c.size,
                            root: c.root.to_base64(),
                        },
                    )
                })
                .collect(),
            newest_cosignature: self.newest_cosignature.clone(),
            high_water: self
                .high_water
                .iter()
                .map(|(r, h)| {
                    (
                        r.clone(),
                        StoredHighWater {
                            version: h.version,
                            leaf_hash: h.leaf_hash.to_base64(),
                        },
                    )
                })
                .collect(),
            pins: self
                .pins
                .iter()
                .map(|(r, d)| (r.clone(), d.to_string()))
                .collect(),
        }
    }

    /// Applies a verifier's update: replaces the checkpoint, raises the high-water mark and the
    /// newest cosignature time (never lowers them).
    pub fn apply(&mut self, u: &StateUpdate) {
        if let Some(c) = &u.checkpoint {
            let replace = self
                .checkpoints
                .get(&u.origin)
                .is_none_or(|old| c.size >= old.size);
            if replace {
                self.checkpoints.insert(u.origin.clone(), c.clone());
            }
        }
        if let Some(t) = u.newest_cosignature {
            let e = self.newest_cosignature.entry(u.origin.clone()).or_insert(t);
            *e = (*e).max(t);
        }
        if let Some((r, hw)) = &u.high_water {
            let rising = self
                .high_water
                .get(r.as_str())
                .is_none_or(|old| hw.version > old.version);
            if rising {
                self.high_water.insert(r.as_str().to_string(), *hw);
            }
        }
    }

    /// The local pin for a signed ref.
    pub fn pin(&self, r: &TagRef) -> Option<&DigestValue> {
        self.pins.get(r.as_str())
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// The state, read under the exclusive lock; the lock is released on drop.
#[derive(Debug)]
pub struct Locked {
    dir: PathBuf,
    _lock: File,
    /// The state as read.
    pub state: State,
}

impl StateDir {
    /// Chooses the directory: `explicit`, `$TAGLOG_STATE_DIR`, `$XDG_STATE_HOME/taglog`,
    /// `$HOME/.local/state/taglog`.
    ///
    /// # Errors
    /// [`StateError::NoDirectory`] if none is set.
    pub fn resolve(explicit: Option<&Path>) -> Result<StateDir, StateError> {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = explicit
            .map(Path::to_path_buf)
            .or_else(|| env("TAGLOG_STATE_DIR"))
            .or_else(|| env("XDG_STATE_HOME").map(|p| p.join("taglog")))
            .or_else(|| env("HOME").map(|p| p.join(".local/state/taglog")))
            .ok_or(StateError::NoDirectory)?;
        Ok(StateDir { dir })
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Takes the exclusive lock (waiting for other taglog processes) and reads the state.
    ///
    /// # Errors
    /// [`StateError::Io`] or [`StateError::Corrupt`].
    pub fn lock(&self) -> Result<Locked, StateError> {
        fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        lock.lock_exclusive().map_err(|e| io(&lock_path, e))?;
        remove_stale_temporaries(&self.dir);
        let state = read_state(&self.dir.join(STATE_FILE))?;
        Ok(Locked {
            dir: self.dir.clone(),
            _lock: lock,
            state,
        })
    }
}

/// Removes the temporary files of saves that were killed before their rename. Only called
/// under the lock, so no save is in progress; failures are harmless (the next save writes its
/// own temporary file).
fn remove_stale_temporaries(dir: &Path) {
    let prefix = format!("{STATE_FILE}.tmp.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The state of one directory shared by every verification of a process: each
/// [`StateStore::update`] runs under an in-process mutex and the directory's file lock (so
/// other `taglog` processes serialise with it too), re-reads the file, and saves only if the
/// state changed, atomically. Blocking: async callers run it with `spawn_blocking`.
#[derive(Debug)]
pub struct StateStore {
    dir: StateDir,
    local: std::sync::Mutex<()>,
}

impl StateStore {
    /// A store for `dir`.
    pub fn new(dir: StateDir) -> StateStore {
        StateStore {
            dir,
            local: std::sync::Mutex::new(()),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A consistent snapshot of the state (read under the lock).
    ///
    /// # Errors
    /// [`StateError::Io`] or [`StateError::Corrupt`].
    pub fn snapshot(&self) -> Result<State, StateError> {
        let _local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(self.dir.lock()?.state)
    }

    /// Runs `f` on the locked state; if `f` changed the state (whatever it returned), saves
    /// it before releasing the lock. Nothing is written when nothing changed.
    ///
    /// # Errors
    /// `f`'s error, or the [`StateError`] of reading or saving (converted with `From`).
    pub fn update<T, E: From<StateError>>(
        &self,
        f: impl FnOnce(&mut Locked) -> Result<T, E>,
    ) -> Result<T, E> {
        let _local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut locked = self.dir.lock()?;
        let before = locked.state.clone();
        let result = f(&mut locked);
        if locked.state != before {
            locked.save()?;
        }
        result
    }
}

fn read_state(path: &Path) -> Result<State, StateError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(io(path, e)),
    };
    if meta.len() > MAX_STATE_BYTES {
        return Err(StateError::Corrupt {
            path: path.display().to_string(),
            reason: format!("larger than {MAX_STATE_BYTES} bytes"),
        });
    }
    let bytes = fs::read(path).map_err(|e| io(path, e))?;
    let stored: StoredState = serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    if stored.format != STATE_FORMAT {
        return Err(StateError::Corrupt {
            path: path.display().to_string(),
            reason: format!(
                "format {} (this taglog writes {STATE_FORMAT})",
                stored.format
            ),
        });
    }
    State::from_stored(stored, path)
}

impl Locked {
    /// Writes the state atomically (temp file, fsync, rename, fsync directory).
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn save(&self) -> Result<(), StateError> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self
            .dir
            .join(format!("{STATE_FILE}.tmp.{}", std::process::id()));
        let body = serde_json::to_vec_pretty(&self.state.to_stored()).map_err(|e| {
            StateError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        {
            let mut f = File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(&body).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Writes an evidence file next to the state and returns its path.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn write_evidence(
        &self,
        origin: &str,
        now: u64,
        text: &str,
    ) -> Result<PathBuf, StateError> {
        let safe: String = origin
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.dir.join(format!("evidence-{safe}-{now}.txt"));
        let mut f = File::create(&path).map_err(|e| io(&path, e))?;
        f.write_all(text.as_bytes()).map_err(|e| io(&path, e))?;
        f.sync_all().map_err(|e| io(&path, e))?;
        Ok(path)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hw(version: u64, b: u8) -> HighWater {
        HighWater {
            version,
            leaf_hash: Hash([b; 32]),
        }
    }

    #[test]
    fn round_trip_and_monotonic_updates() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::resolve(Some(tmp.path())).unwrap();
        let r: TagRef = "registry.example/a/b:1".parse().unwrap();
        {
            let mut l = dir.lock().unwrap();
            assert_eq!(l.state, State::default());
            l.state.apply(&StateUpdate {
                origin: "o".into(),
                checkpoint: Some(CachedCheckpoint {
                    note: b"o\n5\nroot\n\n".to_vec(),
                    size: 5,
                    root: Hash([1; 32]),
                }),
                high_water: Some((r.clone(), hw(3, 2))),
                newest_cosignature: Some(100),
            });
            l.state
                .pins
                .insert(r.as_str().into(), DigestValue::Sha256([9; 32]));
            l.save().unwrap();
        }
        let mut l = dir.lock().unwrap();
        assert_eq!(l.state.checkpoints["o"].size, 5);
        assert_eq!(l.state.high_water[r.as_str()], hw(3, 2));
        assert_eq!(l.state.pin(&r), Some(&DigestValue::Sha256([9; 32])));
        // Lower values never replace higher ones.
        l.state.apply(&StateUpdate {
            origin: "o".into(),
            checkpoint: Some(CachedCheckpoint {
                note: Vec::new(),
                size: 4,
                root: Hash([7; 32]),
            }),
            high_water: Some((r.clone(), hw(2, 5))),
            newest_cosignature: Some(50),
        });
        assert_eq!(l.state.checkpoints["o"].size, 5);
        assert_eq!(l.state.high_water[r.as_str()].version, 3);
        assert_eq!(l.state.newest_cosignature["o"], 100);
    }

    #[test]
    fn corrupt_state_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(STATE_FILE), b"{not json").unwrap();
        let dir = StateDir::resolve(Some(tmp.path())).unwrap();
        assert!(matches!(dir.lock(), Err(StateError::Corrupt { .. })));
        fs::write(
            tmp.path().join(STATE_FILE),
            br#"{"format": 1, "high_water": {"r": {"version": 1, "leaf_hash": "x"}}}"#,
        )
        .unwrap();
        assert!(matches!(dir.lock(), Err(StateError::Corrupt { .. })));
    }
}
