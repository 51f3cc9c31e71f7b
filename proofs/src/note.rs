//! C2SP signed notes and their keys: <https://c2sp.org/signed-note> (DESIGN §3.2).
//!
//! A note is a text ending in `\n`, a blank line, and one or more signature lines
//! `— <key name> <base64(key ID ‖ signature)>`. This module guarantees:
//!
//! - [`Note::parse`] accepts only the exact form: at most [`MAX_NOTE_BYTES`] bytes, valid UTF-8,
//!   no control character other than `\n`, 1..=[`MAX_SIGNATURES`] signature lines, valid key
//!   names, canonical padded base64, at least a key ID and one signature byte. Every accepted
//!   input re-encodes byte for byte through [`Note::to_bytes`].
//! - [`Note::verify`] verifies every signature line whose (name, key ID) matches a given key,
//!   with the one signature predicate [`ed25519_verify_strict`]; unknown lines are ignored, a
//!   known line that fails (or appears twice) rejects the note, and at least one must verify.
//! - Key IDs are `SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]`; vkeys and private-key strings
//!   are parsed strictly and their stated key ID is checked.
//!
//! Out of scope: signature types other than Ed25519 (0x01) and Ed25519 cosignature/v1 (0x04;
//! message built in [`crate::cosignature`]), reading key files and their permissions (the
//! binaries do that), and the meaning of the text.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::b64;
use crate::hash::sha256;

/// Largest signed note accepted or produced, in bytes (64 KiB).
pub const MAX_NOTE_BYTES: usize = 65536;
/// Most signature lines a note may carry.
pub const MAX_SIGNATURES: usize = 32;
/// Longest key name, in bytes.
pub const MAX_KEY_NAME_BYTES: usize = 255;
/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// Prefix of every signature line: U+2014 EM DASH and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";
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

/// Errors parsing, building or verifying a signed note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("note is {len} bytes; the limit is {MAX_NOTE_BYTES}")]
    TooLarge {
        /// Length of the input or of the note that would be produced.
        len: usize,
    },
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// A control character other than `\n` (for example `\r` or a tab) occurs.
    #[error("note contains control character 0x{byte:02x} at byte {offset}; only \\n is allowed")]
    ControlCharacter {
        /// The offending byte.
        byte: u8,
        /// Its offset in the note.
        offset: usize,
    },
    /// No blank line separates the text from the signatures.
    #[error("note has no blank line between text and signatures")]
    MissingBlankLine,
    /// The text is empty or does not end in `\n`.
    #[error("note text must be non-empty and end in a newline")]
    BadText,
    /// There is no signature line.
    #[error("note has no signature lines")]
    NoSignatures,
    /// The last signature line does not end in `\n`.
    #[error("the last signature line does not end in a newline")]
    MissingFinalNewline,
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signature lines")]
    TooManySignatures,
    /// A signature line is malformed.
    #[error("signature line {line}: {reason}")]
    BadSignatureLine {
        /// 1-based number of the signature line.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key of the wrong signature type was used.
    #[error("key {name} has type {got:?}, expected {expected:?}")]
    WrongKeyType {
        /// Key name.
        name: String,
        /// Type this operation needs.
        expected: KeyType,
        /// Type of the given key.
        got: KeyType,
    },
    /// A signature by a known key failed to verify; the whole note is rejected.
    #[error("signature by known key {name}+{id} does not verify; the note is rejected")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        id: KeyId,
    },
    /// A known key signed the note twice.
    #[error("known key {name}+{id} has more than one signature line; the note is rejected")]
    DuplicateSignature {
        /// Key name.
        name: String,
        /// Key ID.
        id: KeyId,
    },
    /// No signature by any of the given keys is present.
    #[error("no signature by a trusted key; check the key name, ID and type")]
    NoTrustedSignature,
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
#[derive(Clone, PartialEq, Eq, Debug)]
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

