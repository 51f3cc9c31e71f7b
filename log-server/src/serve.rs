//! Accepts TCP connections and serves the HTTP API on them, with limits.
//!
//! - At most [`Limits::max_connections`] connections are open at once. When all slots are taken
//!   the server stops accepting, so further clients wait in the kernel's listen backlog (and
//!   are refused by the kernel when it is full) instead of costing the server memory.
//! - A client must send a request's headers within [`Limits::header_timeout`]; the same bound
//!   closes a keep-alive connection that stays idle between requests. So a slow or silent
//!   client holds a slot for a bounded time.
//! - Shutdown stops accepting (the port closes), lets every request in flight finish and closes
//!   idle connections, for at most [`Limits::drain_timeout`].
//!
//! HTTP/1.1 only. Out of scope: the routes and the per-request timeout (`api` and the layers
//! in `lib.rs`), and clients that read responses slowly (responses are small; the kernel's
//! socket buffers absorb them).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Pause after an accept error that is not about one connection (e.g. out of file
/// descriptors), so the loop does not spin while the cause persists.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Limits on connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most connections open at once (at least 1).
    pub max_connections: usize,
    /// Time for a request's headers, and for an idle keep-alive gap.
    pub header_timeout: Duration,
    /// Longest wait at shutdown for requests in flight.
    pub drain_timeout: Duration,
}

/// Accepts connections on `listener` and serves `app` on them until `shutdown` completes,
/// then drains (see the module documentation). Never fails: errors of one connection end
/// only that connection, and accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
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
        tokio::spawn(async move {
            conn.serve_http(stream).await;
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
