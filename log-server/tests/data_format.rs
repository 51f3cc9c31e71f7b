//! The on-disk format stays readable: a data directory written by taglog-server 0.1.0 (before
//! the storage contract; `tests/data/data-0.1.0`, see `tests/data/README.md`) opens, its
//! checkpoint is served unchanged, every logged binding is recognised as a duplicate with its
//! index, and the log grows consistently from it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::consistency::verify_consistency;
use taglog_proofs::hash::Hash;
use taglog_testkit::bindings::binding;
use taglog_testkit::http::client;
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{add_binding, checkpoint, LogServer};
use taglog_testkit::tempdir;

/// The bindings the fixture holds: (ref, version, digest byte), in log order.
const LOGGED: [(&str, u64, u8); 5] = [
    ("registry.example/acme/app:1", 1, 1),
    ("registry.example/acme/app:1", 2, 2),
    ("registry.example/acme/app:2", 1, 3),
    ("registry.example/acme/app:latest", 7, 4),
    ("registry.example/acme/app:latest", 8, 5),
];
/// The fixture's checkpoint: size and root.
const SIZE: u64 = 13;
const ROOT: &str = "/f6p0Zz+kjWScmpSCzeDuoe8tKu5iNPUGhMx8DA/d+s=";

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

fn open(note: &[u8], server: &LogServer) -> SignedCheckpoint {
    SignedCheckpoint::open(note, &server.log_key()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_of_0_1_0_opens_and_grows() {
    let dir = tempdir();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/data-0.1.0");
    let data = dir.path().join("data");
    copy_dir(&fixture, &data);
    let key = data.join("log.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = LogServer::start(dir.path(), &[]);
    let c = client();

    let old = checkpoint(&c, &server.url).await;
    let old = open(&old, &server);
    assert_eq!(old.checkpoint().size(), SIZE);
    assert_eq!(old.checkpoint().root().to_base64(), ROOT);

    let mut indexes = Vec::new();
    for (r, v, d) in LOGGED {
        let (s, b) = add_binding(&c, &server.url, binding(&publisher(), r, v, d)).await;
        assert_eq!(s, 200, "{r} v{v}: {b}");
        assert_eq!(b["duplicate"], true, "{r} v{v}: {b}");
        indexes.push(b["index"].as_u64().unwrap());
    }
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "{indexes:?}");
    assert!(indexes.iter().all(|i| *i < SIZE));

    // A stale version is refused against the stored history; the next one is logged.
    let (s, b) = add_binding(&c, &server.url, binding(&publisher(), LOGGED[0].0, 2, 9)).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(b["expected_version"], 3);
    let (s, b) = add_binding(&c, &server.url, binding(&publisher(), LOGGED[0].0, 3, 9)).await;
    assert_eq!(s, 200, "{b}");

    let new = checkpoint(&c, &server.url).await;
    let new = open(&new, &server);
    let size = new.checkpoint().size();
    assert!(size > SIZE);
    let proof: serde_json::Value = c
        .get(format!("{}/consistency?old={SIZE}&new={size}", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let proof: Vec<Hash> = taglog_testkit::http::hashes(&proof["proof"]);
    verify_consistency(
        SIZE,
        size,
        &old.checkpoint().root(),
        &new.checkpoint().root(),
        &proof,
    )
    .unwrap();
    assert_eq!(server.terminate(), Some(0));
}
