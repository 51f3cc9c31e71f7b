//! The verification service as a library, against a real `taglog-server` and a real
//! `docker-registry`: typed decisions for current, mismatched, withdrawn, uncovered and
//! unavailable refs; one log verification per signed ref for many concurrent queries (single
//! flight and cache); state shared with the `taglog` CLI in the client's format; metrics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;

use taglog_client::credentials::CredentialStore;
use taglog_client::error::Class;
use taglog_client::registry::Registry as RegistryClient;
use taglog_client::service::{Basis, Decision, Query, Served, Service, ServiceConfig};
use taglog_client::state::StateDir;
use taglog_proofs::binding::DigestValue;
use taglog_proofs::note::{KeyType, SignerKey};
use taglog_proofs::policy::Policy;
use taglog_testkit::cli::Cli;
use taglog_testkit::keys;
use taglog_testkit::log_server::LogServer;
use taglog_testkit::registry::Registry;

fn publisher() -> SignerKey {
    SignerKey::from_seed(
        "publisher.test".parse().unwrap(),
        KeyType::Ed25519,
        [42; 32],
    )
}

struct Env {
    reg: Registry,
    /// Kept alive for the test (dropping it takes the log down).
    _server: LogServer,
    client: Cli,
}

impl Env {
    fn new() -> Env {
        let reg = Registry::start(None);
        let p = publisher();
        let server = LogServer::seeded(
            1,
            &[(format!("{}/acme", reg.host()), p.verifier().to_string())],
        )
        .start();
        let client = Cli::new(&format!(
            "log {} {}\nquorum none\npublisher {}/acme {}\ninsecure-registry {}\n",
            server.vkey(),
            server.url,
            reg.host(),
            p.verifier(),
            reg.host()
        ));
        keys::write_key(&client.path("publisher.key"), &p);
        Env {
            reg,
            _server: server,
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

    fn service(&self) -> Service {
        let policy = Policy::parse(&std::fs::read(&self.client.policy).unwrap()).unwrap();
        let registry =
            RegistryClient::new(vec![self.reg.host()], CredentialStore::anonymous()).unwrap();
        Service::new(ServiceConfig::new(
            Arc::new(policy),
            StateDir::resolve(Some(&self.client.state)).unwrap(),
            registry,
        ))
        .unwrap()
    }
}

fn query(r: &str, served: Option<&str>) -> Query {
    Query {
        reference: r.parse().unwrap(),
        served: served.map(|d| Served::Digest(d.parse::<DigestValue>().unwrap())),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0, |v| v.parse::<f64>().unwrap() as u64)
}

#[test]
fn decisions_are_typed_and_never_pass_a_failure() {
    let e = Env::new();
    let (a, _) = e.reg.push_image("acme/app", "1", "a");
    e.publish("app:1", &[]);
    e.reg.push_image("acme/app", "gone", "gone");
    e.publish("app:gone", &[]);
    e.publish("app:gone", &["--withdraw"]);
    let svc = e.service();
    let rt = runtime();
    let decide = |q: Query| rt.block_on(svc.decide(&q));

    // The current binding, asked for and served.
    let Decision::Allow(ok) = decide(query(&e.r("app:1"), None)) else {
        panic!("current tag refused")
    };
    assert_eq!(ok.digest.to_string(), a);
    assert_eq!(ok.pull(), format!("{}/acme/app@{a}", e.reg.host()));
    assert_eq!(ok.basis, Basis::Current { version: 1 });
    assert!(!ok.cached);
    let Decision::Allow(again) = decide(query(&e.r("app:1"), Some(&a))) else {
        panic!("served current digest refused")
    };
    assert!(again.cached, "the second answer comes from the cache");

    // Refusals, by class and code.
    let other = format!("sha256:{}", "ab".repeat(32));
    let cases = [
        (
            query(&e.r("app:1"), Some(&other)),
            Class::Failed,
            "digest-mismatch",
        ),
        (query(&e.r("app:gone"), None), Class::Failed, "withdrawn"),
        (query(&e.r("app:never"), None), Class::Failed, "unbound"),
        (
            query(&format!("{}/other/app:1", e.reg.host()), None),
            Class::Uncovered,
            "not-covered",
        ),
    ];
    for (q, class, code) in cases {
        let Decision::Refuse(r) = decide(q.clone()) else {
            panic!("{q:?} allowed")
        };
        assert_eq!(
            (r.class(), r.code()),
            (class, code),
            "{q:?}: {}",
            r.message()
        );
        assert!(
            r.message().contains(q.reference.as_str()),
            "{}",
            r.message()
        );
        assert!(!r.advice().is_empty());
    }
    let Decision::Refuse(r) = decide(query(&e.r("app:1"), Some(&other))) else {
        panic!()
    };
    assert!(r.message().contains(&a) && r.message().contains(&other));

    // The service's state is the CLI's: the CLI verifies with it, and it recorded the
    // high-water marks of what the service verified.
    let state: serde_json::Value = serde_json::from_slice(&e.client.state_bytes()).unwrap();
    assert_eq!(state["high_water"][e.r("app:1")]["version"], 1);
    assert_eq!(state["high_water"][e.r("app:gone")]["version"], 2);
    e.client.run(&["verify", &e.r("app:1")]).ok();

    let text = svc.metrics().render();
    assert_eq!(
        metric(&text, "taglog_verifications_total{result=\"allowed\"}"),
        2
    );
    assert_eq!(
        metric(&text, "taglog_verifications_total{result=\"denied\"}"),
        4
    );
    assert_eq!(
        metric(&text, "taglog_denials_total{reason=\"digest-mismatch\"}"),
        2
    );
    assert_eq!(metric(&text, "taglog_cache_hits_total"), 3);

    // The log goes away: cached answers stay until they expire, new refs are unavailable.
    let (other_ref, app1) = (e.r("app:other"), e.r("app:1"));
    drop(e);
    let Decision::Refuse(r) = decide(query(&other_ref, None)) else {
        panic!("allowed without a log")
    };
    assert_eq!(r.class(), Class::Unavailable, "{}", r.message());
    assert!(matches!(decide(query(&app1, Some(&a))), Decision::Allow(_)));
}

#[test]
fn one_log_verification_per_signed_ref_for_64_concurrent_queries() {
    let e = Env::new();
    let mut digests = Vec::new();
    for i in 0..4 {
        let (d, _) = e
            .reg
            .push_image("acme/app", &format!("t{i}"), &format!("seed{i}"));
        e.publish(&format!("app:t{i}"), &[]);
        digests.push(d);
    }
    let svc = e.service();
    let queries: Vec<Query> = (0..64)
        .map(|i| query(&e.r(&format!("app:t{}", i % 4)), Some(&digests[i % 4])))
        .collect();
    let rt = runtime();
    let decisions = rt.block_on(svc.decide_all(&queries));
    assert_eq!(decisions.len(), 64);
    for (i, d) in decisions.iter().enumerate() {
        let Decision::Allow(ok) = d else {
            panic!("query {i} refused: {d:?}")
        };
        assert_eq!(ok.digest.to_string(), digests[i % 4]);
    }
    let text = svc.metrics().render();
    assert_eq!(metric(&text, "taglog_log_checks_total"), 4, "{text}");
    assert_eq!(metric(&text, "taglog_cache_misses_total"), 4);
    assert_eq!(metric(&text, "taglog_cache_hits_total"), 60);
    // Tasks on several threads at once: still one check per ref.
    let svc2 = e.service();
    let handles: Vec<_> = queries
        .iter()
        .cloned()
        .map(|q| {
            let s = svc2.clone();
            rt.spawn(async move { s.decide(&q).await })
        })
        .collect();
    for h in handles {
        assert!(matches!(rt.block_on(h).unwrap(), Decision::Allow(_)));
    }
    assert_eq!(
        metric(&svc2.metrics().render(), "taglog_log_checks_total"),
        4
    );
}

#[test]
fn a_corrupt_state_is_refused_at_start_and_reported_by_healthz() {
    let e = Env::new();
    std::fs::create_dir_all(&e.client.state).unwrap();
    std::fs::write(e.client.state.join("state.json"), b"{broken").unwrap();
    let policy = Policy::parse(&std::fs::read(&e.client.policy).unwrap()).unwrap();
    let registry = RegistryClient::new(vec![], CredentialStore::anonymous()).unwrap();
    let err = Service::new(ServiceConfig::new(
        Arc::new(policy),
        StateDir::resolve(Some(&e.client.state)).unwrap(),
        registry,
    ))
    .unwrap_err();
    assert_eq!(err.code(), "state", "{err}");
    assert_eq!(
        std::fs::read(e.client.state.join("state.json")).unwrap(),
        b"{broken"
    );
    // A healthy service; then its state file breaks under it.
    std::fs::remove_file(e.client.state.join("state.json")).unwrap();
    let svc = e.service();
    let rt = runtime();
    assert!(rt.block_on(svc.health()).is_ok());
    std::fs::write(e.client.state.join("state.json"), b"{broken").unwrap();
    assert!(rt.block_on(svc.health()).is_err());
}
