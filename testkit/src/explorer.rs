//! `taglog-explorer` (the explorer over a static mirror of a log) started as a process on a
//! loopback port.
//!
//! Guarantees: `start` returns once it prints the address it listens on; it is killed when
//! the handle drops; its output goes to `explorer.log` in a directory of its own.

use std::net::SocketAddr;
use std::process::Command;

use crate::bins::Bin;
use crate::process::{Proc, StartError, Stream};
use crate::TempDir;

/// A running `taglog-explorer`, killed on drop.
pub struct StaticExplorer {
    /// The process.
    pub proc: Proc,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub url: String,
    _dir: TempDir,
}

impl StaticExplorer {
    /// Starts `taglog-explorer --log <log> --log-key <vkey> --listen 127.0.0.1:0` and
    /// waits until it listens.
    ///
    /// # Panics
    /// When it exits before listening (with its log), or the binary is missing.
    #[must_use]
    pub fn start(log: &str, vkey: &str) -> StaticExplorer {
        StaticExplorer::try_start(&["--log", log, "--log-key", vkey])
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts it with `args` (plus `--listen 127.0.0.1:0`).
    ///
    /// # Errors
    /// [`StartError`] when it exits before listening (with its log).
    pub fn try_start(args: &[&str]) -> Result<StaticExplorer, StartError> {
        let dir = crate::tempdir();
        let mut cmd: Command = Bin::Explorer.command();
        cmd.args(args).args(["--listen", "127.0.0.1:0"]);
        let (proc, addr) = Proc::spawn_announcing(
            "taglog-explorer",
            cmd,
            &dir.path().join("explorer.log"),
            Stream::Stderr,
            "listening on ",
        )?;
        let addr = crate::witness::parse_addr(&proc, &addr)?;
        Ok(StaticExplorer {
            proc,
            url: format!("http://{addr}"),
            addr,
            _dir: dir,
        })
    }
}
