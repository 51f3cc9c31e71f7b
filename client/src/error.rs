//! The client's errors: one `thiserror` enum per concept (input, configuration, keys, the
//! log's answers, publication, the checkpoint command), gathered with the registry, log,
//! credential, state and verification errors in [`Error`]. [`Error::class`] is the one place
//! where a failure gets its [`Class`], which the CLI turns into an exit code (DESIGN §4: 1
//! failed, 2 usage or policy, 3 unavailable) and the verification service into a verdict.
//!
//! Every variant keeps its cause; messages say what was wrong and what to do.

use std::path::PathBuf;

use taglog_proofs::binding::BindingError;
use taglog_proofs::bundle::{BundleError, MAX_BUNDLE_BYTES};
use taglog_proofs::refs::RefError;
use taglog_proofs::verify::{ErrorClass, VerifyError};

use crate::credentials::CredentialError;
use crate::registry::RegistryError;
use crate::remote::RemoteError;
use crate::state::StateError;

/// How a failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Verification failed (exit 1).
    Failed,
    /// Verification failed and the log or registry is provably misbehaving (exit 1).
    Security,
    /// No policy line covers the reference (exit 2; a front end may allow or deny it).
    Uncovered,
    /// The command, its input or the configuration is wrong (exit 2).
    Usage,
    /// The registry or the log could not be reached or answered with an outage (exit 3).
    Unavailable,
}

impl Class {
    /// The DESIGN §4 exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Failed | Class::Security => crate::EXIT_FAILED,
            Class::Uncovered | Class::Usage => crate::EXIT_USAGE,
            Class::Unavailable => crate::EXIT_UNAVAILABLE,
        }
    }
}

/// Something the user typed (or a file the user named) is unusable.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Not a tag reference.
    #[error("{input:?} is not a tag reference: {source}")]
    Reference {
        /// The input.
        input: String,
        /// Why.
        #[source]
        source: RefError,
    },
    /// Not a digest.
    #[error("{what} {input:?} is not sha256:<64 hex> or sha512:<128 hex>")]
    Digest {
        /// Which argument.
        what: &'static str,
        /// The input.
        input: String,
    },
    /// Not a duration.
    #[error("{what} {input:?}: {reason}")]
    Duration {
        /// Which argument.
        what: &'static str,
        /// The input.
        input: String,
        /// Why (from the policy's duration grammar).
        reason: String,
    },
    /// Not a version.
    #[error("--version {input:?} is not `auto` or a decimal number")]
    Version {
        /// The input.
        input: String,
    },
    /// `--offline` without `--bundle`.
    #[error("--offline needs --bundle <file> (save one with `taglog bundle <ref> -o <file>`)")]
    OfflineNeedsBundle,
    /// `unpin` of a ref that is not pinned.
    #[error("{reference} is not pinned")]
    NotPinned {
        /// The signed reference.
        reference: String,
    },
    /// A bundle file cannot be read.
    #[error("cannot read bundle {path}: {source}")]
    BundleRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A bundle file is too large.
    #[error("bundle {path} is larger than {MAX_BUNDLE_BYTES} bytes")]
    BundleTooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A bundle file does not parse.
    #[error("bundle {path}: {source}")]
    BundleParse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: BundleError,
    },
    /// An output file cannot be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The policy cannot be found, read or applied.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No policy location is known.
    #[error("no policy: {help}")]
    NoPolicy {
        /// How to write one.
        help: &'static str,
    },
    /// The policy file cannot be read.
    #[error("cannot read policy {path}: {source}; {help}")]
    PolicyRead {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
        /// How to write one.
        help: &'static str,
    },
    /// The policy file is too large.
    #[error("policy {path} is larger than {limit} bytes")]
    PolicyTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The policy does not parse.
    #[error("policy {path}: {source}")]
    PolicyParse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: taglog_proofs::policy::PolicyError,
    },
    /// No `publisher` line covers the (signed) reference.
    #[error("{reason}")]
    NotCovered {
        /// The signed reference.
        reference: String,
        /// The policy's explanation.
        reason: String,
    },
    /// A `remap` rule cannot be applied.
    #[error("{reason}")]
    Remap {
        /// The pulled reference.
        reference: String,
        /// The policy's explanation.
        reason: String,
    },
    /// The log has no URL.
    #[error("the policy's `log` line for {origin} has no URL: add it (`log <vkey> <url>`) or pass --log <url>")]
    NoLogUrl {
        /// The log's origin.
        origin: String,
    },
    /// `--origin` names no log of the policy.
    #[error("the policy lists no log {origin}")]
    UnknownLog {
        /// The origin asked for.
        origin: String,
    },
    /// The policy lists no log.
    #[error("the policy lists no log")]
    NoLog,
    /// The policy lists several logs and none was chosen.
    #[error("the policy lists several logs: pass --origin")]
    AmbiguousLog,
}

