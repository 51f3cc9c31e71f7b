//! The accept loop on a real loopback socket with a small router: connection slots and the
//! open-connections gauge, the header deadline, TLS and its configuration errors, graceful
//! drain, and the body and time limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use taglog_serve::{limit_requests, load_tls, read_body, serve, BodyError, Limits, TlsError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use taglog_testkit::conn::{closed_within, unpooled, MARGIN};
use taglog_testkit::tls;

const BODY_LIMIT: usize = 1024;

/// `/slow` handlers started so far: a request is in flight only once its handler runs (an
/// accepted connection whose request hyper has not parsed yet is closed by a drain, rightly).
static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);

fn app() -> Router {
    let router = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                SLOW_STARTED.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(600)).await;
                "slow"
            }),
        )
        .route(
            "/stuck",
            get(|| async {
                tokio::time::sleep(MARGIN).await;
                "stuck"
            }),
        )
        .route(
            "/bytes",
            post(|b: Bytes| async move { b.len().to_string() }),
        )
        .route(
            "/raw",
            post(|h: HeaderMap, b: Body| async move {
                match read_body(&h, b, BODY_LIMIT).await {
                    Ok(b) => (StatusCode::OK, b.len().to_string()),
                    Err(e @ BodyError::TooLarge { .. }) => {
                        (StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
                    }
                    Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
                }
            }),
        );
    limit_requests(router, BODY_LIMIT, Duration::from_secs(1))
}

/// A server on an ephemeral port, stopped by `stop`.
struct Running {
    addr: SocketAddr,
    limits: Limits,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    async fn start(limits: Limits, tls: Option<Arc<taglog_serve::ServerConfig>>) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app(), limits.clone(), tls, async move {
            let _ = rx.await;
        }));
        Running {
            addr,
            limits,
            stop: Some(tx),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn open(&self) -> u64 {
        self.limits.open.load(Ordering::Relaxed)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(MARGIN, self.task)
            .await
            .expect("serve did not return after shutdown")
            .unwrap();
    }
}

