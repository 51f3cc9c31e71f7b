//! One async verification service (DESIGN §4 and §9, issue 13) for the front ends that sit
//! in the pull path: `taglog mirror` ([`mirror`]), the containerd verifier and the admission
//! webhook. A front end parses its input into a [`Query`], calls [`Service::decide`] (or
//! [`Service::decide_all`] for many refs at once) and renders the typed [`Decision`]; no front
//! end decides trust.
//!
//! Guarantees:
//! - one verifier: each answer of the log goes through [`crate::check`] (the CLI's path:
//!   `taglog_proofs::verify::verify`, the client's policy, state and log client); a served
//!   digest is then compared with the verified verdict;
//! - a cache of verified answers per *signed* ref ([`cache`]), kept until the earlier of the
//!   configured TTL and the moment the checkpoint stops being fresh under the policy's
//!   `max-age` (its oldest counted cosignature, or the log time under `quorum none`), so a
//!   cached answer is never staler than a fresh `taglog verify` would accept; failures are
//!   kept [`DEFAULT_NEGATIVE_TTL`] so that an outage is not amplified;
//! - single flight: concurrent requests for one signed ref wait for one verification;
//! - one state for the process, in the client's format ([`crate::state::StateStore`]:
//!   in-process mutex plus file lock, atomic saves), so `taglog verify` on the same state
//!   directory sees what the service saw and the other way round;
//! - no fail-open path: every error is a [`Refusal`]; there is no flag that turns one into a
//!   pass;
//! - Prometheus metrics ([`metrics`]) and `/healthz` ([`Service::router`]).
//!
//! Out of scope: the front ends' protocols (their modules), TLS and connection limits
//! (`taglog-serve`).

pub mod admission;
pub mod ask;
pub mod cache;
pub mod containerd;
pub mod image;
pub mod metrics;
pub mod mirror;
pub mod verdict;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use taglog_proofs::policy::{Policy, Quorum};
use taglog_proofs::refs::TagRef;
use taglog_proofs::verify::Verdict;

use crate::check::{check, check_digest, LogCheck, Source};
use crate::config::{log_client, signed_and_log};
use crate::error::{ConfigError, Error};
use crate::registry::Registry;
use crate::remote::LogClient;
use crate::state::{StateDir, StateStore};

pub use cache::{Answer, Cache, DEFAULT_MAX_CACHED_REFS};
pub use metrics::{Metrics, Upstream};
pub use verdict::{advice, Allowed, Basis, Decision, Query, Refusal, Served};

/// Default longest a verified answer is reused (also bounded by freshness).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);
/// How long a failure is reused (coalesces a burst of requests during an outage).
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// Most queries in one [`Service::decide_all`] call.
pub const MAX_BATCH: usize = 1024;

/// How to build a [`Service`].
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The trust policy.
    pub policy: Arc<Policy>,
    /// The state directory (the client's format).
    pub state_dir: StateDir,
    /// Overrides the URL on the policy's `log` line (only with exactly one log).
    pub log_url: Option<String>,
    /// The registry client (credentials per host).
    pub registry: Registry,
    /// Longest a verified answer is reused.
    pub cache_ttl: Duration,
    /// How long a failure is reused.
    pub negative_ttl: Duration,
    /// Most signed refs cached.
    pub max_cached_refs: usize,
    /// `--accept-stale` seconds (DESIGN §4: cosignatures up to this much older than `max-age`
    /// are accepted, reported in [`Allowed::stale_accepted`], and never update the state).
    pub accept_stale: u64,
}

impl ServiceConfig {
    /// A configuration with the default cache settings.
    pub fn new(policy: Arc<Policy>, state_dir: StateDir, registry: Registry) -> ServiceConfig {
        ServiceConfig {
            policy,
            state_dir,
            log_url: None,
            registry,
            cache_ttl: DEFAULT_CACHE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_cached_refs: DEFAULT_MAX_CACHED_REFS,
            accept_stale: 0,
        }
    }
}

#[derive(Debug)]
struct Inner {
    policy: Arc<Policy>,
    registry: Registry,
    logs: HashMap<String, LogClient>,
    store: Arc<StateStore>,
    cache: Cache,
    metrics: Metrics,
    cache_ttl: Duration,
    negative_ttl: Duration,
    accept_stale: u64,
}

