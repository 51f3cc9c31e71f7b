//! The storage contract of one log (DESIGN §5 "Storage"): what the sequencer and the readers
//! need, and nothing else.
//!
//! [`LogStore`] has reads, one atomic [`LogStore::commit`] of an integration [`Batch`] that
//! includes the signed checkpoint, and the two small writes around it: the published head
//! with its cosignatures ([`LogStore::publish`]) and the persisted halt record
//! ([`LogStore::set_halt`]). Backends: [`rocks`] (RocksDB, the server's) and [`memory`]
//! (in memory, with injectable faults for tests).
//!
//! Guarantees every backend gives (the fault tests hold the memory backend to them, the
//! RocksDB backend gives them by one synced `WriteBatch` per write):
//! - a commit is all or nothing, and nothing of it is readable before it returns `Ok`;
//! - a commit applies only on top of the size it was planned for ([`Batch::old_size`]):
//!   otherwise [`StoreError::SizeMismatch`] and nothing is written, so a sequencer whose view
//!   is stale cannot sign a second tree of the same size;
//! - the published size never decreases ([`StoreError::PublishedRegression`]);
//! - after an error from a write, the write may or may not have been persisted: callers stop
//!   writing and re-read the store (a restart does) before deciding anything again.
//!
//! - the tag map's superseded node groups are deleted only by a commit that asks for it
//!   ([`Batch::map_prune_through`]), in the same atomic write as the rest of that commit, and
//!   only those recorded as superseded ([`Batch::map_stale`]) by a version at most the one
//!   asked for.
//!
//! Out of scope: what to write (the `log` layer decides, including which map versions must
//! stay readable), formats (opaque bytes here, except the fixed-width index rows and the
//! version of a [`StaleGroup`]), and the tag map's node layout (proofs `map`, see [`map`]).

pub mod hashes;
pub mod map;
pub mod memory;
pub mod rocks;
pub mod upper;

use std::path::PathBuf;

use taglog_proofs::hash::Hash;

pub use hashes::StoredHashes;
pub use memory::MemoryStore;
pub use rocks::RocksStore;

/// One row of the per-ref history index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryItem {
    /// The binding's version.
    pub version: u64,
    /// Its leaf index.
    pub index: u64,
    /// Its RFC 6962 leaf hash.
    pub leaf_hash: Hash,
}

/// One new leaf of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// Its leaf index.
    pub index: u64,
    /// The leaf's bytes.
    pub bytes: Vec<u8>,
    /// Its RFC 6962 leaf hash (the dedup key).
    pub leaf_hash: Hash,
}

/// One change of the logged allowlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherRow {
    /// The ref prefix (canonical text).
    pub prefix: String,
    /// The publisher vkey (canonical text).
    pub vkey: String,
    /// `true` adds the pair, `false` removes it.
    pub add: bool,
}

/// The signed checkpoint closing a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    /// The new tree size.
    pub size: u64,
    /// The log time of its state leaf.
    pub time: u64,
    /// The log-signed checkpoint note.
    pub note: Vec<u8>,
}

/// Most superseded map node groups one commit deletes ([`Batch::map_prune_through`]): a
/// commit after a long wait for witnesses catches up over several commits instead of
/// writing one huge batch.
pub const MAX_MAP_PRUNE_PER_COMMIT: usize = 16_384;

/// A tag-map node group that a newer map version no longer reads: the map of `superseded_at`
/// and every later version is built without it, so once no version below `superseded_at` is
/// read any more, it can be deleted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StaleGroup {
    /// The map version that replaced the group.
    pub superseded_at: u64,
    /// The group's key bytes (as in [`Batch::map_nodes`]).
    pub key: Vec<u8>,
}

/// Everything one checkpoint adds, committed at once by [`LogStore::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The tree size the batch was planned on; the commit applies only on top of it.
    pub old_size: u64,
    /// New leaves, in index order from `old_size`.
    pub entries: Vec<NewEntry>,
    /// New stored Merkle hashes by Go sumdb stored-hash index.
    pub hashes: Vec<(u64, Hash)>,
    /// New tag-map node groups (key and value bytes from [`map`]).
    pub map_nodes: Vec<(Vec<u8>, Vec<u8>)>,
    /// Stored node groups that this batch's map version supersedes; recorded so that a
    /// later commit can delete them.
    pub map_stale: Vec<StaleGroup>,
    /// Deletes the recorded superseded groups (and their records) with
    /// [`StaleGroup::superseded_at`] ≤ this version, oldest first, at most
    /// [`MAX_MAP_PRUNE_PER_COMMIT`] of them (the rest go with later commits); 0 deletes none.
    /// The caller guarantees that no map version below it is read any more.
    pub map_prune_through: u64,
    /// New history rows: `(SHA-256(ref), row)`.
    pub history: Vec<(Hash, HistoryItem)>,
    /// Allowlist changes, in log order.
    pub publishers: Vec<PublisherRow>,
    /// The checkpoint the batch ends with.
    pub checkpoint: CheckpointRow,
}

