//! Bad input and unavailable services: malformed references, policies and bundles, registry
//! misbehaviour (404, 401 without a token endpoint, a body that does not match its
//! `Docker-Content-Digest`, an oversized manifest), basic auth against an htpasswd registry,
//! and unreachable services. Each exits 2 or 3 with a clear message and leaves the state as it
//! was.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::note::{KeyType, SignerKey};
use taglog_testkit::cli::Cli;
use taglog_testkit::closed_port;
use taglog_testkit::fake_http::{fake_http, fake_http_with};
use taglog_testkit::keys;
use taglog_testkit::log_server::LogServer;
use taglog_testkit::registry::{sha256_digest, Registry};

fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.test".parse().unwrap(),
        KeyType::Ed25519,
        [42; 32],
    )
}

fn policy(log_vkey: &str, log_url: &str, host: &str) -> String {
    format!(
        "log {log_vkey} {log_url}\nquorum none\npublisher {host}/acme {}\ninsecure-registry {host}\n",
        publisher().verifier()
    )
}

fn dummy_log() -> SignerKey {
    SignerKey::from_seed(
        "log.test/taglog".parse().unwrap(),
        KeyType::Ed25519,
        [1; 32],
    )
}

#[test]
fn malformed_references_policies_and_bundles_are_usage_errors() {
    let c = Cli::new(&policy(
        &dummy_log().verifier().to_string(),
        "http://127.0.0.1:9",
        "127.0.0.1:5000",
    ));
    c.run(&["verify", "Bad Ref!"])
        .code(2)
        .stderr_has("not a tag reference");
    c.run(&["verify", "127.0.0.1:5000/acme/app@sha256:00"])
        .code(2);
    c.run(&["verify", "registry.example/other/app:1"])
        .code(2)
        .stderr_has("no `publisher` line covers");
    c.run(&["verify", "127.0.0.1:5000/acme/app:1", "--offline"])
        .code(2)
        .stderr_has("--bundle");
    c.run(&["verify", "127.0.0.1:5000/acme/app:1", "--digest", "md5:00"])
        .code(2);
    c.run(&[
        "verify",
        "127.0.0.1:5000/acme/app:1",
        "--accept-stale",
        "forever",
    ])
    .code(2);
    let bad = c.path("bad.json");
    std::fs::write(&bad, br#"{"ref": "x", "ref": "y"}"#).unwrap();
    c.run(&[
        "verify",
        "127.0.0.1:5000/acme/app:1",
        "--offline",
        "--bundle",
        bad.to_str().unwrap(),
    ])
    .code(2)
    .stderr_has("twice");
    let j = c.run(&["verify", "Bad Ref!", "--json"]);
    assert_eq!(j.code(2).json()["result"], "error");
    // Policy errors name the line.
    let bad_policy = Cli::new("log nonsense\nquorum none\n");
    bad_policy
        .run(&["verify", "127.0.0.1:5000/acme/app:1"])
        .code(2)
        .stderr_has("line 1");
    let no_policy = Cli::new("");
    std::fs::remove_file(&no_policy.policy).unwrap();
    no_policy
        .run(&["verify", "127.0.0.1:5000/acme/app:1"])
        .code(2)
        .stderr_has("write a policy");
    // policy tools
    c.run(&["policy", "check"]).ok().stderr_has("");
    let check = c.run(&["policy", "check"]);
    assert!(check.stdout.contains("quorum none"), "{check:?}");
    let export = c.run(&["policy", "export-c2sp"]);
    assert!(export.ok().stdout.contains("quorum none") && !export.stdout.contains("publisher"));
    assert!(c.state_bytes().is_empty(), "nothing was written");
}

#[test]
fn keygen_writes_a_private_key_file() {
    let c = Cli::new("");
    let k = c.path("k.key");
    let r = c.run(&[
        "keygen",
        "--name",
        "publisher.example",
        "-o",
        k.to_str().unwrap(),
    ]);
    assert!(r.ok().stdout.starts_with("publisher.example+"));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&k).unwrap().permissions().mode() & 0o777,
        0o600
    );
    c.run(&[
        "keygen",
        "--name",
        "publisher.example",
        "-o",
        k.to_str().unwrap(),
    ])
    .code(2);
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let c2 = Cli::new(&policy(
        &dummy_log().verifier().to_string(),
        "http://127.0.0.1:9",
        "127.0.0.1:5000",
    ));
    c2.run(&[
        "publish",
        "127.0.0.1:5000/acme/a:1",
        "--key",
        k.to_str().unwrap(),
        "--digest",
        &format!("sha256:{}", "0".repeat(64)),
    ])
    .code(2)
    .stderr_has("chmod 600");
}

#[test]
fn unavailable_services_exit_3() {
    let closed = closed_port();
    let host = format!("127.0.0.1:{closed}");
    let c = Cli::new(&policy(
        &dummy_log().verifier().to_string(),
        &format!("http://127.0.0.1:{closed}"),
        &host,
    ));
    // Registry down.
    c.run(&["verify", &format!("{host}/acme/app:1")])
        .code(3)
        .stderr_has("unavailable");
    // Log down (the digest is given, so the registry is not asked).
    let j = c.run(&[
        "verify",
        &format!("{host}/acme/app:1"),
        "--digest",
        &format!("sha256:{}", "0".repeat(64)),
        "--json",
    ]);
    assert_eq!(j.code(3).json()["result"], "unavailable");
    assert!(c.state_bytes().is_empty());
}

