//! One verification of a signed reference against its log and the local state (DESIGN §4
//! steps 3–9), shared by `taglog verify` ([`crate::verify`]) and the verification service
//! ([`crate::service`]): there is no second verifier.
//!
//! Order: read a snapshot of the state (cached checkpoint size, pin); fetch
//! `/lookup?since=<cached size>` (and every `/history` page for a pinned ref) without holding
//! any lock; then, under the state lock, check that the cached size and pin are still the
//! ones the fetch used (compare-and-swap: otherwise fetch again, at most
//! [`MAX_COMMIT_ATTEMPTS`] times), run [`taglog_proofs::verify::verify`] without a registry
//! digest, and apply the state update it allows (also on the failures that carry one). A saved
//! bundle (`--bundle`) is verified the same way, offline. The registry's digest is compared
//! afterwards with the verified verdict ([`check_digest`]), so one verified answer of the log
//! serves any number of pulls.
//!
//! Out of scope: resolving the registry (callers), caching (the service), rendering.

use std::sync::Arc;

use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::{Bundle, History};
use taglog_proofs::note::Note;
use taglog_proofs::policy::Policy;
use taglog_proofs::refs::TagRef;
use taglog_proofs::verify::{Verdict, VerdictKind, VerifyError, VerifyRequest};

use crate::error::{Error, LogAnswerError};
use crate::remote::LogClient;
use crate::state::{Locked, StateStore};

/// Most `/history` pages fetched for a pin.
pub const MAX_HISTORY_PAGES: usize = 100;
/// Attempts to get a `/lookup` and `/history` answer against the same checkpoint.
pub const MAX_ALIGN_ATTEMPTS: usize = 3;
/// Attempts to commit a verification whose fetch raced with another state update.
pub const MAX_COMMIT_ATTEMPTS: usize = 3;

/// Where the bundle comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The log's `/lookup` (and `/history`).
    Log(LogClient),
    /// A saved bundle, verified offline.
    Saved {
        /// The parsed bundle.
        bundle: Arc<Bundle>,
        /// Its bytes.
        bytes: Arc<Vec<u8>>,
    },
}

/// One verification to run.
#[derive(Debug, Clone)]
pub struct LogCheck {
    /// The trust policy.
    pub policy: Arc<Policy>,
    /// The shared state.
    pub store: Arc<StateStore>,
    /// The signed reference (after `remap`).
    pub signed: TagRef,
    /// The log's origin for `signed` (from the policy).
    pub origin: String,
    /// Where the bundle comes from.
    pub source: Source,
    /// Current Unix time.
    pub now: u64,
    /// `--accept-stale` seconds (0 = none).
    pub accept_stale: u64,
    /// Verify without changing the state (a Kubernetes `dryRun` review): the state is read as
    /// usual, but no update is applied, so nothing is saved. Evidence of an inconsistent log is
    /// still written.
    pub dry_run: bool,
}

/// What the log verifiably says about a signed reference.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The verifier's verdict (current or pinned digest, checkpoint, warnings).
    pub verdict: Verdict,
    /// The bundle verified.
    pub bundle: Arc<Bundle>,
    /// Its bytes as received or read.
    pub bundle_bytes: Arc<Vec<u8>>,
}

/// Runs the verification (see the module documentation).
///
/// # Errors
/// [`Error::Verify`] for a failed rule (with the evidence file of an inconsistent log),
/// [`Error::Log`] / [`Error::LogAnswer`] when the log is unavailable or answers nonsense,
/// [`Error::State`] when the state cannot be read or written.
pub async fn check(c: &LogCheck) -> Result<Checked, Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let store = Arc::clone(&c.store);
        let snapshot = blocking(move || store.snapshot().map_err(Error::from)).await?;
        let since = snapshot.checkpoints.get(&c.origin).map(|cp| cp.size);
        let pin = snapshot
            .pin(&c.signed)
            .copied()
            .or_else(|| c.policy.pin_for(&c.signed).copied());
        let (bundle, bytes, history) = match &c.source {
            Source::Log(client) => {
                let (b, bytes, h) = fetch(client, &c.signed, since, pin.is_some()).await?;
                (Arc::new(b), Arc::new(bytes), h)
            }
            Source::Saved { bundle, bytes } => (Arc::clone(bundle), Arc::clone(bytes), None),
        };
        let offline = matches!(c.source, Source::Saved { .. });
        let expect = Expect {
            since,
            pin,
            enforce: !offline && attempt < MAX_COMMIT_ATTEMPTS,
        };
        let (job, store) = (c.clone(), Arc::clone(&c.store));
        let b = Arc::clone(&bundle);
        let committed = blocking(move || {
            store.update(|locked| commit(locked, &job, &b, history.as_ref(), offline, expect))
        })
        .await?;
        if let Some(verdict) = committed {
            return Ok(Checked {
                verdict,
                bundle,
                bundle_bytes: bytes,
            });
        }
    }
}

