//! `taglog-containerd-verifier` invoked exactly as containerd 2.x's `bindir` image verifier
//! invokes it (`pkg/imageverifier/bindir`): a program in `bin_dir` (the shipped wrapper
//! `deploy/containerd/taglog-verifier.sh`) run as `-name <ref> -digest <digest> -stdin-media-type
//! application/vnd.oci.descriptor.v1+json`, the descriptor JSON (plus Go's trailing newline)
//! written to stdin, at most 32 KiB of stdout read as the reason, exit 0 = pull. Against a real
//! `taglog-server`, `taglog-witness` and `docker-registry`: current, replayed (old image and
//! old log answer), withdrawn, unknown, uncovered, unavailable and malformed inputs; a
//! malformed call, a replayed log answer and an outage leave `state.json` byte-identical.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod frontends;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use frontends::Env;
use taglog_testkit::fake_http::{fake_http, http_response};

/// containerd's `outputLimitBytes`.
const OUTPUT_LIMIT: usize = 32 * 1024;
/// containerd's default `per_verifier_timeout`.
const PER_VERIFIER_TIMEOUT: Duration = Duration::from_secs(10);
const DESCRIPTOR_TYPE: &str = "application/vnd.oci.descriptor.v1+json";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// What containerd sees of one verifier run.
#[derive(Debug)]
struct Judged {
    code: i32,
    reason: String,
}

impl Judged {
    fn allowed(&self, has: &str) -> &Judged {
        assert_eq!(self.code, 0, "expected an allowed pull: {self:?}");
        assert!(self.reason.contains(has), "reason lacks {has:?}: {self:?}");
        self
    }

    fn refused(&self, code: i32, has: &str) -> &Judged {
        assert_eq!(self.code, code, "expected exit {code}: {self:?}");
        assert!(self.reason.starts_with("taglog: refused: "), "{self:?}");
        assert!(self.reason.contains(has), "reason lacks {has:?}: {self:?}");
        self
    }
}

/// The shipped install: `deploy/containerd/taglog-verifier.sh` in a `bin_dir`, with its paths
/// moved to the test's and `extra` flags added before containerd's arguments.
fn install(env: &Env, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let shipped =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/containerd/taglog-verifier.sh");
    let text = std::fs::read_to_string(shipped).unwrap();
    let flags: String = extra.iter().map(|e| format!("'{e}' ")).collect();
    let text = text
        .replace(
            "/usr/local/bin/taglog-containerd-verifier",
            env!("CARGO_BIN_EXE_taglog-containerd-verifier"),
        )
        .replace("/etc/taglog/policy", env.client.policy.to_str().unwrap())
        .replace(
            "/var/lib/taglog/containerd",
            env.client.state.to_str().unwrap(),
        )
        .replace("\"$@\"", &format!("{flags}\"$@\""));
    assert!(text.contains(env.client.state.to_str().unwrap()), "{text}");
    let bin_dir = tempfile::tempdir().unwrap();
    let script = bin_dir.path().join("taglog");
    std::fs::write(&script, text).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin_dir, script)
}

fn descriptor(digest: &str, size: usize) -> Vec<u8> {
    format!("{{\"mediaType\":\"{MANIFEST_TYPE}\",\"digest\":\"{digest}\",\"size\":{size}}}\n")
        .into_bytes()
}

/// Runs the verifier as containerd does, with `args` and `stdin`.
fn run_raw(bin: &Path, args: &[&str], stdin: Vec<u8>, home: &Path) -> Judged {
    let mut child = Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // containerd writes stdin from another goroutine and ignores a broken pipe.
    let mut w = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&stdin);
    });
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .take(OUTPUT_LIMIT as u64 + 1)
        .read_to_end(&mut stdout)
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > PER_VERIFIER_TIMEOUT {
            let _ = child.kill();
            panic!("the verifier ran past containerd's per_verifier_timeout");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    writer.join().unwrap();
    assert!(
        stdout.len() <= OUTPUT_LIMIT,
        "stdout past containerd's limit"
    );
    let reason = String::from_utf8(stdout).unwrap();
    assert_eq!(reason.matches('\n').count(), 1, "one line: {reason:?}");
    Judged {
        code: status.code().unwrap_or(-1),
        reason: reason.trim().to_string(),
    }
}

