//! taglog-server: the sequencer, RocksDB storage, HTTP API and witness collection of a taglog
//! log (DESIGN §5). `main.rs` only parses flags and calls [`run`]; tests drive the binary.
//!
//! Guarantees: an answer of 200/202 to `/add-binding` means the binding is in a durable,
//! signed checkpoint; the server never starts on storage whose recomputed root contradicts
//! its stored checkpoint; nothing signed leaves the process before it is durable.

pub mod allowlist;
pub mod api;
pub mod config;
pub mod errors;
pub mod integrate;
pub mod metrics;
pub mod quota;
pub mod reads;
pub mod sequencer;
pub mod state;
pub mod store;
pub mod submit;
pub mod tiles;
pub mod witnesses;

use std::sync::Arc;

use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::hash::leaf_hash;
use taglog_proofs::leaves::StateLeaf;
use taglog_proofs::note::NoteSignature;
use taglog_proofs::tree::tree_root;

use crate::allowlist::Allowlist;
use crate::config::Config;
use crate::sequencer::Command;
use crate::state::{Head, Shared};
use crate::store::{LogStore, RocksStore, StoredHashes};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Storage could not be opened or read.
    #[error(transparent)]
    Storage(#[from] store::StoreError),
    /// The stored tree contradicts the stored checkpoint, or the checkpoint does not verify.
    #[error("REFUSING TO START: {0}. The log must never contradict a checkpoint it signed; restore the data directory from a consistent backup")]
    Inconsistent(String),
    /// The publisher allowlist is invalid.
    #[error(transparent)]
    Allowlist(#[from] allowlist::AllowlistError),
    /// Listening or serving failed.
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    /// Another startup failure.
    #[error("{0}")]
    Other(String),
}

/// Loads the stored checkpoint of `size` as a [`Head`], optionally with its cosignatures,
/// after checking its log signature.
///
/// # Errors
/// [`ServerError::Inconsistent`] if it is missing or does not verify.
pub fn load_head(
    storage: &dyn LogStore,
    config: &Config,
    size: u64,
    cosigned: bool,
) -> Result<Head, ServerError> {
    let bad = ServerError::Inconsistent;
    let note = storage
        .checkpoint(size)?
        .ok_or_else(|| bad(format!("no stored checkpoint for size {size}")))?;
    let signed = SignedCheckpoint::open(&note, &config.key.verifier())
        .map_err(|e| bad(format!("stored checkpoint {size}: {e}")))?;
    let state = storage
        .entry(size.saturating_sub(1))?
        .ok_or_else(|| bad(format!("state leaf {} missing", size.saturating_sub(1))))?;
    let time = StateLeaf::parse(&state)
        .map_err(|e| {
            bad(format!(
                "leaf {} is not a state leaf: {e}",
                size.saturating_sub(1)
            ))
        })?
        .time;
    let mut out = signed.clone();
    if cosigned {
        let lines = storage.cosignatures(size)?;
        let text = String::from_utf8_lossy(&lines).into_owned();
        let sigs: Vec<NoteSignature> = text
            .lines()
            .filter_map(|l| NoteSignature::parse_line(l, 0).ok())
            .collect();
        out = signed
            .with_signatures(&sigs)
            .map_err(|e| bad(e.to_string()))?;
    }
    Ok(Head {
        size,
        root: signed.checkpoint().root(),
        note: Arc::new(out.to_bytes()),
        time,
    })
}

/// Recomputes the root from stored hashes and compares it with the stored checkpoint.
///
/// # Errors
/// [`ServerError::Inconsistent`] on any mismatch.
pub fn verify_storage(
    storage: &dyn LogStore,
    config: &Config,
) -> Result<Option<Head>, ServerError> {
    let size = storage.size()?;
    if size == 0 {
        return Ok(None);
    }
    let head = load_head(storage, config, size, false)?;
    let root = tree_root(size, &StoredHashes::new(storage)).map_err(|e| {
        ServerError::Inconsistent(format!("cannot recompute the root of size {size}: {e}"))
    })?;
    if root != head.root {
        return Err(ServerError::Inconsistent(format!(
            "stored hashes give root {root} for size {size}, the signed checkpoint says {}",
            head.root
        )));
    }
    let last = storage.entry(size - 1)?.map(|e| leaf_hash(&e));
    let stored = storage.hashes(&[taglog_proofs::tree::stored_hash_index(0, size - 1)])?;
    if last.as_ref() != stored.first() {
        return Err(ServerError::Inconsistent(format!(
            "leaf {} does not match its stored hash",
            size - 1
        )));
    }
    Ok(Some(head))
}

/// Runs the server until SIGTERM or ctrl-c.
///
/// # Errors
/// [`ServerError`] for startup failures.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let storage: Arc<dyn LogStore> = Arc::new(RocksStore::open(&config.data_dir)?);
    let committed = verify_storage(storage.as_ref(), &config)?;
    let logged = Allowlist::from_rows(&storage.publishers()?).map_err(ServerError::Inconsistent)?;
    let file_list = config
        .publishers
        .as_deref()
        .map(|p| Allowlist::load(p, config.key.name().as_str()))
        .transpose()?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(config.queue_size);
    let shared = Arc::new(Shared::new(
        config.clone(),
        Arc::clone(&storage),
        logged,
        tx,
    ));
    initial_heads(&shared, committed)?;
    let seq = sequencer::spawn(Arc::clone(&shared), tokio::runtime::Handle::current(), rx)?;
    if let Some(list) = file_list {
        apply_allowlist(&shared, list).await?;
    }
    witnesses::spawn(&shared);
    spawn_reloader(Arc::clone(&shared));
    tracing::info!(listen = %listener.local_addr()?, tls = config.tls.is_some(), origin = %config.key.name(), vkey = %config.key.verifier(), "taglog-server listening");
    let app = taglog_serve::limit_requests(
        api::router(Arc::clone(&shared)),
        submit::MAX_BODY_BYTES,
        config.request_timeout,
    );
    let limits = taglog_serve::Limits {
        max_connections: config.max_connections,
        header_timeout: config.header_timeout,
        // A request in flight at shutdown had its headers read and is bounded by the request
        // timeout; the header timeout covers one that is still arriving.
        drain_timeout: config.request_timeout.saturating_add(config.header_timeout),
        open: std::sync::Arc::clone(&shared.metrics.open_connections),
    };
    let stopper = Arc::clone(&shared);
    taglog_serve::serve(listener, app, limits, config.tls.clone(), async move {
        taglog_serve::shutdown_signal().await;
        tracing::info!("shutdown requested: no new connections; finishing the current batch");
        stopper
            .shutting_down
            .store(true, std::sync::atomic::Ordering::Relaxed);
    })
    .await;
    let _ = shared.queue.send(Command::Shutdown).await;
    tokio::task::spawn_blocking(move || seq.join())
        .await
        .map_err(|e| ServerError::Other(e.to_string()))?
        .map_err(|_| ServerError::Other("sequencer panicked".into()))?;
    tracing::info!("shutdown complete");
    Ok(())
}

