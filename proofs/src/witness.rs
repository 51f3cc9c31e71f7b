//! C2SP tlog-witness wire formats: <https://c2sp.org/tlog-witness> (DESIGN §2, §6).
//!
//! `add-checkpoint` request body: `old <size>\n`, at most [`MAX_PROOF_LINES`] base64
//! consistency-proof lines, a blank line, then a signed checkpoint note. The 200 response is
//! one or more note signature lines; the 409 response (`text/x.tlog.size`) is a decimal size
//! and a newline. This module guarantees strict parsing (limits checked before decoding,
//! canonical numbers and base64, a well-formed note) so that every accepted body re-encodes
//! byte for byte.
//!
//! Out of scope: HTTP, the witness's checks (origin known, signature, old size, proof, empty
//! root), which take a parsed request and answer 403/404/409/422; `sign-subtree`.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::hash::{sha256, Hash};
use crate::note::{Note, NoteError, NoteSignature, MAX_NOTE_BYTES, MAX_SIGNATURES};
use crate::num::parse_decimal;

/// Most consistency-proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;
/// Largest `add-checkpoint` request body: the old-size line, 63 proof lines and a note.
pub const MAX_ADD_CHECKPOINT_BYTES: usize =
    OLD_PREFIX.len() + 19 + 1 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_BYTES;
/// Largest 200 response body accepted: [`MAX_SIGNATURES`] lines within a note's size limit.
pub const MAX_COSIGNATURE_RESPONSE_BYTES: usize = MAX_NOTE_BYTES;
/// Largest 409 body accepted: 19 digits and a newline.
pub const MAX_SIZE_BODY_BYTES: usize = 20;
/// `Content-Type` of the 409 Conflict body.
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

const OLD_PREFIX: &str = "old ";

/// Errors parsing tlog-witness bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The body exceeds its limit.
    #[error("body is {len} bytes; the limit is {limit}")]
    TooLarge {
        /// Body length.
        len: usize,
        /// The limit that applies.
        limit: usize,
    },
    /// The first line is not `old <decimal>` (canonical, ≤ 2⁶³−1) ending in `\n`.
    #[error("first line must be 'old <size>' with a canonical decimal size and a newline")]
    BadOldSizeLine,
    /// A proof line is not canonical base64 of a 32-byte hash.
    #[error("consistency proof line {line} is not canonical base64 of 32 bytes")]
    BadProofLine {
        /// 1-based number of the proof line.
        line: usize,
    },
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    /// No blank line ends the proof.
    #[error("no blank line between the proof and the checkpoint")]
    MissingBlankLine,
    /// The checkpoint is not a well-formed signed note.
    #[error("checkpoint: {0}")]
    Checkpoint(NoteError),
    /// The checkpoint note's text is not a taglog checkpoint (three lines, no extensions).
    #[error("checkpoint text: {0}")]
    CheckpointText(CheckpointError),
    /// The response body is not one or more signature lines.
    #[error("cosignature response: {0}")]
    BadResponse(NoteError),
    /// The 409 body is not `<decimal>\n`.
    #[error("409 body must be a canonical decimal size followed by a newline")]
    BadSizeBody,
}

/// A parsed `add-checkpoint` request. `checkpoint` is a well-formed note with a valid checkpoint
/// text whose signatures are not yet verified (open it with [`crate::checkpoint::SignedCheckpoint::open`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AddCheckpointRequest {
    /// Size of the checkpoint the client believes the witness last cosigned.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, bytes as parsed (canonical).
    pub checkpoint: Vec<u8>,
}

