//! The rule book: the log's state machine over its leaves in index order (DESIGN §3.4–§3.6),
//! written once and used three ways.
//!
//! - The **sequencer decides** with it ([`Ledger::append_binding`],
//!   [`Ledger::append_publisher`], [`Ledger::append_state`]): "may this binding be appended
//!   after these, and what does it change". A refused append changes nothing.
//! - The **monitor** and the **auditing witness check** with it ([`Ledger::check`]): every
//!   leaf already in a log is applied, and what is wrong with it is reported as
//!   [`Violation`]s (data, never errors).
//!
//! The rules:
//! - a binding's `log` is this log's origin; its ref is canonical (the binding parser
//!   guarantees it);
//! - admission by the *logged* allowlist ([`Allowlist`], built from publisher leaves earlier in
//!   the log): some admitted key that covers the ref and carries the signature line's (name,
//!   key ID) verifies the signature (`verify_strict`); every such key is tried, so a colliding
//!   key ID cannot deny another tenant;
//! - the version rule ([`crate::binding::check_version`]): a ref's first binding 1..=2³², every
//!   later one (withdrawals included) exactly previous + 1;
//! - publisher leaves: no `add` of an admitted pair, no `remove` of an absent one;
//! - state leaves: `size` is the leaf's own index and `map` is the root of the map after every
//!   binding before it;
//! - log-authored leaves (state and publisher): times never decrease, and are at most the
//!   checker's clock + [`MAX_LOG_TIME_SKEW_SECS`];
//! - the map: every binding leaf, in index order, sets `map[SHA-256(ref)]` to the 48-byte
//!   [`MapValue`] (index, version, leaf hash). An invalid binding found in a log still updates
//!   the map (§3.6), so one bad entry is reported once and does not cascade.
//! - every checkpoint ends in a state leaf ([`Ledger::end_checkpoint`]).
//!
//! Pure: no I/O, no clock (`now` is an argument), no threads. The tag map sits behind
//! [`MapState`] (RocksDB in the server, [`MemoryMap`] in the monitor and witness); the
//! allowlist and three numbers ([`LedgerHead`]) are held here. Signature checks can run ahead
//! on other threads ([`SignatureCheck`], [`Ledger::candidates_ahead`]). Out of scope: tree
//! hashes, checkpoints and signatures on them, dedup of resubmitted entries (a server
//! concern), and fetching entries.

mod allowlist;
mod append;
mod check;
mod map;
mod signature;
mod violation;

use std::collections::BTreeMap;

use crate::binding::{check_version, SignedBinding};
use crate::hash::Hash;
use crate::map::MapValue;
use crate::note::VerifierKey;

pub use allowlist::{Allowlist, ChangeRefused, Grant};
pub use append::{AppendError, Appended};
pub use check::{CheckError, Checked};
pub use map::{MapState, MemoryMap};
pub use signature::SignatureCheck;
pub use violation::{NotAdmittedReason, Violation};

/// How far past the checker's clock a log-authored leaf's time may be (DESIGN §6: now + 5 min).
pub const MAX_LOG_TIME_SKEW_SECS: u64 = 300;

/// The scalar part of the log's state after leaf `next_index − 1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerHead {
    /// Number of leaves applied (the index of the next leaf).
    pub next_index: u64,
    /// The largest time of a log-authored leaf so far.
    pub log_time: Option<u64>,
    /// Index of the last state leaf.
    pub last_state: Option<u64>,
}

/// What [`Ledger::judge_binding`] found.
struct Judgement {
    violations: Vec<Violation>,
    previous: Option<MapValue>,
    signer: Option<VerifierKey>,
}

/// The state of one log as the rules see it: head, logged allowlist and tag map, plus the
/// map updates of the bindings since the last state leaf (applied to the map at the next
/// state leaf).
#[derive(Clone, Debug)]
pub struct Ledger<M> {
    origin: String,
    head: LedgerHead,
    allowlist: Allowlist,
    map: M,
    pending: BTreeMap<Hash, MapValue>,
}

impl<M: MapState> Ledger<M> {
    /// The ledger of an empty log with origin `origin`, over an empty `map`.
    pub fn new(origin: &str, map: M) -> Ledger<M> {
        Ledger::resume(origin, LedgerHead::default(), Allowlist::new(), map)
    }

