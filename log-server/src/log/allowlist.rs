//! The server's publisher allowlist (DESIGN §3.5 publisher leaves, §5 submission path).
//!
//! The file holds `publisher <ref-prefix> <publisher vkey>` lines (the policy syntax; an
//! optional fourth field names a log origin and must then be this log's), `#` comments and
//! blank lines. The *logged* allowlist is the one the sequencer has written as
//! `taglog/v1/publisher` leaves; only it is used to admit bindings. Out of scope: writing
//! the leaves (the sequencer does) and the client's policy (proofs `policy.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use taglog_proofs::note::{KeyError, KeyId, KeyName, VerifierKey};
use taglog_proofs::refs::{RefError, RefPrefix, TagRef};

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
    /// The key is allowlisted, but for no prefix matching the ref.
    #[error("publisher key {key} may not bind {reference}: no allowlisted prefix of this key matches it")]
    RefNotAllowed {
        /// The key.
        key: String,
        /// The ref.
        reference: String,
    },
}

/// One admitted `(prefix, key)` pair.
#[derive(Clone, Debug)]
pub struct Grant {
    /// The prefix.
    pub prefix: RefPrefix,
    /// The publisher key.
    pub key: VerifierKey,
}

impl Grant {
    fn id(&self) -> (String, String) {
        (self.prefix.to_string(), self.key.to_string())
    }
}

/// A set of grants.
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    grants: Vec<Grant>,
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
    /// Parses allowlist text for the log `origin`.
    ///
    /// # Errors
    /// [`AllowlistError::Syntax`] or [`AllowlistError::Grant`] naming the first bad line.
    pub fn parse(text: &str, origin: &str) -> Result<Allowlist, AllowlistError> {
        let mut grants = Vec::new();
        let mut seen = BTreeSet::new();
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
            if seen.insert(grant.id()) {
                grants.push(grant);
            }
        }
        Ok(Allowlist { grants })
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
            .collect::<Result<_, _>>()?;
        Ok(Allowlist { grants })
    }

    /// All grants.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Changes turning `self` into `target`: removals first, then additions, each sorted.
    pub fn diff(&self, target: &Allowlist) -> (Vec<Grant>, Vec<Grant>) {
        let mine: BTreeSet<_> = self.grants.iter().map(Grant::id).collect();
        let theirs: BTreeSet<_> = target.grants.iter().map(Grant::id).collect();
        let removes = self
            .grants
            .iter()
            .filter(|g| !theirs.contains(&g.id()))
            .cloned()
            .collect();
        let adds = target
            .grants
            .iter()
            .filter(|g| !mine.contains(&g.id()))
            .cloned()
            .collect();
        (removes, adds)
    }

    /// The allowlisted key with this name and ID, if any.
    ///
    /// # Errors
    /// [`Denied::UnknownKey`].
    pub fn key(&self, name: &KeyName, id: KeyId) -> Result<&VerifierKey, Denied> {
        self.grants
            .iter()
            .map(|g| &g.key)
            .find(|k| k.name() == name && k.id() == id)
            .ok_or_else(|| Denied::UnknownKey {
                name: name.to_string(),
                id: id.to_string(),
            })
    }

    /// Checks that `key` may bind `reference`.
    ///
    /// # Errors
    /// [`Denied::RefNotAllowed`].
    pub fn check(&self, reference: &TagRef, key: &VerifierKey) -> Result<(), Denied> {
        let vkey = key.to_string();
        if self
            .grants
            .iter()
            .any(|g| g.key.to_string() == vkey && g.prefix.matches(reference))
        {
            Ok(())
        } else {
            Err(Denied::RefNotAllowed {
                key: vkey,
                reference: reference.to_string(),
            })
        }
    }
}
