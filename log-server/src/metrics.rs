//! Prometheus text-format metrics (exposition format 0.0.4), without a metrics library.
//!
//! Counters and gauges are atomics; the two histograms use fixed buckets. Out of scope:
//! labels beyond the submission outcome and per-witness names.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Upper bounds (seconds) of the latency histograms.
const LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Upper bounds of the batch-size histogram.
const BATCH_BUCKETS: [f64; 10] = [
    1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0,
];

/// A fixed-bucket histogram.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *b {
                c.fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        // Stored in millionths so the sum stays an integer atomic.
        self.sum_micros.fetch_add((v * 1e6) as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                c.load(Relaxed)
            );
        }
        let n = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {n}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{braces} {n}");
    }
}

/// Submission outcomes counted in `taglog_submissions_total`.
pub const OUTCOMES: [&str; 10] = [
    "added",
    "duplicate",
    "malformed",
    "forbidden",
    "conflict",
    "too_large",
    "queue_full",
    "quota_exceeded",
    "unavailable",
    "accepted_late",
];

/// All metrics of one server.
#[derive(Debug)]
pub struct Metrics {
    submissions: Vec<AtomicU64>,
    /// Entries per integration batch.
    pub batch_size: Histogram,
    /// Time from enqueue to durable commit.
    pub integration_latency: Histogram,
    /// Time from an added submission's durable commit to the first published checkpoint
    /// covering it: with witnesses, the wait for a quorum of cosignatures.
    pub quorum_wait: Histogram,
    /// Committed tree size.
    pub tree_size: AtomicU64,
    /// Size of the newest quorum checkpoint.
    pub published_size: AtomicU64,
    /// Submissions waiting for the sequencer.
    pub queue_depth: AtomicU64,
    /// Open client connections (shared with the accept loop).
    pub open_connections: Arc<AtomicU64>,
    /// State leaves whose time was capped because the wall clock jumped ahead.
    pub clock_capped: AtomicU64,
    witness_rtt: Mutex<Vec<(String, Histogram)>>,
    /// The static publisher's progress (all zero when the server does not publish).
    pub publish: PublishStatus,
}

/// How far the bucket (`--publish`) lags the log.
#[derive(Debug)]
pub struct PublishStatus {
    /// Whether a publisher runs.
    pub enabled: std::sync::atomic::AtomicBool,
    /// Size of the checkpoint the bucket holds.
    pub bucket_size: AtomicU64,
    /// Size of the newest published checkpoint the publisher has seen.
    pub target_size: AtomicU64,
    /// Failed uploads (each is retried).
    pub failures: AtomicU64,
    /// Objects found missing from the bucket at start and uploaded again.
    pub repaired: AtomicU64,
    /// Checkpoints uploaded to the bucket.
    pub checkpoints: AtomicU64,
    /// Objects uploaded (tiles, entry bundles, map objects, checkpoints), each counted once
    /// however many attempts it took.
    pub objects: AtomicU64,
    /// Bytes of those objects.
    pub bytes: AtomicU64,
    /// Superseded objects deleted (partial tiles whose full tile is published, edge objects
    /// of smaller checkpoints).
    pub deleted: AtomicU64,
    /// Failed deletions (each is tried again later).
    pub delete_failures: AtomicU64,
    /// Superseded objects waiting out the grace period before deletion.
    pub superseded: AtomicU64,
    /// Seconds from a checkpoint's publication by the log to the upload of a bucket checkpoint
    /// covering it (one observation per log checkpoint).
    pub lag: Histogram,
    /// The last upload error, cleared by the next success.
    pub last_error: Mutex<Option<String>>,
}

impl Default for PublishStatus {
    fn default() -> Self {
        PublishStatus {
            enabled: std::sync::atomic::AtomicBool::new(false),
            bucket_size: AtomicU64::new(0),
            target_size: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            repaired: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            deleted: AtomicU64::new(0),
            delete_failures: AtomicU64::new(0),
            superseded: AtomicU64::new(0),
            lag: Histogram::new(&LATENCY_BUCKETS),
            last_error: Mutex::new(None),
        }
    }
}

impl PublishStatus {
    /// Leaves the log holds that the bucket's checkpoint does not cover yet.
    pub fn lag_entries(&self) -> u64 {
        self.target_size
            .load(Relaxed)
            .saturating_sub(self.bucket_size.load(Relaxed))
    }