    /// A ledger resuming after leaf `head.next_index − 1`. `map` must hold every binding
    /// before that leaf and `allowlist` every publisher change before it.
    pub fn resume(origin: &str, head: LedgerHead, allowlist: Allowlist, map: M) -> Ledger<M> {
        Ledger {
            origin: origin.to_owned(),
            head,
            allowlist,
            map,
            pending: BTreeMap::new(),
        }
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The head (number of leaves, log time, last state leaf).
    pub fn head(&self) -> LedgerHead {
        self.head
    }

    /// The index the next leaf gets.
    pub fn next_index(&self) -> u64 {
        self.head.next_index
    }

    /// The logged allowlist as of the next leaf.
    pub fn allowlist(&self) -> &Allowlist {
        &self.allowlist
    }

    /// The committed map (without [`Ledger::pending`]).
    pub fn map(&self) -> &M {
        &self.map
    }

    /// The committed map, mutably (for a backend that stages writes, to collect them).
    pub fn map_mut(&mut self) -> &mut M {
        &mut self.map
    }

    /// Map updates of the bindings since the last state leaf, by key.
    pub fn pending(&self) -> &BTreeMap<Hash, MapValue> {
        &self.pending
    }

    /// The current value of a ref key: the pending update if any, else the committed one.
    ///
    /// # Errors
    /// The map's storage failure.
    pub fn current(&self, key: &Hash) -> Result<Option<MapValue>, M::Error> {
        match self.pending.get(key) {
            Some(v) => Ok(Some(*v)),
            None => self.map.get(key),
        }
    }

    /// Everything wrong with binding `b` at `index`, in the order a submitter should fix it
    /// (log, admission, signature, version), the ref's current value before it and the key
    /// the signature verified under.
    fn judge_binding(
        &self,
        index: u64,
        b: &SignedBinding,
        sig: Option<&SignatureCheck>,
    ) -> Result<Judgement, M::Error> {
        let binding = b.binding();
        let mut found = Vec::new();
        let mut signer = None;
        if binding.log != self.origin {
            found.push(Violation::WrongLog {
                index,
                expected: self.origin.clone(),
                found: binding.log.clone(),
            });
        }
        match self.allowlist.candidates(b) {
            Err(reason) => {
                let (name, id) = b.signer();
                found.push(Violation::NotAdmitted {
                    index,
                    reference: binding.reference.clone(),
                    name: name.clone(),
                    id,
                    reason,
                });
            }
            Ok(keys) => {
                signer = match sig {
                    Some(s) if s.applies_to(b, &keys) => s.verified().cloned(),
                    _ => SignatureCheck::run(b, &keys).verified().cloned(),
                };
                if signer.is_none() {
                    found.push(Violation::BadSignature {
                        index,
                        reference: binding.reference.clone(),
                        keys,
                    });
                }
            }
        }
        let previous = self.current(&binding.reference.key())?;
        if let Err(error) = check_version(previous.map(|p| p.version), binding.version) {
            found.push(Violation::Version {
                index,
                reference: binding.reference.clone(),
                previous,
                version: binding.version,
                error,
            });
        }
        Ok(Judgement {
            violations: found,
            previous,
            signer,
        })
    }

    /// Sets the map value of binding `b` at `index` (pending until the next state leaf).
    fn set_binding(&mut self, index: u64, b: &SignedBinding) -> (Hash, MapValue) {
        let key = b.binding().reference.key();
        let value = MapValue {
            index,
            version: b.binding().version,
            leaf_hash: b.leaf_hash(),
        };
        self.pending.insert(key, value);
        (key, value)
    }

    /// What is wrong with a log-authored time at `index`.
    fn judge_time(&self, index: u64, time: u64, now: Option<u64>) -> Vec<Violation> {
        let mut found = Vec::new();
        if let Some(previous) = self.head.log_time.filter(|&p| time < p) {
            found.push(Violation::TimeDecreased {
                index,
                time,
                previous,
            });
        }
        if let Some(bound) = now.map(|n| n.saturating_add(MAX_LOG_TIME_SKEW_SECS)) {
            if time > bound {
                found.push(Violation::TimeInFuture { index, time, bound });
            }
        }
        found
    }

    fn note_time(&mut self, time: u64) {
        self.head.log_time = Some(self.head.log_time.map_or(time, |p| p.max(time)));
    }

    /// Applies the pending updates to the map as the map of a checkpoint of `version` leaves
    /// and returns its root; the pending updates are kept if the map fails.
    fn commit_map(&mut self, version: u64) -> Result<Hash, M::Error> {
        let updates: Vec<(Hash, MapValue)> = self.pending.iter().map(|(k, v)| (*k, *v)).collect();
        let root = self.map.apply(version, &updates)?;
        self.pending.clear();
        Ok(root)
    }
}
