//! `taglog publish`: sign a binding, submit it, and succeed only after verifying, under the
//! publisher's own policy, a fresh bundle that shows exactly this binding as current
//! (DESIGN §5 "Maximum merge delay").
//!
//! `--version auto` reads the current version from a verified `/lookup` and retries with the
//! log's expected version on 409. A 202 answer is followed by polling `/lookup` until the
//! binding is current or the MMD passes; then the command fails with evidence (the 202
//! answer and the newest checkpoint without the binding). Out of scope: key management beyond
//! reading the key file ([`crate::keys`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::bundle::Bundle;
use taglog_proofs::hash::leaf_hash;
use taglog_proofs::policy::Policy;
use taglog_proofs::refs::TagRef;
use taglog_proofs::verify::{verify, VerifyError, VerifyRequest};

use crate::config::{log_client, RegistryOptions};
use crate::error::{ConfigError, Error, LogAnswerError, PublishError};
use crate::keys::load_signer;
use crate::remote::{AddOutcome, LogClient, RemoteError};
use crate::verify::{parse_digest, parse_reference};

/// Default maximum merge delay waited for after a 202 (DESIGN §5: 5 minutes).
pub const DEFAULT_MMD_SECS: u64 = 300;
/// Most submissions (409 retries with `--version auto`).
pub const MAX_ATTEMPTS: usize = 5;

/// Which version to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionChoice {
    /// Current + 1 (1 for a new ref), retried on 409.
    #[default]
    Auto,
    /// Exactly this version.
    Exact(u64),
}

/// What to publish.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// The reference (canonicalised; publishers sign canonical refs, no remap).
    pub reference: String,
    /// `--digest`; otherwise the registry is asked.
    pub digest: Option<String>,
    /// `--withdraw`: publish `digest withdrawn` (S5).
    pub withdraw: bool,
    /// Version.
    pub version: VersionChoice,
    /// Private key file.
    pub key: PathBuf,
    /// `--log` URL override.
    pub log_url: Option<String>,
    /// Unix time (the binding's `time` and the freshness reference).
    pub now: u64,
    /// Registry access.
    pub registry: RegistryOptions,
    /// How long to wait after a 202.
    pub mmd: Duration,
    /// Poll interval after a 202.
    pub poll: Duration,
}

/// A successful publication.
#[derive(Debug, Clone)]
pub struct Published {
    /// The signed reference.
    pub reference: TagRef,
    /// The digest (or `withdrawn`).
    pub digest: DigestValue,
    /// The version.
    pub version: u64,
    /// The leaf index.
    pub index: u64,
    /// The verified bundle's bytes.
    pub bundle: Vec<u8>,
}

/// Publishes one binding.
///
/// # Errors
/// An [`Error`]: usage and policy problems (bad ref, key, uncovered ref), an unavailable
/// registry or log, or a [`PublishError`] when the log refuses the binding or does not make
/// it current.
pub async fn publish(policy: &Policy, opts: &PublishOptions) -> Result<Published, Error> {
    let signer = load_signer(&opts.key)?;
    let r = parse_reference(&opts.reference)?;
    let log = policy
        .log_for(&r)
        .map_err(|reason| ConfigError::NotCovered {
            reference: r.as_str().to_string(),
            reason,
        })?;
    let origin = log.origin().to_string();
    let client = log_client(log, opts.log_url.as_deref())?;
    let digest = if opts.withdraw {
        DigestValue::Withdrawn
    } else if let Some(d) = &opts.digest {
        parse_digest("--digest", d)?
    } else {
        opts.registry
            .client(Some(policy))?
            .resolve(&r)
            .await?
            .sha256
    };
    let mut version = match opts.version {
        VersionChoice::Exact(v) => v,
        VersionChoice::Auto => current_version(policy, &client, &r, opts.now)
            .await?
            .map_or(1, |v| v.saturating_add(1)),
    };
    for _ in 0..MAX_ATTEMPTS {
        let binding = Binding {
            log: origin.clone(),
            reference: r.clone(),
            digest,
            version,
            time: opts.now,
        };
        let note =
            sign_binding(&binding, &signer).map_err(|source| PublishError::Sign { source })?;
        match client.add_binding(&note).await {
            Ok(outcome) => return finish(policy, &client, opts, &binding, &note, outcome).await,
            Err(RemoteError::Rejected {
                status: 409,
                expected_version: Some(expected),
                ..
            }) if opts.version == VersionChoice::Auto && expected != version => {
                version = expected;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(PublishError::VersionRace {
        reference: r.as_str().to_string(),
        attempts: MAX_ATTEMPTS,
    }
    .into())
}

/// The current binding of a ref, as a verified `/lookup` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Current {
    /// Never bound in this log.
    Unbound,
    /// Current binding: its version and digest (`withdrawn` for a withdrawal).
    Bound {
        /// Version.
        version: u64,
        /// Digest or `withdrawn`.
        digest: DigestValue,
    },
}

/// The current binding of `r`, from a bundle verified under `policy` at `now`.
///
/// # Errors
/// [`Error::Log`] when the log is unavailable; [`Error::LogAnswer`] or
/// [`PublishError::CurrentVersion`] when its bundle is malformed or does not verify
/// (including a current binding by a key the policy does not trust).
pub async fn current(
    policy: &Policy,
    client: &LogClient,
    r: &TagRef,
    now: u64,
) -> Result<Current, Error> {
    let bundle = fetch_bundle(client, r).await?;
    match verify(&request(policy, &bundle, r, None, now)) {
        Ok(v) => Ok(v.current.map_or(Current::Unbound, |c| Current::Bound {
            version: c.version,
            digest: c.digest,
        })),
        Err(VerifyError::Unbound { .. }) => Ok(Current::Unbound),
        Err(VerifyError::Withdrawn { version, .. }) => Ok(Current::Bound {
            version,
            digest: DigestValue::Withdrawn,
        }),
        Err(source) => Err(PublishError::CurrentVersion {
            reference: r.as_str().to_string(),
            source,
        }
        .into()),
    }
}

/// The current version of `r` from a verified bundle (`None` if unbound).
async fn current_version(
    policy: &Policy,
    client: &LogClient,
    r: &TagRef,
    now: u64,
) -> Result<Option<u64>, Error> {
    Ok(match current(policy, client, r, now).await? {
        Current::Unbound => None,
        Current::Bound { version, .. } => Some(version),
    })
}

fn request<'a>(
    policy: &'a Policy,
    bundle: &'a Bundle,
    r: &'a TagRef,
    digest: Option<&'a DigestValue>,
    now: u64,
) -> VerifyRequest<'a> {
    VerifyRequest {
        policy,
        bundle,
        signed_ref: r,
        registry_digest: digest,
        now,
        accept_stale: 0,
        offline: true,
        cached: None,
        high_water: None,
        newest_cosignature: None,
        pin: None,
        history: None,
    }
}

