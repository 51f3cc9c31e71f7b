//! The RocksDB backend of [`LogStore`] (the server's storage).
//!
//! Column families: `entries` (index → leaf bytes), `hashes` (Go sumdb stored-hash index →
//! 32 bytes), `map` (versioned tag-map node groups, opaque here), `map_stale` (superseding
//! version ‖ group key → empty: the superseded groups not yet deleted), `history`
//! (SHA-256(ref) ‖ version → index ‖ leaf hash), `dedup` (leaf hash → index), `publishers`
//! (the logged allowlist, keys `<prefix> <vkey>`), and `meta` (tree size, log time, signed
//! checkpoints by size, cosignatures by size, the published size, the halt record, the version
//! through which superseded map groups are deleted). Integers are u64 big-endian. This layout
//! is the on-disk format: data directories of earlier versions open unchanged (the halt
//! record, `map_stale` and the pruned version are new and optional; groups superseded before
//! `map_stale` existed are kept).
//!
//! Guarantees: each write is one `WriteBatch` with `sync = true`, so a crash leaves all or
//! nothing of it; the size check of a commit and the regression check of a publish happen
//! under one writer lock; the data directory is locked exclusively (`LOCK.taglog`) for the
//! life of the store. Out of scope: deciding what to write.

use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

use fs2::FileExt as _;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode,
    Options, ReadOptions, SliceTransform, WriteBatch, WriteBufferManager, WriteOptions, DB,
};
use taglog_proofs::hash::{Hash, HASH_LEN};

use super::upper::UpperHashes;
use super::{
    read_hash, read_u64, Batch, Corruption, HistoryItem, LogStore, StoreError,
    MAX_MAP_PRUNE_PER_COMMIT,
};

const CF_ENTRIES: &str = "entries";
const CF_HASHES: &str = "hashes";
const CF_MAP: &str = "map";
const CF_MAP_STALE: &str = "map_stale";
const CF_HISTORY: &str = "history";
const CF_DEDUP: &str = "dedup";
const CF_PUBLISHERS: &str = "publishers";
const CF_META: &str = "meta";
/// Every column family, in creation order.
pub const COLUMN_FAMILIES: [&str; 8] = [
    CF_ENTRIES,
    CF_HASHES,
    CF_MAP,
    CF_HISTORY,
    CF_DEDUP,
    CF_PUBLISHERS,
    CF_META,
    CF_MAP_STALE,
];

/// The one memory budget of the store: the block cache of all column families, which the
/// memtables are charged to as well (a write buffer manager), so cache and memtables together
/// stay within it however large the log grows (index and filter blocks are cached, so
/// charged to it too; the process's own memory is not).
const BLOCK_CACHE_BYTES: usize = 256 << 20;
/// Of [`BLOCK_CACHE_BYTES`], what the memtables of all column families may take before the
/// largest is flushed.
const MEMTABLE_BYTES: usize = 128 << 20;
/// Bloom filter bits per key (≈1 % false positives).
const BLOOM_BITS_PER_KEY: f64 = 10.0;
/// Write-ahead log kept before RocksDB flushes the column families that pin it.
const MAX_TOTAL_WAL_BYTES: u64 = 128 << 20;

const META_SIZE: &[u8] = b"size";
const META_TIME: &[u8] = b"time";
const META_CHECKPOINT: &[u8] = b"ckpt/";
const META_COSIGS: &[u8] = b"cosig/";
const META_PUBLISHED: &[u8] = b"published";
const META_HALT: &[u8] = b"halt";
const META_MAP_PRUNED: &[u8] = b"map_pruned";

