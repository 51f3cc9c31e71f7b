//! The `taglog` client reading a log from its static objects (issue 15): a real
//! `taglog-server` publishes to a directory (`--publish file:///dir`), a plain HTTP file
//! server serves that directory, and the client's policy names it as
//! `log <vkey> static+http://...`. Then:
//! - `taglog bundle` from the objects equals the server's `/lookup` bundle for the same
//!   checkpoint, and `taglog verify` accepts the current digest;
//! - S1 (an older, validly signed digest), S3 (an older bucket snapshot to a client that saw a
//!   newer checkpoint) and S5 (a withdrawn tag) are rejected from the objects;
//! - with the server stopped, verification from the objects still works, and a warm client
//!   fetches only the checkpoint and what changed;
//! - after the log moved past a tile, a warm client fetches at most 3 objects (the checkpoint,
//!   the edge object of its size and a map object that changed); a bucket without edge
//!   objects is still read (from its tiles), and a reader of an older checkpoint whose
//!   partial tiles were deleted once superseded cuts them from the full tiles;
//! - a map object in a pack is read with a `Range` request, or cut from the whole pack when the
//!   file server ignores `Range`;
//! - a tampered checkpoint, tile, entry bundle, map object, pack of map objects or edge
//!   object is refused, and the client's state is unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::time::Duration;

use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::Bundle;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_testkit::bindings::{binding, filled, sign, T0};
use taglog_testkit::cli::Cli;
use taglog_testkit::http::get as http_get;
use taglog_testkit::keys::publisher;
use taglog_testkit::log_server::{add_binding_blocking, submit_all, LogServer, ORIGIN, PREFIX};
use taglog_testkit::recording_proxy::RecordingProxy;
use taglog_testkit::static_objects::{bundle_from, dir_fetch, wait_for_dir};
use taglog_testkit::static_server::{read_dir_files, Files, StaticServer};
use taglog_testkit::{tempdir, TempDir};

const WAIT: Duration = Duration::from_secs(60);

struct Env {
    server: Option<LogServer>,
    _dirs: (TempDir, TempDir),
    bucket: PathBuf,
    files: StaticServer,
    vkey: String,
}

impl Env {
    fn start() -> Env {
        let (dir, out) = (tempdir(), tempdir());
        let bucket = out.path().join("bucket");
        let flag = format!("file://{}", bucket.display());
        let server = LogServer::start(dir.path(), &["--publish", &flag]);
        let vkey = server.vkey();
        Env {
            server: Some(server),
            _dirs: (dir, out),
            bucket,
            files: StaticServer::start(),
            vkey,
        }
    }

    fn server(&self) -> &LogServer {
        self.server.as_ref().unwrap()
    }

    fn bind(&self, tag: &str, version: u64, digest: u8) {
        let r = add_binding_blocking(
            &self.server().url,
            binding(&publisher(), &format!("{PREFIX}/{tag}"), version, digest),
        );
        assert_eq!(r.status, 200, "{tag} v{version}: {}", r.text());
    }

    fn withdraw(&self, tag: &str, version: u64) {
        let note = sign(
            &publisher(),
            ORIGIN,
            &format!("{PREFIX}/{tag}"),
            DigestValue::Withdrawn,
            version,
            T0,
        );
        let r = add_binding_blocking(&self.server().url, note);
        assert_eq!(r.status, 200, "withdraw {tag}: {}", r.text());
    }

    /// Waits until the bucket holds the served checkpoint; returns its files.
    fn synced(&self) -> Files {
        let note = http_get(&format!("{}/checkpoint", self.server().url)).body;
        let key = self.server().log_key();
        let size = SignedCheckpoint::open(&note, &key)
            .unwrap()
            .checkpoint()
            .size();
        wait_for_dir(&self.bucket, &key, size, WAIT);
        read_dir_files(&self.bucket)
    }

    fn client(&self, base: &str) -> Cli {
        Cli::new(&format!(
            "log {} static+{base}\nquorum none\npublisher {PREFIX} {}\n",
            self.vkey,
            publisher().verifier()
        ))
    }

    fn verify(cli: &Cli, tag: &str, digest: u8) -> taglog_testkit::cli::Run {
        let d = filled(digest).to_string();
        cli.run(&["verify", &format!("{PREFIX}/{tag}"), "--digest", &d])
    }
}

