//! `taglog-monitor`: follows a taglog log through its tiles and alerts (DESIGN.md §6).
//! Flags only; the monitor itself is `taglog_monitor::Monitor`.
//!
//! Exit codes (chosen in `taglog_monitor::cli`) with `--once`: 0 no alert, 1 at least one
//! alert, 2 usage or configuration error, 3 the log could not be read or the state could not
//! be saved.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use taglog_monitor::alerts::AlertSink;
use taglog_monitor::checks::Watchlist;
use taglog_monitor::cli::{FlagError, MonitorCliError, EXIT_ALERT, EXIT_OK};
use taglog_monitor::listen::HttpFlags;
use taglog_monitor::monitor::Metrics;
use taglog_monitor::serve::{self, Shared};
use taglog_monitor::{Config, Monitor};
use taglog_proofs::note::VerifierKey;
use taglog_proofs::refs::RefPrefix;

/// Follows a taglog transparency log through its tiles, replays every entry, compares
/// checkpoints with witnesses and clients, and prints alerts as JSON lines on stdout.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Base URL of the log, or of any mirror or CDN serving its /checkpoint and tiles.
    #[arg(long, env = "TAGLOG_MONITOR_LOG")]
    log: String,
    /// The log's public key (vkey); its name is the log origin. `@FILE` reads it from a file.
    #[arg(long, env = "TAGLOG_MONITOR_LOG_KEY", value_name = "VKEY")]
    log_key: String,
    /// Directory for the monitor's state (created if missing; one monitor per directory).
    #[arg(long, default_value = "./taglog-monitor-data")]
    state_dir: PathBuf,
    /// Witness base URL whose `/<hex sha256(origin)>/checkpoint` is compared (repeatable).
    #[arg(long = "witness", value_name = "URL")]
    witnesses: Vec<String>,
    /// Witness cosigning key whose cosignatures count for freshness (repeatable).
    #[arg(long = "witness-key", value_name = "VKEY")]
    witness_keys: Vec<String>,
    /// File or directory of signed checkpoints reported by clients (also where
    /// `POST /report` stores them; default: <state-dir>/reports when --listen is given).
    #[arg(long)]
    reports: Option<PathBuf>,
    /// Alert on every binding under this ref prefix (repeatable).
    #[arg(long = "watch-prefix", value_name = "PREFIX")]
    watch_prefixes: Vec<String>,
    /// Alert on every binding signed by this publisher key (repeatable).
    #[arg(long = "watch-key", value_name = "VKEY")]
    watch_keys: Vec<String>,
    /// Also append alerts (JSON lines) to this file.
    #[arg(long)]
    alert_file: Option<PathBuf>,
    /// Also POST each alert (JSON) to this URL; retried until it answers 2xx.
    #[arg(long)]
    webhook: Option<String>,
    /// Alert `stale-checkpoint` when nothing vouched for the checkpoint (witness
    /// cosignature or log time) within this many seconds; 0 disables.
    #[arg(long, default_value_t = 3600)]
    max_age: u64,
    /// Maximum merge delay in seconds for `mmd-violation`; 0 disables.
    #[arg(long, default_value_t = 300)]
    mmd: u64,
    /// Entries checked between two state saves.
    #[arg(long, default_value_t = 65_536)]
    chunk: u64,
    /// Threads verifying binding signatures during the replay, ahead of the rule checks,
    /// which apply the entries in log order (0: every core, 1: all on one thread).
    #[arg(long, default_value_t = 0)]
    verify_threads: usize,
    /// Poll once, replay everything, exit 1 if any alert fired.
    #[arg(long, conflicts_with = "follow")]
    once: bool,
    /// Poll forever (the default).
    #[arg(long)]
    follow: bool,
    /// Seconds between polls.
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// Longest wait between polls after failures (backoff doubles up to it).
    #[arg(long, default_value_t = 600)]
    max_interval: u64,
    /// Serve /healthz, /metrics and POST /report on this address (with --follow).
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    http: HttpFlags,
}

/// Parses a vkey flag value (`@FILE` reads it from a file).
fn parse_key(flag: &'static str, s: &str) -> Result<VerifierKey, MonitorCliError> {
    let bad = |source: FlagError| MonitorCliError::Flag {
        flag,
        value: s.to_owned(),
        source,
    };
    let text = match s.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|source| {
            bad(FlagError::Read {
                path: path.into(),
                source,
            })
        })?,
        None => s.to_owned(),
    };
    VerifierKey::from_str(text.trim()).map_err(|e| bad(e.into()))
}

