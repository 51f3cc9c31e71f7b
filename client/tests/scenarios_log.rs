//! DESIGN §1 scenarios about the log itself (S7–S9), end to end with the real binaries as
//! separate processes: `taglog-server` (two instances sharing a log key for S7),
//! `taglog-witness` (one plain, one with `--audit`), `taglog-monitor --once`, `docker-registry`
//! and the `taglog` CLI. S8's lying log is crafted with `proofs` and served over loopback HTTP
//! (`taglog_testkit::crafted::CraftedLog`), since the real server never lies. Every process is
//! stopped by a Drop guard, also when an assertion fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::binding::DigestValue;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::consistency::verify_consistency;
use taglog_proofs::hash::Hash;
use taglog_proofs::note::VerifierKey;
use taglog_testkit::cli::Cli;
use taglog_testkit::crafted::CraftedLog;
use taglog_testkit::keys;
use taglog_testkit::log_server::LogServer;
use taglog_testkit::monitor::MonitorCli;
use taglog_testkit::registry::Registry;
use taglog_testkit::static_server::StaticServer;
use taglog_testkit::witness::Witness;

fn evidence_files(c: &Cli) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(&c.state)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("evidence-"))
        .map(|e| e.path())
        .collect()
}

/// S7: the log signs two inconsistent histories (two server instances with the same key).
/// A stateful client refuses the second with SECURITY ERROR and writes both notes; the monitor
/// following one view alerts `fork` when fed the other through a witness or a client report.
#[test]
fn s7_split_view_is_caught_by_client_and_monitor() {
    let p = keys::ed25519("publisher.test", 42);
    let allow = [("registry.test/acme".to_string(), p.verifier().to_string())];
    let log_vkey = keys::log(17).verifier().to_string();
    // View A is cosigned by a witness; view B is served to the victim.
    let w = Witness::start(18, "w1.test", &log_vkey);
    let a = LogServer::seeded(17, &allow)
        .witness(&w.vkey(), &w.url)
        .start();
    let b = LogServer::seeded(17, &allow).start();
    assert_eq!(a.vkey(), b.vkey(), "one log key, two histories");

    let policy = format!(
        "log {} {}\nquorum none\npublisher registry.test/acme {}\n",
        a.vkey(),
        a.url,
        p.verifier()
    );
    let c = Cli::new(&policy);
    let pkey = c.path("publisher.key");
    keys::write_key(&pkey, &p);
    let r = "registry.test/acme/app:1";
    let d1 = format!("sha256:{}", "a1".repeat(32));
    let publish = |log: &str, r: &str, d: &str| {
        c.run(&[
            "--log",
            log,
            "publish",
            r,
            "--key",
            pkey.to_str().unwrap(),
            "--digest",
            d,
        ])
    };
    publish(&a.url, r, &d1).ok();
    c.run(&["verify", r, "--digest", &d1]).ok();
    // B signs a different, longer history.
    for i in 0..8 {
        let d = format!("sha256:{}", format!("{i:02}").repeat(32));
        publish(&b.url, &format!("registry.test/acme/other{i}:1"), &d).ok();
    }
    publish(&b.url, r, &d1).ok();

    // The stateful client: B's checkpoint is not an extension of the one it cached from A.
    c.run(&["--log", &b.url, "verify", r, "--digest", &d1])
        .code(1)
        .stderr_has("SECURITY ERROR")
        .stderr_has("evidence written to");
    let files = evidence_files(&c);
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("-- cached checkpoint --") && text.contains("-- new checkpoint --"));
    let j = c.run(&["--log", &b.url, "verify", r, "--digest", &d1, "--json"]);
    let j = j.code(1).json();
    assert_eq!(j["result"], "failed", "{j}");
    assert_eq!(j["code"], "inconsistent", "{j}");
    assert!(
        j["message"].as_str().unwrap().starts_with("SECURITY ERROR"),
        "{j}"
    );
    // A fresh client has nothing to compare with: B alone is a consistent log.
    Cli::new(&policy)
        .run(&["--log", &b.url, "verify", r, "--digest", &d1])
        .ok();

    // The monitor follows B and compares with the witness that cosigned A's view.
    let a_note = taglog_testkit::http::get_ok(&format!("{}/checkpoint", a.url));
    let m = MonitorCli::new(&b.url, &b.vkey());
    let run = m.once(&["--witness", &w.url, "--witness-key", &w.vkey()]);
    let fork = run.alerted("fork");
    assert_eq!(fork["severity"], "critical", "{fork}");
    assert!(fork["message"].as_str().unwrap().contains("root"), "{fork}");
    let notes = fork["evidence"]["checkpoints"].as_array().unwrap();
    assert_eq!(notes.len(), 2, "{fork}");
    // The evidence is portable: with the log key and `proofs` alone, both notes verify, and
    // the consistency proof ties B's root to a root at A's size that is not A's.
    let vkey: VerifierKey = a.vkey().parse().unwrap();
    let opened: Vec<SignedCheckpoint> = notes
        .iter()
        .map(|n| SignedCheckpoint::open(n.as_str().unwrap().as_bytes(), &vkey).unwrap())
        .collect();
    let (big, small) = if opened[0].checkpoint().size() > opened[1].checkpoint().size() {
        (&opened[0], &opened[1])
    } else {
        (&opened[1], &opened[0])
    };
    let c = &fork["evidence"]["consistency"];
    let proof: Vec<Hash> = taglog_testkit::http::hashes(&c["proof"]);
    let implied = Hash::from_base64(c["old_root_implied"].as_str().unwrap()).unwrap();
    let (old_size, new_size) = (small.checkpoint().size(), big.checkpoint().size());
    verify_consistency(
        old_size,
        new_size,
        &implied,
        &big.checkpoint().root(),
        &proof,
    )
    .unwrap();
    assert_ne!(
        implied,
        small.checkpoint().root(),
        "two roots for size {old_size}"
    );
    assert!(verify_consistency(
        old_size,
        new_size,
        &small.checkpoint().root(),
        &big.checkpoint().root(),
        &proof
    )
    .is_err());
    // A second monitor is fed A's checkpoint as a client report instead.
    let reports = m.dir.path().join("a.checkpoint");
    std::fs::write(&reports, &a_note).unwrap();
    let m2 = MonitorCli::new(&b.url, &b.vkey());
    let run = m2.once(&["--reports", reports.to_str().unwrap()]);
    let fork = run.alerted("fork");
    // The reported note (A's root line) is part of the evidence.
    let a_text = String::from_utf8_lossy(&a_note).into_owned();
    let a_root = a_text.lines().nth(2).unwrap();
    assert!(
        fork["evidence"]["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap_or_default().contains(a_root)),
        "A's note is in the evidence: {fork}"
    );
    // Control: each view alone is an honest log to a monitor.
    let honest = MonitorCli::new(&b.url, &b.vkey()).once(&[]);
    assert_eq!(honest.code, 0, "{honest:#?}");
}

