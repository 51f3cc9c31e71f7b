//! The seed scenarios through real pull clients nobody here wrote: `skopeo` (with a
//! registries.conf `[[registry.mirror]]` entry) and containerd 1.6's `ctr` (containerd run as a
//! plain process; `ctr images pull --hosts-dir` with a `hosts.toml` that points at the mirror),
//! both through `taglog mirror`, with a real `taglog-server`, two `taglog-witness`es and
//! `docker-registry`: a current tag pulls with the published bytes; S1, S2, S3 (a replayed old
//! binding and image) and S5 fail the pull with the DENIED message (containerd prints only the
//! status of its HEAD request, 403, and the mirror's metrics give the reason); an unavailable
//! log fails it; a blob whose bytes do not match its digest aborts it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::note::{KeyType, SignerKey};
use taglog_testkit::cli::{Cli, Run};
use taglog_testkit::closed_port;
use taglog_testkit::fake_http::{http_response, Recorder};
use taglog_testkit::keys;
use taglog_testkit::log_server::LogServer;
use taglog_testkit::pull::{push_tar_image, registries_conf, skopeo, Containerd, Mirror};
use taglog_testkit::registry::{sha256_digest, Registry};
use taglog_testkit::witness::Witness;

fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.test".parse().unwrap(),
        KeyType::Ed25519,
        [42; 32],
    )
}

/// Registry, two witnesses, a log that needs both, and a publisher.
struct Env {
    reg: Registry,
    _witnesses: (Witness, Witness),
    server: LogServer,
    publisher: Cli,
}

impl Env {
    fn new() -> Env {
        let reg = Registry::start(None);
        let log_vkey = keys::log(9).verifier().to_string();
        let w1 = Witness::start(11, "w1.test", &log_vkey);
        let w2 = Witness::start(12, "w2.test", &log_vkey);
        let server = LogServer::seeded(
            9,
            &[(
                format!("{}/acme", reg.host()),
                publisher().verifier().to_string(),
            )],
        )
        .witness(&w1.vkey(), &w1.url)
        .witness(&w2.vkey(), &w2.url)
        .start();
        let publisher_client =
            Cli::new(&policy(&server.vkey(), &server.url, &w1, &w2, &reg.host()));
        keys::write_key(&publisher_client.path("publisher.key"), &publisher());
        Env {
            reg,
            _witnesses: (w1, w2),
            server,
            publisher: publisher_client,
        }
    }

    fn r(&self, repo_tag: &str) -> String {
        format!("{}/acme/{repo_tag}", self.reg.host())
    }

