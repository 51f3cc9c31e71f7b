//! DESIGN §1 scenarios end to end: a real `docker-registry`, a real `taglog-server`, images
//! pushed through the distribution API, and the `taglog` binary (issue 4: S1–S6, S10, split
//! view, concurrency). Freshness is tested with the debug build's test clock (`TAGLOG_TEST_NOW`), without
//! sleeping.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::note::{KeyType, SignerKey};
use taglog_testkit::cli::{Cli, Run};
use taglog_testkit::keys;
use taglog_testkit::log_server::{LogServer, Ready};
use taglog_testkit::registry::{image_blobs, Registry};
use taglog_testkit::witness::Witness;
use taglog_testkit::{closed_port, now};

/// A registry, a log admitting one publisher for `<registry>/acme`, and a client whose policy
/// trusts that log (`quorum none`: no witnesses) and that publisher.
struct Env {
    reg: Registry,
    server: LogServer,
    client: Cli,
    key: std::path::PathBuf,
    publisher: SignerKey,
}

fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.test".parse().unwrap(),
        KeyType::Ed25519,
        [42; 32],
    )
}

fn policy_for(server: &LogServer, reg: &Registry, extra: &str) -> String {
    format!(
        "log {} {}\nquorum none\npublisher {}/acme {}\ninsecure-registry {}\n{extra}",
        server.vkey(),
        server.url,
        reg.host(),
        publisher().verifier(),
        reg.host()
    )
}

fn env_with(extra: &str) -> Env {
    let reg = Registry::start(None);
    let publisher = publisher();
    let server = LogServer::seeded(
        1,
        &[(
            format!("{}/acme", reg.host()),
            publisher.verifier().to_string(),
        )],
    )
    .start();
    let client = Cli::new(&policy_for(&server, &reg, extra));
    let key = client.path("publisher.key");
    keys::write_key(&key, &publisher);
    Env {
        reg,
        server,
        client,
        key,
        publisher,
    }
}

fn env() -> Env {
    env_with("")
}

impl Env {
    fn r(&self, repo_tag: &str) -> String {
        format!("{}/acme/{repo_tag}", self.reg.host())
    }

    fn publish(&self, repo_tag: &str, extra: &[&str]) -> Run {
        let r = self.r(repo_tag);
        let key = self.key.to_str().unwrap().to_string();
        let mut args = vec!["publish", r.as_str(), "--key", key.as_str()];
        args.extend_from_slice(extra);
        self.client.run(&args)
    }

    fn verify(&self, repo_tag: &str, extra: &[&str]) -> Run {
        let r = self.r(repo_tag);
        let mut args = vec!["verify", r.as_str()];
        args.extend_from_slice(extra);
        self.client.run(&args)
    }
}

#[test]
fn publish_then_verify_prints_the_pullable_digest() {
    let e = env();
    let (d, _) = e.reg.push_image("acme/heavylifter", "1.5", "one");
    let p = e.publish("heavylifter:1.5", &[]);
    p.ok();
    let pull = format!("{}/acme/heavylifter@{d}", e.reg.host());
    assert_eq!(p.stdout.trim(), pull);
    let v = e.verify("heavylifter:1.5", &[]);
    v.ok().stderr_has("verified");
    assert_eq!(v.stdout.trim(), pull);
    let j = e.verify("heavylifter:1.5", &["--json"]);
    let j = j.ok().json();
    assert_eq!(j["result"], "verified");
    assert_eq!(j["digest"], d);
    assert_eq!(j["current"]["version"], 1);
    assert_eq!(j["pull"], pull);
    // The state remembers the checkpoint and the high-water mark.
    let state: serde_json::Value = serde_json::from_slice(&e.client.state_bytes()).unwrap();
    assert_eq!(state["high_water"][e.r("heavylifter:1.5")]["version"], 1);
    assert!(
        state["checkpoints"]["log.test/taglog"]["size"]
            .as_u64()
            .unwrap()
            > 0
    );
    // lookup shows the binding without asking the registry.
    e.client.run(&["lookup", &e.r("heavylifter:1.5")]).ok();
    // checkpoint: size, cosigners, quorum.
    e.client.run(&["checkpoint"]).ok();
}