/// A private key file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key name is not a valid note key name.
    #[error("key name {name:?}: {reason}")]
    Name {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The key file cannot be created (keygen never overwrites).
    #[error("cannot create {path}: {source} (keygen never overwrites a key)")]
    Create {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key file cannot be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key file cannot be read.
    #[error("cannot read key {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Group or others may read the key.
    #[error("private key {path} has mode {mode:o}: others can read it; run `chmod 600 {path}`")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// Not a private key file.
    #[error("{path} is not a PRIVATE+KEY file: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The log answered (HTTP 200) with something the client cannot use.
#[derive(Debug, thiserror::Error)]
pub enum LogAnswerError {
    /// A malformed bundle.
    #[error("log {log} sent a malformed bundle: {source}")]
    Bundle {
        /// The log's URL.
        log: String,
        /// The cause.
        #[source]
        source: BundleError,
    },
    /// A malformed history page.
    #[error("log {log} sent a malformed history page: {source}")]
    History {
        /// The log's URL.
        log: String,
        /// The cause.
        #[source]
        source: BundleError,
    },
    /// No history page at all.
    #[error("log {log} sent no history page")]
    NoHistory {
        /// The log's URL.
        log: String,
    },
    /// `/lookup` and `/history` (or two history pages) kept naming different checkpoints.
    #[error("the log's /lookup and /history answers kept naming different checkpoints; retry")]
    Moving,
}

/// A publication did not end with the binding verified current.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The binding cannot be signed.
    #[error("cannot sign the binding: {source}")]
    Sign {
        /// The cause.
        #[source]
        source: BindingError,
    },
    /// The current version cannot be determined.
    #[error("cannot determine the current version of {reference}: {source}")]
    CurrentVersion {
        /// The reference.
        reference: String,
        /// The cause.
        #[source]
        source: VerifyError,
    },
    /// The log's bundle does not verify under the publisher's policy.
    #[error("the log's bundle does not verify under your policy: {source}")]
    BundleDoesNotVerify {
        /// The cause.
        #[source]
        source: VerifyError,
    },
    /// `--version auto` kept losing races.
    #[error("{reference} kept moving: gave up after {attempts} version conflicts")]
    VersionRace {
        /// The reference.
        reference: String,
        /// Attempts made.
        attempts: usize,
    },
    /// The log accepted the binding but shows another one as current.
    #[error("the log accepted version {version} of {reference} but its bundle shows another current binding")]
    NotCurrent {
        /// The reference.
        reference: String,
        /// The version published.
        version: u64,
    },
    /// This exact binding is logged and superseded.
    #[error("this binding is already logged, and superseded by version {version} (leaf {index}); publish version {next} or use --version auto")]
    Superseded {
        /// The newer version.
        version: u64,
        /// Its leaf index.
        index: u64,
        /// The version to publish instead.
        next: u64,
    },
    /// Not current within the maximum merge delay; carries the evidence.
    #[error("the log accepted version {version} of {reference} but did not make it current within the MMD ({mmd_secs}s): evidence follows\n-- add-binding answer --\n{answer}\n-- newest checkpoint without it --\n{checkpoint}")]
    MmdExceeded {
        /// The reference.
        reference: String,
        /// The version published.
        version: u64,
        /// The MMD waited.
        mmd_secs: u64,
        /// The log's 202 answer.
        answer: String,
        /// The newest checkpoint seen without the binding.
        checkpoint: String,
    },
}

/// `taglog checkpoint` and `taglog export` failures.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The checkpoint is not signed by the policy's log key.
    #[error("log {log} sent a checkpoint that does not verify: {reason}")]
    BadCheckpoint {
        /// The log's URL.
        log: String,
        /// Why.
        reason: String,
    },
    /// Its fresh cosignatures do not meet the quorum (the report says which are stale).
    #[error("{report}")]
    QuorumNotMet {
        /// The full report.
        report: String,
    },
    /// The bundle has no binding to export.
    #[error("the bundle has no binding to export")]
    NoBinding,
    /// The tlog-proof cannot be encoded.
    #[error("cannot encode the tlog-proof: {reason}")]
    TlogProof {
        /// Why.
        reason: String,
    },
}

