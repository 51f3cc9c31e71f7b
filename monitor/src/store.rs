//! The monitor's replay data on disk (DESIGN.md §6): the tag map and the notice history,
//! in RocksDB under `<state-dir>/replay-db`, so the monitor's memory does not grow with the
//! number of refs or bindings.
//!
//! Three key spaces, each behind a one-byte prefix:
//! - `g` ‖ [`NodeKey::to_bytes`] → [`NodeGroup::to_bytes`]: the map's node groups, versioned
//!   and copy-on-write exactly as the server stores them ([`taglog_proofs::map::update`]).
//!   [`DiskMap`] is the replay checker's [`MapState`] over them, with the groups of the top
//!   [`CACHED_NIBBLES`] levels decoded in memory (at most 1 + 16 + 256 + 4096 groups).
//! - `b` ‖ SHA-256(ref ‖ "\n" ‖ digest) ‖ index (u64 BE): one row per binding of a ref to a
//!   digest, for the rebind-to-old-digest notice.
//! - `c` ‖ SHA-256(ref) ‖ index (u64 BE) → digest: the digest each binding set.
//! - `B` ‖ SHA-256(ref ‖ "\n" ‖ digest) → index, and `C` ‖ SHA-256(ref) → index ‖ digest: the
//!   latest of those rows, written in the same batch, so that the notices need one point
//!   lookup each (a backward seek over the history rows costs several times more). A latest
//!   row at or after the entry being checked was written by a range checked but not saved
//!   (a crash); only then are the history rows read.
//!
//! Crash safety, with `state.json` (see [`crate::state`]) as the one record of progress:
//! nothing here but the latest rows is ever overwritten with a different value. Groups are
//! keyed by the map version that wrote them (a checkpoint size) and the notice rows by entry
//! index, and a replay reads only what lies before its position: the map at the version named
//! in the saved state, the notice rows of earlier entries. So rows written by a range that was
//! checked but not saved (a crash) are ignored, and rewritten identically when that range is
//! checked again. [`DiskMap::sync`] makes every write durable before the state that refers to
//! it is saved; groups that the saved map version no longer uses are deleted only after that
//! save ([`DiskMap::saved`]). A crash in between leaves unused groups behind (the ones a
//! range checked since the previous save had written), never a missing one.
//!
//! Out of scope: the replay rules ([`taglog_proofs::rules`]) and what the notices mean
//! ([`crate::checks`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use rocksdb::{BlockBasedOptions, Cache, Direction, IteratorMode, Options, WriteBatch, DB};
use taglog_proofs::hash::Hash;
use taglog_proofs::map::{
    self, Child, MapStore, MapStoreError, MapValue, NodeGroup, NodeKey, MAX_GROUP_NIBBLES,
};
use taglog_proofs::rules::MapState;

/// Map levels (nibbles from the root) whose groups are kept decoded in memory.
pub const CACHED_NIBBLES: u8 = 3;
/// RocksDB's block cache (compressed and uncompressed table blocks).
pub const BLOCK_CACHE_BYTES: usize = 32 << 20;
/// RocksDB's memtable size (two may exist at once).
pub const WRITE_BUFFER_BYTES: usize = 16 << 20;
/// The WAL is capped so that the memtables are flushed and old logs dropped.
pub const MAX_TOTAL_WAL_BYTES: u64 = 64 << 20;
/// The directory (inside the state directory) holding the database.
pub const DB_DIR: &str = "replay-db";

const GROUP: u8 = b'g';
const BOUND: u8 = b'b';
const CURRENT: u8 = b'c';
const BOUND_LATEST: u8 = b'B';
const CURRENT_LATEST: u8 = b'C';
/// Present once every history row has its latest row (written when the database is created,
/// or after the latest rows were built from the history of an earlier database).
const LATEST_ROWS_MARK: &[u8] = b"mlatest-rows";

/// Why the replay database failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB could not open the database.
    #[error("replay database {path}: {source}")]
    Open {
        /// The database directory.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: rocksdb::Error,
    },
    /// A read or write failed.
    #[error("replay database: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A stored value does not decode.
    #[error("replay database is corrupt: {0}")]
    Corrupt(String),
}