#[test]
fn s1_registry_serves_an_older_validly_signed_image() {
    let e = env();
    let (old, old_manifest) = e.reg.push_image("acme/heavylifter", "1.5", "old");
    e.publish("heavylifter:1.5", &[]).ok();
    let (new, _) = e.reg.push_image("acme/heavylifter", "1.5", "new");
    e.publish("heavylifter:1.5", &[]).ok();
    e.verify("heavylifter:1.5", &[]).ok();
    // The registry (or a mirror) re-tags 1.5 to the old manifest: accepted silently by it.
    e.reg.put_manifest("acme/heavylifter", "1.5", &old_manifest);
    let v = e.verify("heavylifter:1.5", &[]);
    v.code(1)
        .stderr_has(&old)
        .stderr_has(&new)
        .stderr_has("version 2");
    // Also for an image signed for another tag (0.5.9).
    e.reg.push_image("acme/heavylifter", "0.5.9", "ancient");
    e.publish("heavylifter:0.5.9", &[]).ok();
    let (ancient, _) = e.reg.push_image("acme/heavylifter", "1.5", "ancient");
    e.verify("heavylifter:1.5", &[])
        .code(1)
        .stderr_has(&ancient);
    let j = e.verify("heavylifter:1.5", &["--json"]);
    assert_eq!(j.code(1).json()["code"], "digest-mismatch");
}

#[test]
fn s2_another_repository_is_served() {
    let e = env();
    let (bottle, _) = e.reg.push_image("acme/bottlerocket", "1.5", "bottle");
    e.publish("bottlerocket:1.5", &[]).ok();
    e.reg.push_image("acme/heavylifter", "1.5", "heavy");
    e.publish("heavylifter:1.5", &[]).ok();
    // bottlerocket:1.5's content served as heavylifter:1.5.
    let (layer, config) = image_blobs("bottle");
    let m = e.reg.push_blobs_for("acme/heavylifter", &layer, &config);
    assert_eq!(e.reg.put_manifest("acme/heavylifter", "1.5", &m), bottle);
    e.verify("heavylifter:1.5", &[]).code(1).stderr_has(&bottle);
    // bottlerocket itself still verifies.
    e.verify("bottlerocket:1.5", &[]).ok();
}

#[test]
fn s3_stale_replay_of_an_old_binding() {
    let e = env();
    let (a, _) = e.reg.push_image("acme/app", "v1", "a");
    e.publish("app:v1", &[]).ok();
    let old = e.client.path("old.json");
    e.client
        .run(&["bundle", &e.r("app:v1"), "-o", old.to_str().unwrap()])
        .ok();
    e.reg.push_image("acme/app", "v1", "b");
    e.publish("app:v1", &[]).ok();
    e.verify("app:v1", &[]).ok();

    // A fresh client (no state) given the old bundle and the old digest.
    let fresh = Cli::new(&std::fs::read_to_string(&e.client.policy).unwrap());
    let args = [
        "verify",
        &e.r("app:v1"),
        "--offline",
        "--bundle",
        old.to_str().unwrap(),
        "--digest",
        &a,
    ];
    // Within max-age the replay is indistinguishable for a stateless client (the window).
    fresh.run(&args).ok();
    let fresh = Cli::new(&std::fs::read_to_string(&e.client.policy).unwrap());
    let later = (now() + 3600 + 400).to_string();
    fresh
        .run_at(&later, &args)
        .code(1)
        .stderr_has("stale checkpoint");
    // A client that has seen the newer version rejects it at once.
    e.client.run(&args).code(1).stderr_has("stale view");
    // Even without its cached checkpoint, the high-water mark rejects it.
    let path = e.client.state.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["checkpoints"] = serde_json::json!({});
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    e.client.run(&args).code(1).stderr_has("rollback");
}

#[test]
fn s4_mirror_needs_a_remap_rule() {
    let e = env();
    let (d, _) = e.reg.push_image("acme/heavylifter", "1.5", "mirrored");
    e.publish("heavylifter:1.5", &[]).ok();
    let mirror = Registry::start(None);
    let (md, _) = mirror.push_image("mirror/acme/heavylifter", "1.5", "mirrored");
    assert_eq!(md, d);
    let mref = format!("{}/mirror/acme/heavylifter:1.5", mirror.host());
    // Without a remap rule the mirror's ref is not covered: a policy error, never a pass.
    let plain = Cli::new(&policy_for(
        &e.server,
        &e.reg,
        &format!("insecure-registry {}\n", mirror.host()),
    ));
    plain
        .run(&["verify", &mref])
        .code(2)
        .stderr_has("publisher");
    // With it, the signed upstream ref is checked and the mirror's digest ref is printed.
    let remap = format!(
        "insecure-registry {}\nremap {}/mirror/acme {}/acme\n",
        mirror.host(),
        mirror.host(),
        e.reg.host()
    );
    let c = Cli::new(&policy_for(&e.server, &e.reg, &remap));
    let v = c.run(&["verify", &mref]);
    v.ok().stderr_has("remapped");
    assert_eq!(
        v.stdout.trim(),
        format!("{}/mirror/acme/heavylifter@{d}", mirror.host())
    );
    // A mirror serving another image is caught.
    let (other, _) = mirror.push_image("mirror/acme/heavylifter", "1.5", "tampered");
    c.run(&["verify", &mref]).code(1).stderr_has(&other);
}

