//! The service's Prometheus metrics (text exposition format, `prometheus-client`):
//!
//! | metric | labels | meaning |
//! | --- | --- | --- |
//! | `taglog_verifications_total` | `result` = allowed, denied, uncovered, unavailable, error | decisions made |
//! | `taglog_denials_total` | `reason` = the failure's code (`digest-mismatch`, `withdrawn`, ...) | refusals by reason |
//! | `taglog_cache_hits_total` / `taglog_cache_misses_total` | | log answers served from / not found in the cache |
//! | `taglog_log_checks_total` | | verifications of a log answer (one per miss, single flight) |
//! | `taglog_upstream_latency_seconds` | `upstream` = log, registry | latency of upstream requests |
//! | `taglog_cached_refs` | | signed refs in the cache |
//! | `taglog_mirror_aborted_transfers_total` | | blob transfers aborted (digest mismatch, upstream failure) |

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabel {
    upstream: &'static str,
}

/// Which upstream a latency belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// The log (`/lookup`, `/history`).
    Log,
    /// A registry (manifests, blobs' first byte).
    Registry,
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    verifications: Family<ResultLabel, Counter>,
    denials: Family<ReasonLabel, Counter>,
    hits: Counter,
    misses: Counter,
    checks: Counter,
    latency: Family<UpstreamLabel, Histogram>,
    cached: Gauge,
    aborted: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("taglog");
        let verifications = Family::<ResultLabel, Counter>::default();
        registry.register(
            "verifications",
            "Decisions made, by result",
            verifications.clone(),
        );
        let denials = Family::<ReasonLabel, Counter>::default();
        registry.register("denials", "Refusals, by reason", denials.clone());
        let hits = Counter::default();
        registry.register(
            "cache_hits",
            "Log answers served from the cache",
            hits.clone(),
        );
        let misses = Counter::default();
        registry.register(
            "cache_misses",
            "Log answers not in the cache (or expired)",
            misses.clone(),
        );
        let checks = Counter::default();
        registry.register(
            "log_checks",
            "Verifications of a log answer (one per cache miss of a signed ref)",
            checks.clone(),
        );
        let latency = Family::<UpstreamLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "upstream_latency_seconds",
            "Latency of upstream requests",
            latency.clone(),
        );
        let cached = Gauge::default();
        registry.register("cached_refs", "Signed refs in the cache", cached.clone());
        let aborted = Counter::default();
        registry.register(
            "mirror_aborted_transfers",
            "Blob transfers the mirror aborted (digest mismatch or upstream failure)",
            aborted.clone(),
        );
        Metrics {
            registry,
            verifications,
            denials,
            hits,
            misses,
            checks,
            latency,
            cached,
            aborted,
        }
    }

    /// Counts a decision (and, for a refusal, its reason).
    pub fn decision(&self, result: &'static str, reason: Option<&'static str>) {
        self.verifications
            .get_or_create(&ResultLabel { result })
            .inc();
        if let Some(reason) = reason {
            self.denials.get_or_create(&ReasonLabel { reason }).inc();
        }
    }

    /// Counts a cache hit or miss.
    pub fn cache(&self, hit: bool) {
        if hit {
            self.hits.inc();
        } else {
            self.misses.inc();
        }
    }

    /// Counts one verification of a log answer.
    pub fn log_check(&self) {
        self.checks.inc();
    }

    /// Records an upstream request's latency.
    pub fn upstream(&self, which: Upstream, took: Duration) {
        let upstream = match which {
            Upstream::Log => "log",
            Upstream::Registry => "registry",
        };
        self.latency
            .get_or_create(&UpstreamLabel { upstream })
            .observe(took.as_secs_f64());
    }

    /// Sets the number of cached refs.
    pub fn cached_refs(&self, n: usize) {
        self.cached.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts a blob transfer the mirror aborted.
    pub fn aborted_transfer(&self) {
        self.aborted.inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
