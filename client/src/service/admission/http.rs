//! The webhook's HTTPS server: `POST /mutate` takes an `AdmissionReview`, and the service's
//! `/healthz` and `/metrics` are merged in. Connections, TLS, header and request timeouts and
//! graceful drain are `taglog-serve`'s.
//!
//! Guarantees: a body over [`MAX_REVIEW_BYTES`] is refused (413) from its `Content-Length`
//! before any of it is read, or as soon as a chunked body passes the limit; a review that is
//! not JSON `AdmissionReview` `v1` gets 400 (415 for another content type) with a JSON body
//! `{"error":{"code":...,"message":...}}` saying what was wrong; nothing is decided for it and
//! no state changes. HTTP statuses are chosen in [`error_status`] only.
//! Out of scope: client certificates (the API server's identity is not checked; see
//! `docs/pull-path.md` for network policy).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::review::{self, ReviewError, MAX_REVIEW_BYTES};
use super::Webhook;

/// The path the API server posts reviews to (the webhook configuration's `service.path`).
pub const REVIEW_PATH: &str = "/mutate";
/// Default longest time for one HTTP request (the API server's `timeoutSeconds` is at most 30).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS certificate or key.
    #[error(transparent)]
    Tls(#[from] taglog_serve::TlsError),
    /// The listen address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How to serve the webhook.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain (leaf first).
    pub tls_cert: PathBuf,
    /// PEM private key of the leaf.
    pub tls_key: PathBuf,
    /// Connection limits (`taglog-serve`).
    pub limits: taglog_serve::Limits,
    /// Longest time for one HTTP request.
    pub request_timeout: Duration,
}

/// The router: `POST /mutate`, `/healthz`, `/metrics`.
pub fn router(webhook: Webhook) -> Router {
    let status = webhook.service().router();
    Router::new()
        .route(REVIEW_PATH, post(handle))
        .with_state(webhook)
        .merge(status)
}

/// Serves the webhook over HTTPS until SIGTERM or Ctrl-C, then drains.
///
/// # Errors
/// [`ServeError`] when the certificate or key is unusable, or the address cannot be bound.
pub async fn serve(webhook: Webhook, opts: ServeOptions) -> Result<(), ServeError> {
    let tls = taglog_serve::load_tls(&opts.tls_cert, &opts.tls_key)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    tracing::info!(addr = %opts.listen, path = REVIEW_PATH, "admission webhook listening (HTTPS)");
    let app = taglog_serve::limit_requests(router(webhook), MAX_REVIEW_BYTES, opts.request_timeout);
    taglog_serve::serve(
        listener,
        app,
        opts.limits,
        Some(tls),
        taglog_serve::shutdown_signal(),
    )
    .await;
    Ok(())
}

async fn handle(State(w): State<Webhook>, headers: HeaderMap, body: Body) -> Response {
    match read(&headers, body).await {
        Ok(req) => {
            let answer = w.admit(&req).await;
            (
                [(header::CONTENT_TYPE, "application/json")],
                answer.to_json(),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(code = e.code(), error = %e, "admission review refused");
            error_response(&e)
        }
    }
}

async fn read(headers: &HeaderMap, body: Body) -> Result<review::Request, ReviewError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ReviewError::ContentType(ct.to_string()));
        }
    }
    let bytes = taglog_serve::read_body(headers, body, MAX_REVIEW_BYTES)
        .await
        .map_err(|e| match e {
            taglog_serve::BodyError::TooLarge { .. } => ReviewError::TooLarge,
            e => ReviewError::Read(e),
        })?;
    review::parse(&bytes)
}

/// The HTTP status of a refused review (the one mapping).
pub fn error_status(e: &ReviewError) -> StatusCode {
    match e {
        ReviewError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ReviewError::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn error_response(e: &ReviewError) -> Response {
    let body = serde_json::json!({"error": {"code": e.code(), "message": e.to_string()}});
    (
        error_status(e),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