#[test]
fn s5_withdrawal() {
    let e = env();
    e.reg.push_image("acme/app", "1.0", "vulnerable");
    e.publish("app:1.0", &[]).ok();
    e.verify("app:1.0", &[]).ok();
    e.publish("app:1.0", &["--withdraw"]).ok();
    e.verify("app:1.0", &[])
        .code(1)
        .stderr_has("withdrawn by publisher at version 2");
    let j = e.verify("app:1.0", &["--json"]);
    assert_eq!(j.code(1).json()["code"], "withdrawn");
    // The tag can be rebound after a withdrawal.
    e.reg.push_image("acme/app", "1.0", "fixed");
    e.publish("app:1.0", &[]).ok();
    e.verify("app:1.0", &[]).ok();
}

#[test]
fn s6_explicit_pin_to_an_older_binding() {
    let e = env();
    let (a, a_manifest) = e.reg.push_image("acme/app", "2", "a");
    e.publish("app:2", &[]).ok();
    let (b, _) = e.reg.push_image("acme/app", "2", "b");
    e.publish("app:2", &[]).ok();
    // The consumer rolls back to a deliberately.
    e.reg.put_manifest("acme/app", "2", &a_manifest);
    e.verify("app:2", &[]).code(1);
    e.client.run(&["pin", &e.r("app:2"), &a]).ok();
    let v = e.verify("app:2", &[]);
    v.ok()
        .stderr_has("pinned")
        .stderr_has(&b)
        .stderr_has("version 2");
    assert!(v.stdout.trim().ends_with(&a), "{v:?}");
    let j = e.verify("app:2", &["--json"]).ok().json();
    assert_eq!(j["result"], "pinned");
    assert_eq!(j["pinned"]["version"], 1);
    assert_eq!(j["pinned"]["moved"], true);
    assert_eq!(j["current"]["version"], 2);
    // A pin to a digest the publisher never bound is not proven.
    let never = format!("sha256:{}", "ab".repeat(32));
    e.client.run(&["pin", &e.r("app:2"), &never]).ok();
    e.verify("app:2", &["--digest", &never])
        .code(1)
        .stderr_has("not proven");
    e.client.run(&["unpin", &e.r("app:2")]).ok();
    e.verify("app:2", &[]).code(1);
}

#[test]
fn s10_offline_bundle_within_and_beyond_max_age() {
    let e = env();
    let (d, _) = e.reg.push_image("acme/app", "3", "offline");
    e.publish("app:3", &[]).ok();
    let f = e.client.path("app3.json");
    e.client
        .run(&["bundle", &e.r("app:3"), "-o", f.to_str().unwrap()])
        .ok();
    let offline = Cli::new(&std::fs::read_to_string(&e.client.policy).unwrap());
    let base = [
        "verify",
        &e.r("app:3"),
        "--offline",
        "--bundle",
        f.to_str().unwrap(),
    ];
    let v = offline.run(&base);
    assert!(v.ok().stdout.trim().ends_with(&d));
    let before = offline.state_bytes();
    let later = (now() + 2 * 3600).to_string();
    let mut stale = base.to_vec();
    offline
        .run_at(&later, &stale)
        .code(1)
        .stderr_has("--accept-stale");
    assert_eq!(
        offline.state_bytes(),
        before,
        "a failed verification changes nothing"
    );
    stale.extend(["--accept-stale", "2h"]);
    offline
        .run_at(&later, &stale)
        .ok()
        .stderr_has("warning: accepted a stale checkpoint");
    assert_eq!(
        offline.state_bytes(),
        before,
        "--accept-stale never updates state"
    );
    // The same bundle with --digest of another image fails.
    let mut wrong = base.to_vec();
    let other = format!("sha256:{}", "cd".repeat(32));
    wrong.extend(["--digest", other.as_str()]);
    offline.run(&wrong).code(1);
    // A tlog-proof can be exported from it.
    let tp = e.client.path("app3.tlog-proof");
    e.client
        .run(&[
            "export",
            "--tlog-proof",
            &e.r("app:3"),
            "--bundle",
            f.to_str().unwrap(),
            "-o",
            tp.to_str().unwrap(),
        ])
        .ok();
    assert!(std::fs::read_to_string(&tp)
        .unwrap()
        .starts_with("c2sp.org/tlog-proof@v1\n"));
}

