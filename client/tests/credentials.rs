//! Registry credentials per host (issue 13 item 0), proven against hostile registries and
//! token endpoints that record every request they receive, with the `taglog` binary run as a
//! user runs it and credentials stored where users keep them (containers' `auth.json`,
//! Docker's `config.json` with `auths`, `credHelpers` and `credsStore`, and the scoped
//! environment credential).
//!
//! Each test resolves a tag whose log is down: reaching "log ... unavailable" (exit 3) proves
//! that the registry step succeeded; exit 2 with a message proves that it was refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::Engine as _;
use taglog_proofs::note::{KeyType, SignerKey};
use taglog_testkit::cli::{Cli, Run};
use taglog_testkit::closed_port;
use taglog_testkit::fake_http::{http_response, Recorded, Recorder};

const MANIFEST: &str =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"}";

fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.test".parse().unwrap(),
        KeyType::Ed25519,
        [42; 32],
    )
}

fn log_key() -> SignerKey {
    SignerKey::from_seed(
        "log.test/taglog".parse().unwrap(),
        KeyType::Ed25519,
        [1; 32],
    )
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn manifest_response() -> Vec<u8> {
    http_response(
        "200 OK",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        MANIFEST.as_bytes(),
    )
}

/// A registry that wants `Authorization: <want>` and otherwise answers 401 with `challenge`.
fn registry(want: String, challenge: String) -> Recorder {
    Recorder::start(move |r: &Recorded| {
        if r.header("authorization") == Some(want.as_str()) {
            manifest_response()
        } else {
            http_response(
                "401 Unauthorized",
                &[("WWW-Authenticate", challenge.as_str())],
                b"",
            )
        }
    })
}

/// A token endpoint that hands out `token` to anyone.
fn token_endpoint(token: &'static str) -> Recorder {
    Recorder::start(move |_| {
        http_response(
            "200 OK",
            &[("Content-Type", "application/json")],
            format!("{{\"token\":\"{token}\",\"expires_in\":300}}").as_bytes(),
        )
    })
}

/// A client whose policy covers `<host>/acme` for every registry host and marks every listed
/// host (registries and realms) insecure; its log is down.
fn client(registries: &[&str], insecure: &[&str]) -> Cli {
    let closed = closed_port();
    let mut p = format!(
        "log {} http://127.0.0.1:{closed}\nquorum none\n",
        log_key().verifier()
    );
    for h in registries {
        p.push_str(&format!("publisher {h}/acme {}\n", publisher().verifier()));
    }
    for h in insecure {
        p.push_str(&format!("insecure-registry {h}\n"));
    }
    Cli::new(&p)
}

/// Writes a containers `auth.json` with one `auths` entry per (key, user, password).
fn auth_json(c: &Cli, entries: &[(&str, &str, &str)]) -> String {
    let auths: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(k, u, p)| {
            let auth = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            (k.to_string(), serde_json::json!({ "auth": auth }))
        })
        .collect();
    let path = c.path("auth.json");
    std::fs::write(&path, serde_json::json!({ "auths": auths }).to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

fn verify(c: &Cli, r: &str, env: &[(&str, &str)]) -> Run {
    c.run_env(&["verify", r], env)
}

#[test]
fn basic_credentials_go_only_to_their_own_host() {
    let good = registry(basic("alice", "pw-good"), "Basic realm=\"good\"".into());
    let evil = registry(basic("alice", "pw-good"), "Basic realm=\"evil\"".into());
    let c = client(&[&good.host(), &evil.host()], &[&good.host(), &evil.host()]);
    let file = auth_json(&c, &[(&good.host(), "alice", "pw-good")]);
    let env = [("REGISTRY_AUTH_FILE", file.as_str())];

    // The host the credential belongs to gets it, once it asks.
    verify(&c, &format!("{}/acme/app:1", good.host()), &env)
        .code(3)
        .stderr_has("log http://127.0.0.1");
    let sent: Vec<_> = good.requests();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(
        sent[0].header("authorization"),
        None,
        "nothing before a challenge"
    );
    assert_eq!(
        sent[1].header("authorization"),
        Some(basic("alice", "pw-good").as_str())
    );

    // Another host asking for basic auth gets nothing, and the user learns what to do.
    verify(&c, &format!("{}/acme/app:1", evil.host()), &env)
        .code(2)
        .stderr_has(&format!("docker login {}", evil.host()));
    let sent = evil.requests();
    assert!(!sent.is_empty());
    assert!(
        sent.iter().all(|r| r.header("authorization").is_none()),
        "{sent:?}"
    );

    // The same with Docker's config.json and with the scoped environment credential.
    let docker = c.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:pw-good");
    std::fs::write(
        docker.join("config.json"),
        format!(
            "{{\"auths\":{{\"http://{}/v1/\":{{\"auth\":\"{auth}\"}}}}}}",
            good.host()
        ),
    )
    .unwrap();
    let docker_env = [("DOCKER_CONFIG", docker.to_str().unwrap())];
    verify(&c, &format!("{}/acme/app:1", good.host()), &docker_env).code(3);
    verify(&c, &format!("{}/acme/app:1", evil.host()), &docker_env).code(2);
    let scoped = [
        ("TAGLOG_REGISTRY_HOST", good.host()),
        ("TAGLOG_REGISTRY_USER", "alice".to_string()),
        ("TAGLOG_REGISTRY_PASSWORD", "pw-good".to_string()),
    ];
    let scoped: Vec<(&str, &str)> = scoped.iter().map(|(k, v)| (*k, v.as_str())).collect();
    verify(&c, &format!("{}/acme/app:1", good.host()), &scoped).code(3);
    verify(&c, &format!("{}/acme/app:1", evil.host()), &scoped).code(2);
    assert!(
        evil.requests()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{:?}",
        evil.requests()
    );
    assert_eq!(
        good.requests()
            .iter()
            .filter(|r| r.header("authorization").is_some())
            .count(),
        3,
        "auth.json, config.json and the environment each sent it once"
    );
}

#[test]
fn an_unscoped_environment_credential_is_refused() {
    let c = client(&["127.0.0.1:1"], &[]);
    c.run_env(
        &["verify", "127.0.0.1:1/acme/app:1"],
        &[
            ("TAGLOG_REGISTRY_USER", "alice"),
            ("TAGLOG_REGISTRY_PASSWORD", "pw"),
        ],
    )
    .code(2)
    .stderr_has("TAGLOG_REGISTRY_HOST");
    c.run_env(
        &["verify", "127.0.0.1:1/acme/app:1"],
        &[
            ("TAGLOG_REGISTRY_HOST", "not a host"),
            ("TAGLOG_REGISTRY_USER", "a"),
        ],
    )
    .code(2)
    .stderr_has("not a registry host");
}

#[test]
fn token_requests_ask_for_pull_of_this_repository_only() {
    let tokens = token_endpoint("t0ken");
    // The challenge names a push scope on another repository, and so does the realm's query.
    let challenge = format!(
        "Bearer realm=\"http://{}/token?scope=repository%3Aother%2Fthing%3Apush&account=alice\",service=\"svc\",scope=\"repository:other/thing:push,pull\"",
        tokens.host()
    );
    let reg = registry("Bearer t0ken".into(), challenge);
    let c = client(&[&reg.host()], &[&reg.host(), &tokens.host()]);
    let file = auth_json(&c, &[(&reg.host(), "alice", "pw")]);
    verify(
        &c,
        &format!("{}/acme/app:1", reg.host()),
        &[("REGISTRY_AUTH_FILE", file.as_str())],
    )
    .code(3)
    .stderr_has("log http://127.0.0.1");
    let asked = tokens.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let target = &asked[0].target;
    assert!(target.starts_with("/token?"), "{target}");
    let query: Vec<(String, String)> = url_pairs(target.split_once('?').map_or("", |(_, q)| q));
    let scopes: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(scopes, ["repository:acme/app:pull"], "{target}");
    assert!(
        query.contains(&("service".into(), "svc".into())),
        "{target}"
    );
    assert!(
        query.contains(&("account".into(), "alice".into())),
        "{target}"
    );
    // The registry host's own credential goes to the realm it names.
    assert_eq!(
        asked[0].header("authorization"),
        Some(basic("alice", "pw").as_str())
    );
}

#[test]
fn plain_http_realms_are_refused_unless_their_host_is_insecure() {
    let tokens = token_endpoint("t0ken");
    let challenge = format!("Bearer realm=\"http://{}/token\"", tokens.host());
    let reg = registry("Bearer t0ken".into(), challenge);
    // The registry is insecure, the token host is not: nothing goes to it.
    let c = client(&[&reg.host()], &[&reg.host()]);
    let file = auth_json(&c, &[(&reg.host(), "alice", "pw")]);
    verify(
        &c,
        &format!("{}/acme/app:1", reg.host()),
        &[("REGISTRY_AUTH_FILE", file.as_str())],
    )
    .code(2)
    .stderr_has("token realm")
    .stderr_has("plain http");
    assert!(tokens.requests().is_empty(), "{:?}", tokens.requests());
    // A realm with user information is refused too.
    let reg2 = registry(
        "Bearer t0ken".into(),
        format!("Bearer realm=\"http://u:p@{}/token\"", tokens.host()),
    );
    let c = client(&[&reg2.host()], &[&reg2.host(), &tokens.host()]);
    verify(&c, &format!("{}/acme/app:1", reg2.host()), &[])
        .code(2)
        .stderr_has("user information");
    assert!(tokens.requests().is_empty());
}

#[test]
fn a_registry_without_a_stored_credential_cannot_obtain_another_hosts() {
    // evil has no credential stored; its realm is a token endpoint that records: it must get
    // an anonymous request, not good's credential.
    let tokens = token_endpoint("t0ken");
    let evil = registry(
        "Bearer t0ken".into(),
        format!("Bearer realm=\"http://{}/token\"", tokens.host()),
    );
    let c = client(&[&evil.host()], &[&evil.host(), &tokens.host()]);
    let file = auth_json(
        &c,
        &[("good.example", "alice", "pw"), ("docker.io", "bob", "hub")],
    );
    verify(
        &c,
        &format!("{}/acme/app:1", evil.host()),
        &[("REGISTRY_AUTH_FILE", file.as_str())],
    )
    .code(3);
    let asked = tokens.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].header("authorization"), None, "{asked:?}");
}