fn fake_registry_client(response: &str) -> (Cli, String) {
    let port = fake_http(response.as_bytes().to_vec());
    let host = format!("127.0.0.1:{port}");
    let closed = closed_port();
    let c = Cli::new(&policy(
        &dummy_log().verifier().to_string(),
        &format!("http://127.0.0.1:{closed}"),
        &host,
    ));
    (c, format!("{host}/acme/app:1"))
}

#[test]
fn registry_misbehaviour_is_reported() {
    // The header names another digest than the body hashes to.
    let body = "{\"schemaVersion\":2}";
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: sha256:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        "1".repeat(64),
        body.len()
    );
    let (c, r) = fake_registry_client(&resp);
    c.run(&["verify", &r]).code(1).stderr_has("hashes to");
    // 401 without WWW-Authenticate: nowhere to get a token.
    let (c, r) = fake_registry_client(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    c.run(&["verify", &r])
        .code(2)
        .stderr_has("WWW-Authenticate");
    // A manifest above the limit.
    let (c, r) = fake_registry_client(&format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        5 * 1024 * 1024
    ));
    c.run(&["verify", &r]).code(3).stderr_has("larger than");
    // A 500.
    let (c, r) = fake_registry_client(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    c.run(&["verify", &r]).code(3);
    // A real registry without the tag: 404.
    let reg = Registry::start(None);
    let closed = closed_port();
    let c = Cli::new(&policy(
        &dummy_log().verifier().to_string(),
        &format!("http://127.0.0.1:{closed}"),
        &reg.host(),
    ));
    c.run(&["verify", &format!("{}/acme/missing:1", reg.host())])
        .code(2)
        .stderr_has("no manifest");
    assert!(c.state_bytes().is_empty());
}

#[test]
fn basic_auth_registry() {
    let reg = Registry::start(Some(("alice", "s3cret")));
    let (d, _) = reg.push_image("acme/private", "1", "private");
    let p = publisher();
    let server = LogServer::seeded(
        3,
        &[(format!("{}/acme", reg.host()), p.verifier().to_string())],
    )
    .start();
    let c = Cli::new(&policy(&server.vkey(), &server.url, &reg.host()));
    let key = c.path("publisher.key");
    keys::write_key(&key, &p);
    let r = format!("{}/acme/private:1", reg.host());
    // Without credentials: the registry asks for basic auth.
    c.run(&["publish", &r, "--key", key.to_str().unwrap()])
        .code(2)
        .stderr_has("TAGLOG_REGISTRY_USER");
    let host = reg.host();
    let creds = [
        ("TAGLOG_REGISTRY_HOST", host.as_str()),
        ("TAGLOG_REGISTRY_USER", "alice"),
        ("TAGLOG_REGISTRY_PASSWORD", "s3cret"),
    ];
    c.run_env(&["publish", &r, "--key", key.to_str().unwrap()], &creds)
        .ok();
    let v = c.run_env(&["verify", &r], &creds);
    assert!(v.ok().stdout.trim().ends_with(&d));
    let wrong = [
        ("TAGLOG_REGISTRY_HOST", host.as_str()),
        ("TAGLOG_REGISTRY_USER", "alice"),
        ("TAGLOG_REGISTRY_PASSWORD", "wrong"),
    ];
    c.run_env(&["verify", &r], &wrong)
        .code(2)
        .stderr_has("refused");
}

#[test]
fn anonymous_bearer_token_flow() {
    // A token endpoint and a registry that wants `Bearer t0ken` (the Docker Hub flow).
    let token_port = fake_http_with(|head| {
        let ok = head.starts_with("GET /token?")
            && head.contains("scope=repository%3Aacme%2Fapp%3Apull");
        let body = if ok { r#"{"token":"t0ken"}"# } else { "{}" };
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    let manifest =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}";
    let digest = sha256_digest(manifest.as_bytes());
    let realm = format!("http://127.0.0.1:{token_port}/token");
    let d = digest.clone();
    let reg_port = fake_http_with(move |head| {
        if head
            .to_ascii_lowercase()
            .contains("authorization: bearer t0ken")
        {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {d}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{manifest}",
                manifest.len()
            )
            .into_bytes()
        } else {
            format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .into_bytes()
        }
    });
    let host = format!("127.0.0.1:{reg_port}");
    let closed = closed_port();
    // The token endpoint is plain HTTP: its host must be marked insecure too.
    let c = Cli::new(&format!(
        "{}insecure-registry 127.0.0.1:{token_port}\n",
        policy(
            &dummy_log().verifier().to_string(),
            &format!("http://127.0.0.1:{closed}"),
            &host,
        )
    ));
    // The registry part succeeds (the digest is resolved), then the log is down: exit 3 from
    // the log, not from the registry.
    let r = c.run(&["verify", &format!("{host}/acme/app:1")]);
    r.code(3)
        .stderr_has(&format!("log http://127.0.0.1:{closed}"));
    // The library resolves the digest recomputed from the body.
    let registry = taglog_client::registry::Registry::new(
        vec![host.clone(), format!("127.0.0.1:{token_port}")],
        taglog_client::credentials::CredentialStore::anonymous(),
    )
    .unwrap();
    let resolved = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(registry.resolve(&format!("{host}/acme/app:1").parse().unwrap()))
        .unwrap();
    assert_eq!(resolved.sha256.to_string(), digest);
}
