//! The monitor's verified tree on disk (`tree.bin` in the state directory).
//!
//! The file holds every stored hash of the verified tree, 32 bytes each, in
//! [`stored_hash_index`] order (the layout of the Go checksum database's `tlog`), so the hash
//! of any complete subtree is one positioned read away. The monitor computes roots at earlier
//! sizes and builds inclusion and consistency proofs for evidence from it through
//! [`HashReader`], without holding the tree in memory.
//!
//! Appending is a transaction: [`TreeFile::begin`], [`TreeFile::push`] per leaf hash (hashes
//! are buffered and written in blocks of [`HASHES_PER_WRITE`] past the committed end), then
//! [`TreeFile::pending_root`] to check the new root and [`TreeFile::commit`] (synced) or
//! [`TreeFile::begin`] again to drop it. Only the committed size is read by the `size`,
//! `root_at` and `leaf_hash` accessors; hashes past it are truncated on open, so a crash
//! between an append and the state save that names its size loses nothing.
//!
//! On open the whole file is checked: every interior hash is recomputed from the leaf hashes
//! and the root compared with the verified checkpoint's, so a truncated file or a flipped
//! byte is reported ([`TreeFileDefect`]), never used.
//!
//! Out of scope: what the state directory holds besides the tree (see [`crate::state`]).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use taglog_proofs::hash::{node_hash, Hash, HASH_LEN};
use taglog_proofs::tree::{
    stored_hash_count, stored_hash_index, stored_hashes_for_leaf, tree_root, HashReader, TreeError,
};

/// Stored hashes buffered in memory before they are written past the committed end (2 MiB).
pub const HASHES_PER_WRITE: usize = 1 << 16;
/// Bytes read at a time while checking the file on open.
const CHECK_BUFFER: usize = 1 << 20;

/// What is wrong with a tree file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeFileDefect {
    /// Fewer bytes than the verified size needs.
    #[error("it holds {have} bytes, but the verified tree needs {need}")]
    Short {
        /// Bytes in the file.
        have: u64,
        /// Bytes the verified size needs.
        need: u64,
    },
    /// An interior hash that is not the hash of its two children.
    #[error("stored hash {index} is not the hash of its children")]
    Interior {
        /// The stored hash index.
        index: u64,
    },
    /// The hashes form a tree whose root is not the verified checkpoint's.
    #[error("its root is {found}, not the verified checkpoint's {expected}")]
    Root {
        /// The root of the file's tree (base64).
        found: String,
        /// The verified root (base64).
        expected: String,
    },
}

/// Why the tree file could not be opened, checked or extended.
#[derive(Debug, thiserror::Error)]
pub enum TreeFileError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold the verified tree.
    #[error("{path} does not hold the tree of the verified checkpoint of size {size}: {defect}; the state directory is damaged")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The verified size.
        size: u64,
        /// What is wrong.
        #[source]
        defect: TreeFileDefect,
    },
    /// A tree computation failed (the tree is full, or a read failed).
    #[error("{path}: {source}")]
    Tree {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: TreeError,
    },
}

/// The verified tree in a file, with an optional uncommitted extension.
#[derive(Debug)]
pub struct TreeFile {
    file: File,
    path: PathBuf,
    /// Committed leaves.
    size: u64,
    /// Leaves including the uncommitted extension.
    n: u64,
    /// Stored hashes in the file (committed or not).
    written: u64,
    /// Stored hashes after `written`, not yet in the file.
    pending: Vec<Hash>,
}

fn byte_offset(index: u64) -> u64 {
    index.saturating_mul(HASH_LEN as u64)
}

impl TreeFile {
    /// Opens (creating if needed) the tree file at `path` holding the tree of `size` leaves
    /// with root `root`, drops hashes past that size (an append whose state was never saved)
    /// and checks every hash.
    ///
    /// # Errors
    /// [`TreeFileError::Mismatch`] if the file does not hold that tree; [`TreeFileError::Io`].
    pub fn open(path: &Path, size: u64, root: Hash) -> Result<TreeFile, TreeFileError> {
        let io = |source| TreeFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        let count = stored_hash_count(size);
        let need = byte_offset(count);
        let have = file.metadata().map_err(io)?.len();
        let mismatch = |defect| TreeFileError::Mismatch {
            path: path.to_path_buf(),
            size,
            defect,
        };
        if have < need {
            return Err(mismatch(TreeFileDefect::Short { have, need }));
        }
        check_hashes(&file, size).map_err(|e| match e {
            CheckError::Io(source) => io(source),
            CheckError::Interior(index) => mismatch(TreeFileDefect::Interior { index }),
        })?;
        let tree = TreeFile {
            file,
            path: path.to_path_buf(),
            size,
            n: size,
            written: count,
            pending: Vec::new(),
        };
        let found = tree.root_at(size).map_err(|e| tree.tree_err(e))?;
        if found != root {
            return Err(mismatch(TreeFileDefect::Root {
                found: found.to_base64(),
                expected: root.to_base64(),
            }));
        }
        if have > need {
            tree.file.set_len(need).map_err(|e| tree.io_err(e))?;
            tree.file.sync_data().map_err(|e| tree.io_err(e))?;
        }
        Ok(tree)
    }

