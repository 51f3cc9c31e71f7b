//! The §3.6 JSON form of [`MapProof`]:
//! `{"depth": d, "bitmap": b64, "siblings": [b64, ...], "terminal": ...}` with `terminal`
//! `{"key": b64, "value": b64}`, `{"key": b64, "value_hash": b64}` or `"empty"`.
//!
//! Serialization writes exactly that (members in that order). Deserialization is strict: every
//! member required, no unknown or duplicate member, canonical padded base64, 32-byte hashes,
//! at most [`MAX_MAP_DEPTH`] siblings read, and then [`MapProof::check_form`], so a proof that
//! parses is in the exact form. Malformed input is an error, never a panic.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::hash::Hash;

use super::proof::{MapProof, Terminal};
use super::{MAP_VALUE_LEN, MAX_MAP_DEPTH};

/// Longest base64 text read for a bitmap (32 bytes) or a hash.
const MAX_HASH_B64: usize = 44;
/// Longest base64 text read for a value (a little over 48 bytes, so that 49-byte values
/// reach the length check and are reported as such).
const MAX_VALUE_B64: usize = 4 * (MAP_VALUE_LEN + 16) / 3;

impl Serialize for MapProof {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("MapProof", 4)?;
        s.serialize_field("depth", &self.depth)?;
        s.serialize_field("bitmap", &crate::b64::encode(&self.bitmap))?;
        let siblings: Vec<String> = self.siblings.iter().map(Hash::to_base64).collect();
        s.serialize_field("siblings", &siblings)?;
        s.serialize_field("terminal", &self.terminal)?;
        s.end()
    }
}

impl Serialize for Terminal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Terminal::Empty => serializer.serialize_str("empty"),
            Terminal::Value { key, value } => {
                let mut m = serializer.serialize_map(Some(2))?;
                m.serialize_entry("key", &key.to_base64())?;
                m.serialize_entry("value", &crate::b64::encode(value))?;
                m.end()
            }
            Terminal::ValueHash { key, value_hash } => {
                let mut m = serializer.serialize_map(Some(2))?;
                m.serialize_entry("key", &key.to_base64())?;
                m.serialize_entry("value_hash", &value_hash.to_base64())?;
                m.end()
            }
        }
    }
}

fn decode_b64<E: de::Error>(s: &str, max: usize, what: &str) -> Result<Vec<u8>, E> {
    if s.len() > max {
        return Err(E::custom(format!(
            "{what} is longer than {max} base64 characters"
        )));
    }
    crate::b64::decode(s)
        .map_err(|e| E::custom(format!("{what} is not canonical padded base64: {e}")))
}

fn decode_hash<E: de::Error>(s: &str, what: &str) -> Result<Hash, E> {
    let bytes = decode_b64::<E>(s, MAX_HASH_B64, what)?;
    Hash::from_slice(&bytes)
        .ok_or_else(|| E::custom(format!("{what} has {} bytes, expected 32", bytes.len())))
}

/// The siblings array, read with a hard element limit before anything is allocated.
struct Siblings(Vec<Hash>);

impl<'de> Deserialize<'de> for Siblings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Siblings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of at most 256 base64 hashes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Siblings, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    if out.len() >= usize::from(MAX_MAP_DEPTH) {
                        return Err(de::Error::custom("more than 256 siblings"));
                    }
                    out.push(decode_hash::<A::Error>(&s, "sibling")?);
                }
                Ok(Siblings(out))
            }
        }
        d.deserialize_seq(V)
    }
}

