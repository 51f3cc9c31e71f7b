//! `taglog-explorer`: serves the explorer's pages from a static mirror of a log.
//!
//! ```sh
//! taglog-explorer --log https://cdn.example.org/log1 --log-key 'log.example.org/taglog+...' \
//!   --listen 127.0.0.1:8090
//! ```
//!
//! Exit codes: 0 after a clean shutdown (SIGTERM, ctrl-c), 2 for bad arguments or a port that
//! cannot be bound.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use taglog_explorer_static::{router, Mirror, REQUEST_TIMEOUT};
use taglog_proofs::note::VerifierKey;

/// Serves the explorer's pages (`/explore`) read-only from a static mirror of a taglog log:
/// the objects `taglog-server --publish` writes, behind any HTTP server, bucket or CDN.
#[derive(Parser, Debug)]
#[command(name = "taglog-explorer", version)]
struct Args {
    /// The mirror's base URL (where its `checkpoint` is), http:// or https://.
    #[arg(long, env = "TAGLOG_EXPLORER_LOG")]
    log: String,
    /// The log's verifier key; the mirror's checkpoint must verify with it.
    #[arg(long, env = "TAGLOG_EXPLORER_LOG_KEY")]
    log_key: String,
    /// Address to listen on (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let key: VerifierKey = match args.log_key.parse() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("taglog-explorer: --log-key {:?}: {e}", args.log_key);
            return ExitCode::from(2);
        }
    };
    if !(args.log.starts_with("http://") || args.log.starts_with("https://")) {
        eprintln!(
            "taglog-explorer: --log {:?} must be an http:// or https:// URL",
            args.log
        );
        return ExitCode::from(2);
    }
    let mirror = match Mirror::new(&args.log, key) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            eprintln!("taglog-explorer: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("taglog-explorer: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    if let Ok(a) = listener.local_addr() {
        eprintln!("taglog-explorer: listening on {a}");
    }
    // Read the mirror now rather than on the first page; a failure is only logged (each page
    // reads the mirror again and says what is wrong).
    let warm = Arc::clone(&mirror);
    tokio::spawn(async move {
        match warm.warm().await {
            Ok(size) => tracing::info!(size, "read the mirror"),
            Err(e) => tracing::warn!(error = %e, "reading the mirror"),
        }
    });
    let app = taglog_serve::limit_requests(router(mirror), 1024, REQUEST_TIMEOUT);
    taglog_serve::serve(
        listener,
        app,
        taglog_serve::Limits::default(),
        None,
        taglog_serve::shutdown_signal(),
    )
    .await;
    ExitCode::SUCCESS
}
