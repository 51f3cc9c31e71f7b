//! Note keys: key names, signature types, key IDs, verifier keys (vkeys) and signer keys
//! (C2SP signed-note "Verifier keys"; DESIGN §3.2), and the one signature predicate.
//!
//! Guarantees: a [`KeyName`], [`VerifierKey`] or [`SignerKey`] exists only in valid form; vkey
//! and private-key strings are parsed strictly (lowercase hex key ID, canonical base64, a
//! supported type byte, 32 bytes of key) and their stated key ID is checked; small-order
//! public keys are refused. Out of scope: key files and their permissions.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::NoteSignature;
use crate::b64;
use crate::hash::sha256;

/// Longest key name, in bytes.
pub const MAX_KEY_NAME_BYTES: usize = 255;
/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Errors parsing a key name, vkey or private-key string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key name is empty, too long, or has a space, control character or `+`.
    #[error(
        "invalid key name: it must be 1..=255 bytes with no spaces, control characters or '+'"
    )]
    InvalidName,
    /// The string does not have the `name+hex8+base64` shape.
    #[error("malformed key string: expected {expected}")]
    Malformed {
        /// The expected shape.
        expected: &'static str,
    },
    /// The key ID is not 8 lowercase hex digits.
    #[error("key ID must be exactly 8 lowercase hex digits")]
    BadKeyIdHex,
    /// The key material is not canonical padded base64.
    #[error("key material is not canonical padded base64")]
    BadBase64,
    /// The signature type byte is not one taglog supports.
    #[error("unsupported signature type 0x{0:02x}: taglog supports 0x01 (Ed25519) and 0x04 (cosignature/v1)")]
    UnsupportedType(u8),
    /// The key material after the type byte is not 32 bytes.
    #[error("key material is {0} bytes after the type byte; Ed25519 keys are 32 bytes")]
    BadKeyLength(usize),
    /// The public key is not a valid Ed25519 point encoding.
    #[error("public key is not a valid Ed25519 point")]
    InvalidPoint,
    /// The public key has small order; no signature verifies under it.
    #[error("public key has small order (weak key); refuse it")]
    WeakKey,
    /// The stated key ID differs from the one computed from name, type and key.
    #[error("key ID {stated} does not match the computed key ID {computed}")]
    IdMismatch {
        /// The key ID written in the string.
        stated: KeyId,
        /// The key ID computed from name, type and key.
        computed: KeyId,
    },
}

/// A key name: non-empty, at most [`MAX_KEY_NAME_BYTES`] bytes, no Unicode white space, no
/// ASCII control characters, no `+`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct KeyName(String);

impl KeyName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyName {
    type Err = KeyError;

    /// # Errors
    /// [`KeyError::InvalidName`] unless the name is valid.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= MAX_KEY_NAME_BYTES
            && !s.chars().any(|c| c.is_whitespace() || c < ' ' || c == '+');
        if ok {
            Ok(KeyName(s.to_owned()))
        } else {
            Err(KeyError::InvalidName)
        }
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for KeyName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Signature type identifier bytes taglog supports (C2SP signed-note).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum KeyType {
    /// Plain Ed25519 over the note text: log and publisher keys.
    Ed25519 = 0x01,
    /// Timestamped Ed25519 checkpoint cosignature (cosignature/v1): witness keys.
    Cosignature = 0x04,
}

impl KeyType {
    /// The identifier byte.
    pub fn as_byte(self) -> u8 {
        self as u8
    }

    /// Reads an identifier byte.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedType`] for any byte other than 0x01 and 0x04.
    pub fn from_byte(b: u8) -> Result<KeyType, KeyError> {
        match b {
            0x01 => Ok(KeyType::Ed25519),
            0x04 => Ok(KeyType::Cosignature),
            other => Err(KeyError::UnsupportedType(other)),
        }
    }
}

/// A 4-byte key ID: `SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`. Displays as 8 lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    /// Computes the key ID of an Ed25519 public key of the given name and type.
    pub fn compute(name: &KeyName, key_type: KeyType, public_key: &[u8; 32]) -> KeyId {
        let mut buf = Vec::with_capacity(name.0.len() + 2 + 32);
        buf.extend_from_slice(name.0.as_bytes());
        buf.push(b'\n');
        buf.push(key_type.as_byte());
        buf.extend_from_slice(public_key);
        let h = sha256(&buf).0;
        KeyId([h[0], h[1], h[2], h[3]])
    }

