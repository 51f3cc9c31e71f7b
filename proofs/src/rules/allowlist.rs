//! The logged allowlist (DESIGN §3.5 publisher leaves): which publisher keys the log has
//! admitted for which ref prefixes, as of some leaf index.
//!
//! Guarantees: a pair is held at most once (an `add` of a held pair and a `remove` of an
//! absent pair are refused and change nothing); admission of a binding considers **every**
//! admitted key that covers the ref and carries the signature line's (name, key ID), so a
//! tenant who grinds a key with a colliding key ID cannot shadow another tenant's key
//! (issue 12, finding 4). Out of scope: reading allowlist files (the server's config) and the
//! client's `publisher` policy lines (see [`crate::policy`]).

use crate::binding::SignedBinding;
use crate::leaves::PublisherChange;
use crate::note::VerifierKey;
use crate::refs::RefPrefix;

use super::violation::NotAdmittedReason;

/// One admitted `(prefix, key)` pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The canonical prefix.
    pub prefix: RefPrefix,
    /// The publisher's Ed25519 verifier key.
    pub key: VerifierKey,
}

/// Why a change of the allowlist was refused (nothing changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeRefused {
    /// `add` of a pair already held.
    DuplicateAdd,
    /// `remove` of a pair not held.
    AbsentRemove,
}

/// A set of grants in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    grants: Vec<Grant>,
}

impl Allowlist {
    /// The empty allowlist (of a new log).
    pub fn new() -> Allowlist {
        Allowlist::default()
    }

    /// An allowlist holding `grants`; a pair given twice is held once.
    pub fn from_grants(grants: impl IntoIterator<Item = Grant>) -> Allowlist {
        let mut list = Allowlist::new();
        for g in grants {
            // A repeated pair is simply not added again.
            let _ = list.apply(PublisherChange::Add, &g.prefix, &g.key);
        }
        list
    }

    /// All grants, oldest first.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Number of grants.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether no key is admitted.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Whether the pair is held.
    pub fn contains(&self, prefix: &RefPrefix, key: &VerifierKey) -> bool {
        self.position(prefix, key).is_some()
    }

    fn position(&self, prefix: &RefPrefix, key: &VerifierKey) -> Option<usize> {
        self.grants
            .iter()
            .position(|g| &g.prefix == prefix && &g.key == key)
    }

    /// Applies one logged change.
    ///
    /// # Errors
    /// [`ChangeRefused`] for an `add` of a held pair or a `remove` of an absent one; the
    /// allowlist is then unchanged.
    pub fn apply(
        &mut self,
        change: PublisherChange,
        prefix: &RefPrefix,
        key: &VerifierKey,
    ) -> Result<(), ChangeRefused> {
        match (change, self.position(prefix, key)) {
            (PublisherChange::Add, Some(_)) => Err(ChangeRefused::DuplicateAdd),
            (PublisherChange::Add, None) => {
                self.grants.push(Grant {
                    prefix: prefix.clone(),
                    key: key.clone(),
                });
                Ok(())
            }
            (PublisherChange::Remove, None) => Err(ChangeRefused::AbsentRemove),
            (PublisherChange::Remove, Some(i)) => {
                self.grants.remove(i);
                Ok(())
            }
        }
    }

    /// The changes that turn `self` into `target`: every removal first, then every addition,
    /// each in the order of the list it comes from. Applying them in order never refuses.
    pub fn diff(&self, target: &Allowlist) -> Vec<(PublisherChange, Grant)> {
        let removes = self
            .grants
            .iter()
            .filter(|g| !target.contains(&g.prefix, &g.key))
            .map(|g| (PublisherChange::Remove, g.clone()));
        let adds = target
            .grants
            .iter()
            .filter(|g| !self.contains(&g.prefix, &g.key))
            .map(|g| (PublisherChange::Add, g.clone()));
        removes.chain(adds).collect()
    }

    /// The admitted keys that may have signed `b`: those covering its ref whose name and key
    /// ID equal the signature line's, each once, oldest grant first. The signature is not
    /// checked here (see [`super::SignatureCheck`]).
    ///
    /// # Errors
    /// [`NotAdmittedReason::UnknownKey`] if no admitted key has the line's name and key ID,
    /// [`NotAdmittedReason::NoPrefix`] if such keys exist but none covers the ref.
    pub fn candidates(&self, b: &SignedBinding) -> Result<Vec<VerifierKey>, NotAdmittedReason> {
        let (name, id) = b.signer();
        let reference = &b.binding().reference;
        let mut named = false;
        let mut keys: Vec<VerifierKey> = Vec::new();
        for g in &self.grants {
            if g.key.name() != name || g.key.id() != id {
                continue;
            }
            named = true;
            if g.prefix.matches(reference) && !keys.contains(&g.key) {
                keys.push(g.key.clone());
            }
        }
        match (named, keys.is_empty()) {
            (false, _) => Err(NotAdmittedReason::UnknownKey),
            (true, true) => Err(NotAdmittedReason::NoPrefix),
            (true, false) => Ok(keys),
        }
    }
}