/// S8: the log serves a wrong current binding (its state leaf's map root ignores the newest
/// binding). The monitor recomputes the map and alerts `map-mismatch`; an auditing witness
/// refuses to cosign (422), so a client whose policy requires it rejects the lookup, while a
/// policy satisfied by a non-auditing witness alone is fooled (why auditors are needed).
#[test]
fn s8_lying_map_is_refused_by_an_auditing_witness_and_alerted_by_the_monitor() {
    let p = keys::ed25519("publisher.test", 42);
    let mut log = CraftedLog::new("log.test/liar", 81);
    // Log time close to now, so checkpoints are fresh for clients and monitors.
    log.time = taglog_testkit::now() - 60;
    let r = "registry.test/acme/app:1.0";
    let (old, new) = ([0xa1; 32], [0xb2; 32]);
    let old_d = format!("sha256:{}", "a1".repeat(32));
    let new_d = format!("sha256:{}", "b2".repeat(32));
    log.admit("registry.test/acme", &p.verifier());
    log.bind_signed(r, DigestValue::Sha256(old), 1, log.time, &p);
    log.state();
    let good = log.size();
    // Version 2 is logged, but the map the log signs (and proves) still says version 1.
    log.bind_hidden(r, DigestValue::Sha256(new), 2, &p);
    log.state();
    let bad = log.size();
    assert_ne!(log.map.root(), log.true_map.root());

    let http = StaticServer::start();
    let w1 = Witness::start(82, "w1.test", &log.vkey());
    let aw1 = Witness::start_with(
        83,
        "aw1.test",
        &log.vkey(),
        &[
            "--audit".into(),
            "--log-url".into(),
            format!("{}={}", log.origin(), http.url),
        ],
    );
    // Serve the lying log (the auditor reads its entries from it).
    log.serve(&http, &log.signed(bad), Vec::new());
    let plain = |body: Vec<u8>| {
        let r = w1.add_checkpoint(body);
        (r.status, r.text())
    };
    let (s, _) = plain(log.request(0, good));
    assert_eq!(s, 200);
    let (s, cosig) = plain(log.request(good, bad));
    assert_eq!(s, 200, "a plain witness checks consistency only: {cosig}");
    assert_eq!(aw1.add_checkpoint(log.request(0, good)).status, 200);
    let refused = aw1.add_checkpoint(log.request(good, bad));
    let (s, why) = (refused.status, refused.text());
    assert_eq!(s, 422, "the auditing witness refuses: {why}");
    assert!(why.contains("map root"), "{why}");
    assert!(why.contains(&format!("state leaf {}", bad - 1)), "{why}");

    // The log serves its checkpoint with the one cosignature it got.
    let mut note = log.signed(bad);
    note.extend_from_slice(cosig.as_bytes());
    log.serve(&http, &note, log.lookup(r, note.clone()));

    let policy = |group: &str| {
        format!(
            "log {} {}\nwitness w1 {} {}\nwitness aw1 {} {}\n{group}\npublisher registry.test/acme {}\n",
            log.vkey(),
            http.url,
            w1.vkey(),
            w1.url,
            aw1.vkey(),
            aw1.url,
            p.verifier()
        )
    };
    let strict = Cli::new(&policy("group auditors any aw1\nquorum auditors"));
    strict
        .run(&["lookup", r])
        .code(1)
        .stderr_has("lacks the quorum");
    let v = strict.run(&["verify", r, "--digest", &old_d]);
    v.code(1).stderr_has("lacks the quorum");
    let j = strict.run(&["verify", r, "--digest", &old_d, "--json"]);
    let j = j.code(1).json();
    assert_eq!(j["result"], "failed", "{j}");
    assert_eq!(j["code"], "quorum-not-met", "{j}");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("valid cosignatures from [w1]"),
        "{j}"
    );
    let state = strict.state_bytes();
    if !state.is_empty() {
        let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
        assert!(
            state["high_water"][r].is_null(),
            "nothing recorded: {state}"
        );
    }

    // Control: the same answer under a policy that a non-auditing witness satisfies is taken
    // at its word (version 1, the stale digest): only the auditor or a monitor sees the lie.
    let lax = Cli::new(&policy("group plain any w1\nquorum plain"));
    let j = lax.run(&["verify", r, "--digest", &old_d, "--json"]);
    let j = j.ok().json();
    assert_eq!(j["current"]["version"], 1, "{j}");
    lax.run(&["verify", r, "--digest", &new_d]).code(1);

    // The monitor rebuilds the map from the bindings and alerts.
    let m = MonitorCli::new(&http.url, &log.vkey());
    let run = m.once(&["--witness-key", &w1.vkey()]);
    let mm = run.alerted("map-mismatch");
    assert_eq!(mm["index"], bad - 1, "{mm}");
    assert_eq!(
        mm["evidence"]["claimed_map_root"],
        log.map.root().to_base64(),
        "{mm}"
    );
    assert_eq!(
        mm["evidence"]["computed_map_root"],
        log.true_map.root().to_base64(),
        "{mm}"
    );
    assert_eq!(run.of_kind("map-mismatch").len(), 1, "{run:#?}");
}

