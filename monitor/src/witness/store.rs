//! Durable per-origin witness state in plain files (no database).
//!
//! Layout under the data directory:
//!
//! ```text
//! LOCK                                   exclusive lock: one witness process per directory
//! logs/<hex sha256(origin)>/checkpoint   the latest cosigned checkpoint (the commit point)
//! logs/<hex sha256(origin)>/audit-<size> a snapshot of the auditor's state (--audit)
//! logs/<hex sha256(origin)>/evidence/    refused, validly signed checkpoints (JSON)
//! ```
//!
//! Guarantees: every write goes to a fresh temporary file in the same directory, which is
//! fsynced, renamed over the target and followed by an fsync of the directory, so after a
//! crash a file holds either its old or its new content, never a mix. The `checkpoint` file is
//! the single commit point: an audit snapshot is written *before* the checkpoint of its size,
//! so a snapshot above the stored checkpoint's size was never committed (and is ignored).
//!
//! Out of scope: deciding what to write (see [`super::Witness`]), and concurrency inside the
//! process (the caller serialises writes per origin; the directory lock keeps other processes
//! out).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use fs2::FileExt as _;
use taglog_proofs::hash::sha256;
use taglog_proofs::num::parse_decimal;

/// The largest state file read back, in bytes (a checkpoint note is at most 64 KiB; audit
/// state grows with the number of refs: 1 GiB is far beyond what this file format is meant for).
pub const MAX_STATE_FILE_BYTES: u64 = 1 << 30;

/// Most evidence files kept per origin (only the log's key can trigger them, but a bound keeps
/// a misbehaving log from filling the disk).
pub const MAX_EVIDENCE_FILES: usize = 64;

/// Name of the file holding the latest cosigned checkpoint of an origin.
const CHECKPOINT_FILE: &str = "checkpoint";

/// Why the witness's files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the data directory.
    #[error(
        "data directory {dir} is locked by another process; run one witness per data directory"
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A state file is larger than [`MAX_STATE_FILE_BYTES`].
    #[error("state file {path} is larger than {MAX_STATE_FILE_BYTES} bytes; it is not ours or is corrupt")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The witness's data directory, held under an exclusive lock for the life of the value.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the data directory and takes its lock.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another process holds it; [`StoreError::Io`] if it cannot be
    /// created or locked.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let logs = dir.join("logs");
        fs::create_dir_all(&logs).map_err(io_err("create directory", &logs))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open lock file", &lock_path))?;
        if lock.try_lock_exclusive().is_err() {
            return Err(StoreError::Locked {
                dir: dir.to_owned(),
            });
        }
        Ok(Store {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    /// The directory holding one origin's files.
    fn origin_dir(&self, origin: &str) -> PathBuf {
        self.dir
            .join("logs")
            .join(hex::encode(sha256(origin.as_bytes()).0))
    }

    /// The latest cosigned checkpoint stored for `origin`, if any.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::TooLarge`] if the file exists but cannot be read.
    pub fn load_checkpoint(&self, origin: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read_optional(&self.origin_dir(origin).join(CHECKPOINT_FILE))
    }

    /// Durably replaces the latest cosigned checkpoint of `origin`: the commit point.
    ///
    /// # Errors
    /// [`StoreError::Io`] if any step fails; the old checkpoint then may or may not have been
    /// replaced, and the caller must not reply with a cosignature.
    pub fn save_checkpoint(&self, origin: &str, note: &[u8]) -> Result<(), StoreError> {
        let dir = self.origin_dir(origin);
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        write_atomic(&dir, CHECKPOINT_FILE, note)
    }

    /// The audit state stored for `origin` at tree size `size`, if any.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::TooLarge`] if the file exists but cannot be read.
    pub fn load_audit(&self, origin: &str, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        read_optional(&self.origin_dir(origin).join(format!("audit-{size}")))
    }

    /// Durably writes the audit state of `origin` at `size` (before the checkpoint of `size`).
    ///
    /// # Errors
    /// [`StoreError::Io`] if any step fails.
    pub fn save_audit(&self, origin: &str, size: u64, state: &[u8]) -> Result<(), StoreError> {
        let dir = self.origin_dir(origin);
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        write_atomic(&dir, &format!("audit-{size}"), state)
    }

    /// Writes an evidence file `evidence/<name>.json` for `origin`, unless
    /// [`MAX_EVIDENCE_FILES`] are already there (then returns `Ok(false)`).
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory or file cannot be written.
    pub fn save_evidence(&self, origin: &str, name: &str, json: &[u8]) -> Result<bool, StoreError> {
        let dir = self.origin_dir(origin).join("evidence");
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        let count = fs::read_dir(&dir)
            .map_err(io_err("list", &dir))?
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .count();
        if count >= MAX_EVIDENCE_FILES {
            return Ok(false);
        }
        let mut file = format!("{name}.json");
        let mut n = 1;
        while dir.join(&file).exists() {
            n += 1;
            file = format!("{name}-{n}.json");
        }
        write_atomic(&dir, &file, json)?;
        Ok(true)
    }

    /// The newest audit snapshot of `origin` whose size is at most `max_size`, with its size.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::TooLarge`] if it exists but cannot be read.
    pub fn load_latest_audit(
        &self,
        origin: &str,
        max_size: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let best = self
            .audit_sizes(origin)?
            .into_iter()
            .filter(|&n| n <= max_size)
            .max();
        match best {
            Some(n) => Ok(self.load_audit(origin, n)?.map(|bytes| (n, bytes))),
            None => Ok(None),
        }
    }

    /// Sizes of the audit snapshots on disk for `origin`.
    fn audit_sizes(&self, origin: &str) -> Result<Vec<u64>, StoreError> {
        let dir = self.origin_dir(origin);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", &dir)(e)),
        };
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name();
                name.to_str()
                    .and_then(|n| n.strip_prefix("audit-"))
                    .and_then(parse_decimal)
            })
            .collect())
    }

    /// Removes the audit snapshots of `origin` other than the one of size `keep` (all if
    /// `None`). Best effort: a leftover wastes space, and one above the cosigned size is
    /// removed again at the next start.
    pub fn prune_audit(&self, origin: &str, keep: Option<u64>) {
        let Ok(sizes) = self.audit_sizes(origin) else {
            return;
        };
        let dir = self.origin_dir(origin);
        for n in sizes.into_iter().filter(|&n| Some(n) != keep) {
            let path = dir.join(format!("audit-{n}"));
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove old audit state");
            }
        }
    }
}

