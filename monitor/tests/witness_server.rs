//! End to end with the real `taglog-server`: the server sends every checkpoint to an auditing
//! `taglog-witness`, which replays the server's own tiles before cosigning; the served
//! checkpoint carries its cosignature, also across a restart of the witness. A missing server
//! binary fails the test with how to build it (`cargo test --workspace` builds it first).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_proofs::witness::origin_hash_hex;
use taglog_testkit::bindings;
use taglog_testkit::http;
use taglog_testkit::keys;
use taglog_testkit::log_server::{add_binding_blocking, LogServer};
use taglog_testkit::witness::{init_key, Witness};

const ORIGIN: &str = "witnessed.test/taglog";

fn publish(url: &str, publisher: &SignerKey, n: u64, round: u64) {
    for i in 0..n {
        let body = bindings::sign(
            publisher,
            ORIGIN,
            &format!("registry.test/acme/app{i}:v1"),
            bindings::filled((round * 16 + i) as u8),
            round,
            taglog_testkit::now(),
        );
        let resp = add_binding_blocking(url, body);
        assert_eq!(resp.status, 200, "binding {i}: {:?}", resp.text());
    }
}

/// The server's checkpoint, which must carry the auditor's cosignature.
fn served_size(url: &str, log: &VerifierKey, wkey: &VerifierKey) -> u64 {
    let r = http::get(&format!("{url}/checkpoint"));
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
    let dir = taglog_testkit::tempdir();
    let log_key = keys::ed25519(ORIGIN, 41);
    let publisher = keys::ed25519("publisher.test/acme", 42);
    let port = taglog_testkit::free_port();
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
    let w = Witness::spawn(dir.path(), &wargs);
    let _server = LogServer::in_dir(dir.path())
        .key(&log_key)
        .publisher("registry.test/acme", &publisher.verifier())
        .witness(&wkey.to_string(), &w.url)
        .args(&["--witness-quorum", "1"])
        .commit_timeout("10s")
        .port(port)
        .start();

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
    let w = Witness::spawn(dir.path(), &args);
    publish(&url, &publisher, 12, 2);
    let second = served_size(&url, &log_key.verifier(), &wkey);
    assert!(second > first, "{second} <= {first}");
    let r = http::get(&format!("{}/{}/checkpoint", w.url, origin_hash_hex(ORIGIN)));
    let at_witness = SignedCheckpoint::open(&r.body, &log_key.verifier()).unwrap();
    assert!(at_witness.checkpoint().size() >= second);
}
