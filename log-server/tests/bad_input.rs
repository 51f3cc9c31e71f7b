//! Every bad input of issue 3 gets a clear error and leaves tree size, root and checkpoint
//! unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::b64;
use taglog_proofs::note::sign_note;
use taglog_testkit::bindings::binding;
use taglog_testkit::http::client;
use taglog_testkit::keys::{publisher, stranger};
use taglog_testkit::log_server::{add_binding, checkpoint, get, LogServer, ORIGIN, PREFIX};
use taglog_testkit::tempdir;

const REF: &str = "registry.example/acme/app:1.0";
const DIGEST: &str = "sha256:0101010101010101010101010101010101010101010101010101010101010101";

fn text(log: &str, reference: &str, digest: &str, version: &str, time: &str) -> String {
    format!("taglog/v1/binding\nlog {log}\nref {reference}\ndigest {digest}\nversion {version}\ntime {time}\n")
}

fn signed(t: &str) -> Vec<u8> {
    sign_note(t, &[&publisher()]).unwrap()
}

/// Flips one bit inside the signature (keeping the base64 canonical).
fn corrupt_signature(note: &[u8]) -> Vec<u8> {
    let s = String::from_utf8(note.to_vec()).unwrap();
    let (body, sigline) = s.trim_end().rsplit_once('\n').unwrap();
    let (prefix, sig) = sigline.rsplit_once(' ').unwrap();
    let mut raw = b64::decode(sig).unwrap();
    raw[10] ^= 1;
    format!("{body}\n{prefix} {}\n", b64::encode(raw)).into_bytes()
}

