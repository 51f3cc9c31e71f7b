//! `taglog import notary` against the real Notary v1 from Debian: `notary-server` (in-memory
//! storage, local signer, its own TLS CA made with `openssl` on loopback) and the `notary`
//! CLI signing tags as Docker Content Trust does, a real `taglog-server`, and the `taglog`
//! binary run as a user would. The Notary set-up follows the one in `scripts/compare-notary.sh`.
//! Every process is stopped by a Drop guard.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use taglog_proofs::note::{KeyType, SignerKey};
use taglog_testkit::cli::{Cli, Run};
use taglog_testkit::keys;
use taglog_testkit::log_server::LogServer;
use taglog_testkit::notary::Notary;

const GUN: &str = "registry.test/acme/app";

fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.test".parse().unwrap(),
        KeyType::Ed25519,
        [77; 32],
    )
}

fn digest(c: char) -> String {
    c.to_string().repeat(64)
}

struct Setup {
    notary: Notary,
    server: LogServer,
    client: Cli,
    key: PathBuf,
}

fn setup(allowed_prefix: &str) -> Setup {
    let p = publisher();
    let server = LogServer::seeded(
        31,
        &[(allowed_prefix.to_string(), p.verifier().to_string())],
    )
    .start();
    let client = Cli::new(&format!(
        "log {} {}\nquorum none\npublisher registry.test/acme {}\n",
        server.vkey(),
        server.url,
        p.verifier()
    ));
    let key = client.path("publisher.key");
    keys::write_key(&key, &p);
    let notary = Notary::start();
    notary.cli(&["init", "-p", GUN]);
    Setup {
        notary,
        server,
        client,
        key,
    }
}

impl Setup {
    fn import(&self, extra: &[&str]) -> Run {
        let mut args = self.notary.import_args(GUN);
        args.extend(["--key".into(), self.key.display().to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.client.run(&args)
    }

    /// The log's verified current binding of `tag`: (version, digest), or None if unbound.
    fn current(&self, tag: &str) -> Option<(u64, String)> {
        let r = self
            .client
            .run(&["lookup", &format!("{GUN}:{tag}"), "--json"]);
        if r.code != 0 {
            assert!(
                r.stderr.contains("unbound") || r.stdout.contains("unbound"),
                "{r:?}"
            );
            return None;
        }
        let j = r.json();
        Some((
            j["current"]["version"].as_u64().unwrap(),
            j["current"]["digest"].as_str().unwrap().to_string(),
        ))
    }

    fn publish(&self, tag: &str, hex: &str) {
        self.client
            .run(&[
                "publish",
                &format!("{GUN}:{tag}"),
                "--digest",
                &format!("sha256:{hex}"),
                "--key",
                self.key.to_str().unwrap(),
            ])
            .ok();
    }
}

fn line<'a>(run: &'a Run, tag: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(tag))
        .unwrap_or_else(|| panic!("no line for tag {tag}:\n{run:?}"))
}

/// Several tags, one already bound in the log to an older digest and one to the same digest,
/// a `targets/releases` delegation; then a tag re-signed to a new digest and a delegation key
/// rotated without re-signing (its tags fail Notary verification); then a rerun.
#[test]
fn imports_signed_tags_moves_a_resigned_one_and_reports_unverifiable_ones() {
    let s = setup("registry.test/acme");
    let n = &s.notary;
    n.sign(GUN, "1.0", &digest('a'), None);
    n.sign(GUN, "1.5", &digest('b'), None);
    n.sign(GUN, "2.0", &digest('c'), None);
    n.add_releases_key(GUN, "d1");
    n.sign(GUN, "3.0", &digest('d'), Some("targets/releases"));
    n.sign(GUN, "bad:tag", &digest('e'), None);
    s.publish("1.5", &digest('f'));
    s.publish("2.0", &digest('c'));

    let plan = s.import(&["--dry-run"]);
    plan.code(1); // bad:tag is not a taglog tag
    assert!(
        line(&plan, "1.0").contains("publish version 1 (new in the log)"),
        "{plan:?}"
    );
    assert!(line(&plan, "1.5").contains("publish version 2"), "{plan:?}");
    assert!(line(&plan, "1.5").contains(&format!("sha256:{}", digest('f'))));
    assert!(line(&plan, "2.0").contains("nothing: already bound at version 1"));
    assert!(line(&plan, "3.0").contains("publish version 1"));
    assert!(line(&plan, "bad:tag").contains("not imported"), "{plan:?}");
    assert!(plan.stderr.contains("dry run, 3 to publish"), "{plan:?}");
    assert_eq!(s.current("1.0"), None, "a dry run publishes nothing");
    assert_eq!(
        s.current("1.5"),
        Some((1, format!("sha256:{}", digest('f'))))
    );

    let first = s.import(&[]);
    first.code(1); // bad:tag is not a taglog tag
    assert!(first.stderr.contains("3 published"), "{first:?}");
    assert_eq!(
        s.current("1.0"),
        Some((1, format!("sha256:{}", digest('a'))))
    );
    assert_eq!(
        s.current("1.5"),
        Some((2, format!("sha256:{}", digest('b'))))
    );
    assert_eq!(
        s.current("2.0"),
        Some((1, format!("sha256:{}", digest('c'))))
    );
    assert_eq!(
        s.current("3.0"),
        Some((1, format!("sha256:{}", digest('d'))))
    );

    // 1.0 is re-signed to a new digest; 3.1 is signed by the delegation, whose key is then
    // rotated without re-signing targets/releases: Notary itself now drops 3.0 and 3.1.
    n.sign(GUN, "1.0", &digest('9'), None);
    n.sign(GUN, "3.1", &digest('8'), Some("targets/releases"));
    let old = n.releases_key_ids(GUN);
    n.add_releases_key(GUN, "d2");
    n.cli(&[
        "delegation",
        "remove",
        "-p",
        GUN,
        "targets/releases",
        &old[0],
    ]);
    let listed = n.cli(&["list", GUN]);
    assert!(
        !listed.contains("3.1"),
        "notary itself drops the role: {listed}"
    );

    let second = s.import(&[]);
    second.code(1);
    assert!(
        line(&second, "1.0").contains("published version 2"),
        "{second:?}"
    );
    for tag in ["3.0", "3.1"] {
        let l = line(&second, tag);
        assert!(l.contains("Notary data does not verify"), "{l}");
        assert!(l.contains("targets/releases"), "{l}");
    }
    assert!(second.stderr.contains("1 published"), "{second:?}");
    assert_eq!(
        s.current("1.0"),
        Some((2, format!("sha256:{}", digest('9'))))
    );
    assert_eq!(
        s.current("3.1"),
        None,
        "a tag that fails verification is not imported"
    );
    assert_eq!(
        s.current("3.0"),
        Some((1, format!("sha256:{}", digest('d'))))
    );

    let third = s.import(&[]);
    assert!(third.stderr.contains("0 published"), "{third:?}");
    assert!(line(&third, "1.0").contains("already bound at version 2"));
    assert_eq!(
        s.current("1.5"),
        Some((2, format!("sha256:{}", digest('b'))))
    );
    assert!(s.server.proc.log_text().is_empty() || !s.server.proc.log_text().contains("panic"));
}

