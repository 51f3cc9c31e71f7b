//! The accept loop: connection slots, header and handshake timeouts, graceful drain.
//!
//! Out of scope: what the router does with a request (see [`crate::limit_requests`] for the
//! per-request limits).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin while the cause persists.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Limits on connections, and the gauge of open ones.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Most connections open at once (values below 1 count as 1).
    pub max_connections: usize,
    /// Time for a TLS handshake, for a request's headers, and for an idle keep-alive gap
    /// (must be more than zero: zero would close every connection at once).
    pub header_timeout: Duration,
    /// Longest wait at shutdown for requests in flight.
    pub drain_timeout: Duration,
    /// Gauge of the connections open now (kept up to date by [`serve`]).
    pub open: Arc<AtomicU64>,
}

impl Default for Limits {
    /// [`crate::DEFAULT_MAX_CONNECTIONS`], [`crate::DEFAULT_HEADER_TIMEOUT`], and a drain
    /// timeout of the default request timeout plus the header timeout (a request in flight
    /// had its headers read and is bounded by the request timeout; the header timeout covers
    /// one still arriving).
    fn default() -> Limits {
        Limits {
            max_connections: crate::DEFAULT_MAX_CONNECTIONS,
            header_timeout: crate::DEFAULT_HEADER_TIMEOUT,
            drain_timeout: crate::DEFAULT_REQUEST_TIMEOUT
                .saturating_add(crate::DEFAULT_HEADER_TIMEOUT),
            open: Arc::new(AtomicU64::new(0)),
        }
    }
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
/// then drains (see the crate documentation). Plain HTTP when `tls` is `None`.
///
/// Never fails: errors of one connection end only that connection, and accept errors are
/// logged and retried after [`ACCEPT_ERROR_PAUSE`]. Returns once drained (or once
/// [`Limits::drain_timeout`] has passed; connections still open then are dropped).
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
    drain(graceful, limits.drain_timeout).await;
}

async fn drain(graceful: GracefulShutdown, limit: Duration) {
    let open = graceful.count();
    tracing::info!(
        open,
        "stopped accepting; waiting for requests in flight (at most {limit:?})"
    );
    if tokio::time::timeout(limit, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {limit:?}; closing them");
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

/// Completes on SIGTERM or ctrl-c (SIGINT): the usual `shutdown` argument of [`serve`].
///
/// The SIGTERM handler is installed when this is called, not when the future is first
/// polled, so a server that calls it before opening its port cannot be killed by a SIGTERM
/// that arrives before its accept loop runs. If a handler cannot be installed, that signal
/// is ignored (the other still works).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let term = async {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        let int = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = int => {},
            () = term => {},
        }
    }
}
