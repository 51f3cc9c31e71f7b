//! `taglog-witness`: a C2SP tlog-witness for taglog logs (DESIGN §6). Flags only; the
//! witness itself is `taglog_monitor::witness`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use taglog_monitor::witness::audit::Auditor;
use taglog_monitor::witness::config::LogsBuilder;
use taglog_monitor::witness::store::Store;
use taglog_monitor::witness::{http, keyfile, Witness};
use taglog_proofs::note::KeyName;

/// A transparency-log witness: cosigns checkpoints of the configured logs after checking they
/// extend what it cosigned before (C2SP tlog-witness, cosignature/v1).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Private key file (PRIVATE+KEY+..., type 0x04, mode 0600).
    #[arg(long, env = "TAGLOG_WITNESS_KEY")]
    key: PathBuf,
    /// Create a new key file at --key named --name, print its vkey and exit.
    #[arg(long, requires = "name")]
    init: bool,
    /// Witness name for --init (a schema-less URL, e.g. witness.example.org/w1).
    #[arg(long)]
    name: Option<String>,
    /// A trusted log vkey (repeatable).
    #[arg(long = "log", value_name = "VKEY")]
    logs: Vec<String>,
    /// Tile URL prefix of a log, as ORIGIN=URL (repeatable; needed with --audit).
    #[arg(long = "log-url", value_name = "ORIGIN=URL")]
    log_urls: Vec<String>,
    /// File of C2SP policy `log <vkey> [url]` lines.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Directory for the witness's state.
    #[arg(long, default_value = "./taglog-witness-data")]
    data_dir: PathBuf,
    /// Replay every new entry from the log's tiles before cosigning (DESIGN §6).
    #[arg(long)]
    audit: bool,
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
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taglog-witness: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.init {
        let name: KeyName = args.name.as_deref().unwrap_or_default().parse()?;
        let key = keyfile::generate(&args.key, name)?;
        println!("{}", key.verifier());
        return Ok(());
    }
    let key = keyfile::load(&args.key)?;
    let mut logs = LogsBuilder::default();
    for vkey in &args.logs {
        logs.add_key(vkey, "--log")?;
    }
    for flag in &args.log_urls {
        logs.add_url_flag(flag)?;
    }
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading config {}: {e}", path.display()))?;
        logs.add_config(&text)?;
    }
    let logs = logs.build()?;
    let store = Store::open(&args.data_dir)?;
    let auditor = args.audit.then(Auditor::new).transpose()?;
    let witness = Arc::new(Witness::open(key, logs, store, auditor)?);
    tracing::info!(vkey = %witness.vkey(), audit = args.audit, "witness key");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        println!("listening on {addr}");
        tracing::info!(%addr, "listening");
        axum::serve(listener, http::router(witness))
            .with_graceful_shutdown(shutdown())
            .await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