    /// Creates an empty tree file at `path` (replacing any file there).
    ///
    /// # Errors
    /// [`TreeFileError::Io`].
    pub fn create(path: &Path) -> Result<TreeFile, TreeFileError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| TreeFileError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(TreeFile {
            file,
            path: path.to_path_buf(),
            size: 0,
            n: 0,
            written: 0,
            pending: Vec::new(),
        })
    }

    fn io_err(&self, source: std::io::Error) -> TreeFileError {
        TreeFileError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn tree_err(&self, source: TreeError) -> TreeFileError {
        TreeFileError::Tree {
            path: self.path.clone(),
            source,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Committed leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Leaves including the uncommitted extension.
    pub fn pending_size(&self) -> u64 {
        self.n
    }

    /// The committed tree's root.
    ///
    /// # Errors
    /// A failed read ([`TreeError::Storage`]).
    pub fn root(&self) -> Result<Hash, TreeError> {
        self.root_at(self.size)
    }

    /// The root the committed tree had at `size` leaves.
    ///
    /// # Errors
    /// [`TreeError::IndexOutOfRange`] if `size` is beyond the committed size; a failed read.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError> {
        if size > self.size {
            return Err(TreeError::IndexOutOfRange {
                index: size,
                size: self.size,
            });
        }
        tree_root(size, self)
    }

    /// The leaf hash of committed leaf `index`.
    ///
    /// # Errors
    /// [`TreeError::IndexOutOfRange`] if `index` is not below the committed size; a failed
    /// read.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, TreeError> {
        if index >= self.size {
            return Err(TreeError::IndexOutOfRange {
                index,
                size: self.size,
            });
        }
        let h = self.read_hashes(&[stored_hash_index(0, index)])?;
        h.first().copied().ok_or(TreeError::WrongHashCount {
            expected: 1,
            got: 0,
        })
    }

    /// Drops any uncommitted extension (buffered or written past the committed end).
    ///
    /// # Errors
    /// [`TreeFileError::Io`] if the file cannot be truncated.
    pub fn begin(&mut self) -> Result<(), TreeFileError> {
        self.pending.clear();
        self.n = self.size;
        let count = stored_hash_count(self.size);
        if self.written != count {
            self.file
                .set_len(byte_offset(count))
                .map_err(|e| self.io_err(e))?;
            self.written = count;
        }
        Ok(())
    }

    /// Appends a leaf hash to the uncommitted extension.
    ///
    /// # Errors
    /// [`TreeFileError::Tree`] if the tree is full or a read failed; [`TreeFileError::Io`].
    pub fn push(&mut self, leaf: Hash) -> Result<(), TreeFileError> {
        let new = stored_hashes_for_leaf(self.n, leaf, &*self).map_err(|e| self.tree_err(e))?;
        self.pending.extend(new);
        self.n += 1;
        if self.pending.len() >= HASHES_PER_WRITE {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TreeFileError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(self.pending.len().saturating_mul(HASH_LEN));
        for h in &self.pending {
            buf.extend_from_slice(&h.0);
        }
        self.file
            .write_all_at(&buf, byte_offset(self.written))
            .map_err(|e| self.io_err(e))?;
        self.written = self.written.saturating_add(self.pending.len() as u64);
        self.pending.clear();
        Ok(())
    }

    /// The root of the tree with the uncommitted extension.
    ///
    /// # Errors
    /// A failed read.
    pub fn pending_root(&self) -> Result<Hash, TreeError> {
        tree_root(self.n, self)
    }

    /// Writes the uncommitted extension and syncs it: the tree's size becomes
    /// [`TreeFile::pending_size`].
    ///
    /// # Errors
    /// [`TreeFileError::Io`].
    pub fn commit(&mut self) -> Result<(), TreeFileError> {
        self.flush()?;
        self.file.sync_data().map_err(|e| self.io_err(e))?;
        self.size = self.n;
        Ok(())
    }

    fn read_one(&self, index: u64) -> Result<Hash, TreeError> {
        if index >= self.written {
            return usize::try_from(index - self.written)
                .ok()
                .and_then(|i| self.pending.get(i))
                .copied()
                .ok_or(TreeError::MissingHash { index });
        }
        let mut b = [0u8; HASH_LEN];
        self.file
            .read_exact_at(&mut b, byte_offset(index))
            .map_err(|e| {
                TreeError::Storage(Box::new(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", self.path.display()),
                )))
            })?;
        Ok(Hash(b))
    }
}