/// Any client failure, with its cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unusable input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Unusable policy or configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Unusable key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Registry credentials cannot be read.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The log's HTTP API.
    #[error(transparent)]
    Log(Box<RemoteError>),
    /// The log's answer.
    #[error(transparent)]
    LogAnswer(#[from] LogAnswerError),
    /// The local state.
    #[error(transparent)]
    State(#[from] StateError),
    /// A verification rule (DESIGN §4) failed.
    #[error("{source}{}{}", signed_ago.as_ref().map(|a| format!(" [the binding was signed {a} ago]")).unwrap_or_default(), evidence.as_ref().map(|p| format!("\nevidence written to {}", p.display())).unwrap_or_default())]
    Verify {
        /// The rule that failed.
        #[source]
        source: Box<VerifyError>,
        /// How long ago the binding involved was signed, if that helps.
        signed_ago: Option<String>,
        /// Where the evidence of an inconsistent log was written.
        evidence: Option<PathBuf>,
    },
    /// Publication.
    #[error(transparent)]
    Publish(Box<PublishError>),
    /// `checkpoint` / `export`.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// A failure in the older untyped form ([`crate::failure`]).
    #[error("{0}")]
    Legacy(crate::failure::Failure),
    /// A server front end cannot start.
    #[error(transparent)]
    Start(#[from] crate::service::mirror::StartError),
    /// Its TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] taglog_serve::TlsError),
    /// The async runtime cannot start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl From<crate::failure::Failure> for Error {
    fn from(f: crate::failure::Failure) -> Error {
        Error::Legacy(f)
    }
}

impl From<RemoteError> for Error {
    fn from(e: RemoteError) -> Error {
        Error::Log(Box::new(e))
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Error {
        Error::Publish(Box::new(e))
    }
}

impl From<VerifyError> for Error {
    fn from(e: VerifyError) -> Error {
        Error::Verify {
            source: Box::new(e),
            signed_ago: None,
            evidence: None,
        }
    }
}

impl Error {
    /// The one mapping from a failure to its class (and so to its exit code and verdict).
    pub fn class(&self) -> Class {
        match self {
            Error::Input(_)
            | Error::Key(_)
            | Error::Credentials(_)
            | Error::State(_)
            | Error::Start(_)
            | Error::Tls(_) => Class::Usage,
            Error::Config(ConfigError::NotCovered { .. }) => Class::Uncovered,
            Error::Config(_) => Class::Usage,
            Error::Registry(e) => match e {
                RegistryError::DigestHeaderMismatch { .. } => Class::Failed,
                RegistryError::NotFound { .. }
                | RegistryError::AuthRequired { .. }
                | RegistryError::UnsafeRealm { .. }
                | RegistryError::Credentials { .. } => Class::Usage,
                RegistryError::Unavailable { .. }
                | RegistryError::BadChallenge { .. }
                | RegistryError::TooLarge { .. }
                | RegistryError::Protocol { .. } => Class::Unavailable,
            },
            Error::Log(e) => match e.as_ref() {
                RemoteError::Unavailable { .. } => Class::Unavailable,
                RemoteError::Rejected { status: 400, .. } => Class::Usage,
                RemoteError::Rejected { .. } | RemoteError::BadAnswer { .. } => Class::Failed,
            },
            Error::LogAnswer(LogAnswerError::Moving) | Error::Runtime(_) => Class::Unavailable,
            Error::LogAnswer(_) | Error::Publish(_) | Error::Inspect(_) => Class::Failed,
            Error::Legacy(f) => f.class(),
            Error::Verify { source, .. } => match source.class() {
                ErrorClass::Policy => Class::Uncovered,
                ErrorClass::Failed => Class::Failed,
                ErrorClass::Security => Class::Security,
            },
        }
    }

    /// The DESIGN §4 exit code.
    pub fn exit_code(&self) -> u8 {
        self.class().exit_code()
    }

    /// A short stable code for JSON output and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Input(e) => match e {
                InputError::Reference { .. } => "bad-reference",
                InputError::Digest { .. } => "bad-digest",
                InputError::Duration { .. } => "bad-duration",
                InputError::Version { .. } => "bad-version",
                InputError::OfflineNeedsBundle => "offline-needs-bundle",
                InputError::NotPinned { .. } => "no-pin",
                InputError::BundleRead { .. } | InputError::BundleTooLarge { .. } => "bundle-file",
                InputError::BundleParse { .. } => "bad-bundle",
                InputError::Output { .. } => "output",
            },
            Error::Config(e) => match e {
                ConfigError::NoPolicy { .. } | ConfigError::PolicyRead { .. } => "no-policy",
                ConfigError::PolicyTooLarge { .. } | ConfigError::PolicyParse { .. } => {
                    "bad-policy"
                }
                ConfigError::NotCovered { .. } => "not-covered",
                ConfigError::Remap { .. } => "bad-remap",
                ConfigError::NoLogUrl { .. } => "no-log-url",
                ConfigError::UnknownLog { .. } => "unknown-log",
                ConfigError::NoLog => "no-log",
                ConfigError::AmbiguousLog => "ambiguous-log",
            },
            Error::Key(e) => match e {
                KeyError::Name { .. } => "bad-key-name",
                KeyError::Permissions { .. } => "key-permissions",
                _ => "key-file",
            },
            Error::Credentials(_) => "registry-credentials",
            Error::Registry(e) => match e {
                RegistryError::NotFound { .. } => "registry-not-found",
                RegistryError::AuthRequired { .. } => "registry-auth",
                RegistryError::DigestHeaderMismatch { .. } => "registry-digest-header",
                RegistryError::TooLarge { .. } => "registry-too-large",
                RegistryError::UnsafeRealm { .. } => "registry-unsafe-realm",
                RegistryError::Credentials { .. } => "registry-credentials",
                _ => "registry-unavailable",
            },
            Error::Log(e) => match e.as_ref() {
                RemoteError::Unavailable { .. } => "log-unavailable",
                RemoteError::Rejected { .. } => "log-rejected",
                RemoteError::BadAnswer { .. } => "log-bad-answer",
            },
            Error::LogAnswer(e) => match e {
                LogAnswerError::Bundle { .. } => "bad-bundle",
                LogAnswerError::History { .. } | LogAnswerError::NoHistory { .. } => "bad-history",
                LogAnswerError::Moving => "log-moving",
            },
            Error::State(_) => "state",
            Error::Verify { source, .. } => source.code(),
            Error::Publish(e) => match e.as_ref() {
                PublishError::Sign { .. } => "bad-binding",
                PublishError::CurrentVersion { source, .. }
                | PublishError::BundleDoesNotVerify { source } => source.code(),
                PublishError::VersionRace { .. } => "version-race",
                PublishError::NotCurrent { .. } => "not-current",
                PublishError::Superseded { .. } => "superseded",
                PublishError::MmdExceeded { .. } => "mmd-exceeded",
            },
            Error::Inspect(e) => match e {
                InspectError::BadCheckpoint { .. } => "bad-checkpoint",
                InspectError::QuorumNotMet { .. } => "stale-checkpoint",
                InspectError::NoBinding => "unbound",
                InspectError::TlogProof { .. } => "tlog-proof",
            },
            Error::Start(_) => "start",
            Error::Tls(_) => "tls",
            Error::Runtime(_) => "runtime",
            Error::Legacy(_) => "failed",
        }
    }
}
