//! The monitor loop: one [`Monitor::poll`] fetches the log's checkpoint and the checkpoints
//! of witnesses and clients, verifies the largest one from the log's tiles, replays the new
//! entries in checked ranges, and raises alerts (DESIGN.md §6).
//!
//! Order of a poll, and why:
//! 1. Deliver alerts left in the outbox (a crash or a failing webhook last time).
//! 2. `GET /checkpoint`; a bad log signature is `bad-signature`; a smaller size than served
//!    before is `log-rollback`.
//! 3. Advance: the largest log-signed checkpoint seen (log, witnesses, reports) is accepted
//!    only if the entries served rebuild its root on top of the verified tree. Otherwise
//!    `tile-mismatch` (the log's own checkpoint) or `fork-risk` (a checkpoint seen
//!    elsewhere), and the log's own checkpoint is tried next.
//! 4. Replay the verified entries not yet checked, at most `chunk` at a time; after each
//!    range the replay state, the range end and the alerts it produced are saved in one
//!    atomic write, then the alerts are delivered. A crash re-checks the range; stable
//!    alert ids keep a re-check from alerting twice.
//! 5. Compare every log-signed checkpoint no larger than the verified tree with it (`fork`).
//! 6. Freshness (`stale-checkpoint`).
//!
//! Out of scope: the rules themselves ([`crate::replay`], [`crate::checks`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use taglog_proofs::checkpoint::{CheckpointError, SignedCheckpoint};
use taglog_proofs::hash::Hash;
use taglog_proofs::note::{NoteError, VerifierKey};
use taglog_proofs::tree::TreeError;

mod advance;
mod replaying;

use crate::alerts::{Alert, AlertSink};
use crate::checks::{self, SeenCheckpoint, Watchlist};
use crate::follow::{self, FetchError, LogClient};
use crate::replay::{ReplayError, Replayer};
use crate::state::{StateDefect, StateDir, StateError, EARLIER_STATE_FORMAT, STATE_FORMAT};
use crate::store::{DiskMap, ReplayDb, StoreError, DB_DIR};

/// Default number of entries replayed between two state saves.
pub const DEFAULT_CHUNK: u64 = 65_536;
/// Default freshness bound in seconds (DESIGN §3.9 `max-age`).
pub const DEFAULT_MAX_AGE: u64 = 3600;
/// Default maximum merge delay in seconds (DESIGN §5).
pub const DEFAULT_MMD: u64 = 300;
/// The most report files read per poll.
pub const MAX_REPORTS: usize = 1000;

/// Monitor configuration (the binary fills it from flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Base URL of the log or of a mirror of its tiles.
    pub log_url: String,
    /// The log's public key; its name is the origin.
    pub log_key: VerifierKey,
    /// Witness base URLs to compare checkpoints with.
    pub witness_urls: Vec<String>,
    /// Witness cosigning keys whose cosignatures count for freshness.
    pub witness_keys: Vec<VerifierKey>,
    /// A file or directory of signed checkpoints reported by clients.
    pub reports: Option<PathBuf>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Watched prefixes and keys.
    pub watch: Watchlist,
    /// Freshness bound (seconds); `None` disables `stale-checkpoint`.
    pub max_age: Option<u64>,
    /// Maximum merge delay (seconds); `None` disables `mmd-violation`.
    pub mmd: Option<u64>,
    /// Entries replayed between saves.
    pub chunk: u64,
    /// Stop a poll after replaying this many entries (bounded polls in `--follow`; tests of
    /// interrupted replays).
    pub max_entries: Option<u64>,
    /// A fixed clock (tests); `None` uses the system clock.
    pub now: Option<u64>,
    /// Print catch-up progress on stderr (the binary sets it when stderr is a terminal).
    pub progress: bool,
    /// Threads that verify binding signatures during the replay (0: every core; 1: the
    /// sequential path). See [`Replayer::set_verify_threads`].
    pub verify_threads: usize,
    /// Alert destinations.
    pub sink: AlertSink,
}