/// A publication the log refuses fails only its tag; after the operator fixes the allowlist,
/// the same command imports what is missing and leaves the rest.
#[test]
fn a_refused_tag_is_reported_and_the_rerun_resumes() {
    let s = setup(&format!("{GUN}:1.0"));
    s.notary.sign(GUN, "1.0", &digest('a'), None);
    s.notary.sign(GUN, "2.0", &digest('b'), None);
    let first = s.import(&["--mmd", "10s"]);
    first.code(1);
    assert!(
        line(&first, "1.0").contains("published version 1"),
        "{first:?}"
    );
    assert!(line(&first, "2.0").contains("FAILED"), "{first:?}");
    assert!(
        first.stderr.contains("run the same command again"),
        "{first:?}"
    );
    assert_eq!(s.current("2.0"), None);

    std::fs::write(
        s.server.dir.join("publishers.txt"),
        format!("publisher registry.test/acme {}\n", publisher().verifier()),
    )
    .unwrap();
    s.server.proc.signal("HUP");
    let start = Instant::now();
    let second = loop {
        let r = s.import(&["--mmd", "10s"]);
        if r.code == 0 || start.elapsed() > Duration::from_secs(20) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    second.ok();
    assert!(line(&second, "1.0").contains("already bound"), "{second:?}");
    assert!(
        line(&second, "2.0").contains("published version 1"),
        "{second:?}"
    );
    assert_eq!(
        s.current("2.0"),
        Some((1, format!("sha256:{}", digest('b'))))
    );
}

/// Trust comes only from the root the user already has: without one, or with another
/// repository's, or with tampered trust data, nothing is imported.
#[test]
fn nothing_is_imported_without_trust_in_the_notary_data() {
    let s = setup("registry.test/acme");
    s.notary.sign(GUN, "1.0", &digest('a'), None);

    let empty = s.client.path("empty-trust");
    let mut args = s.notary.import_args(GUN);
    args[8] = empty.display().to_string();
    args.extend(["--key".into(), s.key.display().to_string()]);
    let r = s
        .client
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    r.code(2).stderr_has("no trusted Notary root");

    // Another repository's root (a second GUN on the same server).
    s.notary.cli(&["init", "-p", "registry.test/acme/other"]);
    let other = s
        .notary
        .path("trust/tuf/registry.test/acme/other/metadata/root.json");
    let r = s.import(&["--notary-root", other.to_str().unwrap()]);
    r.code(1).stderr_has("does not verify");
    assert!(r.stderr.contains("nothing was imported"), "{r:?}");

    // The local trust directory, tampered: the targets file no longer matches the snapshot.
    s.notary.cli(&["list", GUN]);
    let targets = s
        .notary
        .path(&format!("trust/tuf/{GUN}/metadata/targets.json"));
    let text = std::fs::read_to_string(&targets).unwrap();
    let b64a = taglog_proofs::b64::encode(hex::decode(digest('a')).unwrap());
    let b64z = taglog_proofs::b64::encode(hex::decode(digest('0')).unwrap());
    std::fs::write(&targets, text.replace(&b64a, &b64z)).unwrap();
    let r = s.import(&["--offline"]);
    r.code(1)
        .stderr_has("targets.json does not have the hash its parent signed");
    assert_eq!(s.current("1.0"), None);

    // Restored, the offline import works from the trust directory alone.
    std::fs::write(&targets, text).unwrap();
    let r = s.import(&["--offline"]);
    r.ok();
    assert_eq!(
        s.current("1.0"),
        Some((1, format!("sha256:{}", digest('a'))))
    );
}
