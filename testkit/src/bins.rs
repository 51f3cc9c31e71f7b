//! The workspace's binaries, found for end-to-end tests.
//!
//! A binary is taken from its environment variable (`TAGLOG_SERVER_BIN`, ...) when set, else
//! from the target directory of the running test (`target/<profile>/`, the parent of the
//! `deps/` directory that holds test executables), where `cargo test --workspace` builds every
//! binary before any test runs. A missing binary fails the test with the command that builds
//! it: it is never skipped, in CI or anywhere else.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A binary of the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bin {
    /// `taglog-server`, the log server.
    Server,
    /// `taglog-loadgen`, the server's load generator.
    Loadgen,
    /// `taglog`, the client command line.
    Client,
    /// `taglog-monitor`.
    Monitor,
    /// `taglog-witness`.
    Witness,
    /// `taglog-explorer`, the explorer over a static mirror.
    Explorer,
}

impl Bin {
    /// The file name of the binary.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Bin::Server => "taglog-server",
            Bin::Loadgen => "taglog-loadgen",
            Bin::Client => "taglog",
            Bin::Monitor => "taglog-monitor",
            Bin::Witness => "taglog-witness",
            Bin::Explorer => "taglog-explorer",
        }
    }

    /// The package that builds it.
    #[must_use]
    pub const fn package(self) -> &'static str {
        match self {
            Bin::Server | Bin::Loadgen => "taglog-server",
            Bin::Client => "taglog",
            Bin::Monitor | Bin::Witness => "taglog-monitor",
            Bin::Explorer => "taglog-explorer-static",
        }
    }

    /// The environment variable that overrides where it is.
    #[must_use]
    pub const fn env_var(self) -> &'static str {
        match self {
            Bin::Server => "TAGLOG_SERVER_BIN",
            Bin::Loadgen => "TAGLOG_LOADGEN_BIN",
            Bin::Client => "TAGLOG_BIN",
            Bin::Monitor => "TAGLOG_MONITOR_BIN",
            Bin::Witness => "TAGLOG_WITNESS_BIN",
            Bin::Explorer => "TAGLOG_EXPLORER_BIN",
        }
    }

    /// Where the binary is, if it exists.
    ///
    /// # Errors
    /// [`Missing`] when no file is at the path (from the environment variable or the target
    /// directory).
    pub fn locate(self) -> Result<PathBuf, Missing> {
        let path = match std::env::var_os(self.env_var()) {
            Some(p) => PathBuf::from(p),
            None => target_dir().join(self.name()),
        };
        if path.is_file() {
            Ok(path)
        } else {
            Err(Missing { bin: self, path })
        }
    }

    /// The path of the binary.
    ///
    /// # Panics
    /// When it is missing, with the command that builds it (a test that needs it fails).
    #[must_use]
    pub fn path(self) -> PathBuf {
        self.locate().unwrap_or_else(|missing| panic!("{missing}"))
    }

    /// A command running the binary.
    ///
    /// # Panics
    /// As [`Bin::path`].
    #[must_use]
    pub fn command(self) -> Command {
        Command::new(self.path())
    }
}

/// A binary that is not where a test looked for it.
#[derive(Debug)]
pub struct Missing {
    /// The binary.
    pub bin: Bin,
    /// Where it was looked for.
    pub path: PathBuf,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Missing { bin, path } = self;
        write!(
            f,
            "{} not found at {}: build it with `cargo build -p {} --bin {}` (`cargo test \
             --workspace` builds every binary first), or set {} to its path",
            bin.name(),
            path.display(),
            bin.package(),
            bin.name(),
            bin.env_var()
        )
    }
}

impl std::error::Error for Missing {}

/// `target/<profile>/`: the parent of the `deps/` directory holding the running test.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test");
    let deps = exe.parent().unwrap_or(Path::new("."));
    deps.parent().unwrap_or(deps).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_fails_the_test_with_how_to_build_it() {
        // Only this test looks up the load generator, so the variable cannot race.
        std::env::set_var(Bin::Loadgen.env_var(), "/nonexistent/taglog-loadgen");
        let failure = std::panic::catch_unwind(|| Bin::Loadgen.path()).unwrap_err();
        let text = failure.downcast_ref::<String>().unwrap();
        assert!(
            text.contains("cargo build -p taglog-server --bin taglog-loadgen"),
            "{text}"
        );
        assert!(text.contains("/nonexistent/taglog-loadgen"), "{text}");
    }

    #[test]
    fn the_environment_names_where_a_binary_is() {
        let me = std::env::current_exe().unwrap();
        std::env::set_var(Bin::Client.env_var(), &me);
        assert_eq!(Bin::Client.path(), me);
    }
}