/// Runs the verifier exactly as containerd would for `name` at `digest`.
fn containerd(bin: &Path, env: &Env, name: &str, digest: &str) -> Judged {
    let args = [
        "-name",
        name,
        "-digest",
        digest,
        "-stdin-media-type",
        DESCRIPTOR_TYPE,
    ];
    run_raw(bin, &args, descriptor(digest, 512), env.client.dir.path())
}

#[test]
fn current_replayed_withdrawn_and_unknown() {
    let env = Env::new();
    let (_dir, bin) = install(&env, &[]);
    // Current: the digest the log binds, cosigned by the witness.
    let a = env.push_and_publish("app", "1", "a1");
    containerd(&bin, &env, &env.r("app:1"), &a)
        .allowed(&format!(
            "{} -> {a}: the current binding (version 1)",
            env.r("app:1")
        ))
        .allowed("cosigned by w1");
    // Replayed image (S1): the registry still serves the previous image for the tag.
    let b = env.push_and_publish("app", "1", "b1");
    containerd(&bin, &env, &env.r("app:1"), &a).refused(1, &b);
    containerd(&bin, &env, &env.r("app:1"), &b).allowed("version 2");
    // Another repository's image (S2) under this tag.
    let other = env.push_and_publish("other", "1", "o1");
    containerd(&bin, &env, &env.r("app:1"), &other).refused(1, "digest");
    // Withdrawn (S5).
    let w = env.push_and_publish("gone", "1", "g1");
    env.publish("gone:1", &["--withdraw"]);
    containerd(&bin, &env, &env.r("gone:1"), &w).refused(1, "[withdrawn]");
    // Unknown: a covered tag nobody bound, and a reference no publisher line covers.
    containerd(&bin, &env, &env.r("app:never"), &a).refused(1, "[unbound]");
    let uncovered = format!("{}/elsewhere/app:1", env.reg.host());
    containerd(&bin, &env, &uncovered, &a).refused(2, "[not-covered]");
    let (_d2, open) = install(&env, &["-uncovered", "allow"]);
    containerd(&open, &env, &uncovered, &a).allowed("not covered by the policy");
    containerd(&open, &env, &env.r("gone:1"), &w).refused(1, "withdrawn");
    // By digest: content-addressed in a covered repository; the digests must agree.
    let by_digest = format!("{}@{b}", env.r("app"));
    containerd(&bin, &env, &by_digest, &b).allowed("reference by digest");
    containerd(&bin, &env, &by_digest, &a).refused(2, "disagree");
    containerd(&bin, &env, &format!("{}@{b}", env.r("app:1")), &b).allowed("version 2");
    containerd(&bin, &env, &format!("{}@{a}", env.r("app:1")), &a).refused(1, &b);
}

#[test]
fn a_replayed_log_answer_is_refused() {
    let env = Env::new();
    let (_dir, bin) = install(&env, &[]);
    let a = env.push_and_publish("app", "r", "ra");
    // Record the log's answer while `a` is current: what a replaying mirror would keep.
    let lookup = format!(
        "{}/lookup?ref={}",
        env.server.url,
        env.r("app:r").replace(':', "%3A").replace('/', "%2F")
    );
    let old = reqwest::blocking::get(&lookup).unwrap();
    assert_eq!(old.status().as_u16(), 200);
    let old = old.bytes().unwrap().to_vec();
    containerd(&bin, &env, &env.r("app:r"), &a).allowed("version 1");
    // The tag moves; this node verifies the new binding and so learns the newer checkpoint.
    let b = env.push_and_publish("app", "r", "rb");
    containerd(&bin, &env, &env.r("app:r"), &b).allowed("version 2");
    // A log (or a mirror of it) that replays the old answer with the old image (S3).
    let replay = fake_http(http_response(
        "200 OK",
        &[("content-type", "application/json")],
        &old,
    ));
    let (_d2, replaying) = install(&env, &["-log", &format!("http://127.0.0.1:{replay}")]);
    let before = env.state();
    containerd(&replaying, &env, &env.r("app:r"), &a).refused(1, "[stale-view]");
    assert_eq!(env.state(), before, "a replay changed state.json");
}

