//! End-to-end tests of `taglog-witness --audit`: the witness replays the log's entries from a
//! static tile server before cosigning, cosigns an honest log (the independent `log-small`
//! vectors and logs built here with `proofs`), and refuses with 422 and the reason a log
//! whose state leaf has a wrong map root, whose entries break a rule, or whose tiles do not
//! match the checkpoint.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::consistency::consistency_proof;
use taglog_proofs::cosignature::verify_cosignature;
use taglog_proofs::hash::Hash;
use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_proofs::tiles::decode_entry_bundle;
use taglog_proofs::tree::MemoryTree;
use taglog_proofs::witness::{origin_hash_hex, parse_cosignature_response, parse_size_body};
use taglog_testkit::bindings::filled;
use taglog_testkit::bins::Bin;
use taglog_testkit::crafted::{add_checkpoint_body, CraftedLog};
use taglog_testkit::http::{self, Resp};
use taglog_testkit::keys;
use taglog_testkit::static_server::StaticServer;
use taglog_testkit::witness::{add_checkpoint, init_key, Witness};

/// The publisher key `publisher{seed}.test`.
fn publisher_key(seed: u8) -> SignerKey {
    keys::ed25519(&format!("publisher{seed}.test"), seed)
}

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proofs/tests/vectors/taglog/log-small")
}

struct Audit {
    dir: taglog_testkit::TempDir,
    wkey: VerifierKey,
    args: Vec<String>,
}

impl Audit {
    fn new(log_vkey: &str, origin: &str, url: &str) -> Audit {
        let dir = taglog_testkit::tempdir();
        let key = dir.path().join("w.key");
        let wkey = init_key(&key, "auditor.test/w1");
        let args = vec![
            "--key".into(),
            key.display().to_string(),
            "--data-dir".into(),
            dir.path().join("data").display().to_string(),
            "--log".into(),
            log_vkey.to_owned(),
            "--log-url".into(),
            format!("{origin}={url}"),
            "--audit".into(),
        ];
        Audit { dir, wkey, args }
    }

    fn start(&self) -> Witness {
        Witness::spawn(self.dir.path(), &self.args)
    }
}

fn assert_cosigned(r: &Resp, cp_text: &str, wkey: &VerifierKey) {
    assert_eq!(r.status, 200, "{}", r.text());
    let sigs = parse_cosignature_response(&r.body).unwrap();
    verify_cosignature(&sigs[0], cp_text, wkey).unwrap();
}

fn assert_refused(r: &Resp, needle: &str) {
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(
        r.text().contains(needle),
        "422 body {:?} lacks {needle:?}",
        r.text()
    );
}

#[test]
fn cosigns_the_independent_log_small_vectors_and_resumes_after_restart() {
    let dir = vectors();
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("keys.json")).unwrap()).unwrap();
    let log_vkey: VerifierKey = keys["log"].as_str().unwrap().parse().unwrap();
    let origin = keys["origin"].as_str().unwrap().to_owned();
    let sizes: Vec<u64> = keys["checkpoint_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [12, 21, 31]);

    let tiles = StaticServer::start();
    tiles.put_dir(&dir);
    // Our own tree from the largest bundle, for consistency proofs.
    let bundle = std::fs::read(dir.join("tile/entries/000.p/31")).unwrap();
    let mut tree = MemoryTree::new();
    for e in decode_entry_bundle(&bundle, 31).unwrap() {
        tree.append(&e).unwrap();
    }

    let a = Audit::new(&log_vkey.to_string(), &origin, &tiles.url);
    let mut w = a.start();
    let mut old = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let note = std::fs::read(dir.join(format!("checkpoints/{size}"))).unwrap();
        let signed = SignedCheckpoint::open(&note, &log_vkey).unwrap();
        let proof = if old == 0 {
            vec![]
        } else {
            consistency_proof(old, size, &tree).unwrap()
        };
        let r = add_checkpoint(&w.url, add_checkpoint_body(old, proof, note));
        assert_cosigned(&r, &signed.checkpoint().to_text(), &a.wkey);
        old = size;
        if i == 0 {
            // The audit state is durable: a restarted auditor continues from size 12.
            w.stop();
            w = a.start();
        }
    }
    let r = http::get(&format!(
        "{}/{}/checkpoint",
        w.url,
        origin_hash_hex(&origin)
    ));
    let served = SignedCheckpoint::open(&r.body, &log_vkey).unwrap();
    assert_eq!(served.checkpoint().size(), 31);
    assert_eq!(
        served
            .cosignatures(std::slice::from_ref(&a.wkey))
            .unwrap()
            .len(),
        1
    );
}

