//! Server configuration: command-line flags, an optional TOML file, and the log key.
//!
//! Flags override the file, the file overrides defaults. The defaults give a working log in
//! `./taglog-data` with a key generated at first start (`PRIVATE+KEY+...`, mode 0600) and
//! printed as a vkey. A key file readable by group or others is refused, as ssh does.
//! TLS is optional: `--tls-cert` and `--tls-key` together, loaded here (by
//! [`taglog_serve::load_tls`]) so that a bad certificate stops the server before it opens storage.
//! Out of scope: the publisher allowlist format (see `log::allowlist`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod publish;
mod witnesses;

pub use publish::{
    PublishTarget, DEFAULT_PUBLISH_GRACE, DEFAULT_PUBLISH_INTERVAL, MAX_PUBLISH_GRACE,
    MAX_PUBLISH_INTERVAL, MAX_PUBLISH_URL_BYTES,
};

pub use witnesses::{
    parse_witnesses, WitnessConfig, WitnessConfigError, MAX_NOTE_SIGNATURES, MAX_WITNESSES,
};

use clap::Parser;
use rand_core::{OsRng, RngCore as _};
use serde::Deserialize;
use taglog_proofs::note::{KeyType, SignerKey};

/// Default origin of a new log.
pub const DEFAULT_ORIGIN: &str = "localhost/taglog";
/// Default per-key quota: bindings per second.
pub const DEFAULT_PUBLISHER_RATE: f64 = 100.0;
/// Default per-key quota: burst.
pub const DEFAULT_PUBLISHER_BURST: u32 = 1000;