/// One signature line: key name, key ID and the signature bytes after the key ID
/// (64 bytes for Ed25519, 8 + 64 for cosignature/v1; other lengths are kept for unknown keys).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct NoteSignature {
    /// Key name.
    pub name: KeyName,
    /// Key ID.
    pub id: KeyId,
    /// Signature bytes, without the key ID (at least one byte).
    pub sig: Vec<u8>,
}

impl NoteSignature {
    /// The key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The signature bytes after the key ID.
    pub fn sig(&self) -> &[u8] {
        &self.sig
    }

    /// The signature line, `— <name> <base64(id ‖ sig)>\n`.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.sig.len());
        raw.extend_from_slice(&self.id.0);
        raw.extend_from_slice(&self.sig);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, b64::encode(raw))
    }

    /// Parses one signature line without its final `\n`.
    ///
    /// # Errors
    /// [`NoteError::BadSignatureLine`] (numbered `line_no`) for a missing prefix, bad name,
    /// non-canonical base64 or fewer than 5 decoded bytes.
    pub fn parse_line(line: &str, line_no: usize) -> Result<NoteSignature, NoteError> {
        let bad = |reason| NoteError::BadSignatureLine {
            line: line_no,
            reason,
        };
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or_else(|| bad("must start with an em dash and a space"))?;
        let (name, encoded) = rest
            .split_once(' ')
            .ok_or_else(|| bad("must be '— <name> <base64>'"))?;
        let name: KeyName = name.parse().map_err(|_| bad("invalid key name"))?;
        let raw =
            b64::decode(encoded).map_err(|_| bad("signature is not canonical padded base64"))?;
        if raw.len() < 5 {
            return Err(bad("signature shorter than key ID plus one byte"));
        }
        let (id, sig) = raw.split_at(4);
        let id = <[u8; 4]>::try_from(id).map_err(|_| bad("missing key ID"))?;
        Ok(NoteSignature {
            name,
            id: KeyId(id),
            sig: sig.to_vec(),
        })
    }
}

/// A parsed signed note. Fields are private: a `Note` always re-encodes within the limits.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// Checks that `text` is a valid note text: non-empty, ends in `\n`, no control characters
/// other than `\n`.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::BadText);
    }
    check_controls(text.as_bytes())
}

fn check_controls(bytes: &[u8]) -> Result<(), NoteError> {
    match bytes.iter().position(|&b| b < 0x20 && b != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter {
            byte: bytes.get(offset).copied().unwrap_or_default(),
            offset,
        }),
        None => Ok(()),
    }
}

