//! C2SP tlog-cosignature, Ed25519 `cosignature/v1` (signature type 0x04):
//! <https://c2sp.org/tlog-cosignature> (DESIGN §3.7).
//!
//! The signed message is `cosignature/v1\ntime <t>\n` followed by the checkpoint text; the
//! signature line carries `base64(key ID ‖ u64 BE time ‖ 64-byte Ed25519 signature)`. This
//! module guarantees that a cosignature is produced only over a re-encoded, parsed
//! [`Checkpoint`], only by a 0x04 key, and only with a time ≤ 2⁶³−1; verification uses the one
//! predicate [`crate::note::ed25519_verify_strict`] and returns the verified time.
//!
//! Out of scope: ML-DSA-44 subtree cosignatures (type 0x06), freshness policy (`max-age` lives
//! in the policy), and the witness's consistency checks.

use crate::checkpoint::Checkpoint;
use crate::note::{KeyType, NoteSignature, SignerKey, VerifierKey, ED25519_SIGNATURE_LEN};
use crate::num::MAX_TEXT_NUMBER;

/// The header line of the cosigned message, with its newline.
pub const COSIGNATURE_HEADER: &str = "cosignature/v1\n";
/// Length of a cosignature/v1 signature after the key ID: u64 time and a 64-byte signature.
pub const COSIGNATURE_LEN: usize = 8 + ED25519_SIGNATURE_LEN;

/// Errors producing or verifying a cosignature/v1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// The key is not a cosignature (0x04) key.
    #[error("key {name} is not a cosignature/v1 (type 0x04) key")]
    WrongKeyType {
        /// Key name.
        name: String,
    },
    /// The signature line names another key (name or key ID differ).
    #[error("signature line is by {line_name}+{line_id}, not by key {key_name}+{key_id}")]
    KeyMismatch {
        /// Name on the line.
        line_name: String,
        /// Key ID on the line.
        line_id: String,
        /// Name of the key.
        key_name: String,
        /// ID of the key.
        key_id: String,
    },
    /// The signature is not 8 + 64 bytes.
    #[error("cosignature is {len} bytes after the key ID; cosignature/v1 needs exactly 72")]
    BadLength {
        /// Actual length.
        len: usize,
    },
    /// The timestamp exceeds 2⁶³−1.
    #[error("cosignature time {time} exceeds 2^63-1")]
    TimeOutOfRange {
        /// The timestamp.
        time: u64,
    },
    /// The Ed25519 signature does not verify over the cosigned message.
    #[error("cosignature by {name} does not verify over this checkpoint")]
    InvalidSignature {
        /// Key name.
        name: String,
    },
}

/// The exact bytes a cosigner signs: `cosignature/v1\ntime <t>\n` ‖ checkpoint text.
pub fn cosignature_message(checkpoint_text: &str, time: u64) -> Vec<u8> {
    format!("{COSIGNATURE_HEADER}time {time}\n{checkpoint_text}").into_bytes()
}

/// Cosigns a parsed checkpoint at `time` (POSIX seconds) and returns the signature line value.
///
/// # Errors
/// [`CosignatureError::WrongKeyType`] unless `key` is a 0x04 key,
/// [`CosignatureError::TimeOutOfRange`] for a time above 2⁶³−1.
pub fn cosign(
    checkpoint: &Checkpoint,
    time: u64,
    key: &SignerKey,
) -> Result<NoteSignature, CosignatureError> {
    if key.key_type() != KeyType::Cosignature {
        return Err(CosignatureError::WrongKeyType {
            name: key.name().to_string(),
        });
    }
    if time > MAX_TEXT_NUMBER {
        return Err(CosignatureError::TimeOutOfRange { time });
    }
    let sig = key.sign(&cosignature_message(&checkpoint.to_text(), time));
    let mut bytes = Vec::with_capacity(COSIGNATURE_LEN);
    bytes.extend_from_slice(&time.to_be_bytes());
    bytes.extend_from_slice(&sig);
    Ok(NoteSignature {
        name: key.name().clone(),
        id: key.id(),
        sig: bytes,
    })
}

/// Verifies a cosignature/v1 line over `checkpoint_text` (the note text, final newline
/// included) and returns its time.
///
/// # Errors
/// [`CosignatureError::WrongKeyType`], [`CosignatureError::KeyMismatch`],
/// [`CosignatureError::BadLength`], [`CosignatureError::TimeOutOfRange`] or
/// [`CosignatureError::InvalidSignature`].
pub fn verify_cosignature(
    sig: &NoteSignature,
    checkpoint_text: &str,
    key: &VerifierKey,
) -> Result<u64, CosignatureError> {
    if key.key_type() != KeyType::Cosignature {
        return Err(CosignatureError::WrongKeyType {
            name: key.name().to_string(),
        });
    }
    if !key.matches(sig) {
        return Err(CosignatureError::KeyMismatch {
            line_name: sig.name.to_string(),
            line_id: sig.id.to_string(),
            key_name: key.name().to_string(),
            key_id: key.id().to_string(),
        });
    }
    let (time, ed_sig) = sig
        .sig
        .split_first_chunk::<8>()
        .filter(|(_, rest)| rest.len() == ED25519_SIGNATURE_LEN)
        .ok_or(CosignatureError::BadLength { len: sig.sig.len() })?;
    let time = u64::from_be_bytes(*time);
    if time > MAX_TEXT_NUMBER {
        return Err(CosignatureError::TimeOutOfRange { time });
    }
    if key.verify_raw(&cosignature_message(checkpoint_text, time), ed_sig) {
        Ok(time)
    } else {
        Err(CosignatureError::InvalidSignature {
            name: key.name().to_string(),
        })
    }
}
