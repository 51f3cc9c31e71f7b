//! containerd's image-verifier protocol (`io.containerd.image-verifier.v1.bindir`,
//! containerd 2.x `docs/image-verification.md` and `pkg/imageverifier/bindir`): before a pull,
//! containerd runs every executable in its `bin_dir` as
//! `<bin> -name <ref> -digest <digest> -stdin-media-type application/vnd.oci.descriptor.v1+json`
//! with the image's OCI descriptor on stdin, logs what the program prints on stdout (at most
//! [`MAX_REASON_BYTES`]) and pulls only if every program exits 0.
//!
//! [`run`] is the whole program (`taglog-containerd-verifier`): it reads the arguments
//! ([`args`]) and at most [`MAX_DESCRIPTOR_BYTES`] of stdin ([`descriptor`]), checks that the
//! descriptor, the `-digest` argument and any digest in `-name` agree, asks the verification
//! service (one `/lookup`, through the shared state directory), and exits 0 only when the
//! service verifies `-digest` as the current binding of the name's tag (or its pinned digest),
//! when the name is a digest in a repository the policy covers
//! ([`crate::service::image::covered_repository`]), or when the name is uncovered and
//! `-uncovered allow` was given. Every other case, including a slow log (`-timeout`, default
//! [`args::DEFAULT_TIMEOUT`]), exits non-zero with one line saying what failed and what to do.
//! Exit codes are the client's: 1 verification failed, 2 usage, policy or input error, 3 the
//! log was unavailable.
//!
//! Out of scope: the registry (containerd pulls the bytes itself, by `-digest`), containerd
//! 1.x (which has no verifier plugin), and caching between calls beyond the shared state.

pub mod args;
pub mod descriptor;

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use taglog_proofs::binding::DigestValue;
use tokio::io::AsyncReadExt as _;

pub use args::{parse_args, ArgsError, Call, Settings};
pub use descriptor::{Descriptor, DescriptorError, DESCRIPTOR_MEDIA_TYPE, MAX_DESCRIPTOR_BYTES};

use super::ask::{self, Ask, DigestConflict, Outcome};
use super::image::{ImageRef, ImageRefError};
use super::{Service, ServiceConfig};
use crate::config::load_policy;
use crate::credentials::CredentialStore;
use crate::registry::Registry;
use crate::state::StateDir;
use crate::{Error, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE};

/// containerd keeps at most this much of a verifier's stdout (its `outputLimitBytes`, 32 KiB);
/// the reason printed is cut to fit.
pub const MAX_REASON_BYTES: usize = 32 * 1024;

