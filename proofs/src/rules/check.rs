//! Checking: the monitor and the auditing witness apply every leaf already in a log, in
//! index order, and collect what is wrong with it.
//!
//! Every leaf is applied, valid or not (a log cannot take a leaf back): a malformed entry
//! only advances the index, an invalid binding still sets the map (DESIGN §3.6), a refused
//! publisher change changes nothing, and a state leaf with a wrong root does not change the
//! recomputed map. So each bad leaf is reported once, and the leaves after it are judged
//! against what an honest log would hold.

use crate::leaves::{Leaf, LeafError, PublisherLeaf, StateLeaf};
use crate::note::VerifierKey;

use super::append::refused_violation;
use super::{Grant, Ledger, MapState, SignatureCheck, Violation};

/// One checked leaf: the parsed leaf (if it parsed) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The leaf, if the entry parsed.
    pub leaf: Option<Leaf>,
    /// The rules it breaks (empty for a valid leaf).
    pub violations: Vec<Violation>,
}

/// Why a leaf could not be checked at all (nothing was applied).
#[derive(Debug, thiserror::Error)]
pub enum CheckError<E: std::error::Error + 'static> {
    /// Leaves must be checked in index order, each once.
    #[error("entry {given} given, but entry {expected} is next")]
    OutOfOrder {
        /// The index given.
        given: u64,
        /// The next index.
        expected: u64,
    },
    /// The tag map's storage failed.
    #[error("tag map: {0}")]
    Map(#[source] E),
}

impl<M: MapState> Ledger<M> {
    /// Parses entry `index` and checks it; see [`Ledger::check_parsed`].
    ///
    /// # Errors
    /// As [`Ledger::check_parsed`].
    pub fn check(
        &mut self,
        index: u64,
        entry: &[u8],
        now: Option<u64>,
    ) -> Result<Checked, CheckError<M::Error>> {
        self.check_parsed(index, Leaf::parse(entry), now, None)
    }

    /// Checks leaf `index` (which must be [`Ledger::next_index`]) and applies it. `now` is the
    /// checker's clock (None: times are not bounded above); `sig` a signature check run ahead
    /// for a binding (used only if it matches the candidates at this index).
    ///
    /// # Errors
    /// [`CheckError::OutOfOrder`] or [`CheckError::Map`]; nothing was applied. What is wrong
    /// with the leaf is never an error.
    pub fn check_parsed(
        &mut self,
        index: u64,
        leaf: Result<Leaf, LeafError>,
        now: Option<u64>,
        sig: Option<&SignatureCheck>,
    ) -> Result<Checked, CheckError<M::Error>> {
        let expected = self.head.next_index;
        if index != expected {
            return Err(CheckError::OutOfOrder {
                given: index,
                expected,
            });
        }
        let violations = match &leaf {
            Err(error) => vec![Violation::Malformed {
                index,
                error: error.clone(),
            }],
            Ok(Leaf::Binding(b)) => {
                let judged = self.judge_binding(index, b, sig).map_err(CheckError::Map)?;
                self.set_binding(index, b);
                judged.violations
            }
            Ok(Leaf::State(s)) => self.check_state(index, s, now)?,
            Ok(Leaf::Publisher(p)) => self.check_publisher(index, p, now),
        };
        self.head.next_index = index.saturating_add(1);
        Ok(Checked {
            leaf: leaf.ok(),
            violations,
        })
    }

    fn check_state(
        &mut self,
        index: u64,
        s: &StateLeaf,
        now: Option<u64>,
    ) -> Result<Vec<Violation>, CheckError<M::Error>> {
        let computed = self
            .commit_map(index.saturating_add(1))
            .map_err(CheckError::Map)?;
        let mut found = Vec::new();
        if s.size != index {
            found.push(Violation::StateSize {
                index,
                size: s.size,
            });
        }
        if computed != s.map_root {
            found.push(Violation::MapMismatch {
                index,
                claimed: s.map_root,
                computed,
            });
        }
        found.extend(self.judge_time(index, s.time, now));
        self.note_time(s.time);
        self.head.last_state = Some(index);
        Ok(found)
    }

    fn check_publisher(
        &mut self,
        index: u64,
        p: &PublisherLeaf,
        now: Option<u64>,
    ) -> Vec<Violation> {
        let mut found = self.judge_time(index, p.time, now);
        self.note_time(p.time);
        if let Err(refused) = self.allowlist.apply(p.change, &p.prefix, &p.key) {
            let grant = Grant {
                prefix: p.prefix.clone(),
                key: p.key.clone(),
            };
            found.push(refused_violation(index, refused, &grant));
        }
        found
    }

    /// The violation if a checkpoint of `size` leaves (all applied) does not end in a state
    /// leaf. Call once every leaf before `size` was checked.
    pub fn end_checkpoint(&self, size: u64) -> Option<Violation> {
        if size == 0 || self.head.last_state == Some(size - 1) {
            None
        } else {
            Some(Violation::NoStateLeaf { size })
        }
    }

    /// For leaves about to be checked from [`Ledger::next_index`] on, the candidate keys of
    /// each binding as the allowlist will be at its index (publisher changes among `leaves`
    /// replayed on a copy), so their signatures can be checked ahead on other threads with
    /// [`SignatureCheck::run`]. `None` for other leaves and for bindings no key is admitted
    /// for.
    pub fn candidates_ahead(
        &self,
        leaves: &[Result<Leaf, LeafError>],
    ) -> Vec<Option<Vec<VerifierKey>>> {
        let mut allowlist = self.allowlist.clone();
        leaves
            .iter()
            .map(|leaf| match leaf {
                Ok(Leaf::Publisher(p)) => {
                    // A refused change changes nothing, exactly as when it is checked.
                    let _ = allowlist.apply(p.change, &p.prefix, &p.key);
                    None
                }
                Ok(Leaf::Binding(b)) => allowlist.candidates(b).ok(),
                _ => None,
            })
            .collect()
    }
}
