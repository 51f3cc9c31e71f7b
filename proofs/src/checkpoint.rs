//! C2SP tlog-checkpoint: <https://c2sp.org/tlog-checkpoint> (DESIGN §3.7).
//!
//! A taglog checkpoint text is exactly three lines: origin, decimal size, base64 root. This
//! module guarantees:
//!
//! - [`Checkpoint::parse`] accepts only that exact form (no extension lines, canonical number
//!   ≤ 2⁶³−1, canonical padded base64 of 32 bytes, origin non-empty without control
//!   characters), so every accepted text re-encodes byte for byte via [`Checkpoint::to_text`].
//! - [`SignedCheckpoint::open`] returns a checkpoint only after the log key's signature has
//!   verified and the origin equals the log key's name.
//! - [`SignedCheckpoint::cosignatures`] returns only cosignatures that verified, with their
//!   times; a failing or duplicated line by a trusted witness is an error.
//! - [`sign_checkpoint`] signs a re-encoding of a parsed [`Checkpoint`], never received bytes.
//!
//! Out of scope: consistency between checkpoints, quorum and freshness (the policy decides).

use crate::cosignature::{verify_cosignature, CosignatureError};
use crate::hash::Hash;
use crate::note::{sign_note, KeyType, Note, NoteError, NoteSignature, SignerKey, VerifierKey};
use crate::num::{parse_decimal, MAX_TEXT_NUMBER};

/// Longest origin line accepted, in bytes.
pub const MAX_ORIGIN_BYTES: usize = 255;

/// Errors parsing, opening or signing a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note itself is malformed or its log signature failed.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The origin line is empty, too long or has control characters.
    #[error("checkpoint origin must be 1..=255 bytes without control characters")]
    BadOrigin,
    /// The text does not have exactly three newline-terminated lines.
    #[error("checkpoint text must be exactly three lines: origin, size, root hash")]
    BadLineCount,
    /// An extension line follows the root; taglog checkpoints carry none.
    #[error("checkpoint has extension lines; taglog checkpoints have none")]
    ExtensionLines,
    /// The size is not a canonical decimal ≤ 2⁶³−1.
    #[error("checkpoint size is not a decimal without leading zeros and at most 2^63-1")]
    BadSize,
    /// The root is not canonical padded base64 of 32 bytes.
    #[error("checkpoint root is not canonical base64 of 32 bytes")]
    BadRoot,
    /// The origin differs from the log key's name.
    #[error("checkpoint origin {origin:?} is not the log key name {key_name:?}")]
    OriginMismatch {
        /// Origin line.
        origin: String,
        /// Name of the log key.
        key_name: String,
    },
    /// A key of the wrong type was given (log keys are 0x01, witness keys 0x04).
    #[error("key {name} has type {got:?}, expected {expected:?}")]
    WrongKeyType {
        /// Key name.
        name: String,
        /// Needed type.
        expected: KeyType,
        /// Given type.
        got: KeyType,
    },
    /// A trusted witness's cosignature line failed.
    #[error("cosignature: {0}")]
    Cosignature(#[from] CosignatureError),
    /// A trusted witness has two cosignature lines.
    #[error("witness {name} has more than one cosignature line")]
    DuplicateCosignature {
        /// Witness name.
        name: String,
    },
}

/// A checkpoint text: origin, tree size and root hash.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
}

fn check_origin(origin: &str) -> Result<(), CheckpointError> {
    let ok =
        !origin.is_empty() && origin.len() <= MAX_ORIGIN_BYTES && !origin.bytes().any(|b| b < 0x20);
    if ok {
        Ok(())
    } else {
        Err(CheckpointError::BadOrigin)
    }
}

impl Checkpoint {
    /// Builds a checkpoint.
    ///
    /// # Errors
    /// [`CheckpointError::BadOrigin`] or [`CheckpointError::BadSize`] (size above 2⁶³−1).
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Checkpoint, CheckpointError> {
        check_origin(origin)?;
        if size > MAX_TEXT_NUMBER {
            return Err(CheckpointError::BadSize);
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Parses a checkpoint text (the note text, final newline included).
    ///
    /// # Errors
    /// [`CheckpointError::BadLineCount`], [`CheckpointError::ExtensionLines`],
    /// [`CheckpointError::BadOrigin`], [`CheckpointError::BadSize`] or [`CheckpointError::BadRoot`].
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::BadLineCount)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::BadLineCount);
        };
        if lines.next().is_some() {
            return Err(CheckpointError::ExtensionLines);
        }
        check_origin(origin)?;
        let size = parse_decimal(size).ok_or(CheckpointError::BadSize)?;
        let root = Hash::from_base64(root).ok_or(CheckpointError::BadRoot)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// The origin (the log's identity; equals the log key's name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The canonical text `<origin>\n<size>\n<base64 root>\n`.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        )
    }
}