/// S9: a second publisher key admitted under the watched prefix (a stolen key) binds a
/// watched tag. The monitor alerts `watched-binding` naming that key; the thief cannot freeze
/// the tag with a huge version; the owner rebinds to version + 1 and clients verify the
/// owner's digest again.
#[test]
fn s9_stolen_key_binding_is_alerted_and_the_owner_rebinds() {
    let reg = Registry::start(None);
    let owner = keys::ed25519("owner.test", 91);
    let thief = keys::ed25519("ci.test", 92);
    let prefix = format!("{}/acme", reg.host());
    let server = LogServer::seeded(
        19,
        &[
            (prefix.clone(), owner.verifier().to_string()),
            (prefix.clone(), thief.verifier().to_string()),
        ],
    )
    .start();
    let policy = format!(
        "log {} {}\nquorum none\npublisher {prefix} {}\npublisher {prefix} {}\ninsecure-registry {}\n",
        server.vkey(),
        server.url,
        owner.verifier(),
        thief.verifier(),
        reg.host()
    );
    let c = Cli::new(&policy);
    let okey = c.path("owner.key");
    let tkey = c.path("ci.key");
    keys::write_key(&okey, &owner);
    keys::write_key(&tkey, &thief);
    let r = format!("{prefix}/heavylifter:1.5");

    let (good, good_manifest) = reg.push_image("acme/heavylifter", "1.5", "owner-build");
    c.run(&["publish", &r, "--key", okey.to_str().unwrap()])
        .ok();
    let m = MonitorCli::new(&server.url, &server.vkey());
    let watch = [
        "--watch-prefix",
        prefix.as_str(),
        "--max-age",
        "0",
        "--mmd",
        "0",
    ];
    let first = m.once(&watch);
    let w = first.alerted("watched-binding");
    assert!(w["message"].as_str().unwrap().contains("owner.test"), "{w}");
    assert_eq!(first.alerts.len(), 1, "{first:#?}");

    // The thief pushes its image and binds the tag with the stolen key (version 2).
    let (evil, _) = reg.push_image("acme/heavylifter", "1.5", "backdoored");
    c.run(&["publish", &r, "--key", tkey.to_str().unwrap()])
        .ok()
        .stderr_has("version 2");
    // Until someone acts, clients that trust the key accept it: the monitor is the alarm.
    let j = c.run(&["verify", &r, "--json"]).ok().json();
    assert_eq!(j["digest"], evil);
    let second = m.once(&watch);
    let w = second.alerted("watched-binding");
    assert_eq!(second.alerts.len(), 1, "only the new binding: {second:#?}");
    let msg = w["message"].as_str().unwrap();
    assert!(msg.contains("ci.test"), "{w}");
    assert!(msg.contains(&evil) && msg.contains("version 2"), "{w}");
    assert!(
        w["evidence"]["reason"]
            .as_str()
            .unwrap()
            .contains("watched prefix"),
        "{w}"
    );
    assert_eq!(w["evidence"]["entry"]["index"], w["index"], "{w}");
    assert!(w["index"].as_u64().is_some(), "{w}");

    // No version exhaustion: a jump to the largest version is refused with the expected one.
    let huge = c.run(&[
        "publish",
        &r,
        "--key",
        tkey.to_str().unwrap(),
        "--digest",
        &evil,
        "--version",
        "9223372036854775807",
    ]);
    huge.code(1)
        .stderr_has("409")
        .stderr_has("the next binding must be version 3");

    // The owner restores the image and rebinds: version 3.
    reg.put_manifest("acme/heavylifter", "1.5", &good_manifest);
    c.run(&["publish", &r, "--key", okey.to_str().unwrap()])
        .ok()
        .stderr_has("version 3");
    let v = c.run(&["verify", &r]);
    v.ok().stderr_has("verified");
    assert!(v.stdout.trim().ends_with(&good), "{v:?}");
    let j = c.run(&["verify", &r, "--json"]).ok().json();
    assert_eq!(j["result"], "verified");
    assert_eq!(j["digest"], good);
    assert_eq!(j["current"]["version"], 3);
    // The thief's image is no longer accepted, by this client or a fresh one.
    c.run(&["verify", &r, "--digest", &evil])
        .code(1)
        .stderr_has(&good);
    let fresh = Cli::new(&policy);
    let j = fresh.run(&["verify", &r, "--digest", &evil, "--json"]);
    assert_eq!(j.code(1).json()["code"], "digest-mismatch");
    // The monitor reports the owner's rebind too (the watch list sees every binding).
    let third = m.once(&watch);
    let w = third.alerted("watched-binding");
    assert!(w["message"].as_str().unwrap().contains("owner.test"), "{w}");
    assert!(w["message"].as_str().unwrap().contains("version 3"), "{w}");
}
