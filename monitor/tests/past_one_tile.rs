//! End to end with real processes, a log past two full entry tiles: the real `taglog-server`
//! takes 600 bindings (new refs, rebinds, one ref with more versions than a `/history` page
//! holds, and a withdrawal) and every checkpoint goes to an auditing `taglog-witness`. Then:
//! - `taglog-monitor --once` replays the whole log with no alert, reading every full entry
//!   bundle and the last, partial one;
//! - the live auditing witness cosigned the final checkpoint after reading the same tiles, and
//!   a fresh auditing witness asked to cosign the final checkpoint from size 0 replays the whole
//!   log, tile by tile, before it cosigns;
//! - the `taglog` client proves a pin to version 1 of the paged ref from `/history` pages past
//!   the first one, under a policy that requires the auditor's cosignature.
//!
//! Readers go through a recording proxy, so the test sees which tiles and pages they fetched. A
//! missing binary fails the test with how to build it (`cargo test --workspace` builds them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::binding::DigestValue;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::cosignature::verify_cosignature;
use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_proofs::tiles::{TileKind, TilePath, TILE_WIDTH};
use taglog_proofs::witness::parse_cosignature_response;
use taglog_testkit::bindings::{self, digest};
use taglog_testkit::cli::Cli;
use taglog_testkit::crafted::add_checkpoint_body;
use taglog_testkit::http;
use taglog_testkit::keys;
use taglog_testkit::log_server::{add_binding_blocking, LogServer};
use taglog_testkit::monitor::MonitorCli;
use taglog_testkit::recording_proxy::RecordingProxy;
use taglog_testkit::witness::{add_checkpoint, init_key, Witness};

const ORIGIN: &str = "tiles.test/taglog";
const PREFIX: &str = "registry.test/acme";
/// Versions of the paged ref: more than one `/history` page (the server's pages hold 100).
const PAGED_VERSIONS: u64 = 120;
const PAGE: u64 = 100;
/// Refs bound once (then some rebound, one withdrawn).
const FRESH: u64 = 430;
const REBOUND: u64 = 49;
/// Publishing threads, so the server batches submissions.
const THREADS: u64 = 7;

fn paged_ref() -> String {
    format!("{PREFIX}/paged:1")
}

fn fresh_ref(i: u64) -> String {
    format!("{PREFIX}/app{}:v{i}", i % 9)
}

/// A distinct digest per (ref, version): the paged ref's versions are `digest(v)`.
fn fresh_digest(i: u64, version: u64) -> DigestValue {
    digest(1_000_000 * version + i)
}

fn publish(url: &str, key: &SignerKey, r: &str, d: DigestValue, version: u64) {
    let body = bindings::sign(key, ORIGIN, r, d, version, taglog_testkit::now());
    let resp = add_binding_blocking(url, body);
    assert_eq!(resp.status, 200, "{r} version {version}: {}", resp.text());
}

/// The served checkpoint, which must carry the auditor's cosignature: (note, size).
fn served(url: &str, log: &VerifierKey, wkey: &VerifierKey) -> (Vec<u8>, u64) {
    let r = http::get(&format!("{url}/checkpoint"));
    assert_eq!(r.status, 200, "{}", r.text());
    let cp = SignedCheckpoint::open(&r.body, log).unwrap();
    assert_eq!(
        cp.cosignatures(std::slice::from_ref(wkey)).unwrap().len(),
        1,
        "the served checkpoint lacks the auditor's cosignature"
    );
    let size = cp.checkpoint().size();
    (r.body, size)
}

/// The entry bundle paths of a tree of `size` leaves: every full tile, then the partial one.
fn entry_bundles(size: u64) -> Vec<String> {
    let width = u64::from(TILE_WIDTH);
    let mut paths: Vec<String> = (0..size / width)
        .map(|n| {
            TilePath::new(TileKind::Entries, n, TILE_WIDTH)
                .unwrap()
                .to_path()
        })
        .collect();
    let rest = u16::try_from(size % width).unwrap();
    assert!(rest > 0, "the test wants a partial last tile (size {size})");
    paths.push(
        TilePath::new(TileKind::Entries, size / width, rest)
            .unwrap()
            .to_path(),
    );
    paths
}

fn assert_fetched(who: &str, fetched: &[String], wanted: &[String]) {
    for p in wanted {
        assert!(
            fetched.iter().any(|f| f == p),
            "{who} never fetched {p}; it fetched {fetched:?}"
        );
    }
}

fn auditor_args(
    dir: &std::path::Path,
    name: &str,
    log: &VerifierKey,
    url: &str,
) -> (VerifierKey, Vec<String>) {
    let key = dir.join(format!("{name}.key"));
    let wkey = init_key(&key, &format!("auditor.test/{name}"));
    let args = vec![
        "--key".into(),
        key.display().to_string(),
        "--data-dir".into(),
        dir.join(format!("{name}-data")).display().to_string(),
        "--log".into(),
        log.to_string(),
        "--log-url".into(),
        format!("{ORIGIN}={url}"),
        "--audit".into(),
    ];
    (wkey, args)
}

