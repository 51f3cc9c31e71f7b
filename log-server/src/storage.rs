//! Durable state of one log in RocksDB (DESIGN §5 "Storage").
//!
//! Column families: `entries` (index → leaf bytes), `hashes` (Go sumdb stored-hash index →
//! 32 bytes), `map` (versioned tag-map node groups, opaque to this module), `history`
//! (SHA-256(ref) ‖ version → index ‖ leaf hash), `dedup` (leaf hash → index), `publishers`
//! (the logged allowlist), and `meta` (tree size, signed checkpoints by size, cosignatures).
//!
//! Guarantees: every integration batch is one [`Batch`] written with `sync = true`, so a
//! crash leaves either all or nothing of a batch, and the stored checkpoint always matches
//! the stored hashes. The data directory is locked exclusively for the life of [`Storage`].
//! Out of scope: deciding what to write (the sequencer does) and parsing any format.

use std::fs::File;
use std::path::{Path, PathBuf};

use fs2::FileExt as _;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, Direction, IteratorMode, Options,
    ReadOptions, SliceTransform, WriteBatch, WriteOptions, DB,
};
use taglog_proofs::hash::{Hash, HASH_LEN};

const CF_ENTRIES: &str = "entries";
const CF_HASHES: &str = "hashes";
const CF_MAP: &str = "map";
const CF_HISTORY: &str = "history";
const CF_DEDUP: &str = "dedup";
const CF_PUBLISHERS: &str = "publishers";
const CF_META: &str = "meta";
const ALL_CFS: [&str; 7] = [
    CF_ENTRIES,
    CF_HASHES,
    CF_MAP,
    CF_HISTORY,
    CF_DEDUP,
    CF_PUBLISHERS,
    CF_META,
];

/// Shared block cache of all column families.
const BLOCK_CACHE_BYTES: usize = 256 << 20;
/// Bloom filter bits per key (≈1 % false positives).
const BLOOM_BITS_PER_KEY: f64 = 10.0;
/// Write-ahead log kept before RocksDB flushes the column families that pin it.
const MAX_TOTAL_WAL_BYTES: u64 = 128 << 20;

const META_SIZE: &[u8] = b"size";
const META_TIME: &[u8] = b"time";
const META_CHECKPOINT: &[u8] = b"ckpt/";
const META_COSIGS: &[u8] = b"cosig/";
const META_PUBLISHED: &[u8] = b"published";

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Another process holds the data directory.
    #[error("data directory {0} is locked by another taglog-server; stop it first (only one sequencer per log)")]
    Locked(PathBuf),
    /// A filesystem error around the data directory.
    #[error("data directory {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The database could not be opened (damaged files, a foreign database, no space).
    #[error("cannot open the database {path}: {source}. If its files are damaged, restore the data directory from a backup; never delete it to start over with the same log key, which would fork the log")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's reason.
        source: rocksdb::Error,
    },
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    /// Stored bytes do not have the shape this module wrote: the database is damaged.
    #[error("corrupt database: {0}; restore from a backup taken by this server")]
    Corrupt(String),
}

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

/// The open database plus the exclusive lock on its directory.
pub struct Storage {
    db: DB,
    _lock: File,
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn read_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StorageError::Corrupt(format!("expected 8 bytes, found {}", bytes.len())))
}

fn read_hash(bytes: &[u8]) -> Result<Hash, StorageError> {
    Hash::from_slice(bytes).ok_or_else(|| {
        StorageError::Corrupt(format!(
            "expected a 32-byte hash, found {} bytes",
            bytes.len()
        ))
    })
}

fn meta_key(prefix: &[u8], size: u64) -> Vec<u8> {
    [prefix, &be(size)].concat()
}

