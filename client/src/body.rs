//! Bounded reading of HTTP answers: every body the client reads from a registry, a token
//! endpoint or a log goes through [`read_limited`], which stops at the limit instead of
//! buffering whatever the peer sends. Out of scope: streaming (the mirror streams blobs).

use bytes::{Bytes, BytesMut};

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// `Content-Length` or the bytes received exceed the limit.
    #[error("body longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: u64,
    },
    /// The transfer failed.
    #[error("reading the body: {0}")]
    Read(String),
}

/// Reads at most `limit` bytes of `resp`: a declared or received length above it is an error
/// before more is buffered.
///
/// # Errors
/// [`BodyError::TooLong`] or [`BodyError::Read`].
pub async fn read_limited(mut resp: reqwest::Response, limit: u64) -> Result<Bytes, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLong { limit });
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BodyError::Read(error_chain(&e)))?
    {
        if (buf.len() as u64).saturating_add(chunk.len() as u64) > limit {
            return Err(BodyError::TooLong { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// An error with its sources ("connection refused" is often two levels down).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The first characters of a body, for messages.
pub fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}