/// Configuration errors; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read or parsed.
    #[error("config file {path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The key file is readable by group or others.
    #[error("key file {0} is accessible by others (mode {1:o}); run chmod 600 on it")]
    KeyPermissions(PathBuf, u32),
    /// The key file could not be read, written or parsed.
    #[error("key file {path}: {detail}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A TLS certificate or key file is unusable.
    #[error(transparent)]
    Tls(#[from] taglog_serve::TlsError),
    /// The witness configuration is refused.
    #[error(transparent)]
    Witness(#[from] WitnessConfigError),
    /// A flag value is invalid.
    #[error("invalid setting {name}: {detail}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// Raw settings, shared by the flags and the TOML file (every field optional).
#[derive(Parser, Deserialize, Debug, Default, Clone)]
#[command(
    name = "taglog-server",
    version,
    about = "The taglog transparency log server"
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// TOML file with the same settings (kebab-case keys); flags override it.
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data directory (RocksDB, key file). Default ./taglog-data.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Log key file (PRIVATE+KEY+...). Default <data-dir>/log.key, generated if absent.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Log origin (= key name) for a newly generated key. Default localhost/taglog.
    #[arg(long)]
    pub origin: Option<String>,
    /// Listen address. Default 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Publisher allowlist file (`publisher <prefix> <vkey>` lines); reloaded on SIGHUP.
    #[arg(long)]
    pub publishers: Option<PathBuf>,
    /// A witness: `--witness <vkey> <url>` (repeatable).
    #[arg(long, num_args = 2, value_names = ["VKEY", "URL"], action = clap::ArgAction::Append)]
    pub witness: Option<Vec<String>>,
    /// Cosignatures needed before a checkpoint is served. Default: all witnesses.
    #[arg(long)]
    pub witness_quorum: Option<usize>,
    /// Freshness bound clients use (e.g. 1h). Default 1h.
    #[arg(long)]
    pub max_age: Option<String>,
    /// Maximum merge delay. Default 5m.
    #[arg(long)]
    pub mmd: Option<String>,
    /// How long /add-binding waits for a quorum checkpoint before answering 202. Default 10s.
    #[arg(long)]
    pub commit_timeout: Option<String>,
    /// Idle interval for state leaves and witness re-collection. Default min(max-age/6, mmd/4).
    #[arg(long)]
    pub witness_refresh: Option<String>,
    /// Minimum interval between two requests to one witness. Default 0s.
    #[arg(long)]
    pub witness_min_interval: Option<String>,
    /// Timeout of one witness request. Default 10s.
    #[arg(long)]
    pub witness_timeout: Option<String>,
    /// Submissions queued before 429. Default 65536.
    #[arg(long)]
    pub queue_size: Option<usize>,
    /// Most entries in one integration batch. Default 8192.
    #[arg(long)]
    pub max_batch: Option<usize>,
    /// Most connections open at once; further ones wait in the listen backlog. Default 4096.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Timeout of one HTTP request. Default 30s.
    #[arg(long)]
    pub request_timeout: Option<String>,
    /// Bindings one publisher key may add per time unit, e.g. 100/s, 600/m, 50/h (token
    /// bucket; 0 = unlimited). Default 100/s.
    #[arg(long)]
    pub publisher_rate: Option<String>,
    /// Bindings one publisher key may add in a burst. Default 1000.
    #[arg(long)]
    pub publisher_burst: Option<u32>,
    /// Time a client has to send a request's headers (and to finish the TLS handshake); an idle
    /// keep-alive connection is closed after it too. Default 10s.
    #[arg(long)]
    pub header_timeout: Option<String>,
    /// PEM certificate chain (leaf first) to serve HTTPS; needs --tls-key.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1); needs --tls-cert.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Start sequencing without waiting for this witness (by key name) to answer first
    /// (repeatable; logged loudly). Use only for a witness known to be gone: the start
    /// check against it is what catches a restored backup.
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append)]
    pub start_without_witness: Option<Vec<String>>,
    /// Clear a persisted halt (fork risk) at start, after logging its evidence. Flag only:
    /// a file setting would clear every halt at every start.
    #[arg(long)]
    #[serde(skip)]
    pub clear_halt: bool,
    /// Publish every checkpoint and the objects it needs to `file:///dir` or
    /// `s3://bucket/prefix` (S3 settings from the standard AWS environment variables).
    #[arg(long, value_name = "URL")]
    pub publish: Option<String>,
    /// S3 endpoint URL for --publish (overrides AWS_ENDPOINT_URL; http:// is allowed).
    #[arg(long, value_name = "URL")]
    pub publish_endpoint: Option<String>,
    /// S3 region for --publish (overrides AWS_REGION).
    #[arg(long)]
    pub publish_region: Option<String>,
    /// Shortest time between two checkpoint uploads of --publish: the commits within it go
    /// up as one set of objects. Default 500ms; 0 uploads after every commit.
    #[arg(long, value_name = "DURATION")]
    pub publish_interval: Option<String>,
    /// How long a superseded object (a partial tile whose full tile is published, an edge
    /// object of a smaller checkpoint) stays in the --publish bucket before it is deleted.
    /// Default 60s: longer than any cache may serve the checkpoint that names it.
    #[arg(long, value_name = "DURATION")]
    pub publish_grace: Option<String>,
}

macro_rules! overlay {
    ($base:ident, $top:ident, $($f:ident),*) => { $( if $top.$f.is_some() { $base.$f = $top.$f.clone(); } )* };
}

/// The wall clock the log reads its time from (Unix seconds); the system clock unless a test
/// injects another.
#[derive(Clone)]
pub struct WallClock(std::sync::Arc<dyn Fn() -> u64 + Send + Sync>);

impl WallClock {
    /// A clock reading `f`.
    pub fn new(f: impl Fn() -> u64 + Send + Sync + 'static) -> WallClock {
        WallClock(std::sync::Arc::new(f))
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

impl Default for WallClock {
    /// The system clock (0 if it is before 1970).
    fn default() -> WallClock {
        WallClock::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        })
    }
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WallClock({})", self.now())
    }
}

/// What the log itself needs (the sequencer, the witness collector and the heads): the part
/// of [`Config`] that in-process tests build directly.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The log's signing key (name = origin).
    pub key: std::sync::Arc<SignerKey>,
    /// Witnesses.
    pub witnesses: Vec<WitnessConfig>,
    /// Quorum K.
    pub witness_quorum: usize,
    /// Freshness bound.
    pub max_age: Duration,
    /// Maximum merge delay.
    pub mmd: Duration,
    /// Idle refresh interval.
    pub witness_refresh: Duration,
    /// Minimum interval between requests to one witness.
    pub witness_min_interval: Duration,
    /// Timeout of one witness request.
    pub witness_timeout: Duration,
    /// Queue bound.
    pub queue_size: usize,
    /// Batch bound.
    pub max_batch: usize,
    /// The clock log time is taken from.
    pub clock: WallClock,
    /// Witnesses (by key name) sequencing does not wait for at start.
    pub start_without: Vec<String>,
    /// Clear a persisted halt at start.
    pub clear_halt: bool,
}

