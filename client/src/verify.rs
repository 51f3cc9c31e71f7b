//! `taglog verify` and its relatives (`lookup`, `bundle`, `export`): the I/O around
//! [`taglog_proofs::verify::verify`] (DESIGN §4).
//!
//! Order: canonicalise and remap the reference (step 1, exit 2 if no publisher line covers
//! it); resolve the pulled reference at its registry unless `--digest` or `--offline` (step
//! 2); take the state lock; fetch `/lookup?since=<cached size>` (and `/history` for a pinned
//! ref) or read `--bundle`; run the pure verifier (steps 3–8); write the state update and any
//! evidence under the same lock (step 9). The verdict names the *pulled* repository, so a
//! mirror's user pulls from the mirror by digest.
//!
//! Out of scope: argument parsing (`main.rs`), publishing ([`crate::publish`]).

use std::path::{Path, PathBuf};

use serde_json::json;
use taglog_proofs::binding::{DigestValue, SignedBinding};
use taglog_proofs::bundle::{Bundle, History, MAX_BUNDLE_BYTES};
use taglog_proofs::note::Note;
use taglog_proofs::policy::Policy;
use taglog_proofs::refs::TagRef;
use taglog_proofs::verify::{ErrorClass, Verdict, VerdictKind, VerifyError, VerifyRequest};

use crate::config::{log_client, RegistryOptions};
use crate::remote::LogClient;
use crate::state::{Locked, StateDir};
use crate::{Failure, EXIT_FAILED, EXIT_USAGE};

/// Most `/history` pages fetched for a pin.
pub const MAX_HISTORY_PAGES: usize = 100;
/// Attempts to get a `/lookup` and `/history` answer against the same checkpoint.
pub const MAX_ALIGN_ATTEMPTS: usize = 3;

/// What to verify and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The reference as the user typed it.
    pub reference: String,
    /// `--digest`: the digest to check instead of asking the registry.
    pub digest: Option<String>,
    /// `--bundle`: verify this saved bundle instead of asking the log.
    pub bundle: Option<PathBuf>,
    /// `--offline`: no network at all (needs `--bundle`; the registry is not asked).
    pub offline: bool,
    /// Do not ask the registry (lookup, bundle, export).
    pub skip_registry: bool,
    /// `--accept-stale`: seconds added to max-age.
    pub accept_stale: u64,
    /// Current Unix time.
    pub now: u64,
    /// `--log`: overrides the log URL in the policy.
    pub log_url: Option<String>,
    /// Registry access.
    pub registry: RegistryOptions,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
}

/// A positive result.
#[derive(Debug, Clone)]
pub struct Report {
    /// The reference as pulled (canonical).
    pub pulled: TagRef,
    /// The reference the publisher signed (after remap).
    pub signed: TagRef,
    /// The digest the registry served, if asked.
    pub registry_digest: Option<DigestValue>,
    /// The verifier's verdict.
    pub verdict: Verdict,
    /// The bundle verified.
    pub bundle: Bundle,
    /// Its raw bytes (as received or read).
    pub bundle_bytes: Vec<u8>,
}

impl Report {
    /// The pullable digest reference: `<pulled repository>@<digest>`.
    pub fn pull(&self) -> String {
        format!("{}@{}", self.pulled.repository(), self.verdict.digest)
    }
}

/// Runs a verification.
///
/// # Errors
/// A [`Failure`] with the DESIGN §4 exit code: 2 for usage and policy errors, 3 when the
/// registry or log is unavailable, 1 for every failed rule.
pub async fn run(policy: &Policy, opts: &Options) -> Result<Report, Failure> {
    let pulled = TagRef::canonicalize(&opts.reference).map_err(|e| {
        Failure::usage(
            "bad-reference",
            format!("{:?} is not a tag reference: {e}", opts.reference),
        )
    })?;
    let signed = policy
        .signed_ref(&pulled)
        .map_err(|e| Failure::usage("bad-remap", e))?;
    let log = policy
        .log_for(&signed)
        .map_err(|reason| Failure::usage("not-covered", reason))?;
    if opts.offline && opts.bundle.is_none() {
        return Err(Failure::usage(
            "offline-needs-bundle",
            "--offline needs --bundle <file> (save one with `taglog bundle <ref> -o <file>`)",
        ));
    }
    let explicit = opts
        .digest
        .as_deref()
        .map(|d| {
            d.parse::<DigestValue>()
                .ok()
                .filter(|d| !d.is_withdrawn())
                .ok_or_else(|| {
                    Failure::usage(
                        "bad-digest",
                        format!("--digest {d:?} is not sha256:<64 hex> or sha512:<128 hex>"),
                    )
                })
        })
        .transpose()?;
    let resolved = if explicit.is_some() || opts.offline || opts.skip_registry {
        None
    } else {
        Some(opts.registry.client(Some(policy))?.resolve(&pulled).await?)
    };

    let dir = StateDir::resolve(opts.state_dir.as_deref())?;
    let mut locked = dir.lock()?;
    let origin = log.origin().to_string();
    let cached = locked.state.checkpoints.get(&origin).cloned();
    let pin = locked
        .state
        .pin(&signed)
        .copied()
        .or_else(|| policy.pin_for(&signed).copied());
    let (bundle, bundle_bytes, history) = match &opts.bundle {
        Some(p) => {
            let (b, bytes) = read_bundle_file(p)?;
            (b, bytes, None)
        }
        None => {
            let client = log_client(log, opts.log_url.as_deref())?;
            fetch(
                &client,
                &signed,
                cached.as_ref().map(|c| c.size),
                pin.is_some(),
            )
            .await?
        }
    };
    let registry_digest =
        explicit.or_else(|| resolved.map(|r| r.digest_like(peek_digest(&bundle).as_ref())));
    let result = taglog_proofs::verify::verify(&VerifyRequest {
        policy,
        bundle: &bundle,
        signed_ref: &signed,
        registry_digest: registry_digest.as_ref(),
        now: opts.now,
        accept_stale: opts.accept_stale,
        offline: opts.bundle.is_some(),
        cached: cached.as_ref(),
        high_water: locked.state.high_water.get(signed.as_str()),
        newest_cosignature: locked.state.newest_cosignature.get(&origin).copied(),
        pin: pin.as_ref(),
        history: history.as_ref(),
    });
    match result {
        Ok(verdict) => {
            if !verdict.update.is_empty() {
                locked.state.apply(&verdict.update);
                locked.save()?;
            }
            Ok(Report {
                pulled,
                signed,
                registry_digest,
                verdict,
                bundle,
                bundle_bytes,
            })
        }
        Err(e) => Err(record_failure(&mut locked, e, opts.now)?),
    }
}

