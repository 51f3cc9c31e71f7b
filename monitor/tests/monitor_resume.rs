//! Crash safety and real data: an interrupted replay (library-level limit, a killed
//! process, a failing webhook) resumes without gaps and without duplicate alerts; the
//! published log-small vector log yields no alert; the binary's `--once` exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use taglog_monitor::alerts::{Alert, AlertKind};
use taglog_monitor::replay::Replayer;
use taglog_monitor::{Config, Monitor};
use taglog_proofs::hash::sha256;
use taglog_proofs::leaves::Leaf;
use taglog_proofs::note::VerifierKey;
use taglog_testkit::bindings::digest;
use taglog_testkit::crafted::CraftedLog;
use taglog_testkit::keys;
use taglog_testkit::monitor;
use taglog_testkit::process::Proc;
use taglog_testkit::static_server::{read_dir_files, StaticServer};

/// A log of about `n` entries over several checkpoints with faults at known places, and
/// rebinds to digests a ref had two rounds before (found in the notice history).
fn faulty_log(n: u64) -> (CraftedLog, BTreeMap<AlertKind, usize>) {
    let mut log = CraftedLog::admitting();
    let stranger = keys::ed25519("publisher.test", 77);
    let mut i = 0u64;
    let mut rebinds = 0;
    let mut extra_watched = 0;
    while log.size() < n {
        log.bind(&format!("registry.test/acme/app{}:v", i % 50), digest(i));
        if i >= 100 && i.is_multiple_of(31) {
            log.bind(
                &format!("registry.test/acme/app{}:v", i % 50),
                digest(i - 100),
            );
            rebinds += 1;
            if i % 50 == 7 {
                extra_watched += 1;
            }
        }
        if i == n / 3 {
            log.bind_signed("registry.test/acme/x:1", digest(1), 1, log.time, &stranger);
        }
        if i == 2 * n / 3 {
            let p = log.publisher.clone();
            log.bind_signed("registry.test/acme/app0:v", digest(i), 1, log.time, &p);
        }
        if i % 97 == 96 {
            log.commit();
        }
        i += 1;
    }
    log.commit();
    let mut want = BTreeMap::new();
    want.insert(AlertKind::BadSignature, 1);
    want.insert(AlertKind::VersionRegression, 1);
    // every binding of app7 is watched
    let watched = (0..i).filter(|j| j % 50 == 7).count();
    want.insert(AlertKind::WatchedBinding, watched + extra_watched);
    want.insert(AlertKind::RebindToOldDigest, rebinds);
    (log, want)
}

fn config(server: &StaticServer, log: &CraftedLog, dir: &Path) -> Config {
    let mut c = Config::new(&server.url, log.verifier(), dir.to_path_buf());
    c.now = Some(log.time + 10);
    c.chunk = 64;
    c.watch
        .prefixes
        .push("registry.test/acme/app7".parse().unwrap());
    c
}

fn count(alerts: &[Alert]) -> BTreeMap<AlertKind, usize> {
    let mut m = BTreeMap::new();
    for a in alerts {
        *m.entry(a.kind).or_insert(0) += 1;
    }
    m
}

fn assert_unique(alerts: &[Alert]) {
    let mut ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "duplicate alerts");
}

