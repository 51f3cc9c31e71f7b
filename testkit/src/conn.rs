//! Raw connection helpers for tests of connection limits, header deadlines and draining: open
//! a bare TCP connection, send one keep-alive request on it, see when the server closes it,
//! and a client that keeps no idle connection.
//!
//! All are async (tokio). Nothing here asserts timings: a deadline only bounds how long a
//! test waits before it fails.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Slack on top of a server-side timeout before a test gives up: generous, the machine may be
/// busy; tests only wait this long when something is wrong.
pub const MARGIN: Duration = Duration::from_secs(10);

/// A TCP connection to `127.0.0.1:port`.
///
/// # Panics
/// When the connection is refused.
pub async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
}

/// Reads (and discards) until the peer closes `stream`; the time that took, or `None` if it
/// is still open after `limit`.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| start.elapsed())
}

/// Sends one complete `GET path` and reads its response head, leaving the connection open.
///
/// # Panics
/// When the write fails or no answer comes within [`MARGIN`].
pub async fn keep_alive_get(stream: &mut TcpStream, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .expect("send the request");
    let mut buf = vec![0u8; 64 * 1024];
    let n = tokio::time::timeout(MARGIN, stream.read(&mut buf))
        .await
        .expect("an answer in time")
        .expect("read the answer");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A client without a connection pool, so it holds no connection after a request.
///
/// # Panics
/// When the client cannot be built.
#[must_use]
pub fn unpooled(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
        .expect("build an HTTP client")
}
