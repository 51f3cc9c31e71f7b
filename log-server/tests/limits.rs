//! Connection limits against the real binary: slow headers are cut off, idle keep-alive
//! connections are closed, at most `--max-connections` are served at once, HTTPS with
//! `--tls-cert`/`--tls-key`, TLS configuration errors, and a graceful SIGTERM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use taglog_testkit::bindings::binding;
use taglog_testkit::conn::{closed_within, connect, keep_alive_get, unpooled, MARGIN};
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{checkpoint, run_to_exit, Exit, LogServer, ORIGIN};
use taglog_testkit::{tempdir, tls};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_and_idle_keep_alive_are_cut_off() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &["--header-timeout", "1s"]);
    let before = checkpoint(&unpooled(MARGIN), &server.url).await;

    // Slowloris: a byte every 200 ms keeps the connection busy but never finishes the
    // headers; the header timeout is a deadline, not an idle timer.
    let mut slow = connect(server.port).await;
    let request = b"POST /add-binding HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".repeat(20);
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let mut sent = 0;
    let closed = loop {
        assert!(
            start.elapsed() < Duration::from_secs(1) + MARGIN,
            "slow client still connected after {:?}",
            start.elapsed()
        );
        tokio::select! {
            r = slow.read(&mut buf) => match r {
                Ok(0) | Err(_) => break start.elapsed(),
                Ok(_) => {} // a 408 answer, then the close
            },
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if slow.write_all(&request[sent..=sent]).await.is_err() {
                    break start.elapsed();
                }
                sent += 1;
            }
        }
    };
    // Closed although a byte kept arriving every 200 ms: a deadline, not an idle timer.
    assert!(
        sent < request.len(),
        "the whole request went through in {closed:?}"
    );

    // An idle keep-alive connection is closed after the header timeout too.
    let mut idle = connect(server.port).await;
    let head = keep_alive_get(&mut idle, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let took = closed_within(&mut idle, Duration::from_secs(1) + MARGIN).await;
    assert!(took.is_some(), "idle keep-alive connection never closed");

    assert_eq!(checkpoint(&unpooled(MARGIN), &server.url).await, before);
    assert_eq!(server.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_max_connections_are_served() {
    let dir = tempdir();
    let header_timeout = Duration::from_secs(6);
    let server = LogServer::start(
        dir.path(),
        &["--max-connections", "2", "--header-timeout", "6s"],
    );
    let url = format!("{}/healthz", server.url);
    assert_eq!(
        unpooled(MARGIN).get(&url).send().await.unwrap().status(),
        200
    );

    // Two connections that send nothing take both slots; a third waits in the backlog.
    let mut first = connect(server.port).await;
    let mut second = connect(server.port).await;
    let blocked = unpooled(Duration::from_millis(1500)).get(&url).send().await;
    assert!(
        blocked.is_err(),
        "served a third connection: {:?}",
        blocked.map(|r| r.status())
    );

    // Closing one frees a slot.
    drop(first);
    let deadline = Instant::now() + MARGIN;
    loop {
        match unpooled(Duration::from_secs(2)).get(&url).send().await {
            Ok(r) => {
                assert_eq!(r.status(), 200);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "not served after a close: {e}"),
        }
    }

    // Silent connections do not keep their slots: the header timeout frees them.
    first = connect(server.port).await;
    let deadline = Instant::now() + header_timeout + MARGIN;
    loop {
        match unpooled(Duration::from_secs(2)).get(&url).send().await {
            Ok(r) => {
                assert_eq!(r.status(), 200);
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "not served while two silent connections should have timed out: {e}"
            ),
        }
    }
    assert!(closed_within(&mut second, header_timeout + MARGIN)
        .await
        .is_some());
    assert!(closed_within(&mut first, header_timeout + MARGIN)
        .await
        .is_some());
    assert_eq!(server.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_tls_cert_and_key() {
    let dir = tempdir();
    let cert = tls::cert();
    let key = tls::key();
    let server = LogServer::start(
        dir.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--header-timeout",
            "1s",
        ],
    );
    let https = tls::client(MARGIN);
    let base = format!("https://127.0.0.1:{}", server.port);
    let r = https
        .get(format!("{base}/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with(ORIGIN));
    let r = https.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = unpooled(MARGIN)
        .get(format!("{}/checkpoint", server.url))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain HTTP answered: {:?}",
        plain.map(|r| r.status())
    );

    // A connection that never starts the handshake is dropped after the header timeout.
    let mut silent = connect(server.port).await;
    let took = closed_within(&mut silent, Duration::from_secs(1) + MARGIN).await;
    assert!(took.is_some(), "silent TLS connection never closed");

    assert_eq!(server.terminate(), Some(0));
}

#[test]
fn tls_configuration_errors() {
    let dir = tempdir();
    let cert = tls::cert();
    let key = tls::key();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "this is not PEM\n").unwrap();
    let garbage = garbage.to_str().unwrap();
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();

    let cases: [(&[&str], &str); 6] = [
        (&["--tls-cert", cert], "needs --tls-key"),
        (&["--tls-key", key], "needs --tls-cert"),
        (
            &["--tls-cert", garbage, "--tls-key", key],
            "no certificate in it",
        ),
        (
            &["--tls-cert", cert, "--tls-key", cert],
            "no private key in it",
        ),
        (&["--tls-cert", missing, "--tls-key", key], "cannot read it"),
        (
            &["--tls-cert", key, "--tls-key", key],
            "no certificate in it",
        ),
    ];
    for (args, message) in cases {
        let Exit { code, stderr: err } = run_to_exit(dir.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    // The file and what it is are named.
    let err = run_to_exit(dir.path(), &["--tls-cert", garbage, "--tls-key", key]).stderr;
    assert!(
        err.contains(&format!("TLS certificate file {garbage}")),
        "{err}"
    );
    // Nothing was created: TLS is checked before the log key is generated.
    assert!(!dir.path().join("data").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_requests_in_flight_and_closes_idle_connections() {
    let dir = tempdir();
    // Long timeouts, so a prompt exit can only come from the graceful shutdown.
    let server = LogServer::start(
        dir.path(),
        &["--header-timeout", "60s", "--request-timeout", "60s"],
    );
    let mut idle = connect(server.port).await;
    let head = keep_alive_get(&mut idle, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // A submission whose body is still arriving when SIGTERM comes.
    // `Expect: 100-continue`: the server answers `100 Continue` when the handler starts
    // reading the body, so the request is known to be in flight.
    let body = binding(&publisher(), "registry.example/acme/app:1", 1, 1);
    let mut busy = connect(server.port).await;
    let head = format!(
        "POST /add-binding HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n\
         Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    busy.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(MARGIN, busy.read_u8())
            .await
            .unwrap()
            .unwrap();
        interim.push(byte);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );

    server.proc.signal("TERM");
    // The port closes: no new connections.
    let deadline = Instant::now() + MARGIN;
    while TcpStream::connect(("127.0.0.1", server.port)).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The idle keep-alive connection is closed at once, not after the header timeout.
    assert!(closed_within(&mut idle, MARGIN).await.is_some());

    // The request in flight is answered (refused: the log is shutting down), then the
    // server exits 0.
    busy.write_all(&body).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(MARGIN, busy.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("shutting_down"), "{answer}");

    let mut server = server;
    let deadline = Instant::now() + MARGIN;
    let status = loop {
        if let Some(status) = server.proc.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
}

/// `taglog_open_connections` on /metrics counts the connections open now.
#[tokio::test(flavor = "multi_thread")]
async fn open_connections_gauge_follows_connections() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &[]);
    let gauge = || async {
        let r = unpooled(MARGIN)
            .get(format!("{}/metrics", server.url))
            .send()
            .await
            .unwrap();
        let text = r.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("taglog_open_connections "))
            .unwrap_or_else(|| panic!("no open-connections gauge in {text}"))
            .parse::<u64>()
            .unwrap()
    };
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut c = connect(server.port).await;
        assert!(keep_alive_get(&mut c, "/healthz")
            .await
            .starts_with("HTTP/1.1 200"));
        idle.push(c);
    }
    // The three keep-alive connections plus the one asking (polled: the startup probe's
    // connection may not be reaped yet), then only the one asking.
    for (want, close) in [(4, false), (1, true)] {
        if close {
            idle.clear();
        }
        let deadline = Instant::now() + MARGIN;
        loop {
            let n = gauge().await;
            if n == want {
                break;
            }
            assert!(Instant::now() < deadline, "gauge at {n}, expected {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(server.terminate(), Some(0));
}
