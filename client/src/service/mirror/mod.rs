//! `taglog mirror`: a read-only OCI distribution pull-through proxy that container runtimes
//! use as a registry mirror, in front of the verification service (issue 13 item 1).
//!
//! - A manifest by **tag** is fetched from the upstream registry and served only if the
//!   service allows its digest for the tag (DESIGN §4 with the policy, `remap` rules and the
//!   local state): exactly the upstream bytes, whose digest the log binds, with
//!   `Docker-Content-Digest`. Otherwise `403 DENIED` with what failed and what to do, or
//!   `503 UNAVAILABLE` when the log or the registry cannot answer. There is no fail-open
//!   mode.
//! - Manifests by **digest** (at most `MAX_MANIFEST_BYTES`) are served only if their bytes
//!   hash to the digest; **blobs** are streamed with their digest checked, and a mismatch
//!   aborts the transfer ([`content`]).
//! - `GET` and `HEAD`; `Accept` is honoured for OCI and Docker manifests and indexes.
//! - The upstream is containerd's `?ns=<host>` (`hosts.toml`), or the first `--upstream`
//!   for clients that do not name it (containers-registries.conf `[[registry.mirror]]`,
//!   Docker's `registry-mirrors`, which mirror Docker Hub only). Only the configured
//!   upstreams are proxied ([`routes`]); upstream credentials are per host
//!   ([`crate::credentials`]).
//! - `/healthz` and `/metrics` of the service; connections, header time and TLS by
//!   `taglog-serve`.
//!
//! Out of scope: pushes, `/v2/_catalog`, tag lists, referrers, `Range` requests (a blob is
//! always sent whole), caching content on disk.

pub mod content;
pub mod errors;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use taglog_proofs::refs::TagRef;

use self::errors::MirrorError;
use self::routes::{parse_target, upstream_of, Target};
use super::Service;

/// Longest a request may take until its response starts (the upstream manifest and, on a
/// cache miss, the log's answer); blob bodies then stream without a limit.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Most upstream registries one mirror proxies.
pub const MAX_UPSTREAMS: usize = 64;

/// How to run a mirror.
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The upstream registries (canonical `host[:port]`, `docker.io` for Docker Hub); the
    /// first is used for requests without `?ns=`.
    pub upstreams: Vec<String>,
    /// TLS, if any.
    pub tls: Option<Arc<taglog_serve::ServerConfig>>,
    /// Connection limits.
    pub limits: taglog_serve::Limits,
}

/// Why a mirror cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No upstream, or too many.
    #[error("give between 1 and {MAX_UPSTREAMS} --upstream registries (host[:port], docker.io for Docker Hub)")]
    Upstreams,
    /// An upstream is not a canonical registry host.
    #[error("--upstream {0:?} is not a registry host[:port] in canonical form (lowercase, docker.io for Docker Hub)")]
    BadUpstream(String),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
struct Mirror {
    svc: Service,
    upstreams: Arc<Vec<String>>,
}

/// Checks the upstreams: canonical hosts, as references name them.
///
/// # Errors
/// [`StartError::Upstreams`] or [`StartError::BadUpstream`].
pub fn check_upstreams(upstreams: &[String]) -> Result<(), StartError> {
    if upstreams.is_empty() || upstreams.len() > MAX_UPSTREAMS {
        return Err(StartError::Upstreams);
    }
    for u in upstreams {
        let canonical = TagRef::canonicalize(&format!("{u}/x/y:z"))
            .ok()
            .filter(|r| r.host() == u);
        if canonical.is_none() {
            return Err(StartError::BadUpstream(u.clone()));
        }
    }
    Ok(())
}

/// The mirror's routes, with the service's `/healthz` and `/metrics`.
///
/// # Errors
/// See [`check_upstreams`].
pub fn router(svc: Service, upstreams: Vec<String>) -> Result<Router, StartError> {
    check_upstreams(&upstreams)?;
    let health = svc.router();
    let state = Mirror {
        svc,
        upstreams: Arc::new(upstreams),
    };
    let app = Router::new()
        .fallback(handle)
        .with_state(state)
        .merge(health);
    Ok(taglog_serve::limit_requests(app, 0, REQUEST_TIMEOUT))
}

/// Serves the mirror until `shutdown` completes, then drains.
///
/// # Errors
/// A [`StartError`] if it cannot start.
pub async fn run(
    svc: Service,
    cfg: MirrorConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let app = router(svc, cfg.upstreams)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: cfg.listen,
            source,
        })?;
    taglog_serve::serve(listener, app, cfg.limits, cfg.tls, shutdown).await;
    Ok(())
}

async fn handle(State(m): State<Mirror>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let mut resp = match answer(&m, &method, &uri, &headers).await {
        Ok(r) => r,
        Err(e) => {
            let (status, code) = e.status_and_code();
            tracing::info!(%method, path = %uri.path(), status = status.as_u16(), code, error = %e, "refused");
            e.into_response()
        }
    };
    resp.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    resp
}

async fn answer(
    m: &Mirror,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, MirrorError> {
    let head = match *method {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            return Err(MirrorError::Method {
                method: method.as_str().chars().take(32).collect(),
            })
        }
    };
    let upstream = upstream_of(uri.query(), &m.upstreams)?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    match parse_target(uri.path(), upstream)? {
        Target::Base => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response()),
        Target::ManifestByTag { reference } => {
            content::manifest_by_tag(&m.svc, reference, accept, head).await
        }
        Target::ManifestByDigest { repository, digest } => {
            content::manifest_by_digest(&m.svc, &repository, &digest, accept, head).await
        }
        Target::Blob { repository, digest } => {
            content::blob(&m.svc, &repository, digest, head).await
        }
    }
}