#[test]
fn split_view_is_detected_with_evidence() {
    let reg = Registry::start(None);
    let p = publisher();
    let allow = [(format!("{}/acme", reg.host()), p.verifier().to_string())];
    let a = LogServer::seeded(7, &allow).start();
    let b = LogServer::seeded(7, &allow).start();
    assert_eq!(a.vkey(), b.vkey(), "same log key: a split view");
    let client = Cli::new(&policy_for(&a, &reg, ""));
    let key = client.path("publisher.key");
    keys::write_key(&key, &p);
    let r = format!("{}/acme/app:1", reg.host());
    let (d1, _) = reg.push_image("acme/app", "1", "view-a");
    client
        .run(&[
            "publish",
            &r,
            "--key",
            key.to_str().unwrap(),
            "--digest",
            &d1,
        ])
        .ok();
    client.run(&["verify", &r]).ok();
    // Server B signs a different history, and longer.
    for i in 0..4 {
        let ri = format!("{}/acme/other{i}:1", reg.host());
        let d = format!("sha256:{}", format!("{i:02}").repeat(32));
        client
            .run(&[
                "--log",
                &b.url,
                "publish",
                &ri,
                "--key",
                key.to_str().unwrap(),
                "--digest",
                &d,
            ])
            .ok();
    }
    client
        .run(&[
            "--log",
            &b.url,
            "publish",
            &r,
            "--key",
            key.to_str().unwrap(),
            "--digest",
            &d1,
        ])
        .ok();
    let v = client.run(&["--log", &b.url, "verify", &r]);
    v.code(1)
        .stderr_has("SECURITY ERROR")
        .stderr_has("evidence written to");
    let evidence: Vec<_> = std::fs::read_dir(&client.state)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("evidence-"))
        .collect();
    assert_eq!(evidence.len(), 1);
    let text = std::fs::read_to_string(evidence[0].path()).unwrap();
    assert!(text.contains("-- cached checkpoint --") && text.contains("-- new checkpoint --"));
}

#[test]
fn concurrent_verifies_do_not_corrupt_state() {
    let e = env();
    for i in 0..4 {
        e.reg
            .push_image("acme/app", &format!("c{i}"), &format!("c{i}"));
        e.publish(&format!("app:c{i}"), &[]).ok();
    }
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let mut verify = e.client.command();
            verify.args(["verify".to_string(), e.r(&format!("app:c{}", i % 4))]);
            std::thread::spawn(move || verify.output().unwrap())
        })
        .collect();
    for r in runs {
        let out = r.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let state: serde_json::Value = serde_json::from_slice(&e.client.state_bytes()).unwrap();
    assert_eq!(state["high_water"].as_object().unwrap().len(), 4);
}

#[test]
fn publish_auto_version_and_explicit_conflict() {
    let e = env();
    e.reg.push_image("acme/app", "v", "x");
    e.publish("app:v", &["--version", "7"]).ok();
    e.reg.push_image("acme/app", "v", "y");
    // An explicit wrong version is refused with the expected one.
    e.publish("app:v", &["--version", "9"])
        .code(1)
        .stderr_has("8");
    e.publish("app:v", &[]).ok().stderr_has("version 8");
    let j = e.verify("app:v", &["--json"]).ok().json();
    assert_eq!(j["current"]["version"], 8);
    // Publishing outside the policy's prefixes is a policy error.
    let other = format!("{}/other/app:v", e.reg.host());
    e.client
        .run(&[
            "publish",
            &other,
            "--key",
            e.key.to_str().unwrap(),
            "--digest",
            &format!("sha256:{}", "0".repeat(64)),
        ])
        .code(2);
    let _ = &e.publisher;
}