#[test]
fn malformed_calls_change_nothing() {
    let env = Env::new();
    let (_dir, bin) = install(&env, &[]);
    let a = env.push_and_publish("app", "m", "ma");
    containerd(&bin, &env, &env.r("app:m"), &a).allowed("version 1");
    let before = env.state();
    let home = env.client.dir.path();
    let name = env.r("app:m");
    let call = |args: &[&str], stdin: Vec<u8>| run_raw(&bin, args, stdin, home);
    let std_args = |media: &'static str, digest: &str| -> Vec<String> {
        [
            "-name",
            &name,
            "-digest",
            digest,
            "-stdin-media-type",
            media,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let other = format!("sha256:{}", "3".repeat(64));
    let cases: Vec<(Vec<String>, Vec<u8>, &str)> = vec![
        (
            std_args("application/json", &a),
            descriptor(&a, 1),
            "-stdin-media-type",
        ),
        (
            std_args(DESCRIPTOR_TYPE, "sha256:abc"),
            descriptor(&a, 1),
            "-digest",
        ),
        (
            std_args(DESCRIPTOR_TYPE, "withdrawn"),
            descriptor(&a, 1),
            "-digest",
        ),
        (
            std_args(DESCRIPTOR_TYPE, &a),
            descriptor(&other, 1),
            "names",
        ),
        (
            std_args(DESCRIPTOR_TYPE, &a),
            b"not json".to_vec(),
            "not an OCI descriptor",
        ),
        (std_args(DESCRIPTOR_TYPE, &a), Vec::new(), "descriptor"),
        (
            std_args(DESCRIPTOR_TYPE, &a),
            {
                let mut big = descriptor(&a, 1);
                big.resize(256 * 1024, b' ');
                big
            },
            "larger than",
        ),
        (
            vec!["-name".into(), name.clone(), "-digest".into(), a.clone()],
            descriptor(&a, 1),
            "-stdin-media-type is missing",
        ),
        (
            {
                let mut v = std_args(DESCRIPTOR_TYPE, &a);
                v.extend(["-verbose".to_string(), "1".to_string()]);
                v
            },
            descriptor(&a, 1),
            "unknown flag",
        ),
        (
            {
                let mut v = std_args(DESCRIPTOR_TYPE, &a);
                v[1] = "UPPER/Case:1".into();
                v
            },
            descriptor(&a, 1),
            "-name",
        ),
    ];
    for (args, stdin, has) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        call(&args, stdin).refused(2, has);
    }
    assert_eq!(env.state(), before, "a malformed call changed state.json");
}

#[test]
fn an_unavailable_or_silent_log_blocks_the_pull() {
    let env = Env::new();
    let a = env.push_and_publish("app", "u", "ua");
    let before = env.state();
    let dead = taglog_testkit::closed_port();
    let (_d1, down) = install(&env, &["-log", &format!("http://127.0.0.1:{dead}")]);
    containerd(&down, &env, &env.r("app:u"), &a).refused(3, "log");
    // A log that accepts the connection and never answers: the verifier's own deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (_d2, slow) = install(
        &env,
        &[
            "-log",
            &format!("http://127.0.0.1:{port}"),
            "-timeout",
            "1s",
        ],
    );
    containerd(&slow, &env, &env.r("app:u"), &a).refused(3, "no verdict within 1s");
    drop(silent);
    assert_eq!(env.state(), before);
}