/// Compares a digest served for the reference with the verified verdict (DESIGN §4 step 8's
/// last comparison): the current binding's digest, or the pinned one.
///
/// # Errors
/// [`VerifyError::DigestMismatch`] (naming both digests and the current version) or
/// [`VerifyError::PinMismatch`].
pub fn check_digest(verdict: &Verdict, served: &DigestValue) -> Result<(), VerifyError> {
    if *served == verdict.digest {
        return Ok(());
    }
    let reference = verdict.reference.as_str().to_string();
    match (&verdict.kind, &verdict.current) {
        (VerdictKind::Current, Some(c)) => Err(VerifyError::DigestMismatch {
            reference,
            registry: served.to_string(),
            current: c.digest.to_string(),
            version: c.version,
            time: c.time,
            update: Box::default(),
        }),
        _ => Err(VerifyError::PinMismatch {
            reference,
            registry: served.to_string(),
            pin: verdict.digest.to_string(),
        }),
    }
}

/// What the fetch assumed about the state.
#[derive(Debug, Clone, Copy)]
struct Expect {
    since: Option<u64>,
    pin: Option<DigestValue>,
    /// Whether a changed state means "fetch again" (online, attempts left).
    enforce: bool,
}

/// The locked part: `Ok(None)` when the state moved since the snapshot (fetch again).
fn commit(
    locked: &mut Locked,
    c: &LogCheck,
    bundle: &Bundle,
    history: Option<&History>,
    offline: bool,
    expect: Expect,
) -> Result<Option<Verdict>, Error> {
    let cached = locked.state.checkpoints.get(&c.origin).cloned();
    let pin = locked
        .state
        .pin(&c.signed)
        .copied()
        .or_else(|| c.policy.pin_for(&c.signed).copied());
    if expect.enforce && (cached.as_ref().map(|cp| cp.size) != expect.since || pin != expect.pin) {
        return Ok(None);
    }
    let high_water = locked.state.high_water.get(c.signed.as_str()).copied();
    let result = taglog_proofs::verify::verify(&VerifyRequest {
        policy: &c.policy,
        bundle,
        signed_ref: &c.signed,
        registry_digest: None,
        now: c.now,
        accept_stale: c.accept_stale,
        offline,
        cached: cached.as_ref(),
        high_water: high_water.as_ref(),
        newest_cosignature: locked.state.newest_cosignature.get(&c.origin).copied(),
        pin: pin.as_ref(),
        history,
    });
    match result {
        Ok(verdict) => {
            if !c.dry_run {
                locked.state.apply(&verdict.update);
            }
            Ok(Some(verdict))
        }
        Err(e) => {
            if let Some(u) = e.state_update().filter(|_| !c.dry_run) {
                locked.state.apply(u);
            }
            let evidence = match &e {
                VerifyError::Inconsistent {
                    origin, evidence, ..
                } => Some(locked.write_evidence(origin, c.now, &evidence.to_text())?),
                _ => None,
            };
            Err(Error::Verify {
                source: Box::new(e),
                signed_ago: None,
                evidence,
            })
        }
    }
}

/// Runs blocking state I/O off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Runtime(std::io::Error::other(e.to_string())))?
}

fn parse_bundle(bytes: Vec<u8>, client: &LogClient) -> Result<(Bundle, Vec<u8>), Error> {
    let b = Bundle::parse(&bytes).map_err(|source| LogAnswerError::Bundle {
        log: client.base().to_string(),
        source,
    })?;
    Ok((b, bytes))
}

fn checkpoint_text(note: &[u8]) -> Option<String> {
    Note::parse(note).ok().map(|n| n.text().to_string())
}

/// Fetches the bundle (and, for a pin, every history page) against one checkpoint.
async fn fetch(
    client: &LogClient,
    r: &TagRef,
    since: Option<u64>,
    want_history: bool,
) -> Result<(Bundle, Vec<u8>, Option<History>), Error> {
    let (mut bundle, mut bytes) = parse_bundle(client.lookup(r, since).await?, client)?;
    if !want_history {
        return Ok((bundle, bytes, None));
    }
    for _ in 0..MAX_ALIGN_ATTEMPTS {
        let size = Note::parse(&bundle.checkpoint)
            .ok()
            .and_then(|n| taglog_proofs::checkpoint::Checkpoint::parse(n.text()).ok())
            .map(|c| c.size());
        let history = fetch_history(client, r, size).await?;
        if checkpoint_text(&history.checkpoint) == checkpoint_text(&bundle.checkpoint) {
            return Ok((bundle, bytes, Some(history)));
        }
        // The log moved on between the two requests: fetch the bundle again.
        (bundle, bytes) = parse_bundle(client.lookup(r, since).await?, client)?;
    }
    Err(LogAnswerError::Moving.into())
}

async fn fetch_history(
    client: &LogClient,
    r: &TagRef,
    since: Option<u64>,
) -> Result<History, Error> {
    let mut cursor: Option<String> = None;
    let mut all: Option<History> = None;
    for _ in 0..MAX_HISTORY_PAGES {
        let bytes = client.history(r, since, cursor.as_deref()).await?;
        let page = History::parse(&bytes).map_err(|source| LogAnswerError::History {
            log: client.base().to_string(),
            source,
        })?;
        cursor = page.next_cursor.clone();
        match &mut all {
            None => all = Some(page),
            Some(h) => {
                if checkpoint_text(&h.checkpoint) != checkpoint_text(&page.checkpoint) {
                    return Err(LogAnswerError::Moving.into());
                }
                h.entries.extend(page.entries);
            }
        }
        if cursor.is_none() {
            break;
        }
    }
    all.ok_or_else(|| {
        LogAnswerError::NoHistory {
            log: client.base().to_string(),
        }
        .into()
    })
}
