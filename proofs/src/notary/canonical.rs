//! The bytes Notary signs: the `signed` member re-encoded as OLPC canonical JSON
//! (<http://wiki.laptop.org/go/Canonical_JSON>; Notary's encoder is docker/go
//! `canonical/json`: sorted keys, no whitespace, only `"` and `\` escaped, no floats).
//!
//! Taglog never verifies the bytes it received: it verifies the canonical re-encoding of the
//! value it parsed, and reads every field from that same value, so what is used is what was
//! signed. The encoder is the `olpc-cjson` crate (the one The Update Framework's Rust client
//! uses); it also normalises strings to Unicode NFC, which Notary does not, so a signed string
//! that is not in NFC fails verification (fails closed; Docker tags are ASCII).

/// Why a value has no canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no canonical JSON encoding: {0}")]
pub struct CanonicalError(pub String);

/// The canonical JSON encoding of `value`.
///
/// # Errors
/// [`CanonicalError`] for a value holding a floating-point number.
pub fn canonical_json(value: &serde_json::Value) -> Result<Vec<u8>, CanonicalError> {
    use serde::Serialize as _;
    let mut buf = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut buf, olpc_cjson::CanonicalFormatter::new());
    value
        .serialize(&mut ser)
        .map_err(|e| CanonicalError(e.to_string()))?;
    Ok(buf)
}