    fn publish(&self, repo_tag: &str, extra: &[&str]) {
        let key = self.publisher.path("publisher.key");
        let r = self.r(repo_tag);
        let mut args = vec!["publish", r.as_str(), "--key", key.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.publisher.run(&args).ok();
    }

    /// A mirror with its own state (the publisher's policy), optionally another log URL.
    fn mirror(&self, state: &Cli, log: Option<&str>, env: &[(&str, &str)]) -> Mirror {
        let globals: Vec<&str> = log.map_or(vec![], |l| vec!["--log", l]);
        Mirror::start(state, &globals, &[self.reg.host()], env)
    }

    fn consumer(&self) -> Cli {
        Cli::new(&std::fs::read_to_string(&self.publisher.policy).unwrap())
    }
}

fn policy(log_vkey: &str, log_url: &str, w1: &Witness, w2: &Witness, reg: &str) -> String {
    format!(
        "log {log_vkey} {log_url}\nwitness w1 {}\nwitness w2 {}\ngroup both all w1 w2\nquorum both\npublisher {reg}/acme {}\ninsecure-registry {reg}\n",
        w1.vkey(),
        w2.vkey(),
        publisher().verifier()
    )
}

/// The registry's file for a blob (docker-registry's filesystem driver layout).
fn blob_file(reg: &Registry, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    reg.dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

fn corrupt(path: &std::path::Path) {
    let mut b = std::fs::read(path).unwrap();
    b[600] ^= 0xff;
    std::fs::write(path, b).unwrap();
}

/// A log that answers every `/lookup` with `bundle` (a replaying man in the middle).
fn replaying_log(bundle: Vec<u8>) -> Recorder {
    Recorder::start(move |r| {
        if r.target.starts_with("/lookup") {
            http_response("200 OK", &[("Content-Type", "application/json")], &bundle)
        } else {
            http_response("404 Not Found", &[], b"")
        }
    })
}

fn denied(run: &Run, reason: &str) {
    run.code(1);
    let err = run.stderr.to_lowercase();
    assert!(err.contains("denied"), "{run:?}");
    assert!(run.stderr.contains("taglog:"), "{run:?}");
    assert!(run.stderr.contains(reason), "{run:?}");
}

#[test]
fn skopeo_pulls_through_the_mirror_and_every_refusal_fails_the_pull() {
    let e = Env::new();
    let (old, old_manifest, _) = push_tar_image(&e.reg, "acme/app", "1", "old");
    e.publish("app:1", &[]);
    let saved = e.publisher.path("v1.json");
    e.publisher
        .run(&["bundle", &e.r("app:1"), "-o", saved.to_str().unwrap()])
        .ok();
    let (new, new_manifest, _) = push_tar_image(&e.reg, "acme/app", "1", "new");
    e.publish("app:1", &[]);

    let state = e.consumer();
    let m = e.mirror(&state, None, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let dead = format!("127.0.0.1:{}", closed_port());
    let conf = registries_conf(tmp.path(), &e.reg.host(), &m.host(), &dead);
    let src = format!("docker://{}", e.r("app:1"));

    // A current tag pulls, with the published bytes.
    let raw = skopeo(&conf, tmp.path(), &["inspect", "--raw", &src]);
    raw.ok();
    assert_eq!(raw.stdout.as_bytes(), new_manifest.as_slice());
    assert_eq!(sha256_digest(raw.stdout.as_bytes()), new);
    let out = tmp.path().join("copy");
    skopeo(
        &conf,
        tmp.path(),
        &["copy", &src, &format!("dir:{}", out.display())],
    )
    .ok();
    assert_eq!(
        std::fs::read(out.join("manifest.json")).unwrap(),
        new_manifest
    );

    // S1: the registry serves the older, validly signed image for the tag.
    e.reg.put_manifest("acme/app", "1", &old_manifest);
    let run = skopeo(&conf, tmp.path(), &["inspect", "--raw", &src]);
    denied(&run, &old);
    assert!(run.stderr.contains("what to do"), "{run:?}");
    // S2: another repository's image served as this one.
    let (other, _, _) = push_tar_image(&e.reg, "acme/other", "1", "other");
    e.publish("other:1", &[]);
    // The same image pushed into acme/app and tagged 1 there.
    let (moved, _, _) = push_tar_image(&e.reg, "acme/app", "1", "other");
    assert_eq!(moved, other);
    denied(
        &skopeo(
            &conf,
            tmp.path(),
            &[
                "copy",
                &src,
                &format!("dir:{}", tmp.path().join("s2").display()),
            ],
        ),
        &other,
    );
    // S5: a withdrawn tag.
    push_tar_image(&e.reg, "acme/app", "w", "withdrawn");
    e.publish("app:w", &[]);
    e.publish("app:w", &["--withdraw"]);
    let w = src.replace(":1", ":w");
    denied(
        &skopeo(&conf, tmp.path(), &["inspect", "--raw", &w]),
        "withdrawn",
    );

    // S3: a man in the middle replays the old binding (log answer) and the old image.
    e.reg.put_manifest("acme/app", "1", &old_manifest);
    let replay = replaying_log(std::fs::read(&saved).unwrap());
    let replay_url = format!("http://{}", replay.host());
    drop(m);
    // The mirror that has seen version 2 refuses at once ...
    let m = e.mirror(&state, Some(&replay_url), &[]);
    let conf = registries_conf(tmp.path(), &e.reg.host(), &m.host(), &dead);
    denied(
        &skopeo(&conf, tmp.path(), &["inspect", "--raw", &src]),
        "stale view",
    );
    // ... a fresh one once every cosignature is older than max-age.
    let later = (taglog_testkit::now() + 3600 + 400).to_string();
    let fresh = e.mirror(
        &e.consumer(),
        Some(&replay_url),
        &[("TAGLOG_TEST_NOW", &later)],
    );
    let conf = registries_conf(tmp.path(), &e.reg.host(), &fresh.host(), &dead);
    denied(
        &skopeo(&conf, tmp.path(), &["inspect", "--raw", &src]),
        "stale",
    );

    // The log is unavailable: the pull fails, it does not pass.
    let down = format!("http://127.0.0.1:{}", closed_port());
    let m = e.mirror(&e.consumer(), Some(&down), &[]);
    let conf = registries_conf(tmp.path(), &e.reg.host(), &m.host(), &dead);
    e.reg.put_manifest("acme/app", "1", &new_manifest);
    let run = skopeo(&conf, tmp.path(), &["inspect", "--raw", &src]);
    run.code(1);
    assert!(
        run.stderr.contains("503") || run.stderr.to_lowercase().contains("unavailable"),
        "{run:?}"
    );

    // A blob whose bytes do not match its digest aborts the transfer.
    let (_, _, layer) = push_tar_image(&e.reg, "acme/app", "blob", "corrupted later");
    e.publish("app:blob", &[]);
    corrupt(&blob_file(&e.reg, &layer));
    let state = e.consumer();
    let m = e.mirror(&state, None, &[]);
    let conf = registries_conf(tmp.path(), &e.reg.host(), &m.host(), &dead);
    let b = src.replace(":1", ":blob");
    let run = skopeo(
        &conf,
        tmp.path(),
        &[
            "copy",
            &b,
            &format!("dir:{}", tmp.path().join("blob").display()),
        ],
    );
    run.code(1);
    assert_eq!(
        m.metric("taglog_mirror_aborted_transfers_total"),
        1,
        "{run:?}"
    );
    let _ = (&e.server, old, new);
}

#[test]
fn containerd_pulls_through_the_mirror_and_every_refusal_fails_the_pull() {
    let e = Env::new();
    let (old, old_manifest, _) = push_tar_image(&e.reg, "acme/app", "1", "old");
    e.publish("app:1", &[]);
    let saved = e.publisher.path("v1.json");
    e.publisher
        .run(&["bundle", &e.r("app:1"), "-o", saved.to_str().unwrap()])
        .ok();
    let (new, _, _) = push_tar_image(&e.reg, "acme/app", "1", "new");
    e.publish("app:1", &[]);
    let state = e.consumer();
    let m = e.mirror(&state, None, &[]);
    let ctd = Containerd::start();
    let dead = format!("127.0.0.1:{}", closed_port());
    let pull_via = |mirror: &Mirror, r: &str| {
        let hosts = ctd.hosts_dir(&e.reg.host(), &mirror.host(), &dead);
        ctd.ctr(&[
            "images",
            "pull",
            "--hosts-dir",
            hosts.to_str().unwrap(),
            "--snapshotter",
            "native",
            r,
        ])
    };
    let pull = |r: &str| pull_via(&m, r);

    // A current tag pulls (resolved with ?ns= by the mirror) and unpacks.
    let r1 = e.r("app:1");
    pull(&r1).ok();
    let ls = ctd.ctr(&["images", "ls"]);
    assert!(
        ls.stdout.contains(&r1) && ls.stdout.contains(&new),
        "{ls:?}"
    );
    assert_eq!(
        m.metric("taglog_verifications_total{result=\"allowed\"}"),
        1
    );

    // S1: containerd reports the mirror's 403 (it does not print a HEAD answer's body); the
    // mirror counts the reason.
    e.reg.put_manifest("acme/app", "1", &old_manifest);
    ctd.ctr(&["images", "rm", &r1]).ok();
    let run = pull(&r1);
    run.code(1).stderr_has("403 Forbidden");
    assert_eq!(
        m.metric("taglog_denials_total{reason=\"digest-mismatch\"}"),
        1
    );
    // S2: another repository's image, pushed into acme/app and tagged 1 there.
    let (other, _, _) = push_tar_image(&e.reg, "acme/other", "1", "other");
    e.publish("other:1", &[]);
    let (moved, _, _) = push_tar_image(&e.reg, "acme/app", "1", "other");
    assert_eq!(moved, other);
    pull(&r1).code(1).stderr_has("403 Forbidden");
    assert_eq!(
        m.metric("taglog_denials_total{reason=\"digest-mismatch\"}"),
        2
    );
    // S3: a man in the middle replays the old binding (log answer) and the old image; this
    // node's state has seen version 2.
    e.reg.put_manifest("acme/app", "1", &old_manifest);
    let replay = replaying_log(std::fs::read(&saved).unwrap());
    let replayed = e.mirror(&state, Some(&format!("http://{}", replay.host())), &[]);
    pull_via(&replayed, &r1).code(1).stderr_has("403 Forbidden");
    assert_eq!(
        replayed.metric("taglog_denials_total{reason=\"stale-view\"}"),
        1
    );
    // S5.
    push_tar_image(&e.reg, "acme/app", "w", "withdrawn");
    e.publish("app:w", &[]);
    e.publish("app:w", &["--withdraw"]);
    pull(&e.r("app:w")).code(1).stderr_has("403 Forbidden");
    assert_eq!(m.metric("taglog_denials_total{reason=\"withdrawn\"}"), 1);
    // Not bound at all.
    push_tar_image(&e.reg, "acme/app", "never", "never");
    pull(&e.r("app:never")).code(1).stderr_has("403 Forbidden");

    // The log is unavailable: 503, the pull fails.
    let down = format!("http://127.0.0.1:{}", closed_port());
    let m2 = e.mirror(&e.consumer(), Some(&down), &[]);
    pull_via(&m2, &e.r("app:w")).code(1).stderr_has("503");

    // A corrupted blob aborts the transfer.
    let (_, _, layer) = push_tar_image(&e.reg, "acme/app", "blob", "corrupted later");
    e.publish("app:blob", &[]);
    corrupt(&blob_file(&e.reg, &layer));
    pull(&e.r("app:blob")).code(1);
    // containerd retries a failed fetch: each attempt is aborted.
    assert!(m.metric("taglog_mirror_aborted_transfers_total") >= 1);
    let _ = (&e.server, old);
}
