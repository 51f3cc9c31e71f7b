//! The read endpoints: `/checkpoint`, `/lookup`, `/history`, `/proof`, `/consistency`,
//! `/healthz` and `/metrics` (DESIGN §5 "What is served").
//!
//! Numbers in queries must be canonical decimals (no leading zeros); refs must be canonical.
//! `/lookup` and `/history` answer against the newest published checkpoint ≥ `since`;
//! `/checkpoint` is `no-cache`, proofs of fixed sizes are immutable. Out of scope: building
//! the proofs ([`crate::log::reads`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use taglog_proofs::hash::Hash;
use taglog_proofs::num::parse_decimal;
use taglog_proofs::refs::TagRef;

use super::{blocking, json_response, typed_response, ApiError, AppState};
use crate::log::heads::PinnedHead;
use crate::log::now_unix;

type Q = Query<HashMap<String, String>>;

fn number(q: &HashMap<String, String>, name: &'static str) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            parse_decimal(v).ok_or_else(|| ApiError::BadNumber {
                name,
                value: v.clone(),
            })
        })
        .transpose()
}

fn required(q: &HashMap<String, String>, name: &'static str) -> Result<u64, ApiError> {
    number(q, name)?.ok_or(ApiError::MissingParameter(name))
}

fn reference(q: &HashMap<String, String>) -> Result<TagRef, ApiError> {
    let raw = q.get("ref").ok_or(ApiError::MissingParameter("ref"))?;
    raw.parse().map_err(|source| ApiError::BadRef {
        raw: raw.clone(),
        source,
    })
}

fn hashes_json(h: &[Hash]) -> Vec<String> {
    h.iter().map(Hash::to_base64).collect()
}

fn committed_size(s: &AppState) -> u64 {
    s.log.heads().committed().map_or(0, |h| h.size)
}

/// The newest published checkpoint of size ≥ `since`, pinned (its map version stays readable
/// while the answer is built).
///
/// # Errors
/// [`ApiError::NoQuorumCheckpoint`] if there is none yet.
pub fn pick(s: &AppState, since: Option<u64>) -> Result<PinnedHead, ApiError> {
    let since = since.unwrap_or(0);
    match s.log.heads().published_pinned() {
        Some(h) if h.size >= since => Ok(h),
        newest => Err(ApiError::NoQuorumCheckpoint {
            since,
            newest: newest.map(|h| h.size),
        }),
    }
}

/// `GET /checkpoint`.
pub async fn checkpoint(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let head = pick(&s, None)?;
    Ok(typed_response(
        StatusCode::OK,
        head.note.to_vec(),
        "text/plain; charset=utf-8",
        "no-cache",
    ))
}

/// `GET /lookup?ref=&since=`.
pub async fn lookup(State(s): State<Arc<AppState>>, Query(q): Q) -> Result<Response, ApiError> {
    let r = reference(&q)?;
    let since = number(&q, "since")?;
    let head = pick(&s, since)?;
    // Inline on the runtime's worker: a map proof and an inclusion proof from hot rows cost
    // less than the thread wake-ups of a blocking-pool trip.
    let bundle = crate::log::reads::lookup(
        s.log.store().as_ref(),
        s.log.state_proofs(),
        &head,
        &r,
        since,
    )
    .map_err(ApiError::from)?;
    Ok(json_response(StatusCode::OK, bundle.to_json(), "no-store"))
}

/// `GET /history?ref=&since=&cursor=`.
pub async fn history(State(s): State<Arc<AppState>>, Query(q): Q) -> Result<Response, ApiError> {
    let r = reference(&q)?;
    let since = number(&q, "since")?;
    let cursor = number(&q, "cursor")?.unwrap_or(0);
    let head = pick(&s, since)?;
    let store = Arc::clone(s.log.store());
    let page = blocking(move || {
        Ok(crate::log::reads::history(
            store.as_ref(),
            &head,
            &r,
            cursor,
        )?)
    })
    .await?;
    Ok(json_response(StatusCode::OK, page.to_json(), "no-store"))
}

/// `GET /proof?index=&size=`.
pub async fn proof(State(s): State<Arc<AppState>>, Query(q): Q) -> Result<Response, ApiError> {
    let (index, size) = (required(&q, "index")?, required(&q, "size")?);
    let tree_size = committed_size(&s);
    if size > tree_size || index >= size {
        return Err(ApiError::ProofOutOfRange {
            index,
            size,
            tree_size,
        });
    }
    let store = Arc::clone(s.log.store());
    let p =
        blocking(move || Ok(crate::log::reads::inclusion(store.as_ref(), index, size)?)).await?;
    let body = json!({"index": index, "size": size, "inclusion": hashes_json(&p)});
    Ok(json_response(
        StatusCode::OK,
        body.to_string(),
        "public, max-age=31536000, immutable",
    ))
}

/// `GET /consistency?old=&new=`.
pub async fn consistency(
    State(s): State<Arc<AppState>>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    let (old, new) = (required(&q, "old")?, required(&q, "new")?);
    let tree_size = committed_size(&s);
    if old > new || new > tree_size {
        return Err(ApiError::ConsistencyOutOfRange {
            old,
            new,
            tree_size,
        });
    }
    let store = Arc::clone(s.log.store());
    let p = blocking(move || Ok(crate::log::reads::consistency(store.as_ref(), old, new)?)).await?;
    let body = json!({"old": old, "new": new, "proof": hashes_json(&p)});
    Ok(json_response(
        StatusCode::OK,
        body.to_string(),
        "public, max-age=31536000, immutable",
    ))
}

/// `GET /healthz`: 200 while sequencing runs (not halted, not waiting for witnesses) and clients would take the published
/// checkpoint as fresh within MMD/2 ([`crate::log::health::judge`]).
pub async fn healthz(State(s): State<Arc<AppState>>) -> Result<Response, ApiError> {
    if let Some(reason) = s.log.halted() {
        return Err(ApiError::Halted(reason));
    }
    if let Some(waiting) = s.log.awaiting_witnesses() {
        return Err(ApiError::AwaitingWitnesses(waiting));
    }
    let head = pick(&s, None)?;
    let limit = (s.log.config().mmd / 2).as_secs();
    let fresh = crate::log::health::judge(&head, s.log.config(), now_unix(), limit)?;
    let publish = &s.log.metrics().publish;
    let bucket = publish
        .enabled
        .load(std::sync::atomic::Ordering::Relaxed)
        .then(|| {
            json!({
                "size": publish.bucket_size.load(std::sync::atomic::Ordering::Relaxed),
                "lag_entries": publish.lag_entries(),
                "error": publish.last_error(),
            })
        });
    let mut body = json!({
        "status": "ok",
        "size": fresh.size,
        "age_seconds": fresh.age,
        "fresh_cosignatures": fresh.fresh_cosignatures,
    });
    if let (Some(b), Some(obj)) = (bucket, body.as_object_mut()) {
        obj.insert("bucket".to_owned(), b);
    }
    Ok(json_response(StatusCode::OK, body.to_string(), "no-store"))
}

/// `GET /metrics` (Prometheus text).
pub async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    typed_response(
        StatusCode::OK,
        s.log.metrics().render().into_bytes(),
        "text/plain; version=0.0.4",
        "no-store",
    )
}