fn limits(max_connections: usize, header_timeout: Duration) -> Limits {
    Limits {
        max_connections,
        header_timeout,
        drain_timeout: MARGIN,
        ..Limits::default()
    }
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + MARGIN;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slots_bound_open_connections_and_the_gauge_counts_them() {
    let server = Running::start(limits(1, MARGIN), None).await;
    let hello = server.url("/hello");
    assert_eq!(
        unpooled(MARGIN).get(&hello).send().await.unwrap().status(),
        200
    );
    wait_for("the first connection to close", || server.open() == 0).await;

    // One silent connection takes the only slot; a request on another waits in the backlog.
    let silent = TcpStream::connect(server.addr).await.unwrap();
    wait_for("the gauge to count the silent connection", || {
        server.open() == 1
    })
    .await;
    let blocked = unpooled(Duration::from_millis(800))
        .get(&hello)
        .send()
        .await;
    assert!(blocked.is_err(), "served past the connection limit");
    assert_eq!(server.open(), 1);

    // Closing it frees the slot.
    drop(silent);
    let r = unpooled(MARGIN).get(&hello).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "hello");
    wait_for("the gauge to drop to zero", || server.open() == 0).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn header_deadline_cuts_off_slow_and_idle_clients() {
    let server = Running::start(limits(8, Duration::from_millis(500)), None).await;
    // A byte every 100 ms never completes the headers: a deadline, not an idle timer.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let request = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ".repeat(10);
    let start = Instant::now();
    let mut sent = 0;
    let mut buf = [0u8; 1024];
    loop {
        assert!(start.elapsed() < MARGIN, "slow client never cut off");
        tokio::select! {
            r = slow.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if slow.write_all(&request[sent..=sent]).await.is_err() {
                    break;
                }
                sent += 1;
            }
        }
    }
    assert!(sent < request.len(), "the whole slow request went through");

    // An idle keep-alive connection is closed after the same bound.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 1024];
    let n = idle.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    assert!(closed_within(&mut idle, MARGIN).await.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_serves_https_only_and_drops_silent_handshakes() {
    let cert = tls::cert();
    let tls = load_tls(&cert, &tls::key()).unwrap();
    assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
    let server = Running::start(limits(8, Duration::from_millis(500)), Some(tls)).await;
    let https = tls::client(MARGIN);
    let r = https
        .get(format!("https://{}/hello", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "hello");
    let plain = unpooled(MARGIN).get(server.url("/hello")).send().await;
    assert!(plain.is_err(), "plain HTTP answered on the TLS port");
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_within(&mut silent, MARGIN).await.is_some());
    server.stop().await;
}

#[test]
fn tls_configuration_errors_name_the_file_and_the_problem() {
    let dir = taglog_testkit::tempdir();
    let (cert, key) = (tls::cert(), tls::key());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let other_key = dir.path().join("other-key.pem");
    // A valid PKCS#8 Ed25519 key that is not the certificate's (RFC 8410 §10.3 example).
    std::fs::write(
        &other_key,
        "-----BEGIN PRIVATE KEY-----\n\
         MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
         -----END PRIVATE KEY-----\n",
    )
    .unwrap();

    let e = load_tls(&garbage, &key).unwrap_err();
    assert!(
        matches!(e, TlsError::NoCertificate(ref p) if *p == garbage),
        "{e}"
    );
    assert!(e.to_string().contains(&garbage.display().to_string()));
    let e = load_tls(&key, &key).unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate(_)), "{e}");
    let e = load_tls(&cert, &cert).unwrap_err();
    assert!(matches!(e, TlsError::NoKey(ref p) if *p == cert), "{e}");
    let e = load_tls(&missing, &key).unwrap_err();
    assert!(
        matches!(e, TlsError::Unreadable { what: "certificate", ref path, .. } if *path == missing),
        "{e}"
    );
    let e = load_tls(&cert, &missing).unwrap_err();
    assert!(matches!(e, TlsError::Unreadable { what: "key", .. }), "{e}");
    let e = load_tls(&cert, &other_key).unwrap_err();
    assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("private key of the first certificate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_stops_accepting_and_drains_requests_in_flight() {
    let server = Running::start(limits(8, MARGIN), None).await;
    let slow = tokio::spawn(unpooled(MARGIN).get(server.url("/slow")).send());
    wait_for("the slow request to be in flight", || {
        SLOW_STARTED.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(server.open(), 1);
    // An idle keep-alive connection, closed at once by the drain.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 1024];
    let n = idle.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));

    let addr = server.addr;
    let started = Instant::now();
    server.stop().await; // returns only once drained
    assert!(started.elapsed() < MARGIN);
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    assert!(closed_within(&mut idle, Duration::from_millis(100))
        .await
        .is_some());
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slow");
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_limit_are_refused_and_slow_handlers_time_out() {
    let server = Running::start(limits(8, MARGIN), None).await;
    let c = unpooled(MARGIN);
    for path in ["/bytes", "/raw"] {
        let ok = c.post(server.url(path)).body(vec![b'a'; BODY_LIMIT]).send();
        let ok = ok.await.unwrap();
        assert_eq!(ok.status(), 200, "{path}");
        assert_eq!(ok.text().await.unwrap(), BODY_LIMIT.to_string());
        // Declared too large, and streamed (chunked, no Content-Length) too large.
        let big = c
            .post(server.url(path))
            .body(vec![b'a'; BODY_LIMIT + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(big.status(), 413, "{path} with Content-Length");
        let streamed = post_chunked(server.addr, path, BODY_LIMIT + 1).await;
        assert!(
            streamed.starts_with("HTTP/1.1 413"),
            "{path} chunked: {streamed}"
        );
    }
    let r = c.get(server.url("/stuck")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
    server.stop().await;
}

/// Posts `len` bytes with `Transfer-Encoding: chunked` (no declared length, 256-byte chunks)
/// and returns the answer's head.
async fn post_chunked(addr: SocketAddr, path: &str, len: usize) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.write_all(head.as_bytes()).await.unwrap();
    let mut left = len;
    while left > 0 {
        let n = left.min(256);
        let chunk = format!("{n:x}\r\n{}\r\n", "a".repeat(n));
        if c.write_all(chunk.as_bytes()).await.is_err() {
            break; // the server may close as soon as the limit is passed
        }
        left -= n;
    }
    let _ = c.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(MARGIN, c.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}