impl From<StoreError> for MapStoreError {
    fn from(e: StoreError) -> MapStoreError {
        MapStoreError::Backend(Box::new(e))
    }
}

/// The replay database (shared by the map and the notices).
#[derive(Clone)]
pub struct ReplayDb {
    db: Arc<DB>,
}

impl std::fmt::Debug for ReplayDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayDb")
            .field("path", &self.db.path())
            .finish()
    }
}

fn key(prefix: u8, id: &[u8], index: Option<u64>) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len() + 8);
    k.push(prefix);
    k.extend_from_slice(id);
    if let Some(i) = index {
        k.extend_from_slice(&i.to_be_bytes());
    }
    k
}

impl ReplayDb {
    /// Opens (creating if needed) the database in `state_dir`. The caller holds the state
    /// directory's lock.
    ///
    /// # Errors
    /// [`StoreError::Open`].
    pub fn open(state_dir: &Path) -> Result<ReplayDb, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        opts.set_write_buffer_size(WRITE_BUFFER_BYTES);
        opts.set_max_write_buffer_number(2);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Every binding writes its notice rows; the WAL is written out when it is synced
        // (`sync`, before each state save), not once per write. Rows lost with the buffer in
        // a crash belong to a range not yet saved, which is checked again.
        opts.set_manual_wal_flush(true);
        opts.set_max_open_files(256);
        // Reads are point lookups of groups and short backward seeks over one key's rows:
        // bloom filters skip table files, one bounded cache keeps the hot blocks.
        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        // Index and filter blocks stay with their table files, outside the cache: in it, at
        // 10^6 bindings they pushed each other out, and every lookup read and decompressed
        // them again (a profile of the replay put most of its ordered thread there).
        table.set_cache_index_and_filter_blocks(false);
        opts.set_block_based_table_factory(&table);
        let path = state_dir.join(DB_DIR);
        let db = DB::open(&opts, &path).map_err(|source| StoreError::Open { path, source })?;
        let db = ReplayDb { db: Arc::new(db) };
        db.build_latest_rows()?;
        Ok(db)
    }

    /// Writes the latest row of every history row, once (a database written before the
    /// latest rows existed; for a new one this only sets the mark).
    fn build_latest_rows(&self) -> Result<(), StoreError> {
        if self.db.get_pinned(LATEST_ROWS_MARK)?.is_some() {
            return Ok(());
        }
        for (history, latest) in [(BOUND, BOUND_LATEST), (CURRENT, CURRENT_LATEST)] {
            let mut wb = WriteBatch::default();
            let it = self
                .db
                .iterator(IteratorMode::From(&[history], Direction::Forward));
            for row in it {
                let (k, v) = row?;
                if k.first() != Some(&history) {
                    break;
                }
                // Rows of one id come in index order: the last one written wins.
                let (Some(id), Some(index)) = (k.get(1..33), k.get(33..41)) else {
                    return Err(StoreError::Corrupt(format!(
                        "history row key {}",
                        hex::encode(&k)
                    )));
                };
                let value = if history == BOUND {
                    index.to_vec()
                } else {
                    [index, &v].concat()
                };
                wb.put(key(latest, id, None), value);
                if wb.len() >= 10_000 {
                    self.write(std::mem::take(&mut wb))?;
                }
            }
            self.write(wb)?;
        }
        self.db.put(LATEST_ROWS_MARK, [])?;
        self.sync()
    }

    /// The last row `prefix ‖ id ‖ i` with `i < before`, from the latest row `latest ‖ id`
    /// (index ‖ value) when it lies before `before`, else from the history rows.
    fn latest_before(
        &self,
        latest: u8,
        prefix: u8,
        id: &[u8],
        before: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(row) = self.db.get_pinned(key(latest, id, None))? else {
            return Ok(None);
        };
        let index = row
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt(format!("latest row of {}", hex::encode(id))))?;
        if index < before {
            return Ok(Some((index, row.get(8..).unwrap_or_default().to_vec())));
        }
        self.last_before(prefix, id, before)
    }

    /// Makes every write so far durable (the WAL, synced).
    ///
    /// # Errors
    /// [`StoreError::Rocks`].
    pub fn sync(&self) -> Result<(), StoreError> {
        Ok(self.db.flush_wal(true)?)
    }

    fn write(&self, wb: WriteBatch) -> Result<(), StoreError> {
        Ok(self.db.write(wb)?)
    }

    /// The value of the last row `prefix ‖ id ‖ i` with `i < before`: (i, value).
    fn last_before(
        &self,
        prefix: u8,
        id: &[u8],
        before: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(last) = before.checked_sub(1) else {
            return Ok(None);
        };
        let start = key(prefix, id, Some(last));
        let mut it = self
            .db
            .iterator(IteratorMode::From(&start, Direction::Reverse));
        let Some(row) = it.next() else {
            return Ok(None);
        };
        let (k, v) = row?;
        let head = 1 + id.len();
        if k.len() != head + 8 || k.get(..head) != start.get(..head) {
            return Ok(None);
        }
        let Some(i) = k.get(head..).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            return Ok(None);
        };
        Ok(Some((u64::from_be_bytes(i), v.to_vec())))
    }

    /// Records that entry `index` bound the ref with key `ref_key` to `digest` (`pair` =
    /// SHA-256(ref ‖ "\n" ‖ digest)) and returns what the notices need from the entries before
    /// it: the index of the last earlier binding of the same pair, and the digest the ref was
    /// bound to before.
    ///
    /// # Errors
    /// [`StoreError`] on a failed read or write or a corrupt row.
    pub fn note_binding(
        &self,
        index: u64,
        pair: &Hash,
        ref_key: &Hash,
        digest: &str,
    ) -> Result<(Option<u64>, Option<String>), StoreError> {
        let earlier = self
            .latest_before(BOUND_LATEST, BOUND, &pair.0, index)?
            .map(|(i, _)| i);
        let current =
            match self.latest_before(CURRENT_LATEST, CURRENT, &ref_key.0, index)? {
                None => None,
                Some((i, d)) => Some(String::from_utf8(d).map_err(|_| {
                    StoreError::Corrupt(format!("digest of entry {i} is not UTF-8"))
                })?),
            };
        let mut wb = WriteBatch::default();
        wb.put(key(BOUND, &pair.0, Some(index)), []);
        wb.put(key(CURRENT, &ref_key.0, Some(index)), digest.as_bytes());
        wb.put(key(BOUND_LATEST, &pair.0, None), index.to_be_bytes());
        wb.put(
            key(CURRENT_LATEST, &ref_key.0, None),
            [&index.to_be_bytes()[..], digest.as_bytes()].concat(),
        );
        self.write(wb)?;
        Ok((earlier, current))
    }

    /// Imports notice state kept in memory by an earlier monitor: pairs with the index of
    /// their last binding, refs with their current digest (recorded at `at`, an index before
    /// every entry still to be replayed).
    ///
    /// # Errors
    /// [`StoreError::Rocks`].
    pub fn import_notices(
        &self,
        bound: impl Iterator<Item = (Hash, u64)>,
        current: impl Iterator<Item = (Hash, String)>,
        at: u64,
    ) -> Result<(), StoreError> {
        let mut wb = WriteBatch::default();
        for (pair, i) in bound {
            wb.put(key(BOUND, &pair.0, Some(i)), []);
            wb.put(key(BOUND_LATEST, &pair.0, None), i.to_be_bytes());
        }
        for (ref_key, d) in current {
            wb.put(key(CURRENT, &ref_key.0, Some(at)), d.as_bytes());
            wb.put(
                key(CURRENT_LATEST, &ref_key.0, None),
                [&at.to_be_bytes()[..], d.as_bytes()].concat(),
            );
        }
        self.write(wb)?;
        self.sync()
    }

    fn get_group(&self, k: &NodeKey) -> Result<Option<NodeGroup>, MapStoreError> {
        let bytes = self
            .db
            .get_pinned(key(GROUP, &k.to_bytes(), None))
            .map_err(StoreError::from)?;
        bytes.map(|b| NodeGroup::from_bytes(&b)).transpose()
    }
}