#[test]
fn witnessed_log_freshness_is_per_cosignature() {
    let reg = Registry::start(None);
    let p = publisher();
    let log_vkey = keys::log(9).verifier().to_string();
    let w1 = Witness::start(11, "w1.test", &log_vkey);
    let w2 = Witness::start(12, "w2.test", &log_vkey);
    let server = LogServer::seeded(
        9,
        &[(format!("{}/acme", reg.host()), p.verifier().to_string())],
    )
    .witness(&w1.vkey(), &w1.url)
    .witness(&w2.vkey(), &w2.url)
    .start();
    let policy = format!(
        "log {} {}\nwitness w1 {}\nwitness w2 {}\ngroup both all w1 w2\nquorum both\npublisher {}/acme {}\ninsecure-registry {}\n",
        server.vkey(),
        server.url,
        w1.vkey(),
        w2.vkey(),
        reg.host(),
        p.verifier(),
        reg.host()
    );
    let c = Cli::new(&policy);
    let key = c.path("publisher.key");
    keys::write_key(&key, &p);
    let r = format!("{}/acme/app:w", reg.host());
    let (d, _) = reg.push_image("acme/app", "w", "witnessed");
    c.run(&["publish", &r, "--key", key.to_str().unwrap()]).ok();
    let j = c.run(&["verify", &r, "--json"]).ok().json();
    assert_eq!(j["digest"], d);
    assert_eq!(j["checkpoint"]["cosigners"].as_array().unwrap().len(), 2);
    c.run(&["checkpoint"]).ok();
    c.run(&["policy", "check"]).ok();
    // A saved bundle: fresh now, stale once every cosignature is older than max-age.
    let f = c.path("w.json");
    c.run(&["bundle", &r, "-o", f.to_str().unwrap()]).ok();
    let fresh = Cli::new(&policy);
    let args = ["verify", &r, "--offline", "--bundle", f.to_str().unwrap()];
    fresh.run(&args).ok();
    let later = (now() + 3600 + 400).to_string();
    let v = Cli::new(&policy).run_at(&later, &args);
    v.code(1).stderr_has("newest cosignature");
    // A policy that needs a third witness nobody asked is not met at all.
    let w3 = SignerKey::from_seed("w3.test".parse().unwrap(), KeyType::Cosignature, [13; 32]);
    let stricter = policy.replace(
        "group both all w1 w2\nquorum both",
        &format!(
            "witness w3 {}\ngroup all3 all w1 w2 w3\nquorum all3",
            w3.verifier()
        ),
    );
    Cli::new(&stricter)
        .run(&args)
        .code(1)
        .stderr_has("lacks the quorum");
}

#[test]
fn publish_waits_after_202_and_fails_with_evidence_past_the_mmd() {
    let reg = Registry::start(None);
    let p = publisher();
    let allow = [(format!("{}/acme", reg.host()), p.verifier().to_string())];
    // A 202 (no quorum checkpoint within the commit timeout) that becomes current soon after.
    let quick = LogServer::seeded(5, &allow).commit_timeout("0s").start();
    let c = Cli::new(&policy_for(&quick, &reg, ""));
    let key = c.path("publisher.key");
    keys::write_key(&key, &p);
    let d = format!("sha256:{}", "0a".repeat(32));
    let r = format!("{}/acme/app:late", reg.host());
    c.run(&[
        "publish",
        &r,
        "--key",
        key.to_str().unwrap(),
        "--digest",
        &d,
        "--mmd",
        "20s",
    ])
    .ok();
    c.run(&["verify", &r, "--digest", &d]).ok();
    // A log whose only witness is down never makes the binding current: evidence after the MMD.
    let w = SignerKey::from_seed(
        "down.witness".parse().unwrap(),
        KeyType::Cosignature,
        [6; 32],
    );
    let down = format!("http://127.0.0.1:{}", closed_port());
    let stuck = LogServer::seeded(6, &allow)
        .witness(&w.verifier().to_string(), &down)
        .commit_timeout("1s")
        // The server waits at start for every witness to answer; an operator starts it
        // without one known to be gone.
        .args(&["--start-without-witness", "down.witness"])
        .ready(Ready::Answering)
        .start();
    let c = Cli::new(&policy_for(&stuck, &reg, ""));
    keys::write_key(&key, &p);
    let args = [
        "publish",
        &r,
        "--key",
        key.to_str().unwrap(),
        "--digest",
        &d,
        "--version",
        "1",
        "--mmd",
        "3s",
    ];
    c.run(&args)
        .code(1)
        .stderr_has("did not make it current within the MMD")
        .stderr_has("-- add-binding answer --");
}