#[tokio::test]
async fn interrupted_replay_resumes_without_gaps_or_duplicates() {
    let (log, want) = faulty_log(1200);
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();

    let whole = Monitor::open(config(&server, &log, &dir.path().join("whole")))
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(count(&whole), want);

    // The same log, with the monitor stopped every 150 entries and reopened from disk.
    let mut all = Vec::new();
    let mut restarts = 0;
    loop {
        let mut c = config(&server, &log, &dir.path().join("pieces"));
        c.max_entries = Some(150);
        let mut m = Monitor::open(c).unwrap();
        all.extend(m.run_once().await.unwrap());
        restarts += 1;
        let st = m.state();
        assert!(st.replayed <= st.verified_size());
        if st.replayed == size {
            break;
        }
        assert!(restarts < 100);
    }
    assert!(restarts >= 8);
    assert_unique(&all);

    // And in one process with bounded polls (follow mode): entries prefetched while
    // verifying are consumed across polls.
    let mut c = config(&server, &log, &dir.path().join("bounded"));
    c.max_entries = Some(150);
    let mut m = Monitor::open(c).unwrap();
    let mut bounded = Vec::new();
    while m.state().replayed < size || m.state().verified_size() == 0 {
        bounded.extend(m.poll().await.unwrap().alerts);
    }
    assert_eq!(count(&bounded), want);
    let mut a: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
    let mut b: Vec<&str> = whole.iter().map(|a| a.id.as_str()).collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "the interrupted run found exactly the same alerts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_signature_checks_raise_what_the_sequential_path_raises() {
    let (log, want) = faulty_log(3000);
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let mut runs = Vec::new();
    for threads in [1usize, 2, 5] {
        let path = dir.path().join(threads.to_string());
        let mut c = config(&server, &log, &path);
        c.chunk = 1000;
        c.verify_threads = threads;
        let alerts = Monitor::open(c).unwrap().run_once().await.unwrap();
        assert_eq!(count(&alerts), want, "{threads} threads");
        let mut ids: Vec<String> = alerts.into_iter().map(|a| a.id).collect();
        ids.sort_unstable();
        runs.push((ids, read_json(&path.join("state.json"))["replay"].clone()));
    }
    assert!(
        runs.windows(2).all(|w| w[0] == w[1]),
        "same alerts and state"
    );
}

#[tokio::test]
async fn failing_webhook_keeps_alerts_and_retries_without_repeating_stdout() {
    let mut log = CraftedLog::admitting();
    log.bind("registry.test/acme/app7:v", digest(1));
    let size = log.commit();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let file = dir.path().join("alerts.jsonl");
    let mut c = config(&server, &log, &dir.path().join("s"));
    c.sink.file = Some(file.clone());
    // Nothing listens on this port: the webhook fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    c.sink.webhook = Some(dead);
    let mut m = Monitor::open(c.clone()).unwrap();
    let r = m.poll().await.unwrap();
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(r.undelivered, 1, "the webhook still owes one alert");
    drop(m);
    // Restart with a webhook that works.
    let hook = StaticServer::start();
    c.sink.webhook = Some(format!("{}/hook", hook.url));
    let mut m = Monitor::open(c).unwrap();
    let r = m.poll().await.unwrap();
    assert!(r.alerts.is_empty(), "nothing new for stdout and the file");
    assert_eq!(r.undelivered, 0);
    let posts = hook.posts();
    assert_eq!(posts.len(), 1);
    let posted: Alert = serde_json::from_slice(&posts[0].1).unwrap();
    assert_eq!(posted.kind, AlertKind::WatchedBinding);
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        lines.lines().count(),
        1,
        "the alert file saw the alert once"
    );
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../proofs/tests/vectors/taglog/log-small")
}

