//! taglog-server: the sequencer, storage, HTTP API and witness collection of a taglog log
//! (DESIGN §5). `main.rs` only parses flags and calls [`run`]; tests drive the binary, and
//! the log layer in process.
//!
//! Layers, importing one way only: [`http`] → [`log`] → [`store`]; [`config`] and
//! [`metrics`] are leaves any layer may use. Guarantees: an answer of 200/202 to
//! `/add-binding` means the binding is in a durable, signed checkpoint; the server never
//! starts on storage whose recomputed root contradicts its stored checkpoint; nothing signed
//! leaves the process before it is durable.

pub mod config;
pub mod http;
pub mod log;
pub mod metrics;
pub mod store;

use std::sync::Arc;

use crate::config::Config;
use crate::http::quota::Quotas;
use crate::http::AppState;
use crate::log::allowlist::{Allowlist, AllowlistError};
use crate::log::{AllowlistChangeError, Log, OpenError, StopError};
use crate::metrics::Metrics;
use crate::store::{LogStore, RocksStore, StoreError};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Storage could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The publisher allowlist file is invalid.
    #[error(transparent)]
    Allowlist(#[from] AllowlistError),
    /// The allowlist file could not be logged.
    #[error("cannot log the publisher allowlist: {0}")]
    AllowlistChange(#[from] AllowlistChangeError),
    /// Listening failed.
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    /// The log did not stop cleanly.
    #[error(transparent)]
    Stop(#[from] StopError),
}

/// Runs the server until SIGTERM or ctrl-c.
///
/// # Errors
/// [`ServerError`] for startup failures and an unclean stop.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let store: Arc<dyn LogStore> = Arc::new(RocksStore::open(&config.data_dir)?);
    let origin = config.log.key.name().to_string();
    let file_list = config
        .publishers
        .as_deref()
        .map(|p| Allowlist::load(p, &origin))
        .transpose()?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let metrics = Arc::new(Metrics::default());
    let running = Log::start(config.log.clone(), store, Arc::clone(&metrics))?;
    let log = Arc::clone(running.log());
    if let Some(list) = file_list {
        let n = log.apply_allowlist(list).await?;
        tracing::info!(changes = n, "publisher allowlist logged");
    }
    spawn_reloader(&config, Arc::clone(&log));
    tracing::info!(listen = %listener.local_addr()?, tls = config.tls.is_some(), origin = %origin, vkey = %config.log.key.verifier(), "taglog-server listening");
    let state = Arc::new(AppState {
        log: Arc::clone(&log),
        quotas: Quotas::new(config.publisher_rate, config.publisher_burst),
        commit_timeout: config.commit_timeout,
    });
    let app = taglog_serve::limit_requests(
        http::router(state),
        http::submit::MAX_BODY_BYTES,
        config.request_timeout,
    );
    let limits = taglog_serve::Limits {
        max_connections: config.max_connections,
        header_timeout: config.header_timeout,
        // A request in flight at shutdown had its headers read and is bounded by the request
        // timeout; the header timeout covers one that is still arriving.
        drain_timeout: config.request_timeout.saturating_add(config.header_timeout),
        open: Arc::clone(&metrics.open_connections),
    };
    let stopper = Arc::clone(&log);
    taglog_serve::serve(listener, app, limits, config.tls.clone(), async move {
        taglog_serve::shutdown_signal().await;
        tracing::info!("shutdown requested: no new connections; finishing the current batch");
        stopper.begin_shutdown();
    })
    .await;
    running.stop().await?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// Re-reads the allowlist file on SIGHUP and logs its changes; a bad file keeps the logged
/// allowlist.
fn spawn_reloader(config: &Config, log: Arc<Log>) {
    let Some(path) = config.publishers.clone() else {
        return;
    };
    let origin = config.log.key.name().to_string();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match Allowlist::load(&path, &origin) {
                Ok(list) => match log.apply_allowlist(list).await {
                    Ok(n) => tracing::info!(changes = n, "publisher allowlist logged"),
                    Err(e) => tracing::error!(error = %e, "allowlist reload failed"),
                },
                Err(e) => {
                    tracing::error!(error = %e, "allowlist reload failed; keeping the logged allowlist")
                }
            }
        }
    });
}