/// Records what a failed verification may still record, writes evidence, and converts the
/// error into a [`Failure`].
fn record_failure(locked: &mut Locked, e: VerifyError, now: u64) -> Result<Failure, Failure> {
    if let Some(u) = e.state_update() {
        if !u.is_empty() {
            locked.state.apply(u);
            locked.save()?;
        }
    }
    let mut message = e.to_string();
    match &e {
        VerifyError::DigestMismatch { time, .. } | VerifyError::Withdrawn { time, .. } => {
            message.push_str(&format!(
                " [the binding was signed {} ago]",
                ago(now, *time)
            ));
        }
        _ => {}
    }
    if let VerifyError::Inconsistent {
        origin, evidence, ..
    } = &e
    {
        let path = locked.write_evidence(origin, now, &evidence.to_text())?;
        message.push_str(&format!("\nevidence written to {}", path.display()));
    }
    let exit = match e.class() {
        ErrorClass::Policy => EXIT_USAGE,
        ErrorClass::Failed | ErrorClass::Security => EXIT_FAILED,
    };
    Ok(Failure::new(exit, e.code(), message))
}

/// The digest algorithm of the bundle's binding (unverified: only used to pick which digest
/// of the registry's manifest to compare; the comparison itself is exact).
fn peek_digest(b: &Bundle) -> Option<DigestValue> {
    let entry = &b.binding.as_ref()?.entry;
    SignedBinding::parse(entry).ok().map(|s| s.binding().digest)
}

/// Reads a saved bundle.
///
/// # Errors
/// Exit 2 if it cannot be read or parsed.
pub fn read_bundle_file(p: &Path) -> Result<(Bundle, Vec<u8>), Failure> {
    let meta = std::fs::metadata(p).map_err(|e| {
        Failure::usage(
            "bundle-file",
            format!("cannot read bundle {}: {e}", p.display()),
        )
    })?;
    if meta.len() > MAX_BUNDLE_BYTES as u64 {
        return Err(Failure::usage(
            "bundle-file",
            format!("{} is larger than {MAX_BUNDLE_BYTES} bytes", p.display()),
        ));
    }
    let bytes = std::fs::read(p).map_err(|e| {
        Failure::usage(
            "bundle-file",
            format!("cannot read bundle {}: {e}", p.display()),
        )
    })?;
    let b = Bundle::parse(&bytes)
        .map_err(|e| Failure::usage("bad-bundle", format!("{}: {e}", p.display())))?;
    Ok((b, bytes))
}

