//! End to end against the real `taglog-server` binary (built by `cargo build --workspace
//! --bins`, found next to this test's directory): an honest log written through
//! `/add-binding` yields no alert, across several polls, and a watch list sees exactly the
//! bindings under its prefix. Skipped with a notice when the server binary is absent outside
//! CI; in CI (`CI` set) its absence fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod fault;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fault::{digest, key};
use taglog_monitor::alerts::AlertKind;
use taglog_monitor::{Config, Monitor};
use taglog_proofs::binding::{sign_binding, Binding};
use taglog_proofs::note::SignerKey;

const ORIGIN: &str = "e2e.test/taglog";

fn server_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("taglog-server");
    if p.exists() {
        Some(p)
    } else if std::env::var_os("CI").is_some() {
        panic!("taglog-server not built at {}", p.display());
    } else {
        eprintln!(
            "SKIPPED: {} not found; run `cargo build --workspace --bins` first",
            p.display()
        );
        None
    }
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(
    bin: &PathBuf,
    dir: &std::path::Path,
    log_key: &SignerKey,
    publisher: &SignerKey,
) -> Server {
    let key_path = dir.join("log.key");
    std::fs::write(&key_path, format!("{log_key}\n")).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pubs = dir.join("publishers");
    std::fs::write(
        &pubs,
        format!("publisher registry.test/acme {}\n", publisher.verifier()),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(bin)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--key")
        .arg(&key_path)
        .arg("--publishers")
        .arg(&pubs)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        if let Ok(r) = reqwest::blocking::get(format!("{url}/checkpoint")) {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "server did not start: {}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, url }
}

fn publish(url: &str, publisher: &SignerKey, refs: &[String], version: u64, salt: u64) {
    let http = reqwest::blocking::Client::new();
    for (i, r) in refs.iter().enumerate() {
        let b = Binding {
            log: ORIGIN.into(),
            reference: r.parse().unwrap(),
            digest: digest(salt + i as u64),
            version,
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        };
        let body = sign_binding(&b, publisher).unwrap();
        let resp = http
            .post(format!("{url}/add-binding"))
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .unwrap();
        assert!(resp.status().is_success(), "{}: {:?}", r, resp.text());
    }
}

#[test]
fn honest_server_log_yields_no_alert_and_watch_list_sees_its_bindings() {
    let Some(bin) = server_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let log_key = key(ORIGIN, 31);
    let publisher = key("publisher.e2e", 32);
    let server = start(&bin, dir.path(), &log_key, &publisher);
    // TAGLOG_E2E_BINDINGS=100000 runs the "honest log of 100,000 entries" by hand.
    let n: usize = std::env::var("TAGLOG_E2E_BINDINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let refs: Vec<String> = (0..n)
        .map(|i| format!("registry.test/acme/app{}:v{}", i % 7, i))
        .collect();
    // Publish from 8 threads so the server batches them.
    std::thread::scope(|s| {
        for part in refs.chunks(n.div_ceil(8).max(1)) {
            let (url, publisher) = (&server.url, &publisher);
            s.spawn(move || publish(url, publisher, part, 1, 0));
        }
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = Config::new(&server.url, log_key.verifier(), dir.path().join("mon"));
    c.chunk = 4096;
    let mut m = Monitor::open(c.clone()).unwrap();
    let alerts = rt.block_on(m.run_once()).unwrap();
    assert!(alerts.is_empty(), "{alerts:#?}");
    let first = m.state().replayed;
    assert!(first > n as u64, "bindings plus publisher and state leaves");
    drop(m);

    // Rebind some, poll again (consistency with the first verified checkpoint).
    publish(&server.url, &publisher, &refs[..10], 2, 1000);
    let mut m = Monitor::open(c.clone()).unwrap();
    let alerts = rt.block_on(m.run_once()).unwrap();
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert!(m.state().replayed > first + 10);

    // A watch list on one repository sees exactly its bindings.
    let mut w = c;
    w.state_dir = dir.path().join("watch");
    w.watch
        .prefixes
        .push("registry.test/acme/app3".parse().unwrap());
    let mut m = Monitor::open(w).unwrap();
    let alerts = rt.block_on(m.run_once()).unwrap();
    let expected = refs.iter().filter(|r| r.contains("/app3:")).count()
        + refs[..10].iter().filter(|r| r.contains("/app3:")).count();
    assert_eq!(alerts.len(), expected);
    assert!(alerts.iter().all(|a| a.kind == AlertKind::WatchedBinding));
}
