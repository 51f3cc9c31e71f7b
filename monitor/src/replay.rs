//! The replay checker: re-derives everything a taglog log vouches for from its entries alone
//! (DESIGN.md §3.4–§3.6, §6). Shared by `taglog-monitor` and `taglog-witness --audit`.
//!
//! Feed it every entry in index order ([`Replayer::check`]) and mark each checkpoint boundary
//! ([`Replayer::end_checkpoint`]). It checks:
//! - every entry parses strictly as a binding, state or publisher leaf;
//! - bindings: `log` is this origin, the signer was admitted (by a publisher leaf earlier in
//!   the log) for a prefix covering the ref, the signature verifies (`verify_strict`), and the
//!   version rule (first 1..=2³², then previous + 1);
//! - publisher leaves: no duplicate `add`, no `remove` of an absent pair;
//! - state leaves: `size` = own index, `map` = the map rebuilt from all bindings before it,
//!   log time non-decreasing over all log-authored leaves (and at most a caller-given bound);
//! - the last leaf of every checkpoint is a state leaf.
//!
//! An invalid binding still updates the map (DESIGN §3.6: the map function takes every
//! binding leaf), so one bad entry is reported once and does not cascade into map alerts.
//! Findings are data ([`Finding`]), never errors: the caller decides (alert, 422, ...).
//!
//! The checker is pure (no I/O, no clock). Its durable part is [`ReplayState`]
//! (serde; the tag map is rebuilt from it on load). Out of scope: fetching entries, tree
//! hashes and checkpoint signatures (the caller verifies that the entries are the log's).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use taglog_proofs::binding::{check_version, BindingError, SignedBinding};
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::leaves::{Leaf, LeafError, PublisherChange, PublisherLeaf, StateLeaf};
use taglog_proofs::map::{MapValue, SparseMap};
use taglog_proofs::note::VerifierKey;
use taglog_proofs::refs::RefPrefix;

mod finding;

pub use finding::Finding;

/// What [`Replayer::check`] returns for one entry: the parsed leaf (if it parsed) and the
/// findings about it.
pub type Checked = (Option<Leaf>, Vec<Finding>);

/// The most threads [`Replayer::check_many`] verifies signatures on.
pub const MAX_VERIFY_THREADS: usize = 16;

/// The admitted key (for a prefix covering the ref) named by the binding's signature line.
fn admitted_key_for(
    admitted: &[(RefPrefix, VerifierKey)],
    b: &SignedBinding,
) -> Option<VerifierKey> {
    let (name, id) = b.signer();
    admitted
        .iter()
        .filter(|(p, _)| p.matches(&b.binding().reference))
        .map(|(_, k)| k)
        .find(|k| k.name() == name && k.id() == id)
        .cloned()
}