/// `files` with `path` changed: for the checkpoint, the first character of its root hash
/// line (the note stays well formed, its signature no longer verifies); for a top map object,
/// a byte of its first child, and for an edge object a byte of its entry (both end with
/// locators, hints outside the hash); for a pack, every byte (whichever object is read from
/// it); for any other object, its last byte.
fn tamper(files: &Files, path: &str) -> Files {
    let mut out = files.clone();
    let f = out
        .get_mut(path)
        .unwrap_or_else(|| panic!("no {path} in the bucket"));
    if path.starts_with("map/pack/") {
        f.iter_mut().for_each(|b| *b ^= 0x01);
        return out;
    }
    let at = if path == "checkpoint" {
        let lines: Vec<usize> = (0..f.len()).filter(|&i| f[i] == b'\n').collect();
        lines[1] + 1
    } else if path.starts_with("map/") {
        10
    } else if path.starts_with("edge/") {
        12
    } else {
        f.len() - 1
    };
    f[at] = if f[at] == b'A' { b'B' } else { b'A' };
    out
}

#[test]
fn static_objects_give_the_lookup_bundle_and_the_same_verdicts() {
    let mut e = Env::start();
    e.bind("app:1", 1, 0x11);
    let old = e.synced();
    e.bind("app:1", 2, 0x12);
    e.bind("gone:1", 1, 0x21);
    e.withdraw("gone:1", 2);
    for i in 0..20u8 {
        e.bind(&format!("other:{i}"), 1, 0x40 + i);
    }
    let new = e.synced();
    e.files.set_all(new.clone());

    // The bundle built from the objects is the /lookup bundle, field by field.
    let a = e.client(&e.files.url);
    for tag in ["app:1", "gone:1", "other:7"] {
        let out = a.path(&format!("{}.bundle", tag.replace(':', "-")));
        let r = a.run(&[
            "bundle",
            &format!("{PREFIX}/{tag}"),
            "-o",
            out.to_str().unwrap(),
        ]);
        if tag == "gone:1" {
            // A withdrawn tag does not verify, so nothing is saved (S5 below).
            r.code(1);
            continue;
        }
        r.ok();
        let built = Bundle::parse(&std::fs::read(&out).unwrap()).unwrap();
        let served = http_get(&format!("{}/lookup?ref={PREFIX}/{tag}", e.server().url));
        let served = Bundle::parse(&served.body).unwrap();
        assert_eq!(built.checkpoint, served.checkpoint, "{tag}");
        assert_eq!(built.state, served.state, "{tag}");
        assert_eq!(built.map, served.map, "{tag}");
        assert_eq!(built.binding, served.binding, "{tag}");
        assert_eq!(built, served, "{tag}");
    }

    // Current digest verifies; S1 (the older, validly signed digest) and S5 are rejected.
    let b = e.client(&e.files.url);
    Env::verify(&b, "app:1", 0x12).ok();
    Env::verify(&b, "app:1", 0x11)
        .code(1)
        .stderr_has("the current binding (version 2");
    Env::verify(&b, "gone:1", 0x21)
        .code(1)
        .stderr_has("withdrawn");

    // With the server stopped, the objects still prove the current binding, cold and warm.
    e.server.take().unwrap().kill();
    Env::verify(&e.client(&e.files.url), "other:3", 0x43).ok();
    let proxy = RecordingProxy::start(&e.files.url);
    let warm = e.client(&proxy.url);
    Env::verify(&warm, "other:4", 0x44).ok();
    let cold = proxy.paths();
    proxy.clear();
    Env::verify(&warm, "other:4", 0x44).ok();
    assert_eq!(proxy.paths(), ["checkpoint"], "cold run fetched {cold:?}");
    assert!(cold.len() <= 12, "{cold:?}");

    // S3: an older bucket snapshot (app:1 still at version 1) is refused by a client that has
    // seen the newer checkpoint, and its state does not move.
    e.files.set_all(old);
    let before = b.state_bytes();
    Env::verify(&b, "app:1", 0x11)
        .code(1)
        .stderr_has("serves an old view");
    assert_eq!(b.state_bytes(), before);
    e.files.set_all(new);
}

