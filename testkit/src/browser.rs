//! A real browser for tests: Debian's `chromedriver` started as a process on a loopback port,
//! and headless Debian `chromium` sessions driven through it with the `fantoccini` WebDriver
//! client (enabled by this crate's `browser` feature).
//!
//! Guarantees: a missing `chromium` or `chromedriver` fails the test with the package to
//! install (never a skip); `start` returns once chromedriver says it listens; each
//! session runs in a profile directory of its own; when the handle drops, chromedriver and
//! every browser it started (its process group) are killed. Out of scope: other browsers,
//! screenshots (take those with `chromium --headless --screenshot`), timing.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub use fantoccini;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::process::{Proc, Stream};
use crate::pull::program;
use crate::TempDir;

/// How long [`wait_for`] waits for a page to reach a state.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// Debian's `chromium`; fails the test when it is not installed.
///
/// # Panics
/// When it is missing (with the package to install).
#[must_use]
pub fn chromium() -> PathBuf {
    program("chromium", "chromium")
}

/// Debian's `chromedriver`; fails the test when it is not installed.
///
/// # Panics
/// When it is missing (with the package to install).
#[must_use]
pub fn chromedriver() -> PathBuf {
    program("chromedriver", "chromium-driver")
}

/// The command-line flags of a headless test browser with its profile in `profile`.
#[must_use]
pub fn headless_args(profile: &std::path::Path) -> Vec<String> {
    vec![
        "--headless".to_owned(),
        // Tests run as root in CI, where Chromium's sandbox cannot start.
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-extensions".to_owned(),
        "--window-size=1200,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ]
}

/// A running `chromedriver`, killed on drop with the browsers it started.
pub struct Chromedriver {
    /// The process.
    pub proc: Proc,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its port.
    pub port: u16,
    dir: TempDir,
    sessions: u32,
}

impl Chromedriver {
    /// Starts `chromedriver` on a free loopback port, in a process group of its own.
    ///
    /// # Panics
    /// When `chromium` or `chromedriver` is missing, or chromedriver does not answer in time
    /// (with its log).
    #[must_use]
    pub fn start() -> Chromedriver {
        // Both are needed: fail now, not at the first session.
        let _ = chromium();
        let dir = crate::tempdir();
        let port = crate::free_port();
        let mut cmd = Command::new(chromedriver());
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0);
        // It prints `ChromeDriver was started successfully on port N.` once it listens.
        let (proc, _) = Proc::spawn_announcing(
            "chromedriver",
            cmd,
            &dir.path().join("chromedriver.log"),
            Stream::Stdout,
            "started successfully",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Chromedriver {
            proc,
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            sessions: 0,
        }
    }

    /// A new headless Chromium session with a fresh profile.
    ///
    /// # Panics
    /// When the session cannot be created (with chromedriver's log).
    pub async fn session(&mut self) -> Client {
        self.sessions += 1;
        let profile = self.dir.path().join(format!("profile-{}", self.sessions));
        std::fs::create_dir_all(&profile).expect("create a browser profile directory");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": chromium().display().to_string(),
                "args": headless_args(&profile),
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "start a headless chromium session: {e}; chromedriver's log:\n{}",
                    self.proc.log_text()
                )
            })
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The browsers chromedriver started are in its process group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.proc.pid())])
            .status();
        self.proc.kill();
    }
}

/// Runs `script` (a function body that returns a value, JSON `null` while not ready) in the
/// page until it returns something else, and returns that.
///
/// # Panics
/// When the script fails or [`PAGE_TIMEOUT`] passes (with the page's text).
pub async fn wait_for(client: &Client, what: &str, script: &str) -> serde_json::Value {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        let v = client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{what}: the script failed: {e}"));
        if !v.is_null() {
            return v;
        }
        if Instant::now() >= deadline {
            let text = client
                .execute(
                    "return document.body ? document.body.innerText : ''",
                    Vec::new(),
                )
                .await
                .unwrap_or_default();
            panic!("{what}: not reached in {PAGE_TIMEOUT:?}; the page shows:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