#[test]
fn a_log_past_two_tiles_is_read_tile_by_tile_by_monitor_witness_and_client() {
    let dir = taglog_testkit::tempdir();
    let log_key = keys::ed25519(ORIGIN, 51);
    let log_vkey = log_key.verifier();
    let publisher = keys::ed25519("publisher.test/acme", 52);
    let port = taglog_testkit::free_port();
    let url = format!("http://127.0.0.1:{port}");

    // The auditing witness reads the server's tiles through a proxy that records them.
    let witness_view = RecordingProxy::start(&url);
    let (wkey, wargs) = auditor_args(dir.path(), "live", &log_vkey, &witness_view.url);
    let witness = Witness::spawn(dir.path(), &wargs);
    let _server = LogServer::in_dir(dir.path())
        .key(&log_key)
        .publisher(PREFIX, &publisher.verifier())
        .witness(&wkey.to_string(), &witness.url)
        // No idle state leaf while the readers run: the log stays at the size the test reads.
        .args(&["--witness-quorum", "1", "--witness-refresh", "1h"])
        .commit_timeout("10s")
        .port(port)
        .start();

    // One thread binds the paged ref version after version while the others bind new refs.
    std::thread::scope(|s| {
        let (url, publisher) = (&url, &publisher);
        s.spawn(move || {
            for v in 1..=PAGED_VERSIONS {
                publish(url, publisher, &paged_ref(), digest(v), v);
            }
        });
        for t in 0..THREADS {
            s.spawn(move || {
                for i in (0..FRESH).filter(|i| i % THREADS == t) {
                    publish(url, publisher, &fresh_ref(i), fresh_digest(i, 1), 1);
                }
            });
        }
    });
    std::thread::scope(|s| {
        let (url, publisher) = (&url, &publisher);
        for t in 0..THREADS {
            s.spawn(move || {
                for i in (0..REBOUND).filter(|i| i % THREADS == t) {
                    publish(url, publisher, &fresh_ref(i), fresh_digest(i, 2), 2);
                }
            });
        }
    });
    publish(&url, &publisher, &fresh_ref(0), DigestValue::Withdrawn, 3);
    let bound = PAGED_VERSIONS + FRESH + REBOUND + 1;
    assert_eq!(bound, 600);
    let (mut note, mut size) = served(&url, &log_vkey, &wkey);
    // Publisher and state leaves come on top; make the last tile a partial one.
    let mut extra = 0;
    while size % u64::from(TILE_WIDTH) == 0 {
        extra += 1;
        let r = format!("{PREFIX}/extra:{extra}");
        publish(&url, &publisher, &r, digest(9_000 + extra), 1);
        (note, size) = served(&url, &log_vkey, &wkey);
    }
    assert!(size > 2 * u64::from(TILE_WIDTH), "size {size}");
    let bundles = entry_bundles(size);

    // The live auditor cosigned the final checkpoint and read every tile on the way.
    assert_fetched("the live auditing witness", &witness_view.paths(), &bundles);
    let r = http::get(&format!(
        "{}/{}",
        witness.url,
        taglog_testkit::witness::checkpoint_path(ORIGIN)
    ));
    let at_witness = SignedCheckpoint::open(&r.body, &log_vkey).unwrap();
    assert_eq!(at_witness.checkpoint().size(), size);

    // A fresh auditor asked for the whole log at once replays it from the tiles, then cosigns.
    let fresh_view = RecordingProxy::start(&url);
    let (fresh_key, fresh_args) = auditor_args(dir.path(), "fresh", &log_vkey, &fresh_view.url);
    let fresh = Witness::spawn(dir.path(), &fresh_args);
    let r = add_checkpoint(&fresh.url, add_checkpoint_body(0, vec![], note.clone()));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = SignedCheckpoint::open(&note, &log_vkey)
        .unwrap()
        .checkpoint()
        .to_text();
    let sigs = parse_cosignature_response(&r.body).unwrap();
    verify_cosignature(&sigs[0], &text, &fresh_key).unwrap();
    assert_fetched("the fresh auditing witness", &fresh_view.paths(), &bundles);

    // The monitor replays the whole log from its tiles: no alert.
    let monitor_view = RecordingProxy::start(&url);
    let m = MonitorCli::new(&monitor_view.url, &log_vkey.to_string());
    let run = m.once(&["--witness-key", &wkey.to_string()]);
    assert_eq!((run.code, run.alerts.len()), (0, 0), "{run:#?}");
    assert_fetched("the monitor", &monitor_view.paths(), &bundles);

    // The client proves a pin to version 1 of the paged ref from /history past its first page.
    let client_view = RecordingProxy::start(&url);
    let client = Cli::new(&format!(
        "log {log_vkey} {}\nwitness live {wkey}\nquorum live\npublisher {PREFIX} {}\n",
        client_view.url,
        publisher.verifier()
    ));
    let r = paged_ref();
    let old = digest(1).to_string();
    client.run(&["pin", &r, &old]).ok();
    let j = client
        .run(&["verify", &r, "--digest", &old, "--json"])
        .ok()
        .json();
    assert_eq!(j["result"], "pinned", "{j:#}");
    assert_eq!(j["pinned"]["version"], 1);
    assert_eq!(j["pinned"]["moved"], true);
    assert_eq!(j["current"]["version"], PAGED_VERSIONS);
    let pages = client_view
        .paths()
        .iter()
        .filter(|p| p.starts_with("history?"))
        .count() as u64;
    assert!(
        pages >= PAGED_VERSIONS.div_ceil(PAGE),
        "the pin needed every page: {:?}",
        client_view.paths()
    );
    // The withdrawn ref verifies as withdrawn (exit 1), and a rebound one at version 2.
    client
        .run(&[
            "verify",
            &fresh_ref(0),
            "--digest",
            &fresh_digest(0, 2).to_string(),
        ])
        .code(1)
        .stderr_has("withdrawn");
    let j = client.run(&["lookup", &fresh_ref(1), "--json"]).ok().json();
    assert_eq!(j["current"]["version"], 2, "{j:#}");
}
