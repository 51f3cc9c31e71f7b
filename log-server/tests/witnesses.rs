//! Witnessing with two real `taglog-witness` processes: the served checkpoint carries both
//! cosignatures; after a server restart the witnesses still accept its checkpoints; a second
//! server with the same key and another tree is refused by the witnesses and stops
//! sequencing (fork-risk) while still serving reads.
//!
//! Needs the `taglog-witness` binary next to this test's target dir: build it first with
//! `cargo build -p taglog-monitor --bin taglog-witness`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::note::{KeyType, SignerKey, VerifierKey};

fn witness_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("taglog-witness");
    assert!(bin.exists(), "taglog-witness binary not found at {}; build it first: cargo build -p taglog-monitor --bin taglog-witness", bin.display());
    bin
}

struct Witness {
    child: Child,
    url: String,
    vkey: VerifierKey,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_witness(dir: &Path, name: &str, log: &VerifierKey) -> Witness {
    let key = dir.join(format!("{}.key", name.replace('/', "_")));
    let out = Command::new(witness_bin())
        .arg("--key")
        .arg(&key)
        .args(["--init", "--name", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "witness --init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vkey: VerifierKey = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut child = Command::new(witness_bin())
        .arg("--key")
        .arg(&key)
        .arg("--log")
        .arg(log.to_string())
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join(format!("{}-data", name.replace('/', "_"))))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("witness exited before listening")
            .unwrap();
        if let Some(a) = line.strip_prefix("listening on ") {
            break a.trim().to_owned();
        }
    };
    Witness {
        child,
        url: format!("http://{addr}"),
        vkey,
    }
}

fn write_log_key(data: &Path) -> SignerKey {
    std::fs::create_dir_all(data).unwrap();
    let key = SignerKey::from_seed(ORIGIN.parse().unwrap(), KeyType::Ed25519, [3u8; 32]);
    let path = data.join("log.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    key
}

fn cosigners(note: &[u8], log: &VerifierKey, ws: &[&Witness]) -> usize {
    let keys: Vec<VerifierKey> = ws.iter().map(|w| w.vkey.clone()).collect();
    SignedCheckpoint::open(note, log)
        .unwrap()
        .cosignatures(&keys)
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_witnesses_restart_and_fork() {
    let _ = witness_bin();
    let dir = tempdir();
    let log = write_log_key(&dir.path().join("data")).verifier();
    let w1 = start_witness(dir.path(), "witness.example/w1", &log);
    let w2 = start_witness(dir.path(), "witness.example/w2", &log);
    let args: Vec<String> = vec![
        "--witness".into(),
        w1.vkey.to_string(),
        w1.url.clone(),
        "--witness".into(),
        w2.vkey.to_string(),
        w2.url.clone(),
        "--witness-quorum".into(),
        "2".into(),
    ];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(dir.path(), &argv);
    let c = client();
    let r = "registry.example/acme/witnessed:1";
    let (s, b) = post(&c, &server.url, binding(&publisher(), r, 1, 1)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        cosigners(
            b["checkpoint"].as_str().unwrap().as_bytes(),
            &log,
            &[&w1, &w2]
        ),
        2
    );
    let note = checkpoint(&c, &server.url).await;
    assert_eq!(
        cosigners(&note, &log, &[&w1, &w2]),
        2,
        "served checkpoint lacks a cosignature"
    );

    // Restart: the witnesses still accept the server's checkpoints.
    let path = server.dir.clone();
    assert_eq!(server.terminate(), Some(0));
    let server = Server::start(&path, &argv);
    let (s, b) = post(&c, &server.url, binding(&publisher(), r, 2, 2)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        cosigners(
            b["checkpoint"].as_str().unwrap().as_bytes(),
            &log,
            &[&w1, &w2]
        ),
        2
    );
    let size_before = SignedCheckpoint::open(&checkpoint(&c, &server.url).await, &log)
        .unwrap()
        .checkpoint()
        .size();
    drop(server);

    // A second server with the same key and another (shorter) tree: fork risk.
    let fork = tempdir();
    write_log_key(&fork.path().join("data"));
    let forked = Server::start(fork.path(), &argv);
    let mut halted = false;
    for _ in 0..100 {
        let (s, b) = get(&c, &forked.url, "/healthz").await;
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
        if s == 503 && v["error"] == "halted" {
            halted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(halted, "the forked server did not stop sequencing");
    let (s, b) = post(&c, &forked.url, binding(&publisher(), r, 1, 9)).await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(
        get(&c, &forked.url, "/checkpoint").await.0,
        503,
        "no witness may cosign the fork"
    );
    let (s, _) = get(&c, &forked.url, "/tile/entries/000.p/1").await;
    assert_eq!(s, 200, "reads go on while halted");
    assert!(size_before > 2);
}
