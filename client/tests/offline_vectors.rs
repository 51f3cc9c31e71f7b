//! The `taglog` binary offline, over the independent log-small vectors (no server, no
//! registry): bound verifies within max-age and prints the digest reference, withdrawn and
//! unbound fail with their messages, staleness and `--accept-stale` behave, state is written
//! only on success, and lookup/export work from a saved bundle.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use taglog_proofs::note::Note;
use taglog_testkit::cli::Cli;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proofs/tests/vectors/taglog/log-small")
}

fn policy() -> String {
    let k: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors().join("keys.json")).unwrap()).unwrap();
    format!(
        "log {}\nwitness w {}\nquorum w\npublisher registry.example/acme {}\n",
        k["log"].as_str().unwrap(),
        k["witness"].as_str().unwrap(),
        k["publishers"][0].as_str().unwrap()
    )
}

fn cosig_time() -> u64 {
    let note = Note::parse(&std::fs::read(vectors().join("checkpoint")).unwrap()).unwrap();
    let s = note
        .signatures()
        .iter()
        .find(|s| s.name().as_str() == "witness.example")
        .unwrap();
    u64::from_be_bytes(s.sig()[..8].try_into().unwrap())
}

fn bundle(name: &str) -> String {
    vectors()
        .join(format!("lookup/{name}.json"))
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn offline_vectors_through_the_binary() {
    let c = Cli::new(&policy());
    let now = (cosig_time() + 60).to_string();
    let b = bundle("bound");
    let r = "registry.example/acme/app0:v1";
    let v = c.run_at(&now, &["verify", r, "--offline", "--bundle", &b]);
    assert_eq!(
        v.ok().stdout.trim(),
        "registry.example/acme/app0@sha256:0c8e10d20d151bc3d6ae372f9b505471761a31e947a216f0f73dd09ec7b81619"
    );
    let state: serde_json::Value = serde_json::from_slice(&c.state_bytes()).unwrap();
    assert_eq!(state["high_water"][r]["version"], 4);
    assert_eq!(state["checkpoints"]["log.example.org/taglog"]["size"], 31);
    // Same bundle, --digest of another image: S1 offline.
    let other = format!("sha256:{}", "ab".repeat(32));
    c.run_at(
        &now,
        &["verify", r, "--offline", "--bundle", &b, "--digest", &other],
    )
    .code(1)
    .stderr_has("version 4");
    // JSON verdict.
    let j = c
        .run_at(&now, &["verify", r, "--offline", "--bundle", &b, "--json"])
        .ok()
        .json();
    assert_eq!(j["checkpoint"]["cosigners"][0]["name"], "w");
    // Withdrawn and unbound.
    c.run_at(
        &now,
        &[
            "verify",
            "registry.example/acme/team/app2:1.0",
            "--offline",
            "--bundle",
            &bundle("withdrawn"),
        ],
    )
    .code(1)
    .stderr_has("withdrawn by publisher at version 103");
    c.run_at(
        &now,
        &[
            "verify",
            "registry.example/acme/absent:v1",
            "--offline",
            "--bundle",
            &bundle("unbound"),
        ],
    )
    .code(1)
    .stderr_has("not bound");
    // A bundle for another ref.
    c.run_at(
        &now,
        &[
            "verify",
            "registry.example/acme/app1:v1",
            "--offline",
            "--bundle",
            &b,
        ],
    )
    .code(1)
    .stderr_has("for registry.example/acme/app0:v1");
    // Stale for a fresh client; --accept-stale passes without writing state.
    let fresh = Cli::new(&policy());
    let late = (cosig_time() + 7200).to_string();
    fresh
        .run_at(&late, &["verify", r, "--offline", "--bundle", &b])
        .code(1)
        .stderr_has("stale checkpoint");
    fresh
        .run_at(
            &late,
            &[
                "verify",
                r,
                "--offline",
                "--bundle",
                &b,
                "--accept-stale",
                "1h",
            ],
        )
        .ok()
        .stderr_has("warning");
    assert!(
        fresh.state_bytes().is_empty(),
        "--accept-stale never writes state"
    );
    // lookup and export from the saved bundle.
    let l = c
        .run_at(&now, &["lookup", r, "--bundle", &b, "--json"])
        .ok()
        .json();
    assert_eq!(l["current"]["version"], 4);
    let out = c.path("p.tlog-proof");
    c.run_at(
        &now,
        &[
            "export",
            "--tlog-proof",
            r,
            "--bundle",
            &b,
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .ok();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("c2sp.org/tlog-proof@v1\nindex 23\n"),
        "{text}"
    );
    // A policy that does not trust the signer: untrusted current binding.
    let k: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors().join("keys.json")).unwrap()).unwrap();
    let other_policy = policy().replace(
        k["publishers"][0].as_str().unwrap(),
        k["publishers"][1].as_str().unwrap(),
    );
    Cli::new(&other_policy)
        .run_at(&now, &["verify", r, "--offline", "--bundle", &b])
        .code(1)
        .stderr_has("does not trust");
}
