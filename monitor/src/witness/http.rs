//! HTTP edge of the witness (axum): `POST /add-checkpoint` and
//! `GET /<hex sha256(origin)>/checkpoint`, as in C2SP tlog-witness with the submission and
//! monitoring prefixes both at the root.
//!
//! Guarantees: every refusal carries a one-line plain-text reason; a 409 carries exactly the
//! spec's `text/x.tlog.size` body; the clock is read here and passed into
//! [`super::Witness::add_checkpoint`]. Served through [`crate::listen`], which refuses bodies
//! above [`MAX_BODY_BYTES`] with 413 before reading them whole and bounds connections, header
//! time and request time. Out of scope: rate limits.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use taglog_proofs::witness::{encode_size_body, MAX_ADD_CHECKPOINT_BYTES, TLOG_SIZE_CONTENT_TYPE};

use super::{AddError, Witness};

/// The largest request body read (the spec's largest add-checkpoint body).
pub const MAX_BODY_BYTES: usize = MAX_ADD_CHECKPOINT_BYTES;

/// Default longest time of one request: an auditing witness replays the log's new entries
/// before it answers.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

const TEXT: &str = "text/plain; charset=utf-8";

/// The witness's routes (serve them with [`crate::listen`] and [`MAX_BODY_BYTES`]).
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/{origin_hash}/checkpoint", get(checkpoint))
        .with_state(witness)
}

/// The current POSIX time in seconds (0 if the clock is before 1970, which is refused).
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn add_checkpoint(State(witness): State<Arc<Witness>>, body: Bytes) -> Response {
    // Run the request in its own task: if the client goes away, the request still either
    // completes (durable state and memory updated together) or fails as a whole, instead of
    // being dropped between the fsync and the in-memory update.
    let now = now();
    let task = tokio::spawn(async move { witness.add_checkpoint(&body, now).await });
    match task.await {
        Ok(Ok(lines)) => ([(header::CONTENT_TYPE, TEXT)], lines).into_response(),
        Ok(Err(e)) => error_response(&e),
        Err(e) => {
            tracing::error!(error = %e, "add-checkpoint task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, TEXT)],
                "internal error\n",
            )
                .into_response()
        }
    }
}

fn error_response(e: &AddError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %e, "add-checkpoint failed");
    } else {
        tracing::info!(status = status.as_u16(), reason = %e, "add-checkpoint refused");
    }
    let mut resp = match e {
        AddError::Conflict { current, .. } => (
            status,
            [(header::CONTENT_TYPE, TLOG_SIZE_CONTENT_TYPE)],
            encode_size_body(*current),
        )
            .into_response(),
        _ => (status, [(header::CONTENT_TYPE, TEXT)], format!("{e}\n")).into_response(),
    };
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    }
    resp
}

async fn checkpoint(
    State(witness): State<Arc<Witness>>,
    Path(origin_hash): Path<String>,
) -> Response {
    match witness.latest_checkpoint(&origin_hash) {
        Some(note) => (
            [
                (header::CONTENT_TYPE, TEXT),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            note.to_vec(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, TEXT)],
            "no checkpoint cosigned for this origin hash\n",
        )
            .into_response(),
    }
}