/// Why a call was refused before (or instead of) a verification.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The command line.
    #[error("bad arguments: {0}")]
    Args(#[from] ArgsError),
    /// A stdin media type this verifier cannot read.
    #[error("-stdin-media-type {0:?} is not {DESCRIPTOR_MEDIA_TYPE}: this verifier reads OCI descriptors only; update taglog if containerd changed its protocol")]
    MediaType(String),
    /// `-digest` is not a digest.
    #[error("-digest {0:?} is not sha256:<64 hex> or sha512:<128 hex>")]
    Digest(String),
    /// stdin could not be read.
    #[error("cannot read the descriptor on stdin: {0}")]
    Stdin(#[source] std::io::Error),
    /// The descriptor on stdin.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// The descriptor names another digest than `-digest`.
    #[error("the descriptor on stdin names {descriptor}, but -digest is {argument}")]
    DescriptorDigest {
        /// `-digest`.
        argument: String,
        /// The descriptor's digest.
        descriptor: String,
    },
    /// `-name` is not an image reference.
    #[error("-name: {0}")]
    Name(#[from] ImageRefError),
    /// `-name` names another digest than `-digest`.
    #[error("-name and -digest disagree: {0}")]
    NameDigest(#[from] DigestConflict),
    /// The service could not be set up (policy, state directory, log URL).
    #[error(transparent)]
    Setup(#[from] Error),
    /// The verification took longer than `-timeout`.
    #[error("no verdict within {0:?}: the log did not answer in time; nothing is pulled; check that the log is reachable, or raise -timeout (below containerd's per_verifier_timeout)")]
    Timeout(Duration),
}

impl CallError {
    /// The exit code (the one mapping for the verifier's own errors).
    pub fn exit_code(&self) -> u8 {
        match self {
            CallError::Setup(e) => e.exit_code(),
            CallError::Timeout(_) => EXIT_UNAVAILABLE,
            _ => EXIT_USAGE,
        }
    }
}

/// What the program reports to containerd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The exit code: 0 allows the pull, anything else blocks it.
    pub exit_code: u8,
    /// The reason printed on stdout (one line, at most [`MAX_REASON_BYTES`]).
    pub reason: String,
}

impl Judgement {
    fn refused(e: &CallError) -> Judgement {
        Judgement::new(e.exit_code(), format!("taglog: refused: {e}"))
    }

    fn new(exit_code: u8, reason: String) -> Judgement {
        Judgement {
            exit_code,
            reason: fit(reason.replace('\n', " ")),
        }
    }
}

/// Cuts `s` to at most [`MAX_REASON_BYTES`] - 1 bytes (room for the newline), on a character
/// boundary.
fn fit(mut s: String) -> String {
    let max = MAX_REASON_BYTES - 1;
    if s.len() > max {
        let mut end = max.saturating_sub(3);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// The whole verifier program: arguments in, [`Judgement`] out (see the module documentation).
pub fn run(args: impl IntoIterator<Item = OsString>) -> Judgement {
    let call = match parse_args(args) {
        Ok(c) => c,
        Err(e) => return Judgement::refused(&e.into()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Judgement::refused(&CallError::Setup(Error::Runtime(e))),
    };
    let timeout = call.settings.timeout;
    let judged = runtime.block_on(async {
        match tokio::time::timeout(timeout, judge_stdin(&call)).await {
            Ok(Ok(j)) => j,
            Ok(Err(e)) => Judgement::refused(&e),
            Err(_) => Judgement::refused(&CallError::Timeout(timeout)),
        }
    });
    // A stdin read still blocked in a thread must not hold the process.
    runtime.shutdown_background();
    judged
}

async fn judge_stdin(call: &Call) -> Result<Judgement, CallError> {
    let digest = check_call(call)?;
    let mut stdin = Vec::new();
    tokio::io::stdin()
        .take(MAX_DESCRIPTOR_BYTES as u64 + 1)
        .read_to_end(&mut stdin)
        .await
        .map_err(CallError::Stdin)?;
    let ask = check_input(call, digest, &stdin)?;
    let service = build_service(&call.settings)?;
    Ok(judge(&service, &ask, call.settings.uncovered).await)
}

/// The checks on the arguments alone: the media type and `-digest`.
///
/// # Errors
/// [`CallError::MediaType`] or [`CallError::Digest`].
pub fn check_call(call: &Call) -> Result<DigestValue, CallError> {
    if call.stdin_media_type != DESCRIPTOR_MEDIA_TYPE {
        return Err(CallError::MediaType(call.stdin_media_type.clone()));
    }
    match call.digest.parse::<DigestValue>() {
        Ok(DigestValue::Withdrawn) | Err(_) => Err(CallError::Digest(call.digest.clone())),
        Ok(d) => Ok(d),
    }
}

/// The checks on stdin and `-name`: the descriptor, `-digest` and the name's digest agree.
///
/// # Errors
/// [`CallError::Descriptor`], [`CallError::DescriptorDigest`], [`CallError::Name`] or
/// [`CallError::NameDigest`].
pub fn check_input(call: &Call, digest: DigestValue, stdin: &[u8]) -> Result<Ask, CallError> {
    let d = Descriptor::parse(stdin)?;
    if d.digest != digest {
        return Err(CallError::DescriptorDigest {
            argument: digest.to_string(),
            descriptor: d.digest.to_string(),
        });
    }
    let image = ImageRef::parse(&call.name)?;
    Ok(Ask::served(image, digest)?)
}

/// Builds the service from the settings (no registry is contacted: containerd pulls by digest).
///
/// # Errors
/// [`CallError::Setup`]: no or a bad policy, no state directory, a log without a URL.
pub fn build_service(s: &Settings) -> Result<Service, CallError> {
    let policy = load_policy(s.policy.as_deref()).map_err(Error::from)?;
    let mut insecure = s.insecure_registries.clone();
    insecure.extend(policy.insecure_registries().iter().cloned());
    let registry = Registry::new(insecure, CredentialStore::anonymous()).map_err(Error::from)?;
    let state = StateDir::resolve(s.state_dir.as_deref()).map_err(Error::from)?;
    let mut cfg = ServiceConfig::new(Arc::new(policy), state, registry);
    cfg.log_url.clone_from(&s.log);
    Ok(Service::new(cfg)?)
}

/// Decides one checked call.
pub async fn judge(service: &Service, ask: &Ask, uncovered: ask::Uncovered) -> Judgement {
    let outcome = match ask::decide(service, std::slice::from_ref(ask), uncovered, false).await {
        Ok(mut v) => v.pop(),
        Err(e) => return Judgement::new(EXIT_USAGE, format!("taglog: refused: {e}")),
    };
    match outcome {
        Some(o) => {
            let (code, verdict) = match &o {
                Outcome::Refused(r) => (r.class().exit_code(), "refused"),
                _ => (EXIT_OK, "allowed"),
            };
            Judgement::new(code, format!("taglog: {verdict}: {}", o.describe()))
        }
        None => Judgement::new(EXIT_UNAVAILABLE, "taglog: refused: no decision".to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reasons_fit_containerds_limit() {
        let long = "é".repeat(MAX_REASON_BYTES);
        let j = Judgement::new(1, long);
        assert!(j.reason.len() < MAX_REASON_BYTES);
        assert!(j.reason.ends_with("..."));
        assert_eq!(Judgement::new(0, "a\nb".into()).reason, "a b");
    }
}
