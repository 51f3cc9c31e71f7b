//! End to end with the real `taglog-server` (built by `cargo build --workspace --bins`,
//! found next to this test's directory): the server sends every checkpoint to an auditing
//! `taglog-witness`, which replays the server's own tiles before cosigning; the served
//! checkpoint carries its cosignature, also across a restart of the witness. Skipped with a
//! notice when the server binary is absent outside CI; in CI (`CI` set) its absence fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{get, init_key, WitnessProc};
use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::note::{KeyType, SignerKey, VerifierKey};
use taglog_proofs::witness::origin_hash_hex;

const ORIGIN: &str = "witnessed.test/taglog";

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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(bin: &Path, dir: &Path, port: u16, witness: &VerifierKey, wurl: &str) -> Server {
    let child = Command::new(bin)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--key")
        .arg(dir.join("log.key"))
        .arg("--publishers")
        .arg(dir.join("publishers"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--witness", &witness.to_string(), wurl])
        .args(["--witness-quorum", "1", "--commit-timeout", "10s"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "server did not start: {}",
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

fn publish(url: &str, publisher: &SignerKey, n: u64, round: u64) {
    let http = common::client();
    for i in 0..n {
        let b = Binding {
            log: ORIGIN.into(),
            reference: format!("registry.test/acme/app{i}:v1").parse().unwrap(),
            digest: DigestValue::Sha256([(round * 16 + i) as u8; 32]),
            version: round,
            time: common::now(),
        };
        let resp = http
            .post(format!("{url}/add-binding"))
            .header("content-type", "text/plain")
            .body(sign_binding(&b, publisher).unwrap())
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        assert_eq!(status, 200, "binding {i}: {:?}", resp.text());
    }
}

/// The server's checkpoint, which must carry the auditor's cosignature.
fn served_size(url: &str, log: &VerifierKey, wkey: &VerifierKey) -> u64 {
    let r = get(&format!("{url}/checkpoint"));
    assert_eq!(r.status, 200, "{}", r.text());
    let cp = SignedCheckpoint::open(&r.body, log).unwrap();
    let cos = cp.cosignatures(std::slice::from_ref(wkey)).unwrap();
    assert_eq!(
        cos.len(),
        1,
        "the served checkpoint lacks the auditor's cosignature"
    );
    cp.checkpoint().size()
}

#[test]
fn the_real_server_is_audited_and_cosigned() {
    let Some(bin) = server_bin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log_key = SignerKey::from_seed(ORIGIN.parse().unwrap(), KeyType::Ed25519, [41; 32]);
    let key_path = dir.path().join("log.key");
    std::fs::write(&key_path, format!("{log_key}\n")).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let publisher = SignerKey::from_seed(
        "publisher.test/acme".parse().unwrap(),
        KeyType::Ed25519,
        [42; 32],
    );
    std::fs::write(
        dir.path().join("publishers"),
        format!("publisher registry.test/acme {}\n", publisher.verifier()),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");

    let wkey_path = dir.path().join("witness.key");
    let wkey = init_key(&wkey_path, "auditor.test/e2e");
    let wargs: Vec<String> = vec![
        "--key".into(),
        wkey_path.display().to_string(),
        "--data-dir".into(),
        dir.path().join("witness-data").display().to_string(),
        "--log".into(),
        log_key.verifier().to_string(),
        "--log-url".into(),
        format!("{ORIGIN}={url}"),
        "--audit".into(),
    ];
    let w = WitnessProc::start(dir.path(), &wargs);
    let _server = start_server(&bin, dir.path(), port, &wkey, &w.url);

    // Publisher leaves, bindings and state leaves written by the real server, replayed by the
    // witness: every 200 from /add-binding means a checkpoint the auditor cosigned.
    publish(&url, &publisher, 12, 1);
    let first = served_size(&url, &log_key.verifier(), &wkey);
    assert!(first >= 13, "size {first}");

    // The witness restarts on the same port (its URL is configured in the server) and
    // keeps auditing: new versions of the same refs.
    let port_w = w.url.rsplit(':').next().unwrap().to_owned();
    w.stop();
    let mut args = wargs.clone();
    args.extend(["--listen".to_owned(), format!("127.0.0.1:{port_w}")]);
    let w = WitnessProc::start_exact(dir.path(), &args);
    publish(&url, &publisher, 12, 2);
    let second = served_size(&url, &log_key.verifier(), &wkey);
    assert!(second > first, "{second} <= {first}");
    let r = get(&format!("{}/{}/checkpoint", w.url, origin_hash_hex(ORIGIN)));
    let at_witness = SignedCheckpoint::open(&r.body, &log_key.verifier()).unwrap();
    assert!(at_witness.checkpoint().size() >= second);
}