/// Which stored value is damaged.
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    /// A fixed-width value has the wrong length.
    #[error("{what} has {found} bytes, expected {expected}")]
    Length {
        /// What was read.
        what: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A column family the server creates is missing.
    #[error("column family {0} is missing")]
    MissingColumnFamily(&'static str),
    /// A leaf below the tree size is missing.
    #[error("entry {0} is missing")]
    MissingEntry(u64),
    /// A stored hash of the tree is missing.
    #[error("stored hash {0} is missing")]
    MissingHash(u64),
    /// An allowlist row is not `<prefix> <vkey>` in UTF-8.
    #[error("publisher row {0:?} is not `<prefix> <vkey>`")]
    PublisherRow(String),
}

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the data directory.
    #[error("data directory {0} is locked by another taglog-server; stop it first (only one sequencer per log)")]
    Locked(PathBuf),
    /// A filesystem error around the data directory.
    #[error("data directory {path}: {source}")]
    Dir {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened (damaged files, a foreign database, no space).
    #[error("cannot open the database {path}: {source}. If its files are damaged, restore the data directory from a backup; never delete it to start over with the same log key, which would fork the log")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's reason.
        #[source]
        source: rocksdb::Error,
    },
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// An I/O error (the memory backend reports its injected faults this way: ENOSPC, EIO).
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Stored bytes do not have the shape this server wrote: the database is damaged.
    #[error("corrupt database: {0}; restore from a backup taken by this server")]
    Corrupt(#[from] Corruption),
    /// A commit was planned on another tree size than the stored one.
    #[error("commit planned on size {planned}, but the store holds size {stored}; the sequencer's view is stale and must be reloaded")]
    SizeMismatch {
        /// [`Batch::old_size`].
        planned: u64,
        /// The stored size.
        stored: u64,
    },
    /// A publish would make the published size go backwards.
    #[error("publishing size {size} would go back from the published size {published}")]
    PublishedRegression {
        /// The size offered.
        size: u64,
        /// The size already published.
        published: u64,
    },
}

/// The storage contract of one log; see the module documentation for its guarantees.
///
/// Reads block (call them off the async runtime). Every method may fail with
/// [`StoreError`]; a missing row that must exist is [`StoreError::Corrupt`].
pub trait LogStore: Send + Sync {
    /// The committed tree size (0 for a new log).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure or a damaged row.
    fn size(&self) -> Result<u64, StoreError>;

    /// The log time of the newest state leaf (0 for a new log).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure or a damaged row.
    fn last_time(&self) -> Result<u64, StoreError>;

    /// The leaf at `index`, if stored.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// `count` consecutive leaves from `start`; all must exist.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure, [`Corruption::MissingEntry`].
    fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Stored Merkle hashes by stored-hash index, in the order asked; all must exist.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure, [`Corruption::MissingHash`].
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError>;

    /// A tag-map node group by its key bytes (`None` also for a pruned group).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    fn map_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The index of the logged leaf with this leaf hash, if any.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure or a damaged row.
    fn dedup(&self, leaf: &Hash) -> Result<Option<u64>, StoreError>;

    /// The newest logged binding of a ref (by `SHA-256(ref)`).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure or a damaged row.
    fn ref_latest(&self, ref_key: &Hash) -> Result<Option<HistoryItem>, StoreError>;

    /// Up to `limit` bindings of a ref with version ≥ `from_version`, oldest first.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure or a damaged row.
    fn ref_history(
        &self,
        ref_key: &Hash,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<HistoryItem>, StoreError>;

    /// The log-signed checkpoint note of `size`, if the log signed one.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The cosignature lines stored for the checkpoint of `size` (empty if none).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    fn cosignatures(&self, size: u64) -> Result<Vec<u8>, StoreError>;

    /// The size of the newest published checkpoint (0 if none).
    ///
    /// # Errors
    /// [`StoreError`] on a read failure or a damaged row.
    fn published_size(&self) -> Result<u64, StoreError>;

    /// The logged allowlist as `(prefix, vkey)` pairs.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure, [`Corruption::PublisherRow`].
    fn publishers(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// The persisted halt record, if sequencing was halted and not cleared.
    ///
    /// # Errors
    /// [`StoreError`] on a read failure.
    fn halt(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes `batch` atomically and durably, deleting the superseded map groups it asks for
    /// ([`Batch::map_prune_through`]) in the same write; see the module documentation.
    ///
    /// # Errors
    /// [`StoreError::SizeMismatch`] (nothing written); any other error: the batch may or may
    /// not be persisted.
    fn commit(&self, batch: &Batch) -> Result<(), StoreError>;

    /// Durably records the cosignature lines of the checkpoint of `size` and makes it the
    /// published checkpoint.
    ///
    /// # Errors
    /// [`StoreError::PublishedRegression`] (nothing written) if `size` is below the published
    /// size; any other error: the write may or may not be persisted.
    fn publish(&self, size: u64, cosignatures: &[u8]) -> Result<(), StoreError>;

    /// Durably sets (`Some`) or clears (`None`) the halt record.
    ///
    /// # Errors
    /// [`StoreError`]: the write may or may not be persisted.
    fn set_halt(&self, record: Option<&[u8]>) -> Result<(), StoreError>;
}

/// A big-endian u64 from exactly 8 stored bytes.
pub(crate) fn read_u64(what: &'static str, bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| length(what, 8, bytes.len()))
}

/// A hash from exactly 32 stored bytes.
pub(crate) fn read_hash(what: &'static str, bytes: &[u8]) -> Result<Hash, StoreError> {
    Hash::from_slice(bytes).ok_or_else(|| length(what, taglog_proofs::hash::HASH_LEN, bytes.len()))
}

fn length(what: &'static str, expected: usize, found: usize) -> StoreError {
    StoreError::Corrupt(Corruption::Length {
        what,
        expected,
        found,
    })
}
