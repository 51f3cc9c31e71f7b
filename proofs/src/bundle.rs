//! Proof bundle (taglog JSON, DESIGN §3.10): what `/lookup` returns and `taglog bundle` saves,
//! and the `/history` page that proves past bindings of a ref (used for pins, §4 step 8).
//!
//! ```json
//! { "ref": "...", "status": "bound" | "withdrawn" | "unbound",
//!   "checkpoint": "<signed note, with cosignatures>",
//!   "state":   { "index": n, "entry": "<base64>", "inclusion": ["<b64>", ...] },
//!   "map":     { "proof": <§3.6 proof> },
//!   "binding": { "index": n, "entry": "<base64>", "inclusion": [...] } | null,
//!   "consistency": { "from_size": n, "proof": [...] } | absent }
//! ```
//!
//! Guarantees: a parsed [`Bundle`] came from at most [`MAX_BUNDLE_BYTES`] of JSON in which no
//! object, at any depth, has a duplicate member; unknown members are ignored; every integer
//! is ≤ 2⁵³−1; every base64 string is canonical padded base64; every hash list has at most
//! [`MAX_PROOF_HASHES`] entries; the ref is canonical. Parsing proves nothing: the bundle's
//! contents are verified only by [`crate::verify`]; `status` is a hint that verification
//! compares with what it derives.
//!
//! Out of scope: fetching bundles; the `/lookup` query itself.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::Hash;
use crate::map::MapProof;
use crate::refs::TagRef;

/// Largest bundle accepted, in bytes of JSON.
pub const MAX_BUNDLE_BYTES: usize = 512 * 1024;
/// Largest `/history` page accepted, in bytes of JSON.
pub const MAX_HISTORY_BYTES: usize = 8 * 1024 * 1024;
/// Most entries on one `/history` page.
pub const MAX_HISTORY_ENTRIES: usize = 1000;
/// Most hashes in an inclusion or consistency proof (RFC 9162, trees < 2⁶³).
pub const MAX_PROOF_HASHES: usize = 63;
/// Largest integer in a bundle (2⁵³−1, exact in every JSON implementation).
pub const MAX_JSON_INTEGER: u64 = (1 << 53) - 1;
/// Largest decoded leaf entry (u16 length prefix in entry bundles).
pub const MAX_ENTRY_BYTES: usize = 65535;
/// Deepest JSON nesting accepted.
pub const MAX_JSON_DEPTH: usize = 32;

/// Why a bundle or history page was rejected before any verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Too many bytes.
    #[error("bundle is {found} bytes, at most {limit} are allowed")]
    TooLarge {
        /// Its size.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// An object with the same member twice.
    #[error("bundle JSON has the member `{member}` twice in one object; a bundle must not repeat members")]
    DuplicateMember {
        /// The member name.
        member: String,
    },
    /// Not JSON or not the §3.10 shape (serde's message names the member and position).
    #[error("malformed bundle: {0}")]
    Malformed(String),
}

/// The `status` hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The ref has a current binding to a digest.
    Bound,
    /// The current binding is a withdrawal.
    Withdrawn,
    /// The ref has never been bound in this log.
    Unbound,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Bound => "bound",
            Status::Withdrawn => "withdrawn",
            Status::Unbound => "unbound",
        })
    }
}

/// A leaf with its inclusion proof against the bundle's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafProof {
    /// Leaf index.
    #[serde(deserialize_with = "de_int")]
    pub index: u64,
    /// The exact leaf bytes.
    #[serde(serialize_with = "ser_b64", deserialize_with = "de_entry")]
    pub entry: Vec<u8>,
    /// RFC 9162 inclusion proof.
    #[serde(serialize_with = "ser_hashes", deserialize_with = "de_hashes")]
    pub inclusion: Vec<Hash>,
}

/// The `map` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapMember {
    /// The §3.6 proof for SHA-256(ref) against the state leaf's map root.
    pub proof: MapProof,
}

/// A consistency proof from an older size to the bundle's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyMember {
    /// The older size (the client's cached checkpoint, sent as `since`).
    #[serde(deserialize_with = "de_int")]
    pub from_size: u64,
    /// RFC 9162 consistency proof.
    #[serde(serialize_with = "ser_hashes", deserialize_with = "de_hashes")]
    pub proof: Vec<Hash>,
}

