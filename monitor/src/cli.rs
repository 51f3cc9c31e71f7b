//! What makes `taglog-monitor` and `taglog-witness` stop, and the exit code of each: chosen
//! here and nowhere else.
//!
//! Exit codes (both binaries): [`EXIT_OK`] 0; [`EXIT_ALERT`] 1, `taglog-monitor --once` raised
//! at least one alert; [`EXIT_USAGE`] 2, a flag, key, configuration or state directory is
//! wrong (fix the command or the files); [`EXIT_UNAVAILABLE`] 3, something the program needs
//! was unavailable (the log, the network, the runtime): retrying may help.

use std::net::SocketAddr;
use std::path::PathBuf;

use taglog_proofs::note::KeyError;
use taglog_proofs::refs::RefError;

use crate::listen::ListenError;
use crate::witness::audit::AuditError;
use crate::witness::config::ConfigError;
use crate::witness::keyfile::KeyFileError;
use crate::witness::store::StoreError;
use crate::witness::StartError;
use crate::MonitorError;

/// Success (and, with `--once`, no alert).
pub const EXIT_OK: u8 = 0;
/// `taglog-monitor --once`: at least one alert was raised.
pub const EXIT_ALERT: u8 = 1;
/// A usage, configuration or state error.
pub const EXIT_USAGE: u8 = 2;
/// Something needed was unavailable.
pub const EXIT_UNAVAILABLE: u8 = 3;

/// Why a flag's value was refused.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// A `@FILE` value could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a verifier key.
    #[error("not a vkey: {0}")]
    Key(#[from] KeyError),
    /// Not a canonical ref prefix.
    #[error("not a canonical ref prefix: {0}")]
    Prefix(#[from] RefError),
}

/// Why `taglog-monitor` stopped.
#[derive(Debug, thiserror::Error)]
pub enum MonitorCliError {
    /// A flag's value is wrong.
    #[error("--{flag} {value:?}: {source}")]
    Flag {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        #[source]
        source: FlagError,
    },
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The state directory could not be opened (locked, corrupt, another log's).
    #[error(transparent)]
    Open(MonitorError),
    /// The HTTP endpoint could not be set up.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// `--once`: the poll failed; `alerted` if alerts found before the failure were delivered.
    #[error("{error}")]
    Poll {
        /// The failure.
        #[source]
        error: MonitorError,
        /// Whether alerts were delivered before it.
        alerted: bool,
    },
}

impl MonitorCliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            MonitorCliError::Flag { .. }
            | MonitorCliError::Open(_)
            | MonitorCliError::Listen(_) => EXIT_USAGE,
            MonitorCliError::Poll { alerted: true, .. } => EXIT_ALERT,
            MonitorCliError::Runtime(_) | MonitorCliError::Poll { .. } => EXIT_UNAVAILABLE,
        }
    }
}

/// Why `taglog-witness` stopped.
#[derive(Debug, thiserror::Error)]
pub enum WitnessCliError {
    /// `--init --name` is not a key name.
    #[error("--name: {0}")]
    Name(#[source] KeyError),
    /// The key file could not be read or written.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The `--config` file could not be read.
    #[error("cannot read --config {path}: {source}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The log configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored state could not be loaded.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The auditor's HTTP client could not be built.
    #[error(transparent)]
    Auditor(#[from] AuditError),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The HTTP endpoint could not be set up.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The bound address could not be read back.
    #[error("listening on {addr}: {source}")]
    LocalAddr {
        /// The address asked for.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl WitnessCliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            WitnessCliError::Name(_)
            | WitnessCliError::KeyFile(_)
            | WitnessCliError::ConfigFile { .. }
            | WitnessCliError::Config(_)
            | WitnessCliError::Store(_)
            | WitnessCliError::Start(_)
            | WitnessCliError::Listen(_) => EXIT_USAGE,
            WitnessCliError::Auditor(_)
            | WitnessCliError::Runtime(_)
            | WitnessCliError::LocalAddr { .. } => EXIT_UNAVAILABLE,
        }
    }
}
