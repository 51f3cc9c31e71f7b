//! `taglog-witness`: a C2SP tlog-witness for taglog logs (DESIGN §6). Flags only; the
//! witness itself is `taglog_monitor::witness`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use taglog_monitor::cli::{WitnessCliError, EXIT_OK};
use taglog_monitor::listen::HttpFlags;
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
    #[command(flatten)]
    http: HttpFlags,
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
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("taglog-witness: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(args: Args) -> Result<(), WitnessCliError> {
    if args.init {
        let name: KeyName = args
            .name
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(WitnessCliError::Name)?;
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
        let text = std::fs::read_to_string(path).map_err(|source| WitnessCliError::ConfigFile {
            path: path.clone(),
            source,
        })?;
        logs.add_config(&text)?;
    }
    let logs = logs.build()?;
    let store = Store::open(&args.data_dir)?;
    let auditor = args.audit.then(Auditor::new).transpose()?;
    let witness = Arc::new(Witness::open(key, logs, store, auditor)?);
    tracing::info!(vkey = %witness.vkey(), audit = args.audit, "witness key");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(WitnessCliError::Runtime)?;
    rt.block_on(async move {
        let server = args
            .http
            .bind(
                args.listen,
                http::router(witness),
                http::MAX_BODY_BYTES,
                http::DEFAULT_REQUEST_TIMEOUT,
                Arc::default(),
            )
            .await?;
        let addr = server
            .local_addr()
            .map_err(|source| WitnessCliError::LocalAddr {
                addr: args.listen,
                source,
            })?;
        println!("listening on {addr}");
        tracing::info!(%addr, "listening");
        server.run(taglog_serve::shutdown_signal()).await;
        tracing::info!("stopped");
        Ok(())
    })
}
