//! An in-memory [`LogStore`] with injectable faults, for tests that drive the real sequencer
//! and readers through storage failures (after Sunlight's memory backends and their
//! "failed and not persisted" / "failed but persisted" modes).
//!
//! A [`Fault`] names an operation ([`Op`]), what goes wrong ([`Effect`]) and when
//! ([`Schedule`]): for the next N calls of that operation, from its K-th call on, or at its
//! K-th call only. Injected
//! errors are [`StoreError::Io`] with the OS error a real disk gives (`ENOSPC`, `EIO`), so
//! callers cannot tell them from real ones. Without faults the store keeps every guarantee of
//! the contract (all-or-nothing commits, size check, monotonic published size); the store
//! can be shared by several sequencers in turn to test restarts.
//!
//! Out of scope: persistence across processes, and performance.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use taglog_proofs::hash::Hash;

use super::{Batch, Corruption, HistoryItem, LogStore, StoreError, MAX_MAP_PRUNE_PER_COMMIT};

/// `errno` for "No space left on device".
const ENOSPC: i32 = 28;
/// `errno` for "Input/output error".
const EIO: i32 = 5;

/// The operations a fault can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`LogStore::commit`].
    Commit,
    /// [`LogStore::publish`].
    Publish,
    /// [`LogStore::set_halt`].
    SetHalt,
    /// Every read method.
    Read,
    /// [`LogStore::size`] only (it also counts as a [`Op::Read`]).
    Size,
}

/// What an injected fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The write fails (EIO) and nothing of it is persisted.
    FailNotPersisted,
    /// The write is persisted, then reported failed (EIO), like a lost acknowledgement.
    PersistedButFailed,
    /// The write fails with ENOSPC and nothing of it is persisted.
    NoSpace,
    /// The operation fails with EIO (a read returns nothing; a write persists nothing).
    Eio,
}

/// When an injected fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// On the next `n` calls of the operation, then never again.
    Next(u64),
    /// On the `k`-th call of the operation (1-based, counted since the store was created) and
    /// every later one, until [`MemoryStore::clear_faults`].
    From(u64),
    /// On the `k`-th call of the operation only (1-based, counted since the store was
    /// created).
    At(u64),
}

/// One injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The operation it hits.
    pub op: Op,
    /// What goes wrong.
    pub effect: Effect,
    /// When.
    pub schedule: Schedule,
}

/// The stored state (compared whole by tests: `state()`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// Tree size.
    pub size: u64,
    /// Log time.
    pub time: u64,
    /// Leaves by index.
    pub entries: BTreeMap<u64, Vec<u8>>,
    /// Stored hashes by stored-hash index.
    pub hashes: BTreeMap<u64, Hash>,
    /// Map node groups.
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Superseded map node groups not yet deleted: (superseding version, group key).
    pub map_stale: BTreeSet<(u64, Vec<u8>)>,
    /// The version through which superseded map groups are deleted.
    pub map_pruned: u64,
    /// History rows by (ref key, version).
    pub history: BTreeMap<(Hash, u64), (u64, Hash)>,
    /// Dedup rows.
    pub dedup: BTreeMap<Hash, u64>,
    /// Allowlist rows `<prefix> <vkey>`.
    pub publishers: BTreeSet<String>,
    /// Signed checkpoints by size.
    pub checkpoints: BTreeMap<u64, Vec<u8>>,
    /// Cosignature lines by size.
    pub cosignatures: BTreeMap<u64, Vec<u8>>,
    /// Published size.
    pub published: u64,
    /// Halt record.
    pub halt: Option<Vec<u8>>,
}

#[derive(Default)]
struct Faults {
    active: Vec<(Fault, u64)>,
    calls: HashMap<Op, u64>,
}

