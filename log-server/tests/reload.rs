//! Allowlist reload on SIGHUP: the change is logged as `taglog/v1/publisher` leaves before
//! any binding relies on it, and a removed key is refused afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use taglog_proofs::leaves::{Leaf, PublisherChange};
use taglog_proofs::tiles::decode_entry_bundle;
use taglog_testkit::bindings::binding;
use taglog_testkit::http::client;
use taglog_testkit::keys::stranger;
use taglog_testkit::log_server::{add_binding, checkpoint, get, LogServer};
use taglog_testkit::tempdir;

const OTHER: &str = "registry.example/other/app:1";

async fn post_until(c: &reqwest::Client, url: &str, body: &[u8], want: u16) -> serde_json::Value {
    for _ in 0..100 {
        let (s, b) = add_binding(c, url, body.to_vec()).await;
        if s == want {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never got {want}");
}

async fn publisher_leaves(
    c: &reqwest::Client,
    url: &str,
    size: u64,
) -> Vec<(PublisherChange, String)> {
    let path = if size == 256 {
        "/tile/entries/000".to_string()
    } else {
        format!("/tile/entries/000.p/{size}")
    };
    let (s, data) = get(c, url, &path).await;
    assert_eq!(s, 200);
    decode_entry_bundle(&data, size as usize)
        .unwrap()
        .iter()
        .filter_map(|e| match Leaf::parse(e) {
            Ok(Leaf::Publisher(p)) => Some((p.change, p.prefix.to_string())),
            _ => None,
        })
        .collect()
}

fn size_of(note: &[u8]) -> u64 {
    std::str::from_utf8(note)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_logs_allowlist_changes() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &[]);
    let c = client();
    let stranger_binding = binding(&stranger(), OTHER, 1, 1);
    let (s, b) = add_binding(&c, &server.url, stranger_binding.clone()).await;
    assert_eq!(s, 403, "{b}");

    let allow = dir.path().join("publishers.txt");
    let base = std::fs::read_to_string(&allow).unwrap();
    std::fs::write(
        &allow,
        format!(
            "{base}publisher registry.example/other {}\n",
            stranger().verifier()
        ),
    )
    .unwrap();
    server.proc.signal("HUP");
    let b = post_until(&c, &server.url, &stranger_binding, 200).await;
    let index = b["binding"]["index"].as_u64().unwrap();
    let size = size_of(&checkpoint(&c, &server.url).await);
    let leaves = publisher_leaves(&c, &server.url, size).await;
    assert_eq!(leaves.len(), 2, "{leaves:?}");
    assert_eq!(
        leaves[1],
        (PublisherChange::Add, "registry.example/other".to_string())
    );
    assert!(index > 0);

    // Removal: logged, then the key is refused.
    std::fs::write(&allow, base).unwrap();
    server.proc.signal("HUP");
    let b = post_until(&c, &server.url, &binding(&stranger(), OTHER, 2, 2), 403).await;
    // Refused by the handler (unknown key) or, in the race with the reload, by the
    // sequencer's re-check against the logged allowlist (not allowed for the ref).
    assert!(
        b["error"] == "unknown_key" || b["error"] == "ref_not_allowed",
        "{b}"
    );
    let size = size_of(&checkpoint(&c, &server.url).await);
    let leaves = publisher_leaves(&c, &server.url, size).await;
    assert_eq!(
        leaves.last().unwrap(),
        &(
            PublisherChange::Remove,
            "registry.example/other".to_string()
        )
    );
}
