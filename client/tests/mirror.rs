//! `taglog mirror` over HTTP, as a registry client sees it, in front of a real
//! `docker-registry` and a real `taglog-server`: a tag is served only as its verified digest
//! (exact bytes, `Docker-Content-Digest`, GET and HEAD, Accept), failures are `403 DENIED`
//! with the reason and what to do, outages `503`, bad requests `400`/`405`, blobs and
//! manifests by digest are checked (a corrupted blob aborts the transfer), a replayed old
//! binding is refused, and 64 concurrent pulls verify each tag once and never get a digest the
//! log does not bind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use taglog_proofs::note::{KeyType, SignerKey};
use taglog_testkit::cli::Cli;
use taglog_testkit::fake_http::{http_response, Recorder};
use taglog_testkit::keys;
use taglog_testkit::log_server::LogServer;
use taglog_testkit::pull::Mirror;
use taglog_testkit::registry::{image_blobs, sha256_digest, Registry, OCI_MANIFEST};

fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.test".parse().unwrap(),
        KeyType::Ed25519,
        [42; 32],
    )
}

fn policy(log_vkey: &str, log_url: &str, reg: &str) -> String {
    format!(
        "log {log_vkey} {log_url}\nquorum none\npublisher {reg}/acme {}\ninsecure-registry {reg}\n",
        publisher().verifier()
    )
}

struct Env {
    reg: Registry,
    server: LogServer,
    client: Cli,
}

impl Env {
    fn new() -> Env {
        let reg = Registry::start(None);
        let server = LogServer::seeded(
            1,
            &[(
                format!("{}/acme", reg.host()),
                publisher().verifier().to_string(),
            )],
        )
        .start();
        let client = Cli::new(&policy(&server.vkey(), &server.url, &reg.host()));
        keys::write_key(&client.path("publisher.key"), &publisher());
        Env {
            reg,
            server,
            client,
        }
    }

    fn r(&self, repo_tag: &str) -> String {
        format!("{}/acme/{repo_tag}", self.reg.host())
    }

    fn publish(&self, repo_tag: &str, extra: &[&str]) {
        let key = self.client.path("publisher.key");
        let r = self.r(repo_tag);
        let mut args = vec!["publish", r.as_str(), "--key", key.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.client.run(&args).ok();
    }

    /// A mirror with its own state directory (the same policy).
    fn mirror(&self, globals: &[&str], env: &[(&str, &str)]) -> (Mirror, Cli) {
        let c = Cli::new(&std::fs::read_to_string(&self.client.policy).unwrap());
        let m = Mirror::start(&c, globals, &[self.reg.host()], env);
        (m, c)
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn oci_error(&self) -> (String, String, serde_json::Value) {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not an OCI error ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        });
        let e = &v["errors"][0];
        (
            e["code"].as_str().unwrap().to_string(),
            e["message"].as_str().unwrap().to_string(),
            e["detail"].clone(),
        )
    }
}

fn get(m: &Mirror, method: reqwest::Method, path: &str, accept: Option<&str>) -> Answer {
    let mut req = http().request(method, format!("{}{path}", m.url()));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().unwrap();
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().map(|b| b.to_vec()).unwrap_or_default(),
    }
}

fn manifest(m: &Mirror, tag: &str) -> Answer {
    get(
        m,
        reqwest::Method::GET,
        &format!("/v2/acme/app/manifests/{tag}"),
        Some(OCI_MANIFEST),
    )
}

/// Asserts a 403 DENIED whose body names the reason and says what to do.
fn denied(a: &Answer, reason: &str, message_has: &str) {
    assert_eq!(a.status, 403, "{}", String::from_utf8_lossy(&a.body));
    let (code, message, detail) = a.oci_error();
    assert_eq!(code, "DENIED");
    assert_eq!(detail["reason"], reason, "{message}");
    assert!(message.contains(message_has), "{message}");
    assert!(message.contains("what to do:"), "{message}");
}

