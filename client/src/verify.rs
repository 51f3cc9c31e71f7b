//! `taglog verify` and its relatives (`lookup`, `bundle`, `export`): DESIGN §4 for one
//! reference typed by a user.
//!
//! Order: canonicalise and remap the reference (step 1, exit 2 if no publisher line covers
//! it); resolve the pulled reference at its registry unless `--digest`, `--offline` or a
//! command that does not need it (step 2); verify the log's answer or a saved bundle against
//! the state ([`crate::check`], steps 3–9); compare the registry's digest with the verdict.
//! The verdict names the *pulled* repository, so a mirror's user pulls from the mirror by
//! digest.
//!
//! Out of scope: argument parsing (`main.rs`), publishing ([`crate::publish`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use taglog_proofs::binding::DigestValue;
use taglog_proofs::bundle::{Bundle, MAX_BUNDLE_BYTES};
use taglog_proofs::policy::Policy;
use taglog_proofs::refs::TagRef;
use taglog_proofs::verify::{Verdict, VerdictKind, VerifyError};

use crate::check::{check, check_digest, LogCheck, Source};
use crate::config::{log_client, signed_and_log, RegistryOptions};
use crate::error::{Class, Error, InputError};
use crate::state::{StateDir, StateStore};

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
    pub bundle: Arc<Bundle>,
    /// Its raw bytes (as received or read).
    pub bundle_bytes: Arc<Vec<u8>>,
}

impl Report {
    /// The pullable digest reference: `<pulled repository>@<digest>`.
    pub fn pull(&self) -> String {
        format!("{}@{}", self.pulled.repository(), self.verdict.digest)
    }
}

/// Parses a reference as a user types it.
///
/// # Errors
/// [`InputError::Reference`].
pub fn parse_reference(input: &str) -> Result<TagRef, InputError> {
    TagRef::canonicalize(input).map_err(|source| InputError::Reference {
        input: input.to_string(),
        source,
    })
}

/// Parses a digest argument (`withdrawn` is not a digest).
///
/// # Errors
/// [`InputError::Digest`].
pub fn parse_digest(what: &'static str, input: &str) -> Result<DigestValue, InputError> {
    input
        .parse::<DigestValue>()
        .ok()
        .filter(|d| !d.is_withdrawn())
        .ok_or_else(|| InputError::Digest {
            what,
            input: input.to_string(),
        })
}

/// Runs a verification.
///
/// # Errors
/// An [`Error`] whose [`Error::class`] gives the DESIGN §4 exit code.
pub async fn run(policy: Arc<Policy>, opts: &Options) -> Result<Report, Error> {
    let pulled = parse_reference(&opts.reference)?;
    let (signed, log) = signed_and_log(&policy, &pulled)?;
    if opts.offline && opts.bundle.is_none() {
        return Err(InputError::OfflineNeedsBundle.into());
    }
    let explicit = opts
        .digest
        .as_deref()
        .map(|d| parse_digest("--digest", d))
        .transpose()?;
    let resolved = if explicit.is_some() || opts.offline || opts.skip_registry {
        None
    } else {
        Some(
            opts.registry
                .client(Some(&policy))?
                .resolve(&pulled)
                .await?,
        )
    };
    let source = match &opts.bundle {
        Some(p) => {
            let (bundle, bytes) = read_bundle_file(p)?;
            Source::Saved {
                bundle: Arc::new(bundle),
                bytes: Arc::new(bytes),
            }
        }
        None => Source::Log(log_client(log, opts.log_url.as_deref())?),
    };
    let job = LogCheck {
        origin: log.origin().to_string(),
        policy: Arc::clone(&policy),
        store: Arc::new(StateStore::new(StateDir::resolve(
            opts.state_dir.as_deref(),
        )?)),
        signed: signed.clone(),
        source,
        now: opts.now,
        accept_stale: opts.accept_stale,
        dry_run: false,
    };
    let checked = check(&job).await.map_err(|e| with_age(e, opts.now))?;
    let registry_digest =
        explicit.or_else(|| resolved.map(|r| r.digest_like(Some(&checked.verdict.digest))));
    if let Some(d) = &registry_digest {
        check_digest(&checked.verdict, d).map_err(|e| with_age(e.into(), opts.now))?;
    }
    Ok(Report {
        pulled,
        signed,
        registry_digest,
        verdict: checked.verdict,
        bundle: checked.bundle,
        bundle_bytes: checked.bundle_bytes,
    })
}

/// Adds how long ago the binding involved was signed to a digest mismatch or withdrawal.
fn with_age(e: Error, now: u64) -> Error {
    match e {
        Error::Verify {
            source,
            signed_ago: None,
            evidence,
        } => {
            let time = match source.as_ref() {
                VerifyError::DigestMismatch { time, .. } | VerifyError::Withdrawn { time, .. } => {
                    Some(*time)
                }
                _ => None,
            };
            Error::Verify {
                source,
                signed_ago: time.map(|t| ago(now, t)),
                evidence,
            }
        }
        other => other,
    }
}

/// Reads a saved bundle.
///
/// # Errors
/// [`InputError`] if it cannot be read or parsed.
pub fn read_bundle_file(p: &Path) -> Result<(Bundle, Vec<u8>), InputError> {
    let read = |source| InputError::BundleRead {
        path: p.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(p).map_err(read)?;
    if meta.len() > MAX_BUNDLE_BYTES as u64 {
        return Err(InputError::BundleTooLarge {
            path: p.to_path_buf(),
        });
    }
    let bytes = std::fs::read(p).map_err(read)?;
    let b = Bundle::parse(&bytes).map_err(|source| InputError::BundleParse {
        path: p.to_path_buf(),
        source,
    })?;
    Ok((b, bytes))
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

/// A short human duration from `t` to `now` (`-Ns` for a time in the future).
pub fn ago(now: u64, t: u64) -> String {
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
pub fn failure_json(e: &Error, reference: &str) -> serde_json::Value {
    let result = match e.class() {
        Class::Failed | Class::Security => "failed",
        Class::Usage | Class::Uncovered => "error",
        Class::Unavailable => "unavailable",
    };
    json!({"result": result, "reference": reference, "code": e.code(), "message": e.to_string(), "exit": e.exit_code()})
}