/// The tag map of a replay on disk, at one version (see the module documentation).
pub struct DiskMap {
    db: ReplayDb,
    version: Option<u64>,
    root: Hash,
    /// Updates restored from a saved state that were not yet applied (bindings after the
    /// last state leaf when the state was saved): read before the disk, applied with the
    /// next batch.
    carry: BTreeMap<Hash, MapValue>,
    /// Decoded groups of the current version with at most [`CACHED_NIBBLES`] nibbles.
    cache: HashMap<NodeKey, NodeGroup>,
    /// Groups that no version since the last save uses, to delete once the state naming a
    /// newer version is saved.
    stale: Vec<NodeKey>,
}

impl std::fmt::Debug for DiskMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskMap")
            .field("version", &self.version)
            .field("root", &self.root)
            .field("carry", &self.carry.len())
            .field("cached", &self.cache.len())
            .finish()
    }
}

impl MapStore for DiskMap {
    fn get_group(&self, key: &NodeKey) -> Result<Option<Cow<'_, NodeGroup>>, MapStoreError> {
        if key.nibbles() <= CACHED_NIBBLES {
            if let Some(g) = self.cache.get(key) {
                return Ok(Some(Cow::Borrowed(g)));
            }
        }
        Ok(self.db.get_group(key)?.map(Cow::Owned))
    }
}

