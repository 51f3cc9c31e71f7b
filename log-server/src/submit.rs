//! `POST /add-binding` (DESIGN §5 "Submission path").
//!
//! Order: size limit (413) -> content type -> strict parse (400, naming the line) -> `log`
//! is this origin -> allowlisted key by name and ID (403) -> `verify_strict` off the async
//! runtime (403) -> key admitted for the ref's prefix (403) -> dedup by leaf hash (200 with
//! the existing index, `superseded_by` if a newer version exists) -> early version check
//! (409) -> per-key quota (429 `quota_exceeded` + `Retry-After`, see [`crate::quota`]) ->
//! bounded queue (429 `queue_full` + `Retry-After`) -> wait for the sequencer's
//! durable commit -> 200 with the §3.10 bundle once a quorum checkpoint covers the entry,
//! else 202 with the index after `--commit-timeout`. Nothing here writes state: only the
//! sequencer does, and bad input never reaches it.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use taglog_proofs::binding::SignedBinding;
use taglog_proofs::hash::leaf_hash;
use taglog_serve::BodyError;
use tokio::sync::{mpsc, oneshot};

use crate::errors::ApiError;
use crate::sequencer::{check_version, Command, Outcome, Submission};
use crate::state::Shared;

/// Largest accepted `/add-binding` body (64 KiB, the signed-note limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the body, enforcing [`MAX_BODY_BYTES`] and a text content type.
///
/// # Errors
/// 413 `too_large`, 400 `content_type`, 400 `body_unreadable`.
pub async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    if headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(body_error(&BodyError::TooLarge {
            limit: MAX_BODY_BYTES,
        }));
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("text/plain") {
        let detail = format!(
            "content type {ctype:?} is not accepted; send the signed binding note as text/plain"
        );
        return Err(ApiError::bad_request("content_type", detail));
    }
    taglog_serve::read_body(headers, body, MAX_BODY_BYTES)
        .await
        .map_err(|e| body_error(&e))
}

fn body_error(e: &BodyError) -> ApiError {
    match e {
        BodyError::TooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        BodyError::Read(_) => ApiError::bad_request("body_unreadable", e.to_string()),
    }
}

/// The `/add-binding` handler.
pub async fn add_binding(shared: Arc<Shared>, headers: HeaderMap, body: Body) -> Response {
    match submit(&shared, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            let outcome = match e.status().as_u16() {
                413 => "too_large",
                429 if e.code() == "quota_exceeded" => "quota_exceeded",
                429 => "queue_full",
                403 => "forbidden",
                409 => "conflict",
                503 | 500 => "unavailable",
                _ => "malformed",
            };
            shared.metrics.submission(outcome);
            e.into_response()
        }
    }
}

async fn submit(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(headers, body).await?;
    if shared.is_shutting_down() {
        return Err(ApiError::unavailable(
            "shutting_down",
            "the server is shutting down",
            5,
        ));
    }
    let signed = SignedBinding::parse(&bytes)
        .map_err(|e| ApiError::bad_request("malformed", e.to_string()))?;
    let origin = shared.config.key.name().to_string();
    signed
        .check_log(&origin)
        .map_err(|e| ApiError::bad_request("wrong_log", e.to_string()))?;
    let allowlist = shared.allowlist();
    let (signer_name, signer_id) = signed.signer();
    let signer = (signer_name.clone(), signer_id);
    let key = allowlist
        .key(&signer.0, signer.1)
        .map_err(|e| ApiError::forbidden("unknown_key", e.to_string()))?
        .clone();
    // One trip off the async runtime per submission: the signature check, then the two
    // index reads the dedup and version checks need.
    let storage = Arc::clone(&shared.storage);
    let leaf = leaf_hash(&bytes);
    let (signed, key, found) = tokio::task::spawn_blocking(move || {
        signed
            .verify(&key)
            .map_err(|e| ApiError::forbidden("bad_signature", e.to_string()))?;
        let ref_key = signed.binding().reference.key();
        let found = storage
            .dedup(&leaf)
            .and_then(|d| Ok((d, storage.ref_latest(&ref_key)?)))
            .map_err(ApiError::internal)?;
        Ok::<_, ApiError>((signed, key, found))
    })
    .await
    .map_err(ApiError::internal)??;
    allowlist
        .check(&signed.binding().reference, &key)
        .map_err(|e| ApiError::forbidden("ref_not_allowed", e.to_string()))?;
    if let Some(resp) = duplicate(shared, &signed, found)? {
        return Ok(resp);
    }
    if let Some(reason) = shared.halted() {
        return Err(ApiError::unavailable("halted", reason, 60));
    }
    if let Err(wait) = shared.quotas.take(&signer, Instant::now()) {
        let secs = wait.as_secs().saturating_add(1);
        let detail = format!(
            "publisher key {} has used its quota of new bindings (burst {}, refilled at {:.3} per second); retry in {secs}s",
            signer.0, shared.config.publisher_burst, shared.config.publisher_rate
        );
        return Err(
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", detail)
                .retry_after(secs),
        );
    }
    let (tx, rx) = oneshot::channel();
    let version = signed.binding().version;
    let sub = Submission {
        entry: bytes.to_vec(),
        leaf,
        reference: signed.binding().reference.clone(),
        signer: signer.clone(),
        version,
        enqueued: Instant::now(),
        reply: tx,
    };
    match shared.queue.try_send(Command::Submit(sub)) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            shared.quotas.refund(&signer);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "queue_full",
                "the submission queue is full; retry later",
            )
            .retry_after(1));
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            return Err(ApiError::unavailable(
                "shutting_down",
                "the sequencer stopped",
                5,
            ))
        }
    }
    let outcome = rx
        .await
        .map_err(|_| ApiError::unavailable("shutting_down", "the sequencer stopped", 5))?;
    respond(shared, &signed, outcome).await
}

