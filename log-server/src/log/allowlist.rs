//! The server's publisher allowlist (DESIGN §3.5 publisher leaves, §5 submission path).
//!
//! The file holds `publisher <ref-prefix> <publisher vkey>` lines (the policy syntax; an
//! optional fourth field names a log origin and must then be this log's), `#` comments and
//! blank lines. The *logged* allowlist is the one the sequencer has written as
//! `taglog/v1/publisher` leaves; only it is used to admit bindings. Out of scope: writing
//! the leaves (the sequencer does) and the client's policy (proofs `policy.rs`).

use std::path::Path;

use taglog_proofs::leaves::PublisherChange;
use taglog_proofs::note::{KeyError, VerifierKey};
use taglog_proofs::refs::{RefError, RefPrefix};
use taglog_proofs::rules;

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

    /// The rule book's allowlist (admission is decided there: [`rules::Allowlist::candidates`]).
    pub fn rules(&self) -> &rules::Allowlist {
        &self.rules
    }

    /// The allowlist holding the rule book's `rules` (the logged allowlist after a commit).
    pub fn from_rules(rules: rules::Allowlist) -> Allowlist {
        Allowlist { rules }
    }

    /// Changes turning `self` into `target`: every removal first, then every addition.
    pub fn diff(&self, target: &Allowlist) -> Vec<(PublisherChange, Grant)> {
        self.rules.diff(&target.rules)
    }
}
