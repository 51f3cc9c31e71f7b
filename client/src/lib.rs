//! The taglog client library: everything `taglog` does, with `now` and all paths as
//! parameters so that tests drive the real code (DESIGN §4).
//!
//! Modules: [`registry`] (OCI distribution API), [`credentials`] (registry credentials per
//! host), [`remote`] (the log's HTTP API), [`state`] (local trusted state), [`verify`] (I/O
//! orchestration around [`taglog_proofs::verify::verify`]), [`publish`], [`import`] (Docker
//! Content Trust tags into the log), [`keys`], [`config`] (policy location), [`body`] (bounded
//! HTTP bodies), [`service`] (the verification service and its front ends). All network I/O
//! is async (tokio).
//! Every failure is an [`Error`] (typed, with its cause) whose [`Error::class`] gives the exit
//! code DESIGN §4 assigns: 0 verified, 1 verification failed, 2 usage or policy error, 3 a
//! service was unavailable. ([`Failure`] is the older untyped form, still used by
//! [`import`]; it converts both ways.)

pub mod body;
pub mod check;
pub mod config;
pub mod credentials;
pub mod error;
pub mod failure;
pub mod import;
pub mod inspect;
pub mod keys;
pub mod publish;
pub mod registry;
pub mod remote;
pub mod service;
pub mod state;
pub mod static_log;
pub mod verify;

pub use error::{Class, Error};
pub use failure::Failure;

/// Exit code: verified (the only code that means "pull").
pub const EXIT_OK: u8 = 0;
/// Exit code: verification failed (security, including stale).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or policy error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: a service (registry or log) was unavailable.
pub const EXIT_UNAVAILABLE: u8 = 3;

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
