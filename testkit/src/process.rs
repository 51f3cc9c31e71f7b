//! A child process started by a test: output captured in a log file, readiness waited for with
//! a deadline, signals, and kill-on-drop.
//!
//! Guarantees: the child's stdout and stderr are appended to its log file (so a restarted
//! process keeps the earlier runs' lines), stdin is closed; when the handle drops, the child
//! gets SIGKILL and is reaped, also when the test fails; a readiness wait ends with an error
//! carrying the log when the child exits or the deadline passes. The readiness probes do not
//! use an async runtime, so they work from `#[test]` and `#[tokio::test]` alike.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a process may take to get ready before its start fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often readiness is probed.
const POLL: Duration = Duration::from_millis(20);

/// An output stream of a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Its stdout.
    Stdout,
    /// Its stderr.
    Stderr,
}

/// What a process run to its exit did.
#[derive(Debug)]
pub struct Exit {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Its stderr.
    pub stderr: String,
}

/// Runs `cmd` (stdin closed, stdout discarded) until it exits.
///
/// # Panics
/// When it cannot be run.
#[must_use]
pub fn run_to_exit(cmd: &mut Command) -> Exit {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", cmd.get_program()));
    Exit {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A running child process, killed on drop.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// What it is, for messages.
    pub name: String,
    /// The file its stdout and stderr are appended to.
    pub log: PathBuf,
}

/// A process that did not get ready.
#[derive(Debug)]
pub struct StartError {
    /// What it is.
    pub name: String,
    /// What was waited for.
    pub waited_for: String,
    /// Its exit status, if it exited.
    pub status: Option<ExitStatus>,
    /// Its log so far.
    pub log: String,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(
                f,
                "{} exited with {s} before {}",
                self.name, self.waited_for
            )?,
            None => write!(
                f,
                "{} did not get to {} in time",
                self.name, self.waited_for
            )?,
        }
        write!(f, "; its log:\n{}", self.log)
    }
}

impl std::error::Error for StartError {}

fn append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open log file {}: {e}", path.display()))
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr appended to `log`.
    ///
    /// # Panics
    /// When the log cannot be opened or the command cannot be spawned.
    #[must_use]
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(append(log))
            .stderr(append(log));
        Proc::spawn_configured(name, cmd, log)
    }

    /// Spawns `cmd` with `from` (stdout or stderr) piped and the other stream appended to
    /// `log`; reads `from` until a line contains `marker` and returns the rest of that line
    /// (trimmed), e.g. the address after `listening on `. Every line of `from` goes to `log`
    /// too, the later ones from a thread, so the process never blocks on a full pipe.
    ///
    /// # Errors
    /// [`StartError`] when the process closes `from` before such a line.
    ///
    /// # Panics
    /// When the log cannot be opened or the command cannot be spawned.
    pub fn spawn_announcing(
        name: &str,
        mut cmd: Command,
        log: &Path,
        from: Stream,
        marker: &str,
    ) -> Result<(Proc, String), StartError> {
        cmd.stdin(Stdio::null());
        match from {
            Stream::Stdout => cmd.stdout(Stdio::piped()).stderr(append(log)),
            Stream::Stderr => cmd.stderr(Stdio::piped()).stdout(append(log)),
        };
        let mut proc = Proc::spawn_configured(name, cmd, log);
        let pipe: Box<dyn Read + Send> = match from {
            Stream::Stdout => Box::new(proc.child.stdout.take().expect("piped stdout")),
            Stream::Stderr => Box::new(proc.child.stderr.take().expect("piped stderr")),
        };
        let mut reader = BufReader::new(pipe);
        let mut copy = append(log);
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                let status = proc.child.wait().ok();
                return Err(proc.start_error(&format!("printing {marker:?}"), status));
            }
            let _ = copy.write_all(line.as_bytes());
            if let Some((_, rest)) = line.split_once(marker) {
                let rest = rest.trim().to_owned();
                std::thread::spawn(move || std::io::copy(&mut reader, &mut copy));
                return Ok((proc, rest));
            }
        }
    }

    fn spawn_configured(name: &str, mut cmd: Command, log: &Path) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({:?}): {e}", cmd.get_program()));
        Proc {
            child,
            name: name.to_owned(),
            log: log.to_path_buf(),
        }
    }

    /// The log so far (empty if nothing was written).
    #[must_use]
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a name such as `TERM` or `HUP`) with `kill(1)`.
    ///
    /// # Panics
    /// When `kill` fails (the process is gone, or `kill` is missing).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap_or_else(|e| panic!("run kill: {e}"));
        assert!(status.success(), "kill -{signal} {} failed", self.name);
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit; its exit code (`None` if killed by a signal).
    pub fn terminate(&mut self) -> Option<i32> {
        self.signal("TERM");
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// The exit status if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn start_error(&self, waited_for: &str, status: Option<ExitStatus>) -> StartError {
        StartError {
            name: self.name.clone(),
            waited_for: waited_for.to_owned(),
            status,
            log: self.log_text(),
        }
    }

    /// Polls `ready` until it holds, the process exits, or `timeout` passes.
    ///
    /// # Errors
    /// [`StartError`] when the process exited or the time ran out (the process is then still
    /// running; dropping the handle kills it).
    pub fn wait_until(
        &mut self,
        waited_for: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), StartError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(self.start_error(waited_for, Some(status)));
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.start_error(waited_for, None));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a TCP connection to `127.0.0.1:port` is accepted.
#[must_use]
pub fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The status of `GET path` on `127.0.0.1:port` (plain HTTP/1.0, one request per connection),
/// or `None` when nothing answers with a status line within a few seconds.
#[must_use]
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    let line = std::str::from_utf8(&head).ok()?;
    if !line.starts_with("HTTP/1.") {
        return None;
    }
    line.get(9..12)?.parse().ok()
}
