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

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Client, Proc, Run, Server};
use taglog_proofs::note::{KeyType, SignerKey};

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

fn tool(name: &str) -> PathBuf {
    let p = PathBuf::from("/usr/bin").join(name);
    assert!(
        p.exists(),
        "{} not found: apt-get install -y notary openssl (the CI installs them)",
        p.display()
    );
    p
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(tool("openssl"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A P-256 key and self-signed certificate (`<name>.key`, `<name>.crt`) in `dir`.
fn ec_cert(dir: &Path, name: &str, extra: &[&str]) {
    let (key, crt, subj) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("/CN={name}"),
    );
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "30",
        "-subj",
        &subj,
        "-keyout",
        &key,
        "-out",
        &crt,
    ];
    args.extend_from_slice(extra);
    openssl(dir, &args);
}

/// A notary-server on loopback with its own CA, and a `notary` CLI configured for it.
struct Notary {
    dir: tempfile::TempDir,
    url: String,
    _proc: Proc,
}

impl Notary {
    fn start() -> Notary {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ec_cert(
            d,
            "ca",
            &[
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        let port = free_port();
        std::fs::write(
            d.join("server.json"),
            format!(
                r#"{{"server": {{"http_addr": "127.0.0.1:{port}", "tls_key_file": "server.key", "tls_cert_file": "server.crt"}},
                "trust_service": {{"type": "local"}}, "storage": {{"backend": "memory"}}, "logging": {{"level": "error"}}}}"#
            ),
        )
        .unwrap();
        let url = format!("https://127.0.0.1:{port}");
        std::fs::write(
            d.join("client.json"),
            format!(r#"{{"trust_dir": "trust", "remote_server": {{"url": "{url}", "root_ca": "ca.crt"}}}}"#),
        )
        .unwrap();
        let log = d.join("notary-server.log");
        let child = Command::new(tool("notary-server"))
            .args(["-config", "server.json"])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut proc = Proc {
            child,
            name: "notary-server",
            log,
        };
        let ca = reqwest::Certificate::from_pem(&std::fs::read(d.join("ca.crt")).unwrap()).unwrap();
        let http = reqwest::blocking::Client::builder()
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = proc.child.try_wait() {
                panic!("notary-server exited with {s}:\n{}", proc.log_text());
            }
            if http
                .get(format!("{url}/_notary_server/health"))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "notary-server did not start:\n{}",
                proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Notary {
            dir,
            url,
            _proc: proc,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs the notary CLI as a publisher using Docker Content Trust would.
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(tool("notary"))
            .args(["-c", "client.json", "-d", "trust"])
            .args(args)
            .current_dir(self.dir.path())
            .env("NOTARY_ROOT_PASSPHRASE", "root-pass")
            .env("NOTARY_TARGETS_PASSPHRASE", "targets-pass")
            .env("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-pass")
            .env("NOTARY_DELEGATION_PASSPHRASE", "delegation-pass")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "notary {args:?}: {text}");
        text
    }

    fn sign(&self, tag: &str, hex: &str, role: Option<&str>) {
        let mut args = vec!["addhash", "-p", GUN, tag, "1234", "--sha256", hex];
        if let Some(r) = role {
            args.extend(["-r", r]);
        }
        self.cli(&args);
    }

    /// Adds the `targets/releases` delegation with a new key `name` (as `docker trust
    /// signer add` does) and imports its private key.
    fn add_releases_key(&self, name: &str) {
        ec_cert(self.dir.path(), name, &[]);
        let crt = format!("{name}.crt");
        let key = format!("{name}.key");
        self.cli(&[
            "delegation",
            "add",
            "-p",
            GUN,
            "targets/releases",
            &crt,
            "--all-paths",
        ]);
        self.cli(&["key", "import", &key, "-r", "targets/releases"]);
    }

    /// The key IDs `notary delegation list` shows for `targets/releases`.
    fn releases_key_ids(&self) -> Vec<String> {
        self.cli(&["delegation", "list", GUN])
            .split(|c: char| !c.is_ascii_hexdigit())
            .filter(|w| w.len() == 64)
            .map(str::to_string)
            .collect()
    }

    /// `taglog import notary` arguments reading this server, trusting the CLI's root.
    fn import_args(&self) -> Vec<String> {
        vec![
            "import".into(),
            "notary".into(),
            GUN.into(),
            "--notary-server".into(),
            self.url.clone(),
            "--notary-ca".into(),
            self.path("ca.crt").display().to_string(),
            "--trust-dir".into(),
            self.path("trust").display().to_string(),
        ]
    }
}

struct Setup {
    notary: Notary,
    server: Server,
    client: Client,
    key: PathBuf,
}

fn setup(allowed_prefix: &str) -> Setup {
    let p = publisher();
    let server = Server::start(
        31,
        &[(allowed_prefix.to_string(), p.verifier().to_string())],
    );
    let client = Client::new(&format!(
        "log {} {}\nquorum none\npublisher registry.test/acme {}\n",
        server.vkey(),
        server.url(),
        p.verifier()
    ));
    let key = client.path("publisher.key");
    common::write_key(&key, &p);
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
        let mut args = self.notary.import_args();
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
    n.sign("1.0", &digest('a'), None);
    n.sign("1.5", &digest('b'), None);
    n.sign("2.0", &digest('c'), None);
    n.add_releases_key("d1");
    n.sign("3.0", &digest('d'), Some("targets/releases"));
    n.sign("bad:tag", &digest('e'), None);
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
    n.sign("1.0", &digest('9'), None);
    n.sign("3.1", &digest('8'), Some("targets/releases"));
    let old = n.releases_key_ids();
    n.add_releases_key("d2");
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
    s.notary.sign("1.0", &digest('a'), None);
    s.notary.sign("2.0", &digest('b'), None);
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
        s.server.dir.path().join("publishers"),
        format!("publisher registry.test/acme {}\n", publisher().verifier()),
    )
    .unwrap();
    let pid = s.server.proc.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
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
    s.notary.sign("1.0", &digest('a'), None);

    let empty = s.client.path("empty-trust");
    let mut args = s.notary.import_args();
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
