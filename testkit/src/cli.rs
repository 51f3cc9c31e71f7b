//! The `taglog` command line, run as a user would: each [`Cli`] has its own policy file and
//! state directory, and each run returns its exit code and output.
//!
//! Guarantees: runs never see the caller's registry credentials or clock override
//! (`TAGLOG_REGISTRY_USER`, `TAGLOG_REGISTRY_PASSWORD`, `TAGLOG_NOW` are removed unless a run
//! sets them), and stdin is closed.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::bins::Bin;
use crate::TempDir;

/// The output of one `taglog` run.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1: killed by a signal).
    pub code: i32,
    /// Stdout as text.
    pub stdout: String,
    /// Stderr as text.
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0.
    ///
    /// # Panics
    /// When the exit code is not 0 (with the whole run).
    pub fn ok(&self) -> &Run {
        assert_eq!(self.code, 0, "expected success:\n{self:?}");
        self
    }

    /// Asserts exit `c`.
    ///
    /// # Panics
    /// When the exit code differs (with the whole run).
    pub fn code(&self, c: i32) -> &Run {
        assert_eq!(self.code, c, "expected exit {c}:\n{self:?}");
        self
    }

    /// Asserts that stderr contains `s`.
    ///
    /// # Panics
    /// When it does not.
    pub fn stderr_has(&self, s: &str) -> &Run {
        assert!(self.stderr.contains(s), "stderr lacks {s:?}:\n{self:?}");
        self
    }

    /// Stdout as JSON.
    ///
    /// # Panics
    /// When stdout is not JSON.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// A client environment: a policy file and a state directory in a temporary directory.
pub struct Cli {
    /// The temporary directory.
    pub dir: TempDir,
    /// The policy file (`--policy`).
    pub policy: PathBuf,
    /// The state directory (`--state-dir`).
    pub state: PathBuf,
}

impl Cli {
    /// A client whose policy file holds `policy_text`.
    ///
    /// # Panics
    /// When the policy cannot be written.
    #[must_use]
    pub fn new(policy_text: &str) -> Cli {
        let dir = crate::tempdir();
        let policy = dir.path().join("policy");
        std::fs::write(&policy, policy_text).expect("write the policy");
        let state = dir.path().join("state");
        Cli { dir, policy, state }
    }

    /// A path in the client's temporary directory.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command `taglog --policy P --state-dir S` with a clean environment, for runs a
    /// test drives itself (e.g. concurrently).
    #[must_use]
    pub fn command(&self) -> Command {
        let mut cmd = Bin::Client.command();
        cmd.arg("--policy")
            .arg(&self.policy)
            .arg("--state-dir")
            .arg(&self.state)
            .env_remove("TAGLOG_REGISTRY_USER")
            .env_remove("TAGLOG_REGISTRY_PASSWORD")
            .env_remove("TAGLOG_NOW")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `taglog` with `args`.
    ///
    /// # Panics
    /// When it cannot be run.
    #[must_use]
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs `taglog` with `args` and the environment variables `env`.
    ///
    /// # Panics
    /// When it cannot be run.
    #[must_use]
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run taglog");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The bytes of `state.json` (empty if there is none).
    #[must_use]
    pub fn state_bytes(&self) -> Vec<u8> {
        std::fs::read(self.state.join("state.json")).unwrap_or_default()
    }
}