impl AddCheckpointRequest {
    /// Parses a request body strictly.
    ///
    /// # Errors
    /// [`WitnessError::TooLarge`] (checked first), [`WitnessError::BadOldSizeLine`],
    /// [`WitnessError::TooManyProofLines`], [`WitnessError::BadProofLine`],
    /// [`WitnessError::MissingBlankLine`], [`WitnessError::Checkpoint`] or
    /// [`WitnessError::CheckpointText`].
    pub fn parse(body: &[u8]) -> Result<AddCheckpointRequest, WitnessError> {
        if body.len() > MAX_ADD_CHECKPOINT_BYTES {
            return Err(WitnessError::TooLarge {
                len: body.len(),
                limit: MAX_ADD_CHECKPOINT_BYTES,
            });
        }
        let (first, mut rest) = split_line(body).ok_or(WitnessError::BadOldSizeLine)?;
        let old_size = std::str::from_utf8(first)
            .ok()
            .and_then(|l| l.strip_prefix(OLD_PREFIX))
            .and_then(parse_decimal)
            .ok_or(WitnessError::BadOldSizeLine)?;
        let proof;
        (proof, rest) = hash_lines(rest, MAX_PROOF_LINES).map_err(|e| match e {
            HashLinesError::NoBlankLine => WitnessError::MissingBlankLine,
            HashLinesError::TooMany => WitnessError::TooManyProofLines,
            HashLinesError::BadLine(line) => WitnessError::BadProofLine { line },
        })?;
        let note = Note::parse(rest).map_err(WitnessError::Checkpoint)?;
        Checkpoint::parse(note.text()).map_err(WitnessError::CheckpointText)?;
        Ok(AddCheckpointRequest {
            old_size,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// Encodes the request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{OLD_PREFIX}{}\n", self.old_size).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(h.to_base64().as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// Splits off one `\n`-terminated line (without the newline); `None` if there is no newline.
pub(crate) fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == b'\n')?;
    Some((bytes.get(..i)?, bytes.get(i + 1..)?))
}

/// Parses a line holding canonical base64 of one 32-byte hash.
fn parse_hash_line(line: &[u8]) -> Option<Hash> {
    std::str::from_utf8(line).ok().and_then(Hash::from_base64)
}

/// Why a block of hash lines (the proof part of an `add-checkpoint` body or a tlog-proof)
/// did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashLinesError {
    /// No blank line ends the block.
    NoBlankLine,
    /// More than the caller's maximum number of lines.
    TooMany,
    /// Line `n` (1-based within the block) is not canonical base64 of 32 bytes.
    BadLine(usize),
}

/// Reads canonical base64 hash lines up to and including the blank line that ends them, at
/// most `max` of them; returns the hashes and the bytes after the blank line.
pub(crate) fn hash_lines(
    mut rest: &[u8],
    max: usize,
) -> Result<(Vec<Hash>, &[u8]), HashLinesError> {
    let mut hashes = Vec::new();
    loop {
        let (line, after) = split_line(rest).ok_or(HashLinesError::NoBlankLine)?;
        rest = after;
        if line.is_empty() {
            return Ok((hashes, rest));
        }
        if hashes.len() >= max {
            return Err(HashLinesError::TooMany);
        }
        hashes.push(parse_hash_line(line).ok_or(HashLinesError::BadLine(hashes.len() + 1))?);
    }
}

/// Parses a 200 `add-checkpoint` response: one or more signature lines, each ending in `\n`.
///
/// # Errors
/// [`WitnessError::TooLarge`] or [`WitnessError::BadResponse`] (not UTF-8, a control
/// character, no line, a missing final newline, more than [`MAX_SIGNATURES`] lines, or a
/// malformed line).
pub fn parse_cosignature_response(body: &[u8]) -> Result<Vec<NoteSignature>, WitnessError> {
    if body.len() > MAX_COSIGNATURE_RESPONSE_BYTES {
        return Err(WitnessError::TooLarge {
            len: body.len(),
            limit: MAX_COSIGNATURE_RESPONSE_BYTES,
        });
    }
    let text =
        std::str::from_utf8(body).map_err(|_| WitnessError::BadResponse(NoteError::NotUtf8))?;
    if let Some(offset) = body.iter().position(|&b| b < 0x20 && b != b'\n') {
        let byte = body.get(offset).copied().unwrap_or_default();
        return Err(WitnessError::BadResponse(NoteError::ControlCharacter {
            byte,
            offset,
        }));
    }
    if text.is_empty() {
        return Err(WitnessError::BadResponse(NoteError::NoSignatures));
    }
    let lines = text
        .strip_suffix('\n')
        .ok_or(WitnessError::BadResponse(NoteError::MissingFinalNewline))?;
    let mut out = Vec::new();
    for (i, line) in lines.split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(WitnessError::BadResponse(NoteError::TooManySignatures));
        }
        out.push(NoteSignature::parse_line(line, i + 1).map_err(WitnessError::BadResponse)?);
    }
    Ok(out)
}

/// Encodes a 200 `add-checkpoint` response body from signature lines.
pub fn encode_cosignature_response(signatures: &[NoteSignature]) -> Vec<u8> {
    signatures
        .iter()
        .map(NoteSignature::to_line)
        .collect::<String>()
        .into_bytes()
}

/// Encodes a 409 Conflict body (`text/x.tlog.size`): the size and a newline.
pub fn encode_size_body(size: u64) -> Vec<u8> {
    format!("{size}\n").into_bytes()
}

/// Parses a 409 Conflict body (`text/x.tlog.size`).
///
/// # Errors
/// [`WitnessError::TooLarge`] or [`WitnessError::BadSizeBody`] unless the body is exactly a
/// canonical decimal ≤ 2⁶³−1 and `\n`.
pub fn parse_size_body(body: &[u8]) -> Result<u64, WitnessError> {
    if body.len() > MAX_SIZE_BODY_BYTES {
        return Err(WitnessError::TooLarge {
            len: body.len(),
            limit: MAX_SIZE_BODY_BYTES,
        });
    }
    let digits = body.strip_suffix(b"\n").ok_or(WitnessError::BadSizeBody)?;
    std::str::from_utf8(digits)
        .ok()
        .and_then(parse_decimal)
        .ok_or(WitnessError::BadSizeBody)
}

/// The lowercase hex SHA-256 of an origin, as used in the monitoring path
/// `<monitoring prefix>/<origin hash>/checkpoint`.
pub fn origin_hash_hex(origin: &str) -> String {
    hex::encode(sha256(origin.as_bytes()).0)
}