async fn fetch_bundle(client: &LogClient, r: &TagRef) -> Result<Bundle, Error> {
    let bytes = client.lookup(r, None).await?;
    Bundle::parse(&bytes).map_err(|source| {
        LogAnswerError::Bundle {
            log: client.base().to_string(),
            source,
        }
        .into()
    })
}

/// Whether `bundle` verifies and shows `note` as the current binding.
fn shows_current(
    policy: &Policy,
    bundle: &Bundle,
    binding: &Binding,
    note: &[u8],
    now: u64,
) -> Result<Option<u64>, Error> {
    let want = leaf_hash(note);
    let digest = (!binding.digest.is_withdrawn()).then_some(binding.digest);
    match verify(&request(
        policy,
        bundle,
        &binding.reference,
        digest.as_ref(),
        now,
    )) {
        Ok(v) => Ok(v.current.filter(|c| c.leaf_hash == want).map(|c| c.index)),
        Err(VerifyError::Withdrawn { version, .. })
            if binding.digest.is_withdrawn() && version == binding.version =>
        {
            Ok(bundle.binding.as_ref().map(|b| b.index))
        }
        Err(
            VerifyError::DigestMismatch { .. }
            | VerifyError::Unbound { .. }
            | VerifyError::Withdrawn { .. },
        ) => Ok(None),
        Err(source) => Err(PublishError::BundleDoesNotVerify { source }.into()),
    }
}

async fn finish(
    policy: &Policy,
    client: &LogClient,
    opts: &PublishOptions,
    binding: &Binding,
    note: &[u8],
    outcome: AddOutcome,
) -> Result<Published, Error> {
    let done = |index: u64, bundle: Vec<u8>| Published {
        reference: binding.reference.clone(),
        digest: binding.digest,
        version: binding.version,
        index,
        bundle,
    };
    let accepted_body = match outcome {
        AddOutcome::Committed(bytes) => {
            let bundle = Bundle::parse(&bytes).map_err(|source| LogAnswerError::Bundle {
                log: client.base().to_string(),
                source,
            })?;
            return match shows_current(policy, &bundle, binding, note, opts.now)? {
                Some(index) => Ok(done(index, bytes)),
                None => Err(PublishError::NotCurrent {
                    reference: binding.reference.as_str().to_string(),
                    version: binding.version,
                }
                .into()),
            };
        }
        AddOutcome::Duplicate {
            superseded_by: Some((v, i)),
            ..
        } => {
            return Err(PublishError::Superseded {
                version: v,
                index: i,
                next: v.saturating_add(1),
            }
            .into())
        }
        AddOutcome::Duplicate { .. } => Vec::new(),
        AddOutcome::Accepted { body, .. } => body,
    };
    // Poll until the binding is current in a fresh quorum checkpoint, or the MMD passes.
    let start = Instant::now();
    let deadline = start + opts.mmd;
    let mut last_checkpoint = Vec::new();
    loop {
        match fetch_bundle(client, &binding.reference).await {
            Ok(bundle) => {
                let now = opts.now.saturating_add(start.elapsed().as_secs());
                if let Some(index) = shows_current(policy, &bundle, binding, note, now)? {
                    let bytes = bundle.to_json().into_bytes();
                    return Ok(done(index, bytes));
                }
                last_checkpoint = bundle.checkpoint;
            }
            Err(e) if e.class() == crate::error::Class::Unavailable => {}
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(opts.poll).await;
    }
    Err(PublishError::MmdExceeded {
        reference: binding.reference.as_str().to_string(),
        version: binding.version,
        mmd_secs: opts.mmd.as_secs(),
        answer: String::from_utf8_lossy(&accepted_body).into_owned(),
        checkpoint: String::from_utf8_lossy(&last_checkpoint).into_owned(),
    }
    .into())
}
