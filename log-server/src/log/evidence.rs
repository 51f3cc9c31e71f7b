//! What the server believes of a witness's answers: read with a size limit before they are
//! buffered, and, before a claim halts the log, checked against the witness's own cosigned
//! checkpoint (C2SP tlog-witness "Monitor Retrieval Mechanism": `GET <prefix>/<origin
//! hash>/checkpoint`, with the witness's monitoring prefix taken to be its submission URL).
//!
//! Guarantees: no answer larger than its limit is read past the limit (a declared length
//! above it is refused before reading); a [`WitnessView`] exists only for a checkpoint that
//! carries a valid signature by this log's key and a valid cosignature by that witness's
//! key. Out of scope: deciding what a view means (the collector does).

use reqwest::StatusCode;
use taglog_proofs::checkpoint::{CheckpointError, SignedCheckpoint};
use taglog_proofs::hash::Hash;
use taglog_proofs::note::{VerifierKey, MAX_NOTE_BYTES};
use taglog_proofs::witness::origin_hash_hex;

use crate::config::WitnessConfig;

/// Why a witness answer was not read.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The answer is larger than its limit.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The request or the read failed.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
}

/// Reads a response body of at most `limit` bytes, chunk by chunk.
///
/// # Errors
/// [`AnswerError::TooLarge`] as soon as the declared or received length passes `limit`.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, AnswerError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(AnswerError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(AnswerError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A checkpoint the witness cosigned, with a valid log signature.
#[derive(Debug, Clone)]
pub struct WitnessView {
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The note as served (log signature and cosignatures).
    pub note: Vec<u8>,
}

/// Why a witness's checkpoint does not prove anything.
#[derive(Debug, thiserror::Error)]
pub enum Unproven {
    /// It could not be fetched.
    #[error("fetching it failed: {0}")]
    Fetch(#[from] AnswerError),
    /// The witness answered another status.
    #[error("the witness answered {0}")]
    Status(StatusCode),
    /// It does not carry a valid signature by this log's key.
    #[error("it has no valid signature by this log's key: {0}")]
    LogSignature(#[source] CheckpointError),
    /// Its cosignatures do not verify.
    #[error("its cosignatures do not verify: {0}")]
    Cosignature(#[source] CheckpointError),
    /// It has no cosignature by the witness's key.
    #[error("it has no cosignature by the witness's key")]
    NotCosigned,
}

/// Fetches and checks the witness's latest cosigned checkpoint of this log.
///
/// # Errors
/// [`Unproven`] unless the checkpoint carries a valid log signature and the witness's valid
/// cosignature.
pub async fn fetch_view(
    client: &reqwest::Client,
    witness: &WitnessConfig,
    log_key: &VerifierKey,
) -> Result<WitnessView, Unproven> {
    let url = format!(
        "{}/{}/checkpoint",
        witness.url,
        origin_hash_hex(log_key.name().as_str())
    );
    let resp = client.get(&url).send().await.map_err(AnswerError::from)?;
    if resp.status() != StatusCode::OK {
        return Err(Unproven::Status(resp.status()));
    }
    let note = read_limited(resp, MAX_NOTE_BYTES).await?;
    let signed = SignedCheckpoint::open(&note, log_key).map_err(Unproven::LogSignature)?;
    let cosigned = signed
        .cosignatures(std::slice::from_ref(&witness.key))
        .map_err(Unproven::Cosignature)?;
    if cosigned.is_empty() {
        return Err(Unproven::NotCosigned);
    }
    Ok(WitnessView {
        size: signed.checkpoint().size(),
        root: signed.checkpoint().root(),
        note,
    })
}
