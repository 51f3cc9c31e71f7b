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

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use taglog_proofs::hash::sha256;
use taglog_proofs::note::{KeyName, KeyType, SignerKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for something that must happen (never a timing assertion).
const MARGIN: Duration = Duration::from_secs(10);
const ORIGIN: &str = "log.test/limits";

fn log_vkey() -> String {
    SignerKey::from_seed(
        ORIGIN.parse::<KeyName>().unwrap(),
        KeyType::Ed25519,
        [7; 32],
    )
    .verifier()
    .to_string()
}

/// A server process, killed on drop.
struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines of `out` until one contains `marker` followed by the address; the rest of the
/// stream is drained on a thread so the process never blocks on a full pipe.
fn address_from(out: impl std::io::Read + Send + 'static, marker: &str) -> SocketAddr {
    let mut lines = BufReader::new(out).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .unwrap();
        if let Some(rest) = line.split(marker).nth(1) {
            break rest.trim().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    addr
}

fn witness(dir: &Path, extra: &[&str]) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let key = dir.join("w.key");
    let init = Command::new(env!("CARGO_BIN_EXE_taglog-witness"))
        .args(["--init", "--name", "witness.test/limits", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_taglog-witness"))
        .arg("--key")
        .arg(&key)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--log", &log_vkey(), "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = address_from(child.stdout.take().unwrap(), "listening on ");
    Proc { child, addr }
}

fn monitor(dir: &Path, extra: &[&str]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_taglog-monitor"))
        // No log answers here: the monitor keeps polling and serving its endpoints.
        .args(["--log", "http://127.0.0.1:9", "--log-key", &log_vkey()])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .args(["--listen", "127.0.0.1:0", "--interval", "3600"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = address_from(child.stderr.take().unwrap(), "listening on ");
    Proc { child, addr }
}

/// Both servers, started with the same extra flags, and a path each serves with GET.
fn both(dir: &Path, extra: &[&str]) -> Vec<(Proc, &'static str)> {
    let w = witness(&dir.join("w"), extra);
    let m = monitor(&dir.join("m"), extra);
    vec![(w, "/no-such-origin/checkpoint"), (m, "/metrics")]
}

/// Reads (and discards) until the server closes `stream`; false if still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
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
    .is_ok()
}

/// A client without a connection pool, so it holds no connection after a request.
fn unpooled(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_and_idle_keep_alive_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
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
            closed_within(&mut idle, MARGIN).await,
            "{}: idle keep-alive connection never closed",
            p.addr
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_max_connections_are_served() {
    let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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

fn exit_of(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.stdout(Stdio::null()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_and_an_address_in_use_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let key = dir.path().join("w.key");
    assert!(Command::new(env!("CARGO_BIN_EXE_taglog-witness"))
        .args(["--init", "--name", "witness.test/exit", "--key"])
        .arg(&key)
        .output()
        .unwrap()
        .status
        .success());
    let witness = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_taglog-witness"));
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
        let (code, err) = exit_of(&mut cmd);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    let monitor = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_taglog-monitor"));
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
        let (code, err) = exit_of(&mut cmd);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    // The log is unreachable: --once exits 3 (unavailable), not 2.
    let (code, err) = exit_of(&mut monitor(&["--once"]));
    assert_eq!(code, Some(3), "{err}");
}