#[test]
fn a_tag_is_served_only_as_its_verified_digest() {
    let e = Env::new();
    let (old, old_manifest) = e.reg.push_image("acme/app", "1", "old");
    e.publish("app:1", &[]);
    let (d, bytes) = e.reg.push_image("acme/app", "1", "new");
    e.publish("app:1", &[]);
    let (m, _state) = e.mirror(&[], &[]);

    // GET: the exact bytes, with their digest.
    let a = manifest(&m, "1");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.body, bytes);
    assert_eq!(a.header("docker-content-digest"), d);
    assert_eq!(a.header("content-type"), OCI_MANIFEST);
    assert_eq!(a.header("docker-distribution-api-version"), "registry/2.0");
    // HEAD (how containerd resolves a tag): same headers, no body.
    let h = get(&m, reqwest::Method::HEAD, "/v2/acme/app/manifests/1", None);
    assert_eq!(h.status, 200);
    assert_eq!(h.header("docker-content-digest"), d);
    assert_eq!(h.header("content-length"), bytes.len().to_string());
    assert!(h.body.is_empty());
    // By digest, and its blobs.
    let by_digest = manifest(&m, &d);
    assert_eq!(
        (by_digest.status, by_digest.body.clone()),
        (200, bytes.clone())
    );
    let (layer, config) = image_blobs("new");
    for blob in [layer, config] {
        let b = get(
            &m,
            reqwest::Method::GET,
            &format!("/v2/acme/app/blobs/{}", sha256_digest(&blob)),
            None,
        );
        assert_eq!((b.status, b.body), (200, blob));
    }
    // An Accept that excludes the manifest's type.
    let n = manifest_with_accept(
        &m,
        "1",
        "application/vnd.docker.distribution.manifest.v2+json",
    );
    assert_eq!(
        (n.status, n.oci_error().0.as_str()),
        (404, "MANIFEST_UNKNOWN")
    );

    // S1: the registry serves the previous (validly signed) image for the tag.
    e.reg.put_manifest("acme/app", "1", &old_manifest);
    denied(&manifest(&m, "1"), "digest-mismatch", &old);
    let h = get(&m, reqwest::Method::HEAD, "/v2/acme/app/manifests/1", None);
    assert_eq!(h.status, 403, "HEAD is refused too");
    // S2: another repository's image.
    e.reg.push_image("acme/other", "1", "other");
    e.publish("other:1", &[]);
    let (layer, config) = image_blobs("other");
    let m2 = e.reg.push_blobs_for("acme/app", &layer, &config);
    let other = e.reg.put_manifest("acme/app", "1", &m2);
    denied(&manifest(&m, "1"), "digest-mismatch", &other);
    // S5: withdrawn.
    e.reg.push_image("acme/app", "w", "withdrawn");
    e.publish("app:w", &[]);
    e.publish("app:w", &["--withdraw"]);
    denied(&manifest(&m, "w"), "withdrawn", "withdrawn");
    // Never bound, and not covered by the policy.
    e.reg.push_image("acme/app", "never", "never");
    denied(&manifest(&m, "never"), "unbound", "not bound");
    e.reg.push_image("elsewhere/app", "1", "elsewhere");
    let a = get(
        &m,
        reqwest::Method::GET,
        "/v2/elsewhere/app/manifests/1",
        Some(OCI_MANIFEST),
    );
    denied(&a, "not-covered", "elsewhere/app");

    // Requests the mirror does not serve.
    for (method, path, status, code) in [
        (
            reqwest::Method::PUT,
            "/v2/acme/app/manifests/1",
            405,
            "UNSUPPORTED",
        ),
        (
            reqwest::Method::DELETE,
            "/v2/acme/app/blobs/sha256:00",
            405,
            "UNSUPPORTED",
        ),
        (reqwest::Method::GET, "/v2/_catalog", 405, "UNSUPPORTED"),
        (
            reqwest::Method::GET,
            "/v2/acme/app/tags/list",
            405,
            "UNSUPPORTED",
        ),
        (
            reqwest::Method::GET,
            "/v2/Acme/app/manifests/1",
            400,
            "NAME_INVALID",
        ),
        (
            reqwest::Method::GET,
            "/v2/acme/app/blobs/sha256:xyz",
            400,
            "DIGEST_INVALID",
        ),
        (
            reqwest::Method::GET,
            "/v2/acme/app/manifests/1?ns=169.254.169.254",
            400,
            "NAME_UNKNOWN",
        ),
    ] {
        let a = get(&m, method.clone(), path, None);
        assert_eq!(a.status, status, "{method} {path}");
        assert_eq!(a.oci_error().0, code, "{method} {path}");
    }
    let long = format!("/v2/{}/manifests/1", "a/".repeat(700));
    assert_eq!(get(&m, reqwest::Method::GET, &long, None).status, 400);
    assert_eq!(get(&m, reqwest::Method::GET, "/healthz", None).status, 200);
    assert!(m.metric("taglog_denials_total{reason=\"digest-mismatch\"}") >= 2);

    // The log goes down: a tag not in the cache is 503, never served.
    e.reg.push_image("acme/app", "late", "late");
    e.publish("app:late", &[]);
    let (reg, client) = (e.reg, e.client);
    drop(e.server);
    let a = manifest(&m, "late");
    assert_eq!(a.status, 503, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.oci_error().0, "UNAVAILABLE");
    // The registry goes down too.
    drop(reg);
    let a = manifest(&m, "1");
    assert_eq!(a.status, 503);
    drop(client);
}

