//! The `taglog` command line, run as a user would: each [`Cli`] has its own policy file and
//! state directory, and each run returns its exit code and output.
//!
//! Guarantees: runs never see the caller's registry credentials or clock override: `HOME` is
//! the client's own directory (credentials come only from what a test puts there), and
//! `TAGLOG_REGISTRY_HOST`, `TAGLOG_REGISTRY_USER`, `TAGLOG_REGISTRY_PASSWORD`, `DOCKER_CONFIG`,
//! `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `XDG_CONFIG_HOME` and `TAGLOG_TEST_NOW` are removed
//! unless a run sets them; stdin is closed.

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
    /// The run of a finished command.
    #[must_use]
    pub fn from_output(out: &std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

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
            // Credentials come only from what a test puts in its own directory.
            .env("HOME", self.dir.path())
            .env_remove("TAGLOG_REGISTRY_HOST")
            .env_remove("TAGLOG_REGISTRY_USER")
            .env_remove("TAGLOG_REGISTRY_PASSWORD")
            .env_remove("DOCKER_CONFIG")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("TAGLOG_TEST_NOW")
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

    /// Runs `taglog` with the (debug build's) clock set to `now` (`TAGLOG_TEST_NOW`, Unix
    /// seconds).
    ///
    /// # Panics
    /// When it cannot be run.
    #[must_use]
    pub fn run_at(&self, now: &str, args: &[&str]) -> Run {
        self.run_env(args, &[("TAGLOG_TEST_NOW", now)])
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
        Run::from_output(&out)
    }

    /// The bytes of `state.json` (empty if there is none).
    #[must_use]
    pub fn state_bytes(&self) -> Vec<u8> {
        std::fs::read(self.state.join("state.json")).unwrap_or_default()
    }
}