/// An honest log: two publishers, bindings, rebindings and a state leaf per checkpoint.
fn honest_log() -> (CraftedLog, Vec<u64>) {
    let mut b = CraftedLog::new("log.test/audited", 21);
    let p1 = publisher_key(1);
    let p2 = publisher_key(2);
    b.admit("registry.test/acme", &p1.verifier());
    b.admit("registry.test/beta", &p2.verifier());
    b.bind_signed("registry.test/acme/app:1.0", filled(1), 1, b.time, &p1);
    b.bind_signed("registry.test/beta/db:latest", filled(2), 7, b.time, &p2);
    b.state();
    let first = b.size();
    for i in 0..300u32 {
        let version = u64::from(i) + 2;
        b.bind_signed(
            "registry.test/acme/app:1.0",
            filled((i % 250) as u8),
            version,
            b.time,
            &p1,
        );
        if i % 50 == 0 {
            b.bind_signed(
                &format!("registry.test/acme/tool:v{i}"),
                filled(9),
                1,
                b.time,
                &p1,
            );
        }
    }
    b.state();
    let second = b.size();
    (b, vec![first, second])
}

#[test]
fn cosigns_an_honest_built_log_across_bundles() {
    let (b, sizes) = honest_log();
    assert!(
        sizes[1] > 256,
        "the second checkpoint spans two entry bundles"
    );
    let tiles = StaticServer::start();
    b.publish(&tiles, sizes[0]);
    b.publish(&tiles, sizes[1]);
    // This witness reads its log from a C2SP policy file instead of flags.
    let mut a = Audit::new(&b.vkey(), &b.origin(), &tiles.url);
    let config = a.dir.path().join("witness.policy");
    std::fs::write(
        &config,
        format!("# logs\nlog {} {}/\n", b.vkey(), tiles.url),
    )
    .unwrap();
    a.args.truncate(4);
    a.args.extend([
        "--config".to_owned(),
        config.display().to_string(),
        "--audit".to_owned(),
    ]);
    let w = a.start();
    let r = add_checkpoint(&w.url, b.request(0, sizes[0]));
    assert_cosigned(&r, &b.checkpoint(sizes[0]).to_text(), &a.wkey);
    // The audit passes but the commit fails (a blocked temp file): 500, the witness stays at
    // sizes[0], and its audit state goes back to disk; the retry is audited and cosigned.
    let blocker = a
        .dir
        .path()
        .join("data/logs")
        .join(origin_hash_hex(&b.origin()))
        .join(format!(".checkpoint.tmp-{}", w.proc.pid()));
    std::fs::create_dir(&blocker).unwrap();
    let r = add_checkpoint(&w.url, b.request(sizes[0], sizes[1]));
    assert_eq!(r.status, 500, "{}", r.text());
    std::fs::remove_dir(&blocker).unwrap();
    let r = add_checkpoint(&w.url, b.request(0, sizes[1]));
    assert_eq!(parse_size_body(&r.body).unwrap(), sizes[0]);
    let r = add_checkpoint(&w.url, b.request(sizes[0], sizes[1]));
    assert_cosigned(&r, &b.checkpoint(sizes[1]).to_text(), &a.wkey);
}

