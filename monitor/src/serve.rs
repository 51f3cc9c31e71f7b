//! The monitor's own HTTP endpoints (optional, `--listen`): `GET /healthz`, `GET /metrics`
//! (Prometheus text) and `POST /report` (a client reports a signed checkpoint it saw).
//! Served through [`crate::listen`] (connection, header-time, body and request-time limits);
//! report bodies above [`MAX_REPORT_BYTES`] are refused with 413 before they are buffered.
//!
//! Reports are stored as files in the reports directory, named by the SHA-256 of the body,
//! and read by the next poll; a body is accepted only if it is a checkpoint signed by the
//! monitored log's key, so the endpoint cannot be used to fill the disk with junk (at most
//! [`crate::monitor::MAX_REPORTS`] files are kept). Out of scope: authentication (put the
//! endpoint behind a proxy if reports must be restricted).

use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::hash::sha256;
use taglog_proofs::note::{VerifierKey, MAX_NOTE_BYTES};

use crate::alerts::AlertKind;
use crate::monitor::{Metrics, MAX_REPORTS};

/// The largest `POST /report` body (a signed note).
pub const MAX_REPORT_BYTES: usize = MAX_NOTE_BYTES;

/// Default longest time of one request.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Shared between the poll loop and the endpoints.
#[derive(Clone, Debug)]
pub struct Shared {
    /// Latest metrics (the poll loop replaces them after each poll).
    pub metrics: Arc<Mutex<Metrics>>,
    /// Where `POST /report` stores reports.
    pub reports: PathBuf,
    /// The log key reports must be signed by.
    pub log_key: VerifierKey,
    /// `/healthz` fails when the last successful poll is older than this (seconds).
    pub health_bound: u64,
    /// Clock.
    pub now: fn() -> u64,
    /// Connections open now (kept by the accept loop).
    pub open_connections: Arc<AtomicU64>,
}

/// The router.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/report", post(report))
        .with_state(shared)
}

fn snapshot(s: &Shared) -> Metrics {
    s.metrics.lock().map(|m| m.clone()).unwrap_or_default()
}

async fn healthz(State(s): State<Shared>) -> (StatusCode, String) {
    let m = snapshot(&s);
    let age = (s.now)().saturating_sub(m.last_success);
    if m.last_success > 0 && age <= s.health_bound {
        (
            StatusCode::OK,
            format!("ok: last successful poll {age} s ago\n"),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "unhealthy: no successful poll within {} s\n",
                s.health_bound
            ),
        )
    }
}

async fn metrics(State(s): State<Shared>) -> String {
    let m = snapshot(&s);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# TYPE taglog_monitor_verified_size gauge\ntaglog_monitor_verified_size {}",
        m.verified_size
    );
    let _ = writeln!(
        out,
        "# TYPE taglog_monitor_replayed gauge\ntaglog_monitor_replayed {}",
        m.replayed
    );
    let _ = writeln!(
        out,
        "# TYPE taglog_monitor_entries_replayed_total counter\ntaglog_monitor_entries_replayed_total {}",
        m.entries_replayed
    );
    let _ = writeln!(
        out,
        "# TYPE taglog_monitor_polls_total counter\ntaglog_monitor_polls_total{{result=\"ok\"}} {}\ntaglog_monitor_polls_total{{result=\"error\"}} {}",
        m.polls_ok, m.polls_failed
    );
    let _ = writeln!(
        out,
        "# TYPE taglog_monitor_last_success_seconds gauge\ntaglog_monitor_last_success_seconds {}",
        m.last_success
    );
    let _ = writeln!(
        out,
        "# TYPE taglog_monitor_open_connections gauge\ntaglog_monitor_open_connections {}",
        s.open_connections.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# TYPE taglog_monitor_alerts_total counter");
    for k in AlertKind::ALL {
        let n = m.alerts.get(k.as_str()).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "taglog_monitor_alerts_total{{kind=\"{}\"}} {n}",
            k.as_str()
        );
    }
    out
}

async fn report(State(s): State<Shared>, body: Bytes) -> (StatusCode, String) {
    if let Err(e) = SignedCheckpoint::open(&body, &s.log_key) {
        return (
            StatusCode::BAD_REQUEST,
            format!("not a checkpoint signed by the monitored log: {e}\n"),
        );
    }
    let count = std::fs::read_dir(&s.reports).map_or(0, Iterator::count);
    if count >= MAX_REPORTS {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "report store is full\n".to_owned(),
        );
    }
    let name = hex::encode(sha256(&body).0);
    let tmp = s.reports.join(format!(".{name}.tmp"));
    let path = s.reports.join(&name);
    let r = std::fs::create_dir_all(&s.reports)
        .and_then(|()| std::fs::write(&tmp, &body))
        .and_then(|()| std::fs::rename(&tmp, &path));
    match r {
        Ok(()) => (StatusCode::OK, "accepted\n".to_owned()),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("could not store the report: {e}\n"),
        ),
    }
}