fn config(args: &Args) -> Result<Config, MonitorCliError> {
    let log_key = parse_key("log-key", &args.log_key)?;
    let mut c = Config::new(&args.log, log_key, args.state_dir.clone());
    c.witness_urls.clone_from(&args.witnesses);
    c.witness_keys = args
        .witness_keys
        .iter()
        .map(|k| parse_key("witness-key", k))
        .collect::<Result<_, _>>()?;
    c.reports = args.reports.clone().or_else(|| {
        args.listen
            .is_some()
            .then(|| args.state_dir.join("reports"))
    });
    c.watch = Watchlist {
        prefixes: args
            .watch_prefixes
            .iter()
            .map(|p| {
                RefPrefix::from_str(p).map_err(|e| MonitorCliError::Flag {
                    flag: "watch-prefix",
                    value: p.clone(),
                    source: e.into(),
                })
            })
            .collect::<Result<_, _>>()?,
        keys: args
            .watch_keys
            .iter()
            .map(|k| parse_key("watch-key", k))
            .collect::<Result<_, _>>()?,
    };
    c.max_age = (args.max_age > 0).then_some(args.max_age);
    c.mmd = (args.mmd > 0).then_some(args.mmd);
    c.chunk = args.chunk.max(1);
    c.verify_threads = args.verify_threads;
    c.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    if !args.once {
        // Bounded polls while following, so metrics, health and witness checks keep up
        // during a long catch-up.
        c.max_entries = Some(c.chunk.saturating_mul(4));
    }
    c.sink = AlertSink {
        stdout: true,
        file: args.alert_file.clone(),
        webhook: args.webhook.clone(),
        delivered: Vec::new(),
    };
    Ok(c)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let outcome = config(&args).and_then(|config| {
        let rt = tokio::runtime::Runtime::new().map_err(MonitorCliError::Runtime)?;
        rt.block_on(run(args, config))
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("taglog-monitor: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs the monitor; `Ok` carries [`EXIT_OK`] or, with `--once`, [`EXIT_ALERT`].
async fn run(args: Args, config: Config) -> Result<u8, MonitorCliError> {
    let reports = config.reports.clone();
    let log_key = config.log_key.clone();
    let mut monitor = Monitor::open(config).map_err(MonitorCliError::Open)?;
    if args.once {
        return match monitor.run_once().await {
            Ok(alerts) if alerts.is_empty() && monitor.state().outbox.is_empty() => Ok(EXIT_OK),
            Ok(_) => Ok(EXIT_ALERT),
            Err(error) => Err(MonitorCliError::Poll {
                error,
                alerted: !monitor.sink().delivered.is_empty(),
            }),
        };
    }
    let metrics = Arc::new(Mutex::new(Metrics::default()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut http_task = None;
    if let Some(addr) = args.listen {
        let open = Arc::new(AtomicU64::new(0));
        let shared = Shared {
            metrics: metrics.clone(),
            reports: reports.unwrap_or_else(|| args.state_dir.join("reports")),
            log_key,
            health_bound: args.max_interval.saturating_mul(3),
            now,
            open_connections: Arc::clone(&open),
        };
        let server = args
            .http
            .bind(
                addr,
                serve::router(shared),
                serve::MAX_REPORT_BYTES,
                serve::DEFAULT_REQUEST_TIMEOUT,
                open,
            )
            .await?;
        if let Ok(a) = server.local_addr() {
            eprintln!("taglog-monitor: listening on {a}");
        }
        let mut stopped = stopped.clone();
        http_task = Some(tokio::spawn(server.run(async move {
            let _ = stopped.changed().await;
        })));
    }
    tokio::select! {
        () = monitor.run_follow(
            Duration::from_secs(args.interval.max(1)),
            Duration::from_secs(args.max_interval.max(1)),
            |m| {
                if let Ok(mut g) = metrics.lock() {
                    *g = m.metrics.clone();
                }
            },
        ) => {}
        () = taglog_serve::shutdown_signal() => {
            tracing::info!("shutting down");
        }
    }
    let _ = stop.send(true);
    if let Some(task) = http_task {
        let _ = task.await;
    }
    Ok(EXIT_OK)
}