#[test]
fn refuses_a_state_leaf_with_a_wrong_map_root_and_changes_nothing() {
    let mut b = CraftedLog::new("log.test/liar", 22);
    let p1 = publisher_key(1);
    b.admit("registry.test/acme", &p1.verifier());
    b.bind_signed("registry.test/acme/app:1.0", filled(1), 1, b.time, &p1);
    b.state();
    let good = b.size();
    b.bind_signed("registry.test/acme/app:1.0", filled(2), 2, b.time, &p1);
    // The log claims the map still holds version 1: S8, a map that lies.
    b.state_with(Some(b.map.root()).map(|_| Hash([0x55; 32])), None);
    let bad = b.size();

    let tiles = StaticServer::start();
    b.publish(&tiles, good);
    b.publish(&tiles, bad);
    let a = Audit::new(&b.vkey(), &b.origin(), &tiles.url);
    let w = a.start();
    assert_eq!(add_checkpoint(&w.url, b.request(0, good)).status, 200);
    let r = add_checkpoint(&w.url, b.request(good, bad));
    assert_refused(&r, "map root");
    assert!(r.text().contains(&format!("state leaf {}", bad - 1)));
    // The refused, validly signed checkpoint is kept as evidence with the reason.
    let evidence = a
        .dir
        .path()
        .join("data/logs")
        .join(origin_hash_hex(&b.origin()))
        .join("evidence");
    let files: Vec<_> = std::fs::read_dir(&evidence).unwrap().collect();
    assert_eq!(files.len(), 1);
    let e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(files[0].as_ref().unwrap().path()).unwrap()).unwrap();
    assert!(e["reason"].as_str().unwrap().contains("map root"));
    assert!(e["request"]
        .as_str()
        .unwrap()
        .contains(&b.checkpoint(bad).to_text()));
    assert!(e["cosigned"]
        .as_str()
        .unwrap()
        .contains(&b.checkpoint(good).to_text()));
    // Nothing changed: the witness still stands at `good`, on disk too.
    let r = add_checkpoint(&w.url, b.request(0, bad));
    assert_eq!(r.status, 409);
    assert_eq!(parse_size_body(&r.body).unwrap(), good);
    w.stop();
    let w = a.start();
    let r = add_checkpoint(&w.url, b.request(good, bad));
    assert_refused(&r, "map root");
}