impl Storage {
    /// Opens (creating if needed) the database in `dir` and locks the directory.
    ///
    /// # Errors
    /// [`StorageError::Locked`] if another process holds the lock, I/O and RocksDB errors.
    pub fn open(dir: &Path) -> Result<Storage, StorageError> {
        let io = |source| StorageError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = File::create(dir.join("LOCK.taglog")).map_err(io)?;
        lock.try_lock_exclusive()
            .map_err(|_| StorageError::Locked(dir.to_path_buf()))?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // Rarely written column families (publishers, meta) would otherwise pin every WAL
        // file until their own memtable fills: cap the WAL so RocksDB flushes them.
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        // Every read is a point lookup (or a short prefix scan of one ref's history): bloom
        // filters let a lookup skip table files that cannot hold the key, and one shared
        // block cache keeps the hot tree hashes and upper map groups in memory.
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        let cfs = ALL_CFS.iter().map(|n| {
            let mut cf = Options::default();
            cf.set_block_based_table_factory(&table);
            if *n == CF_HISTORY {
                // Rows are ref key (32 bytes) ‖ version: filter on the ref key, so looking up
                // a ref that was never bound (most submissions) skips every table file.
                cf.set_prefix_extractor(SliceTransform::create_fixed_prefix(HASH_LEN));
                cf.set_memtable_prefix_bloom_ratio(0.1);
            }
            ColumnFamilyDescriptor::new(*n, cf)
        });
        let path = dir.join("db");
        let db = DB::open_cf_descriptors(&opts, &path, cfs)
            .map_err(|source| StorageError::Open { path, source })?;
        Ok(Storage { db, _lock: lock })
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Corrupt(format!("missing column family {name}")))
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    /// The committed tree size (0 for a new log).
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`].
    pub fn size(&self) -> Result<u64, StorageError> {
        self.get(CF_META, META_SIZE)?
            .map_or(Ok(0), |b| read_u64(&b))
    }

    /// The time of the newest log-authored leaf (0 if none).
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`].
    pub fn last_time(&self) -> Result<u64, StorageError> {
        self.get(CF_META, META_TIME)?
            .map_or(Ok(0), |b| read_u64(&b))
    }

    /// The leaf at `index`, if stored.
    ///
    /// # Errors
    /// RocksDB errors.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(CF_ENTRIES, &be(index))
    }

    /// `count` consecutive leaves starting at `start`; all must exist.
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`] if one is missing.
    pub fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StorageError> {
        let cf = self.cf(CF_ENTRIES)?;
        let keys: Vec<_> = (start..start.saturating_add(count))
            .map(|i| (cf, be(i)))
            .collect();
        self.db
            .multi_get_cf(keys)
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r?.ok_or_else(|| {
                    StorageError::Corrupt(format!("entry {} missing", start + i as u64))
                })
            })
            .collect()
    }

    /// Stored Merkle hashes by stored-hash index; all must exist.
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`] if one is missing or malformed.
    pub fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StorageError> {
        let cf = self.cf(CF_HASHES)?;
        let keys: Vec<_> = indexes.iter().map(|i| (cf, be(*i))).collect();
        self.db
            .multi_get_cf(keys)
            .into_iter()
            .zip(indexes)
            .map(|(r, i)| match r? {
                Some(b) => read_hash(&b),
                None => Err(StorageError::Corrupt(format!("stored hash {i} missing"))),
            })
            .collect()
    }

    /// A map node group by its key (bytes chosen by the map layer).
    ///
    /// # Errors
    /// RocksDB errors.
    pub fn map_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(CF_MAP, key)
    }

    /// The index of a logged leaf with this hash, if any (dedup).
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`].
    pub fn dedup(&self, leaf: &Hash) -> Result<Option<u64>, StorageError> {
        self.get(CF_DEDUP, &leaf.0)?
            .map(|b| read_u64(&b))
            .transpose()
    }

    fn parse_history(key: &[u8], value: &[u8]) -> Result<HistoryItem, StorageError> {
        let version = read_u64(key.get(32..).unwrap_or_default())?;
        let index = read_u64(value.get(..8).unwrap_or_default())?;
        let leaf_hash = read_hash(value.get(8..).unwrap_or_default())?;
        Ok(HistoryItem {
            version,
            index,
            leaf_hash,
        })
    }

    /// The newest logged binding of a ref (by `SHA-256(ref)`).
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`].
    pub fn ref_latest(&self, ref_key: &Hash) -> Result<Option<HistoryItem>, StorageError> {
        let upper = [&ref_key.0[..], &be(u64::MAX)].concat();
        let mut it = self.db.iterator_cf_opt(
            self.cf(CF_HISTORY)?,
            Self::one_ref(ref_key),
            IteratorMode::From(&upper, Direction::Reverse),
        );
        match it.next() {
            Some(r) => {
                let (k, v) = r?;
                if k.starts_with(&ref_key.0) {
                    Ok(Some(Self::parse_history(&k, &v)?))
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }

    /// Read options confining an iterator to the history rows of one ref (and letting
    /// RocksDB use the ref-key filters).
    fn one_ref(ref_key: &Hash) -> ReadOptions {
        let mut opts = ReadOptions::default();
        opts.set_prefix_same_as_start(true);
        opts.set_iterate_lower_bound(ref_key.0.to_vec());
        let mut upper = ref_key.0.to_vec();
        upper.extend_from_slice(&be(u64::MAX));
        upper.push(0);
        opts.set_iterate_upper_bound(upper);
        opts
    }

    /// Up to `limit` bindings of a ref with version ≥ `from_version`, oldest first.
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`].
    pub fn ref_history(
        &self,
        ref_key: &Hash,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<HistoryItem>, StorageError> {
        let start = [&ref_key.0[..], &be(from_version)].concat();
        let it = self.db.iterator_cf_opt(
            self.cf(CF_HISTORY)?,
            Self::one_ref(ref_key),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for r in it {
            let (k, v) = r?;
            if !k.starts_with(&ref_key.0) || out.len() >= limit {
                break;
            }
            out.push(Self::parse_history(&k, &v)?);
        }
        Ok(out)
    }

    /// The log-signed checkpoint note of a given size, if the log signed one.
    ///
    /// # Errors
    /// RocksDB errors.
    pub fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(CF_META, &meta_key(META_CHECKPOINT, size))
    }

    /// Cosignature lines stored for the checkpoint of `size` (empty if none).
    ///
    /// # Errors
    /// RocksDB errors.
    pub fn cosignatures(&self, size: u64) -> Result<Vec<u8>, StorageError> {
        Ok(self
            .get(CF_META, &meta_key(META_COSIGS, size))?
            .unwrap_or_default())
    }

    /// Replaces the verified cosignature lines of the checkpoint of `size` and, if they meet
    /// the quorum, records it as the newest published checkpoint (synced).
    ///
    /// # Errors
    /// RocksDB errors.
    pub fn put_cosignatures(
        &self,
        size: u64,
        lines: &[u8],
        quorum_met: bool,
    ) -> Result<(), StorageError> {
        let mut wb = WriteBatch::default();
        let cf = self.cf(CF_META)?;
        wb.put_cf(cf, meta_key(META_COSIGS, size), lines);
        if quorum_met {
            wb.put_cf(cf, META_PUBLISHED, be(size));
        }
        self.write_synced(wb)
    }

    /// Size of the newest checkpoint whose stored cosignatures met the quorum (0 if none).
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`].
    pub fn published_size(&self) -> Result<u64, StorageError> {
        self.get(CF_META, META_PUBLISHED)?
            .map_or(Ok(0), |b| read_u64(&b))
    }

    /// The logged allowlist as `(prefix, vkey)` strings.
    ///
    /// # Errors
    /// RocksDB errors, [`StorageError::Corrupt`].
    pub fn publishers(&self) -> Result<Vec<(String, String)>, StorageError> {
        let mut out = Vec::new();
        for r in self
            .db
            .iterator_cf(self.cf(CF_PUBLISHERS)?, IteratorMode::Start)
        {
            let (k, _) = r?;
            let s = std::str::from_utf8(&k)
                .map_err(|_| StorageError::Corrupt("publisher key not UTF-8".into()))?;
            let (prefix, vkey) = s
                .split_once(' ')
                .ok_or_else(|| StorageError::Corrupt("publisher row".into()))?;
            out.push((prefix.to_owned(), vkey.to_owned()));
        }
        Ok(out)
    }

    /// Starts an integration batch.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            storage: self,
            wb: WriteBatch::default(),
        }
    }

    fn write_synced(&self, wb: WriteBatch) -> Result<(), StorageError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        Ok(self.db.write_opt(wb, &wo)?)
    }
}

