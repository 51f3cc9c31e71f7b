//! Issue 12's client findings, end to end with a real `docker-registry`, real `taglog-server`s
//! and the `taglog` binary: a rejection prints nothing on stdout and leaves `state.json`
//! byte-identical (S1, S2, S3 stale view, S5, S7); the pin path fails on a current binding that
//! does not verify instead of warning; a `kill -9` during a state save leaves the old or the new
//! state; a corrupt state file is exit 2 and is not overwritten; a pin is proven from
//! `/history` past its first page; the `--now` flag does not exist.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use taglog_proofs::note::{KeyType, SignerKey};
use taglog_testkit::cli::{Cli, Run};
use taglog_testkit::keys;
use taglog_testkit::log_server::LogServer;
use taglog_testkit::registry::{image_blobs, Registry};

fn key(seed: u8) -> SignerKey {
    SignerKey::from_seed(
        "publisher.test".parse().unwrap(),
        KeyType::Ed25519,
        [seed; 32],
    )
}

fn policy(server: &LogServer, reg: &Registry, keys: &[&SignerKey]) -> String {
    let mut p = format!(
        "log {} {}\nquorum none\ninsecure-registry {}\n",
        server.vkey(),
        server.url,
        reg.host()
    );
    for k in keys {
        p.push_str(&format!("publisher {}/acme {}\n", reg.host(), k.verifier()));
    }
    p
}

/// A registry, a log admitting publisher keys 42 and 43 for `<registry>/acme`, a publisher
/// whose policy trusts both, and a consumer whose policy trusts only key 42.
struct Env {
    reg: Registry,
    server: LogServer,
    publisher: Cli,
    consumer: Cli,
}

impl Env {
    fn new() -> Env {
        let reg = Registry::start(None);
        let (a, b) = (key(42), key(43));
        let prefix = format!("{}/acme", reg.host());
        let server = LogServer::seeded(
            1,
            &[
                (prefix.clone(), a.verifier().to_string()),
                (prefix, b.verifier().to_string()),
            ],
        )
        .start();
        let publisher = Cli::new(&policy(&server, &reg, &[&a, &b]));
        keys::write_key(&publisher.path("a.key"), &a);
        keys::write_key(&publisher.path("b.key"), &b);
        let consumer = Cli::new(&policy(&server, &reg, &[&a]));
        Env {
            reg,
            server,
            publisher,
            consumer,
        }
    }

    fn r(&self, repo_tag: &str) -> String {
        format!("{}/acme/{repo_tag}", self.reg.host())
    }

