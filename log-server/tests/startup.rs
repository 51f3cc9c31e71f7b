//! Startup refusals: a tree that contradicts the stored checkpoint, a key file readable by
//! others, and a data directory locked by another server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

use common::*;
use taglog_proofs::hash::Hash;
use taglog_proofs::tree::tree_root_indexes;
use taglog_server::storage::Storage;

fn run_once(dir: &std::path::Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_taglog-server"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_contradicting_tree_and_open_key() {
    let dir = tempdir();
    let server = Server::start(dir.path(), &[]);
    let c = client();
    let (s, b) = post(
        &c,
        &server.url,
        binding(&publisher(), "registry.example/acme/app:1", 1, 1),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // A second server on the same data directory is refused (exclusive lock).
    let (code, err) = run_once(dir.path());
    assert_ne!(code, Some(0));
    assert!(err.contains("locked"), "{err}");
    assert_eq!(server.terminate(), Some(0));

    // Key readable by others: refused.
    let key = dir.path().join("data").join("log.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = run_once(dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Tamper with one stored hash: the recomputed root no longer matches the checkpoint.
    {
        let storage = Storage::open(&dir.path().join("data")).unwrap();
        let size = storage.size().unwrap();
        let mut batch = storage.batch();
        for i in tree_root_indexes(size) {
            batch.put_hash(i, &Hash([0x55; 32])).unwrap();
        }
        batch.commit().unwrap();
    }
    let (code, err) = run_once(dir.path());
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("REFUSING TO START"), "{err}");
    assert!(Server::try_start(dir.path(), &[], Duration::from_secs(5)).is_none());
}