    fn parse_hex(s: &str) -> Result<KeyId, KeyError> {
        if s.len() != 8 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(KeyError::BadKeyIdHex);
        }
        let v = u32::from_str_radix(s, 16).map_err(|_| KeyError::BadKeyIdHex)?;
        Ok(KeyId(v.to_be_bytes()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The one signature predicate of taglog: Ed25519 `verify_strict` (RFC 8032 with canonical
/// `S`, canonical `R` and rejection of small-order `R` and `A`; no batch verification).
///
/// Returns false for a signature that is not exactly 64 bytes.
pub fn ed25519_verify_strict(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    match Signature::from_slice(signature) {
        Ok(sig) => key.verify_strict(message, &sig).is_ok(),
        Err(_) => false,
    }
}

/// A verifier key (vkey) `<name>+<hex8>+<base64(type ‖ public key)>` with a checked key ID.
/// `Debug` prints the vkey string.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: KeyName,
    key_type: KeyType,
    id: KeyId,
    key: VerifyingKey,
}

impl VerifierKey {
    /// Builds a verifier key from its parts, computing the key ID.
    ///
    /// # Errors
    /// [`KeyError::WeakKey`] for a small-order public key.
    pub fn new(name: KeyName, key_type: KeyType, key: VerifyingKey) -> Result<Self, KeyError> {
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        let id = KeyId::compute(&name, key_type, key.as_bytes());
        Ok(VerifierKey {
            name,
            key_type,
            id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The signature type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether a signature line claims this key (same name and key ID). Type is implied by the ID.
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.id == self.id
    }

    /// [`ed25519_verify_strict`] of `signature` over `message` under this key.
    pub fn verify_raw(&self, message: &[u8], signature: &[u8]) -> bool {
        ed25519_verify_strict(&self.key, message, signature)
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;

    /// # Errors
    /// Any [`KeyError`]: bad shape, name, hex, base64, type, length, point, weak key or key ID.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const SHAPE: &str = "<name>+<8 hex digits>+<base64(type || key)>";
        let (name, rest) = s
            .split_once('+')
            .ok_or(KeyError::Malformed { expected: SHAPE })?;
        let (id_hex, material) = rest
            .split_once('+')
            .ok_or(KeyError::Malformed { expected: SHAPE })?;
        let name: KeyName = name.parse()?;
        let stated = KeyId::parse_hex(id_hex)?;
        let (key_type, bytes) = decode_material(material)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidPoint)?;
        let vk = VerifierKey::new(name, key_type, key)?;
        if vk.id != stated {
            return Err(KeyError::IdMismatch {
                stated,
                computed: vk.id,
            });
        }
        Ok(vk)
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = Vec::with_capacity(33);
        material.push(self.key_type.as_byte());
        material.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.id, b64::encode(material))
    }
}

/// Decodes `base64(type ‖ 32 bytes)`.
fn decode_material(material: &str) -> Result<(KeyType, [u8; 32]), KeyError> {
    let raw = b64::decode(material).map_err(|_| KeyError::BadBase64)?;
    let (&type_byte, key) = raw.split_first().ok_or(KeyError::BadKeyLength(0))?;
    let key_type = KeyType::from_byte(type_byte)?;
    let key = <[u8; 32]>::try_from(key).map_err(|_| KeyError::BadKeyLength(key.len()))?;
    Ok((key_type, key))
}

/// A private signing key `PRIVATE+KEY+<name>+<hex8>+<base64(type ‖ seed)>`.
///
/// `Debug` redacts the seed; `Display` writes the private-key string (handle with care).
#[derive(Clone)]
pub struct SignerKey {
    verifier: VerifierKey,
    signing: SigningKey,
}

impl SignerKey {
    /// Builds a signer from a 32-byte Ed25519 seed.
    pub fn from_seed(name: KeyName, key_type: KeyType, seed: [u8; 32]) -> SignerKey {
        let signing = SigningKey::from_bytes(&seed);
        let key = signing.verifying_key();
        let id = KeyId::compute(&name, key_type, key.as_bytes());
        SignerKey {
            verifier: VerifierKey {
                name,
                key_type,
                id,
                key,
            },
            signing,
        }
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        self.verifier.clone()
    }

    /// The key name.
    pub fn name(&self) -> &KeyName {
        &self.verifier.name
    }

    /// The key ID.
    pub fn id(&self) -> KeyId {
        self.verifier.id
    }

    /// The signature type.
    pub fn key_type(&self) -> KeyType {
        self.verifier.key_type
    }

    /// Raw deterministic Ed25519 signature (RFC 8032) over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("verifier", &self.verifier.to_string())
            .finish_non_exhaustive()
    }
}

impl FromStr for SignerKey {
    type Err = KeyError;

    /// # Errors
    /// Any [`KeyError`]: bad shape, name, hex, base64, type, length or key ID.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const SHAPE: &str = "PRIVATE+KEY+<name>+<8 hex digits>+<base64(type || seed)>";
        let rest = s
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(KeyError::Malformed { expected: SHAPE })?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(KeyError::Malformed { expected: SHAPE })?;
        let (id_hex, material) = rest
            .split_once('+')
            .ok_or(KeyError::Malformed { expected: SHAPE })?;
        let name: KeyName = name.parse()?;
        let stated = KeyId::parse_hex(id_hex)?;
        let (key_type, seed) = decode_material(material)?;
        let signer = SignerKey::from_seed(name, key_type, seed);
        if signer.id() != stated {
            return Err(KeyError::IdMismatch {
                stated,
                computed: signer.id(),
            });
        }
        Ok(signer)
    }
}

impl fmt::Display for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = Vec::with_capacity(33);
        material.push(self.key_type().as_byte());
        material.extend_from_slice(self.signing.as_bytes());
        write!(
            f,
            "{PRIVATE_KEY_PREFIX}{}+{}+{}",
            self.name(),
            self.id(),
            b64::encode(material)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{sign_note, Note};

    const SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIGNED: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn go_example_signs_and_verifies() {
        let signer: SignerKey = SKEY.parse().unwrap();
        let vkey: VerifierKey = VKEY.parse().unwrap();
        assert_eq!(signer.verifier(), vkey);
        assert_eq!(signer.to_string(), SKEY);
        assert_eq!(vkey.to_string(), VKEY);
        assert_eq!(sign_note(TEXT, &[&signer]).unwrap(), SIGNED.as_bytes());
        let note = Note::parse(SIGNED.as_bytes()).unwrap();
        assert_eq!(
            note.verify(std::slice::from_ref(&vkey)).unwrap(),
            vec![vkey]
        );
        assert_eq!(note.to_bytes(), SIGNED.as_bytes());
    }

    #[test]
    fn debug_redacts_the_seed() {
        let signer: SignerKey = SKEY.parse().unwrap();
        assert!(!format!("{signer:?}").contains("AYEKFALV"));
        assert_eq!(
            format!("{:?}", signer.verifier()),
            format!("VerifierKey({VKEY})")
        );
    }
}
