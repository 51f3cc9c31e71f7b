//! Request limits: a body-size cap checked before buffering, and a per-request time limit.
//!
//! Guarantees: a body larger than the limit is refused from its `Content-Length` before any of
//! it is read, and a chunked body is cut off as soon as it passes the limit, so memory per
//! request stays bounded by the limit. Out of scope: the error body (each server renders
//! [`BodyError`] in its own error format) and content types.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Router;
use tower_http::timeout::TimeoutLayer;

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is (or declares itself) larger than the limit.
    #[error("the body exceeds {limit} bytes; send at most {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The connection failed or was closed while the body was read.
    #[error("the body could not be read: {0}")]
    Read(#[source] axum::Error),
}

/// Reads a request body of at most `limit` bytes into memory.
///
/// A `Content-Length` above the limit is refused before anything is read; otherwise reading
/// stops as soon as more than `limit` bytes arrived.
///
/// # Errors
/// [`BodyError::TooLarge`] when the body is larger than `limit` (servers answer 413);
/// [`BodyError::Read`] when the client's stream failed.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // axum reports a body over the limit as a length-limit error somewhere in the chain.
        if is_length_limit(&e) {
            BodyError::TooLarge { limit }
        } else {
            BodyError::Read(e)
        }
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Applies the per-request limits to every route of `router`: the body extractors (`Bytes`,
/// `String`, `Json`, `Form`) refuse bodies over `max_body` bytes with 413, and a request still
/// being handled after `timeout` is answered 408. Handlers that take a raw [`Body`] must read
/// it with [`read_body`] (which also lets them render the 413 in their own error format).
///
/// Layers added to the router before this call are inside these limits.
pub fn limit_requests(router: Router, max_body: usize, timeout: Duration) -> Router {
    router
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}