/// A parsed (not yet verified) proof bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// The signed reference the bundle is about.
    #[serde(rename = "ref")]
    pub reference: TagRef,
    /// The server's hint.
    pub status: Status,
    /// The signed checkpoint note with cosignatures.
    #[serde(serialize_with = "ser_text", deserialize_with = "de_text")]
    pub checkpoint: Vec<u8>,
    /// The state leaf (index size−1).
    pub state: LeafProof,
    /// The map proof.
    pub map: MapMember,
    /// The current binding, `null` when unbound.
    pub binding: Option<LeafProof>,
    /// Consistency from the size the client sent as `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<ConsistencyMember>,
}

/// A `/history` page: past bindings of one ref, each proven against `checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The reference.
    #[serde(rename = "ref")]
    pub reference: TagRef,
    /// The checkpoint every inclusion proof is against.
    #[serde(serialize_with = "ser_text", deserialize_with = "de_text")]
    pub checkpoint: Vec<u8>,
    /// Binding leaves in index order.
    pub entries: Vec<LeafProof>,
    /// Opaque cursor for the next page, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl Bundle {
    /// Parses a bundle strictly.
    ///
    /// # Errors
    /// [`BundleError::TooLarge`] above [`MAX_BUNDLE_BYTES`], [`BundleError::DuplicateMember`],
    /// or [`BundleError::Malformed`] naming the bad member.
    pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
        parse_strict(bytes, MAX_BUNDLE_BYTES)
    }

    /// Serialises the bundle as §3.10 JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl History {
    /// Parses a history page strictly (same rules as [`Bundle::parse`]).
    ///
    /// # Errors
    /// As [`Bundle::parse`], with [`MAX_HISTORY_BYTES`]; more than [`MAX_HISTORY_ENTRIES`]
    /// entries is [`BundleError::Malformed`].
    pub fn parse(bytes: &[u8]) -> Result<History, BundleError> {
        let h: History = parse_strict(bytes, MAX_HISTORY_BYTES)?;
        if h.entries.len() > MAX_HISTORY_ENTRIES {
            return Err(BundleError::Malformed(format!(
                "{} history entries, at most {MAX_HISTORY_ENTRIES}",
                h.entries.len()
            )));
        }
        Ok(h)
    }

    /// Serialises the page as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn parse_strict<T: de::DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, BundleError> {
    if bytes.len() > limit {
        return Err(BundleError::TooLarge {
            found: bytes.len(),
            limit,
        });
    }
    // Pass 1: structure only, rejecting duplicate members at every depth (serde_json keeps
    // the last duplicate silently, and derive only catches duplicates of known fields).
    let mut de = serde_json::Deserializer::from_slice(bytes);
    NoDuplicates { depth: 0 }
        .deserialize(&mut de)
        .map_err(|e| match DupError::take(&e) {
            Some(member) => BundleError::DuplicateMember { member },
            None => BundleError::Malformed(e.to_string()),
        })?;
    de.end()
        .map_err(|e| BundleError::Malformed(e.to_string()))?;
    // Pass 2: the typed shape.
    serde_json::from_slice(bytes).map_err(|e| BundleError::Malformed(e.to_string()))
}

const DUP_MARKER: &str = "\u{0}duplicate member\u{0}";

struct DupError;
impl DupError {
    fn take(e: &serde_json::Error) -> Option<String> {
        let s = e.to_string();
        let rest = s.strip_prefix(DUP_MARKER)?;
        // serde_json appends " at line L column C".
        let end = rest.rfind(" at line ").unwrap_or(rest.len());
        rest.get(..end).map(str::to_string)
    }
}

/// Walks any JSON value; fails on a repeated member name in one object or on nesting deeper
/// than [`MAX_JSON_DEPTH`].
struct NoDuplicates {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for NoDuplicates {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.depth > MAX_JSON_DEPTH {
            return Err(de::Error::custom(format!(
                "JSON nested deeper than {MAX_JSON_DEPTH}"
            )));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NoDuplicates {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.depth.saturating_add(1);
        while seq.next_element_seed(NoDuplicates { depth })?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let depth = self.depth.saturating_add(1);
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("{DUP_MARKER}{key}")));
            }
            map.next_value_seed(NoDuplicates { depth })?;
        }
        Ok(())
    }
}

fn de_int<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    if v > MAX_JSON_INTEGER {
        return Err(de::Error::custom(format!("integer {v} is above 2^53-1")));
    }
    Ok(v)
}

