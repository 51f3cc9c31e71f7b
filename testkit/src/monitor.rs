//! `taglog-monitor` from the command line: `--once` runs with their alerts parsed, a
//! long-running monitor serving its endpoints (`--listen`), and the command for other
//! long-running (`--follow`) use under a [`crate::process::Proc`].
//!
//! A [`MonitorCli`] keeps its state directory across runs, so a second `once` continues where
//! the first stopped, as an operator's cron job would.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::bins::Bin;
use crate::process::{Proc, StartError, Stream};
use crate::TempDir;

/// The `taglog-monitor` command (output not yet redirected).
///
/// # Panics
/// When the binary is missing (with how to build it).
#[must_use]
pub fn command() -> Command {
    let mut cmd = Bin::Monitor.command();
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    cmd
}

/// One `taglog-monitor --once` run: exit code, alerts (stdout JSON lines) and stderr.
#[derive(Debug)]
pub struct MonitorRun {
    /// The exit code (-1: killed by a signal).
    pub code: i32,
    /// One JSON value per stdout line.
    pub alerts: Vec<serde_json::Value>,
    /// Stdout as text.
    pub stdout: String,
    /// Stderr as text.
    pub stderr: String,
}

impl MonitorRun {
    /// The alerts of `kind`.
    #[must_use]
    pub fn of_kind(&self, kind: &str) -> Vec<&serde_json::Value> {
        self.alerts.iter().filter(|a| a["kind"] == kind).collect()
    }

    /// Asserts exit 1 and at least one alert of `kind`; returns the first.
    ///
    /// # Panics
    /// When the run did not alert `kind`.
    #[must_use]
    pub fn alerted(&self, kind: &str) -> &serde_json::Value {
        assert_eq!(self.code, 1, "monitor should exit 1 (alert):\n{self:#?}");
        let found = self.of_kind(kind);
        assert!(!found.is_empty(), "no {kind:?} alert:\n{self:#?}");
        found[0]
    }
}

/// A monitor of one log with a state directory of its own.
pub struct MonitorCli {
    /// Holds `state/` (and anything else the test puts there).
    pub dir: TempDir,
    /// The log's URL.
    pub log_url: String,
    /// The log's verifier key.
    pub log_vkey: String,
}

impl MonitorCli {
    /// A monitor of the log at `log_url` signing with `log_vkey`.
    #[must_use]
    pub fn new(log_url: &str, log_vkey: &str) -> MonitorCli {
        MonitorCli {
            dir: crate::tempdir(),
            log_url: log_url.to_owned(),
            log_vkey: log_vkey.to_owned(),
        }
    }

    /// Runs `taglog-monitor --once` with `extra` flags and waits for it.
    ///
    /// # Panics
    /// When it cannot be run or prints a line that is not JSON.
    #[must_use]
    pub fn once(&self, extra: &[&str]) -> MonitorRun {
        let out = command()
            .arg("--once")
            .arg("--log")
            .arg(&self.log_url)
            .arg("--log-key")
            .arg(&self.log_vkey)
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("run taglog-monitor");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let alerts = stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("alert not JSON ({e}): {l}"))
            })
            .collect();
        MonitorRun {
            code: out.status.code().unwrap_or(-1),
            alerts,
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A long-running `taglog-monitor` serving its endpoints, killed on drop.
pub struct MonitorServer {
    /// The process.
    pub proc: Proc,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// `http://ADDR`.
    pub url: String,
}

impl MonitorServer {
    /// Starts `taglog-monitor` with `args` (which must include `--listen`, e.g.
    /// `127.0.0.1:0`) and waits until it prints the address it listens on; its output goes to
    /// `dir/monitor.log`.
    ///
    /// # Errors
    /// [`StartError`] when it exits before listening (with its log).
    pub fn spawn(dir: &Path, args: &[&str]) -> Result<MonitorServer, StartError> {
        let mut cmd = command();
        cmd.args(args);
        let (proc, addr) = Proc::spawn_announcing(
            "taglog-monitor",
            cmd,
            &dir.join("monitor.log"),
            Stream::Stderr,
            "listening on ",
        )?;
        let addr = crate::witness::parse_addr(&proc, &addr)?;
        Ok(MonitorServer {
            proc,
            url: format!("http://{addr}"),
            addr,
        })
    }
}