/// An integration batch: everything one checkpoint adds, written atomically with sync.
pub struct Batch<'a> {
    storage: &'a Storage,
    wb: WriteBatch,
}

impl Batch<'_> {
    fn put(&mut self, cf: &str, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        let cf = self.storage.cf(cf)?;
        self.wb.put_cf(cf, key, value);
        Ok(())
    }

    /// Adds leaf `index` with its dedup row.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if a column family is missing.
    pub fn put_entry(&mut self, index: u64, entry: &[u8], leaf: &Hash) -> Result<(), StorageError> {
        self.put(CF_ENTRIES, &be(index), entry)?;
        self.put(CF_DEDUP, &leaf.0, &be(index))
    }

    /// Adds a stored Merkle hash.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if a column family is missing.
    pub fn put_hash(&mut self, stored_index: u64, hash: &Hash) -> Result<(), StorageError> {
        self.put(CF_HASHES, &be(stored_index), &hash.0)
    }

    /// Adds a map node group.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if a column family is missing.
    pub fn put_map_node(&mut self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.put(CF_MAP, key, value)
    }

    /// Adds a history row for a binding.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if a column family is missing.
    pub fn put_history(&mut self, ref_key: &Hash, item: &HistoryItem) -> Result<(), StorageError> {
        let key = [&ref_key.0[..], &be(item.version)].concat();
        let value = [&be(item.index)[..], &item.leaf_hash.0].concat();
        self.put(CF_HISTORY, &key, &value)
    }

    /// Records an allowlist change (`add = false` removes the pair).
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if a column family is missing.
    pub fn set_publisher(
        &mut self,
        prefix: &str,
        vkey: &str,
        add: bool,
    ) -> Result<(), StorageError> {
        let key = format!("{prefix} {vkey}");
        let cf = self.storage.cf(CF_PUBLISHERS)?;
        if add {
            self.wb.put_cf(cf, key.as_bytes(), b"");
        } else {
            self.wb.delete_cf(cf, key.as_bytes());
        }
        Ok(())
    }

    /// Sets the new tree size, log time and its log-signed checkpoint.
    ///
    /// # Errors
    /// [`StorageError::Corrupt`] if a column family is missing.
    pub fn put_checkpoint(
        &mut self,
        size: u64,
        time: u64,
        note: &[u8],
    ) -> Result<(), StorageError> {
        self.put(CF_META, META_SIZE, &be(size))?;
        self.put(CF_META, META_TIME, &be(time))?;
        self.put(CF_META, &meta_key(META_CHECKPOINT, size), note)
    }

    /// Writes the batch with `sync = true`. Nothing of it is visible before this returns Ok.
    ///
    /// # Errors
    /// RocksDB errors: the batch may or may not be persisted; the caller must stop sequencing.
    pub fn commit(self) -> Result<(), StorageError> {
        self.storage.write_synced(self.wb)
    }
}
