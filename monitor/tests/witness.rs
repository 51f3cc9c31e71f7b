//! End-to-end tests of the `taglog-witness` binary: C2SP tlog-witness status codes,
//! cosignatures that verify, durability across restarts, and compare-and-swap under races.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, SignedCheckpoint};
use taglog_proofs::cosignature::verify_cosignature;
use taglog_proofs::hash::{empty_root, Hash};
use taglog_proofs::note::{KeyType, SignerKey, VerifierKey};
use taglog_proofs::witness::{origin_hash_hex, parse_cosignature_response, parse_size_body};
use taglog_testkit::bins::Bin;
use taglog_testkit::crafted::{add_checkpoint_body, CraftedLog};
use taglog_testkit::http::{self, Resp};
use taglog_testkit::witness::{add_checkpoint, init_key, Witness};

struct Setup {
    dir: taglog_testkit::TempDir,
    wkey: VerifierKey,
    args: Vec<String>,
}

fn setup(logs: &[&CraftedLog]) -> Setup {
    let dir = taglog_testkit::tempdir();
    let key_path = dir.path().join("witness.key");
    let wkey = init_key(&key_path, "witness.test/w1");
    let mut args = vec![
        "--key".to_owned(),
        key_path.display().to_string(),
        "--data-dir".to_owned(),
        dir.path().join("data").display().to_string(),
    ];
    for log in logs {
        args.push("--log".to_owned());
        args.push(log.vkey());
    }
    Setup { dir, wkey, args }
}

impl Setup {
    fn start(&self) -> Witness {
        Witness::spawn(self.dir.path(), &self.args)
    }
}

/// Asserts a 200 whose body is exactly one cosignature line by `wkey` over `cp`, fresh.
fn assert_cosigned(resp: &Resp, cp: &Checkpoint, wkey: &VerifierKey) {
    assert_eq!(resp.status, 200, "{}", resp.text());
    let sigs = parse_cosignature_response(&resp.body).unwrap();
    assert_eq!(sigs.len(), 1);
    let time = verify_cosignature(&sigs[0], &cp.to_text(), wkey).unwrap();
    let now = taglog_testkit::now();
    assert!(time <= now && time + 60 >= now, "time {time} vs now {now}");
}

fn assert_conflict(resp: &Resp, size: u64) {
    assert_eq!(resp.status, 409, "{}", resp.text());
    assert_eq!(resp.content_type, "text/x.tlog.size");
    assert_eq!(parse_size_body(&resp.body).unwrap(), size);
}

/// The served checkpoint: verifies with the log key, carries our cosignature, has `size`.
fn served(url: &str, log: &CraftedLog, wkey: &VerifierKey) -> Option<Checkpoint> {
    let r = http::get(&format!(
        "{url}/{}/checkpoint",
        origin_hash_hex(&log.origin())
    ));
    if r.status == 404 {
        return None;
    }
    assert_eq!(r.status, 200);
    let signed = SignedCheckpoint::open(&r.body, &log.key.verifier()).unwrap();
    assert_eq!(
        signed
            .cosignatures(std::slice::from_ref(wkey))
            .unwrap()
            .len(),
        1
    );
    Some(signed.checkpoint().clone())
}

