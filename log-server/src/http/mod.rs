//! The HTTP API (axum 0.8), DESIGN §5 "Endpoints", C2SP tlog-tiles for `/tile/...`.
//!
//! Handlers parse and check their input, ask the log, and render its answer; every error is
//! an [`ApiError`] rendered in one place. Every read answers against durable state only.
//! Out of scope: connection handling and request limits (the `taglog-serve` crate) and any
//! decision about what is logged (the `log` layer).

pub mod error;
pub mod explore;
pub mod quota;
pub mod reads;
pub mod submit;
pub mod tiles;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;

use crate::log::Log;
use quota::Quotas;

/// What the handlers share.
pub struct AppState {
    /// The log.
    pub log: Arc<Log>,
    /// Per-publisher-key submission quotas.
    pub quotas: Quotas,
    /// How long `/add-binding` waits for a quorum checkpoint before answering 202.
    pub commit_timeout: Duration,
}

/// Builds the router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/add-binding",
            post(|State(s): State<Arc<AppState>>, h: HeaderMap, b: Body| {
                submit::add_binding(s, h, b)
            }),
        )
        .route("/checkpoint", get(reads::checkpoint))
        .route("/tile/{*path}", get(tiles::tile))
        .route("/lookup", get(reads::lookup))
        .route("/history", get(reads::history))
        .route("/proof", get(reads::proof))
        .route("/consistency", get(reads::consistency))
        .route("/healthz", get(reads::healthz))
        .route("/metrics", get(reads::metrics))
        .merge(explore::router(Arc::clone(&state.log)))
        .with_state(state)
}

/// A JSON response with a cache policy.
pub fn json_response(status: StatusCode, body: String, cache: &'static str) -> Response {
    typed_response(status, body.into_bytes(), "application/json", cache)
}

/// A response with a content type and a cache policy.
pub fn typed_response(
    status: StatusCode,
    body: Vec<u8>,
    ctype: &'static str,
    cache: &'static str,
) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// Runs blocking store work off the async runtime.
///
/// # Errors
/// The work's own error, or [`ApiError::Internal`] if the task failed.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await?
}