fn initial_heads(shared: &Shared, committed: Option<Head>) -> Result<(), ServerError> {
    let Some(head) = committed else { return Ok(()) };
    shared
        .metrics
        .tree_size
        .store(head.size, std::sync::atomic::Ordering::Relaxed);
    if shared.config.witness_quorum == 0 {
        shared.published.send_replace(Some(head.clone()));
    } else {
        let p = shared.storage.published_size()?;
        if p > 0 {
            shared.published.send_replace(Some(load_head(
                shared.storage.as_ref(),
                &shared.config,
                p,
                true,
            )?));
        }
    }
    shared.committed.send_replace(Some(head));
    Ok(())
}

async fn apply_allowlist(shared: &Shared, list: Allowlist) -> Result<usize, ServerError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    shared
        .queue
        .send(Command::Allowlist(list, tx))
        .await
        .map_err(|_| ServerError::Other("sequencer stopped".into()))?;
    let n = rx
        .await
        .map_err(|_| ServerError::Other("sequencer stopped".into()))?
        .map_err(ServerError::Other)?;
    tracing::info!(changes = n, "publisher allowlist logged");
    Ok(n)
}

fn spawn_reloader(shared: Arc<Shared>) {
    let Some(path) = shared.config.publishers.clone() else {
        return;
    };
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match Allowlist::load(&path, shared.config.key.name().as_str()) {
                Ok(list) => {
                    if let Err(e) = apply_allowlist(&shared, list).await {
                        tracing::error!(error = %e, "allowlist reload failed");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "allowlist reload failed; keeping the logged allowlist")
                }
            }
        }
    });
}
