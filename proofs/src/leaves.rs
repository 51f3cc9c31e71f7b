//! Log leaves (DESIGN §3.4, §3.5): bindings, state leaves and publisher leaves, and
//! [`Leaf::parse`], which dispatches on the first line.
//!
//! ```text
//! taglog/v1/state                      taglog/v1/publisher
//! size <index of this leaf>            add|remove <prefix> <publisher vkey>
//! map <base64 32-byte map root>        time <t>
//! time <t>
//! ```
//!
//! Guarantees: every parser accepts only the exact form (the lines in order, single spaces,
//! `\n` endings, canonical numbers ≤ 2⁶³−1, canonical padded base64, a canonical prefix, an
//! Ed25519 vkey whose key ID checks), so `parse` and `to_text` are inverse on the accepted
//! set. Out of scope, because they need log context: `size` = the leaf's own index, the map
//! root's value, non-decreasing times, duplicate adds and removals of absent pairs, and the
//! version rule (see [`crate::binding::check_version`]).

use std::str::FromStr;

use crate::binding::{exact_lines, field, BindingError, SignedBinding, TextError, BINDING_HEADER};
use crate::hash::{leaf_hash, Hash};
use crate::note::{KeyError, KeyType, VerifierKey};
use crate::num::{parse_decimal, MAX_TEXT_NUMBER};
use crate::refs::{RefError, RefPrefix};

/// First line of a state leaf.
pub const STATE_HEADER: &str = "taglog/v1/state";
/// First line of a publisher leaf.
pub const PUBLISHER_HEADER: &str = "taglog/v1/publisher";
/// Largest log-authored leaf accepted, in bytes (a publisher leaf with a 384-byte tagged
/// prefix and a 255-byte key name is under 800). Checked before parsing.
pub const MAX_LOG_LEAF_BYTES: usize = 1024;

/// Why a leaf was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    /// Larger than any valid leaf of its kind.
    #[error("leaf is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Length of the entry.
        len: usize,
        /// The limit that applied.
        max: usize,
    },
    /// The first line is not a known leaf header.
    #[error("unknown leaf type: the first line must be taglog/v1/binding, taglog/v1/state or taglog/v1/publisher")]
    UnknownType,
    /// Wrong line count, order, spacing or line endings.
    #[error("malformed leaf text: {0}")]
    Text(#[from] TextError),
    /// A number with a sign, leading zero, non-digit, or above 2⁶³−1.
    #[error("{field} {value:?}: decimal without leading zeros, at most 2^63-1")]
    Number {
        /// The field name.
        field: &'static str,
        /// What was written.
        value: String,
    },
    /// The map root is not canonical padded base64 of 32 bytes.
    #[error("map root {0:?}: expected canonical padded base64 of 32 bytes")]
    MapRoot(String),
    /// The change is neither `add` nor `remove`.
    #[error("publisher change {0:?}: expected add or remove")]
    Change(String),
    /// The prefix is not canonical.
    #[error("publisher prefix: {0}")]
    Prefix(#[from] RefError),
    /// The vkey does not parse (or its key ID does not check).
    #[error("publisher vkey: {0}")]
    Key(#[from] KeyError),
    /// The vkey is a cosigner (0x04) key; publishers use Ed25519 (0x01).
    #[error("publisher vkey {0} is a cosigner (type 0x04) key; publisher keys are Ed25519 (0x01)")]
    KeyType(String),
    /// A malformed binding.
    #[error("binding: {0}")]
    Binding(#[from] BindingError),
}

fn number(field: &'static str, value: &str) -> Result<u64, LeafError> {
    parse_decimal(value).ok_or_else(|| LeafError::Number {
        field,
        value: value.to_owned(),
    })
}

fn check_number(field: &'static str, v: u64) -> Result<(), LeafError> {
    if v > MAX_TEXT_NUMBER {
        return Err(LeafError::Number {
            field,
            value: v.to_string(),
        });
    }
    Ok(())
}

fn utf8(entry: &[u8]) -> Result<&str, LeafError> {
    if entry.len() > MAX_LOG_LEAF_BYTES {
        return Err(LeafError::TooLarge {
            len: entry.len(),
            max: MAX_LOG_LEAF_BYTES,
        });
    }
    std::str::from_utf8(entry).map_err(|_| LeafError::Text(TextError::NotUtf8))
}

/// The log's state leaf: the last leaf of every checkpoint.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StateLeaf {
    /// The leaf's own index (checked against the index by the caller).
    pub size: u64,
    /// The tag map root after all leaves before this one.
    pub map_root: Hash,
    /// The log's clock, non-decreasing (checked by the caller).
    pub time: u64,
}

impl StateLeaf {
    /// Parses a state leaf strictly.
    ///
    /// # Errors
    /// [`LeafError::TooLarge`] (first), [`LeafError::Text`], [`LeafError::UnknownType`] for
    /// another header, [`LeafError::Number`] and [`LeafError::MapRoot`].
    pub fn parse(entry: &[u8]) -> Result<StateLeaf, LeafError> {
        let [header, size, map, time] = exact_lines::<4>(utf8(entry)?)?;
        if header != STATE_HEADER {
            return Err(LeafError::UnknownType);
        }
        let size = field(size, "size", 2, "size <decimal>")?;
        let map = field(map, "map", 3, "map <base64 map root>")?;
        let time = field(time, "time", 4, "time <decimal>")?;
        Ok(StateLeaf {
            size: number("size", size)?,
            map_root: Hash::from_base64(map).ok_or_else(|| LeafError::MapRoot(map.to_owned()))?,
            time: number("time", time)?,
        })
    }

    /// Checks that both numbers are at most 2⁶³−1, so the text parses back.
    ///
    /// # Errors
    /// [`LeafError::Number`].
    pub fn validate(&self) -> Result<(), LeafError> {
        check_number("size", self.size)?;
        check_number("time", self.time)
    }

    /// The leaf text (the entry), four lines.
    pub fn to_text(&self) -> String {
        format!(
            "{STATE_HEADER}\nsize {}\nmap {}\ntime {}\n",
            self.size,
            self.map_root.to_base64(),
            self.time
        )
    }
}

/// One change of the server's publisher allowlist.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PublisherChange {
    /// `add`: the key may bind refs under the prefix from the next leaf on.
    Add,
    /// `remove`: the key may no longer bind refs under the prefix.
    Remove,
}

impl PublisherChange {
    /// The word in the leaf.
    pub fn as_str(self) -> &'static str {
        match self {
            PublisherChange::Add => "add",
            PublisherChange::Remove => "remove",
        }
    }
}