impl DiskMap {
    /// The map at `version` (`None`: the empty map) in `db`, with `carry` (updates not yet
    /// applied) on top.
    ///
    /// # Errors
    /// [`MapStoreError::MissingNode`] if that version is not stored, or a read error.
    pub fn open(
        db: ReplayDb,
        version: Option<u64>,
        carry: BTreeMap<Hash, MapValue>,
    ) -> Result<DiskMap, MapStoreError> {
        let mut m = DiskMap {
            db,
            version,
            root: Hash::ZERO,
            carry,
            cache: HashMap::new(),
            stale: Vec::new(),
        };
        if let Some(v) = version {
            m.root = map::root_hash(&m, v)?;
            // Load the cached levels.
            let mut level = vec![NodeKey::root(v)];
            while let Some(k) = level.pop() {
                let g = m.db.get_group(&k)?.ok_or(MapStoreError::MissingNode(k))?;
                if k.nibbles() < CACHED_NIBBLES && k.nibbles() < MAX_GROUP_NIBBLES {
                    for (slot, c) in g.children() {
                        if let Child::Subtree { version, .. } = c {
                            let mut path = *k.path();
                            set_nibble(&mut path, k.nibbles(), *slot);
                            level.push(NodeKey::new(*version, &path, k.nibbles() + 1));
                        }
                    }
                }
                m.cache.insert(k, g);
            }
        }
        Ok(m)
    }

    /// The version of the applied map (`None`: nothing applied yet).
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Updates restored from a saved state and not yet applied.
    pub fn carry(&self) -> &BTreeMap<Hash, MapValue> {
        &self.carry
    }

    /// The database.
    pub fn db(&self) -> &ReplayDb {
        &self.db
    }

    /// Makes every group written so far durable: call before saving a state that names
    /// [`DiskMap::version`].
    ///
    /// # Errors
    /// A RocksDB failure.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.db.sync()
    }

    /// Deletes the groups that the saved version no longer uses: call once the state naming
    /// [`DiskMap::version`] is saved.
    ///
    /// # Errors
    /// A RocksDB failure (the groups then stay, unused).
    pub fn saved(&mut self) -> Result<(), StoreError> {
        if self.stale.is_empty() {
            return Ok(());
        }
        let mut wb = WriteBatch::default();
        for k in self.stale.drain(..) {
            wb.delete(key(GROUP, &k.to_bytes(), None));
        }
        self.db.write(wb)
    }
}

