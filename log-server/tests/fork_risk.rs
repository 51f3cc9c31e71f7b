//! Fork risk against real `taglog-witness` processes (issue 12, finding 1):
//! - a witness holding a smaller tree with another root rejects our proof from its size:
//!   that halts the log (it used to retry forever);
//! - a restored backup does not sequence before every witness has answered: a submission
//!   is refused while a witness is unreachable, and once the witness shows the newer tree
//!   the log halts without having published anything past the backup;
//! - a halt is persisted with its evidence, survives restarts, and is cleared only by
//!   `--clear-halt`;
//! - `--start-without-witness <name>` lets an operator start without a witness that never
//!   answers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::note::{KeyType, SignerKey, VerifierKey};
use taglog_testkit::bindings::binding;
use taglog_testkit::http::client;
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{add_binding, checkpoint, get, LogServer, ORIGIN};
use taglog_testkit::witness::{init_key, Witness as TestWitness};
use taglog_testkit::{free_port, tempdir};

/// A real witness on a fixed port, restartable on the same URL and state.
struct Witness {
    proc: Option<TestWitness>,
    dir: PathBuf,
    key: PathBuf,
    port: u16,
    log: VerifierKey,
    vkey: VerifierKey,
}

impl Witness {
    fn new(dir: &Path, log: &VerifierKey) -> Witness {
        let key = dir.join("w1.key");
        let vkey = init_key(&key, "witness.example/w1");
        let mut w = Witness {
            proc: None,
            dir: dir.to_path_buf(),
            key,
            port: free_port(),
            log: log.clone(),
            vkey,
        };
        w.up();
        w
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let args: Vec<String> = vec![
            "--key".into(),
            self.key.display().to_string(),
            "--log".into(),
            self.log.to_string(),
            "--listen".into(),
            format!("127.0.0.1:{}", self.port),
            "--data-dir".into(),
            self.dir.join("w1-data").display().to_string(),
        ];
        self.proc = Some(TestWitness::spawn(&self.dir, &args));
    }

    fn down(&mut self) {
        if let Some(w) = self.proc.take() {
            w.stop();
        }
    }