/// Verifies `(entry position, key)` tasks on up to [`MAX_VERIFY_THREADS`] threads.
fn verify_parallel(
    parsed: &[Result<Leaf, LeafError>],
    tasks: Vec<(usize, VerifierKey)>,
) -> Vec<(usize, VerifierKey, bool)> {
    let verify = |(j, key): (usize, VerifierKey)| {
        let ok = match parsed.get(j) {
            Some(Ok(Leaf::Binding(b))) => b.verify(&key).is_ok(),
            _ => false,
        };
        (j, key, ok)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_VERIFY_THREADS);
    if threads <= 1 || tasks.len() < 64 {
        return tasks.into_iter().map(verify).collect();
    }
    let per = tasks.len().div_ceil(threads);
    let mut groups: Vec<Vec<(usize, VerifierKey)>> = Vec::new();
    let mut tasks = tasks.into_iter().peekable();
    while tasks.peek().is_some() {
        groups.push(tasks.by_ref().take(per).collect());
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|g| scope.spawn(move || g.into_iter().map(verify).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            // A panicking verifier thread loses its verdicts; check_parsed then verifies
            // those bindings itself.
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

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
    /// Leaf hash (base64 in JSON via [`Hash`]'s string form is avoided: raw hex).
    #[serde(with = "hex_hash")]
    pub leaf_hash: Hash,
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
    /// The tag map: hex SHA-256(ref) → current binding.
    pub map: BTreeMap<String, Current>,
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

/// Why a replay state cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A stored allowlist pair or map key does not parse.
    #[error("replay state is corrupt: {0}")]
    Corrupt(String),
}

/// The replay checker for one log.
#[derive(Clone, Debug)]
pub struct Replayer {
    origin: String,
    state: ReplayState,
    admitted: Vec<(RefPrefix, VerifierKey)>,
    map: SparseMap,
    pending: BTreeMap<Hash, MapValue>,
    max_time: Option<u64>,
}

impl Replayer {
    /// A checker for the log `origin`, starting at entry 0.
    pub fn new(origin: &str) -> Replayer {
        Replayer {
            origin: origin.to_owned(),
            state: ReplayState::default(),
            admitted: Vec::new(),
            map: SparseMap::new(),
            pending: BTreeMap::new(),
            max_time: None,
        }
    }

    /// A checker resuming from a saved state (the tag map is rebuilt from it).
    ///
    /// # Errors
    /// [`ReplayError::Corrupt`] if the state does not parse back.
    pub fn from_state(origin: &str, state: ReplayState) -> Result<Replayer, ReplayError> {
        let mut admitted = Vec::with_capacity(state.admitted.len());
        for a in &state.admitted {
            let p =
                RefPrefix::from_str(&a.prefix).map_err(|e| ReplayError::Corrupt(e.to_string()))?;
            let k =
                VerifierKey::from_str(&a.key).map_err(|e| ReplayError::Corrupt(e.to_string()))?;
            admitted.push((p, k));
        }
        let mut batch = Vec::with_capacity(state.map.len());
        for (k, c) in &state.map {
            let key = hex::decode(k)
                .ok()
                .and_then(|b| Hash::from_slice(&b))
                .ok_or_else(|| ReplayError::Corrupt(format!("map key {k:?}")))?;
            batch.push((
                key,
                MapValue {
                    index: c.index,
                    version: c.version,
                    leaf_hash: c.leaf_hash,
                },
            ));
        }
        let mut map = SparseMap::new();
        if !batch.is_empty() {
            map.insert_batch(&batch)
                .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
        }
        Ok(Replayer {
            origin: origin.to_owned(),
            state,
            admitted,
            map,
            pending: BTreeMap::new(),
            max_time: None,
        })
    }

    /// Sets an upper bound on log-authored times (a witness passes now + 5 min).
    pub fn set_max_time(&mut self, max_time: Option<u64>) {
        self.max_time = max_time;
    }

    /// The durable state.
    pub fn state(&self) -> &ReplayState {
        &self.state
    }

    /// The next index expected.
    pub fn next_index(&self) -> u64 {
        self.state.next_index
    }

    /// The current binding of a ref key, if any.
    pub fn current(&self, key: &Hash) -> Option<Current> {
        self.state.map.get(&hex::encode(key.0)).copied()
    }

    /// The map root over all bindings replayed so far.
    ///
    /// # Errors
    /// [`ReplayError::Corrupt`] only on an internal map inconsistency (a bug).
    pub fn map_root(&mut self) -> Result<Hash, ReplayError> {
        self.flush()
    }

    fn flush(&mut self) -> Result<Hash, ReplayError> {
        if !self.pending.is_empty() {
            let batch: Vec<(Hash, MapValue)> =
                std::mem::take(&mut self.pending).into_iter().collect();
            self.map
                .insert_batch(&batch)
                .map_err(|e| ReplayError::Corrupt(e.to_string()))?;
        }
        Ok(self.map.root())
    }

    /// Checks entry `index` (which must be [`Replayer::next_index`]) and applies it. Returns
    /// the parsed leaf (if it parsed) and what is wrong with it.
    ///
    /// # Errors
    /// [`ReplayError::Corrupt`] if `index` is out of order or on an internal map
    /// inconsistency; findings about the entry are never errors.
    pub fn check(&mut self, index: u64, entry: &[u8]) -> Result<Checked, ReplayError> {
        self.check_parsed(index, Leaf::parse(entry), None)
    }

    /// Checks entries `start..start + entries.len()` in order, exactly as [`Replayer::check`]
    /// on each, but verifies the binding signatures on all available cores first (the key
    /// each binding needs is found by replaying the allowlist changes of the batch).
    ///
    /// # Errors
    /// As [`Replayer::check`]; on an error the entries before it stay applied.
    pub fn check_many(
        &mut self,
        start: u64,
        entries: &[Vec<u8>],
    ) -> Result<Vec<Checked>, ReplayError> {
        let parsed: Vec<Result<Leaf, LeafError>> = entries.iter().map(|e| Leaf::parse(e)).collect();
        // Which admitted key each binding needs, with the allowlist as it will be then.
        let mut admitted = self.admitted.clone();
        let mut tasks: Vec<(usize, VerifierKey)> = Vec::new();
        for (j, leaf) in parsed.iter().enumerate() {
            match leaf {
                Ok(Leaf::Publisher(p)) => {
                    let pos = admitted
                        .iter()
                        .position(|(prefix, key)| prefix == &p.prefix && key == &p.key);
                    match (p.change, pos) {
                        (PublisherChange::Add, None) => {
                            admitted.push((p.prefix.clone(), p.key.clone()));
                        }
                        (PublisherChange::Remove, Some(i)) if i < admitted.len() => {
                            admitted.remove(i);
                        }
                        _ => {}
                    }
                }
                Ok(Leaf::Binding(b)) => {
                    if let Some(k) = admitted_key_for(&admitted, b) {
                        tasks.push((j, k));
                    }
                }
                _ => {}
            }
        }
        let mut verdicts: Vec<Option<(VerifierKey, bool)>> = vec![None; parsed.len()];
        for (j, key, ok) in verify_parallel(&parsed, tasks) {
            if let Some(slot) = verdicts.get_mut(j) {
                *slot = Some((key, ok));
            }
        }
        let mut out = Vec::with_capacity(parsed.len());
        for ((j, leaf), verdict) in parsed.into_iter().enumerate().zip(verdicts) {
            let index = start.saturating_add(j as u64);
            out.push(self.check_parsed(index, leaf, verdict)?);
        }
        Ok(out)
    }

    fn check_parsed(
        &mut self,
        index: u64,
        leaf: Result<Leaf, LeafError>,
        verdict: Option<(VerifierKey, bool)>,
    ) -> Result<Checked, ReplayError> {
        if index != self.state.next_index {
            return Err(ReplayError::Corrupt(format!(
                "entry {index} given, entry {} expected",
                self.state.next_index
            )));
        }
        self.state.next_index = index.saturating_add(1);
        let mut findings = Vec::new();
        let leaf = match leaf {
            Ok(l) => l,
            Err(e) => {
                findings.push(Finding::Malformed {
                    index,
                    reason: e.to_string(),
                });
                return Ok((None, findings));
            }
        };
        match &leaf {
            Leaf::Binding(b) => self.binding(index, b, verdict, &mut findings),
            Leaf::State(s) => self.state_leaf(index, s, &mut findings)?,
            Leaf::Publisher(p) => self.publisher(index, p, &mut findings),
        }
        Ok((Some(leaf), findings))
    }

    /// Checks that the checkpoint of `size` ends in a state leaf. Call once all of its
    /// entries were checked.
    pub fn end_checkpoint(&self, size: u64) -> Vec<Finding> {
        if size == 0 || self.state.last_state == Some(size - 1) {
            Vec::new()
        } else {
            vec![Finding::NoStateLeaf { size }]
        }
    }

    fn binding(
        &mut self,
        index: u64,
        b: &SignedBinding,
        verdict: Option<(VerifierKey, bool)>,
        findings: &mut Vec<Finding>,
    ) {
        let binding = b.binding();
        let reference = binding.reference.as_str().to_owned();
        if let Err(BindingError::WrongLog { found, .. }) = b.check_log(&self.origin) {
            findings.push(Finding::WrongLog { index, found });
        }
        match admitted_key_for(&self.admitted, b) {
            None => {
                let (name, id) = b.signer();
                findings.push(Finding::NotAdmitted {
                    index,
                    reference: reference.clone(),
                    signer: format!("{name}+{id}"),
                });
            }
            Some(key) => {
                // A verdict computed ahead counts only if it was for this very key.
                let ok = match verdict {
                    Some((k, ok)) if k == key => ok,
                    _ => b.verify(&key).is_ok(),
                };
                if !ok {
                    findings.push(Finding::BadSignature {
                        index,
                        reference: reference.clone(),
                        key: key.to_string(),
                    });
                }
            }
        }
        let key = binding.reference.key();
        let hex_key = hex::encode(key.0);
        let previous = self.state.map.get(&hex_key).copied();
        if let Err(error) = check_version(previous.map(|p| p.version), binding.version) {
            findings.push(Finding::Version {
                index,
                reference,
                previous: previous.map(|p| MapValue {
                    index: p.index,
                    version: p.version,
                    leaf_hash: p.leaf_hash,
                }),
                version: binding.version,
                error,
            });
        }
        let value = MapValue {
            index,
            version: binding.version,
            leaf_hash: leaf_hash(b.entry()),
        };
        self.state.map.insert(
            hex_key,
            Current {
                index,
                version: value.version,
                leaf_hash: value.leaf_hash,
            },
        );
        self.pending.insert(key, value);
    }

    fn log_time(&mut self, index: u64, time: u64, findings: &mut Vec<Finding>) {
        if let Some(prev) = self.state.log_time {
            if time < prev {
                findings.push(Finding::Time {
                    index,
                    time,
                    bound: prev,
                    future: false,
                });
            }
        }
        if let Some(max) = self.max_time {
            if time > max {
                findings.push(Finding::Time {
                    index,
                    time,
                    bound: max,
                    future: true,
                });
            }
        }
        self.state.log_time = Some(self.state.log_time.map_or(time, |p| p.max(time)));
    }

    fn state_leaf(
        &mut self,
        index: u64,
        s: &StateLeaf,
        findings: &mut Vec<Finding>,
    ) -> Result<(), ReplayError> {
        if s.size != index {
            findings.push(Finding::StateSize {
                index,
                size: s.size,
            });
        }
        let computed = self.flush()?;
        if computed != s.map_root {
            findings.push(Finding::MapMismatch {
                index,
                claimed: s.map_root,
                computed,
            });
        }
        self.log_time(index, s.time, findings);
        self.state.last_state = Some(index);
        Ok(())
    }

    fn publisher(&mut self, index: u64, p: &PublisherLeaf, findings: &mut Vec<Finding>) {
        self.log_time(index, p.time, findings);
        let pos = self
            .admitted
            .iter()
            .position(|(prefix, key)| prefix == &p.prefix && key == &p.key);
        match (p.change, pos) {
            (PublisherChange::Add, Some(_)) => findings.push(Finding::BadPublisherChange {
                index,
                reason: format!("duplicate add of {} {}", p.prefix, p.key),
            }),
            (PublisherChange::Add, None) => {
                self.admitted.push((p.prefix.clone(), p.key.clone()));
                self.state.admitted.push(Admitted {
                    prefix: p.prefix.to_string(),
                    key: p.key.to_string(),
                });
            }
            (PublisherChange::Remove, None) => findings.push(Finding::BadPublisherChange {
                index,
                reason: format!("remove of {} {}, which was not admitted", p.prefix, p.key),
            }),
            (PublisherChange::Remove, Some(i)) => {
                if i < self.admitted.len() {
                    self.admitted.remove(i);
                }
                if i < self.state.admitted.len() {
                    self.state.admitted.remove(i);
                }
            }
        }
    }
}