/// A cosignature that verified, with its key and time.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifiedCosignature {
    /// The witness key that signed.
    pub key: VerifierKey,
    /// The cosignature time (POSIX seconds, ≤ 2⁶³−1).
    pub time: u64,
}

/// A checkpoint whose log signature verified. Only [`SignedCheckpoint::open`] creates one.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint and verifies the log's signature.
    ///
    /// # Errors
    /// [`CheckpointError::WrongKeyType`] unless `log_key` is an Ed25519 (0x01) key; any note
    /// error ([`CheckpointError::Note`]: malformed, failing or missing log signature); any
    /// checkpoint text error; [`CheckpointError::OriginMismatch`].
    pub fn open(bytes: &[u8], log_key: &VerifierKey) -> Result<SignedCheckpoint, CheckpointError> {
        if log_key.key_type() != KeyType::Ed25519 {
            return Err(CheckpointError::WrongKeyType {
                name: log_key.name().to_string(),
                expected: KeyType::Ed25519,
                got: log_key.key_type(),
            });
        }
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse(note.text())?;
        if checkpoint.origin != log_key.name().as_str() {
            return Err(CheckpointError::OriginMismatch {
                origin: checkpoint.origin,
                key_name: log_key.name().to_string(),
            });
        }
        note.verify(std::slice::from_ref(log_key))?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The verified checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The whole note, including signature lines that were not verified.
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// The note's canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }

    /// Verifies the cosignatures of the given witness keys (type 0x04) and returns those that
    /// verified, in signature-line order. Lines by other keys are ignored. An empty result is
    /// not an error: the policy decides what quorum it needs.
    ///
    /// # Errors
    /// [`CheckpointError::WrongKeyType`] for a witness key that is not 0x04,
    /// [`CheckpointError::Cosignature`] if a trusted witness's line fails,
    /// [`CheckpointError::DuplicateCosignature`] if a trusted witness has two lines.
    pub fn cosignatures(
        &self,
        witnesses: &[VerifierKey],
    ) -> Result<Vec<VerifiedCosignature>, CheckpointError> {
        if let Some(k) = witnesses
            .iter()
            .find(|k| k.key_type() != KeyType::Cosignature)
        {
            return Err(CheckpointError::WrongKeyType {
                name: k.name().to_string(),
                expected: KeyType::Cosignature,
                got: k.key_type(),
            });
        }
        let mut out: Vec<VerifiedCosignature> = Vec::new();
        for sig in self.note.signatures() {
            let Some(key) = witnesses.iter().find(|k| k.matches(sig)) else {
                continue;
            };
            if out.iter().any(|v| v.key.matches(sig)) {
                return Err(CheckpointError::DuplicateCosignature {
                    name: sig.name.to_string(),
                });
            }
            let time = verify_cosignature(sig, self.note.text(), key)?;
            out.push(VerifiedCosignature {
                key: key.clone(),
                time,
            });
        }
        Ok(out)
    }

    /// The signed checkpoint with `extra` signature lines appended (for example cosignatures a
    /// witness returned). Lines identical to an existing line are skipped. Nothing is verified.
    ///
    /// # Errors
    /// [`CheckpointError::Note`] if the result exceeds the note limits.
    pub fn with_signatures(
        &self,
        extra: &[NoteSignature],
    ) -> Result<SignedCheckpoint, CheckpointError> {
        let mut sigs = self.note.signatures().to_vec();
        for s in extra {
            if !sigs.contains(s) {
                sigs.push(s.clone());
            }
        }
        let note = Note::new(self.note.text().to_owned(), sigs)?;
        Ok(SignedCheckpoint {
            checkpoint: self.checkpoint.clone(),
            note,
        })
    }
}

/// Signs a checkpoint with the log key and returns the signed note bytes.
///
/// # Errors
/// [`CheckpointError::WrongKeyType`] unless the key is Ed25519 (0x01),
/// [`CheckpointError::OriginMismatch`] unless the key name equals the origin.
pub fn sign_checkpoint(
    checkpoint: &Checkpoint,
    key: &SignerKey,
) -> Result<Vec<u8>, CheckpointError> {
    if key.key_type() != KeyType::Ed25519 {
        return Err(CheckpointError::WrongKeyType {
            name: key.name().to_string(),
            expected: KeyType::Ed25519,
            got: key.key_type(),
        });
    }
    if checkpoint.origin != key.name().as_str() {
        return Err(CheckpointError::OriginMismatch {
            origin: checkpoint.origin.clone(),
            key_name: key.name().to_string(),
        });
    }
    Ok(sign_note(&checkpoint.to_text(), &[key])?)
}