/// A `docker-credential-<name>` on PATH that records its arguments and stdin.
fn helper(c: &Cli, name: &str, user: &str, secret: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = c.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join(format!("docker-credential-{name}"));
    let record = c.path(&format!("{name}.calls"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s ' \"$@\" >> '{rec}'\ncat >> '{rec}'\necho >> '{rec}'\necho '{{\"ServerURL\":\"x\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}'\n",
            rec = record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    record
}

#[test]
fn credential_helpers_are_asked_for_exactly_the_host() {
    let a = registry(basic("h-user", "h-secret"), "Basic realm=\"a\"".into());
    let b = registry(basic("s-user", "s-secret"), "Basic realm=\"b\"".into());
    let c = client(&[&a.host(), &b.host()], &[&a.host(), &b.host()]);
    let per_host = helper(&c, "perhost", "h-user", "h-secret");
    let store = helper(&c, "store", "s-user", "s-secret");
    let docker = c.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            "{{\"credHelpers\":{{\"{}\":\"perhost\"}},\"credsStore\":\"store\",\"auths\":{{\"{}\":{{}}}}}}",
            a.host(),
            b.host()
        ),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        c.path("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("DOCKER_CONFIG", docker.to_str().unwrap()),
        ("PATH", path.as_str()),
    ];
    verify(&c, &format!("{}/acme/app:1", a.host()), &env).code(3);
    verify(&c, &format!("{}/acme/app:1", b.host()), &env).code(3);
    assert_eq!(
        std::fs::read_to_string(&per_host).unwrap(),
        format!("get {}\n", a.host())
    );
    assert_eq!(
        std::fs::read_to_string(&store).unwrap(),
        format!("get {}\n", b.host())
    );
    // A helper name that is a path is refused before anything runs.
    std::fs::write(
        docker.join("config.json"),
        format!("{{\"credHelpers\":{{\"{}\":\"../x\"}}}}", a.host()),
    )
    .unwrap();
    verify(&c, &format!("{}/acme/app:1", a.host()), &env)
        .code(2)
        .stderr_has("not a plain word");
}

#[test]
fn namespaced_auth_json_keys_pick_the_most_specific() {
    let reg = registry(basic("team", "pw-team"), "Basic realm=\"r\"".into());
    let c = client(&[&reg.host()], &[&reg.host()]);
    let host = reg.host();
    let file = auth_json(
        &c,
        &[
            (&host, "whole-host", "pw-host"),
            (&format!("{host}/acme"), "team", "pw-team"),
            (&format!("{host}/acmeother"), "other", "pw-other"),
        ],
    );
    verify(
        &c,
        &format!("{host}/acme/app:1"),
        &[("REGISTRY_AUTH_FILE", file.as_str())],
    )
    .code(3);
    let sent = reg.requests();
    assert_eq!(
        sent.last().unwrap().header("authorization"),
        Some(basic("team", "pw-team").as_str())
    );
    // A malformed auth file is an error that names it, not a silent anonymous pull.
    std::fs::write(&file, "{not json").unwrap();
    verify(
        &c,
        &format!("{host}/acme/app:1"),
        &[("REGISTRY_AUTH_FILE", file.as_str())],
    )
    .code(2)
    .stderr_has("auth.json");
}

/// `application/x-www-form-urlencoded` pairs of a query.
fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}