    fn args(&self, quorum: usize) -> Vec<String> {
        vec![
            "--witness".into(),
            self.vkey.to_string(),
            self.url(),
            "--witness-quorum".into(),
            quorum.to_string(),
        ]
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

fn argv(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

async fn health(c: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let (s, b) = get(c, url, "/healthz").await;
    (s, serde_json::from_slice(&b).unwrap_or_default())
}

async fn wait_halted(c: &reqwest::Client, url: &str, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let (s, b) = health(c, url).await;
        if s == 503 && b["error"] == "halted" {
            return b;
        }
        assert!(Instant::now() < deadline, "not halted: {s} {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn size_of(note: &[u8], log: &VerifierKey) -> u64 {
    SignedCheckpoint::open(note, log)
        .unwrap()
        .checkpoint()
        .size()
}

async fn bind(c: &reqwest::Client, url: &str, tag: &str, version: u64, digest: u8) -> u16 {
    let r = format!("registry.example/acme/app:{tag}");
    add_binding(c, url, binding(&publisher(), &r, version, digest))
        .await
        .0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_proof_from_the_witness_size_halts() {
    let c = client();
    let a = tempdir();
    let log = write_log_key(&a.path().join("data")).verifier();
    let w = Witness::new(a.path(), &log);
    // Log A reaches the witness with a small tree.
    let server = LogServer::start(a.path(), &argv(&w.args(1)));
    assert_eq!(bind(&c, &server.url, "a", 1, 1).await, 200);
    drop(server);

    // Log B, same key, another and longer tree, built without the witness.
    let b = tempdir();
    write_log_key(&b.path().join("data"));
    let server = LogServer::start(b.path(), &[]);
    for i in 0..5u8 {
        assert_eq!(
            bind(&c, &server.url, "b", u64::from(i) + 1, i + 10).await,
            200
        );
    }
    let path = server.dir.clone();
    drop(server);
    // Now with the witness: it holds a smaller size with another root.
    let server = LogServer::start(&path, &argv(&w.args(1)));
    let b = wait_halted(&c, &server.url, Duration::from_secs(20)).await;
    assert!(b["detail"].as_str().unwrap().contains("fork-risk"), "{b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restored_backup_waits_for_the_witness_and_the_halt_persists() {
    let c = client();
    let dir = tempdir();
    let log = write_log_key(&dir.path().join("data")).verifier();
    let mut w = Witness::new(dir.path(), &log);
    // Quorum 0: what the log commits is published at once.
    let args = w.args(0);
    let server = LogServer::start(dir.path(), &argv(&args));
    assert_eq!(bind(&c, &server.url, "1", 1, 1).await, 200);
    let path = server.dir.clone();
    drop(server);
    let backup = tempdir();
    copy_dir(&path.join("data"), &backup.path().join("data"));
    let server = LogServer::start(&path, &argv(&args));
    for v in 2..=4 {
        assert_eq!(bind(&c, &server.url, "1", v, v as u8).await, 200);
    }
    let newest = size_of(&checkpoint(&c, &server.url).await, &log);
    drop(server);

    // The backup starts while the witness is unreachable: nothing may be sequenced.
    w.down();
    let restored = LogServer::start(backup.path(), &argv(&args));
    let backup_size = size_of(&checkpoint(&c, &restored.url).await, &log);
    assert!(backup_size < newest);
    let s = bind(&c, &restored.url, "2", 1, 9).await;
    assert_eq!(
        s, 503,
        "a restored backup sequenced before the witness answered"
    );
    let (s, b) = health(&c, &restored.url).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (503, Some("awaiting_witnesses")),
        "{b}"
    );

    // The witness comes back and shows the newer tree: halt, nothing published past the
    // backup.
    w.up();
    let b = wait_halted(&c, &restored.url, Duration::from_secs(30)).await;
    assert!(b["detail"].as_str().unwrap().contains("fork-risk"), "{b}");
    assert_eq!(
        size_of(&checkpoint(&c, &restored.url).await, &log),
        backup_size
    );
    let path = restored.dir.clone();
    drop(restored);

    // The halt survives a restart, even without the witness configured.
    let server = LogServer::start(&path, &[]);
    let b = wait_halted(&c, &server.url, Duration::from_secs(5)).await;
    assert!(b["detail"].as_str().unwrap().contains("fork-risk"), "{b}");
    assert_eq!(bind(&c, &server.url, "3", 1, 9).await, 503);
    drop(server);
    // Only the operator clears it.
    let server = LogServer::start(&path, &["--clear-halt"]);
    let (s, b) = health(&c, &server.url).await;
    assert_ne!(b["error"], "halted", "{s} {b}");
    assert_eq!(bind(&c, &server.url, "3", 1, 9).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_may_start_without_a_silent_witness() {
    let dir = tempdir();
    let silent = SignerKey::from_seed(
        "witness.example/silent".parse().unwrap(),
        KeyType::Cosignature,
        [5; 32],
    );
    let args: Vec<String> = vec![
        "--witness".into(),
        silent.verifier().to_string(),
        format!("http://127.0.0.1:{}", taglog_testkit::closed_port()),
        "--witness-quorum".into(),
        "0".into(),
    ];
    let c = client();
    let server = LogServer::start(dir.path(), &argv(&args));
    assert_eq!(bind(&c, &server.url, "1", 1, 1).await, 503);
    let path = server.dir.clone();
    drop(server);
    let mut with_flag = args.clone();
    with_flag.extend([
        "--start-without-witness".into(),
        "witness.example/silent".into(),
    ]);
    let server = LogServer::start(&path, &argv(&with_flag));
    assert_eq!(bind(&c, &server.url, "1", 1, 1).await, 200);
    drop(server);
    // Only a configured witness can be named.
    let mut wrong = args;
    wrong.extend([
        "--start-without-witness".into(),
        "witness.example/other".into(),
    ]);
    assert!(LogServer::try_start(&path, &argv(&wrong), Duration::from_secs(5)).is_err());
}
