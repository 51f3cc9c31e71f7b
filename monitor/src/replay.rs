//! The replay checker: re-derives everything a taglog log vouches for from its entries alone
//! (DESIGN.md §3.4–§3.6, §6), with the log's one rule book ([`taglog_proofs::rules`]).
//! Shared by `taglog-monitor` and `taglog-witness --audit`.
//!
//! Feed it every entry in index order ([`Replayer::check`], [`Replayer::check_many`]) and
//! mark each checkpoint boundary ([`Replayer::end_checkpoint`]). What is wrong with an entry
//! is a [`Violation`] (data, never an error): the caller decides (alert, 422, ...). This
//! module adds to the rule book only what a long replay needs: signatures verified on all
//! cores ahead of the (sequential) rules, and a durable form of the state ([`ReplayState`],
//! JSON; the tag map is rebuilt from it on load).
//!
//! The rules reach the tag map only through [`taglog_proofs::rules::MapState`]: the witness
//! holds it in memory ([`MemoryMap`], saved whole in [`ReplayState`]), the monitor on disk
//! ([`DiskMap`], whose saved state names a map version and carries only the bindings since
//! the last state leaf). Out of scope:
//! fetching entries, tree hashes and checkpoint signatures (the caller verifies that the
//! entries are the log's).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use taglog_proofs::hash::Hash;
use taglog_proofs::leaves::{Leaf, LeafError};
use taglog_proofs::map::{MapStoreError, MapValue};
use taglog_proofs::note::{KeyError, VerifierKey};
use taglog_proofs::refs::{RefError, RefPrefix};
use taglog_proofs::rules::{
    Allowlist, CheckError, Grant, Ledger, LedgerHead, MapState, MemoryMap, SignatureCheck,
};

use crate::store::{DiskMap, ReplayDb};

pub use taglog_proofs::rules::{Checked, Violation};

/// The most threads [`Replayer::check_many`] verifies signatures on.
pub const MAX_VERIFY_THREADS: usize = 16;

/// Fewer entries than this in one [`Replayer::check_many`] are checked on the calling thread.
const MIN_PARALLEL_CHECKS: usize = 64;

/// Entries per window of signature checks handed to a verifier thread by
/// [`Replayer::check_many`] (small enough that the first window is applied soon, large
/// enough that handing it over costs little next to its verifications).
pub const VERIFY_WINDOW: usize = 256;

/// One allowlist pair, as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admitted {
    /// The canonical prefix.
    pub prefix: String,
    /// The publisher vkey.
    pub key: String,
}

/// The current binding of one ref (the map value), as stored in [`ReplayState`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Current {
    /// Leaf index.
    pub index: u64,
    /// Version.
    pub version: u64,
    /// Leaf hash (64 hex digits).
    #[serde(with = "hex_hash")]
    pub leaf_hash: Hash,
}

impl From<MapValue> for Current {
    fn from(v: MapValue) -> Current {
        Current {
            index: v.index,
            version: v.version,
            leaf_hash: v.leaf_hash,
        }
    }
}

impl From<Current> for MapValue {
    fn from(c: Current) -> MapValue {
        MapValue {
            index: c.index,
            version: c.version,
            leaf_hash: c.leaf_hash,
        }
    }
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};
    use taglog_proofs::hash::Hash;

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h.0))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(&s)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// The durable replay state after entry `next_index − 1`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayState {
    /// Entries replayed.
    pub next_index: u64,
    /// The allowlist as logged so far.
    pub admitted: Vec<Admitted>,
    /// The tag map: hex SHA-256(ref) → current binding. With the map on disk
    /// (`map_version` set, or a fresh disk map), only the bindings not in that version.
    pub map: BTreeMap<String, Current>,
    /// With the map on disk: the map version (a checkpoint size) holding every binding not
    /// in `map`; `None` for the empty map (or a map held in memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_version: Option<u64>,
    /// The largest log-authored time so far.
    pub log_time: Option<u64>,
    /// Index of the last state leaf.
    pub last_state: Option<u64>,
}