#[test]
fn tampered_objects_are_refused_and_change_nothing() {
    let e = Env::start();
    // Past one full tile, so that the proofs need hash tiles above level 0.
    let items = (0..300u64)
        .map(|i| (format!("{PREFIX}/app:{i}"), 1, (i % 200) as u8 + 0x30))
        .collect();
    submit_all(&e.server().url, items, 6);
    let files = e.synced();
    let key = e.server().log_key();
    // A ref whose map path goes below the top object, into a pack.
    let (app, fetched) = (0..300u64)
        .map(|i| {
            let r = format!("{PREFIX}/app:{i}");
            (
                i,
                bundle_from(dir_fetch(&e.bucket), &key, &r, None).unwrap().1,
            )
        })
        .find(|(_, f)| f.iter().any(|p| p.starts_with("map/pack/")))
        .expect("a ref read from a pack");
    let (tag, digest) = (format!("app:{app}"), (app % 200) as u8 + 0x30);
    let reference = format!("{PREFIX}/{tag}");

    // A file server that ignores Range answers whole packs: the object is cut from them.
    e.files.set_all(files.clone());
    Env::verify(&e.client(&e.files.url), &tag, digest).ok();
    e.files.set_ranges(false);
    Env::verify(&e.client(&e.files.url), &tag, digest).ok();
    Env::verify(&e.client(&e.files.url), &tag, digest ^ 1).code(1);
    e.files.set_ranges(true);
    let edge = fetched.iter().find(|p| p.starts_with("edge/")).unwrap();
    // The same bucket without edge objects (as written before they existed): the reader then
    // reads the right-edge tiles and the top map object themselves.
    let without: Files = files
        .iter()
        .filter(|(p, _)| !p.starts_with("edge/"))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect();
    let from = |p: &str| without.get(p).cloned().ok_or_else(|| format!("no {p}"));
    let (_, old) = bundle_from(from, &key, &reference, None).unwrap();
    let map = old.iter().find(|p| p.starts_with("map/")).unwrap();
    let pack = fetched
        .iter()
        .find(|p| p.starts_with("map/pack/"))
        .unwrap_or_else(|| panic!("no map object read from a pack: {fetched:?}"));
    let tile = old
        .iter()
        .find(|p| p.starts_with("tile/") && !p.starts_with("tile/entries"))
        .unwrap();
    let entries = old.iter().find(|p| p.starts_with("tile/entries")).unwrap();
    for (what, path, bucket) in [
        ("checkpoint", "checkpoint", &files),
        ("edge object", edge.as_str(), &files),
        ("map object", map.as_str(), &without),
        ("pack of map objects", pack.as_str(), &files),
        ("hash tile", tile.as_str(), &without),
        ("entry bundle", entries.as_str(), &without),
    ] {
        e.files.set_all(tamper(bucket, path));
        let c = e.client(&e.files.url);
        let r = Env::verify(&c, &tag, digest);
        r.code(1);
        r.stderr_has("static objects refused");
        assert!(c.state_bytes().is_empty(), "{what}: the state was written");
    }
    // The honest objects verify.
    e.files.set_all(files);
    Env::verify(&e.client(&e.files.url), &tag, digest).ok();
}