impl LogConfig {
    /// A configuration with `key`, no witnesses and the defaults of the flags.
    pub fn new(key: SignerKey) -> LogConfig {
        let max_age = DEFAULT_MAX_AGE;
        let mmd = DEFAULT_MMD;
        LogConfig {
            key: std::sync::Arc::new(key),
            witnesses: Vec::new(),
            witness_quorum: 0,
            max_age,
            mmd,
            witness_refresh: default_refresh(max_age, mmd),
            witness_min_interval: Duration::ZERO,
            witness_timeout: DEFAULT_WITNESS_TIMEOUT,
            queue_size: DEFAULT_QUEUE_SIZE,
            max_batch: DEFAULT_MAX_BATCH,
            clock: WallClock::default(),
            start_without: Vec::new(),
            clear_halt: false,
        }
    }
}

/// Default freshness bound.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Default maximum merge delay.
pub const DEFAULT_MMD: Duration = Duration::from_secs(300);
/// Default timeout of one witness request.
pub const DEFAULT_WITNESS_TIMEOUT: Duration = Duration::from_secs(10);
/// Default submission queue bound.
pub const DEFAULT_QUEUE_SIZE: usize = 65536;
/// Default batch bound.
pub const DEFAULT_MAX_BATCH: usize = 8192;
/// Shortest idle refresh interval.
pub const MIN_WITNESS_REFRESH: Duration = Duration::from_millis(100);

/// Idle state leaves must come often enough for `/healthz` (a quorum checkpoint newer than
/// MMD/2) and for clients' max-age: the smaller of max-age/6 and MMD/4.
fn default_refresh(max_age: Duration, mmd: Duration) -> Duration {
    (max_age / 6).min(mmd / 4).max(MIN_WITNESS_REFRESH)
}

/// Resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Allowlist file.
    pub publishers: Option<PathBuf>,
    /// The log's own settings.
    pub log: LogConfig,
    /// /add-binding wait before 202.
    pub commit_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Per-key quota: bindings per second (0 = unlimited).
    pub publisher_rate: f64,
    /// Per-key quota: burst size.
    pub publisher_burst: u32,
    /// Time allowed for a request's headers, a TLS handshake, or an idle keep-alive gap.
    pub header_timeout: Duration,
    /// The TLS server configuration; `None` serves plain HTTP.
    pub tls: Option<std::sync::Arc<taglog_serve::ServerConfig>>,
    /// Where static objects are published, if anywhere.
    pub publish: Option<PublishTarget>,
    /// Shortest time between two checkpoint uploads to `publish`.
    pub publish_interval: Duration,
    /// How long superseded objects stay in `publish` before they are deleted.
    pub publish_grace: Duration,
}

/// Parses `90`, `90s`, `15m`, `1h`, `2d`, `250ms`.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("{s:?} is not a duration (use e.g. 250ms, 30s, 5m, 1h, 2d)");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| err())?;
    let secs = |m: u64| n.checked_mul(m).map(Duration::from_secs).ok_or_else(err);
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86400),
        _ => Err(err()),
    }
}

/// Parses a rate `<n>/s`, `<n>/m`, `<n>/h` or a bare `<n>` (per second) into events per
/// second; `0` disables the limit.
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let err = || format!("{s:?} is not a rate (use e.g. 100/s, 600/m, 50/h, or 0 for unlimited)");
    let (num, per) = s.split_once('/').unwrap_or((s, "s"));
    let n: u32 = num.parse().map_err(|_| err())?;
    let secs = match per {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(err()),
    };
    Ok(f64::from(n) / secs)
}

fn duration(
    name: &'static str,
    v: &Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    v.as_deref().map_or(Ok(default), |s| {
        parse_duration(s).map_err(|detail| ConfigError::Invalid { name, detail })
    })
}