impl ReplayState {
    /// JSON bytes (for a witness store).
    ///
    /// # Errors
    /// Only if serialization fails.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// Parses [`ReplayState::to_bytes`].
    ///
    /// # Errors
    /// If the bytes are not a replay state.
    pub fn from_bytes(bytes: &[u8]) -> Result<ReplayState, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Why a replay state cannot be loaded, or an entry cannot be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A stored allowlist prefix does not parse.
    #[error("replay state is corrupt: stored prefix {text:?}: {source}")]
    StoredPrefix {
        /// The stored text.
        text: String,
        /// Why it does not parse.
        source: RefError,
    },
    /// A stored allowlist key does not parse.
    #[error("replay state is corrupt: stored key {text:?}: {source}")]
    StoredKey {
        /// The stored text.
        text: String,
        /// Why it does not parse.
        source: KeyError,
    },
    /// A stored map key is not 64 hex digits.
    #[error("replay state is corrupt: map key {0:?} is not 64 hex digits")]
    StoredMapKey(String),
    /// Entries must be checked in index order.
    #[error("entry {given} given, but entry {expected} is next")]
    OutOfOrder {
        /// The index given.
        given: u64,
        /// The next index.
        expected: u64,
    },
    /// The tag map is inconsistent (a bug) or its database failed.
    #[error("tag map: {0}")]
    Map(#[source] MapStoreError),
    /// A signature verification thread failed (a bug); the entries before `index` are
    /// applied.
    #[error("signature verification failed for the entries from {index} on")]
    Verifier {
        /// The first entry not checked.
        index: u64,
    },
    /// The saved state names a map version the replay database does not hold.
    #[error("the replay database does not hold the tag map version {version} that the saved state names (restore the state directory or start with an empty one): {source}")]
    MissingMapVersion {
        /// The version named.
        version: u64,
        /// The failed read.
        #[source]
        source: MapStoreError,
    },
}

impl From<CheckError<MapStoreError>> for ReplayError {
    fn from(e: CheckError<MapStoreError>) -> ReplayError {
        match e {
            CheckError::OutOfOrder { given, expected } => {
                ReplayError::OutOfOrder { given, expected }
            }
            CheckError::Map(e) => ReplayError::Map(e),
        }
    }
}

/// A tag map the replay checker runs over and saves in a [`ReplayState`].
pub trait ReplayMap: MapState<Error = MapStoreError> {
    /// The entries a saved state must carry besides the ledger's pending updates.
    fn saved_entries(&self) -> Vec<(Hash, MapValue)>;
    /// The stored map version a saved state names.
    fn saved_version(&self) -> Option<u64>;
}

impl ReplayMap for MemoryMap {
    fn saved_entries(&self) -> Vec<(Hash, MapValue)> {
        self.entries().map(|(k, v)| (*k, *v)).collect()
    }
    fn saved_version(&self) -> Option<u64> {
        None
    }
}

impl ReplayMap for DiskMap {
    fn saved_entries(&self) -> Vec<(Hash, MapValue)> {
        self.carry().iter().map(|(k, v)| (*k, *v)).collect()
    }
    fn saved_version(&self) -> Option<u64> {
        self.version()
    }
}

/// The replay checker for one log: the rule book's [`Ledger`] over a tag map, and the
/// checker's clock.
#[derive(Clone, Debug)]
pub struct Replayer<M = MemoryMap> {
    ledger: Ledger<M>,
    now: Option<u64>,
    /// Signature verification threads of [`Replayer::check_many`] (0: every core).
    threads: usize,
}

/// The allowlist and map entries of a saved state.
type Parts = (Allowlist, Vec<(Hash, MapValue)>);

fn parts(state: &ReplayState) -> Result<Parts, ReplayError> {
    let mut grants = Vec::with_capacity(state.admitted.len());
    for a in &state.admitted {
        let prefix =
            RefPrefix::from_str(&a.prefix).map_err(|source| ReplayError::StoredPrefix {
                text: a.prefix.clone(),
                source,
            })?;
        let key = VerifierKey::from_str(&a.key).map_err(|source| ReplayError::StoredKey {
            text: a.key.clone(),
            source,
        })?;
        grants.push(Grant { prefix, key });
    }
    let mut entries = Vec::with_capacity(state.map.len());
    for (k, c) in &state.map {
        let key = hex::decode(k)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .ok_or_else(|| ReplayError::StoredMapKey(k.clone()))?;
        entries.push((key, MapValue::from(*c)));
    }
    Ok((Allowlist::from_grants(grants), entries))
}

fn head(state: &ReplayState) -> LedgerHead {
    LedgerHead {
        next_index: state.next_index,
        log_time: state.log_time,
        last_state: state.last_state,
    }
}

impl Replayer<DiskMap> {
    /// A checker over the map in `db`, resuming from a saved state (a fresh state: entry 0).
    /// A state saved with the whole map in memory (no `map_version`) is taken over: its map
    /// is written to disk with the next state leaf.
    ///
    /// # Errors
    /// As [`Replayer::from_state`], and [`ReplayError::Map`] if the named map version is not
    /// in `db`.
    pub fn on_disk(
        origin: &str,
        state: &ReplayState,
        db: ReplayDb,
    ) -> Result<Replayer<DiskMap>, ReplayError> {
        let (allowlist, entries) = parts(state)?;
        let map = DiskMap::open(db, state.map_version, entries.into_iter().collect()).map_err(
            |source| match state.map_version {
                Some(version) => ReplayError::MissingMapVersion { version, source },
                None => ReplayError::Map(source),
            },
        )?;
        Ok(Replayer {
            ledger: Ledger::resume(origin, head(state), allowlist, map),
            now: None,
            threads: 0,
        })
    }
}

impl Replayer<MemoryMap> {
    /// A checker for the log `origin`, starting at entry 0.
    pub fn new(origin: &str) -> Replayer {
        Replayer {
            ledger: Ledger::new(origin, MemoryMap::new()),
            now: None,
            threads: 0,
        }
    }