fn de_entry<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    // 4 base64 characters per 3 bytes: refuse to decode anything that cannot fit.
    if s.len() > MAX_ENTRY_BYTES.div_ceil(3).saturating_mul(4) {
        return Err(de::Error::custom(format!(
            "entry longer than {MAX_ENTRY_BYTES} bytes"
        )));
    }
    let b = crate::b64::decode(&s)
        .map_err(|e| de::Error::custom(format!("entry is not canonical padded base64: {e}")))?;
    if b.len() > MAX_ENTRY_BYTES {
        return Err(de::Error::custom(format!(
            "entry longer than {MAX_ENTRY_BYTES} bytes"
        )));
    }
    Ok(b)
}

fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() > crate::note::MAX_NOTE_BYTES {
        return Err(de::Error::custom(format!(
            "checkpoint note longer than {} bytes",
            crate::note::MAX_NOTE_BYTES
        )));
    }
    Ok(s.into_bytes())
}

struct HashList;
impl<'de> Visitor<'de> for HashList {
    type Value = Vec<Hash>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at most {MAX_PROOF_HASHES} base64 hashes")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Hash>, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element::<String>()? {
            if out.len() >= MAX_PROOF_HASHES {
                return Err(de::Error::custom(format!(
                    "more than {MAX_PROOF_HASHES} proof hashes"
                )));
            }
            let h = Hash::from_base64(&s).ok_or_else(|| {
                de::Error::custom(format!(
                    "proof hash {s:?} is not canonical padded base64 of 32 bytes"
                ))
            })?;
            out.push(h);
        }
        Ok(out)
    }
}

fn de_hashes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
    d.deserialize_seq(HashList)
}

fn ser_hashes<S: Serializer>(v: &[Hash], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(Hash::to_base64))
}

fn ser_b64<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::b64::encode(v))
}

fn ser_text<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: &str = include_str!("../tests/vectors/taglog/log-small/lookup/bound.json");

    #[test]
    fn parses_vector_and_round_trips() {
        let b = Bundle::parse(BOUND.as_bytes()).unwrap();
        assert_eq!(b.status, Status::Bound);
        assert_eq!(b.state.index, 30);
        let again = Bundle::parse(b.to_json().as_bytes()).unwrap();
        assert_eq!(again, b);
    }

    #[test]
    fn duplicate_members_rejected_at_any_depth() {
        let top = BOUND.replacen("{", "{\"status\": \"bound\",", 1);
        assert!(matches!(
            Bundle::parse(top.as_bytes()),
            Err(BundleError::DuplicateMember { member }) if member == "status"
        ));
        let unknown = BOUND.replacen("{", "{\"x\": 1, \"x\": 2,", 1);
        assert!(matches!(
            Bundle::parse(unknown.as_bytes()),
            Err(BundleError::DuplicateMember { .. })
        ));
        let deep = BOUND.replacen("\"index\": 23", "\"index\": 23, \"index\": 23", 1);
        assert_ne!(deep, BOUND);
        assert!(matches!(
            Bundle::parse(deep.as_bytes()),
            Err(BundleError::DuplicateMember { member }) if member == "index"
        ));
    }

    #[test]
    fn unknown_members_ignored_and_limits_enforced() {
        let extra = BOUND.replacen("{", "{\"future\": {\"a\": [1,2]},", 1);
        assert!(Bundle::parse(extra.as_bytes()).is_ok());
        let big = BOUND.replacen("\"index\": 23", "\"index\": 9007199254740992", 1);
        assert!(matches!(
            Bundle::parse(big.as_bytes()),
            Err(BundleError::Malformed(_))
        ));
        let ok = BOUND.replacen("\"index\": 23", "\"index\": 9007199254740991", 1);
        assert!(Bundle::parse(ok.as_bytes()).is_ok());
        let neg = BOUND.replacen("\"index\": 23", "\"index\": -1", 1);
        assert!(Bundle::parse(neg.as_bytes()).is_err());
        let float = BOUND.replacen("\"index\": 23", "\"index\": 23.0", 1);
        assert!(Bundle::parse(float.as_bytes()).is_err());
        let huge = vec![b' '; MAX_BUNDLE_BYTES + 1];
        assert!(matches!(
            Bundle::parse(&huge),
            Err(BundleError::TooLarge { .. })
        ));
        let trailing = format!("{BOUND} {{}}");
        assert!(Bundle::parse(trailing.as_bytes()).is_err());
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(Bundle::parse(deep.as_bytes()).is_err());
    }
}
