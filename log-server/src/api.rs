//! The HTTP API (axum 0.8), DESIGN §5 "Endpoints", C2SP tlog-tiles for `/tile/...`.
//!
//! Every read answers against durable state only. Numbers in queries must be canonical
//! decimals (no leading zeros); refs must be canonical. Full tiles are immutable
//! (`Cache-Control: public, max-age=31536000, immutable`); `/checkpoint` is `no-cache`.
//! Out of scope: the submission path (see [`crate::submit`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use taglog_proofs::hash::Hash;
use taglog_proofs::num::parse_decimal;
use taglog_proofs::refs::TagRef;

use crate::errors::ApiError;
use crate::state::{now_unix, Head, Shared};

type Q = Query<HashMap<String, String>>;

/// Builds the router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/add-binding",
            post(|State(s): State<Arc<Shared>>, h: HeaderMap, b: Body| {
                crate::submit::add_binding(s, h, b)
            }),
        )
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .route("/lookup", get(lookup))
        .route("/history", get(history))
        .route("/proof", get(proof))
        .route("/consistency", get(consistency))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// A JSON response with a cache policy.
pub fn json_response(status: StatusCode, body: String, cache: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

fn text_response(body: Vec<u8>, ctype: &'static str, cache: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

fn number(q: &HashMap<String, String>, name: &'static str) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            parse_decimal(v).ok_or_else(|| {
                ApiError::bad_request(
                    "malformed",
                    format!("query parameter {name}={v:?} is not a canonical decimal number"),
                )
            })
        })
        .transpose()
}

fn required(q: &HashMap<String, String>, name: &'static str) -> Result<u64, ApiError> {
    number(q, name)?.ok_or_else(|| {
        ApiError::bad_request("malformed", format!("query parameter {name} is required"))
    })
}

fn reference(q: &HashMap<String, String>) -> Result<TagRef, ApiError> {
    let raw = q
        .get("ref")
        .ok_or_else(|| ApiError::bad_request("malformed", "query parameter ref is required"))?;
    raw.parse().map_err(|e| {
        ApiError::bad_request("malformed", format!("ref {raw:?} is not canonical: {e}"))
    })
}

fn hashes_json(h: &[Hash]) -> Vec<String> {
    h.iter().map(Hash::to_base64).collect()
}

fn committed_size(shared: &Shared) -> u64 {
    shared.committed().map_or(0, |h| h.size)
}

/// The newest quorum checkpoint of size ≥ `since`.
fn pick(shared: &Shared, since: Option<u64>) -> Result<Head, ApiError> {
    match shared.published() {
        Some(h) if h.size >= since.unwrap_or(0) => Ok(h),
        Some(h) => Err(ApiError::unavailable(
            "no_quorum_checkpoint",
            format!(
                "no quorum checkpoint of size ≥ {} yet (newest is {})",
                since.unwrap_or(0),
                h.size
            ),
            1,
        )),
        None => Err(ApiError::unavailable(
            "no_quorum_checkpoint",
            "no checkpoint meets the witness quorum yet",
            1,
        )),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

async fn checkpoint(State(s): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let head = pick(&s, None)?;
    Ok(text_response(
        head.note.to_vec(),
        "text/plain; charset=utf-8",
        "no-cache",
    ))
}

async fn tile(
    State(s): State<Arc<Shared>>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let size = committed_size(&s);
    let storage = Arc::clone(&s.storage);
    let (body, full) =
        blocking(move || crate::tiles::read_tile(storage.as_ref(), &format!("tile/{path}"), size))
            .await?;
    let cache = if full {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=60"
    };
    Ok(text_response(body, "application/octet-stream", cache))
}

async fn lookup(State(s): State<Arc<Shared>>, Query(q): Q) -> Result<Response, ApiError> {
    let r = reference(&q)?;
    let since = number(&q, "since")?;
    let head = pick(&s, since)?;
    let shared = Arc::clone(&s);
    let bundle = blocking(move || {
        crate::reads::lookup(
            shared.storage.as_ref(),
            &shared.state_proofs,
            &head,
            &r,
            since,
        )
        .map_err(ApiError::internal)
    })
    .await?;
    Ok(json_response(StatusCode::OK, bundle.to_json(), "no-store"))
}

async fn history(State(s): State<Arc<Shared>>, Query(q): Q) -> Result<Response, ApiError> {
    let r = reference(&q)?;
    let since = number(&q, "since")?;
    let cursor = number(&q, "cursor")?.unwrap_or(0);
    let head = pick(&s, since)?;
    let storage = Arc::clone(&s.storage);
    let page = blocking(move || {
        crate::reads::history(storage.as_ref(), &head, &r, cursor).map_err(ApiError::internal)
    })
    .await?;
    Ok(json_response(StatusCode::OK, page.to_json(), "no-store"))
}

async fn proof(State(s): State<Arc<Shared>>, Query(q): Q) -> Result<Response, ApiError> {
    let (index, size) = (required(&q, "index")?, required(&q, "size")?);
    let have = committed_size(&s);
    if size > have || index >= size {
        let detail =
            format!("need index < size ≤ {have} (the log's size); got index {index}, size {size}");
        return Err(ApiError::bad_request("out_of_range", detail).with("tree_size", have));
    }
    let storage = Arc::clone(&s.storage);
    let p = blocking(move || {
        crate::reads::inclusion(storage.as_ref(), index, size).map_err(ApiError::internal)
    })
    .await?;
    let body = json!({"index": index, "size": size, "inclusion": hashes_json(&p)});
    Ok(json_response(
        StatusCode::OK,
        body.to_string(),
        "public, max-age=31536000, immutable",
    ))
}

async fn consistency(State(s): State<Arc<Shared>>, Query(q): Q) -> Result<Response, ApiError> {
    let (old, new) = (required(&q, "old")?, required(&q, "new")?);
    let have = committed_size(&s);
    if old > new || new > have {
        let detail = format!("need old ≤ new ≤ {have} (the log's size); got old {old}, new {new}");
        return Err(ApiError::bad_request("out_of_range", detail).with("tree_size", have));
    }
    let storage = Arc::clone(&s.storage);
    let p = blocking(move || {
        crate::reads::consistency(storage.as_ref(), old, new).map_err(ApiError::internal)
    })
    .await?;
    let body = json!({"old": old, "new": new, "proof": hashes_json(&p)});
    Ok(json_response(
        StatusCode::OK,
        body.to_string(),
        "public, max-age=31536000, immutable",
    ))
}

async fn healthz(State(s): State<Arc<Shared>>) -> Result<Response, ApiError> {
    if let Some(reason) = s.halted() {
        return Err(ApiError::unavailable("halted", reason, 60));
    }
    let head = pick(&s, None)?;
    let age = now_unix().saturating_sub(head.time);
    let limit = (s.config.mmd / 2).as_secs();
    if age > limit {
        return Err(ApiError::unavailable(
            "stale",
            format!("newest quorum checkpoint is {age}s old, more than MMD/2 = {limit}s"),
            5,
        ));
    }
    let body = json!({"status": "ok", "size": head.size, "age_seconds": age});
    Ok(json_response(StatusCode::OK, body.to_string(), "no-store"))
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    text_response(
        s.metrics.render().into_bytes(),
        "text/plain; version=0.0.4",
        "no-store",
    )
}