    /// A checker resuming from a saved state (the tag map is rebuilt from it).
    ///
    /// # Errors
    /// [`ReplayError::StoredPrefix`], [`ReplayError::StoredKey`],
    /// [`ReplayError::StoredMapKey`] or [`ReplayError::Map`] if the state does not parse back.
    pub fn from_state(origin: &str, state: ReplayState) -> Result<Replayer, ReplayError> {
        let (allowlist, entries) = parts(&state)?;
        let map = MemoryMap::from_entries(entries).map_err(ReplayError::Map)?;
        Ok(Replayer {
            ledger: Ledger::resume(origin, head(&state), allowlist, map),
            now: None,
            threads: 0,
        })
    }
}

impl<M: ReplayMap> Replayer<M> {
    /// The tag map.
    pub fn map(&self) -> &M {
        self.ledger.map()
    }

    /// The tag map, mutably (to make its writes durable around a state save).
    pub fn map_mut(&mut self) -> &mut M {
        self.ledger.map_mut()
    }

    /// Sets the checker's clock: log-authored times past `now` + the allowed skew are
    /// reported ([`Violation::TimeInFuture`]). `None` leaves them unbounded.
    pub fn set_clock(&mut self, now: Option<u64>) {
        self.now = now;
    }

    /// The durable state (the map includes bindings not yet committed by a state leaf).
    pub fn state(&self) -> ReplayState {
        let head = self.ledger.head();
        let mut map: BTreeMap<String, Current> = self
            .ledger
            .map()
            .saved_entries()
            .into_iter()
            .map(|(k, v)| (hex::encode(k.0), Current::from(v)))
            .collect();
        for (k, v) in self.ledger.pending() {
            map.insert(hex::encode(k.0), Current::from(*v));
        }
        let admitted = self
            .ledger
            .allowlist()
            .grants()
            .iter()
            .map(|g| Admitted {
                prefix: g.prefix.to_string(),
                key: g.key.to_string(),
            })
            .collect();
        ReplayState {
            next_index: head.next_index,
            admitted,
            map,
            log_time: head.log_time,
            last_state: head.last_state,
            map_version: self.ledger.map().saved_version(),
        }
    }

    /// The rule book's view of the log.
    pub fn ledger(&self) -> &Ledger<M> {
        &self.ledger
    }

    /// The next index expected.
    pub fn next_index(&self) -> u64 {
        self.ledger.next_index()
    }

    /// The current binding of a ref key, if any.
    pub fn current(&self, key: &Hash) -> Option<Current> {
        // The in-memory map cannot fail a lookup.
        self.ledger.current(key).ok().flatten().map(Current::from)
    }

    /// Checks entry `index` (which must be [`Replayer::next_index`]) and applies it.
    ///
    /// # Errors
    /// [`ReplayError::OutOfOrder`] or [`ReplayError::Map`]; what is wrong with the entry is
    /// never an error.
    pub fn check(&mut self, index: u64, entry: &[u8]) -> Result<Checked, ReplayError> {
        Ok(self.ledger.check(index, entry, self.now)?)
    }

    /// Sets how many threads [`Replayer::check_many`] verifies signatures on: 0 (the default)
    /// for every available core (at most [`MAX_VERIFY_THREADS`]), 1 for the sequential path
    /// (each entry exactly as [`Replayer::check`], on the calling thread).
    pub fn set_verify_threads(&mut self, threads: usize) {
        self.threads = threads.min(MAX_VERIFY_THREADS);
    }