#[test]
fn cosigns_extensions_and_refuses_conflicts_forks_and_bad_proofs() {
    let mut log = CraftedLog::new("log.test/a", 1);
    log.append_n(5, "a");
    let s = setup(&[&log]);
    let w = s.start();
    assert_eq!(served(&w.url, &log, &s.wkey), None);

    // From 0: no proof needed.
    assert_cosigned(
        &add_checkpoint(&w.url, log.request(0, 5)),
        &log.checkpoint(5),
        &s.wkey,
    );
    assert_eq!(served(&w.url, &log, &s.wkey), Some(log.checkpoint(5)));

    // The same checkpoint again (old = new = 5, same root) is cosigned again.
    assert_cosigned(
        &add_checkpoint(&w.url, log.request(5, 5)),
        &log.checkpoint(5),
        &s.wkey,
    );

    // Wrong old size: 409 with the current size, as text/x.tlog.size.
    log.append_n(4, "a");
    assert_conflict(&add_checkpoint(&w.url, log.request(0, 9)), 5);
    assert_conflict(&add_checkpoint(&w.url, log.request(3, 9)), 5);

    // Consistency from the previous size.
    assert_cosigned(
        &add_checkpoint(&w.url, log.request(5, 9)),
        &log.checkpoint(9),
        &s.wkey,
    );
    assert_conflict(&add_checkpoint(&w.url, log.request(5, 9)), 9);

    // A bad proof: a flipped bit in each proof hash in turn, and a truncated and an extended
    // proof: 422, and the served checkpoint is unchanged.
    log.append_n(3, "a");
    let proof = taglog_proofs::consistency::consistency_proof(9, 12, &log.tree).unwrap();
    assert!(!proof.is_empty());
    let mut bad_proofs = Vec::new();
    for i in 0..proof.len() {
        let mut p = proof.clone();
        p[i].0[7] ^= 0x10;
        bad_proofs.push(p);
    }
    bad_proofs.push(proof[..proof.len() - 1].to_vec());
    let mut longer = proof.clone();
    longer.push(Hash([1; 32]));
    bad_proofs.push(longer);
    for p in bad_proofs {
        let r = add_checkpoint(&w.url, add_checkpoint_body(9, p, log.signed(12)));
        assert_eq!(r.status, 422, "{}", r.text());
    }
    assert_eq!(served(&w.url, &log, &s.wkey), Some(log.checkpoint(9)));

    // A fork: same key, another root at the same size (old = new = 9): 422.
    let mut fork = CraftedLog::new("log.test/a", 1);
    fork.append_n(9, "fork");
    assert_eq!(fork.vkey(), log.vkey());
    let r = add_checkpoint(&w.url, fork.request(9, 9));
    assert_eq!(r.status, 422, "{}", r.text());
    // A fork at a larger size with a proof that is valid for the forked tree: 422.
    fork.append_n(3, "fork");
    let r = add_checkpoint(&w.url, fork.request(9, 12));
    assert_eq!(r.status, 422, "{}", r.text());
    // Both fork attempts were validly signed: kept as evidence, with our checkpoint.
    let evidence_dir = s
        .dir
        .path()
        .join("data/logs")
        .join(origin_hash_hex(&log.origin()))
        .join("evidence");
    let evidence: Vec<String> = std::fs::read_dir(&evidence_dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    // 6 bad proofs or more (one per proof hash, truncated, extended) and the 2 forks.
    assert!(evidence.len() >= 8, "{} evidence files", evidence.len());
    let fork_text = fork.checkpoint(9).to_text().replace('\n', "\\n");
    assert!(evidence.iter().any(|e| e.contains(&fork_text)));
    // A fork presented as a fresh start: 409 naming our size.
    assert_conflict(&add_checkpoint(&w.url, fork.request(0, 12)), 9);
    assert_eq!(served(&w.url, &log, &s.wkey), Some(log.checkpoint(9)));

    // The honest extension still works after all those refusals.
    assert_cosigned(
        &add_checkpoint(&w.url, log.request(9, 12)),
        &log.checkpoint(12),
        &s.wkey,
    );
}

#[test]
fn unknown_origins_bad_signatures_and_malformed_bodies() {
    let mut log = CraftedLog::new("log.test/b", 2);
    log.append_n(3, "b");
    let s = setup(&[&log]);
    let w = s.start();

    // Unknown origin: 404.
    let mut other = CraftedLog::new("log.test/unknown", 3);
    other.append_n(3, "u");
    let r = add_checkpoint(&w.url, other.request(0, 3));
    assert_eq!(r.status, 404, "{}", r.text());
    let r = http::get(&format!(
        "{}/{}/checkpoint",
        w.url,
        origin_hash_hex("log.test/unknown")
    ));
    assert_eq!(r.status, 404);

    // Known origin signed by another key of the same name: no trusted signature, 403.
    let mut impostor = CraftedLog::new("log.test/b", 4);
    impostor.append_n(3, "b");
    let r = add_checkpoint(&w.url, impostor.request(0, 3));
    assert_eq!(r.status, 403, "{}", r.text());

    // The trusted key's line with a corrupted signature: 403.
    let mut signed = log.signed(3);
    let text = String::from_utf8(signed.clone()).unwrap();
    let sig_start = text.rfind(' ').unwrap() + 10;
    signed[sig_start] = if signed[sig_start] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let r = add_checkpoint(&w.url, add_checkpoint_body(0, vec![], signed));
    assert_eq!(r.status, 403, "{}", r.text());

    // The trusted signature plus an unknown extra signature: accepted, unknown line ignored,
    // and not served back.
    let extra = SignerKey::from_seed("someone.else".parse().unwrap(), KeyType::Ed25519, [9; 32]);
    let cp = log.checkpoint(3);
    let two = taglog_proofs::note::sign_note(&cp.to_text(), &[&log.key, &extra]).unwrap();
    let r = add_checkpoint(&w.url, add_checkpoint_body(0, vec![], two));
    assert_eq!(r.status, 200, "{}", r.text());
    let served = http::get(&format!(
        "{}/{}/checkpoint",
        w.url,
        origin_hash_hex(&log.origin())
    ));
    assert!(!served.text().contains("someone.else"));

    // Malformed bodies: 400, state unchanged.
    log.append_n(2, "b");
    let good = log.request(3, 5);
    let good_text = String::from_utf8(good.clone()).unwrap();
    let malformed: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"garbage".to_vec(),
        good_text.replacen("old 3", "old 03", 1).into_bytes(),
        good_text.replacen("old 3", "old  3", 1).into_bytes(),
        good_text.replacen("old 3", "old -3", 1).into_bytes(),
        good_text.replacen("old 3\n", "old 3\r\n", 1).into_bytes(),
        good_text.replacen("\n\n", "\n", 1).into_bytes(), // no blank line before the note
        good_text
            .replacen("log.test/b\n5\n", "log.test/b\n05\n", 1)
            .into_bytes(),
        good_text
            .replacen("\n\nlog.test/b", "\nnot base64!\n\nlog.test/b", 1)
            .into_bytes(),
        good[..good.len() - 1].to_vec(), // no final newline
        add_checkpoint_body(3, vec![Hash([0; 32]); 64], log.signed(5)),
        // Old size above the checkpoint size.
        add_checkpoint_body(6, vec![], log.signed(5)),
    ];
    for (i, b) in malformed.into_iter().enumerate() {
        let r = add_checkpoint(&w.url, b);
        assert_eq!(r.status, 400, "case {i}: {}", r.text());
    }
    // Extension lines are not taglog checkpoints: refused as malformed.
    let ext = taglog_proofs::note::sign_note(
        &format!("{}extension\n", log.checkpoint(5).to_text()),
        &[&log.key],
    )
    .unwrap();
    let r = add_checkpoint(&w.url, add_checkpoint_body(3, vec![], ext));
    assert_eq!(r.status, 400, "{}", r.text());

    // Oversized: 413 before parsing.
    let huge = vec![b'a'; taglog_proofs::witness::MAX_ADD_CHECKPOINT_BYTES + 1];
    let r = add_checkpoint(&w.url, huge);
    assert_eq!(r.status, 413);

    // The real request still works.
    let r = add_checkpoint(&w.url, good);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn empty_tree_rules() {
    let log = CraftedLog::new("log.test/c", 5);
    let s = setup(&[&log]);
    let w = s.start();
    // Size 0 with a root other than SHA-256(""): 422.
    let wrong = Checkpoint::new("log.test/c", 0, Hash([0; 32])).unwrap();
    let r = add_checkpoint(
        &w.url,
        add_checkpoint_body(0, vec![], sign_checkpoint(&wrong, &log.key).unwrap()),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    // Size 0 with the empty root: cosigned.
    let empty = Checkpoint::new("log.test/c", 0, empty_root()).unwrap();
    let r = add_checkpoint(
        &w.url,
        add_checkpoint_body(0, vec![], sign_checkpoint(&empty, &log.key).unwrap()),
    );
    assert_cosigned(&r, &empty, &s.wkey);
    // Proof lines with old size 0: 422.
    let mut log = log;
    log.append_n(4, "c");
    let r = add_checkpoint(
        &w.url,
        add_checkpoint_body(0, vec![Hash([2; 32])], log.signed(4)),
    );
    assert_eq!(r.status, 422, "{}", r.text());
}

#[test]
fn state_survives_restart() {
    let mut log = CraftedLog::new("log.test/d", 6);
    log.append_n(7, "d");
    let s = setup(&[&log]);
    let w = s.start();
    assert_eq!(add_checkpoint(&w.url, log.request(0, 7)).status, 200);
    w.stop();

    let w = s.start();
    assert_conflict(&add_checkpoint(&w.url, log.request(0, 7)), 7);
    assert_eq!(served(&w.url, &log, &s.wkey), Some(log.checkpoint(7)));
    log.append_n(2, "d");
    assert_cosigned(
        &add_checkpoint(&w.url, log.request(7, 9)),
        &log.checkpoint(9),
        &s.wkey,
    );
    // Kill -9 right after a 200: the new size is still there.
    w.stop();
    let w = s.start();
    assert_conflict(&add_checkpoint(&w.url, log.request(7, 9)), 9);
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused() {
    let log = CraftedLog::new("log.test/e", 7);
    let s = setup(&[&log]);
    let _w = s.start();
    let out = Bin::Witness
        .command()
        .args(&s.args)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("locked"));
}

#[test]
fn concurrent_requests_cannot_roll_back() {
    let mut log = CraftedLog::new("log.test/f", 8);
    log.append_n(40, "f");
    let s = setup(&[&log]);
    let w = s.start();
    assert_eq!(add_checkpoint(&w.url, log.request(0, 10)).status, 200);
    // 30 concurrent requests all claiming old size 10, to sizes 11..=40: exactly one wins;
    // the others see 409 with the winner's size.
    let url = w.url.clone();
    let bodies: Vec<(u64, Vec<u8>)> = (11..=40).map(|n| (n, log.request(10, n))).collect();
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|(n, b)| {
            let url = url.clone();
            std::thread::spawn(move || (n, add_checkpoint(&url, b)))
        })
        .collect();
    let results: Vec<(u64, Resp)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<u64> = results
        .iter()
        .filter(|(_, r)| r.status == 200)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one request may win");
    for (_, r) in &results {
        if r.status != 200 {
            assert_conflict(r, winners[0]);
        }
    }
    assert_eq!(
        served(&w.url, &log, &s.wkey),
        Some(log.checkpoint(winners[0]))
    );
}

#[test]
fn key_file_rules() {
    let dir = taglog_testkit::tempdir();
    let key = dir.path().join("k");
    init_key(&key, "witness.test/w2");
    // --init never overwrites.
    let out = Bin::Witness
        .command()
        .args(["--init", "--name", "x", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // A key readable by others is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let log = CraftedLog::new("log.test/g", 9);
        let out = Bin::Witness
            .command()
            .args(["--key"])
            .arg(&key)
            .args(["--log", &log.vkey(), "--data-dir"])
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    }
}

#[test]
fn a_failed_write_answers_500_and_changes_nothing() {
    let mut log = CraftedLog::new("log.test/h", 10);
    log.append_n(6, "h");
    let s = setup(&[&log]);
    let w = s.start();
    assert_eq!(add_checkpoint(&w.url, log.request(0, 3)).status, 200);
    // Block the temp file the store writes ("failed and not persisted").
    let origin_dir = s
        .dir
        .path()
        .join("data/logs")
        .join(origin_hash_hex(&log.origin()));
    let blocker = origin_dir.join(format!(".checkpoint.tmp-{}", w.proc.pid()));
    std::fs::create_dir(&blocker).unwrap();
    let r = add_checkpoint(&w.url, log.request(3, 6));
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(served(&w.url, &log, &s.wkey), Some(log.checkpoint(3)));
    assert_conflict(&add_checkpoint(&w.url, log.request(0, 6)), 3);
    // Once storage works again, the same request succeeds.
    std::fs::remove_dir(&blocker).unwrap();
    assert_cosigned(
        &add_checkpoint(&w.url, log.request(3, 6)),
        &log.checkpoint(6),
        &s.wkey,
    );
}

#[test]
fn kill_9_never_loses_an_acknowledged_size() {
    let mut log = CraftedLog::new("log.test/k", 11);
    log.append_n(400, "k");
    let log = std::sync::Arc::new(log);
    let s = setup(&[&log]);
    let mut acknowledged = 0u64;
    let mut delay_ms = 7u64;
    for round in 0..12 {
        let w = s.start();
        // Where the witness stands after the restart: never below what it acknowledged.
        let current = served(&w.url, &log, &s.wkey).map_or(0, |cp| cp.size());
        assert!(
            current >= acknowledged,
            "round {round}: size {current} after restart, but {acknowledged} was acknowledged"
        );
        if current > 0 {
            assert_eq!(served(&w.url, &log, &s.wkey), Some(log.checkpoint(current)));
            assert_conflict(&add_checkpoint(&w.url, log.request(0, 400)), current);
        }
        acknowledged = current;
        if current >= 399 {
            break;
        }
        // Grow one leaf at a time from a thread; kill -9 the witness mid-stream.
        let url = w.url.clone();
        let l = std::sync::Arc::clone(&log);
        let sender = std::thread::spawn(move || {
            let mut acked = current;
            let client = http::blocking();
            for n in current + 1..=399 {
                let resp = client
                    .post(format!("{url}/add-checkpoint"))
                    .body(l.request(acked, n))
                    .send();
                match resp {
                    Ok(r) if r.status().as_u16() == 200 => acked = n,
                    _ => break,
                }
            }
            acked
        });
        delay_ms = (delay_ms * 7 + 13) % 100 + 20;
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        w.stop();
        acknowledged = sender.join().unwrap();
    }
    assert!(acknowledged > 0);
}