/// Sets nibble `n` of `path` to `v`.
fn set_nibble(path: &mut Hash, n: u8, v: u8) {
    if let Some(b) = path.0.get_mut(usize::from(n / 2)) {
        if n & 1 == 0 {
            *b = (*b & 0x0f) | (v << 4);
        } else {
            *b = (*b & 0xf0) | (v & 0x0f);
        }
    }
}

impl MapState for DiskMap {
    type Error = MapStoreError;

    fn get(&self, key: &Hash) -> Result<Option<MapValue>, MapStoreError> {
        if let Some(v) = self.carry.get(key) {
            return Ok(Some(*v));
        }
        match self.version {
            None => Ok(None),
            Some(v) => map::get(self, v, key),
        }
    }

    fn apply(&mut self, version: u64, updates: &[(Hash, MapValue)]) -> Result<Hash, MapStoreError> {
        let merged: Vec<(Hash, MapValue)>;
        let batch = if self.carry.is_empty() {
            updates
        } else {
            let mut all = self.carry.clone();
            all.extend(updates.iter().copied());
            merged = all.into_iter().collect();
            &merged
        };
        if batch.is_empty() {
            return Ok(self.root);
        }
        let up = map::update(self, self.version, version, batch)?;
        let mut wb = WriteBatch::default();
        for (k, g) in &up.writes {
            wb.put(key(GROUP, &k.to_bytes(), None), g.to_bytes());
        }
        self.db.write(wb)?;
        for k in &up.stale {
            self.cache.remove(k);
        }
        for (k, g) in up.writes {
            if k.nibbles() <= CACHED_NIBBLES {
                self.cache.insert(k, g);
            }
        }
        self.stale.extend(up.stale);
        self.carry.clear();
        self.version = Some(up.version);
        self.root = up.root;
        Ok(up.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::hash::sha256;

    fn pair(d: &str) -> Hash {
        sha256(format!("r\n{d}").as_bytes())
    }

    #[test]
    fn notices_after_a_crash_read_only_rows_before_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let db = ReplayDb::open(dir.path()).unwrap();
        let r = sha256(b"r");
        assert_eq!(
            db.note_binding(5, &pair("a"), &r, "a").unwrap(),
            (None, None)
        );
        assert_eq!(
            db.note_binding(10, &pair("b"), &r, "b").unwrap(),
            (None, Some("a".into()))
        );
        assert_eq!(
            db.note_binding(20, &pair("a"), &r, "a").unwrap(),
            (Some(5), Some("b".into()))
        );
        // A range from entry 8 checked again (its first run was not saved): the rows of
        // entries 10 and 20 are from the future and ignored.
        assert_eq!(
            db.note_binding(8, &pair("a"), &r, "a").unwrap(),
            (Some(5), Some("a".into()))
        );
        assert_eq!(
            db.note_binding(10, &pair("b"), &r, "b").unwrap(),
            (None, Some("a".into()))
        );
        assert_eq!(
            db.note_binding(20, &pair("a"), &r, "a").unwrap(),
            (Some(8), Some("b".into()))
        );
    }

    #[test]
    fn latest_rows_are_built_for_a_database_with_history_rows_only() {
        let dir = tempfile::tempdir().unwrap();
        let r = sha256(b"r");
        {
            let db = ReplayDb::open(dir.path()).unwrap();
            db.note_binding(5, &pair("a"), &r, "a").unwrap();
            db.note_binding(10, &pair("b"), &r, "b").unwrap();
            // As an earlier monitor left it: no latest rows, no mark.
            let mut wb = WriteBatch::default();
            for id in [pair("a"), pair("b")] {
                wb.delete(key(BOUND_LATEST, &id.0, None));
            }
            wb.delete(key(CURRENT_LATEST, &r.0, None));
            wb.delete(LATEST_ROWS_MARK);
            db.write(wb).unwrap();
            assert_eq!(
                db.latest_before(CURRENT_LATEST, CURRENT, &r.0, 99).unwrap(),
                None
            );
        }
        let db = ReplayDb::open(dir.path()).unwrap();
        assert_eq!(
            db.note_binding(30, &pair("a"), &r, "a").unwrap(),
            (Some(5), Some("b".into()))
        );
    }
}