#[tokio::test]
async fn published_log_small_vector_yields_no_alert() {
    let dir = vectors();
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("keys.json")).unwrap()).unwrap();
    let log_key = VerifierKey::from_str(keys["log"].as_str().unwrap()).unwrap();
    let witness_key = VerifierKey::from_str(keys["witness"].as_str().unwrap()).unwrap();
    let files = read_dir_files(&dir);
    assert!(files.len() > 5);
    let server = StaticServer::with_files(files);
    let state = taglog_testkit::tempdir();
    let mut c = Config::new(&server.url, log_key, state.path().join("s"));
    c.witness_keys.push(witness_key);
    // Every signed checkpoint of the log, reported by "clients".
    c.reports = Some(dir.join("checkpoints"));
    // The vectors were made at a fixed time; judge freshness as of then.
    c.now = Some(1_764_000_100);
    c.chunk = 10;
    let mut m = Monitor::open(c).unwrap();
    let alerts = m.run_once().await.unwrap();
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert_eq!(m.state().replayed, keys["size"].as_u64().unwrap());
    assert_eq!(
        m.state().replay.admitted.len(),
        2,
        "beta removed at the end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_process_resumes_without_gaps_or_duplicate_alerts() {
    let (log, want) = faulty_log(4000);
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let state = dir.path().join("state");
    let alerts = dir.path().join("alerts.jsonl");
    let (url, vkey) = (server.url.clone(), log.verifier().to_string());
    let (state_arg, alerts_arg) = (state.display().to_string(), alerts.display().to_string());
    let args = move |mode: &str| -> Vec<String> {
        vec![
            mode.into(),
            "--log".into(),
            url.clone(),
            "--log-key".into(),
            vkey.clone(),
            "--state-dir".into(),
            state_arg.clone(),
            "--alert-file".into(),
            alerts_arg.clone(),
            "--watch-prefix".into(),
            "registry.test/acme/app7".into(),
            "--chunk".into(),
            "50".into(),
            "--max-age".into(),
            "0".into(),
            "--interval".into(),
            "1".into(),
        ]
    };
    // Kill it (SIGKILL) several times, each time after it made some progress but before it
    // finished, and start it again.
    let replayed_now = || -> u64 {
        std::fs::read(state.join("state.json"))
            .ok()
            .and_then(|s| serde_json::from_slice::<serde_json::Value>(&s).ok())
            .and_then(|v| v["replayed"].as_u64())
            .unwrap_or(0)
    };
    // The same log replayed without interruption, for reference.
    let mut c = config(&server, &log, &dir.path().join("whole"));
    c.chunk = 50;
    let whole = Monitor::open(c).unwrap().run_once().await.unwrap();
    assert_eq!(count(&whole), want);

    // Each kill lands at a different delay after the monitor saved some progress: before,
    // during or after the next range's writes to the replay database.
    let mut kills = Vec::new();
    for round in 0..8u64 {
        let before = replayed_now();
        if before == size {
            break;
        }
        let mut follow = monitor::command();
        follow.args(args("--follow"));
        let mut child = Proc::spawn("taglog-monitor", follow, &dir.path().join("follow.log"));
        let start = Instant::now();
        while replayed_now() <= before {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "monitor made no progress"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(round * 7 % 23)).await;
        child.kill();
        kills.push(replayed_now());
    }
    assert!(
        kills.first().is_some_and(|&k| k < size),
        "killed mid-replay at least once: {kills:?} of {size}"
    );

    let once = args("--once");
    let out = tokio::task::spawn_blocking(move || monitor::command().args(once).output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "alerts fired: exit 1");
    let lines = std::fs::read_to_string(&alerts).unwrap();
    let got: Vec<Alert> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_unique(&got);
    assert_eq!(count(&got), want);
    let mut a: Vec<&str> = got.iter().map(|a| a.id.as_str()).collect();
    let mut b: Vec<&str> = whole.iter().map(|a| a.id.as_str()).collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(
        a, b,
        "the killed runs found exactly the alerts of one uninterrupted run"
    );
    // And ended in the same replay state (map version, bindings since the last state leaf).
    let replay_state = |d: &Path| -> serde_json::Value {
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("state.json")).unwrap()).unwrap();
        s["replay"].clone()
    };
    assert_eq!(
        replay_state(&state),
        replay_state(&dir.path().join("whole"))
    );
    // stdout of the second run holds exactly the alerts the first one had not delivered.
    let printed = String::from_utf8(out.stdout).unwrap().lines().count();
    assert!(printed <= got.len());

    // Nothing new: exit 0.
    let once = args("--once");
    let out = tokio::task::spawn_blocking(move || monitor::command().args(once).output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

/// The notice history an earlier monitor kept in `state.json` after `entries`: hex
/// SHA-256(ref ‖ "\n" ‖ digest) → index of its last binding, hex SHA-256(ref) → digest.
fn earlier_notices(entries: &[Vec<u8>]) -> (BTreeMap<String, u64>, BTreeMap<String, String>) {
    let (mut bound, mut current) = (BTreeMap::new(), BTreeMap::new());
    for (i, e) in entries.iter().enumerate() {
        if let Ok(Leaf::Binding(b)) = Leaf::parse(e) {
            let binding = b.binding();
            let digest = binding.digest.to_string();
            let pair = sha256(format!("{}\n{digest}", binding.reference.as_str()).as_bytes());
            bound.insert(hex::encode(pair.0), i as u64);
            current.insert(hex::encode(binding.reference.key().0), digest);
        }
    }
    (bound, current)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn state_of_an_earlier_monitor_is_taken_over() {
    let (log, want) = faulty_log(1200);
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let whole = Monitor::open(config(&server, &log, &dir.path().join("whole")))
        .unwrap()
        .run_once()
        .await
        .unwrap();
    assert_eq!(count(&whole), want);

    // Part of the log replayed, then the state rewritten as an earlier monitor kept it: the
    // whole tag map and notice history in state.json (format 1), no replay database.
    let path = dir.path().join("earlier");
    let mut c = config(&server, &log, &path);
    c.max_entries = Some(700);
    let mut all = Monitor::open(c).unwrap().run_once().await.unwrap();
    let mut st = read_json(&path.join("state.json"));
    let replayed = st["replayed"].as_u64().unwrap();
    assert!(replayed > 0 && replayed < size, "{replayed} of {size}");
    let entries = &log.entries[..replayed as usize];
    let mut r = Replayer::new(&log.origin());
    for (i, e) in entries.iter().enumerate() {
        r.check(i as u64, e).unwrap();
    }
    let replay = r.state();
    assert!(replay.map_version.is_none() && replay.map.len() > 40);
    let (bound, current) = earlier_notices(entries);
    st["format"] = 1.into();
    st["replay"] = serde_json::to_value(&replay).unwrap();
    st["notices"]["bound"] = serde_json::to_value(&bound).unwrap();
    st["notices"]["current"] = serde_json::to_value(&current).unwrap();
    std::fs::write(path.join("state.json"), serde_json::to_vec(&st).unwrap()).unwrap();
    std::fs::remove_dir_all(path.join("replay-db")).unwrap();

    let mut m = Monitor::open(config(&server, &log, &path)).unwrap();
    all.extend(m.run_once().await.unwrap());
    drop(m);
    assert_unique(&all);
    let mut a: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
    let mut b: Vec<&str> = whole.iter().map(|a| a.id.as_str()).collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "the taken-over state found exactly the same alerts");
    let st = read_json(&path.join("state.json"));
    assert_eq!(st["format"], 2);
    assert!(st["notices"].get("bound").is_none() && st["notices"].get("current").is_none());
    assert_eq!(
        st["replay"],
        read_json(&dir.path().join("whole/state.json"))["replay"]
    );
}

#[tokio::test]
async fn missing_replay_database_is_a_clear_error_and_changes_nothing() {
    let (log, _) = faulty_log(400);
    let size = log.size();
    let server = StaticServer::with_files(log.files(size));
    let dir = taglog_testkit::tempdir();
    let path = dir.path().join("state");
    Monitor::open(config(&server, &log, &path))
        .unwrap()
        .run_once()
        .await
        .unwrap();
    std::fs::remove_dir_all(path.join("replay-db")).unwrap();
    let before = std::fs::read(path.join("state.json")).unwrap();
    let err = Monitor::open(config(&server, &log, &path))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("replay database") && err.contains("missing"),
        "{err}"
    );
    assert_eq!(std::fs::read(path.join("state.json")).unwrap(), before);
    assert!(!path.join("replay-db").exists());

    // A state from a newer monitor is refused, not misread.
    let mut st = read_json(&path.join("state.json"));
    st["format"] = 3.into();
    std::fs::write(path.join("state.json"), serde_json::to_vec(&st).unwrap()).unwrap();
    let err = Monitor::open(config(&server, &log, &path))
        .unwrap_err()
        .to_string();
    assert!(err.contains("format 3"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_exit_codes() {
    let dir = taglog_testkit::tempdir();
    // Unreachable log: 3.
    let out = tokio::task::spawn_blocking({
        let state = dir.path().join("a");
        move || {
            monitor::command()
                .args(["--once", "--log", "http://127.0.0.1:9", "--log-key"])
                .arg(CraftedLog::admitting().vkey())
                .arg("--state-dir")
                .arg(state)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    // Bad key: 2.
    let out = monitor::command()
        .args(["--once", "--log", "http://127.0.0.1:9", "--log-key", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Honest log: 0, and an alert line per watched binding on stdout with --watch-prefix.
    let mut log = CraftedLog::admitting();
    log.bind("registry.test/acme/app:1", digest(1));
    let size = log.commit();
    let server = StaticServer::with_files(log.files(size));
    let url = server.url.clone();
    let vkey = log.verifier().to_string();
    let state = dir.path().join("b");
    let out = tokio::task::spawn_blocking(move || {
        let honest = monitor::command()
            .args([
                "--once",
                "--max-age",
                "0",
                "--log",
                &url,
                "--log-key",
                &vkey,
            ])
            .arg("--state-dir")
            .arg(&state)
            .output()
            .unwrap();
        let watched = monitor::command()
            .args([
                "--once",
                "--max-age",
                "0",
                "--log",
                &url,
                "--log-key",
                &vkey,
            ])
            .args(["--watch-prefix", "registry.test/acme"])
            .arg("--state-dir")
            .arg(state.with_extension("w"))
            .output()
            .unwrap();
        (honest, watched)
    })
    .await
    .unwrap();
    assert_eq!(out.0.status.code(), Some(0), "{out:?}");
    assert!(out.0.stdout.is_empty());
    assert_eq!(out.1.status.code(), Some(1));
    let line = String::from_utf8(out.1.stdout).unwrap();
    let alert: Alert = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(alert.kind, AlertKind::WatchedBinding);
}

#[tokio::test]
async fn listen_endpoints_metrics_healthz_and_reports() {
    use std::sync::{Arc, Mutex};
    use taglog_monitor::monitor::Metrics;
    use taglog_monitor::serve::{router, Shared};

    let log = CraftedLog::admitting();
    let dir = taglog_testkit::tempdir();
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    let shared = Shared {
        metrics: metrics.clone(),
        reports: dir.path().join("reports"),
        log_key: log.verifier(),
        health_bound: 60,
        now: || 1000,
        open_connections: Arc::default(),
    };
    let server = taglog_monitor::listen::HttpFlags::default()
        .bind(
            "127.0.0.1:0".parse().unwrap(),
            router(shared.clone()),
            taglog_monitor::serve::MAX_REPORT_BYTES,
            taglog_monitor::serve::DEFAULT_REQUEST_TIMEOUT,
            Arc::clone(&shared.open_connections),
        )
        .await
        .unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    tokio::spawn(server.run(std::future::pending()));
    let http = reqwest::Client::new();

    let r = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 503, "no successful poll yet");
    {
        let mut m = metrics.lock().unwrap();
        m.last_success = 990;
        m.verified_size = 42;
        m.alerts.insert("fork", 2);
    }
    let r = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("taglog_monitor_verified_size 42"));
    assert!(text.contains("taglog_monitor_alerts_total{kind=\"fork\"} 2"));
    assert!(text.contains("taglog_monitor_alerts_total{kind=\"log-rollback\"} 0"));

    let bad = http
        .post(format!("{url}/report"))
        .body("junk")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let note = log.sign_other(0, taglog_proofs::hash::empty_root());
    let ok = http
        .post(format!("{url}/report"))
        .body(note.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read(&files[0]).unwrap(), note);
}
