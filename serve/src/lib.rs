//! taglog-serve: the one hardened HTTP/1.1 accept loop shared by every taglog server
//! (`taglog-server`, `taglog-monitor`, `taglog-witness`), for any axum [`axum::Router`].
//!
//! Guarantees, each with a named default:
//! - at most [`Limits::max_connections`] connections are open at once; when all slots are taken
//!   the loop stops accepting, so further clients wait in the kernel's listen backlog instead of
//!   costing the process memory ([`DEFAULT_MAX_CONNECTIONS`]);
//! - a TLS handshake, a request's headers and an idle keep-alive gap each get at most
//!   [`Limits::header_timeout`] ([`DEFAULT_HEADER_TIMEOUT`]);
//! - request bodies are capped ([`limit_requests`], [`read_body`]) and a request's handling is
//!   bounded in time (408 after the request timeout);
//! - shutdown stops accepting at once, lets requests in flight finish and closes idle
//!   connections, for at most [`Limits::drain_timeout`];
//! - [`Limits::open`] is a gauge of the connections open now, for a `/metrics` endpoint.
//!
//! TLS is rustls with the ring provider only (TLS 1.2 and 1.3, ALPN `http/1.1`), loaded from PEM
//! files by [`load_tls`].
//!
//! Out of scope: routes and their error bodies (each server maps its own errors to statuses),
//! HTTP/2, client certificates, and clients that read responses slowly (responses are small;
//! the kernel's socket buffers absorb them).

mod accept;
mod body;
mod tls;

pub use accept::{serve, shutdown_signal, Limits, ACCEPT_ERROR_PAUSE};
pub use body::{limit_requests, read_body, BodyError};
pub use tls::{load_tls, TlsError};
/// The TLS server configuration [`serve`] takes (from [`load_tls`]).
pub use tokio_rustls::rustls::ServerConfig;

use std::time::Duration;

/// Default most connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Default time for a TLS handshake, a request's headers, or an idle keep-alive gap.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a request may take once its headers are read (then 408).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