/// Reads a whole file, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    if len > MAX_STATE_FILE_BYTES {
        return Err(StoreError::TooLarge {
            path: path.to_owned(),
        });
    }
    fs::read(path).map(Some).map_err(io_err("read", path))
}

/// Writes `bytes` to `dir/name` atomically and durably: temp file, fsync, rename, fsync dir.
///
/// # Errors
/// [`StoreError::Io`] naming the step and file that failed.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let target = dir.join(name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        drop(f);
        fs::rename(&tmp, &target).map_err(io_err("rename into", &target))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync directory", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trip_and_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::Locked { .. })
        ));
        assert_eq!(store.load_checkpoint("o").unwrap(), None);
        store.save_checkpoint("o", b"one").unwrap();
        store.save_checkpoint("o", b"two").unwrap();
        assert_eq!(store.load_checkpoint("o").unwrap().unwrap(), b"two");
        assert_eq!(store.load_checkpoint("other").unwrap(), None);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_checkpoint("o").unwrap().unwrap(), b"two");
    }

    #[test]
    fn audit_files_are_pruned_except_the_kept_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_latest_audit("o", 9).unwrap(), None);
        store.save_audit("o", 3, b"a3").unwrap();
        store.save_audit("o", 5, b"a5").unwrap();
        store.save_audit("o", 10, b"a10").unwrap();
        assert_eq!(
            store.load_latest_audit("o", 9).unwrap(),
            Some((5, b"a5".to_vec()))
        );
        assert_eq!(
            store.load_latest_audit("o", 4).unwrap(),
            Some((3, b"a3".to_vec()))
        );
        assert_eq!(store.load_latest_audit("o", 2).unwrap(), None);
        store.prune_audit("o", Some(5));
        assert_eq!(store.load_audit("o", 3).unwrap(), None);
        assert_eq!(store.load_audit("o", 10).unwrap(), None);
        assert_eq!(store.load_audit("o", 5).unwrap().unwrap(), b"a5");
        store.prune_audit("o", None);
        assert_eq!(store.load_latest_audit("o", 9).unwrap(), None);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.save_checkpoint("o", b"old").unwrap();
        // A directory where the temp file should go makes the write fail before the rename.
        let odir = store.origin_dir("o");
        fs::create_dir(odir.join(format!(".checkpoint.tmp-{}", std::process::id()))).unwrap();
        assert!(store.save_checkpoint("o", b"new").is_err());
        assert_eq!(store.load_checkpoint("o").unwrap().unwrap(), b"old");
    }
}