    fn publish(&self, repo_tag: &str, key: &str, extra: &[&str]) -> Run {
        let k = self.publisher.path(key);
        let r = self.r(repo_tag);
        let mut args = vec!["publish", r.as_str(), "--key", k.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.publisher.run(&args)
    }
}

/// Runs `args` with `client`, expects exit 1, an empty stdout and an unchanged state file.
fn rejected_without_trace(client: &Cli, args: &[&str], stderr: &str) {
    let before = client.state_bytes();
    assert!(!before.is_empty(), "the client has a state to protect");
    let run = client.run(args);
    run.code(1).stderr_has(stderr);
    assert_eq!(run.stdout, "", "a rejection prints nothing on stdout");
    assert_eq!(
        client.state_bytes(),
        before,
        "a rejection leaves state.json byte-identical ({args:?})"
    );
}

#[test]
fn rejections_print_nothing_and_leave_the_state_byte_identical() {
    let e = Env::new();
    let (old, old_manifest) = e.reg.push_image("acme/app", "1", "old");
    e.publish("app:1", "a.key", &[]).ok();
    let bundle_v1 = e.consumer.path("v1.json");
    e.consumer
        .run(&["bundle", &e.r("app:1"), "-o", bundle_v1.to_str().unwrap()])
        .ok();
    let (new, _) = e.reg.push_image("acme/app", "1", "new");
    e.publish("app:1", "a.key", &[]).ok();
    e.reg.push_image("acme/other", "1", "other");
    e.publish("other:1", "a.key", &[]).ok();
    e.consumer.run(&["verify", &e.r("app:1")]).ok();
    e.consumer.run(&["verify", &e.r("other:1")]).ok();

    // S1: the registry serves the previous image for the tag.
    e.reg.put_manifest("acme/app", "1", &old_manifest);
    rejected_without_trace(&e.consumer, &["verify", &e.r("app:1")], &new);
    // S2: another repository's image is served as this one.
    let (layer, config) = image_blobs("other");
    let m = e.reg.push_blobs_for("acme/app", &layer, &config);
    let other = e.reg.put_manifest("acme/app", "1", &m);
    rejected_without_trace(&e.consumer, &["verify", &e.r("app:1")], &other);
    // S3: the old binding replayed to a client that has seen the newer one.
    rejected_without_trace(
        &e.consumer,
        &[
            "verify",
            &e.r("app:1"),
            "--offline",
            "--bundle",
            bundle_v1.to_str().unwrap(),
            "--digest",
            &old,
        ],
        "stale view",
    );
    // S5: withdrawn. The first rejection records what it verified (the withdrawal's version,
    // so a replay of version 2 is refused from now on); a rejection changes nothing after.
    e.publish("app:1", "a.key", &["--withdraw"]).ok();
    e.consumer.run(&["lookup", &e.r("app:1")]).code(1);
    rejected_without_trace(&e.consumer, &["verify", &e.r("app:1")], "withdrawn");
    rejected_without_trace(
        &e.consumer,
        &["verify", &e.r("app:1"), "--digest", &new],
        "withdrawn",
    );

    // S7: a log that shows another history under the same key (split view).
    let fork = LogServer::seeded(
        1,
        &[(
            format!("{}/acme", e.reg.host()),
            key(42).verifier().to_string(),
        )],
    )
    .start();
    assert_eq!(fork.vkey(), e.server.vkey());
    for i in 0..8 {
        let d = format!("sha256:{}", format!("{i:02}").repeat(32));
        e.publisher
            .run(&[
                "--log",
                &fork.url,
                "publish",
                &e.r(&format!("fork{i}:1")),
                "--key",
                e.publisher.path("a.key").to_str().unwrap(),
                "--digest",
                &d,
            ])
            .ok();
    }
    let d0 = format!("sha256:{}", "00".repeat(32));
    rejected_without_trace(
        &e.consumer,
        &[
            "--log",
            &fork.url,
            "verify",
            &e.r("fork0:1"),
            "--digest",
            &d0,
        ],
        "SECURITY ERROR",
    );
}

#[test]
fn a_pin_does_not_turn_an_unverifiable_current_binding_into_a_warning() {
    let e = Env::new();
    let (a, _) = e.reg.push_image("acme/app", "2", "a");
    e.publish("app:2", "a.key", &[]).ok();
    e.consumer.run(&["pin", &e.r("app:2"), &a]).ok();
    e.consumer
        .run(&["verify", &e.r("app:2"), "--digest", &a])
        .ok()
        .stderr_has("pinned");
    // Key 43, which the log admits but the consumer does not trust, binds version 2.
    let (b, _) = e.reg.push_image("acme/app", "2", "b");
    e.publish("app:2", "b.key", &[]).ok();
    let run = e.consumer.run(&["verify", &e.r("app:2"), "--digest", &a]);
    run.code(1).stderr_has("does not trust");
    assert_eq!(run.stdout, "");
    // The publisher's policy trusts key 43: its own verification passes.
    e.publisher
        .run(&["verify", &e.r("app:2"), "--digest", &b])
        .ok();
}

#[test]
fn a_pin_is_proven_from_history_past_its_first_page() {
    let e = Env::new();
    let r = e.r("app:paged");
    let digest = |v: u64| format!("sha256:{v:064x}");
    // The server's history pages hold 100 bindings: 102 versions need two pages.
    for v in 1..=102u64 {
        e.publish(
            "app:paged",
            "a.key",
            &["--digest", &digest(v), "--version", &v.to_string()],
        )
        .ok();
    }
    for old in [1u64, 101] {
        e.consumer.run(&["pin", &r, &digest(old)]).ok();
        let j = e
            .consumer
            .run(&["verify", &r, "--digest", &digest(old), "--json"])
            .ok()
            .json();
        assert_eq!(j["result"], "pinned");
        assert_eq!(j["pinned"]["version"], old);
        assert_eq!(j["pinned"]["moved"], true);
        assert_eq!(j["current"]["version"], 102);
    }
    // A digest no version bound is not proven, whichever page it would be on.
    e.consumer.run(&["pin", &r, &digest(1000)]).ok();
    e.consumer
        .run(&["verify", &r, "--digest", &digest(1000)])
        .code(1)
        .stderr_has("not proven");
}

#[test]
fn a_corrupt_state_file_is_exit_2_and_not_overwritten() {
    let reg = Registry::start(None);
    let server = LogServer::seeded(1, &[]).start();
    let c = Cli::new(&policy(&server, &reg, &[&key(42)]));
    std::fs::create_dir_all(&c.state).unwrap();
    let r = format!("{}/acme/app:1", reg.host());
    let d = format!("sha256:{}", "1".repeat(64));
    // A valid state cut short (what a save written in place would leave after a kill), an
    // empty file, and files that parse but are not this taglog's state.
    let valid = format!(r#"{{"format": 1, "pins": {{"{r}": "{d}"}}}}"#);
    let truncated = &valid.as_bytes()[..valid.len() / 2];
    for bad in [
        &b"{not json"[..],
        truncated,
        b"",
        br#"{"format": 2}"#,
        br#"{"format": 1, "pins": {"x": "md5:00"}}"#,
    ] {
        std::fs::write(c.state.join("state.json"), bad).unwrap();
        for args in [
            vec!["verify", r.as_str(), "--digest", d.as_str()],
            vec!["lookup", r.as_str()],
            vec!["pin", r.as_str(), d.as_str()],
            vec!["unpin", r.as_str()],
        ] {
            c.run(&args).code(2).stderr_has("corrupt");
            assert_eq!(c.state_bytes(), bad, "{args:?} must not overwrite it");
        }
    }
}

/// Starts `taglog pin REF DIGEST` against `client`'s state.
fn spawn_pin(client: &Cli, r: &str, digest: &str) -> std::process::Child {
    client
        .command()
        .args(["pin", r, digest])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn pin_in(state: &[u8], r: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(state).unwrap_or_else(|e| {
        panic!(
            "state.json is broken ({e}): {}",
            String::from_utf8_lossy(state)
        )
    });
    assert_eq!(v["format"], 1);
    v["pins"][r].as_str().map(str::to_string)
}

/// Waits until `child` has begun its save (its temporary file `state.json.tmp.<pid>` exists,
/// or `state.json` changed in place) and returns true; false if it exited first.
fn wait_for_save(child: &mut std::process::Child, state: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let file = state.join("state.json");
    let tmp = state.join(format!("state.json.tmp.{}", child.id()));
    let stamp = |m: std::fs::Metadata| (m.ino(), m.len(), m.mtime(), m.mtime_nsec());
    let before = std::fs::metadata(&file).map(stamp).ok();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if tmp.exists() || std::fs::metadata(&file).map(stamp).ok() != before {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
    }
    panic!("taglog pin neither saved nor exited within 60 s");
}

#[test]
fn kill_9_during_state_saves_leaves_the_old_or_the_new_state() {
    let c = Cli::new("quorum none\n");
    let r = "registry.example/acme/app:1";
    // A large state (2,000 pins) makes each save (write and fsync) long enough for kills to
    // land inside it.
    let pins: serde_json::Map<String, serde_json::Value> = (0..2000)
        .map(|i| {
            (
                format!("registry.example/acme/filler{i}:1"),
                serde_json::Value::String(format!("sha256:{i:064x}")),
            )
        })
        .collect();
    std::fs::create_dir_all(&c.state).unwrap();
    std::fs::write(
        c.state.join("state.json"),
        serde_json::json!({"format": 1, "pins": pins}).to_string(),
    )
    .unwrap();
    let digest = |i: u64| format!("sha256:{:064x}", 0xabc000 + i);
    assert!(spawn_pin(&c, r, &digest(0)).wait().unwrap().success());
    let mut previous = Some(digest(0));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(std::process::id());
    // Kills that landed between the temporary file's creation and its rename (the file was
    // left behind), and runs that finished anyway.
    let (mut inside, mut finished) = (0, 0);
    for i in 1..=40u64 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut child = spawn_pin(&c, r, &digest(i));
        let pid = child.id();
        if wait_for_save(&mut child, &c.state) {
            // A random point of the save: 0 to 2 ms after it began.
            std::thread::sleep(Duration::from_micros((seed >> 33) % 2000));
        }
        let _ = child.kill(); // SIGKILL
        if child.wait().unwrap().success() {
            finished += 1;
        }
        if c.state.join(format!("state.json.tmp.{pid}")).exists() {
            inside += 1;
        }
        let now = pin_in(&c.state_bytes(), r);
        assert!(
            now == previous || now == Some(digest(i)),
            "round {i}: pin {now:?}, expected {previous:?} or {}",
            digest(i)
        );
        previous = now;
    }
    println!("{inside} of 40 kills landed inside a save, {finished} runs finished");
    assert!(
        inside > 0,
        "no kill landed inside a save ({finished} of 40 runs finished)"
    );
    // One clean run afterwards succeeds and removes what killed runs left behind.
    assert!(spawn_pin(&c, r, &digest(99)).wait().unwrap().success());
    assert_eq!(pin_in(&c.state_bytes(), r), Some(digest(99)));
    let leftovers: Vec<PathBuf> = std::fs::read_dir(&c.state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_now_flag_does_not_exist() {
    let c = Cli::new("quorum none\n");
    c.run(&["--now", "1", "policy", "check"])
        .code(2)
        .stderr_has("unexpected argument '--now'");
}
