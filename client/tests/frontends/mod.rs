//! What the containerd-verifier and admission-webhook tests share: a real `docker-registry`, a
//! real `taglog-witness`, a real `taglog-server` that needs its cosignature, a client policy
//! (`quorum w1`) with its state directory, and publishing through the real `taglog` CLI.
#![allow(dead_code)]

use taglog_testkit::cli::{Cli, Run};
use taglog_testkit::keys::{self, publisher};
use taglog_testkit::log_server::LogServer;
use taglog_testkit::registry::Registry;
use taglog_testkit::witness::Witness;

/// A registry, a witness, a log that needs the witness, and a client that trusts them.
pub struct Env {
    pub reg: Registry,
    pub witness: Witness,
    pub server: LogServer,
    pub client: Cli,
}

impl Env {
    pub fn new() -> Env {
        let reg = Registry::start(None);
        let p = publisher();
        let log_vkey = keys::log(9).verifier().to_string();
        let witness = Witness::start(11, "w1.test", &log_vkey);
        let server = LogServer::seeded(
            9,
            &[(format!("{}/acme", reg.host()), p.verifier().to_string())],
        )
        .witness(&witness.vkey(), &witness.url)
        .start();
        let client = Cli::new(&policy_text(&server, &witness, &reg));
        keys::write_key(&client.path("publisher.key"), &p);
        Env {
            reg,
            witness,
            server,
            client,
        }
    }

    /// `<registry>/acme/<repo_tag>`.
    pub fn r(&self, repo_tag: &str) -> String {
        format!("{}/acme/{repo_tag}", self.reg.host())
    }

    /// `taglog publish <registry>/acme/<repo_tag>` with extra flags; must succeed.
    pub fn publish(&self, repo_tag: &str, extra: &[&str]) -> Run {
        let key = self.client.path("publisher.key");
        let r = self.r(repo_tag);
        let mut args = vec!["publish", r.as_str(), "--key", key.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = self.client.run(&args);
        run.ok();
        run
    }

    /// Pushes a fresh image for `acme/<repo>:<tag>` and publishes it; returns its digest.
    pub fn push_and_publish(&self, repo: &str, tag: &str, seed: &str) -> String {
        let (d, _) = self.reg.push_image(&format!("acme/{repo}"), tag, seed);
        self.publish(&format!("{repo}:{tag}"), &[]);
        d
    }

    /// The state file's bytes (empty when there is none yet).
    pub fn state(&self) -> Vec<u8> {
        self.client.state_bytes()
    }
}

/// The client policy: the log, its witness as the quorum, the publisher for `<registry>/acme`.
pub fn policy_text(server: &LogServer, witness: &Witness, reg: &Registry) -> String {
    format!(
        "log {} {}\nwitness w1 {}\nquorum w1\npublisher {}/acme {}\ninsecure-registry {}\n",
        server.vkey(),
        server.url,
        witness.vkey(),
        reg.host(),
        publisher().verifier(),
        reg.host()
    )
}
