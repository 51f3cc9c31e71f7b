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

/// How a test browser session is set up: a desktop window with JavaScript by default,
/// [`Browsing::PHONE`] for a phone's screen, [`Browsing::no_javascript`] for a reader who turned
/// scripts off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Browsing {
    /// Whether pages may run scripts (off: Chromium's content setting, as a user turns it off).
    pub javascript: bool,
    /// The viewport in CSS pixels (width, height).
    pub viewport: (u32, u32),
    /// Whether Chromium emulates a mobile device (its `meta viewport` handling, touch, device
    /// pixel ratio 3) at `viewport`.
    pub mobile: bool,
}

impl Browsing {
    /// A desktop window of 1200x900 with JavaScript.
    pub const DESKTOP: Browsing = Browsing {
        javascript: true,
        viewport: (1200, 900),
        mobile: false,
    };
    /// A phone: 390x844 CSS pixels (a common phone's viewport), mobile emulation, JavaScript.
    pub const PHONE: Browsing = Browsing {
        javascript: true,
        viewport: (390, 844),
        mobile: true,
    };

    /// The same with scripts turned off.
    #[must_use]
    pub const fn no_javascript(self) -> Browsing {
        Browsing {
            javascript: false,
            ..self
        }
    }
}

impl Default for Browsing {
    fn default() -> Browsing {
        Browsing::DESKTOP
    }
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

    /// A new headless Chromium session with a fresh profile (desktop, JavaScript on).
    ///
    /// # Panics
    /// When the session cannot be created (with chromedriver's log).
    pub async fn session(&mut self) -> Client {
        self.session_with(Browsing::DESKTOP).await
    }

    /// A new headless Chromium session with a fresh profile, set up as `how` says.
    ///
    /// # Panics
    /// When the session cannot be created (with chromedriver's log).
    pub async fn session_with(&mut self, how: Browsing) -> Client {
        self.sessions += 1;
        let profile = self.dir.path().join(format!("profile-{}", self.sessions));
        std::fs::create_dir_all(&profile).expect("create a browser profile directory");
        let (width, height) = how.viewport;
        let mut args = headless_args(&profile);
        args.retain(|a| !a.starts_with("--window-size="));
        args.push(format!("--window-size={width},{height}"));
        let mut options = serde_json::json!({
            "binary": chromium().display().to_string(),
            "args": args,
        });
        if !how.javascript {
            // The content setting a user flips in the browser's settings (2 = blocked).
            options["prefs"] = serde_json::json!({
                "profile.managed_default_content_settings.javascript": 2,
            });
        }
        if how.mobile {
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0, "touch": true },
            });
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".to_owned(), options);
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