impl Settings {
    /// Merges the TOML file named by `--config` (if any) under these flags.
    ///
    /// # Errors
    /// [`ConfigError::File`].
    pub fn with_file(self) -> Result<Settings, ConfigError> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let mut base: Settings = toml::from_str(&text).map_err(|e| ConfigError::File {
            path,
            detail: e.to_string(),
        })?;
        let top = self;
        overlay!(
            base,
            top,
            config,
            data_dir,
            key,
            origin,
            listen,
            publishers,
            witness,
            witness_quorum,
            max_age,
            mmd
        );
        overlay!(
            base,
            top,
            commit_timeout,
            witness_refresh,
            witness_min_interval,
            witness_timeout,
            queue_size
        );
        overlay!(base, top, max_batch, max_connections, request_timeout);
        overlay!(base, top, publisher_rate, publisher_burst);
        overlay!(
            base,
            top,
            header_timeout,
            tls_cert,
            tls_key,
            start_without_witness
        );
        overlay!(
            base,
            top,
            publish,
            publish_endpoint,
            publish_region,
            publish_interval,
            publish_grace
        );
        base.clear_halt = top.clear_halt;
        Ok(base)
    }

    /// Resolves defaults and loads (or generates) the key.
    ///
    /// # Errors
    /// [`ConfigError`] for invalid values and key problems.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        // Checked before the key is loaded, so a mistake here never generates a key.
        let header_timeout = duration(
            "header-timeout",
            &self.header_timeout,
            taglog_serve::DEFAULT_HEADER_TIMEOUT,
        )?;
        if header_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                name: "header-timeout",
                detail: "must be more than 0 (every connection would be closed at once)".into(),
            });
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(taglog_serve::load_tls(cert, key)?),
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    name: "tls-cert",
                    detail: "needs --tls-key (the certificate's private key) as well".into(),
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "tls-key",
                    detail: "needs --tls-cert (the certificate chain) as well".into(),
                })
            }
        };
        let publish = match &self.publish {
            Some(url) => Some(
                PublishTarget::parse(
                    url,
                    self.publish_endpoint.clone(),
                    self.publish_region.clone(),
                )
                .map_err(|detail| ConfigError::Invalid {
                    name: "publish",
                    detail,
                })?,
            ),
            None if self.publish_endpoint.is_some() || self.publish_region.is_some() => {
                return Err(ConfigError::Invalid {
                    name: "publish-endpoint",
                    detail: "needs --publish s3://bucket/prefix".into(),
                })
            }
            None => None,
        };
        let publish_interval = duration(
            "publish-interval",
            &self.publish_interval,
            DEFAULT_PUBLISH_INTERVAL,
        )?;
        if publish_interval > MAX_PUBLISH_INTERVAL {
            return Err(ConfigError::Invalid {
                name: "publish-interval",
                detail: format!("at most {MAX_PUBLISH_INTERVAL:?}"),
            });
        }
        let publish_grace = duration("publish-grace", &self.publish_grace, DEFAULT_PUBLISH_GRACE)?;
        if publish_grace > MAX_PUBLISH_GRACE {
            return Err(ConfigError::Invalid {
                name: "publish-grace",
                detail: format!("at most {MAX_PUBLISH_GRACE:?}"),
            });
        }
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("taglog-data"));
        let key_path = self.key.clone().unwrap_or_else(|| data_dir.join("log.key"));
        // Checked before the key is loaded, so a mistake here never generates a key.
        let (witnesses, witness_quorum) = parse_witnesses(
            self.witness.as_deref().unwrap_or_default(),
            self.witness_quorum,
        )?;
        let start_without = witnesses::start_without(
            &witnesses,
            self.start_without_witness.as_deref().unwrap_or_default(),
        )?;
        let key = load_or_generate_key(&key_path, self.origin.as_deref())?;
        let max_age = duration("max-age", &self.max_age, DEFAULT_MAX_AGE)?;
        let mmd = duration("mmd", &self.mmd, DEFAULT_MMD)?;
        let log = LogConfig {
            key: std::sync::Arc::new(key),
            witnesses,
            witness_quorum,
            max_age,
            mmd,
            witness_refresh: duration(
                "witness-refresh",
                &self.witness_refresh,
                default_refresh(max_age, mmd),
            )?
            .max(MIN_WITNESS_REFRESH),
            witness_min_interval: duration(
                "witness-min-interval",
                &self.witness_min_interval,
                Duration::ZERO,
            )?,
            witness_timeout: duration(
                "witness-timeout",
                &self.witness_timeout,
                DEFAULT_WITNESS_TIMEOUT,
            )?,
            queue_size: self.queue_size.unwrap_or(DEFAULT_QUEUE_SIZE).max(1),
            max_batch: self.max_batch.unwrap_or(DEFAULT_MAX_BATCH).max(1),
            clock: WallClock::default(),
            start_without,
            clear_halt: self.clear_halt,
        };
        Ok(Config {
            data_dir,
            listen: self
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            publishers: self.publishers.clone(),
            log,
            commit_timeout: duration(
                "commit-timeout",
                &self.commit_timeout,
                Duration::from_secs(10),
            )?,
            max_connections: self
                .max_connections
                .unwrap_or(taglog_serve::DEFAULT_MAX_CONNECTIONS)
                .max(1),
            request_timeout: duration(
                "request-timeout",
                &self.request_timeout,
                taglog_serve::DEFAULT_REQUEST_TIMEOUT,
            )?,
            publisher_rate: self
                .publisher_rate
                .as_deref()
                .map_or(Ok(DEFAULT_PUBLISHER_RATE), parse_rate)
                .map_err(|detail| ConfigError::Invalid {
                    name: "publisher-rate",
                    detail,
                })?,
            publisher_burst: self
                .publisher_burst
                .unwrap_or(DEFAULT_PUBLISHER_BURST)
                .max(1),
            header_timeout,
            tls,
            publish,
            publish_interval,
            publish_grace,
        })
    }
}