impl<'de> Deserialize<'de> for Terminal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Terminal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""empty", {"key", "value"} or {"key", "value_hash"}"#)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Terminal, E> {
                if s == "empty" {
                    Ok(Terminal::Empty)
                } else {
                    Err(E::custom(format!(
                        "terminal string must be \"empty\", got {s:?}"
                    )))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Terminal, A::Error> {
                let mut key = None;
                let mut value = None;
                let mut value_hash = None;
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match name.as_ref() {
                        "key" => &mut key,
                        "value" => &mut value,
                        "value_hash" => &mut value_hash,
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown terminal member {other:?}"
                            )))
                        }
                    };
                    if slot.is_some() {
                        return Err(de::Error::custom(format!(
                            "duplicate terminal member {name:?}"
                        )));
                    }
                    *slot = Some(map.next_value::<std::borrow::Cow<'de, str>>()?);
                }
                let key = key.ok_or_else(|| de::Error::custom("terminal has no \"key\""))?;
                let key = decode_hash::<A::Error>(&key, "terminal key")?;
                match (value, value_hash) {
                    (Some(v), None) => Ok(Terminal::Value {
                        key,
                        value: decode_b64::<A::Error>(&v, MAX_VALUE_B64, "terminal value")?,
                    }),
                    (None, Some(h)) => Ok(Terminal::ValueHash {
                        key,
                        value_hash: decode_hash::<A::Error>(&h, "terminal value_hash")?,
                    }),
                    _ => Err(de::Error::custom(
                        "terminal must have exactly one of \"value\" and \"value_hash\"",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for MapProof {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MapProof;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map proof object {depth, bitmap, siblings, terminal}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MapProof, A::Error> {
                let mut depth: Option<u16> = None;
                let mut bitmap: Option<Vec<u8>> = None;
                let mut siblings: Option<Vec<Hash>> = None;
                let mut terminal: Option<Terminal> = None;
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let duplicate = match name.as_ref() {
                        "depth" => depth.replace(map.next_value()?).is_some(),
                        "bitmap" => {
                            let s = map.next_value::<std::borrow::Cow<'de, str>>()?;
                            let b = decode_b64::<A::Error>(&s, MAX_HASH_B64, "bitmap")?;
                            bitmap.replace(b).is_some()
                        }
                        "siblings" => siblings.replace(map.next_value::<Siblings>()?.0).is_some(),
                        "terminal" => terminal.replace(map.next_value()?).is_some(),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown map proof member {other:?}"
                            )))
                        }
                    };
                    if duplicate {
                        return Err(de::Error::custom(format!(
                            "duplicate map proof member {name:?}"
                        )));
                    }
                }
                let proof = MapProof {
                    depth: depth.ok_or_else(|| de::Error::missing_field("depth"))?,
                    bitmap: bitmap.ok_or_else(|| de::Error::missing_field("bitmap"))?,
                    siblings: siblings.ok_or_else(|| de::Error::missing_field("siblings"))?,
                    terminal: terminal.ok_or_else(|| de::Error::missing_field("terminal"))?,
                };
                proof.check_form().map_err(de::Error::custom)?;
                Ok(proof)
            }
        }
        d.deserialize_map(V)
    }
}

impl MapProof {
    /// Parses the §3.6 JSON form strictly (see the module docs of `json`).
    ///
    /// # Errors
    /// [`super::MapProofError::Encoding`] with the parser's message for anything that is not
    /// exactly that form.
    pub fn from_json(text: &str) -> Result<MapProof, super::MapProofError> {
        serde_json::from_str(text).map_err(|e| super::MapProofError::Encoding(e.to_string()))
    }

    /// The §3.6 JSON text of this proof.
    pub fn to_json(&self) -> String {
        // Serializing strings and integers into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed_without_panicking() {
        let ok = r#"{"depth":0,"bitmap":"","siblings":[],"terminal":"empty"}"#;
        assert!(MapProof::from_json(ok).is_ok());
        for bad in [
            r#"{"depth":0,"bitmap":"","siblings":[],"terminal":"empty","x":1}"#,
            r#"{"depth":0,"depth":0,"bitmap":"","siblings":[],"terminal":"empty"}"#,
            r#"{"depth":0,"bitmap":"","siblings":[]}"#,
            r#"{"depth":-1,"bitmap":"","siblings":[],"terminal":"empty"}"#,
            r#"{"depth":1.0,"bitmap":"","siblings":[],"terminal":"empty"}"#,
            r#"{"depth":0,"bitmap":"","siblings":[],"terminal":"Empty"}"#,
            r#"{"depth":0,"bitmap":"","siblings":[],"terminal":{"key":"AAAA"}}"#,
            r#"{"depth":0,"bitmap":"","siblings":[],"terminal":null}"#,
            r#"{"depth":0,"bitmap":"","siblings":[""],"terminal":"empty"}"#,
            r#"{"depth":0,"bitmap":"AA","siblings":[],"terminal":"empty"}"#,
            r#"[0,"",[],"empty"]"#,
            "",
            "{",
        ] {
            assert!(MapProof::from_json(bad).is_err(), "{bad}");
        }
    }
}