#[test]
fn refuses_rule_breaking_entries() {
    let p1 = publisher_key(1);
    let p2 = publisher_key(2);
    type Case = (&'static str, Box<dyn Fn(&mut CraftedLog)>);
    let cases: Vec<Case> = vec![
        (
            "not end in a state leaf",
            Box::new(|b: &mut CraftedLog| {
                b.bind_signed(
                    "registry.test/acme/x:1",
                    filled(1),
                    1,
                    b.time,
                    &publisher_key(1),
                );
            }),
        ),
        (
            "had not admitted",
            Box::new(move |b: &mut CraftedLog| {
                b.bind_signed("registry.test/acme/x:1", filled(1), 1, b.time, &p2);
                b.state();
            }),
        ),
        (
            "version rule",
            Box::new(move |b: &mut CraftedLog| {
                b.bind_signed("registry.test/acme/app:1.0", filled(3), 1, b.time, &p1);
                b.state();
            }),
        ),
        (
            "claims size",
            Box::new(|b: &mut CraftedLog| {
                b.time += 1;
                let leaf = taglog_proofs::leaves::StateLeaf {
                    size: b.size() + 1,
                    map_root: b.map.root(),
                    time: b.time,
                };
                b.push(leaf.to_text().into_bytes());
            }),
        ),
        (
            "after now + skew",
            Box::new(|b: &mut CraftedLog| {
                b.state_with(None, Some(taglog_testkit::now() + 3600));
            }),
        ),
        (
            "before an earlier",
            Box::new(|b: &mut CraftedLog| {
                b.state_with(None, Some(1));
            }),
        ),
        (
            "malformed",
            Box::new(|b: &mut CraftedLog| {
                b.push(b"taglog/v1/state\nsize 01\n".to_vec());
                b.state();
            }),
        ),
    ];
    let tiles = StaticServer::start();
    for (i, (needle, make_bad)) in cases.into_iter().enumerate() {
        let mut b = CraftedLog::new(&format!("log.test/rules{i}"), 30 + i as u8);
        b.admit("registry.test/acme", &publisher_key(1).verifier());
        b.bind_signed(
            "registry.test/acme/app:1.0",
            filled(1),
            1,
            b.time,
            &publisher_key(1),
        );
        b.state();
        let good = b.size();
        make_bad(&mut b);
        tiles.clear();
        b.publish(&tiles, good);
        b.publish(&tiles, b.size());
        let a = Audit::new(&b.vkey(), &b.origin(), &tiles.url);
        let w = a.start();
        assert_eq!(
            add_checkpoint(&w.url, b.request(0, good)).status,
            200,
            "case {needle}"
        );
        let r = add_checkpoint(&w.url, b.request(good, b.size()));
        assert_refused(&r, needle);
    }
}

#[test]
fn refuses_tiles_that_do_not_match_and_waits_for_an_unreachable_log() {
    let (b, sizes) = honest_log();
    let tiles = StaticServer::start();
    // Tiles of another tree under the same origin: the entries do not hash to the root.
    let (mut other, _) = honest_log();
    other.entries[3] =
        b"taglog/v1/state\nsize 3\nmap AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1\n"
            .to_vec();
    other.publish(&tiles, sizes[0]);
    let a = Audit::new(&b.vkey(), &b.origin(), &tiles.url);
    let w = a.start();
    assert_refused(
        &add_checkpoint(&w.url, b.request(0, sizes[0])),
        "do not hash to the checkpoint root",
    );
    // A truncated bundle is bad content: 422.
    tiles.clear();
    let path = taglog_proofs::tiles::TilePath::new(
        taglog_proofs::tiles::TileKind::Entries,
        0,
        u16::try_from(sizes[0]).unwrap(),
    )
    .unwrap()
    .to_path();
    b.publish(&tiles, sizes[0]);
    let mut bytes = http::get(&format!("{}/{path}", tiles.url)).body;
    bytes.pop();
    tiles.put(&path, bytes);
    assert_eq!(add_checkpoint(&w.url, b.request(0, sizes[0])).status, 422);
    // No tiles at all: 503 with Retry-After, nothing cosigned.
    tiles.clear();
    let r = http::blocking()
        .post(format!("{}/add-checkpoint", w.url))
        .body(b.request(0, sizes[0]))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().get("retry-after").is_some());
    // Once the log serves its tiles, the same request is cosigned.
    b.publish(&tiles, sizes[0]);
    assert_eq!(add_checkpoint(&w.url, b.request(0, sizes[0])).status, 200);
}