fn parse_fetched(bytes: Vec<u8>, client: &LogClient) -> Result<(Bundle, Vec<u8>), Failure> {
    let b = Bundle::parse(&bytes).map_err(|e| {
        Failure::failed(
            "bad-bundle",
            format!("log {} sent a malformed bundle: {e}", client.base()),
        )
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
) -> Result<(Bundle, Vec<u8>, Option<History>), Failure> {
    let (mut bundle, mut bytes) = parse_fetched(client.lookup(r, since).await?, client)?;
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
        (bundle, bytes) = parse_fetched(client.lookup(r, since).await?, client)?;
    }
    Err(Failure::new(
        crate::EXIT_UNAVAILABLE,
        "log-moving",
        "the log's /lookup and /history answers kept naming different checkpoints; retry",
    ))
}

async fn fetch_history(
    client: &LogClient,
    r: &TagRef,
    since: Option<u64>,
) -> Result<History, Failure> {
    let mut cursor: Option<String> = None;
    let mut all: Option<History> = None;
    for _ in 0..MAX_HISTORY_PAGES {
        let bytes = client.history(r, since, cursor.as_deref()).await?;
        let page = History::parse(&bytes).map_err(|e| {
            Failure::failed(
                "bad-history",
                format!("log {} sent a malformed history page: {e}", client.base()),
            )
        })?;
        cursor = page.next_cursor.clone();
        match &mut all {
            None => all = Some(page),
            Some(h) => {
                if checkpoint_text(&h.checkpoint) != checkpoint_text(&page.checkpoint) {
                    return Err(Failure::new(
                        crate::EXIT_UNAVAILABLE,
                        "log-moving",
                        "history pages name different checkpoints; retry",
                    ));
                }
                h.entries.extend(page.entries);
            }
        }
        if cursor.is_none() {
            break;
        }
    }
    all.ok_or_else(|| Failure::failed("bad-history", "no history page"))
}

/// The human summary printed on stderr.
pub fn describe(r: &Report, now: u64) -> String {
    let v = &r.verdict;
    let cp = &v.checkpoint;
    let cosigners: Vec<String> = cp
        .cosigners
        .iter()
        .map(|(n, t)| format!("{n} ({} ago)", ago(now, *t)))
        .collect();
    let mut s = match (&v.kind, &v.current) {
        (VerdictKind::Current, Some(c)) => format!(
            "verified: {} is bound to {} (version {}, leaf {}) in {} at size {}",
            r.signed.as_str(),
            v.digest,
            c.version,
            c.index,
            cp.origin,
            cp.size
        ),
        (VerdictKind::Pinned { version, moved, .. }, current) => {
            let cur = match current {
                Some(c) => format!("current binding: version {} -> {}", c.version, c.digest),
                None => "current binding: unknown".into(),
            };
            format!(
                "pinned: {} is pinned to {} (bound at version {version}); {cur}{}",
                r.signed.as_str(),
                v.digest,
                if *moved {
                    " (the publisher has moved the tag since)"
                } else {
                    ""
                }
            )
        }
        _ => format!("verified: {} -> {}", r.signed.as_str(), v.digest),
    };
    if r.pulled != r.signed {
        s.push_str(&format!("\n  pulled as {} (remapped)", r.pulled.as_str()));
    }
    s.push_str(&format!(
        "\n  checkpoint {} size {}, log time {} ago, cosigned by {}",
        cp.origin,
        cp.size,
        ago(now, cp.log_time),
        if cosigners.is_empty() {
            "nobody (quorum none)".to_string()
        } else {
            cosigners.join(", ")
        }
    ));
    for w in &v.warnings {
        s.push_str(&format!("\nwarning: {w}"));
    }
    s
}

fn ago(now: u64, t: u64) -> String {
    if t > now {
        return format!("-{}s", t - now);
    }
    let d = now - t;
    match d {
        0..=119 => format!("{d}s"),
        120..=7199 => format!("{} min", d / 60),
        7200..=172_799 => format!("{} h", d / 3600),
        _ => format!("{} days", d / 86400),
    }
}

/// The machine-readable verdict (`--json`).
pub fn report_json(r: &Report) -> serde_json::Value {
    let v = &r.verdict;
    let current = v.current.as_ref().map(|c| {
        json!({"version": c.version, "index": c.index, "digest": c.digest.to_string(),
               "publisher_time": c.time, "publisher": c.publisher})
    });
    let mut out = json!({
        "result": match v.kind { VerdictKind::Current => "verified", VerdictKind::Pinned { .. } => "pinned" },
        "reference": r.pulled.as_str(),
        "signed_reference": r.signed.as_str(),
        "pull": r.pull(),
        "digest": v.digest.to_string(),
        "registry_digest": r.registry_digest.map(|d| d.to_string()),
        "current": current,
        "checkpoint": {
            "origin": v.checkpoint.origin, "size": v.checkpoint.size,
            "root": v.checkpoint.root.to_base64(), "log_time": v.checkpoint.log_time,
            "cosigners": v.checkpoint.cosigners.iter().map(|(n, t)| json!({"name": n, "time": t})).collect::<Vec<_>>(),
        },
        "stale_accepted": v.stale_accepted,
        "warnings": v.warnings,
        "exit": 0,
    });
    if let VerdictKind::Pinned {
        version,
        index,
        moved,
    } = v.kind
    {
        if let Some(o) = out.as_object_mut() {
            o.insert(
                "pinned".into(),
                json!({"version": version, "index": index, "moved": moved}),
            );
        }
    }
    out
}

/// The machine-readable failure (`--json`).
pub fn failure_json(f: &Failure, reference: &str) -> serde_json::Value {
    let result = match f.exit {
        crate::EXIT_FAILED => "failed",
        crate::EXIT_USAGE => "error",
        _ => "unavailable",
    };
    json!({"result": result, "reference": reference, "code": f.code, "message": f.message, "exit": f.exit})
}
