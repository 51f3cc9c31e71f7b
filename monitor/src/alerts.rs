//! Monitor alerts: what they say, how they are identified, and where they go (DESIGN.md §6).
//!
//! An [`Alert`] is one JSON object per line. Each carries `evidence` that a third party can
//! check without trusting the monitor: signed notes (checkpoints are signed by the log key),
//! entries with inclusion proofs against a signed checkpoint, and consistency proofs.
//!
//! Every alert has a stable [`Alert::id`], derived from its kind and the facts it reports
//! (never from the time it was raised), so a monitor that re-checks a range after a crash
//! recognises an alert it already delivered, and consumers can deduplicate too.
//!
//! Delivery ([`AlertSink`]): stdout always, optionally an append-only file and a webhook
//! `POST` (JSON body). A failing webhook is reported as an error so the caller keeps the
//! alert in its outbox and retries; stdout and the file are written first.
//!
//! Out of scope: deciding what is wrong (see [`crate::checks`] and the replay checker) and
//! remembering what was sent (see [`crate::state`]).

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use taglog_proofs::hash::{sha256, Hash};

/// The most bytes of an alert's JSON line; larger evidence is a bug in the monitor.
pub const MAX_ALERT_BYTES: usize = 1 << 20;

/// The most delivered alerts an [`AlertSink`] remembers in memory.
pub const MAX_REMEMBERED: usize = 10_000;

/// What an alert reports. Serialized in kebab-case (`"fork"`, `"map-mismatch"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// Two log-signed checkpoints that no single append-only log can have produced.
    Fork,
    /// The log signed a checkpoint (seen by a witness or a client) whose tree it does not
    /// serve: published state the log's own tiles lack (a restored backup, a second
    /// sequencer, or a view withheld from this monitor).
    ForkRisk,
    /// The tiles a log (or mirror) serves do not rebuild the root of its own checkpoint.
    /// Not in DESIGN §6's list: tiles are unsigned, so this may be a bad mirror rather than a
    /// lying log; the evidence says which tiles were served.
    TileMismatch,
    /// A state leaf's map root differs from the map rebuilt from the log's bindings.
    MapMismatch,
    /// A binding whose version is not exactly the ref's previous version + 1.
    VersionRegression,
    /// A binding whose signature fails or whose key was not admitted for its ref, or a
    /// checkpoint whose log signature fails.
    BadSignature,
    /// An entry that does not parse, or a log-authored leaf in the wrong place or order.
    MalformedEntry,
    /// The log's checkpoint is smaller than one it served before.
    LogRollback,
    /// No fresh checkpoint within the configured bound.
    StaleCheckpoint,
    /// A binding became current later than the maximum merge delay allows.
    MmdViolation,
    /// A ref was bound to a digest it had been bound to before (notice).
    RebindToOldDigest,
    /// A binding under a watched prefix or by a watched publisher key (S9).
    WatchedBinding,
}

impl AlertKind {
    /// The kebab-case name used in JSON and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Fork => "fork",
            AlertKind::ForkRisk => "fork-risk",
            AlertKind::TileMismatch => "tile-mismatch",
            AlertKind::MapMismatch => "map-mismatch",
            AlertKind::VersionRegression => "version-regression",
            AlertKind::BadSignature => "bad-signature",
            AlertKind::MalformedEntry => "malformed-entry",
            AlertKind::LogRollback => "log-rollback",
            AlertKind::StaleCheckpoint => "stale-checkpoint",
            AlertKind::MmdViolation => "mmd-violation",
            AlertKind::RebindToOldDigest => "rebind-to-old-digest",
            AlertKind::WatchedBinding => "watched-binding",
        }
    }

    /// How bad this kind is.
    pub fn severity(self) -> Severity {
        match self {
            AlertKind::Fork
            | AlertKind::ForkRisk
            | AlertKind::TileMismatch
            | AlertKind::MapMismatch
            | AlertKind::VersionRegression
            | AlertKind::BadSignature
            | AlertKind::MalformedEntry
            | AlertKind::LogRollback => Severity::Critical,
            AlertKind::StaleCheckpoint | AlertKind::MmdViolation | AlertKind::WatchedBinding => {
                Severity::Warning
            }
            AlertKind::RebindToOldDigest => Severity::Notice,
        }
    }

    /// Every kind, for metrics.
    pub const ALL: [AlertKind; 12] = [
        AlertKind::Fork,
        AlertKind::ForkRisk,
        AlertKind::TileMismatch,
        AlertKind::MapMismatch,
        AlertKind::VersionRegression,
        AlertKind::BadSignature,
        AlertKind::MalformedEntry,
        AlertKind::LogRollback,
        AlertKind::StaleCheckpoint,
        AlertKind::MmdViolation,
        AlertKind::RebindToOldDigest,
        AlertKind::WatchedBinding,
    ];
}