/// A publisher leaf: one logged change of the allowlist.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PublisherLeaf {
    /// Add or remove.
    pub change: PublisherChange,
    /// The canonical prefix the key is (no longer) allowed for.
    pub prefix: RefPrefix,
    /// The publisher's Ed25519 verifier key.
    pub key: VerifierKey,
    /// The log's clock, non-decreasing (checked by the caller).
    pub time: u64,
}

impl PublisherLeaf {
    /// Parses a publisher leaf strictly.
    ///
    /// # Errors
    /// [`LeafError::TooLarge`] (first), [`LeafError::Text`], [`LeafError::UnknownType`] for
    /// another header, [`LeafError::Change`], [`LeafError::Prefix`], [`LeafError::Key`],
    /// [`LeafError::KeyType`] and [`LeafError::Number`].
    pub fn parse(entry: &[u8]) -> Result<PublisherLeaf, LeafError> {
        let [header, change_line, time] = exact_lines::<3>(utf8(entry)?)?;
        if header != PUBLISHER_HEADER {
            return Err(LeafError::UnknownType);
        }
        let bad_line = TextError::Line {
            line: 2,
            expected: "add|remove <prefix> <vkey>",
        };
        let words: Vec<&str> = change_line.split(' ').collect();
        let [change, prefix, key] = <[&str; 3]>::try_from(words)
            .ok()
            .filter(|w| w.iter().all(|x| !x.is_empty()))
            .ok_or(bad_line)?;
        let change = match change {
            "add" => PublisherChange::Add,
            "remove" => PublisherChange::Remove,
            other => return Err(LeafError::Change(other.to_owned())),
        };
        let prefix = RefPrefix::from_str(prefix)?;
        let key = VerifierKey::from_str(key)?;
        if key.key_type() != KeyType::Ed25519 {
            return Err(LeafError::KeyType(key.to_string()));
        }
        let time = field(time, "time", 3, "time <decimal>")?;
        Ok(PublisherLeaf {
            change,
            prefix,
            key,
            time: number("time", time)?,
        })
    }

    /// Checks the key type and the time range, so the text parses back.
    ///
    /// # Errors
    /// [`LeafError::KeyType`] or [`LeafError::Number`].
    pub fn validate(&self) -> Result<(), LeafError> {
        if self.key.key_type() != KeyType::Ed25519 {
            return Err(LeafError::KeyType(self.key.to_string()));
        }
        check_number("time", self.time)
    }

    /// The leaf text (the entry), three lines.
    pub fn to_text(&self) -> String {
        format!(
            "{PUBLISHER_HEADER}\n{} {} {}\ntime {}\n",
            self.change.as_str(),
            self.prefix,
            self.key,
            self.time
        )
    }
}

/// Any leaf of a taglog log.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Leaf {
    /// A publisher's signed binding (signature not yet verified).
    Binding(SignedBinding),
    /// A state leaf.
    State(StateLeaf),
    /// A publisher (allowlist) leaf.
    Publisher(PublisherLeaf),
}

impl Leaf {
    /// Parses a leaf entry, choosing the parser by its first line.
    ///
    /// # Errors
    /// [`LeafError::UnknownType`] for an unknown first line, [`LeafError::Binding`] for a bad
    /// binding, and the errors of [`StateLeaf::parse`] and [`PublisherLeaf::parse`].
    pub fn parse(entry: &[u8]) -> Result<Leaf, LeafError> {
        let first = entry.split(|&b| b == b'\n').next().unwrap_or_default();
        // A CRLF header still picks its parser, which then names the real defect.
        let first = first.strip_suffix(b"\r").unwrap_or(first);
        if first == BINDING_HEADER.as_bytes() {
            Ok(Leaf::Binding(SignedBinding::parse(entry)?))
        } else if first == STATE_HEADER.as_bytes() {
            Ok(Leaf::State(StateLeaf::parse(entry)?))
        } else if first == PUBLISHER_HEADER.as_bytes() {
            Ok(Leaf::Publisher(PublisherLeaf::parse(entry)?))
        } else {
            Err(LeafError::UnknownType)
        }
    }

    /// The entry bytes (for a binding, the signed note as received).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Leaf::Binding(b) => b.entry().to_vec(),
            Leaf::State(s) => s.to_text().into_bytes(),
            Leaf::Publisher(p) => p.to_text().into_bytes(),
        }
    }

    /// The RFC 6962 leaf hash of the entry.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.to_bytes())
    }
}