impl Note {
    /// Builds a note from a text and signatures, checking every rule [`Note::parse`] checks.
    ///
    /// # Errors
    /// [`NoteError::BadText`], [`NoteError::ControlCharacter`], [`NoteError::NoSignatures`],
    /// [`NoteError::TooManySignatures`], a signature with no bytes, or [`NoteError::TooLarge`].
    pub fn new(text: String, signatures: Vec<NoteSignature>) -> Result<Note, NoteError> {
        check_text(&text)?;
        if signatures.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        if let Some(i) = signatures.iter().position(|s| s.sig.is_empty()) {
            return Err(NoteError::BadSignatureLine {
                line: i + 1,
                reason: "empty signature",
            });
        }
        let note = Note { text, signatures };
        let len = note.encoded_len();
        if len > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { len });
        }
        Ok(note)
    }

    /// Parses a signed note strictly (see the module docs).
    ///
    /// # Errors
    /// [`NoteError::TooLarge`] (checked first), [`NoteError::NotUtf8`],
    /// [`NoteError::ControlCharacter`], [`NoteError::MissingBlankLine`], [`NoteError::BadText`],
    /// [`NoteError::NoSignatures`], [`NoteError::MissingFinalNewline`],
    /// [`NoteError::TooManySignatures`] or [`NoteError::BadSignatureLine`].
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge { len: bytes.len() });
        }
        let s = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        check_controls(bytes)?;
        let split = s.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
        let (text, sigs) = (s.get(..=split), s.get(split + 2..));
        let (text, sigs) = text.zip(sigs).ok_or(NoteError::MissingBlankLine)?;
        check_text(text)?;
        if sigs.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let body = sigs
            .strip_suffix('\n')
            .ok_or(NoteError::MissingFinalNewline)?;
        let mut signatures = Vec::new();
        for (i, line) in body.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(NoteSignature::parse_line(line, i + 1)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text, including its final newline, excluding the blank line.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    fn encoded_len(&self) -> usize {
        let sigs: usize = self
            .signatures
            .iter()
            .map(|s| {
                SIGNATURE_PREFIX.len() + s.name.0.len() + 1 + (4 + s.sig.len()).div_ceil(3) * 4 + 1
            })
            .sum();
        self.text.len() + 1 + sigs
    }

    /// The canonical encoding: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.encoded_len());
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out.into_bytes()
    }

    /// Verifies the note against trusted keys and returns the keys whose signature verified
    /// (each once, in the order of the signature lines).
    ///
    /// A line matches a key when both name and key ID are equal. Ed25519 (0x01) lines are
    /// checked over the text; cosignature/v1 (0x04) lines over the cosigned message.
    ///
    /// # Errors
    /// [`NoteError::InvalidSignature`] if any matching line fails, [`NoteError::DuplicateSignature`]
    /// if a key matches two lines, [`NoteError::NoTrustedSignature`] if none matched.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<Vec<VerifierKey>, NoteError> {
        let mut verified: Vec<VerifierKey> = Vec::new();
        for sig in &self.signatures {
            let Some(key) = keys.iter().find(|k| k.matches(sig)) else {
                continue;
            };
            let err = |dup: bool| {
                let (name, id) = (sig.name.0.clone(), sig.id);
                if dup {
                    NoteError::DuplicateSignature { name, id }
                } else {
                    NoteError::InvalidSignature { name, id }
                }
            };
            if verified.iter().any(|k| k.matches(sig)) {
                return Err(err(true));
            }
            let ok = match key.key_type {
                KeyType::Ed25519 => key.verify_raw(self.text.as_bytes(), &sig.sig),
                KeyType::Cosignature => {
                    crate::cosignature::verify_cosignature(sig, &self.text, key).is_ok()
                }
            };
            if !ok {
                return Err(err(false));
            }
            verified.push(key.clone());
        }
        if verified.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(verified)
    }
}

/// Signs `text` with each Ed25519 signer (in order) and returns the signed note bytes.
///
/// # Errors
/// [`NoteError::BadText`] / [`NoteError::ControlCharacter`] for an invalid text,
/// [`NoteError::WrongKeyType`] for a cosignature key (use [`crate::cosignature::cosign`]),
/// [`NoteError::NoSignatures`], [`NoteError::TooManySignatures`] or [`NoteError::TooLarge`].
pub fn sign_note(text: &str, signers: &[&SignerKey]) -> Result<Vec<u8>, NoteError> {
    check_text(text)?;
    let mut signatures = Vec::with_capacity(signers.len());
    for s in signers {
        if s.key_type() != KeyType::Ed25519 {
            return Err(NoteError::WrongKeyType {
                name: s.name().0.clone(),
                expected: KeyType::Ed25519,
                got: s.key_type(),
            });
        }
        signatures.push(NoteSignature {
            name: s.name().clone(),
            id: s.id(),
            sig: s.sign(text.as_bytes()).to_vec(),
        });
    }
    Ok(Note::new(text.to_owned(), signatures)?.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(note.verify(&[vkey.clone()]).unwrap(), vec![vkey]);
        assert_eq!(note.to_bytes(), SIGNED.as_bytes());
    }

    #[test]
    fn debug_redacts_the_seed() {
        let signer: SignerKey = SKEY.parse().unwrap();
        assert!(!format!("{signer:?}").contains("AYEKFALV"));
    }
}