async fn assert_unchanged(c: &reqwest::Client, url: &str, before: &[u8], what: &str) {
    let after = checkpoint(c, url).await;
    assert_eq!(after, before, "checkpoint changed after {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_change_nothing() {
    let dir = tempdir();
    let server = LogServer::start(dir.path(), &[]);
    let c = client();
    let url = server.url.clone();
    // Two good versions first, so stale and equal versions and replays can be tried.
    let v1 = binding(&publisher(), REF, 1, 1);
    let (s, b1) = add_binding(&c, &url, v1.clone()).await;
    assert_eq!(s, 200, "{b1}");
    let (s, b2) = add_binding(&c, &url, binding(&publisher(), REF, 2, 2)).await;
    assert_eq!(s, 200, "{b2}");
    let v1_index = b1["binding"]["index"].as_u64().unwrap();
    let before = checkpoint(&c, &url).await;

    let good = |log: &str, r: &str, d: &str, v: &str, t: &str| signed(&text(log, r, d, v, t));
    let mut two_sigs = sign_note(
        &text(ORIGIN, REF, DIGEST, "3", "1"),
        &[&publisher(), &stranger()],
    )
    .unwrap();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty body", Vec::new(), 400, "malformed"),
        ("not a note", b"hello\n".to_vec(), 400, "malformed"),
        (
            "unsigned text",
            text(ORIGIN, REF, DIGEST, "3", "1").into_bytes(),
            400,
            "malformed",
        ),
        (
            "bad header line",
            signed(
                &text(ORIGIN, REF, DIGEST, "3", "1")
                    .replace("taglog/v1/binding", "taglog/v2/binding"),
            ),
            400,
            "malformed",
        ),
        (
            "missing log line",
            signed(&text(ORIGIN, REF, DIGEST, "3", "1").replace(&format!("log {ORIGIN}\n"), "")),
            400,
            "malformed",
        ),
        (
            "other log",
            good("other.example/log", REF, DIGEST, "3", "1"),
            400,
            "wrong_log",
        ),
        (
            "non-canonical ref",
            good(ORIGIN, "Registry.example/acme/app:1.0", DIGEST, "3", "1"),
            400,
            "malformed",
        ),
        (
            "ref without tag",
            good(ORIGIN, "registry.example/acme/app", DIGEST, "3", "1"),
            400,
            "malformed",
        ),
        (
            "uppercase digest",
            good(ORIGIN, REF, &DIGEST.replace("01", "0A"), "3", "1"),
            400,
            "malformed",
        ),
        (
            "short digest",
            good(ORIGIN, REF, "sha256:0101", "3", "1"),
            400,
            "malformed",
        ),
        (
            "version leading zero",
            good(ORIGIN, REF, DIGEST, "03", "1"),
            400,
            "malformed",
        ),
        (
            "version zero",
            good(ORIGIN, REF, DIGEST, "0", "1"),
            400,
            "malformed",
        ),
        (
            "version too large",
            good(ORIGIN, REF, DIGEST, "9223372036854775808", "1"),
            400,
            "malformed",
        ),
        (
            "time leading zero",
            good(ORIGIN, REF, DIGEST, "3", "01"),
            400,
            "malformed",
        ),
        (
            "extra line",
            signed(&format!("{}extra 1\n", text(ORIGIN, REF, DIGEST, "3", "1"))),
            400,
            "malformed",
        ),
        (
            "double space",
            signed(&text(ORIGIN, REF, DIGEST, "3", "1").replace("version 3", "version  3")),
            400,
            "malformed",
        ),
        (
            "CRLF",
            signed(&text(ORIGIN, REF, DIGEST, "3", "1"))
                .iter()
                .flat_map(|b| {
                    if *b == b'\n' {
                        vec![b'\r', b'\n']
                    } else {
                        vec![*b]
                    }
                })
                .collect(),
            400,
            "malformed",
        ),
        (
            "wrong signature",
            corrupt_signature(&good(ORIGIN, REF, DIGEST, "3", "1")),
            403,
            "bad_signature",
        ),
        (
            "second signature line",
            std::mem::take(&mut two_sigs),
            400,
            "malformed",
        ),
        (
            "unknown key",
            binding(&stranger(), REF, 3, 3),
            403,
            "unknown_key",
        ),
        (
            "ref outside prefix",
            binding(&publisher(), "registry.example/other/app:1", 1, 1),
            403,
            "ref_not_allowed",
        ),
        (
            "ref prefix not by component",
            binding(&publisher(), "registry.example/acmeco/app:1", 1, 1),
            403,
            "ref_not_allowed",
        ),
        (
            "stale version",
            binding(&publisher(), REF, 1, 9),
            409,
            "version_conflict",
        ),
        (
            "equal version",
            binding(&publisher(), REF, 2, 9),
            409,
            "version_conflict",
        ),
        (
            "version jump",
            binding(&publisher(), REF, 4, 9),
            409,
            "version_conflict",
        ),
        (
            "first version above 2^32",
            binding(
                &publisher(),
                "registry.example/acme/new:1",
                (1 << 32) + 1,
                1,
            ),
            409,
            "version_conflict",
        ),
    ];
    let count = cases.len();
    for (what, body, status, code) in cases {
        let (s, b) = add_binding(&c, &url, body).await;
        assert_eq!(s, status, "{what}: {b}");
        assert_eq!(b["error"], code, "{what}: {b}");
        assert!(
            b["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: no detail"
        );
        if status == 409 {
            assert!(b["expected_version"].is_u64(), "{what}: {b}");
        }
        assert_unchanged(&c, &url, &before, what).await;
    }
    assert_eq!(count, 26);

    // Oversized body: 413.
    // (A fresh client: the server closes the connection without reading the body.)
    let (s, b) = add_binding(&client(), &url, vec![b'a'; 64 * 1024 + 1]).await;
    assert_eq!(s, 413, "{b}");
    assert_eq!(b["error"], "too_large");
    assert_unchanged(&c, &url, &before, "oversized body").await;

    // Wrong content type.
    let r = c
        .post(format!("{url}/add-binding"))
        .header("content-type", "application/json")
        .body(binding(&publisher(), REF, 3, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let b: serde_json::Value = r.json().await.unwrap();
    assert_eq!(b["error"], "content_type");
    assert_unchanged(&c, &url, &before, "wrong content type").await;

    // Replay: same index, no new leaf, and superseded_by names version 2.
    let (s, b) = add_binding(&c, &url, v1).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["index"].as_u64(), Some(v1_index));
    assert_eq!(b["superseded_by"]["version"], 2);
    assert_unchanged(&c, &url, &before, "replay").await;

    // Read parameters out of range or malformed.
    let size = std::str::from_utf8(&before)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let reads = [
        ("/tile/0/999".to_string(), 404),
        ("/tile/entries/001".to_string(), 404),
        (format!("/tile/0/000.p/{}", size + 1), 404),
        ("/tile/0/0001".to_string(), 400),
        ("/tile/0/000.p/0".to_string(), 400),
        ("/tile/0/000.p/256".to_string(), 400),
        ("/tile/x/000".to_string(), 400),
        (format!("/proof?index={size}&size={size}"), 400),
        (format!("/proof?index=0&size={}", size + 1), 400),
        ("/proof?index=01&size=2".to_string(), 400),
        ("/proof?index=-1&size=2".to_string(), 400),
        ("/proof?size=2".to_string(), 400),
        ("/consistency?old=3&new=2".to_string(), 400),
        (format!("/consistency?old=1&new={}", size + 1), 400),
        ("/lookup?ref=Registry.example/acme/app:1.0".to_string(), 400),
        ("/lookup".to_string(), 400),
        (
            "/history?ref=registry.example/acme/app:1.0&cursor=01".to_string(),
            400,
        ),
        (format!("/lookup?ref={REF}&since={}", size + 100), 503),
    ];
    for (path, status) in &reads {
        let (s, b) = get(&c, &url, path).await;
        assert_eq!(s, *status, "{path}: {}", String::from_utf8_lossy(&b));
        if *status != 404 || path.starts_with("/proof") {
            let v: serde_json::Value =
                serde_json::from_slice(&b).unwrap_or_else(|_| panic!("{path}: not JSON"));
            assert!(v["error"].is_string(), "{path}");
        }
    }
    assert_unchanged(&c, &url, &before, "bad reads").await;
    // Valid reads still work.
    assert_eq!(
        get(&c, &url, &format!("/proof?index=0&size={size}"))
            .await
            .0,
        200
    );
    assert_eq!(
        get(&c, &url, &format!("/consistency?old=1&new={size}"))
            .await
            .0,
        200
    );
    assert_eq!(get(&c, &url, "/healthz").await.0, 200);
    let (s, m) = get(&c, &url, "/metrics").await;
    assert_eq!(s, 200);
    assert!(String::from_utf8(m)
        .unwrap()
        .contains("taglog_submissions_total{outcome=\"malformed\"}"));
}

/// Per-key quota: a key past its burst gets 429 `quota_exceeded` with `Retry-After` and the
/// checkpoint stays put; replays of logged entries cost nothing; another allowlisted key has
/// its own bucket.
#[tokio::test(flavor = "multi_thread")]
async fn per_key_quota_answers_429_and_changes_nothing() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("publishers.txt"),
        format!(
            "publisher {PREFIX} {}\npublisher {PREFIX} {}\n",
            publisher().verifier(),
            stranger().verifier()
        ),
    )
    .unwrap();
    // One binding per hour after a burst of two: the test cannot race a refill.
    let server = LogServer::start(
        dir.path(),
        &["--publisher-rate", "1/h", "--publisher-burst", "2"],
    );
    let c = client();
    let url = server.url.clone();
    let first = binding(&publisher(), "registry.example/acme/a:1", 1, 1);
    for (i, body) in [
        first.clone(),
        binding(&publisher(), "registry.example/acme/b:1", 1, 2),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, b) = add_binding(&c, &url, body).await;
        assert_eq!(s, 200, "binding {i} within the burst: {b}");
    }
    let before = checkpoint(&c, &url).await;
    let r = c
        .post(format!("{url}/add-binding"))
        .header("content-type", "text/plain")
        .body(binding(&publisher(), "registry.example/acme/c:1", 1, 3))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3601).contains(&retry), "Retry-After {retry}");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "quota_exceeded", "{v}");
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("publisher.example/acme"),
        "{v}"
    );
    assert_unchanged(&c, &url, &before, "a submission over quota").await;
    // A replay of a logged entry is answered from the index, quota or not.
    let (s, b) = add_binding(&c, &url, first).await;
    assert_eq!(
        (s, &b["duplicate"]),
        (200, &serde_json::Value::Bool(true)),
        "{b}"
    );
    assert_unchanged(&c, &url, &before, "a replay over quota").await;
    // Another key is not affected.
    let (s, b) = add_binding(
        &c,
        &url,
        binding(&stranger(), "registry.example/acme/d:1", 1, 4),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, m) = get(&c, &url, "/metrics").await;
    assert!(String::from_utf8(m)
        .unwrap()
        .contains("taglog_submissions_total{outcome=\"quota_exceeded\"} 1"));
}