/// Loads the key at `path`, or generates one named `origin` (mode 0600) if it does not exist.
///
/// # Errors
/// [`ConfigError::KeyPermissions`] for a key readable by others, [`ConfigError::Key`] otherwise.
pub fn load_or_generate_key(path: &Path, origin: Option<&str>) -> Result<SignerKey, ConfigError> {
    let kerr = |detail: String| ConfigError::Key {
        path: path.to_path_buf(),
        detail,
    };
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(ConfigError::KeyPermissions(path.to_path_buf(), mode));
            }
            let text = std::fs::read_to_string(path).map_err(|e| kerr(e.to_string()))?;
            let key: SignerKey = text.trim_end().parse().map_err(|e| kerr(format!("{e}")))?;
            let name = key.verifier().name().to_string();
            match origin {
                Some(o) if o != name => Err(kerr(format!(
                    "key is for origin {name}, but --origin is {o}"
                ))),
                _ => Ok(key),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            generate_key(path, origin.unwrap_or(DEFAULT_ORIGIN))
        }
        Err(e) => Err(kerr(e.to_string())),
    }
}

fn generate_key(path: &Path, origin: &str) -> Result<SignerKey, ConfigError> {
    let kerr = |detail: String| ConfigError::Key {
        path: path.to_path_buf(),
        detail,
    };
    let name = origin.parse().map_err(|e| ConfigError::Invalid {
        name: "origin",
        detail: format!("{origin}: {e}"),
    })?;
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let key = SignerKey::from_seed(name, KeyType::Ed25519, seed);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| kerr(e.to_string()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| kerr(e.to_string()))?;
    writeln!(file, "{key}")
        .and_then(|()| file.sync_all())
        .map_err(|e| kerr(e.to_string()))?;
    println!(
        "generated log key {}; verifier key:\n{}",
        path.display(),
        key.verifier()
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "h", "1x", "-1s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100").unwrap(), 100.0);
        assert_eq!(parse_rate("100/s").unwrap(), 100.0);
        assert_eq!(parse_rate("600/m").unwrap(), 10.0);
        assert_eq!(parse_rate("36/h").unwrap(), 0.01);
        assert_eq!(parse_rate("0").unwrap(), 0.0);
        for bad in ["", "/s", "1/d", "-1/s", "1.5/s", "1/", "x"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