impl Faults {
    /// Counts a call of `op` and returns the effect of the first fault that fires on it.
    fn fire(&mut self, op: Op) -> Option<Effect> {
        let call = self.calls.entry(op).or_insert(0);
        *call += 1;
        let call = *call;
        let hit = self.active.iter_mut().find(|(f, left)| {
            f.op == op
                && match f.schedule {
                    Schedule::Next(_) => *left > 0,
                    Schedule::From(k) => call >= k,
                    Schedule::At(k) => call == k,
                }
        })?;
        if let Schedule::Next(_) = hit.0.schedule {
            hit.1 -= 1;
        }
        Some(hit.0.effect)
    }
}

/// An in-memory store; see the module documentation.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    faults: Mutex<Faults>,
}

fn injected(effect: Effect) -> StoreError {
    let errno = if effect == Effect::NoSpace {
        ENOSPC
    } else {
        EIO
    };
    StoreError::Io(std::io::Error::from_raw_os_error(errno))
}

impl MemoryStore {
    /// An empty store without faults.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store holding `state` as it is (tests build damaged stores this way), without
    /// faults.
    pub fn with_state(state: State) -> MemoryStore {
        MemoryStore {
            state: Mutex::new(state),
            faults: Mutex::default(),
        }
    }

    /// Adds a fault (faults are tried in the order added).
    pub fn inject(&self, fault: Fault) {
        let left = match fault.schedule {
            Schedule::Next(n) => n,
            Schedule::From(_) | Schedule::At(_) => 0,
        };
        self.faults().active.push((fault, left));
    }

    /// Removes every fault (call counts are kept).
    pub fn clear_faults(&self) {
        self.faults().active.clear();
    }

    /// How many calls of `op` the store has seen.
    pub fn calls(&self, op: Op) -> u64 {
        self.faults().calls.get(&op).copied().unwrap_or(0)
    }

    /// A copy of the whole stored state (no fault fires, no call is counted).
    pub fn state(&self) -> State {
        self.lock().clone()
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state for a read, or the injected read error.
    fn read(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        match self.faults().fire(Op::Read) {
            Some(effect) => Err(injected(effect)),
            None => Ok(self.lock()),
        }
    }

    /// Runs a write under the faults of `op`: `apply` checks and writes (all or nothing).
    fn write(
        &self,
        op: Op,
        apply: impl FnOnce(&mut State) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let effect = self.faults().fire(op);
        match effect {
            None => apply(&mut self.lock()),
            Some(Effect::PersistedButFailed) => {
                apply(&mut self.lock())?;
                Err(injected(Effect::PersistedButFailed))
            }
            Some(e) => Err(injected(e)),
        }
    }
}

fn apply_batch(s: &mut State, batch: &Batch) -> Result<(), StoreError> {
    if s.size != batch.old_size {
        return Err(StoreError::SizeMismatch {
            planned: batch.old_size,
            stored: s.size,
        });
    }
    for e in &batch.entries {
        s.entries.insert(e.index, e.bytes.clone());
        s.dedup.insert(e.leaf_hash, e.index);
    }
    s.hashes.extend(batch.hashes.iter().copied());
    prune_map(s, batch.map_prune_through);
    s.map.extend(batch.map_nodes.iter().cloned());
    s.map_stale.extend(
        batch
            .map_stale
            .iter()
            .map(|g| (g.superseded_at, g.key.clone())),
    );
    for (k, item) in &batch.history {
        s.history
            .insert((*k, item.version), (item.index, item.leaf_hash));
    }
    for p in &batch.publishers {
        let row = format!("{} {}", p.prefix, p.vkey);
        if p.add {
            s.publishers.insert(row);
        } else {
            s.publishers.remove(&row);
        }
    }
    let c = &batch.checkpoint;
    s.size = c.size;
    s.time = c.time;
    s.checkpoints.insert(c.size, c.note.clone());
    Ok(())
}

/// Deletes the superseded map groups recorded with a superseding version ≤ `through`, as the
/// RocksDB backend does (oldest first, at most [`MAX_MAP_PRUNE_PER_COMMIT`] per commit).
fn prune_map(s: &mut State, through: u64) {
    if through <= s.map_pruned {
        return;
    }
    let due: Vec<(u64, Vec<u8>)> = s
        .map_stale
        .range((s.map_pruned + 1, Vec::new())..)
        .take_while(|(v, _)| *v <= through)
        .take(MAX_MAP_PRUNE_PER_COMMIT + 1)
        .cloned()
        .collect();
    let mut reached = through;
    for (i, row) in due.into_iter().enumerate() {
        if i >= MAX_MAP_PRUNE_PER_COMMIT {
            reached = row.0.saturating_sub(1).max(s.map_pruned);
            break;
        }
        s.map.remove(&row.1);
        s.map_stale.remove(&row);
    }
    s.map_pruned = reached;
}

fn item(key: &(Hash, u64), value: &(u64, Hash)) -> HistoryItem {
    HistoryItem {
        version: key.1,
        index: value.0,
        leaf_hash: value.1,
    }
}

impl LogStore for MemoryStore {
    fn size(&self) -> Result<u64, StoreError> {
        if let Some(effect) = self.faults().fire(Op::Size) {
            return Err(injected(effect));
        }
        Ok(self.read()?.size)
    }