    /// The last upload error, if the newest upload failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn render(&self, out: &mut String) {
        if !self.enabled.load(Relaxed) {
            return;
        }
        for (name, v) in [
            ("taglog_publish_bucket_size", self.bucket_size.load(Relaxed)),
            ("taglog_publish_lag_entries", self.lag_entries()),
            ("taglog_publish_superseded", self.superseded.load(Relaxed)),
        ] {
            let _ = writeln!(out, "# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            out,
            "# TYPE taglog_publish_failures_total counter\ntaglog_publish_failures_total {}",
            self.failures.load(Relaxed)
        );
        for (name, v) in [
            ("taglog_publish_repaired_total", &self.repaired),
            ("taglog_publish_checkpoints_total", &self.checkpoints),
            ("taglog_publish_objects_total", &self.objects),
            ("taglog_publish_bytes_total", &self.bytes),
            ("taglog_publish_deleted_total", &self.deleted),
            (
                "taglog_publish_delete_failures_total",
                &self.delete_failures,
            ),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter\n{name} {}", v.load(Relaxed));
        }
        out.push_str("# TYPE taglog_publish_lag_seconds histogram\n");
        self.lag.render(out, "taglog_publish_lag_seconds", "");
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            submissions: OUTCOMES.iter().map(|_| AtomicU64::new(0)).collect(),
            batch_size: Histogram::new(&BATCH_BUCKETS),
            integration_latency: Histogram::new(&LATENCY_BUCKETS),
            quorum_wait: Histogram::new(&LATENCY_BUCKETS),
            tree_size: AtomicU64::new(0),
            published_size: AtomicU64::new(0),
            queue_depth: AtomicU64::new(0),
            open_connections: Arc::new(AtomicU64::new(0)),
            clock_capped: AtomicU64::new(0),
            witness_rtt: Mutex::new(Vec::new()),
            publish: PublishStatus::default(),
        }
    }
}

impl Metrics {
    /// Counts one submission outcome (one of [`OUTCOMES`]).
    pub fn submission(&self, outcome: &str) {
        if let Some(c) = OUTCOMES
            .iter()
            .position(|o| *o == outcome)
            .and_then(|i| self.submissions.get(i))
        {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Records a witness round trip.
    pub fn witness_rtt(&self, witness: &str, seconds: f64) {
        let Ok(mut all) = self.witness_rtt.lock() else {
            return;
        };
        if let Some((_, h)) = all.iter().find(|(n, _)| n == witness) {
            h.observe(seconds);
        } else {
            let h = Histogram::new(&LATENCY_BUCKETS);
            h.observe(seconds);
            all.push((witness.to_owned(), h));
        }
    }

    /// Renders the Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# TYPE taglog_submissions_total counter\n");
        for (o, c) in OUTCOMES.iter().zip(&self.submissions) {
            let _ = writeln!(
                out,
                "taglog_submissions_total{{outcome=\"{o}\"}} {}",
                c.load(Relaxed)
            );
        }
        out.push_str("# TYPE taglog_batch_size histogram\n");
        self.batch_size.render(&mut out, "taglog_batch_size", "");
        out.push_str("# TYPE taglog_integration_seconds histogram\n");
        self.integration_latency
            .render(&mut out, "taglog_integration_seconds", "");
        out.push_str("# TYPE taglog_quorum_wait_seconds histogram\n");
        self.quorum_wait
            .render(&mut out, "taglog_quorum_wait_seconds", "");
        for (name, v) in [
            ("taglog_tree_size", &self.tree_size),
            ("taglog_published_size", &self.published_size),
            ("taglog_queue_depth", &self.queue_depth),
            ("taglog_open_connections", &self.open_connections),
        ] {
            let _ = writeln!(out, "# TYPE {name} gauge\n{name} {}", v.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# TYPE taglog_clock_capped_total counter\ntaglog_clock_capped_total {}",
            self.clock_capped.load(Relaxed)
        );
        out.push_str("# TYPE taglog_witness_rtt_seconds histogram\n");
        if let Ok(all) = self.witness_rtt.lock() {
            for (w, h) in all.iter() {
                h.render(
                    &mut out,
                    "taglog_witness_rtt_seconds",
                    &format!("witness=\"{}\"", w.replace(['"', '\\', '\n'], "_")),
                );
            }
        }
        self.publish.render(&mut out);
        out
    }
}