/// The open database plus the exclusive lock on its directory.
pub struct RocksStore {
    db: DB,
    /// Serialises the read-check-write of commits and publishes.
    writer: Mutex<()>,
    /// The tree's upper levels, read by every proof.
    upper: UpperHashes,
    _lock: File,
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn meta_key(prefix: &[u8], size: u64) -> Vec<u8> {
    [prefix, &be(size)].concat()
}

fn history_key(ref_key: &Hash, version: u64) -> Vec<u8> {
    [&ref_key.0[..], &be(version)].concat()
}

fn parse_history(key: &[u8], value: &[u8]) -> Result<HistoryItem, StoreError> {
    let version = read_u64(
        "history key version",
        key.get(HASH_LEN..).unwrap_or_default(),
    )?;
    let index = read_u64("history row index", value.get(..8).unwrap_or_default())?;
    let leaf_hash = read_hash("history row leaf hash", value.get(8..).unwrap_or_default())?;
    Ok(HistoryItem {
        version,
        index,
        leaf_hash,
    })
}

/// Read options confining an iterator to the history rows of one ref (and letting RocksDB
/// use the ref-key filters).
fn one_ref(ref_key: &Hash) -> ReadOptions {
    let mut opts = ReadOptions::default();
    opts.set_prefix_same_as_start(true);
    opts.set_iterate_lower_bound(ref_key.0.to_vec());
    let mut upper = history_key(ref_key, u64::MAX);
    upper.push(0);
    opts.set_iterate_upper_bound(upper);
    opts
}

fn options() -> (Options, Cache) {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    // Rarely written column families (publishers, meta) would otherwise pin every WAL file
    // until their own memtable fills: cap the WAL so RocksDB flushes them.
    opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
    // One shared block cache keeps the hot tree hashes and upper map groups in memory; the
    // memtables are charged to it, so it is the store's whole memory budget.
    let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
    opts.set_write_buffer_manager(&WriteBufferManager::new_write_buffer_manager_with_cache(
        MEMTABLE_BYTES,
        false,
        cache.clone(),
    ));
    (opts, cache)
}

/// Table options of one column family. Every read is a point lookup or a short prefix scan
/// of one ref's history. Bloom filters only pay where a lookup may miss (`bloom`): a ref or a
/// binding never seen before, which is most submissions. Entries, tree hashes and map groups
/// are read by keys that exist, so a filter there is memory and cache churn for nothing.
fn table(cache: &Cache, bloom: bool) -> BlockBasedOptions {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    if bloom {
        table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
    }
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    table
}

impl RocksStore {
    /// Opens (creating if needed) the database in `dir` and locks the directory.
    ///
    /// # Errors
    /// [`StoreError::Locked`] if another process holds the lock, [`StoreError::Dir`] for the
    /// directory, [`StoreError::Open`] for a database RocksDB cannot open.
    pub fn open(dir: &Path) -> Result<RocksStore, StoreError> {
        let io = |source| StoreError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = File::create(dir.join("LOCK.taglog")).map_err(io)?;
        lock.try_lock_exclusive()
            .map_err(|_| StoreError::Locked(dir.to_path_buf()))?;
        let (opts, cache) = options();
        let cfs = COLUMN_FAMILIES.iter().map(|n| {
            let mut cf = Options::default();
            cf.set_block_based_table_factory(&table(&cache, [CF_HISTORY, CF_DEDUP].contains(n)));
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
            .map_err(|source| StoreError::Open { path, source })?;
        Ok(RocksStore {
            db,
            writer: Mutex::new(()),
            upper: UpperHashes::default(),
            _lock: lock,
        })
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or(StoreError::Corrupt(Corruption::MissingColumnFamily(name)))
    }

    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    fn meta_u64(&self, key: &[u8], what: &'static str) -> Result<u64, StoreError> {
        self.get(CF_META, key)?
            .map_or(Ok(0), |b| read_u64(what, &b))
    }

    fn write_synced(&self, wb: WriteBatch) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        Ok(self.db.write_opt(wb, &wo)?)
    }

    fn write_batch(&self, batch: &Batch) -> Result<WriteBatch, StoreError> {
        let mut wb = WriteBatch::default();
        let (entries, dedup) = (self.cf(CF_ENTRIES)?, self.cf(CF_DEDUP)?);
        for e in &batch.entries {
            wb.put_cf(entries, be(e.index), &e.bytes);
            wb.put_cf(dedup, e.leaf_hash.0, be(e.index));
        }
        let hashes = self.cf(CF_HASHES)?;
        for (i, h) in &batch.hashes {
            wb.put_cf(hashes, be(*i), h.0);
        }
        let map = self.cf(CF_MAP)?;
        for (k, v) in &batch.map_nodes {
            wb.put_cf(map, k, v);
        }
        let stale = self.cf(CF_MAP_STALE)?;
        for g in &batch.map_stale {
            wb.put_cf(stale, [&be(g.superseded_at)[..], &g.key].concat(), b"");
        }
        let history = self.cf(CF_HISTORY)?;
        for (ref_key, item) in &batch.history {
            let value = [&be(item.index)[..], &item.leaf_hash.0].concat();
            wb.put_cf(history, history_key(ref_key, item.version), value);
        }
        let publishers = self.cf(CF_PUBLISHERS)?;
        for p in &batch.publishers {
            let key = format!("{} {}", p.prefix, p.vkey);
            if p.add {
                wb.put_cf(publishers, key.as_bytes(), b"");
            } else {
                wb.delete_cf(publishers, key.as_bytes());
            }
        }
        let meta = self.cf(CF_META)?;
        let c = &batch.checkpoint;
        wb.put_cf(meta, META_SIZE, be(c.size));
        wb.put_cf(meta, META_TIME, be(c.time));
        wb.put_cf(meta, meta_key(META_CHECKPOINT, c.size), &c.note);
        Ok(wb)
    }

    /// Adds to `wb` the deletion of the recorded superseded map groups with a superseding
    /// version ≤ `through` (oldest first, at most [`MAX_MAP_PRUNE_PER_COMMIT`]), and the new
    /// pruned version. Call under the writer lock.
    fn prune_map(&self, wb: &mut WriteBatch, through: u64) -> Result<(), StoreError> {
        let done = self.meta_u64(META_MAP_PRUNED, "map pruned version")?;
        if through <= done {
            return Ok(());
        }
        let (map, stale) = (self.cf(CF_MAP)?, self.cf(CF_MAP_STALE)?);
        let mut opts = ReadOptions::default();
        // Rows at or below `done` are deleted: starting above them skips their tombstones.
        opts.set_iterate_lower_bound(be(done + 1).to_vec());
        if let Some(end) = through.checked_add(1) {
            opts.set_iterate_upper_bound(be(end).to_vec());
        }
        let mut reached = through;
        let rows = self.db.iterator_cf_opt(stale, opts, IteratorMode::Start);
        for (deleted, row) in rows.enumerate() {
            let (k, _) = row?;
            let version = read_u64("stale map group version", k.get(..8).unwrap_or_default())?;
            if deleted >= MAX_MAP_PRUNE_PER_COMMIT {
                // Rows of `version` may remain: the next commit starts again at it.
                reached = version.saturating_sub(1).max(done);
                break;
            }
            wb.delete_cf(map, k.get(8..).unwrap_or_default());
            wb.delete_cf(stale, &k);
        }
        wb.put_cf(self.cf(CF_META)?, META_MAP_PRUNED, be(reached));
        Ok(())
    }
}

impl LogStore for RocksStore {
    fn size(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_SIZE, "tree size")
    }

