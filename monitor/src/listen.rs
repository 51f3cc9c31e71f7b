//! How `taglog-monitor --listen` and `taglog-witness` serve HTTP: through the log server's own
//! hardened accept loop ([`taglog_serve`]), with the same limits and flags.
//!
//! Guarantees: at most `--max-connections` connections are open at once (further clients
//! wait in the kernel's listen backlog); a client has `--header-timeout` to send a request's
//! headers (and to finish a TLS handshake), and an idle keep-alive connection is closed after
//! it too; a request body above the route's limit is refused with 413 before it is buffered;
//! a request still running after `--request-timeout` is answered 408; optional TLS
//! (`--tls-cert`, `--tls-key`, rustls). Out of scope: the routes (see [`crate::serve`] and
//! [`crate::witness::http`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use taglog_serve::{
    Limits, ServerConfig, TlsError, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
};

/// The HTTP flags shared by `taglog-monitor` and `taglog-witness`.
#[derive(clap::Args, Clone, Debug)]
pub struct HttpFlags {
    /// Most connections open at once; further ones wait in the listen backlog.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = at_least_one)]
    pub max_connections: usize,
    /// Time a client has to send a request's headers (and to finish the TLS handshake); an
    /// idle keep-alive connection is closed after it too (e.g. 10s, 1m).
    #[arg(long, value_parser = positive_duration, default_value = "10s")]
    pub header_timeout: Duration,
    /// Longest time one request may run once its headers are read (then 408); default 30s for
    /// the monitor, 10m for the witness (an audit replays the log's new entries).
    #[arg(long, value_parser = positive_duration)]
    pub request_timeout: Option<Duration>,
    /// PEM certificate chain (leaf first) to serve HTTPS; needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Default for HttpFlags {
    fn default() -> HttpFlags {
        HttpFlags {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// A count flag of at least 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

/// A duration flag of at least one second (`90s`, `15m`, `1h`; see
/// [`taglog_proofs::policy::parse_duration`]).
fn positive_duration(s: &str) -> Result<Duration, String> {
    match taglog_proofs::policy::parse_duration(s)? {
        0 => Err(format!("duration `{s}` must be at least 1s")),
        secs => Ok(Duration::from_secs(secs)),
    }
}

/// An HTTP server ready to run: listener, router with its limits, TLS.
pub struct HttpServer {
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<ServerConfig>>,
}

/// Why the HTTP server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; choose a free address with --listen")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl HttpFlags {
    /// Binds `addr` and wraps `router` in the request limits (`max_body` bytes per request
    /// body, the request timeout or `default_request_timeout`).
    ///
    /// # Errors
    /// [`ListenError::Bind`] or [`ListenError::Tls`].
    pub async fn bind(
        &self,
        addr: SocketAddr,
        router: Router,
        max_body: usize,
        default_request_timeout: Duration,
        open: Arc<AtomicU64>,
    ) -> Result<HttpServer, ListenError> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(taglog_serve::load_tls(cert, key)?),
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ListenError::Bind { addr, source })?;
        let request_timeout = self.request_timeout.unwrap_or(default_request_timeout);
        let limits = Limits {
            max_connections: self.max_connections,
            header_timeout: self.header_timeout,
            drain_timeout: request_timeout.saturating_add(self.header_timeout),
            open,
        };
        Ok(HttpServer {
            listener,
            app: taglog_serve::limit_requests(router, max_body, request_timeout),
            limits,
            tls,
        })
    }
}

impl HttpServer {
    /// The bound address (the real port when port 0 was asked for).
    ///
    /// # Errors
    /// The socket's error if it has no local address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains (see [`taglog_serve::serve`]).
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        taglog_serve::serve(self.listener, self.app, self.limits, self.tls, shutdown).await;
    }
}
