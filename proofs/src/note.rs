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

mod keys;

pub use keys::{
    ed25519_verify_strict, KeyError, KeyId, KeyName, KeyType, SignerKey, VerifierKey,
    ED25519_SIGNATURE_LEN, MAX_KEY_NAME_BYTES,
};

use crate::b64;

/// Largest signed note accepted or produced, in bytes (64 KiB).
pub const MAX_NOTE_BYTES: usize = 65536;
/// Most signature lines a note may carry.
pub const MAX_SIGNATURES: usize = 32;

/// Prefix of every signature line: U+2014 EM DASH and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";

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
                SIGNATURE_PREFIX.len()
                    + s.name.as_str().len()
                    + 1
                    + (4 + s.sig.len()).div_ceil(3) * 4
                    + 1
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
                let (name, id) = (sig.name.to_string(), sig.id);
                if dup {
                    NoteError::DuplicateSignature { name, id }
                } else {
                    NoteError::InvalidSignature { name, id }
                }
            };
            if verified.iter().any(|k| k.matches(sig)) {
                return Err(err(true));
            }
            let ok = match key.key_type() {
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
                name: s.name().to_string(),
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
