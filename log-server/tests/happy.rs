//! Happy path against the real binary: publish, verify the /lookup bundle with proofs'
//! client verifier, rebuild the root from tiles, list history, restart keeps state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::{Bundle, History};
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::inclusion::verify_inclusion;
use taglog_proofs::policy::Policy;
use taglog_proofs::tiles::{decode_entry_bundle, tiles_for_size, TileKind};
use taglog_proofs::tree::root_of_leaves;
use taglog_proofs::verify::{verify, VerifyRequest};
use taglog_testkit::bindings::binding;
use taglog_testkit::http::client;
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{add_binding, checkpoint, get, LogServer, PREFIX};
use taglog_testkit::tempdir;

fn policy(log_key: &str) -> Policy {
    let text = format!(
        "log {log_key}\nquorum none\npublisher {PREFIX} {}\n",
        publisher().verifier()
    );
    Policy::parse(text.as_bytes()).unwrap()
}

fn verify_bundle(bundle: &Bundle, log_key: &str, reference: &str, digest_byte: u8) {
    let policy = policy(log_key);
    let r = reference.parse().unwrap();
    let digest = DigestValue::Sha256([digest_byte; 32]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let req = VerifyRequest::stateless(&policy, bundle, &r, Some(&digest), now);
    let verdict =
        verify(&req).unwrap_or_else(|e| panic!("bundle for {reference} does not verify: {e}"));
    assert_eq!(verdict.digest, digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_lookup_tiles_history_restart() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &[]);
    let c = client();
    let log_key = server.log_key().to_string();
    let r1 = "registry.example/acme/app:1.5";
    let r2 = "registry.example/acme/app:latest";
    let mut indexes = Vec::new();
    for v in 1..=3u64 {
        let (s, body) = add_binding(&c, &server.url, binding(&publisher(), r1, v, v as u8)).await;
        assert_eq!(s, 200, "{body}");
        let bundle = Bundle::parse(body.to_string().as_bytes()).unwrap();
        indexes.push(bundle.binding.as_ref().unwrap().index);
        verify_bundle(&bundle, &log_key, r1, v as u8);
    }
    let (s, body) = add_binding(&c, &server.url, binding(&publisher(), r2, 10, 0xaa)).await;
    assert_eq!(s, 200, "{body}");

    // /lookup verifies with the client verifier.
    let (s, b) = get(&c, &server.url, &format!("/lookup?ref={r1}")).await;
    assert_eq!(s, 200);
    let bundle = Bundle::parse(&b).unwrap();
    verify_bundle(&bundle, &log_key, r1, 3);
    let (s, b) = get(&c, &server.url, "/lookup?ref=registry.example/acme/other:1").await;
    assert_eq!(s, 200);
    assert!(Bundle::parse(&b).unwrap().binding.is_none());

    // Tiles fetched over HTTP rebuild the checkpoint's root.
    let note = checkpoint(&c, &server.url).await;
    let cp = SignedCheckpoint::open(&note, &server.log_key()).unwrap();
    let size = cp.checkpoint().size();
    let root = cp.checkpoint().root();
    let mut leaves: Vec<Hash> = Vec::new();
    let mut tiles = 0;
    for t in tiles_for_size(size) {
        let (s, data) = get(&c, &server.url, &format!("/{}", t.to_path())).await;
        assert_eq!(s, 200, "{}", t.to_path());
        tiles += 1;
        match t.kind() {
            TileKind::Entries => {
                let entries = decode_entry_bundle(&data, usize::from(t.width())).unwrap();
                leaves.extend(entries.iter().map(Vec::as_slice).map(leaf_hash));
            }
            TileKind::Hash { level: 0 } => {
                assert_eq!(data.len(), 32 * usize::from(t.width()));
            }
            TileKind::Hash { .. } => {}
        }
    }
    if !tiles_for_size(size)
        .iter()
        .any(|t| t.kind() == TileKind::Entries)
    {
        for start in (0..size).step_by(256) {
            let w = (size - start).min(256);
            let path = if w == 256 {
                format!("/tile/entries/{:03}", start / 256)
            } else {
                format!("/tile/entries/{:03}.p/{w}", start / 256)
            };
            let (s, data) = get(&c, &server.url, &path).await;
            assert_eq!(s, 200, "{path}");
            leaves.extend(
                decode_entry_bundle(&data, w as usize)
                    .unwrap()
                    .iter()
                    .map(Vec::as_slice)
                    .map(leaf_hash),
            );
        }
    }
    assert!(tiles > 0);
    assert_eq!(leaves.len() as u64, size);
    assert_eq!(
        root_of_leaves(&leaves),
        root,
        "tiles do not rebuild the checkpoint root"
    );

    // /history lists every version, each included.
    let (s, b) = get(&c, &server.url, &format!("/history?ref={r1}")).await;
    assert_eq!(s, 200);
    let h = History::parse(&b).unwrap();
    let hcp = SignedCheckpoint::open(&h.checkpoint, &server.log_key()).unwrap();
    assert_eq!(
        h.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        indexes
    );
    for e in &h.entries {
        verify_inclusion(
            e.index,
            hcp.checkpoint().size(),
            &leaf_hash(&e.entry),
            &e.inclusion,
            &hcp.checkpoint().root(),
        )
        .unwrap();
    }

    // Restart keeps state: same checkpoint served, lookups still verify, versions continue.
    let dir_path = server.dir.clone();
    assert_eq!(server.terminate(), Some(0), "graceful shutdown must exit 0");
    let server = LogServer::start(&dir_path, &[]);
    let note2 = checkpoint(&c, &server.url).await;
    let cp2 = SignedCheckpoint::open(&note2, &server.log_key()).unwrap();
    assert!(cp2.checkpoint().size() >= size);
    let (s, b) = get(&c, &server.url, &format!("/lookup?ref={r1}&since={size}")).await;
    assert_eq!(s, 200);
    verify_bundle(&Bundle::parse(&b).unwrap(), &log_key, r1, 3);
    let (s, body) = add_binding(&c, &server.url, binding(&publisher(), r1, 4, 4)).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = add_binding(&c, &server.url, binding(&publisher(), r1, 4, 5)).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["expected_version"], 5);
}
