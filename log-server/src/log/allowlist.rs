//! The server's publisher allowlist (DESIGN §3.5 publisher leaves, §5 submission path).
//!
//! The file holds `publisher <ref-prefix> <publisher vkey>` lines (the policy syntax; an
//! optional fourth field names a log origin and must then be this log's), `#` comments and
//! blank lines. The *logged* allowlist is the one the sequencer has written as
//! `taglog/v1/publisher` leaves; only it is used to admit bindings. Out of scope: writing
//! the leaves (the sequencer does) and the client's policy (proofs `policy.rs`).

use std::path::Path;

use taglog_proofs::binding::SignedBinding;
use taglog_proofs::leaves::PublisherChange;
use taglog_proofs::note::{KeyError, VerifierKey};
use taglog_proofs::refs::{RefError, RefPrefix, TagRef};
use taglog_proofs::rules::{self, NotAdmittedReason};

pub use taglog_proofs::rules::Grant;

/// Errors reading an allowlist file.
#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    /// The file could not be read.
    #[error("publisher allowlist {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `publisher <ref-prefix> <vkey> [log-origin]`.
    #[error(
        "publisher allowlist line {line}: expected `publisher <ref-prefix> <vkey> [log-origin]`"
    )]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// A line's prefix or key is invalid.
    #[error("publisher allowlist line {line}: {source}")]
    Grant {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        #[source]
        source: GrantError,
    },
}

/// Why a `(prefix, vkey)` pair is not a grant.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// The prefix is not a canonical ref prefix.
    #[error("prefix {prefix:?}: {source}")]
    Prefix {
        /// The text.
        prefix: String,
        /// Why.
        #[source]
        source: RefError,
    },
    /// The key is not a vkey.
    #[error("vkey {vkey:?}: {source}")]
    Key {
        /// The text.
        vkey: String,
        /// Why.
        #[source]
        source: KeyError,
    },
}

/// Why a binding is not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No allowlisted key has the signer's name and key ID.
    #[error("publisher key {name}+{id} is not on this log's allowlist")]
    UnknownKey {
        /// Signer name.
        name: String,
        /// Signer key ID (hex).
        id: String,
    },
    /// Keys with the signer's name and key ID are allowlisted, but none for a prefix
    /// matching the ref (or the key that signed is no longer allowlisted for it).
    #[error("publisher key {key} may not bind {reference}: no allowlisted prefix of this key matches it")]
    RefNotAllowed {
        /// The key (`name+id`, or the verifier key when one key is meant).
        key: String,
        /// The ref.
        reference: String,
    },
}

/// A set of grants: the logged allowlist's rules ([`rules::Allowlist`]), read from a file
/// or rebuilt from the store.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    rules: rules::Allowlist,
}

fn parse_grant(prefix: &str, vkey: &str) -> Result<Grant, GrantError> {
    let prefix: RefPrefix = prefix.parse().map_err(|source| GrantError::Prefix {
        prefix: prefix.to_owned(),
        source,
    })?;
    let key: VerifierKey = vkey.parse().map_err(|source| GrantError::Key {
        vkey: vkey.to_owned(),
        source,
    })?;
    Ok(Grant { prefix, key })
}

impl Allowlist {
    /// Parses allowlist text for the log `origin`; a pair given twice is held once.
    ///
    /// # Errors
    /// [`AllowlistError::Syntax`] or [`AllowlistError::Grant`] naming the first bad line.
    pub fn parse(text: &str, origin: &str) -> Result<Allowlist, AllowlistError> {
        let mut grants = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = |source| AllowlistError::Grant {
                line: i + 1,
                source,
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let grant = match fields.as_slice() {
                ["publisher", prefix, vkey] => parse_grant(prefix, vkey).map_err(bad)?,
                ["publisher", prefix, vkey, log] if *log == origin => {
                    parse_grant(prefix, vkey).map_err(bad)?
                }
                ["publisher", _, _, _] => continue,
                _ => return Err(AllowlistError::Syntax { line: i + 1 }),
            };
            grants.push(grant);
        }
        Ok(Allowlist {
            rules: rules::Allowlist::from_grants(grants),
        })
    }

    /// Reads and parses a file.
    ///
    /// # Errors
    /// [`AllowlistError`].
    pub fn load(path: &Path, origin: &str) -> Result<Allowlist, AllowlistError> {
        let text = std::fs::read_to_string(path).map_err(|source| AllowlistError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Allowlist::parse(&text, origin)
    }

    /// Rebuilds the logged allowlist from stored `(prefix, vkey)` rows.
    ///
    /// # Errors
    /// [`GrantError`] if a stored row does not parse (a damaged database).
    pub fn from_rows(rows: &[(String, String)]) -> Result<Allowlist, GrantError> {
        let grants = rows
            .iter()
            .map(|(p, k)| parse_grant(p, k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Allowlist {
            rules: rules::Allowlist::from_grants(grants),
        })
    }

    /// All grants.
    pub fn grants(&self) -> &[Grant] {
        self.rules.grants()
    }

    /// The rule book's allowlist.
    pub fn rules(&self) -> &rules::Allowlist {
        &self.rules
    }

    /// Changes turning `self` into `target`: every removal first, then every addition.
    pub fn diff(&self, target: &Allowlist) -> Vec<(PublisherChange, Grant)> {
        self.rules.diff(&target.rules)
    }

    /// Every allowlisted key that may have signed `b`: those with the signature line's name
    /// and key ID whose prefix covers the ref. All of them must be tried: two tenants' keys
    /// can share name and key ID (a 4-byte ID is cheap to grind), so the first match may
    /// belong to another tenant.
    ///
    /// # Errors
    /// [`Denied::UnknownKey`] if no key has the name and key ID, [`Denied::RefNotAllowed`]
    /// if none of those covers the ref.
    pub fn candidates(&self, b: &SignedBinding) -> Result<Vec<VerifierKey>, Denied> {
        self.rules.candidates(b).map_err(|reason| {
            let (name, id) = b.signer();
            match reason {
                NotAdmittedReason::UnknownKey => Denied::UnknownKey {
                    name: name.to_string(),
                    id: id.to_string(),
                },
                NotAdmittedReason::NoPrefix => Denied::RefNotAllowed {
                    key: format!("{name}+{id}"),
                    reference: b.binding().reference.to_string(),
                },
            }
        })
    }

    /// Checks that `key` (the key a binding verified under) may still bind `reference`.
    ///
    /// # Errors
    /// [`Denied::UnknownKey`] if the key is no longer allowlisted at all,
    /// [`Denied::RefNotAllowed`] if it is, but for no prefix covering the ref.
    pub fn check(&self, reference: &TagRef, key: &VerifierKey) -> Result<(), Denied> {
        let mut known = false;
        for g in self.rules.grants().iter().filter(|g| &g.key == key) {
            if g.prefix.matches(reference) {
                return Ok(());
            }
            known = true;
        }
        Err(if known {
            Denied::RefNotAllowed {
                key: key.to_string(),
                reference: reference.to_string(),
            }
        } else {
            Denied::UnknownKey {
                name: key.name().to_string(),
                id: key.id().to_string(),
            }
        })
    }
}