fn manifest_with_accept(m: &Mirror, tag: &str, accept: &str) -> Answer {
    get(
        m,
        reqwest::Method::GET,
        &format!("/v2/acme/app/manifests/{tag}"),
        Some(accept),
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

#[test]
fn content_that_does_not_match_its_digest_is_not_served() {
    let e = Env::new();
    // A large layer (several chunks) passes intact.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let big_digest = e.reg.push_blob("acme/app", &big);
    let (m, _state) = e.mirror(&[], &[]);
    let path = format!("/v2/acme/app/blobs/{big_digest}");
    let a = get(&m, reqwest::Method::GET, &path, None);
    assert_eq!(a.status, 200);
    assert_eq!(sha256_digest(&a.body), big_digest);
    let h = get(&m, reqwest::Method::HEAD, &path, None);
    assert_eq!(h.header("content-length"), big.len().to_string());

    // The registry's copy is corrupted (same length, one byte changed): the transfer aborts.
    let file = blob_file(&e.reg, &big_digest);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[big.len() / 2] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let resp = http().get(format!("{}{path}", m.url())).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200, "headers go out before the end");
    let body = resp.bytes();
    assert!(
        body.as_ref().map_or(true, |b| b.len() < big.len()),
        "the client must not receive every byte of a corrupted blob"
    );
    assert_eq!(m.metric("taglog_mirror_aborted_transfers_total"), 1);

    // A manifest by digest whose stored bytes were altered is not served (the registry
    // itself fails on it here) ...
    let (d, _) = e.reg.push_image("acme/app", "m", "manifest");
    let file = blob_file(&e.reg, &d);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 2;
    bytes[last] = b' ';
    std::fs::write(&file, &bytes).unwrap();
    assert_ne!(manifest(&m, &d).status, 200);
    // ... and a registry that answers a digest with other bytes (and no digest header) gets
    // them refused by the mirror's own check.
    let wanted = format!("sha256:{}", "ab".repeat(32));
    let lying = Recorder::start(|_| {
        http_response(
            "200 OK",
            &[("Content-Type", OCI_MANIFEST)],
            b"{\"schemaVersion\":2}",
        )
    });
    let c = Cli::new(&format!(
        "{}insecure-registry {}\n",
        policy(&e.server.vkey(), &e.server.url, &e.reg.host()),
        lying.host()
    ));
    let lm = Mirror::start(&c, &[], &[lying.host()], &[]);
    let a = manifest(&lm, &wanted);
    assert_eq!(a.status, 502, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.oci_error().0, "DIGEST_INVALID");
}

#[test]
fn a_replayed_old_binding_is_refused() {
    let e = Env::new();
    let (old, old_manifest) = e.reg.push_image("acme/app", "v1", "a");
    e.publish("app:v1", &[]);
    let saved = e.client.path("old.json");
    e.client
        .run(&["bundle", &e.r("app:v1"), "-o", saved.to_str().unwrap()])
        .ok();
    let old_bundle = std::fs::read(&saved).unwrap();
    e.reg.push_image("acme/app", "v1", "b");
    e.publish("app:v1", &[]);

    // A stateful mirror that has served the new binding.
    let (m, _state) = e.mirror(&[], &[]);
    assert_eq!(manifest(&m, "v1").status, 200);
    drop(m);
    // An attacker now replays the old binding (a log answering /lookup with the old bundle)
    // and the old image (the registry's tag).
    let replay = Recorder::start(move |r| {
        if r.target.starts_with("/lookup") {
            http_response(
                "200 OK",
                &[("Content-Type", "application/json")],
                &old_bundle,
            )
        } else {
            http_response("404 Not Found", &[], b"")
        }
    });
    e.reg.put_manifest("acme/app", "v1", &old_manifest);
    let replay_url = format!("http://{}", replay.host());
    let state_dir = _state;
    let m = Mirror::start(&state_dir, &["--log", &replay_url], &[e.reg.host()], &[]);
    denied(&manifest(&m, "v1"), "stale-view", "stale view");
    // A fresh mirror accepts it within max-age (the window DESIGN §1 S3 allows) ...
    let (fresh, _f) = e.mirror(&["--log", &replay_url], &[]);
    let a = manifest(&fresh, "v1");
    assert_eq!(
        (a.status, a.header("docker-content-digest")),
        (200, old.as_str())
    );
    // ... and refuses it once every signature is older than max-age (1 h).
    let later = (taglog_testkit::now() + 3600 + 400).to_string();
    let (late, _l) = e.mirror(&["--log", &replay_url], &[("TAGLOG_TEST_NOW", &later)]);
    denied(&manifest(&late, "v1"), "stale-checkpoint", "stale");
}

#[test]
fn concurrent_pulls_verify_each_tag_once_and_never_get_an_unbound_digest() {
    let e = Env::new();
    let mut bound = Vec::new();
    for i in 0..4 {
        let (d, _) = e
            .reg
            .push_image("acme/app", &format!("t{i}"), &format!("seed{i}"));
        e.publish(&format!("app:t{i}"), &[]);
        bound.push(d);
    }
    let (m, _state) = e.mirror(&[], &[]);
    let url = m.url();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(65));
    let threads: Vec<_> = (0..64)
        .map(|i| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let c = http();
                barrier.wait();
                let mut seen = Vec::new();
                for _ in 0..5 {
                    let r = c
                        .get(format!("{url}/v2/acme/app/manifests/t{}", i % 4))
                        .header("accept", OCI_MANIFEST)
                        .send()
                        .unwrap();
                    let status = r.status().as_u16();
                    let header = r
                        .headers()
                        .get("docker-content-digest")
                        .map(|v| v.to_str().unwrap().to_string());
                    let body = r.bytes().unwrap().to_vec();
                    seen.push((status, header, sha256_digest(&body)));
                }
                (i % 4, seen)
            })
        })
        .collect();
    barrier.wait();
    // While they pull, the registry moves t0 to an image nobody bound.
    std::thread::sleep(Duration::from_millis(20));
    let (unbound, _) = e.reg.push_image("acme/app", "t0", "unbound");
    let mut served = 0;
    for t in threads {
        let (tag, seen) = t.join().unwrap();
        for (status, header, body_digest) in seen {
            match status {
                200 => {
                    served += 1;
                    assert_eq!(header.as_deref(), Some(bound[tag].as_str()));
                    assert_eq!(body_digest, bound[tag]);
                }
                403 => assert_eq!(tag, 0, "only the moved tag may be refused"),
                other => panic!("status {other}"),
            }
            assert_ne!(body_digest, unbound);
        }
    }
    assert!(served >= 3 * 64 / 4 * 5, "{served}");
    assert_eq!(
        m.metric("taglog_log_checks_total"),
        4,
        "one verification per tag within the cache lifetime"
    );
    // After the move, t0 is refused.
    denied(&manifest(&m, "t0"), "digest-mismatch", &unbound);
}
