//! `POST /add-binding` (DESIGN §5 "Submission path").
//!
//! Order: size limit (413) -> content type -> shutting down (503) -> halted, or still
//! waiting for witnesses at start after `--commit-timeout` (503; a replay of a logged entry
//! is still answered 200 from the dedup index) -> strict parse (400, naming the line) -> `log`
//! is this origin -> admitted keys for the signer and the ref, by the rule book's logged
//! allowlist (403) -> `verify_strict` under them off the async runtime (403) -> dedup by leaf
//! hash (200 with the existing index, `superseded_by` if a newer version exists) -> early
//! version check with the rule book's version rule (409) ->
//! per-key quota (429 `quota_exceeded` + `Retry-After`, see [`super::quota`]) -> bounded
//! queue (429 `queue_full` + `Retry-After`) -> wait for the sequencer's durable commit ->
//! 200 with the §3.10 bundle once a quorum checkpoint covers the entry, else 202 with the
//! index after `--commit-timeout`. The early checks only spare the queue: the sequencer
//! decides again with the rule book. Nothing here writes state: only the sequencer does, and
//! bad input never reaches it.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use taglog_proofs::binding::{check_version, SignedBinding};
use taglog_proofs::hash::leaf_hash;
use taglog_proofs::rules::SignatureCheck;
use taglog_serve::BodyError;

use super::{blocking, json_response, ApiError, AppState};
use crate::log::heads::PinnedHead;
use crate::log::sequencer::{Outcome, Submission};
use crate::log::QueueError;
use crate::store::HistoryItem;

/// Largest accepted `/add-binding` body (64 KiB, the signed-note limit).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads the body, enforcing [`MAX_BODY_BYTES`] and a text content type.
///
/// # Errors
/// [`ApiError::Body`] (413 too large, 400 unreadable), [`ApiError::ContentType`].
pub async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    if headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(ApiError::Body(BodyError::TooLarge {
            limit: MAX_BODY_BYTES,
        }));
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ctype.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("text/plain") {
        return Err(ApiError::ContentType(ctype.to_owned()));
    }
    Ok(taglog_serve::read_body(headers, body, MAX_BODY_BYTES).await?)
}

/// The `/add-binding` handler.
pub async fn add_binding(state: Arc<AppState>, headers: HeaderMap, body: Body) -> Response {
    match submit(&state, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            state.log.metrics().submission(e.parts().outcome);
            e.into_response()
        }
    }
}

/// A checked binding: its parsed form and its signature check.
struct Checked {
    signed: SignedBinding,
    /// The signature checked under the admitted candidate keys (it verified under one).
    signature: SignatureCheck,
}

async fn submit(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(headers, body).await?;
    if state.log.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    if let Some(refused) = not_sequencing(state).await {
        return replay_only(state, bytes, refused).await;
    }
    let (checked, found) = check(state, bytes).await?;
    if let Some(resp) = duplicate(state, &checked.signed, found)? {
        return Ok(resp);
    }
    let (name, id) = checked.signed.signer();
    let signer = (name.clone(), id);
    if let Err(wait) = state.quotas.take(&signer, Instant::now()) {
        return Err(ApiError::QuotaExceeded {
            key: signer.0.to_string(),
            burst: state.quotas.burst(),
            rate: state.quotas.rate(),
            retry_after: wait.as_secs().saturating_add(1),
        });
    }
    let sub = Submission {
        binding: checked.signed.clone(),
        signature: checked.signature,
    };
    let outcome = match state.log.submit(sub).await {
        Ok(o) => o,
        Err(QueueError::Full) => {
            state.quotas.refund(&signer);
            return Err(ApiError::QueueFull);
        }
        Err(QueueError::Stopped) => return Err(ApiError::ShuttingDown),
    };
    respond(state, &checked.signed, outcome).await
}

/// Why the log sequences nothing now: halted, or still waiting for its witnesses at start
/// after the commit timeout (a submission waits that long, as for a commit).
async fn not_sequencing(state: &AppState) -> Option<ApiError> {
    if let Some(reason) = state.log.halted() {
        return Some(ApiError::Halted(reason));
    }
    if state.log.awaiting_witnesses().is_some() && !state.log.wait_ready(state.commit_timeout).await
    {
        if let Some(reason) = state.log.halted() {
            return Some(ApiError::Halted(reason));
        }
        return state
            .log
            .awaiting_witnesses()
            .map(ApiError::AwaitingWitnesses);
    }
    state.log.halted().map(ApiError::Halted)
}

/// While the log sequences nothing, a replay of a logged entry is still answered with its
/// index (its exact bytes were verified when they were logged); anything else gets
/// `refused`.
async fn replay_only(
    state: &AppState,
    bytes: Bytes,
    refused: ApiError,
) -> Result<Response, ApiError> {
    let signed = SignedBinding::parse(&bytes).map_err(ApiError::Malformed)?;
    let store = Arc::clone(state.log.store());
    let leaf = leaf_hash(&bytes);
    let ref_key = signed.binding().reference.key();
    let found = blocking(move || Ok((store.dedup(&leaf)?, store.ref_latest(&ref_key)?))).await?;
    match found {
        (Some(_), _) => {
            Ok(duplicate(state, &signed, found)?.unwrap_or_else(|| refused.into_response()))
        }
        (None, _) => Err(refused),
    }
}