#[test]
fn audit_needs_a_url_and_replays_a_history_cosigned_without_it() {
    let (b, sizes) = honest_log();
    let dir = taglog_testkit::tempdir();
    let key = dir.path().join("w.key");
    let wkey = init_key(&key, "auditor.test/w2");
    let data = dir.path().join("data");
    let base: Vec<String> = vec![
        "--key".into(),
        key.display().to_string(),
        "--data-dir".into(),
        data.display().to_string(),
        "--log".into(),
        b.vkey(),
    ];
    let out = Bin::Witness
        .command()
        .args(&base)
        .args(["--audit", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-url"));

    // Cosign the first checkpoint without auditing, then restart with --audit: the next
    // request replays the whole log from 0, so a lie anywhere before it is still found.
    let mut liar = CraftedLog::new("log.test/audited", 21);
    assert_eq!(liar.vkey(), b.vkey());
    liar.entries = b.entries[..usize::try_from(sizes[0]).unwrap()].to_vec();
    liar.tree = MemoryTree::new();
    for e in &liar.entries {
        liar.tree.append(e).unwrap();
    }
    {
        let w = Witness::spawn(dir.path(), &base);
        assert_eq!(add_checkpoint(&w.url, b.request(0, sizes[0])).status, 200);
    }
    let tiles = StaticServer::start();
    let mut audit_args = base.clone();
    audit_args.extend([
        "--audit".to_owned(),
        "--log-url".to_owned(),
        format!("{}={}", b.origin(), tiles.url),
    ]);
    // A lying continuation: a state leaf with a wrong map root.
    liar.state_with(Some(Hash([9; 32])), None);
    liar.publish(&tiles, liar.size());
    let w = Witness::spawn(dir.path(), &audit_args);
    assert_refused(
        &add_checkpoint(&w.url, liar.request(sizes[0], liar.size())),
        "map root",
    );
    // The honest continuation is cosigned after a replay from 0.
    tiles.clear();
    b.publish(&tiles, sizes[1]);
    let r = add_checkpoint(&w.url, b.request(sizes[0], sizes[1]));
    assert_cosigned(&r, &b.checkpoint(sizes[1]).to_text(), &wkey);
}

/// A long log of mostly state leaves (cheap to build), for snapshot tests.
fn long_log(n: u64) -> CraftedLog {
    let mut b = CraftedLog::new("log.test/long", 23);
    let p1 = publisher_key(1);
    b.admit("registry.test/acme", &p1.verifier());
    b.bind_signed("registry.test/acme/app:1.0", filled(1), 1, b.time, &p1);
    while b.size() < n {
        b.state();
    }
    b
}

#[test]
fn snapshots_are_periodic_and_a_restart_replays_from_the_last_one() {
    let snapshot_every = 4096u64;
    let mut b = long_log(snapshot_every + 10);
    let first = b.size();
    let p1 = publisher_key(1);
    b.bind_signed("registry.test/acme/app:1.0", filled(2), 2, b.time, &p1);
    b.state();
    let second = b.size();
    b.bind_signed("registry.test/acme/app:1.0", filled(3), 3, b.time, &p1);
    b.state();
    let third = b.size();
    let tiles = StaticServer::start();
    for size in [first, second, third] {
        b.publish(&tiles, size);
    }
    let a = Audit::new(&b.vkey(), &b.origin(), &tiles.url);
    let origin_dir = a
        .dir
        .path()
        .join("data/logs")
        .join(origin_hash_hex(&b.origin()));
    let snapshots = || {
        let mut v: Vec<String> = std::fs::read_dir(&origin_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("audit-"))
            .collect();
        v.sort();
        v
    };
    let w = a.start();
    assert_eq!(add_checkpoint(&w.url, b.request(0, first)).status, 200);
    assert_eq!(snapshots(), [format!("audit-{first}")]);
    assert_eq!(add_checkpoint(&w.url, b.request(first, second)).status, 200);
    // Too few entries since the last snapshot: none written.
    assert_eq!(snapshots(), [format!("audit-{first}")]);
    w.stop();
    // After a restart the auditor resumes from `first` and replays up to `third`.
    let w = a.start();
    let r = add_checkpoint(&w.url, b.request(second, third));
    assert_cosigned(&r, &b.checkpoint(third).to_text(), &a.wkey);
    // A lie after the snapshot is still found after a restart.
    w.stop();
    let mut liar = b;
    liar.state_with(Some(Hash([9; 32])), None);
    liar.publish(&tiles, liar.size());
    let w = a.start();
    assert_refused(
        &add_checkpoint(&w.url, liar.request(third, liar.size())),
        "map root",
    );
}

#[test]
fn monitoring_reads_do_not_wait_for_an_audit() {
    let (b, sizes) = honest_log();
    let tiles = StaticServer::start();
    b.publish(&tiles, sizes[0]);
    b.publish(&tiles, sizes[1]);
    let a = Audit::new(&b.vkey(), &b.origin(), &tiles.url);
    let w = a.start();
    assert_eq!(add_checkpoint(&w.url, b.request(0, sizes[0])).status, 200);
    tiles.set_delay_ms(3000);
    let url = w.url.clone();
    let req = b.request(sizes[0], sizes[1]);
    let slow = std::thread::spawn(move || add_checkpoint(&url, req));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let r = http::get(&format!(
        "{}/{}/checkpoint",
        w.url,
        origin_hash_hex(&b.origin())
    ));
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "GET waited {:?} for the audit",
        started.elapsed()
    );
    let served = SignedCheckpoint::open(&r.body, &b.key.verifier()).unwrap();
    assert_eq!(served.checkpoint().size(), sizes[0]);
    assert_eq!(slow.join().unwrap().status, 200);
}