/// Alert severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The log misbehaved (or its data as served is wrong).
    Critical,
    /// Something to look at soon (freshness, watched activity).
    Warning,
    /// Informational.
    Notice,
}

/// One alert, as written on one JSON line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable identifier: hex SHA-256 of the kind and the identifying facts.
    pub id: String,
    /// What happened.
    pub kind: AlertKind,
    /// How bad.
    pub severity: Severity,
    /// The log origin.
    pub origin: String,
    /// The leaf index concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub index: Option<u64>,
    /// One human-readable sentence.
    pub message: String,
    /// Monitor clock (POSIX seconds) when first raised. Not part of the id.
    pub time: u64,
    /// Self-contained evidence (signed notes, entries, proofs), kind-specific.
    pub evidence: serde_json::Value,
}

impl Alert {
    /// A new alert. `facts` identify it: the same kind, origin and facts give the same id,
    /// whenever and however often it is raised.
    pub fn new(
        kind: AlertKind,
        origin: &str,
        facts: &str,
        index: Option<u64>,
        message: String,
        time: u64,
        evidence: serde_json::Value,
    ) -> Alert {
        Alert {
            id: alert_id(kind, origin, facts),
            kind,
            severity: kind.severity(),
            origin: origin.to_owned(),
            index,
            message,
            time,
            evidence,
        }
    }

    /// The JSON line (without the newline).
    ///
    /// # Errors
    /// [`AlertError::Encode`] if serialization fails (it does not for well-formed alerts).
    pub fn to_line(&self) -> Result<String, AlertError> {
        serde_json::to_string(self).map_err(AlertError::Encode)
    }
}

/// The id of an alert: hex SHA-256 of `kind \n origin \n facts`.
pub fn alert_id(kind: AlertKind, origin: &str, facts: &str) -> String {
    let h: Hash = sha256(format!("{}\n{origin}\n{facts}", kind.as_str()).as_bytes());
    hex::encode(h.0)
}

/// Why an alert could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// Serialization failed.
    #[error("could not encode alert as JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// The alert file could not be written.
    #[error("could not append to the alert file {path}: {source}; check the path and permissions")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Stdout could not be written.
    #[error("could not write the alert to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// The webhook could not be reached.
    #[error("webhook {url} could not be reached: {source}; the alert will be retried")]
    Webhook {
        /// The webhook URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The webhook answered with a status other than 2xx.
    #[error("webhook {url} answered HTTP {status}; the alert will be retried")]
    WebhookStatus {
        /// The webhook URL.
        url: String,
        /// The status.
        status: u16,
    },
}

/// Where alerts go.
#[derive(Clone, Debug, Default)]
pub struct AlertSink {
    /// Also print on stdout (the binary always sets this).
    pub stdout: bool,
    /// Append JSON lines to this file.
    pub file: Option<PathBuf>,
    /// POST each alert as a JSON body to this URL.
    pub webhook: Option<String>,
    /// Alerts delivered through this sink since it was made, the latest
    /// [`MAX_REMEMBERED`] (for tests and `--once`).
    pub delivered: Vec<Alert>,
}