#[test]
fn a_warm_check_after_the_log_moved_fetches_at_most_three_objects() {
    let e = Env::start();
    let batch = |from: u64, to: u64| -> Vec<(String, u64, u8)> {
        (from..to)
            .map(|i| (format!("{PREFIX}/app:{i}"), 1, (i % 200) as u8 + 0x30))
            .collect()
    };
    submit_all(&e.server().url, batch(0, 300), 6);
    e.files.set_all(e.synced());
    let proxy = RecordingProxy::start(&e.files.url);
    let c = e.client(&proxy.url);
    Env::verify(&c, "app:5", 0x35).ok();
    let cold = proxy.paths();
    assert!(cold.len() <= 12, "{cold:?}");
    assert!(cold.iter().any(|p| p.starts_with("edge/")), "{cold:?}");

    // The log moves past a level-0 tile: the cached checkpoint's tile is now full, and the
    // right edge (partial tiles, state leaf, top of the map) changed.
    let before = e.synced();
    submit_all(&e.server().url, batch(300, 600), 6);
    let moved = e.synced();
    let size = |f: &Files| {
        let key = e.server().log_key();
        SignedCheckpoint::open(&f["checkpoint"], &key)
            .unwrap()
            .checkpoint()
            .size()
    };
    assert!(
        size(&moved) / 256 > size(&before) / 256,
        "no tile boundary crossed"
    );
    e.files.set_all(moved.clone());
    proxy.clear();
    Env::verify(&c, "app:5", 0x35).ok();
    let warm = proxy.paths();
    assert!(
        warm.len() <= 3,
        "warm check after the log moved fetched {warm:?}"
    );
    assert_eq!(warm[0], "checkpoint", "{warm:?}");
    assert!(warm[1].starts_with("edge/"), "{warm:?}");
    assert!(warm[2..].iter().all(|p| p.starts_with("map/")), "{warm:?}");

    // A bucket written before edge objects existed: the client falls back to the tiles.
    let old: Files = moved
        .clone()
        .into_iter()
        .filter(|(p, _)| !p.starts_with("edge/"))
        .collect();
    e.files.set_all(old);
    let fresh = e.client(&proxy.url);
    proxy.clear();
    Env::verify(&fresh, "app:5", 0x35).ok();
    let paths = proxy.paths();
    assert!(paths.iter().any(|p| p.starts_with("edge/")), "{paths:?}");
    assert!(
        paths.iter().any(|p| p.starts_with("tile/entries/")),
        "{paths:?}"
    );

    // A reader of the older checkpoint after the log deleted what the newer one superseded
    // (its edge object, and its partial tiles and bundle, whose full tiles now exist): the
    // partial tiles are cut from the full ones, and the verdict is the same.
    let moved_size = size(&moved);
    let mut pruned: Files = before.clone();
    pruned.extend(moved.clone());
    pruned.insert("checkpoint".into(), before["checkpoint"].clone());
    let superseded = |p: &str| {
        p.starts_with("edge/")
            || taglog_proofs::tiles::TilePath::parse(p)
                .is_ok_and(|t| !t.is_full() && t.width_at(moved_size) == 256)
    };
    let deleted: Vec<String> = pruned.keys().filter(|p| superseded(p)).cloned().collect();
    assert!(
        deleted.iter().any(|p| p.starts_with("tile/entries/")),
        "{deleted:?}"
    );
    pruned.retain(|p, _| !superseded(p));
    e.files.set_all(pruned);
    let older = e.client(&proxy.url);
    proxy.clear();
    Env::verify(&older, "app:5", 0x35).ok();
    let paths = proxy.paths();
    let cut = deleted
        .iter()
        .filter(|d| d.starts_with("tile/") && paths.contains(d))
        .collect::<Vec<_>>();
    assert!(
        !cut.is_empty(),
        "no deleted partial tile was asked for: {paths:?}"
    );
    for d in cut {
        let full = d.split(".p/").next().unwrap();
        assert!(
            paths.iter().any(|p| p == full),
            "{d} was not cut from {full}: {paths:?}"
        );
    }
    Env::verify(&older, "app:5", 0x36).code(1);

    // A reader that got the older checkpoint (a stale cache) after the log deleted a pack
    // that only the older map used: the pack is 404, and the client starts once more from
    // the newest checkpoint.
    let key = e.server().log_key();
    let packs_read = |cp: &[u8], r: &str| -> Vec<String> {
        let fetch = |p: &str| match p {
            "checkpoint" => Ok(cp.to_vec()),
            _ => moved.get(p).cloned().ok_or_else(|| format!("no {p}")),
        };
        let (_, paths) = bundle_from(fetch, &key, r, None).unwrap();
        paths
            .into_iter()
            .filter(|p| p.starts_with("map/pack/"))
            .collect()
    };
    // A ref whose older map path reads a pack that its newer one does not.
    let (app, gone) = (0..300u64)
        .map(|i| {
            let r = format!("{PREFIX}/app:{i}");
            let new = packs_read(&moved["checkpoint"], &r);
            let old = packs_read(&before["checkpoint"], &r);
            (
                i,
                old.into_iter()
                    .filter(|p| !new.contains(p))
                    .collect::<Vec<_>>(),
            )
        })
        .find(|(_, gone)| !gone.is_empty())
        .expect("a ref whose older path reads a pack the newer one does not");
    let (tag, digest) = (format!("app:{app}"), (app % 200) as u8 + 0x30);
    let mut files = moved.clone();
    files.retain(|p, _| !gone.contains(p));
    e.files.set_all(files);
    let stale = before["checkpoint"].clone();
    let served = std::sync::atomic::AtomicBool::new(false);
    proxy.set_rewrite(move |path, body| {
        if path == "/checkpoint" && !served.swap(true, std::sync::atomic::Ordering::SeqCst) {
            stale.clone()
        } else {
            body
        }
    });
    let late = e.client(&proxy.url);
    proxy.clear();
    Env::verify(&late, &tag, digest).ok();
    let paths = proxy.paths();
    assert_eq!(
        paths.iter().filter(|p| *p == "checkpoint").count(),
        2,
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| gone.contains(p)), "{paths:?}");
}