    fn verify_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism()
                .map_or(1, std::num::NonZeroUsize::get)
                .min(MAX_VERIFY_THREADS),
            n => n,
        }
    }

    /// Checks entries `start..start + entries.len()` in order, exactly as [`Replayer::check`]
    /// on each. With more than one verify thread ([`Replayer::set_verify_threads`]) the
    /// entries are parsed on all of them, the keys each binding needs are found by replaying
    /// the allowlist changes of the batch, and then the binding signatures are verified a
    /// window of [`VERIFY_WINDOW`] entries at a time on a pool of threads while the calling
    /// thread applies the windows already verified, in log order, through the rule book.
    ///
    /// # Errors
    /// As [`Replayer::check`], and [`ReplayError::Verifier`] if a verifier thread failed; on
    /// an error the entries before it stay applied.
    pub fn check_many(
        &mut self,
        start: u64,
        entries: &[Vec<u8>],
    ) -> Result<Vec<Checked>, ReplayError> {
        let threads = self.verify_threads();
        if threads <= 1 || entries.len() < MIN_PARALLEL_CHECKS {
            let mut out = Vec::with_capacity(entries.len());
            for (index, e) in (start..).zip(entries) {
                out.push(self.check(index, e)?);
            }
            return Ok(out);
        }
        let parsed = parse_parallel(entries, threads);
        let candidates = self.ledger.candidates_ahead(&parsed);
        // One slot per window: its leaves and candidate keys go to a verifier thread and come
        // back with the signature checks, so nothing is copied.
        let mut parsed = parsed.into_iter();
        let mut candidates = candidates.into_iter();
        let mut slots = Vec::new();
        loop {
            let leaves: Vec<_> = parsed.by_ref().take(VERIFY_WINDOW).collect();
            if leaves.is_empty() {
                break;
            }
            let keys: Vec<_> = candidates.by_ref().take(leaves.len()).collect();
            slots.push(std::sync::Mutex::new(Some((leaves, keys))));
        }
        let windows = slots.len();
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let now = self.now;
        let ledger = &mut self.ledger;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<(usize, Option<Window>)>();
            for _ in 0..threads.min(windows) {
                let tx = tx.clone();
                let (slots, next, stop) = (&slots, &next, &stop);
                scope.spawn(move || loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let w = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = slots.get(w) else { break };
                    let taken = slot.lock().ok().and_then(|mut s| s.take());
                    // A verifier that panics hands back nothing for its window; the caller
                    // then reports it instead of waiting.
                    let done = taken.and_then(|(leaves, keys)| {
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            verify_window(leaves, &keys)
                        }))
                        .ok()
                    });
                    if tx.send((w, done)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            let mut out = Vec::with_capacity(entries.len());
            let mut ready: BTreeMap<usize, Option<Window>> = BTreeMap::new();
            let mut index = start;
            for w in 0..windows {
                let window = loop {
                    if let Some(win) = ready.remove(&w) {
                        break win;
                    }
                    match rx.recv() {
                        Ok((got, win)) => {
                            ready.insert(got, win);
                        }
                        Err(_) => break None,
                    }
                };
                let Some(window) = window else {
                    stop.store(true, Ordering::Relaxed);
                    return Err(ReplayError::Verifier { index });
                };
                for (leaf, check) in window {
                    match ledger.check_parsed(index, leaf, now, check.as_ref()) {
                        Ok(c) => out.push(c),
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            return Err(e.into());
                        }
                    }
                    index = index.saturating_add(1);
                }
            }
            Ok(out)
        })
    }

    /// The violation if the checkpoint of `size` does not end in a state leaf. Call once all
    /// of its entries were checked.
    pub fn end_checkpoint(&self, size: u64) -> Option<Violation> {
        self.ledger.end_checkpoint(size)
    }
}

/// A verified window: each leaf with its signature check (bindings with candidate keys).
type Window = Vec<(Result<Leaf, LeafError>, Option<SignatureCheck>)>;

/// Verifies the bindings of one window under their candidate keys.
fn verify_window(
    leaves: Vec<Result<Leaf, LeafError>>,
    keys: &[Option<Vec<VerifierKey>>],
) -> Window {
    leaves
        .into_iter()
        .enumerate()
        .map(|(j, leaf)| {
            let check = match (&leaf, keys.get(j)) {
                (Ok(Leaf::Binding(b)), Some(Some(k))) => Some(SignatureCheck::run(b, k)),
                _ => None,
            };
            (leaf, check)
        })
        .collect()
}

/// Parses `entries` on up to `threads` threads, in order.
fn parse_parallel(entries: &[Vec<u8>], threads: usize) -> Vec<Result<Leaf, LeafError>> {
    let per = entries.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(per)
            .map(|part| {
                scope.spawn(move || part.iter().map(|e| Leaf::parse(e)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .zip(entries.chunks(per))
            // A parser thread that panicked: parse its part here (the same code).
            .flat_map(|(h, part)| {
                h.join()
                    .unwrap_or_else(|_| part.iter().map(|e| Leaf::parse(e)).collect())
            })
            .collect()
    })
}