/// The verification service (cheap to clone; clones share everything).
#[derive(Debug, Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl Service {
    /// Builds the service: a log client per `log` line, and a first read of the state.
    ///
    /// # Errors
    /// [`ConfigError`] for a log without a URL (or `log_url` with several logs),
    /// [`Error::Log`] for a URL that is not http(s), [`Error::State`] for an unreadable or
    /// corrupt state file.
    pub fn new(cfg: ServiceConfig) -> Result<Service, Error> {
        if cfg.log_url.is_some() && cfg.policy.logs().len() > 1 {
            return Err(ConfigError::AmbiguousLog.into());
        }
        let mut logs = HashMap::new();
        for log in cfg.policy.logs() {
            logs.insert(
                log.origin().to_string(),
                log_client(log, cfg.log_url.as_deref())?,
            );
        }
        let store = Arc::new(StateStore::new(cfg.state_dir));
        store.snapshot()?;
        Ok(Service {
            inner: Arc::new(Inner {
                policy: cfg.policy,
                registry: cfg.registry,
                logs,
                store,
                cache: Cache::new(cfg.max_cached_refs),
                metrics: Metrics::new(),
                cache_ttl: cfg.cache_ttl,
                negative_ttl: cfg.negative_ttl,
                accept_stale: cfg.accept_stale,
            }),
        })
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The registry client front ends use for upstream requests.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The metrics (front ends record registry latency here).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Decides one query (see the module documentation) and counts it in the metrics.
    pub async fn decide(&self, q: &Query) -> Decision {
        self.decide_mode(q, false).await
    }

    async fn decide_mode(&self, q: &Query, dry_run: bool) -> Decision {
        let d = self.decide_uncounted(q, dry_run).await;
        let reason = match &d {
            Decision::Allow(_) => None,
            Decision::Refuse(r) => Some(r.code()),
        };
        self.inner.metrics.decision(d.result_label(), reason);
        d
    }

    /// Decides many queries concurrently (one verification per distinct signed ref), in
    /// order. At most [`MAX_BATCH`] queries are decided; the rest are refused as usage
    /// errors by the caller's front end before they get here.
    pub async fn decide_all(&self, queries: &[Query]) -> Vec<Decision> {
        let n = queries.len().min(MAX_BATCH);
        let queries = queries.get(..n).unwrap_or(&[]);
        futures_util::future::join_all(queries.iter().map(|q| self.decide(q))).await
    }

    /// As [`Service::decide_all`], without side effects (a Kubernetes `dryRun` review): a
    /// valid cached answer is used; otherwise the log's answer is verified against the state
    /// but the state is not updated (nothing is saved) and the answer is not cached.
    pub async fn decide_all_dry_run(&self, queries: &[Query]) -> Vec<Decision> {
        let n = queries.len().min(MAX_BATCH);
        let queries = queries.get(..n).unwrap_or(&[]);
        futures_util::future::join_all(queries.iter().map(|q| self.decide_mode(q, true))).await
    }

    async fn decide_uncounted(&self, q: &Query, dry_run: bool) -> Decision {
        let refuse = |e: Arc<Error>| {
            Decision::Refuse(Refusal {
                reference: q.reference.as_str().to_string(),
                error: e,
            })
        };
        let (signed, log) = match signed_and_log(&self.inner.policy, &q.reference) {
            Ok(x) => x,
            Err(e) => return refuse(Arc::new(e.into())),
        };
        let origin = log.origin().to_string();
        let (answer, hit) = if dry_run {
            match self.inner.cache.peek(&signed).await {
                Some(a) => (a, true),
                None => (self.produce(signed.clone(), origin, true).await.0, false),
            }
        } else {
            self.inner
                .cache
                .get_or_produce(&signed, || self.produce(signed.clone(), origin, false))
                .await
        };
        self.inner.metrics.cache(hit);
        self.inner.metrics.cached_refs(self.inner.cache.len());
        let checked = match answer {
            Ok(c) => c,
            Err(e) => return refuse(e),
        };
        let verdict = &checked.verdict;
        if let Some(served) = &q.served {
            if let Err(e) = check_digest(verdict, &served.like(&verdict.digest)) {
                return refuse(Arc::new(e.into()));
            }
        }
        let current = verdict.current.as_ref();
        Decision::Allow(Box::new(Allowed {
            pulled: q.reference.clone(),
            signed,
            digest: verdict.digest,
            basis: Allowed::basis_of(&verdict.kind, current.map(|c| c.version)),
            current: current.map(|c| (c.version, c.digest)),
            checkpoint: verdict.checkpoint.clone(),
            warnings: verdict.warnings.clone(),
            stale_accepted: verdict.stale_accepted,
            cached: hit,
        }))
    }

    /// Verifies the log's answer for `signed` (a cache miss) and says until when it holds.
    async fn produce(&self, signed: TagRef, origin: String, dry_run: bool) -> (Answer, Instant) {
        let inner = &self.inner;
        inner.metrics.log_check();
        let Some(client) = inner.logs.get(&origin) else {
            let e = ConfigError::UnknownLog { origin };
            return (Err(Arc::new(e.into())), Instant::now() + inner.negative_ttl);
        };
        let now = crate::unix_now();
        let job = LogCheck {
            policy: Arc::clone(&inner.policy),
            store: Arc::clone(&inner.store),
            signed,
            origin,
            source: Source::Log(client.clone()),
            now,
            accept_stale: inner.accept_stale,
            dry_run,
        };
        let started = Instant::now();
        let result = check(&job).await;
        inner.metrics.upstream(Upstream::Log, started.elapsed());
        match result {
            Ok(c) => {
                let ttl = fresh_for(&c.verdict, &inner.policy, inner.accept_stale, now)
                    .min(inner.cache_ttl);
                (Ok(Arc::new(c)), Instant::now() + ttl)
            }
            Err(e) => (Err(Arc::new(e)), Instant::now() + inner.negative_ttl),
        }
    }

    /// Whether the service can work: its state file is readable.
    ///
    /// # Errors
    /// [`Error::State`].
    pub async fn health(&self) -> Result<(), Error> {
        let store = Arc::clone(&self.inner.store);
        tokio::task::spawn_blocking(move || store.snapshot().map(|_| ()))
            .await
            .map_err(|e| Error::Runtime(std::io::Error::other(e.to_string())))??;
        Ok(())
    }

    /// `GET /healthz` (200 `ok`, or 503 with the reason) and `GET /metrics` (Prometheus).
    /// `/healthz` does not ask the log or the registry: an upstream outage is answered per
    /// request (503 there), not by restarting the front end.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(render_metrics))
            .with_state(self.clone())
    }
}

