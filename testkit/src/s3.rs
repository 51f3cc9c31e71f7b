//! A real S3-compatible server as its own process: `s3s-fs` (crates.io, Apache-2.0; `cargo
//! install --locked s3s-fs --version =0.14.1 --features binary`, as `.ci/run` does) on a
//! loopback port, storing each bucket as a directory under its root, with SigV4 credentials.
//!
//! The objects of bucket `b` are the files under `<root>/b/` (s3s-fs writes each to a temporary
//! file outside the bucket directory and renames it into place, so a reader of the directory
//! never sees half an object); tests read them there, or serve that directory over plain HTTP.
//! Guarantees: `start` returns once the port accepts connections; a missing `s3s-fs` fails the
//! test with how to install it; the process is killed when the handle drops, and can be
//! stopped and started again on the same port and root (an outage).

use std::path::PathBuf;
use std::process::Command;

use crate::process::{self, Proc, START_TIMEOUT};
use crate::TempDir;

/// Access key the server accepts.
pub const ACCESS_KEY: &str = "taglog-test-access";
/// Secret key the server accepts.
pub const SECRET_KEY: &str = "taglog-test-secret-key";
/// Region names are not checked by s3s-fs; clients still need one.
pub const REGION: &str = "us-east-1";
/// The environment variable naming the binary (else `s3s-fs` on `PATH` or in `~/.cargo/bin`).
pub const BIN_ENV: &str = "TAGLOG_S3S_FS_BIN";

/// Where `s3s-fs` is.
///
/// # Panics
/// When it is not installed, with the command that installs it.
#[must_use]
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os(BIN_ENV) {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "s3s-fs not found (set {BIN_ENV} or install it: cargo install --locked s3s-fs \
                 --version =0.14.1 --features binary)"
            )
        })
}

/// A running `s3s-fs`, killed on drop.
pub struct S3Server {
    /// Its data root (buckets are directories in it) and log.
    pub dir: TempDir,
    /// Its port.
    pub port: u16,
    proc: Option<Proc>,
}

impl S3Server {
    /// Starts a server with the buckets `buckets` (created as empty directories).
    ///
    /// # Panics
    /// When `s3s-fs` is missing or does not start (with its log).
    #[must_use]
    pub fn start(buckets: &[&str]) -> S3Server {
        let dir = crate::tempdir();
        for b in buckets {
            std::fs::create_dir_all(dir.path().join("root").join(b)).expect("create a bucket");
        }
        let mut s = S3Server {
            dir,
            port: crate::free_port(),
            proc: None,
        };
        s.resume();
        s
    }

    /// `http://127.0.0.1:<port>`, the endpoint for S3 clients.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory holding bucket `bucket`'s objects.
    #[must_use]
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.dir.path().join("root").join(bucket)
    }

    /// Environment variables an S3 client needs for this server (credentials, region).
    #[must_use]
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
        ]
    }

    /// Kills the process (SIGKILL): the bucket is unreachable until [`S3Server::resume`].
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Starts the process again on the same port and root.
    ///
    /// # Panics
    /// As [`S3Server::start`].
    pub fn resume(&mut self) {
        assert!(self.proc.is_none(), "s3s-fs is already running");
        let mut cmd = Command::new(binary());
        cmd.arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--access-key")
            .arg(ACCESS_KEY)
            .arg("--secret-key")
            .arg(SECRET_KEY)
            .arg(self.dir.path().join("root"))
            .env("RUST_LOG", "warn");
        let mut proc = Proc::spawn("s3s-fs", cmd, &self.dir.path().join("s3s-fs.log"));
        let port = self.port;
        proc.wait_until("listening", START_TIMEOUT, || process::listening(port))
            .unwrap_or_else(|e| panic!("{e}"));
        self.proc = Some(proc);
    }
}
