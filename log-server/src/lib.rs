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
pub mod publish;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::http::quota::Quotas;
use crate::http::AppState;
use crate::log::allowlist::{Allowlist, AllowlistError};
use crate::log::{Log, OpenError, StopError};
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
    /// Listening failed.
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    /// The log did not stop cleanly.
    #[error(transparent)]
    Stop(#[from] StopError),
    /// The `--publish` bucket could not be opened.
    #[error(transparent)]
    Publish(#[from] publish::PublishError),
}

/// How long a stopping server waits for the publisher to upload the last checkpoint.
const PUBLISH_FINISH_WAIT: Duration = Duration::from_secs(10);

/// Runs the server until SIGTERM or ctrl-c.
///
/// # Errors
/// [`ServerError`] for startup failures and an unclean stop.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let bucket = config
        .publish
        .as_ref()
        .map(publish::Bucket::open)
        .transpose()?;
    let store: Arc<dyn LogStore> = Arc::new(RocksStore::open(&config.data_dir)?);
    let origin = config.log.key.name().to_string();
    let file_list = config
        .publishers
        .as_deref()
        .map(|p| Allowlist::load(p, &origin))
        .transpose()?;
    // Installed before the port opens: a SIGTERM from then on shuts down gracefully.
    let shutdown = taglog_serve::shutdown_signal();
    let metrics = Arc::new(Metrics::default());
    // The port opens only once the stored log checked out.
    let running = Log::start(config.log.clone(), store, Arc::clone(&metrics))?;
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            running.stop().await?;
            return Err(ServerError::Io(e));
        }
    };
    let log = Arc::clone(running.log());
    let publisher = match bucket {
        None => None,
        Some(b) => {
            let (interval, grace) = (config.publish_interval, config.publish_grace);
            match publish::Publisher::spawn(Arc::clone(&log), b, interval, grace) {
                Ok(p) => Some(p),
                Err(e) => {
                    running.stop().await?;
                    return Err(ServerError::Io(e));
                }
            }
        }
    };
    if let Some(list) = file_list {
        apply_at_start(&log, list).await;
    }
    spawn_reloader(&config, Arc::clone(&log));
    let addr = listener
        .local_addr()
        .map_or_else(|e| e.to_string(), |a| a.to_string());
    tracing::info!(listen = %addr, tls = config.tls.is_some(), origin = %origin, vkey = %config.log.key.verifier(), "taglog-server listening");
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
        shutdown.await;
        tracing::info!("shutdown requested: no new connections; finishing the current batch");
        stopper.begin_shutdown();
    })
    .await;
    running.stop().await?;
    if let Some(p) = publisher {
        p.finish(PUBLISH_FINISH_WAIT).await;
    }
    tracing::info!("shutdown complete");
    Ok(())
}

/// How long the start waits for the allowlist file to be logged before serving anyway.
const START_ALLOWLIST_WAIT: Duration = Duration::from_secs(10);

/// Logs the allowlist file before serving, so that a client never sees the log without it.
/// While sequencing waits for the witnesses (which may need to read the log, as an auditing
/// witness does), the change is queued and the server serves at once: the sequencer logs it
/// before it accepts any submission.
async fn apply_at_start(log: &Arc<Log>, list: Allowlist) {
    let pending = {
        let log = Arc::clone(log);
        tokio::spawn(async move { log.apply_allowlist(list).await })
    };
    if let Some(waiting) = log.awaiting_witnesses().filter(|w| !w.is_empty()) {
        tracing::info!(?waiting, "the publisher allowlist will be logged once the witnesses have answered; serving reads meanwhile");
        return;
    }
    match tokio::time::timeout(START_ALLOWLIST_WAIT, pending).await {
        Ok(Ok(Ok(n))) => tracing::info!(changes = n, "publisher allowlist logged"),
        // Halted (e.g. a persisted fork-risk halt): the log still serves reads.
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "the publisher allowlist was not logged"),
        Ok(Err(e)) => tracing::error!(error = %e, "logging the publisher allowlist failed"),
        Err(_) => tracing::warn!("the publisher allowlist is not logged yet; serving meanwhile"),
    }
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