/// Answers a replay of a logged entry (200 with its index), or refuses a stale version
/// (409), from the index rows `found` = (dedup index of the leaf, the ref's latest binding).
fn duplicate(
    shared: &Arc<Shared>,
    signed: &SignedBinding,
    found: (Option<u64>, Option<crate::store::HistoryItem>),
) -> Result<Option<Response>, ApiError> {
    let version = signed.binding().version;
    match found {
        (Some(index), latest) => {
            shared.metrics.submission("duplicate");
            let mut body = json!({"index": index, "version": version, "duplicate": true});
            if let Some(l) = latest.filter(|l| l.version > version) {
                if let Some(obj) = body.as_object_mut() {
                    obj.insert(
                        "superseded_by".into(),
                        json!({"version": l.version, "index": l.index}),
                    );
                }
            }
            Ok(Some((StatusCode::OK, axum::Json(body)).into_response()))
        }
        (None, latest) => match check_version(latest.map(|l| l.version), version) {
            Ok(()) => Ok(None),
            Err(expected) => Err(conflict(expected, latest.map(|l| l.version), version)),
        },
    }
}

fn conflict(expected: u64, current: Option<u64>, got: u64) -> ApiError {
    let detail = match current {
        Some(c) => format!("version {got} rejected: the ref is at version {c}, the next binding must be version {expected}"),
        None => format!("version {got} rejected: a first binding must have 1 ≤ version ≤ 2^32"),
    };
    let e = ApiError::new(StatusCode::CONFLICT, "version_conflict", detail)
        .with("expected_version", expected);
    match current {
        Some(c) => e.with("current_version", c),
        None => e,
    }
}

async fn respond(
    shared: &Arc<Shared>,
    signed: &SignedBinding,
    outcome: Outcome,
) -> Result<Response, ApiError> {
    let index = match outcome {
        Outcome::Added { index } => index,
        Outcome::Duplicate { index } => {
            shared.metrics.submission("duplicate");
            return Ok((
                StatusCode::OK,
                axum::Json(
                    json!({"index": index, "version": signed.binding().version, "duplicate": true}),
                ),
            )
                .into_response());
        }
        Outcome::Conflict { expected, current } => {
            return Err(conflict(expected, current, signed.binding().version))
        }
        Outcome::Forbidden(code, reason) => return Err(ApiError::forbidden(code, reason)),
        Outcome::Unavailable(reason) => {
            return Err(ApiError::unavailable("unavailable", reason, 5))
        }
    };
    let head = {
        let mut rx = shared.published.subscribe();
        let wait = rx.wait_for(|h| h.as_ref().is_some_and(|h| h.size > index));
        let head = match tokio::time::timeout(shared.config.commit_timeout, wait).await {
            Ok(Ok(h)) => h.clone(),
            _ => None,
        };
        head
    };
    let Some(head) = head else {
        shared.metrics.submission("accepted_late");
        let body = json!({"index": index, "status": "sequenced", "detail": "durably logged; no quorum checkpoint covers it yet, poll /lookup"});
        return Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response());
    };
    shared.metrics.submission("added");
    let reference = signed.binding().reference.clone();
    let s = Arc::clone(shared);
    let bundle = tokio::task::spawn_blocking(move || {
        crate::reads::lookup(s.storage.as_ref(), &s.state_proofs, &head, &reference, None)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(crate::api::json_response(
        StatusCode::OK,
        bundle.to_json(),
        "no-store",
    ))
}
