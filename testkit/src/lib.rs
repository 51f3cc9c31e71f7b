//! Test support for the taglog workspace: the one place for harnesses (dev-only, never
//! published).
//!
//! End-to-end tests drive the workspace's binaries as real processes on loopback, with real
//! peers (Debian's `docker-registry`), and check what they exchange with `taglog-proofs`. Logs
//! that must misbehave in ways the real server never would are crafted in memory and served
//! over HTTP.
//!
//! | module | what it gives a test |
//! | --- | --- |
//! | [`bins`] | the path of a workspace binary; a missing one fails the test with how to build it |
//! | [`process`] | a child process with a log file, readiness waits, signals, kill-on-drop |
//! | [`log_server`] | `taglog-server` (key, allowlist, witnesses, flags) and its HTTP API |
//! | [`witness`] | `taglog-witness` (plain or auditing), `--init` keys, `add-checkpoint` |
//! | [`monitor`] | `taglog-monitor --once` runs with parsed alerts, and its command line |
//! | [`cli`] | the `taglog` command line with its own policy and state directory |
//! | [`registry`] | Debian's `docker-registry` (optionally behind htpasswd) and image pushes |
//! | [`pull`] | `taglog mirror`, `skopeo` and `containerd`/`ctr` as pull clients, tar-layer images |
//! | [`notary`] | Debian's Notary v1 (`notary-server` with its own TLS CA, the `notary` CLI) |
//! | [`crafted`] | a log built leaf by leaf that signs, serves tiles, lookups and witness requests, with knobs to lie |
//! | [`recording_proxy`] | a reverse proxy in front of a real server that records the paths readers fetched, and can rewrite answers |
//! | `browser` (feature `browser`) | Debian's `chromedriver` as a process and headless `chromium` sessions over WebDriver |
//! | [`s3`] | a real S3-compatible server (`s3s-fs`) as its own process, stoppable for outages |
//! | [`static_server`] | a static HTTP file server a test can change between requests |
//! | [`static_objects`] | a log's static objects read as a verifier does: bundles rebuilt, completeness checked |
//! | [`hostile_witness`] | a witness that lies (409 naming any size, 422, endless bodies) and counts what it sent |
//! | [`fake_http`] | a raw HTTP responder for answers no real server gives, recording what clients sent |
//! | [`http`] | blocking and async HTTP helpers |
//! | [`conn`] | raw connection helpers for limit tests (keep-alive, closes, no pooling) |
//! | [`keys`] | deterministic test keys, key files with mode 0600 |
//! | [`bindings`] | digests and signed bindings |
//! | [`tls`] | the test TLS certificate and key |
//!
//! Guarantees: every process started here is killed and reaped when its handle drops (also
//! when an assertion fails); readiness waits have deadlines and fail with the process's log; a
//! missing binary or service is a failure, never a skip. Out of scope: anything a shipped
//! binary needs (nothing here is used outside tests), timing assertions.
#![allow(
    // Test support fails a test by panicking, with a message saying what went wrong.
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod bindings;
pub mod bins;
#[cfg(feature = "browser")]
pub mod browser;
pub mod cli;
pub mod conn;
pub mod crafted;
pub mod explorer;
pub mod fake_http;
pub mod hostile_witness;
pub mod http;
pub mod keys;
pub mod log_server;
pub mod monitor;
pub mod notary;
pub mod process;
pub mod pull;
pub mod recording_proxy;
pub mod registry;
pub mod s3;
pub mod static_objects;
pub mod static_server;
pub mod tls;
pub mod witness;

pub use tempfile::TempDir;

/// A fresh temporary directory, removed when the handle drops.
///
/// # Panics
/// When the system's temporary directory cannot be written.
#[must_use]
pub fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("taglog-test-")
        .tempdir()
        .expect("create a temporary directory")
}

/// A loopback port that was free a moment ago (bound to port 0, then released).
///
/// # Panics
/// When no loopback port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// A loopback port that refuses every connection, for the whole life of the process.
///
/// Use it for a service a test means to be down. The port is bound once but never listened
/// on, so a connection is refused at once, and no other socket can take the port meanwhile.
/// A port from [`free_port`] is not dead: once released, a server started by another test in
/// the same process can be given it and would answer in the dead service's place.
///
/// # Panics
/// When no loopback port can be bound.
#[must_use]
pub fn closed_port() -> u16 {
    static CLOSED: std::sync::OnceLock<(socket2::Socket, u16)> = std::sync::OnceLock::new();
    CLOSED
        .get_or_init(|| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("create a TCP socket");
            let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
            socket.bind(&loopback.into()).expect("bind a loopback port");
            let port = socket
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .expect("the bound socket's address")
                .port();
            (socket, port)
        })
        .1
}

/// Seconds since the Unix epoch.
///
/// # Panics
/// When the clock is before 1970.
#[must_use]
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}
