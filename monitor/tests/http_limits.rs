//! The monitor's and the witness's HTTP servers have the log server's limits (the shared
//! `taglog-serve` accept loop), tested against the real binaries: slow headers are cut off,
//! idle keep-alive connections closed, at most `--max-connections` served at once, oversized
//! bodies refused with 413 without changing state; and bad flags or an address in use stop
//! them with exit code 2.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use taglog_proofs::hash::sha256;
use taglog_testkit::bins::Bin;
use taglog_testkit::conn::{closed_within, unpooled, MARGIN};
use taglog_testkit::keys;
use taglog_testkit::monitor::MonitorServer;
use taglog_testkit::process::{run_to_exit, Exit, Proc};
use taglog_testkit::witness::{init_key, Witness};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ORIGIN: &str = "log.test/limits";

fn log_vkey() -> String {
    keys::ed25519(ORIGIN, 7).verifier().to_string()
}

/// A server under test (killed on drop) and its address.
struct Running {
    _proc: Proc,
    addr: SocketAddr,
}

fn witness(dir: &Path, extra: &[&str]) -> Running {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("w.key");
    init_key(&key, "witness.test/limits");
    let mut args: Vec<String> = vec![
        "--key".into(),
        key.display().to_string(),
        "--data-dir".into(),
        dir.join("data").display().to_string(),
        "--log".into(),
        log_vkey(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let w = Witness::spawn(dir, &args);
    Running {
        addr: w.addr,
        _proc: w.proc,
    }
}

fn monitor(dir: &Path, extra: &[&str]) -> Running {
    std::fs::create_dir_all(dir).unwrap();
    let state = dir.join("state").display().to_string();
    let vkey = log_vkey();
    // No log answers here: the monitor keeps polling and serving its endpoints.
    let mut args = vec!["--log", "http://127.0.0.1:9", "--log-key", &vkey];
    args.extend(["--state-dir", &state]);
    args.extend(["--listen", "127.0.0.1:0", "--interval", "3600"]);
    args.extend_from_slice(extra);
    let m = MonitorServer::spawn(dir, &args).unwrap_or_else(|e| panic!("{e}"));
    Running {
        addr: m.addr,
        _proc: m.proc,
    }
}

/// Both servers, started with the same extra flags, and a path each serves with GET.
fn both(dir: &Path, extra: &[&str]) -> Vec<(Running, &'static str)> {
    let w = witness(&dir.join("w"), extra);
    let m = monitor(&dir.join("m"), extra);
    vec![(w, "/no-such-origin/checkpoint"), (m, "/metrics")]
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_and_idle_keep_alive_are_cut_off() {
    let dir = taglog_testkit::tempdir();
    for (p, path) in both(dir.path(), &["--header-timeout", "1s"]) {
        // Slowloris: a byte every 200 ms never finishes the headers; the header timeout is
        // a deadline, not an idle timer.
        let mut slow = TcpStream::connect(p.addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Slow: ").repeat(20);
        let request = request.as_bytes();
        let start = Instant::now();
        let mut buf = [0u8; 1024];
        let mut sent = 0;
        loop {
            assert!(
                start.elapsed() < MARGIN,
                "{}: slow client still connected after {:?}",
                p.addr,
                start.elapsed()
            );
            tokio::select! {
                r = slow.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {} // a 408 answer, then the close
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if slow.write_all(&request[sent..=sent]).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
            }
        }
        assert!(sent < request.len(), "the whole slow request went through");

        // An idle keep-alive connection is closed after the header timeout too.
        let mut idle = TcpStream::connect(p.addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        idle.write_all(req.as_bytes()).await.unwrap();
        let n = tokio::time::timeout(MARGIN, idle.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 "), "{head}");
        assert!(
            closed_within(&mut idle, MARGIN).await.is_some(),
            "{}: idle keep-alive connection never closed",
            p.addr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_max_connections_are_served() {
    let dir = taglog_testkit::tempdir();
    let flags = ["--max-connections", "2", "--header-timeout", "30s"];
    for (p, path) in both(dir.path(), &flags) {
        let url = format!("http://{}{path}", p.addr);
        assert!(unpooled(MARGIN).get(&url).send().await.is_ok());
        // Two connections that send nothing take both slots; a third waits in the backlog.
        let first = TcpStream::connect(p.addr).await.unwrap();
        let _second = TcpStream::connect(p.addr).await.unwrap();
        let blocked = unpooled(Duration::from_millis(1500)).get(&url).send().await;
        assert!(
            blocked.is_err(),
            "{}: served a third connection: {:?}",
            p.addr,
            blocked.map(|r| r.status())
        );
        // Closing one frees a slot.
        drop(first);
        let deadline = Instant::now() + MARGIN;
        loop {
            match unpooled(Duration::from_secs(2)).get(&url).send().await {
                Ok(_) => break,
                Err(e) => assert!(Instant::now() < deadline, "not served after a close: {e}"),
            }
        }
    }
}

/// Files under `dir`, recursively (the state a refused request must not change).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused_and_change_nothing() {
    let dir = taglog_testkit::tempdir();
    let w = witness(&dir.path().join("w"), &[]);
    let m = monitor(&dir.path().join("m"), &[]);
    let http = unpooled(MARGIN);
    let cases = [
        (
            &w,
            "/add-checkpoint",
            taglog_monitor::witness::http::MAX_BODY_BYTES,
            dir.path().join("w").join("data"),
        ),
        (
            &m,
            "/report",
            taglog_monitor::serve::MAX_REPORT_BYTES,
            dir.path().join("m").join("state"),
        ),
    ];
    for (p, path, max, state) in cases {
        let before = files(&state);
        let url = format!("http://{}{path}", p.addr);
        // Declared too large: refused from Content-Length.
        let r = http
            .post(&url)
            .body(vec![b'a'; max + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413, "{url}");
        // Chunked (no length): cut off once past the limit.
        let head = post_chunked(p.addr, path, max + 1).await;
        assert!(head.starts_with("HTTP/1.1 413"), "{url} (chunked): {head}");
        assert_eq!(files(&state), before, "{url} changed state");
    }
    // The witness still has nothing cosigned for the log.
    let origin_hash = hex::encode(sha256(ORIGIN.as_bytes()).0);
    let r = http
        .get(format!("http://{}/{origin_hash}/checkpoint", w.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// POSTs `len` bytes as a chunked body (no Content-Length) in 1 KiB chunks, stopping early if
/// the server answers or closes; returns the response head.
async fn post_chunked(addr: SocketAddr, path: &str, len: usize) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head =
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let mut left = len;
    while left > 0 {
        let n = left.min(1024);
        let chunk = format!("{n:x}\r\n{}\r\n", "a".repeat(n));
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        left -= n;
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(MARGIN, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn bad_flags_and_an_address_in_use_exit_2() {
    let dir = taglog_testkit::tempdir();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let key = dir.path().join("w.key");
    init_key(&key, "witness.test/exit");
    let witness = |extra: &[&str]| {
        let mut c = Bin::Witness.command();
        c.arg("--key")
            .arg(&key)
            .arg("--data-dir")
            .arg(dir.path().join("wdata"))
            .args(extra);
        c
    };
    let config = dir.path().join("policy.txt");
    std::fs::write(&config, "quorum none\n").unwrap();
    let cases = [
        (
            witness(&["--log", &log_vkey(), "--listen", &busy]),
            "cannot listen",
        ),
        (
            witness(&["--config", config.to_str().unwrap()]),
            "not witness configuration",
        ),
        (witness(&["--log", "nonsense"]), "bad log vkey"),
        (
            witness(&["--log", &log_vkey(), "--header-timeout", "0s"]),
            "at least 1s",
        ),
    ];
    for (mut cmd, needle) in cases {
        let Exit { code, stderr: err } = run_to_exit(&mut cmd);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    let monitor = |extra: &[&str]| {
        let mut c = Bin::Monitor.command();
        c.args(["--log", "http://127.0.0.1:9", "--log-key", &log_vkey()])
            .arg("--state-dir")
            .arg(dir.path().join("mstate"))
            .args(extra);
        c
    };
    let cases = [
        (monitor(&["--listen", &busy]), "cannot listen"),
        (
            monitor(&["--once", "--watch-prefix", "Registry.test/UPPER"]),
            "--watch-prefix",
        ),
        (
            monitor(&["--once", "--witness-key", "@/nonexistent"]),
            "cannot read",
        ),
        (
            monitor(&["--listen", "127.0.0.1:0", "--max-connections", "0"]),
            "at least 1",
        ),
    ];
    for (mut cmd, needle) in cases {
        let Exit { code, stderr: err } = run_to_exit(&mut cmd);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    // The log is unreachable: --once exits 3 (unavailable), not 2.
    let Exit { code, stderr: err } = run_to_exit(&mut monitor(&["--once"]));
    assert_eq!(code, Some(3), "{err}");
}