impl HashReader for TreeFile {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes.iter().map(|&i| self.read_one(i)).collect()
    }
}

enum CheckError {
    Io(std::io::Error),
    Interior(u64),
}

/// Reads the stored hashes of a tree of `size` leaves from the start of `file` and checks
/// that every interior hash is the hash of its children.
fn check_hashes(file: &File, size: u64) -> Result<(), CheckError> {
    let mut r = BufReader::with_capacity(CHECK_BUFFER, file);
    let mut next = |index: &mut u64| -> Result<Hash, CheckError> {
        let mut b = [0u8; HASH_LEN];
        r.read_exact(&mut b).map_err(CheckError::Io)?;
        *index += 1;
        Ok(Hash(b))
    };
    // The roots of the complete subtrees so far, left to right.
    let mut frontier: Vec<Hash> = Vec::with_capacity(64);
    let mut index = 0u64;
    for leaf in 0..size {
        let mut h = next(&mut index)?;
        for _ in 0..leaf.trailing_ones() {
            let at = index;
            let stored = next(&mut index)?;
            let left = frontier.pop().ok_or(CheckError::Interior(at))?;
            h = node_hash(&left, &h);
            if stored != h {
                return Err(CheckError::Interior(at));
            }
        }
        frontier.push(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::hash::leaf_hash;
    use taglog_proofs::tree::MemoryTree;

    fn filled(path: &Path, n: u32) -> (TreeFile, MemoryTree) {
        let mut t = TreeFile::create(path).unwrap();
        let mut m = MemoryTree::new();
        t.begin().unwrap();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes())).unwrap();
            m.append(&i.to_be_bytes()).unwrap();
        }
        t.commit().unwrap();
        (t, m)
    }

    #[test]
    fn matches_memory_tree_across_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tree.bin");
        let n = HASHES_PER_WRITE as u32 + 1000;
        let (t, m) = filled(&path, n);
        assert_eq!(t.root().unwrap(), m.root());
        for size in [0, 1, 2, 3, 77, 1024, 40_000, u64::from(n)] {
            assert_eq!(t.root_at(size).unwrap(), m.root_at(size).unwrap());
        }
        assert_eq!(t.leaf_hash(12345).unwrap(), m.leaf_hash(12345).unwrap());
        assert!(matches!(
            t.leaf_hash(u64::from(n)),
            Err(TreeError::IndexOutOfRange { .. })
        ));
        drop(t);
        let t = TreeFile::open(&path, u64::from(n), m.root()).unwrap();
        assert_eq!(t.size(), u64::from(n));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            stored_hash_count(u64::from(n)) * 32
        );
    }

    #[test]
    fn rolled_back_extension_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tree.bin");
        let (mut t, m) = filled(&path, 100);
        t.begin().unwrap();
        for i in 0..(HASHES_PER_WRITE as u32) {
            t.push(leaf_hash(&i.to_le_bytes())).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() > stored_hash_count(100) * 32);
        assert_eq!(t.root().unwrap(), m.root());
        t.begin().unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            stored_hash_count(100) * 32
        );
        t.push(leaf_hash(b"x")).unwrap();
        t.commit().unwrap();
        let mut m2 = m.clone();
        m2.append(b"x").unwrap();
        assert_eq!(t.root().unwrap(), m2.root());
        drop(t);
        // Hashes written past the size named by the state (a crash before its save).
        let t = TreeFile::open(&path, 100, m.root()).unwrap();
        assert_eq!(t.root().unwrap(), m.root());
    }

    #[test]
    fn truncated_or_flipped_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tree.bin");
        let (t, m) = filled(&path, 1000);
        drop(t);
        let len = std::fs::metadata(&path).unwrap().len();
        let good = std::fs::read(&path).unwrap();

        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        let e = TreeFile::open(&path, 1000, m.root()).unwrap_err();
        assert!(
            matches!(
                &e,
                TreeFileError::Mismatch { size: 1000, defect: TreeFileDefect::Short { have, need }, .. }
                    if *have == len - 1 && *need == len
            ),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), &good[..good.len() - 1]);

        // A flipped byte in every position class: a leaf hash, an interior hash, the last.
        for at in [5usize, 3 * 32 + 7, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            let e = TreeFile::open(&path, 1000, m.root()).unwrap_err();
            assert!(
                matches!(e, TreeFileError::Mismatch { size: 1000, .. }),
                "byte {at}: {e}"
            );
            assert!(e.to_string().contains("damaged"), "{e}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bad,
                "the file is left as it was"
            );
        }

        std::fs::write(&path, &good).unwrap();
        let e = TreeFile::open(&path, 1000, leaf_hash(b"other")).unwrap_err();
        assert!(matches!(
            e,
            TreeFileError::Mismatch {
                defect: TreeFileDefect::Root { .. },
                ..
            }
        ));
        assert!(TreeFile::open(&path, 1000, m.root()).is_ok());
    }
}
