//! `taglog-witness` as a real process (plain, or auditing with `--audit`), its key files, and
//! its C2SP tlog-witness `add-checkpoint` endpoint.
//!
//! A witness listens on `127.0.0.1:0` unless told otherwise and is ready once it prints its
//! address (`listening on ADDR` on stdout), so there is no port race. Its output goes to a log file next
//! to its data. Guarantees: the process is killed when the handle drops.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use taglog_proofs::note::{SignerKey, VerifierKey};
use taglog_proofs::witness::origin_hash_hex;

use crate::bins::Bin;
use crate::http::{self, Resp};
use crate::keys;
use crate::process::{Proc, StartError, Stream};
use crate::TempDir;

/// A running `taglog-witness`, killed on drop.
pub struct Witness {
    /// The process.
    pub proc: Proc,
    /// `http://ADDR` it listens on.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// Its address.
    pub addr: SocketAddr,
    key: Option<SignerKey>,
    _tmp: Option<TempDir>,
}

impl Witness {
    /// Starts the binary with `args`, plus `--listen 127.0.0.1:0` unless `args` has a
    /// `--listen`; its log goes to a new file in `dir`.
    ///
    /// # Panics
    /// When it exits before printing its address (with its log).
    #[must_use]
    pub fn spawn(dir: &Path, args: &[String]) -> Witness {
        Witness::try_spawn(dir, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Witness::spawn`].
    ///
    /// # Errors
    /// [`StartError`] when it exits before printing its address, or prints something else.
    pub fn try_spawn(dir: &Path, args: &[String]) -> Result<Witness, StartError> {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let mut cmd = Bin::Witness.command();
        cmd.args(args);
        if !args.iter().any(|a| a == "--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let log = dir.join(format!(
            "witness-{}.log",
            RUNS.fetch_add(1, Ordering::Relaxed)
        ));
        let (proc, addr) =
            Proc::spawn_announcing("taglog-witness", cmd, &log, Stream::Stdout, "listening on ")?;
        let addr = parse_addr(&proc, &addr)?;
        Ok(Witness {
            proc,
            url: format!("http://{addr}"),
            port: addr.port(),
            addr,
            key: None,
            _tmp: None,
        })
    }

    /// A witness for the log `log_vkey`, in a temporary directory of its own, cosigning with
    /// [`keys::cosigner`]`(name, seed)`.
    ///
    /// # Panics
    /// When it does not start.
    #[must_use]
    pub fn start(seed: u8, name: &str, log_vkey: &str) -> Witness {
        Self::start_with(seed, name, log_vkey, &[])
    }

    /// As [`Witness::start`], with extra flags (e.g. `--audit --log-url ORIGIN=URL`).
    ///
    /// # Panics
    /// When it does not start.
    #[must_use]
    pub fn start_with(seed: u8, name: &str, log_vkey: &str, extra: &[String]) -> Witness {
        let tmp = crate::tempdir();
        let key = keys::cosigner(name, seed);
        let key_path = tmp.path().join("witness.key");
        keys::write_key(&key_path, &key);
        let mut args = vec![
            "--key".to_owned(),
            key_path.display().to_string(),
            "--log".to_owned(),
            log_vkey.to_owned(),
            "--data-dir".to_owned(),
            tmp.path().join("data").display().to_string(),
        ];
        args.extend_from_slice(extra);
        let mut w = Witness::spawn(tmp.path(), &args);
        w.key = Some(key);
        w._tmp = Some(tmp);
        w
    }

    /// Its cosignature verifier key.
    ///
    /// # Panics
    /// When it was started with [`Witness::spawn`], which does not know the key.
    #[must_use]
    pub fn verifier(&self) -> VerifierKey {
        self.key
            .as_ref()
            .expect("a witness started with Witness::start knows its key")
            .verifier()
    }

    /// Its verifier key as text (for policies and flags).
    ///
    /// # Panics
    /// As [`Witness::verifier`].
    #[must_use]
    pub fn vkey(&self) -> String {
        self.verifier().to_string()
    }

    /// `POST /add-checkpoint` to it.
    #[must_use]
    pub fn add_checkpoint(&self, body: Vec<u8>) -> Resp {
        add_checkpoint(&self.url, body)
    }

    /// kill -9.
    pub fn stop(mut self) {
        self.proc.kill();
    }
}

/// The address a server printed, or a start error naming what it printed.
///
/// # Errors
/// [`StartError`] when `text` is not a socket address.
pub(crate) fn parse_addr(proc: &Proc, text: &str) -> Result<SocketAddr, StartError> {
    text.parse().map_err(|_| StartError {
        name: proc.name.clone(),
        waited_for: format!("an address after `listening on` (it printed {text:?})"),
        status: None,
        log: proc.log_text(),
    })
}

/// `POST {url}/add-checkpoint` with `body`.
///
/// # Panics
/// When the request fails (no answer, timeout).
#[must_use]
pub fn add_checkpoint(url: &str, body: Vec<u8>) -> Resp {
    http::post(&format!("{url}/add-checkpoint"), body)
}

/// The path (without a leading `/`) where a witness serves its checkpoint of `origin`.
#[must_use]
pub fn checkpoint_path(origin: &str) -> String {
    format!("{}/checkpoint", origin_hash_hex(origin))
}

/// Runs `taglog-witness --init --name NAME --key PATH` and returns the new verifier key.
///
/// # Panics
/// When the command fails or prints no key.
pub fn init_key(path: &Path, name: &str) -> VerifierKey {
    let out = Bin::Witness
        .command()
        .args(["--init", "--name", name, "--key"])
        .arg(path)
        .output()
        .expect("run taglog-witness --init");
    assert!(
        out.status.success(),
        "taglog-witness --init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a verifier key from taglog-witness --init")
}