    fn last_time(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_TIME, "log time")
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(CF_ENTRIES, &be(index))
    }

    fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let cf = self.cf(CF_ENTRIES)?;
        let end = start.saturating_add(count);
        let keys = (start..end).map(|i| (cf, be(i)));
        (start..end)
            .zip(self.db.multi_get_cf(keys))
            .map(|(i, r)| r?.ok_or(StoreError::Corrupt(Corruption::MissingEntry(i))))
            .collect()
    }

    fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        let mut out = vec![Hash::ZERO; indexes.len()];
        let missing = self.upper.lookup(indexes, &mut out);
        if missing.is_empty() {
            return Ok(out);
        }
        let cf = self.cf(CF_HASHES)?;
        let keys = missing
            .iter()
            .filter_map(|k| indexes.get(*k))
            .map(|i| (cf, be(*i)));
        for (r, k) in self.db.multi_get_cf(keys).into_iter().zip(&missing) {
            let i = indexes.get(*k).copied().unwrap_or_default();
            let h = match r? {
                Some(b) => read_hash("stored hash", &b)?,
                None => return Err(StoreError::Corrupt(Corruption::MissingHash(i))),
            };
            if let Some(slot) = out.get_mut(*k) {
                *slot = h;
            }
        }
        self.upper.insert(
            missing
                .iter()
                .filter_map(|k| Some((*indexes.get(*k)?, *out.get(*k)?))),
        );
        Ok(out)
    }

    fn map_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(CF_MAP, key)
    }

    fn dedup(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        self.get(CF_DEDUP, &leaf.0)?
            .map(|b| read_u64("dedup row", &b))
            .transpose()
    }

    fn ref_latest(&self, ref_key: &Hash) -> Result<Option<HistoryItem>, StoreError> {
        let upper = history_key(ref_key, u64::MAX);
        let mut it = self.db.iterator_cf_opt(
            self.cf(CF_HISTORY)?,
            one_ref(ref_key),
            IteratorMode::From(&upper, Direction::Reverse),
        );
        match it.next() {
            Some(r) => {
                let (k, v) = r?;
                if k.starts_with(&ref_key.0) {
                    Ok(Some(parse_history(&k, &v)?))
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }

    fn ref_history(
        &self,
        ref_key: &Hash,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        let start = history_key(ref_key, from_version);
        let it = self.db.iterator_cf_opt(
            self.cf(CF_HISTORY)?,
            one_ref(ref_key),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for r in it {
            let (k, v) = r?;
            if !k.starts_with(&ref_key.0) || out.len() >= limit {
                break;
            }
            out.push(parse_history(&k, &v)?);
        }
        Ok(out)
    }

    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(CF_META, &meta_key(META_CHECKPOINT, size))
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .get(CF_META, &meta_key(META_COSIGS, size))?
            .unwrap_or_default())
    }

    fn published_size(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_PUBLISHED, "published size")
    }

    fn publishers(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for r in self
            .db
            .iterator_cf(self.cf(CF_PUBLISHERS)?, IteratorMode::Start)
        {
            let (k, _) = r?;
            let bad = || {
                StoreError::Corrupt(Corruption::PublisherRow(
                    String::from_utf8_lossy(&k).into_owned(),
                ))
            };
            let s = std::str::from_utf8(&k).map_err(|_| bad())?;
            let (prefix, vkey) = s.split_once(' ').ok_or_else(bad)?;
            out.push((prefix.to_owned(), vkey.to_owned()));
        }
        Ok(out)
    }

    fn halt(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(CF_META, META_HALT)
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut wb = self.write_batch(batch)?;
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let stored = self.size()?;
        if stored != batch.old_size {
            return Err(StoreError::SizeMismatch {
                planned: batch.old_size,
                stored,
            });
        }
        self.prune_map(&mut wb, batch.map_prune_through)?;
        self.write_synced(wb)?;
        self.upper.insert(batch.hashes.iter().copied());
        Ok(())
    }

    fn publish(&self, size: u64, cosignatures: &[u8]) -> Result<(), StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let published = self.published_size()?;
        if size < published {
            return Err(StoreError::PublishedRegression { size, published });
        }
        let meta = self.cf(CF_META)?;
        let mut wb = WriteBatch::default();
        wb.put_cf(meta, meta_key(META_COSIGS, size), cosignatures);
        wb.put_cf(meta, META_PUBLISHED, be(size));
        self.write_synced(wb)
    }

    fn set_halt(&self, record: Option<&[u8]>) -> Result<(), StoreError> {
        let meta = self.cf(CF_META)?;
        let mut wb = WriteBatch::default();
        match record {
            Some(r) => wb.put_cf(meta, META_HALT, r),
            None => wb.delete_cf(meta, META_HALT),
        }
        self.write_synced(wb)
    }
}