    fn last_time(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.time)
    }

    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read()?.entries.get(&index).cloned())
    }

    fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let s = self.read()?;
        (start..start.saturating_add(count))
            .map(|i| {
                s.entries
                    .get(&i)
                    .cloned()
                    .ok_or(StoreError::Corrupt(Corruption::MissingEntry(i)))
            })
            .collect()
    }

    fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        let s = self.read()?;
        indexes
            .iter()
            .map(|i| {
                s.hashes
                    .get(i)
                    .copied()
                    .ok_or(StoreError::Corrupt(Corruption::MissingHash(*i)))
            })
            .collect()
    }

    fn map_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read()?.map.get(key).cloned())
    }

    fn dedup(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        Ok(self.read()?.dedup.get(leaf).copied())
    }

    fn ref_latest(&self, ref_key: &Hash) -> Result<Option<HistoryItem>, StoreError> {
        let s = self.read()?;
        let latest = s
            .history
            .range((*ref_key, 0)..=(*ref_key, u64::MAX))
            .next_back()
            .map(|(k, v)| item(k, v));
        Ok(latest)
    }

    fn ref_history(
        &self,
        ref_key: &Hash,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        let s = self.read()?;
        let rows = s
            .history
            .range((*ref_key, from_version)..=(*ref_key, u64::MAX))
            .take(limit)
            .map(|(k, v)| item(k, v))
            .collect();
        Ok(rows)
    }

    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read()?.checkpoints.get(&size).cloned())
    }

    fn cosignatures(&self, size: u64) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .read()?
            .cosignatures
            .get(&size)
            .cloned()
            .unwrap_or_default())
    }

    fn published_size(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.published)
    }

    fn publishers(&self) -> Result<Vec<(String, String)>, StoreError> {
        let s = self.read()?;
        s.publishers
            .iter()
            .map(|row| {
                row.split_once(' ')
                    .map(|(p, k)| (p.to_owned(), k.to_owned()))
                    .ok_or_else(|| StoreError::Corrupt(Corruption::PublisherRow(row.clone())))
            })
            .collect()
    }

    fn halt(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read()?.halt.clone())
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        self.write(Op::Commit, |s| apply_batch(s, batch))
    }

    fn publish(&self, size: u64, cosignatures: &[u8]) -> Result<(), StoreError> {
        self.write(Op::Publish, |s| {
            if size < s.published {
                return Err(StoreError::PublishedRegression {
                    size,
                    published: s.published,
                });
            }
            s.cosignatures.insert(size, cosignatures.to_vec());
            s.published = size;
            Ok(())
        })
    }

    fn set_halt(&self, record: Option<&[u8]>) -> Result<(), StoreError> {
        self.write(Op::SetHalt, |s| {
            s.halt = record.map(<[u8]>::to_vec);
            Ok(())
        })
    }
}
