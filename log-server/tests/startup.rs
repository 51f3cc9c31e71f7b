//! Startup refusals: a tree that contradicts the stored checkpoint, damaged database files, a
//! key file readable by others, and a data directory locked by another server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use taglog_proofs::hash::Hash;
use taglog_proofs::tree::tree_root_indexes;
use taglog_server::store::rocks::COLUMN_FAMILIES;
use taglog_server::store::{LogStore as _, RocksStore};
use taglog_testkit::bindings::binding;
use taglog_testkit::http::client;
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{
    add_binding, checkpoint, exit_within, run_to_exit, Exit, LogServer,
};
use taglog_testkit::tempdir;

#[tokio::test(flavor = "multi_thread")]
async fn refuses_contradicting_tree_and_open_key() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &[]);
    let c = client();
    let (s, b) = add_binding(
        &c,
        &server.url,
        binding(&publisher(), "registry.example/acme/app:1", 1, 1),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // A second server on the same data directory is refused (exclusive lock).
    let Exit { code, stderr: err } = run_to_exit(dir.path(), &[]);
    assert_ne!(code, Some(0));
    assert!(err.contains("locked"), "{err}");
    assert_eq!(server.terminate(), Some(0));

    // Key readable by others: refused.
    let key = dir.path().join("data").join("log.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let Exit { code, stderr: err } = run_to_exit(dir.path(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Tamper with the stored hashes of the root (in the database itself: the store's API
    // has no way to write a hash outside a checkpoint): the recomputed root no longer
    // matches the checkpoint.
    {
        let size = RocksStore::open(&dir.path().join("data"))
            .unwrap()
            .size()
            .unwrap();
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path().join("data").join("db"),
            COLUMN_FAMILIES,
        )
        .unwrap();
        let hashes = db.cf_handle("hashes").unwrap();
        for i in tree_root_indexes(size) {
            db.put_cf(hashes, i.to_be_bytes(), Hash([0x55; 32]).0)
                .unwrap();
        }
    }
    let Exit { code, stderr: err } = run_to_exit(dir.path(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("REFUSING TO START"), "{err}");
    assert!(LogServer::try_start(dir.path(), &[], Duration::from_secs(5)).is_err());
}

/// Damaged database files: the server refuses to start with a message naming the database
/// and what to do, exits non-zero without a panic, and never starts a fresh log over them.
#[tokio::test(flavor = "multi_thread")]
async fn refuses_damaged_database_files() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &[]);
    let c = client();
    for i in 0..3u8 {
        let r = format!("registry.example/acme/app:{i}");
        let (s, b) = add_binding(&c, &server.url, binding(&publisher(), &r, 1, i)).await;
        assert_eq!(s, 200, "{b}");
    }
    assert_eq!(server.terminate(), Some(0));
    // Reopening recovers the write-ahead log into a table file, so there is one to damage.
    assert_eq!(LogServer::start(dir.path(), &[]).terminate(), Some(0));
    let db = dir.path().join("data").join("db");
    for what in [
        "CURRENT names a missing manifest",
        "manifest overwritten with garbage",
        "table file overwritten with garbage",
    ] {
        // RocksDB writes a new manifest at every open: find the current one each time.
        let current = std::fs::read_to_string(db.join("CURRENT")).unwrap();
        let manifest = db.join(current.trim());
        let table = std::fs::read_dir(&db)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "sst"))
            .expect("a flushed table file");
        let (victim, original) = match what {
            "CURRENT names a missing manifest" => {
                let path = db.join("CURRENT");
                let original = std::fs::read(&path).unwrap();
                std::fs::write(&path, "MANIFEST-999999\n").unwrap();
                (path, original)
            }
            "manifest overwritten with garbage" => {
                let original = std::fs::read(&manifest).unwrap();
                std::fs::write(&manifest, vec![0xA5; original.len()]).unwrap();
                (manifest, original)
            }
            _ => {
                let original = std::fs::read(&table).unwrap();
                std::fs::write(&table, vec![0x5A; original.len()]).unwrap();
                (table, original)
            }
        };
        let Some(Exit { code, stderr: err }) = exit_within(dir.path(), Duration::from_secs(30))
        else {
            panic!("{what}: the server started on a damaged database");
        };
        assert_eq!(code, Some(1), "{what}: {err}");
        assert!(err.contains("cannot open the database"), "{what}: {err}");
        assert!(err.contains("restore the data directory"), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        // Repair and check that the log is intact again (the refusal changed nothing).
        std::fs::write(&victim, &original).unwrap();
        let s = LogServer::start(dir.path(), &[]);
        let text = String::from_utf8(checkpoint(&c, &s.url).await).unwrap();
        let size: u64 = text.lines().nth(1).unwrap().parse().unwrap();
        assert!(size >= 4, "{what}: the repaired log lost entries: {text}");
        assert_eq!(s.terminate(), Some(0));
    }
}