/// Parses and checks a binding: origin, admission and signature by the rule book (the
/// signature off the runtime, with the two index reads the dedup and version checks need).
async fn check(
    state: &AppState,
    bytes: Bytes,
) -> Result<(Checked, (Option<u64>, Option<HistoryItem>)), ApiError> {
    let signed = SignedBinding::parse(&bytes).map_err(ApiError::Malformed)?;
    let origin = state.log.config().key.name().to_string();
    signed.check_log(&origin).map_err(ApiError::WrongLog)?;
    let allowlist = state.log.allowlist();
    // Every admitted key with the signer's name and key ID that covers the ref is tried:
    // another tenant's key may share both (issue 12, finding 4).
    let candidates = allowlist.rules().candidates(&signed).map_err(|reason| {
        let (name, id) = signed.signer();
        ApiError::NotAdmitted {
            reason,
            signer: format!("{name}+{id}"),
            reference: signed.binding().reference.to_string(),
        }
    })?;
    let store = state.log.store();
    let leaf = leaf_hash(&bytes);
    // Inline on the runtime's worker: one `verify_strict` (~40 µs) and two point reads served
    // from RocksDB's memtable and block cache cost less than the two thread wake-ups of a
    // blocking-pool trip (measured: BENCHMARKS.md section 3).
    let signature = SignatureCheck::run(&signed, &candidates);
    if signature.verified().is_none() {
        return Err(ApiError::BadSignature {
            reference: signed.binding().reference.to_string(),
            keys: candidates.len(),
        });
    }
    let ref_key = signed.binding().reference.key();
    let found = (store.dedup(&leaf)?, store.ref_latest(&ref_key)?);
    Ok((Checked { signed, signature }, found))
}

/// Answers a replay of a logged entry (200 with its index), or refuses a stale version
/// (409), from the index rows `found` = (dedup index of the leaf, the ref's latest binding).
fn duplicate(
    state: &AppState,
    signed: &SignedBinding,
    found: (Option<u64>, Option<HistoryItem>),
) -> Result<Option<Response>, ApiError> {
    let version = signed.binding().version;
    match found {
        (Some(index), latest) => {
            state.log.metrics().submission("duplicate");
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
        (None, latest) => {
            let current = latest.map(|l| l.version);
            match check_version(current, version) {
                Ok(()) => Ok(None),
                Err(error) => Err(ApiError::VersionConflict {
                    got: version,
                    current,
                    error,
                }),
            }
        }
    }
}

async fn respond(
    state: &Arc<AppState>,
    signed: &SignedBinding,
    outcome: Outcome,
) -> Result<Response, ApiError> {
    let version = signed.binding().version;
    let index = match outcome {
        Outcome::Added { index } => index,
        Outcome::Duplicate { index } => {
            state.log.metrics().submission("duplicate");
            let body = json!({"index": index, "version": version, "duplicate": true});
            return Ok((StatusCode::OK, axum::Json(body)).into_response());
        }
        Outcome::Refused(violation) => return Err(ApiError::from(*violation)),
        Outcome::Unavailable(u) => return Err(u.into()),
    };
    let Some(head) = wait_published(state, index).await else {
        state.log.metrics().submission("accepted_late");
        let body = json!({"index": index, "status": "sequenced", "detail": "durably logged; no quorum checkpoint covers it yet, poll /lookup"});
        return Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response());
    };
    state.log.metrics().submission("added");
    // Inline, as the checks above: the bundle's reads are point reads of hot rows.
    let log = &state.log;
    let bundle = crate::log::reads::lookup(
        log.store().as_ref(),
        log.state_proofs(),
        &head,
        &signed.binding().reference,
        None,
    )
    .map_err(ApiError::from)?;
    Ok(json_response(StatusCode::OK, bundle.to_json(), "no-store"))
}

/// The first published head covering `index`, pinned for reading the map at its size (or a
/// newer one, should that map version be pruned already), or `None` after the commit timeout.
async fn wait_published(state: &AppState, index: u64) -> Option<PinnedHead> {
    let started = std::time::Instant::now();
    let mut rx = state.log.heads().watch_published();
    let wait = rx.wait_for(|h| h.as_ref().is_some_and(|h| h.size > index));
    let head = match tokio::time::timeout(state.commit_timeout, wait).await {
        Ok(Ok(h)) => h.clone(),
        _ => None,
    }?;
    state
        .log
        .metrics()
        .quorum_wait
        .observe(started.elapsed().as_secs_f64());
    let heads = state.log.heads();
    heads.pin(head).or_else(|| heads.published_pinned())
}
