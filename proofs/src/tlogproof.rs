//! C2SP tlog-proof text format, `c2sp.org/tlog-proof@v1`: <https://c2sp.org/tlog-proof>.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>          (optional; omitted when there is no extra data)
//! index <n>
//! <base64 hash>           (0..=63 inclusion proof lines, leaf side first)
//!
//! <signed checkpoint note>
//! ```
//!
//! This module guarantees a strict parse (limits checked first, canonical number and base64,
//! a well-formed signed note holding a three-line taglog checkpoint) and that every accepted
//! input re-encodes byte for byte.
//! Out of scope: verification. Open the checkpoint with
//! [`crate::checkpoint::SignedCheckpoint::open`], check cosignatures with the policy, then
//! verify the inclusion proof; the extra data is unauthenticated.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::hash::Hash;
use crate::note::{Note, NoteError, MAX_NOTE_BYTES};
use crate::num::parse_decimal;
use crate::witness::{hash_lines, split_line, HashLinesError};

/// The first line of every proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most inclusion proof lines (a tree of at most 2⁶³−1 leaves needs at most 63).
pub const MAX_INCLUSION_PROOF_LINES: usize = 63;
/// Largest extra data, decoded.
pub const MAX_EXTRA_BYTES: usize = 8192;
/// Largest proof file accepted.
pub const MAX_TLOG_PROOF_BYTES: usize = TLOG_PROOF_HEADER.len()
    + 1
    + 6
    + MAX_EXTRA_BYTES.div_ceil(3) * 4
    + 1
    + 6
    + 19
    + 1
    + MAX_INCLUSION_PROOF_LINES * 45
    + 1
    + MAX_NOTE_BYTES;

/// Errors parsing or building a tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogProofError {
    /// The input exceeds [`MAX_TLOG_PROOF_BYTES`].
    #[error("tlog-proof is {len} bytes; the limit is {MAX_TLOG_PROOF_BYTES}")]
    TooLarge {
        /// Input length.
        len: usize,
    },
    /// The first line is not `c2sp.org/tlog-proof@v1`.
    #[error("first line must be '{TLOG_PROOF_HEADER}'")]
    BadHeader,
    /// The `extra` line is empty, not canonical base64, or too large.
    #[error(
        "extra line must be 'extra <base64>' with 1..={MAX_EXTRA_BYTES} bytes of canonical base64"
    )]
    BadExtra,
    /// The `index` line is missing or not a canonical decimal ≤ 2⁶³−1.
    #[error("expected 'index <n>' with a canonical decimal index")]
    BadIndex,
    /// A proof line is not canonical base64 of 32 bytes.
    #[error("inclusion proof line {line} is not canonical base64 of 32 bytes")]
    BadProofLine {
        /// 1-based number of the proof line.
        line: usize,
    },
    /// More than [`MAX_INCLUSION_PROOF_LINES`] proof lines.
    #[error("more than {MAX_INCLUSION_PROOF_LINES} inclusion proof lines")]
    TooManyProofLines,
    /// No blank line before the checkpoint.
    #[error("no blank line between the proof and the checkpoint")]
    MissingBlankLine,
    /// The checkpoint is not a well-formed signed note.
    #[error("checkpoint: {0}")]
    Checkpoint(NoteError),
    /// The checkpoint note's text is not a taglog checkpoint (three lines, no extensions).
    #[error("checkpoint text: {0}")]
    CheckpointText(CheckpointError),
}

/// Checks that `bytes` is a well-formed signed note holding a taglog checkpoint text.
fn check_checkpoint(bytes: &[u8]) -> Result<(), TlogProofError> {
    let note = Note::parse(bytes).map_err(TlogProofError::Checkpoint)?;
    Checkpoint::parse(note.text()).map_err(TlogProofError::CheckpointText)?;
    Ok(())
}

/// A parsed tlog-proof. The checkpoint's signatures and the proof are not verified.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: u64,
    proof: Vec<Hash>,
    checkpoint: Vec<u8>,
}

impl TlogProof {
    /// Builds a proof, checking what [`TlogProof::parse`] checks.
    ///
    /// # Errors
    /// [`TlogProofError::BadExtra`] for empty or oversized extra data,
    /// [`TlogProofError::BadIndex`] for an index above 2⁶³−1,
    /// [`TlogProofError::TooManyProofLines`], [`TlogProofError::Checkpoint`] or
    /// [`TlogProofError::CheckpointText`].
    pub fn new(
        extra: Option<Vec<u8>>,
        index: u64,
        proof: Vec<Hash>,
        checkpoint: Vec<u8>,
    ) -> Result<TlogProof, TlogProofError> {
        if extra
            .as_ref()
            .is_some_and(|e| e.is_empty() || e.len() > MAX_EXTRA_BYTES)
        {
            return Err(TlogProofError::BadExtra);
        }
        if index > crate::num::MAX_TEXT_NUMBER {
            return Err(TlogProofError::BadIndex);
        }
        if proof.len() > MAX_INCLUSION_PROOF_LINES {
            return Err(TlogProofError::TooManyProofLines);
        }
        check_checkpoint(&checkpoint)?;
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint,
        })
    }

    /// Parses a proof strictly.
    ///
    /// # Errors
    /// [`TlogProofError::TooLarge`] (checked first), then the first defect found:
    /// [`TlogProofError::BadHeader`], [`TlogProofError::BadExtra`], [`TlogProofError::BadIndex`],
    /// [`TlogProofError::TooManyProofLines`], [`TlogProofError::BadProofLine`],
    /// [`TlogProofError::MissingBlankLine`], [`TlogProofError::Checkpoint`] or
    /// [`TlogProofError::CheckpointText`].
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, TlogProofError> {
        if bytes.len() > MAX_TLOG_PROOF_BYTES {
            return Err(TlogProofError::TooLarge { len: bytes.len() });
        }
        let (header, rest) = split_line(bytes).ok_or(TlogProofError::BadHeader)?;
        if header != TLOG_PROOF_HEADER.as_bytes() {
            return Err(TlogProofError::BadHeader);
        }
        let (mut line, mut rest) = split_line(rest).ok_or(TlogProofError::BadIndex)?;
        let mut extra = None;
        if let Some(encoded) = line.strip_prefix(b"extra ") {
            let data = std::str::from_utf8(encoded)
                .ok()
                .filter(|e| e.len() <= MAX_EXTRA_BYTES.div_ceil(3) * 4)
                .and_then(|e| crate::b64::decode(e).ok())
                .filter(|d| !d.is_empty() && d.len() <= MAX_EXTRA_BYTES)
                .ok_or(TlogProofError::BadExtra)?;
            extra = Some(data);
            (line, rest) = split_line(rest).ok_or(TlogProofError::BadIndex)?;
        }
        let index = std::str::from_utf8(line)
            .ok()
            .and_then(|l| l.strip_prefix("index "))
            .and_then(parse_decimal)
            .ok_or(TlogProofError::BadIndex)?;
        let proof;
        (proof, rest) = hash_lines(rest, MAX_INCLUSION_PROOF_LINES).map_err(|e| match e {
            HashLinesError::NoBlankLine => TlogProofError::MissingBlankLine,
            HashLinesError::TooMany => TlogProofError::TooManyProofLines,
            HashLinesError::BadLine(line) => TlogProofError::BadProofLine { line },
        })?;
        check_checkpoint(rest)?;
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The unauthenticated extra data, if any.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The zero-based index of the entry.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The inclusion proof, leaf side first.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The signed checkpoint note (well-formed, not verified).
    pub fn checkpoint(&self) -> &[u8] {
        &self.checkpoint
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", crate::b64::encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }
}
