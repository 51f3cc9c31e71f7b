//! Accepts TCP connections and serves the HTTP API on them, with limits, optionally over TLS.
//!
//! - At most [`Limits::max_connections`] connections are open at once. When all slots are taken
//!   the server stops accepting, so further clients wait in the kernel's listen backlog (and
//!   are refused by the kernel when it is full) instead of costing the server memory.
//! - A client must send a request's headers within [`Limits::header_timeout`]; the same bound
//!   closes a keep-alive connection that stays idle between requests, and a TLS handshake that
//!   does not finish in time. So a slow or silent client holds a slot for a bounded time.
//! - Shutdown stops accepting (the port closes), lets every request in flight finish and closes
//!   idle connections, for at most [`Limits::drain_timeout`].
//!
//! HTTP/1.1 only (ALPN `http/1.1`). Out of scope: the routes and the per-request timeout
//! (`api` and the layers in `lib.rs`), and clients that read responses slowly (responses are
//! small; the kernel's socket buffers absorb them).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::ConfigError;

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin while the cause persists.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The only application protocol offered in the TLS handshake.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Limits on connections.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Most connections open at once (at least 1).
    pub max_connections: usize,
    /// Time for a TLS handshake, for a request's headers, and for an idle keep-alive gap.
    pub header_timeout: Duration,
    /// Longest wait at shutdown for requests in flight.
    pub drain_timeout: Duration,
    /// Gauge of the connections open now (kept up to date here).
    pub open: Arc<AtomicU64>,
}

/// Counts one open connection for as long as it lives.
struct Open(Arc<AtomicU64>);

impl Open {
    fn new(gauge: &Arc<AtomicU64>) -> Open {
        gauge.fetch_add(1, Ordering::Relaxed);
        Open(Arc::clone(gauge))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections on `listener` and serves `app` on them until `shutdown` completes,
/// then drains (see the module documentation). Never fails: errors of one connection end
/// only that connection, and accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let acceptor = tls.map(TlsAcceptor::from);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accept failed; retrying in {ACCEPT_ERROR_PAUSE:?}");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    }
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            http: http.clone(),
            app: app.clone(),
            watcher: graceful.watcher(),
            peer,
        };
        let acceptor = acceptor.clone();
        let handshake_timeout = limits.header_timeout;
        let open = Open::new(&limits.open);
        tokio::spawn(async move {
            conn.run(stream, acceptor, handshake_timeout).await;
            drop(open);
            drop(slot);
        });
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(
        open,
        "stopped accepting; waiting for requests in flight (at most {:?})",
        limits.drain_timeout
    );
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open after {:?}; closing them",
            limits.drain_timeout
        );
    }
}

/// Errors of one incoming connection (it was reset before it was accepted); the listener
/// itself is fine.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// One accepted connection.
struct Conn {
    http: http1::Builder,
    app: Router,
    watcher: Watcher,
    peer: SocketAddr,
}

impl Conn {
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>, handshake_timeout: Duration) {
        let Some(acceptor) = tls else {
            return self.serve_http(stream).await;
        };
        match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve_http(stream).await,
            Ok(Err(e)) => tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }

    async fn serve_http<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let conn = self
            .http
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(self.app));
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(peer = %self.peer, error = %e, "connection closed");
        }
    }
}

/// Loads a PEM certificate chain and its private key into a TLS server configuration
/// (ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`).
///
/// # Errors
/// [`ConfigError::Tls`] naming the file and what is wrong with it: unreadable, not PEM, no
/// certificate, no private key, or a key that does not belong to the certificate.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ConfigError> {
    let chain = load_chain(cert)?;
    let private = load_key(key)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("certificate", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            tls_error(
                "key",
                key,
                format!(
                    "unusable with the certificate in {}: {e}; it must be the private key of \
                     the first certificate there (RSA, ECDSA P-256/P-384 or Ed25519)",
                    cert.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error("certificate", path, pem_detail(&e)))?;
    if chain.is_empty() {
        return Err(tls_error(
            "certificate",
            path,
            "no certificate in it; expected PEM blocks `-----BEGIN CERTIFICATE-----`, leaf first"
                .into(),
        ));
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        let detail = match e {
            pem::Error::NoItemsFound => "no private key in it; expected a PEM block \
                 `-----BEGIN PRIVATE KEY-----` (or RSA PRIVATE KEY, EC PRIVATE KEY)"
                .into(),
            e => pem_detail(&e),
        };
        tls_error("key", path, detail)
    })
}

fn pem_detail(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(e) => format!("cannot read it: {e}"),
        e => format!("not a valid PEM file: {e}"),
    }
}

fn tls_error(what: &'static str, path: &Path, detail: String) -> ConfigError {
    ConfigError::Tls {
        what,
        path: path.to_path_buf(),
        detail,
    }
}