/// How long a verified verdict stays as fresh as the policy requires: until its oldest
/// fresh cosignature (or, under `quorum none`, the log time) is `max-age` old (plus the
/// configured `accept_stale`, the same bound the verifier applied).
fn fresh_for(verdict: &Verdict, policy: &Policy, accept_stale: u64, now: u64) -> Duration {
    let max_age = policy.max_age().saturating_add(accept_stale);
    let until = match policy.quorum() {
        Quorum::None => verdict.checkpoint.log_time.saturating_add(max_age),
        Quorum::Name(_) => verdict
            .checkpoint
            .cosigners
            .iter()
            .map(|(_, t)| t.saturating_add(max_age))
            .filter(|until| *until > now)
            .min()
            .unwrap_or(now),
    };
    Duration::from_secs(until.saturating_sub(now))
}

async fn healthz(State(s): State<Service>) -> Response {
    match s.health().await {
        Ok(()) => (
            StatusCode::OK,
            format!("ok: {} cached refs\n", s.inner.cache.len()),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

async fn render_metrics(State(s): State<Service>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.inner.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::binding::DigestValue;
    use taglog_proofs::hash::Hash;
    use taglog_proofs::note::{KeyType, SignerKey};
    use taglog_proofs::verify::{CheckpointInfo, StateUpdate, VerdictKind};

    fn verdict(log_time: u64, cosigners: &[u64]) -> Verdict {
        Verdict {
            reference: "r.example/a/b:1".parse().unwrap(),
            digest: DigestValue::Sha256([1; 32]),
            kind: VerdictKind::Current,
            current: None,
            checkpoint: CheckpointInfo {
                origin: "o".into(),
                size: 2,
                root: Hash([0; 32]),
                log_time,
                cosigners: cosigners
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("w{i}"), *t))
                    .collect(),
            },
            stale_accepted: false,
            warnings: Vec::new(),
            update: StateUpdate::default(),
        }
    }

    fn key(name: &str, t: KeyType, seed: u8) -> String {
        SignerKey::from_seed(name.parse().unwrap(), t, [seed; 32])
            .verifier()
            .to_string()
    }

    fn policy(quorum: &str) -> Policy {
        let log = key("log.test", KeyType::Ed25519, 7);
        let text = format!("log {log}\nmax-age 1h\n{quorum}\n");
        Policy::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn cached_answers_never_outlive_max_age() {
        let now = 1_000_000;
        // quorum none: the log time decides.
        let none = policy("quorum none");
        assert_eq!(
            fresh_for(&verdict(now - 600, &[]), &none, 0, now).as_secs(),
            3000
        );
        assert_eq!(
            fresh_for(&verdict(now - 4000, &[]), &none, 0, now).as_secs(),
            0
        );
        // --accept-stale extends the bound by exactly its amount.
        assert_eq!(
            fresh_for(&verdict(now - 4000, &[]), &none, 1800, now).as_secs(),
            1400
        );
        // Witnessed: the oldest cosignature that is still fresh.
        let w = key("w0.test", KeyType::Cosignature, 8);
        let witnessed = policy(&format!("witness w0 {w}\nquorum w0"));
        let v = verdict(now, &[now - 100, now - 3000, now - 9000]);
        assert_eq!(fresh_for(&v, &witnessed, 0, now).as_secs(), 600);
        assert_eq!(
            fresh_for(&verdict(now, &[]), &witnessed, 0, now).as_secs(),
            0
        );
    }
}
