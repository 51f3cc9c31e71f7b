//! The taglog client library: everything `taglog` does, with `now` and all paths as
//! parameters so that tests drive the real code (DESIGN §4).
//!
//! Modules: [`registry`] (OCI distribution API), [`credentials`] (registry credentials per
//! host), [`remote`] (the log's HTTP API), [`state`] (local trusted state), [`verify`] (I/O
//! orchestration around [`taglog_proofs::verify::verify`]), [`publish`], [`import`] (Docker
//! Content Trust tags into the log), [`keys`], [`config`] (policy location), [`body`] (bounded
//! HTTP bodies). All network I/O is async (tokio).
//! Every failure is a [`Failure`] with the exit code DESIGN §4 assigns: 0 verified, 1
//! verification failed, 2 usage or policy error, 3 a service was unavailable.

pub mod body;
pub mod config;
pub mod credentials;
pub mod import;
pub mod inspect;
pub mod keys;
pub mod publish;
pub mod registry;
pub mod remote;
pub mod state;
pub mod verify;

/// Exit code: verified (the only code that means "pull").
pub const EXIT_OK: u8 = 0;
/// Exit code: verification failed (security, including stale).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or policy error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a service (registry or log) was unavailable.
pub const EXIT_UNAVAILABLE: u8 = 3;

/// A failed command: its exit code, a message that says what was expected, what was found
/// and what to do, and an optional machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Process exit code.
    pub exit: u8,
    /// Stable short code (e.g. `digest-mismatch`).
    pub code: String,
    /// Human message.
    pub message: String,
}

impl Failure {
    /// A failure with an exit code, code and message.
    pub fn new(exit: u8, code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A usage or policy error (exit 2).
    pub fn usage(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure::new(EXIT_USAGE, code, message)
    }

    /// A verification failure (exit 1).
    pub fn failed(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure::new(EXIT_FAILED, code, message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<registry::RegistryError> for Failure {
    fn from(e: registry::RegistryError) -> Failure {
        let code = match &e {
            registry::RegistryError::NotFound { .. } => "registry-not-found",
            registry::RegistryError::AuthRequired { .. } => "registry-auth",
            registry::RegistryError::DigestHeaderMismatch { .. } => "registry-digest-header",
            registry::RegistryError::TooLarge { .. } => "registry-too-large",
            registry::RegistryError::UnsafeRealm { .. } => "registry-unsafe-realm",
            registry::RegistryError::Credentials { .. } => "registry-credentials",
            _ => "registry-unavailable",
        };
        Failure::new(e.exit_code(), code, e.to_string())
    }
}

impl From<remote::RemoteError> for Failure {
    fn from(e: remote::RemoteError) -> Failure {
        let code = match &e {
            remote::RemoteError::Unavailable { .. } => "log-unavailable",
            remote::RemoteError::Rejected { .. } => "log-rejected",
            remote::RemoteError::BadAnswer { .. } => "log-bad-answer",
        };
        Failure::new(e.exit_code(), code, e.to_string())
    }
}

impl From<credentials::CredentialError> for Failure {
    fn from(e: credentials::CredentialError) -> Failure {
        Failure::usage("registry-credentials", e.to_string())
    }
}

impl From<state::StateError> for Failure {
    fn from(e: state::StateError) -> Failure {
        Failure::usage("state", e.to_string())
    }
}

/// The environment variable that sets the clock of a debug build (tests only).
pub const TEST_NOW_VAR: &str = "TAGLOG_TEST_NOW";

/// The current Unix time in seconds (the only clock read; library functions take `now`).
///
/// Debug builds only: `TAGLOG_TEST_NOW=<unix seconds>` starts this process's clock at that
/// time, from where it advances in real time, so tests move time without sleeping. Release
/// builds contain no such input: their only clock is the system's.
pub fn unix_now() -> u64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    #[cfg(debug_assertions)]
    if let Some(offset) = test_clock_offset(real) {
        return real.saturating_add_signed(offset);
    }
    real
}

/// The offset `TAGLOG_TEST_NOW` gives, fixed at the first clock read of the process.
#[cfg(debug_assertions)]
fn test_clock_offset(real: u64) -> Option<i64> {
    static OFFSET: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        let want: u64 = std::env::var(TEST_NOW_VAR).ok()?.trim().parse().ok()?;
        let want = i64::try_from(want).ok()?;
        let real = i64::try_from(real).ok()?;
        want.checked_sub(real)
    })
}