impl Config {
    /// A configuration with defaults for everything but the log and the state directory.
    pub fn new(log_url: &str, log_key: VerifierKey, state_dir: PathBuf) -> Config {
        Config {
            log_url: log_url.to_owned(),
            log_key,
            witness_urls: Vec::new(),
            witness_keys: Vec::new(),
            reports: None,
            state_dir,
            watch: Watchlist::default(),
            max_age: Some(DEFAULT_MAX_AGE),
            mmd: Some(DEFAULT_MMD),
            chunk: DEFAULT_CHUNK,
            max_entries: None,
            now: None,
            progress: false,
            verify_threads: 0,
            sink: AlertSink::default(),
        }
    }
}

/// Why a poll could not complete (alerts are not errors).
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The state directory failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The log could not be read.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The replay state is corrupt.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// A stored checkpoint no longer opens (the state is damaged or the key changed).
    #[error("stored checkpoint does not verify with the configured log key: {0}")]
    StoredCheckpoint(#[source] CheckpointError),
    /// The log's `/checkpoint` is not a checkpoint signed by the configured key (a bad
    /// signature also raises `bad-signature`).
    #[error("the log's checkpoint does not open with the configured log key: {0}")]
    BadCheckpoint(#[source] CheckpointError),
    /// The verified tree cannot grow further.
    #[error("the verified tree cannot grow: {0}")]
    Tree(#[source] TreeError),
    /// The replay database (tag map, notice history) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one poll did.
#[derive(Clone, Debug, Default)]
pub struct PollReport {
    /// The verified size after the poll.
    pub verified_size: u64,
    /// Entries checked after the poll.
    pub replayed: u64,
    /// Entries replayed in this poll.
    pub replayed_now: u64,
    /// Alerts delivered during this poll.
    pub alerts: Vec<Alert>,
    /// Alerts still in the outbox (delivery failed).
    pub undelivered: usize,
}

impl PollReport {
    /// Whether every verified entry has been replayed.
    pub fn caught_up(&self) -> bool {
        self.replayed == self.verified_size
    }
}

/// Counters for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Polls completed / failed.
    pub polls_ok: u64,
    /// Polls that failed.
    pub polls_failed: u64,
    /// Entries replayed since start.
    pub entries_replayed: u64,
    /// Alerts delivered since start, by kind.
    pub alerts: BTreeMap<&'static str, u64>,
    /// Verified size.
    pub verified_size: u64,
    /// Entries checked.
    pub replayed: u64,
    /// Monitor clock of the last successful poll.
    pub last_success: u64,
}

/// A running monitor for one log.
#[derive(Debug)]
pub struct Monitor {
    config: Config,
    origin: String,
    http: reqwest::Client,
    client: LogClient,
    dir: StateDir,
    replayer: Replayer<DiskMap>,
    /// The replay database (the tag map and the notice history).
    db: ReplayDb,
    /// Entries read while verifying a checkpoint, starting at the given index, kept for the
    /// replay (their leaf hashes were checked against the signed root).
    prefetched: Option<(u64, Vec<Vec<u8>>)>,
    /// Counters (read by the metrics endpoint).
    pub metrics: Metrics,
}

/// Takes over a state written by an earlier monitor ([`EARLIER_STATE_FORMAT`]): moves its
/// notice history from `state.json` into the replay database (written and synced before the
/// state without it is saved; done again, to the same rows, after a crash in between) and
/// saves the state in the current format.
fn take_over_notices(dir: &mut StateDir, db: &ReplayDb) -> Result<(), MonitorError> {
    let notices = &dir.state.notices;
    let hash = |k: &String| {
        hex::decode(k)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
            .ok_or_else(|| ReplayError::StoredMapKey(k.clone()))
    };
    let mut bound = Vec::with_capacity(notices.bound.len());
    for (k, i) in &notices.bound {
        bound.push((hash(k)?, *i));
    }
    let mut current = Vec::with_capacity(notices.current.len());
    for (k, d) in &notices.current {
        current.push((hash(k)?, d.clone()));
    }
    let at = dir.state.replayed.saturating_sub(1);
    db.import_notices(bound.into_iter(), current.into_iter(), at)?;
    dir.state.notices.bound.clear();
    dir.state.notices.current.clear();
    // The tag map stays in the saved state (no map version yet) until the next state leaf
    // writes it to disk.
    dir.state.format = STATE_FORMAT;
    dir.save()?;
    Ok(())
}

fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Monitor {
    /// Opens the state directory (taking its lock) and prepares the HTTP client.
    ///
    /// # Errors
    /// [`MonitorError::State`], [`MonitorError::Replay`], [`MonitorError::Fetch`].
    pub fn open(config: Config) -> Result<Monitor, MonitorError> {
        let origin = config.log_key.name().to_string();
        let now = config.now.unwrap_or_else(system_now);
        let dir = StateDir::open(&config.state_dir, &origin, now)?;
        if let Some(v) = &dir.state.verified {
            SignedCheckpoint::open(v.note.as_bytes(), &config.log_key)
                .map_err(MonitorError::StoredCheckpoint)?;
        }
        let mut dir = dir;
        if let Some(file) = &config.sink.file {
            // A crash between appending to the alert file and saving the state leaves
            // delivered alerts in the outbox: recognise them by id instead of repeating them.
            let done = crate::alerts::ids_in_file(file, &dir.state.outbox);
            for id in &done {
                dir.state.mark_sent(id);
            }
            if !done.is_empty() {
                dir.save()?;
            }
        }
        let db_dir = dir.path().join(DB_DIR);
        if dir.state.format == STATE_FORMAT && dir.state.replayed > 0 && !db_dir.exists() {
            return Err(MonitorError::State(StateError::Corrupt {
                path: dir.path().join("state.json"),
                defect: StateDefect::MissingReplayDb {
                    replayed: dir.state.replayed,
                    db: db_dir,
                },
            }));
        }
        let db = ReplayDb::open(dir.path())?;
        if dir.state.format == EARLIER_STATE_FORMAT {
            take_over_notices(&mut dir, &db)?;
        }
        let mut replayer = Replayer::on_disk(&origin, &dir.state.replay, db.clone())?;
        replayer.set_verify_threads(config.verify_threads);
        let http = follow::http_client()?;
        let client = LogClient::new(http.clone(), &config.log_url);
        Ok(Monitor {
            config,
            origin,
            http,
            client,
            dir,
            replayer,
            db,
            prefetched: None,
            metrics: Metrics::default(),
        })
    }

    /// The monitor clock.
    pub fn now(&self) -> u64 {
        self.config.now.unwrap_or_else(system_now)
    }

    /// The log origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The persistent state (read-only).
    pub fn state(&self) -> &crate::state::MonitorState {
        &self.dir.state
    }

    /// The alert sink (delivered alerts are recorded in it).
    pub fn sink(&self) -> &AlertSink {
        &self.config.sink
    }

    fn open_note(&self, note: &[u8], source: &str) -> Result<SeenCheckpoint, CheckpointError> {
        let cp = SignedCheckpoint::open(note, &self.config.log_key)?;
        Ok(SeenCheckpoint {
            note: note.to_vec(),
            checkpoint: cp.checkpoint().clone(),
            source: source.to_owned(),
        })
    }

    fn queue(&mut self, alert: Alert) {
        if self.dir.state.queue_alert(alert) {
            tracing::debug!("alert queued");
        }
    }

    /// Delivers the outbox to stdout and the alert file, then the webhook queue; stops at
    /// the first failure of each (retried next poll).
    async fn deliver(&mut self, report: &mut PollReport) -> Result<(), MonitorError> {
        let mut pending = self.dir.state.take_outbox().into_iter();
        let webhook = self.config.sink.webhook.is_some();
        let mut changed = false;
        for alert in pending.by_ref() {
            if let Err(e) = self.config.sink.deliver_local(&alert) {
                tracing::warn!(error = %e, "alert delivery failed; will retry");
                let mut rest = vec![alert];
                rest.extend(pending.by_ref());
                self.dir.state.return_outbox(rest);
                break;
            }
            self.dir.state.mark_sent(&alert.id);
            tracing::warn!(kind = alert.kind.as_str(), id = %alert.id, index = ?alert.index, "{}", alert.message);
            *self.metrics.alerts.entry(alert.kind.as_str()).or_insert(0) += 1;
            if webhook {
                let q = &mut self.dir.state.webhook_outbox;
                if q.len() >= crate::state::MAX_WEBHOOK_BACKLOG {
                    tracing::error!("webhook backlog full; dropping the oldest alert");
                    q.remove(0);
                }
                q.push(alert.clone());
            }
            report.alerts.push(alert);
            changed = true;
        }
        let mut posted = 0;
        for alert in &self.dir.state.webhook_outbox {
            if let Err(e) = self.config.sink.post_webhook(alert, &self.http).await {
                tracing::warn!(error = %e, "webhook delivery failed; will retry");
                break;
            }
            posted += 1;
        }
        if posted > 0 {
            self.dir.state.webhook_outbox.drain(..posted);
            changed = true;
        }
        if changed {
            self.dir.save()?;
        }
        report.undelivered = self.dir.state.outbox.len() + self.dir.state.webhook_outbox.len();
        Ok(())
    }

    /// One poll (see the module docs). Alerts are delivered before it returns.
    ///
    /// # Errors
    /// [`MonitorError`] when the log cannot be read or the state cannot be saved; alerts
    /// found before the error stay in the outbox.
    pub async fn poll(&mut self) -> Result<PollReport, MonitorError> {
        let mut report = PollReport::default();
        let result = self.poll_inner(&mut report).await;
        let delivered = self.deliver(&mut report).await;
        report.verified_size = self.dir.state.verified_size();
        report.replayed = self.dir.state.replayed;
        self.metrics.verified_size = report.verified_size;
        self.metrics.replayed = report.replayed;
        match result.and(delivered) {
            Ok(()) => {
                self.metrics.polls_ok += 1;
                self.metrics.last_success = self.now();
                Ok(report)
            }
            Err(e) => {
                self.metrics.polls_failed += 1;
                Err(e)
            }
        }
    }

    async fn poll_inner(&mut self, report: &mut PollReport) -> Result<(), MonitorError> {
        self.deliver(report).await?;
        let now = self.now();
        let note = self.client.checkpoint().await?;
        let log_cp = match self.open_note(&note, "log") {
            Ok(cp) => cp,
            Err(e) => {
                if is_signature_failure(&e) {
                    let a =
                        checks::bad_checkpoint_signature(&self.origin, &note, &e.to_string(), now);
                    self.queue(a);
                    self.dir.save()?;
                }
                return Err(MonitorError::BadCheckpoint(e));
            }
        };
        self.check_served(&log_cp, now)?;
        let others = self.other_checkpoints().await;
        self.advance(&log_cp, &others, now).await?;
        self.replay(report).await?;
        self.compare(&log_cp, &others, now)?;
        self.freshness(&log_cp, now)?;
        self.dir.save()?;
        Ok(())
    }

    /// Rollback check and bookkeeping of the largest checkpoint served.
    fn check_served(&mut self, served: &SeenCheckpoint, now: u64) -> Result<(), MonitorError> {
        let largest = match &self.dir.state.largest_served {
            Some(n) => Some(
                self.open_note(n.as_bytes(), "log (earlier)")
                    .map_err(MonitorError::StoredCheckpoint)?,
            ),
            None => None,
        };
        match largest {
            Some(l) if l.checkpoint.size() > served.checkpoint.size() => {
                if let Some(a) = checks::check_rollback(&self.origin, &l, served, now) {
                    self.queue(a);
                }
            }
            _ => {
                self.dir.state.largest_served = Some(checks::note_text(&served.note));
            }
        }
        Ok(())
    }

    /// Checkpoints from witnesses and reports that carry a valid log signature.
    async fn other_checkpoints(&self) -> Vec<SeenCheckpoint> {
        let mut out = Vec::new();
        for url in &self.config.witness_urls {
            match follow::witness_checkpoint(&self.http, url, &self.origin).await {
                Ok(Some(note)) => match self.open_note(&note, &format!("witness {url}")) {
                    Ok(cp) => out.push(cp),
                    Err(e) => {
                        tracing::warn!(witness = %url, error = %e, "witness checkpoint does not verify")
                    }
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(witness = %url, error = %e, "witness unreachable"),
            }
        }
        if let Some(path) = &self.config.reports {
            for (name, note) in read_reports(path) {
                match self.open_note(&note, &format!("report {name}")) {
                    Ok(cp) => out.push(cp),
                    Err(e) => tracing::debug!(report = %name, error = %e, "report ignored"),
                }
            }
        }
        out
    }

    /// `fork` for every log-signed checkpoint that contradicts the verified tree.
    fn compare(
        &mut self,
        log_cp: &SeenCheckpoint,
        others: &[SeenCheckpoint],
        now: u64,
    ) -> Result<(), MonitorError> {
        let Some(verified) = self.dir.state.verified.clone() else {
            return Ok(());
        };
        let mut found = Vec::new();
        for cp in std::iter::once(log_cp).chain(others) {
            if let Some(a) = checks::check_against_tree(
                &self.origin,
                verified.note.as_bytes(),
                &self.dir.tree,
                self.dir.tree.size(),
                cp,
                now,
            ) {
                found.push(a);
            }
        }
        for a in found {
            self.queue(a);
        }
        Ok(())
    }

    /// `stale-checkpoint` if neither a witness cosignature nor the log's clock is recent.
    fn freshness(&mut self, log_cp: &SeenCheckpoint, now: u64) -> Result<(), MonitorError> {
        let Some(max_age) = self.config.max_age else {
            return Ok(());
        };
        // Judge only a checkpoint that was verified and fully replayed: before that the
        // log time it carries is unknown (and a checkpoint that failed verification has
        // its own alert).
        let verified = self.dir.state.verified_size();
        if verified != log_cp.checkpoint.size() || self.dir.state.replayed < verified {
            return Ok(());
        }
        let mut freshest = self.dir.state.replay.log_time;
        if let Ok(cp) = SignedCheckpoint::open(&log_cp.note, &self.config.log_key) {
            if let Ok(cos) = cp.cosignatures(&self.config.witness_keys) {
                for c in cos {
                    freshest = Some(freshest.map_or(c.time, |f| f.max(c.time)));
                }
            }
        }
        if let Some(a) = checks::check_stale(&self.origin, log_cp, freshest, max_age, now) {
            self.queue(a);
        }
        Ok(())
    }

    /// Polls until the replay has caught up with the verified checkpoint (for `--once`).
    ///
    /// # Errors
    /// As [`Monitor::poll`].
    pub async fn run_once(&mut self) -> Result<Vec<Alert>, MonitorError> {
        let mut alerts = Vec::new();
        loop {
            let r = self.poll().await?;
            alerts.extend(r.alerts.iter().cloned());
            if r.caught_up() || self.config.max_entries.is_some() || r.replayed_now == 0 {
                return Ok(alerts);
            }
        }
    }

    /// Polls forever: `interval` between successful polls, doubling up to `max_interval`
    /// after failures. `on_poll` runs after every poll (metrics export).
    pub async fn run_follow(
        &mut self,
        interval: Duration,
        max_interval: Duration,
        mut on_poll: impl FnMut(&Monitor),
    ) {
        let mut wait = interval;
        loop {
            let result = self.poll().await;
            on_poll(self);
            match result {
                Ok(r) => {
                    wait = interval;
                    if !r.caught_up() && r.replayed_now > 0 {
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "poll failed");
                    wait = wait.saturating_mul(2).min(max_interval);
                }
            }
            tokio::time::sleep(wait).await;
        }
    }
}

fn is_signature_failure(e: &CheckpointError) -> bool {
    matches!(
        e,
        CheckpointError::Note(NoteError::InvalidSignature { .. })
            | CheckpointError::Note(NoteError::NoTrustedSignature)
    )
}

/// Reads report notes: every regular file of a directory (at most [`MAX_REPORTS`]), or the
/// file itself.
fn read_reports(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let read = |p: &std::path::Path| -> Option<Vec<u8>> {
        let meta = std::fs::metadata(p).ok()?;
        if !meta.is_file() || meta.len() > taglog_proofs::note::MAX_NOTE_BYTES as u64 {
            return None;
        }
        std::fs::read(p).ok()
    };
    if path.is_dir() {
        let Ok(rd) = std::fs::read_dir(path) else {
            return out;
        };
        let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        names.retain(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.'))
        });
        for p in names.into_iter().take(MAX_REPORTS) {
            if let Some(b) = read(&p) {
                out.push((p.display().to_string(), b));
            }
        }
    } else if let Some(b) = read(path) {
        out.push((path.display().to_string(), b));
    }
    out
}