impl AlertSink {
    /// Delivers one alert to stdout and the alert file (local, in order). The webhook is
    /// separate ([`AlertSink::post_webhook`]) so that a failing webhook never makes the
    /// local destinations see an alert twice.
    ///
    /// # Errors
    /// [`AlertError::Encode`], [`AlertError::Stdout`], [`AlertError::File`]; the caller
    /// keeps the alert and retries later.
    pub fn deliver_local(&mut self, alert: &Alert) -> Result<(), AlertError> {
        let line = alert.to_line()?;
        if self.stdout {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")
                .and_then(|()| out.flush())
                .map_err(AlertError::Stdout)?;
        }
        if let Some(path) = &self.file {
            append_line(path, &line).map_err(|source| AlertError::File {
                path: path.clone(),
                source,
            })?;
        }
        if self.delivered.len() >= MAX_REMEMBERED {
            self.delivered.remove(0);
        }
        self.delivered.push(alert.clone());
        Ok(())
    }

    /// POSTs one alert to the webhook, if one is configured.
    ///
    /// # Errors
    /// [`AlertError::Webhook`] unless it answers 2xx; the caller retries later.
    pub async fn post_webhook(
        &self,
        alert: &Alert,
        http: &reqwest::Client,
    ) -> Result<(), AlertError> {
        let Some(url) = &self.webhook else {
            return Ok(());
        };
        let line = alert.to_line()?;
        let resp = http
            .post(url)
            .header("content-type", "application/json")
            .body(line)
            .send()
            .await
            .map_err(|source| AlertError::Webhook {
                url: url.clone(),
                source,
            })?;
        if !resp.status().is_success() {
            return Err(AlertError::WebhookStatus {
                url: url.clone(),
                status: resp.status().as_u16(),
            });
        }
        Ok(())
    }
}

/// The ids among `alerts` that already have a line in the alert file `path` (each line
/// starts with `{"id":"<id>"`). A missing or unreadable file holds none.
pub fn ids_in_file(path: &std::path::Path, alerts: &[Alert]) -> Vec<String> {
    use std::io::BufRead;
    if alerts.is_empty() {
        return Vec::new();
    }
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let wanted: std::collections::BTreeSet<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    let mut found = Vec::new();
    for line in std::io::BufReader::new(f)
        .split(b'\n')
        .map_while(Result::ok)
    {
        let id = line
            .strip_prefix(b"{\"id\":\"")
            .and_then(|rest| rest.get(..64))
            .and_then(|id| std::str::from_utf8(id).ok());
        if let Some(id) = id.filter(|id| wanted.contains(id)) {
            found.push(id.to_owned());
        }
    }
    found
}

fn append_line(path: &PathBuf, line: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_stable_and_ignores_time() {
        let a = Alert::new(
            AlertKind::Fork,
            "o",
            "12",
            None,
            "m".into(),
            1,
            serde_json::json!({}),
        );
        let b = Alert::new(
            AlertKind::Fork,
            "o",
            "12",
            None,
            "x".into(),
            2,
            serde_json::json!({"a": 1}),
        );
        assert_eq!(a.id, b.id);
        let c = Alert::new(
            AlertKind::LogRollback,
            "o",
            "12",
            None,
            "m".into(),
            1,
            serde_json::json!({}),
        );
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn ids_already_in_the_alert_file_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let mk = |facts: &str| {
            Alert::new(
                AlertKind::Fork,
                "o",
                facts,
                None,
                "m".into(),
                1,
                serde_json::json!({}),
            )
        };
        let (a, b) = (mk("a"), mk("b"));
        assert!(ids_in_file(&path, std::slice::from_ref(&a)).is_empty());
        append_line(&path, &a.to_line().unwrap()).unwrap();
        assert_eq!(
            ids_in_file(&path, &[a.clone(), b.clone()]),
            vec![a.id.clone()]
        );
    }

    #[test]
    fn kinds_serialize_kebab_case() {
        for k in AlertKind::ALL {
            let s = serde_json::to_string(&k).unwrap();
            assert_eq!(s, format!("\"{}\"", k.as_str()));
        }
    }
}
