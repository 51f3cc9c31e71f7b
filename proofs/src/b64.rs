//! Canonical standard padded base64 (RFC 4648 §4): the only base64 taglog reads or writes.
//!
//! Decoding rejects missing padding, non-zero trailing bits and whitespace, so that every
//! accepted string re-encodes to itself.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Encodes bytes as standard padded base64.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Decodes canonical standard padded base64.
///
/// # Errors
/// Returns the decoder's error for invalid characters, missing padding or non-canonical
/// trailing bits.
pub fn decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(s)
}
