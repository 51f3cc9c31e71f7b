//! `taglog-witness`: a C2SP tlog-witness (<https://c2sp.org/tlog-witness>) that cosigns
//! checkpoints of configured logs with cosignature/v1 (<https://c2sp.org/tlog-cosignature>),
//! DESIGN §6.
//!
//! Guarantees:
//! - `add-checkpoint` answers exactly as the spec maps its checks: 400 for a malformed body or
//!   an old size above the checkpoint size, 404 for an unknown origin, 403 when no trusted log
//!   signature verifies or a trusted key's line fails, 409 (with the current size) when the old
//!   size is not the size last cosigned, 422 for a non-empty root of size 0, a proof from size
//!   0, a failing consistency proof or (with `--audit`) entries that fail the replay. Bodies
//!   over the spec's limit get 413; an audit that cannot read the log's tiles, 503.
//! - Compare-and-swap: the per-origin state is locked from the old-size check until the new
//!   state is durable, so concurrent requests cannot roll the size back; nothing is cosigned
//!   in a reply before the new `(size, root)` is fsynced ([`store`]).
//! - What is cosigned is a re-encoding of the parsed checkpoint, at a time passed in by the
//!   caller (the clock stays at the edge, in [`http`]).
//! - A validly log-signed checkpoint refused with 422 (inconsistent, or failing the audit) is
//!   kept as evidence under `logs/<origin hash>/evidence/` (the spec's MAY), bounded by
//!   [`store::MAX_EVIDENCE_FILES`].
//!
//! Out of scope: `sign-subtree` (optional in the spec), ML-DSA-44 cosignatures.

pub mod audit;
pub mod config;
pub mod http;
pub mod keyfile;
pub mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};

use taglog_proofs::checkpoint::{Checkpoint, CheckpointError};
use taglog_proofs::consistency::verify_consistency;
use taglog_proofs::cosignature::{cosign, CosignatureError};
use taglog_proofs::hash::{empty_root, Hash};
use taglog_proofs::inclusion::ProofError;
use taglog_proofs::note::{KeyType, Note, NoteError, NoteSignature, SignerKey, VerifierKey};
use taglog_proofs::witness::{encode_cosignature_response, AddCheckpointRequest, WitnessError};
use tokio::sync::Mutex;

use self::audit::{AuditError, AuditState, Auditor, AUDIT_SNAPSHOT_ENTRIES};
use self::config::LogConfig;
use self::store::{Store, StoreError};

/// Why an `add-checkpoint` request was refused. [`AddError::status`] is the HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The body is not an add-checkpoint request (400).
    #[error("malformed request: {0}")]
    Malformed(#[from] WitnessError),
    /// The checkpoint note's text is not a taglog checkpoint (400).
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(CheckpointError),
    /// The old size is above the checkpoint's size (400).
    #[error("old size {old_size} is above the checkpoint size {size}")]
    OldSizeAboveSize {
        /// The request's old size.
        old_size: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// No log with this origin is configured (404).
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// No trusted log signature verified, or a trusted key's signature failed (403).
    #[error("checkpoint signature: {0}")]
    Signature(NoteError),
    /// The old size is not the size this witness last cosigned (409).
    #[error("old size {old_size} does not match the latest cosigned size {current}")]
    Conflict {
        /// The request's old size.
        old_size: u64,
        /// The size of the latest checkpoint cosigned for this origin (0 if none).
        current: u64,
    },
    /// A checkpoint of size 0 whose root is not SHA-256("") (422).
    #[error("a checkpoint of size 0 must have the empty tree root SHA-256(\"\"), not {0}")]
    EmptyTreeRoot(Hash),
    /// Proof lines were sent with old size 0 (422).
    #[error("old size is 0 but {0} consistency proof lines were sent; send none")]
    ProofFromZero(usize),
    /// The consistency proof does not verify against the stored checkpoint (422).
    #[error("consistency with the latest cosigned checkpoint: {0}")]
    Inconsistent(ProofError),
    /// `--audit`: the new entries break the log's rules or do not match the checkpoint
    /// (422), the log's tiles could not be read (503), or the auditor failed (500).
    #[error("audit: {0}")]
    Audit(AuditError),
    /// The new state could not be made durable (500); nothing was cosigned.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// Cosigning failed (500).
    #[error("cosigning: {0}")]
    Cosign(#[from] CosignatureError),
    /// The cosigned note could not be built (500).
    #[error("building the cosigned checkpoint: {0}")]
    Note(NoteError),
    /// The clock reads 0 or before 1970 (500): the spec forbids a zero timestamp.
    #[error("the clock reads {0}; a cosignature needs a non-zero POSIX time")]
    Clock(u64),
}

impl AddError {
    /// The HTTP status the spec assigns to this refusal.
    pub fn status(&self) -> u16 {
        match self {
            AddError::Malformed(WitnessError::TooLarge { .. }) => 413,
            AddError::Malformed(_)
            | AddError::BadCheckpoint(_)
            | AddError::OldSizeAboveSize { .. } => 400,
            AddError::Signature(_) => 403,
            AddError::UnknownOrigin(_) => 404,
            AddError::Conflict { .. } => 409,
            AddError::EmptyTreeRoot(_) | AddError::ProofFromZero(_) | AddError::Inconsistent(_) => {
                422
            }
            AddError::Audit(e) => match e {
                AuditError::Fetch(f) if f.is_bad_content() => 422,
                AuditError::Fetch(_) => 503,
                AuditError::ShortRead { .. }
                | AuditError::RootMismatch { .. }
                | AuditError::Findings(_) => 422,
                AuditError::MissingUrl { .. }
                | AuditError::CorruptState { .. }
                | AuditError::Store(_)
                | AuditError::Client(_)
                | AuditError::Unloaded
                | AuditError::Replay(_)
                | AuditError::Tree(_) => 500,
            },
            AddError::Storage(_) | AddError::Cosign(_) | AddError::Note(_) | AddError::Clock(_) => {
                500
            }
        }
    }
}

/// Why the witness could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The witness key is not a cosignature key.
    #[error("the witness key {0} is not a cosignature (0x04) key")]
    KeyType(String),
    /// The data directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored checkpoint does not parse: the data directory is corrupt or not ours.
    #[error("stored checkpoint for {origin:?} is unreadable ({defect}); restore it from a backup of this witness or move it away knowingly")]
    CorruptState {
        /// The origin.
        origin: String,
        /// What is wrong.
        #[source]
        defect: StoredDefect,
    },
    /// `--audit` without a URL for a log, or a corrupt audit snapshot.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// What is wrong with a stored checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum StoredDefect {
    /// Not a signed note.
    #[error("{0}")]
    Note(#[from] NoteError),
    /// Not a checkpoint.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// A checkpoint of another log.
    #[error("it names origin {0:?}")]
    OtherOrigin(String),
}

/// What the witness knows about one log: its latest cosigned checkpoint.
#[derive(Debug, Default)]
struct LogState {
    /// Size of the latest cosigned checkpoint (0 if none).
    size: u64,
    /// Its root (the empty root if none).
    root: Hash,
    /// The auditor's state (with `--audit`): at `size`, or after a restart at the newest
    /// snapshot below it; `None` only while an audit runs or if reloading it failed.
    audit: Option<AuditState>,
    /// Size of the audit snapshot on disk (0 if none).
    snapshot: u64,
}

/// One configured log.
#[derive(Debug)]
struct Log {
    keys: Vec<VerifierKey>,
    url: Option<String>,
    /// Held from the old-size check until the new state is durable (the compare-and-swap).
    state: Mutex<LogState>,
    /// The latest cosigned checkpoint note, as served by `GET /<hash>/checkpoint`. Kept
    /// apart from `state` so that reads never wait for an audit in progress.
    served: std::sync::RwLock<Option<Arc<[u8]>>>,
}

/// A parsed request whose checkpoint verified under a configured log's keys.
struct Authenticated<'a> {
    log: &'a Log,
    req: AddCheckpointRequest,
    note: Note,
    checkpoint: Checkpoint,
    verified: Vec<VerifierKey>,
}

impl Authenticated<'_> {
    /// The note to serve: the re-encoded checkpoint, the log signatures that verified and
    /// our cosignature (lines nobody here checked are dropped).
    fn cosigned_note(&self, cosignature: &NoteSignature) -> Result<Vec<u8>, AddError> {
        let mut sigs: Vec<NoteSignature> = self
            .note
            .signatures()
            .iter()
            .filter(|s| self.verified.iter().any(|k| k.matches(s)))
            .cloned()
            .collect();
        sigs.push(cosignature.clone());
        Ok(Note::new(self.checkpoint.to_text(), sigs)
            .map_err(AddError::Note)?
            .to_bytes())
    }
}

/// The witness: configured logs, their states, the store and the cosigning key.
#[derive(Debug)]
pub struct Witness {
    key: SignerKey,
    logs: BTreeMap<String, Log>,
    /// Origins by lowercase hex SHA-256, for the monitoring endpoint.
    by_hash: BTreeMap<String, String>,
    store: Arc<Store>,
    auditor: Option<Auditor>,
}

impl Witness {
    /// Loads every configured log's state from `store`.
    ///
    /// # Errors
    /// [`StartError::KeyType`], [`StartError::CorruptState`], [`StartError::Store`], and with
    /// an auditor [`StartError::Audit`] for a log without URL or with a corrupt snapshot.
    pub fn open(
        key: SignerKey,
        logs: Vec<LogConfig>,
        store: Store,
        auditor: Option<Auditor>,
    ) -> Result<Witness, StartError> {
        if key.key_type() != KeyType::Cosignature {
            return Err(StartError::KeyType(key.name().to_string()));
        }
        let mut map = BTreeMap::new();
        let mut by_hash = BTreeMap::new();
        for log in logs {
            let (state, served) =
                load_state(&store, &log.origin, auditor.as_ref(), log.url.as_deref())?;
            by_hash.insert(
                taglog_proofs::witness::origin_hash_hex(&log.origin),
                log.origin.clone(),
            );
            map.insert(
                log.origin,
                Log {
                    keys: log.keys,
                    url: log.url,
                    state: Mutex::new(state),
                    served: std::sync::RwLock::new(served.map(Arc::from)),
                },
            );
        }
        Ok(Witness {
            key,
            logs: map,
            by_hash,
            store: Arc::new(store),
            auditor,
        })
    }

    /// The witness's verifier key.
    pub fn vkey(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// Handles an `add-checkpoint` body at POSIX time `now` and returns the 200 body (the
    /// cosignature line), after the new state is durable.
    ///
    /// # Errors
    /// An [`AddError`] whose [`AddError::status`] is the response code; state is unchanged.
    pub async fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<Vec<u8>, AddError> {
        let a = self.authenticate(body)?;
        if now == 0 {
            return Err(AddError::Clock(now));
        }
        let log = a.log;
        let origin = a.checkpoint.origin();
        let mut state = log.state.lock().await;
        let audited = match self.check_and_audit(&a, &mut state, now).await {
            Ok(audited) => audited,
            Err(e) => {
                if e.status() == 422 {
                    self.keep_evidence(log, origin, a.checkpoint.size(), body, &e, now)
                        .await;
                }
                return Err(e);
            }
        };
        // Snapshot the audit state only every AUDIT_SNAPSHOT_ENTRIES entries.
        let snapshot = audited
            .as_ref()
            .filter(|s| s.size() >= state.snapshot.saturating_add(AUDIT_SNAPSHOT_ENTRIES));
        let committed = self.cosign_and_persist(&a, snapshot, now).await;
        let (response, cosigned) = match committed {
            Ok(c) => c,
            Err(e) => {
                if audited.is_some() {
                    // The audit state is ahead of the committed checkpoint: go back to disk.
                    self.reload_audit(log, origin, &mut state).await;
                }
                return Err(e);
            }
        };
        tracing::info!(
            origin,
            old_size = a.req.old_size,
            size = a.checkpoint.size(),
            time = now,
            "cosigned"
        );
        state.size = a.checkpoint.size();
        state.root = a.checkpoint.root();
        *log.served.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::from(cosigned));
        if let Some(audited) = audited {
            if audited.size() >= state.snapshot.saturating_add(AUDIT_SNAPSHOT_ENTRIES) {
                state.snapshot = audited.size();
            }
            state.audit = Some(audited);
        }
        Ok(response)
    }

    /// Cosigns the checkpoint at `now` and makes it durable (after the audit snapshot, if
    /// any). Returns the response body and the note to serve.
    async fn cosign_and_persist(
        &self,
        a: &Authenticated<'_>,
        snapshot: Option<&AuditState>,
        now: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), AddError> {
        let cosignature = cosign(&a.checkpoint, now, &self.key)?;
        let cosigned = a.cosigned_note(&cosignature)?;
        self.persist(
            a.checkpoint.origin(),
            a.checkpoint.size(),
            snapshot,
            &cosigned,
        )
        .await?;
        Ok((encode_cosignature_response(&[cosignature]), cosigned))
    }

    /// The checks that need no state, in the spec's order: well-formed body (400), known
    /// origin (404), a trusted log signature and no failing one (403), old size ≤ size (400).
    fn authenticate(&self, body: &[u8]) -> Result<Authenticated<'_>, AddError> {
        let req = AddCheckpointRequest::parse(body)?;
        let note = Note::parse(&req.checkpoint)
            .map_err(|e| AddError::Malformed(WitnessError::Checkpoint(e)))?;
        let checkpoint = Checkpoint::parse(note.text()).map_err(AddError::BadCheckpoint)?;
        let log = self
            .logs
            .get(checkpoint.origin())
            .ok_or_else(|| AddError::UnknownOrigin(checkpoint.origin().to_owned()))?;
        let verified = note.verify(&log.keys).map_err(AddError::Signature)?;
        if req.old_size > checkpoint.size() {
            return Err(AddError::OldSizeAboveSize {
                old_size: req.old_size,
                size: checkpoint.size(),
            });
        }
        Ok(Authenticated {
            log,
            req,
            note,
            checkpoint,
            verified,
        })
    }

    /// The checks against the latest cosigned state ([`check_transition`]), then the audit
    /// (with `--audit`), which returns the audit state at the new size. The audit state is
    /// taken out of `state` meanwhile; on failure it is put back or reloaded from disk.
    async fn check_and_audit(
        &self,
        a: &Authenticated<'_>,
        state: &mut LogState,
        now: u64,
    ) -> Result<Option<AuditState>, AddError> {
        check_transition(
            state.size,
            &state.root,
            a.req.old_size,
            &a.req.proof,
            &a.checkpoint,
        )?;
        let Some(auditor) = &self.auditor else {
            return Ok(None);
        };
        if state.audit.is_none() {
            self.reload_audit(a.log, a.checkpoint.origin(), state).await;
        }
        // Never cosign unaudited in audit mode.
        let current = state
            .audit
            .take()
            .ok_or(AddError::Audit(AuditError::Unloaded))?;
        match auditor
            .audit(a.log.url.as_deref(), current, &a.checkpoint, now)
            .await
        {
            Ok(next) => Ok(Some(next)),
            Err(failure) => {
                match failure.state {
                    Some(unchanged) => state.audit = Some(unchanged),
                    None => self.reload_audit(a.log, a.checkpoint.origin(), state).await,
                }
                Err(AddError::Audit(failure.error))
            }
        }
    }

    /// Replaces the in-memory audit state with the newest snapshot not above the committed
    /// size (leaves `None` and traces the error if that fails).
    async fn reload_audit(&self, log: &Log, origin: &str, state: &mut LogState) {
        state.audit = None;
        let Some(auditor) = self.auditor.clone() else {
            return;
        };
        let store = Arc::clone(&self.store);
        let (origin, url, size) = (origin.to_owned(), log.url.clone(), state.size);
        let loaded = tokio::task::spawn_blocking(move || {
            auditor.load(&store, &origin, url.as_deref(), size)
        })
        .await;
        match loaded {
            Ok(Ok(audit)) => {
                state.snapshot = audit.size();
                state.audit = Some(audit);
            }
            Ok(Err(e)) => tracing::error!(error = %e, "cannot reload the audit state"),
            Err(e) => tracing::error!(error = %e, "audit reload task failed"),
        }
    }

    /// Keeps a refused, validly log-signed request as evidence of possible log misbehaviour
    /// (the spec's MAY): our latest cosigned checkpoint, the request body and the reason.
    /// Best effort: failures are traced, never change the answer.
    async fn keep_evidence(
        &self,
        log: &Log,
        origin: &str,
        size: u64,
        body: &[u8],
        reason: &AddError,
        now: u64,
    ) {
        tracing::warn!(origin, size, %reason, "refused a validly signed checkpoint; keeping evidence");
        let cosigned = log
            .served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let evidence = serde_json::json!({
            "origin": origin,
            "time": now,
            "reason": reason.to_string(),
            "cosigned": cosigned.map(|c| String::from_utf8_lossy(&c).into_owned()),
            "request": String::from_utf8_lossy(body),
        });
        let store = Arc::clone(&self.store);
        let origin = origin.to_owned();
        let name = format!("{now}-{size}");
        let bytes = evidence.to_string().into_bytes();
        let saved =
            tokio::task::spawn_blocking(move || store.save_evidence(&origin, &name, &bytes)).await;
        match saved {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => tracing::warn!("evidence directory full; not kept"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot keep evidence"),
            Err(e) => tracing::warn!(error = %e, "evidence task failed"),
        }
    }

    /// Writes the audit snapshot (if any), then the checkpoint (the commit point), off the
    /// runtime.
    async fn persist(
        &self,
        origin: &str,
        size: u64,
        audit: Option<&AuditState>,
        cosigned: &[u8],
    ) -> Result<(), AddError> {
        let store = Arc::clone(&self.store);
        let origin = origin.to_owned();
        let audit_bytes = audit.map(AuditState::to_bytes);
        let cosigned = cosigned.to_vec();
        tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
            if let Some(bytes) = &audit_bytes {
                store.save_audit(&origin, size, bytes)?;
            }
            store.save_checkpoint(&origin, &cosigned)?;
            if audit_bytes.is_some() {
                store.prune_audit(&origin, Some(size));
            }
            Ok(())
        })
        .await
        .map_err(|e| {
            AddError::Storage(StoreError::Io {
                action: "join the storage task for",
                path: std::path::PathBuf::from(e.to_string()),
                source: std::io::Error::other("storage task panicked or was cancelled"),
            })
        })??;
        Ok(())
    }

    /// The latest cosigned checkpoint of the log whose origin hashes to `origin_hash` (lowercase
    /// hex SHA-256), with the log's signatures and this witness's cosignature; `None` if the
    /// origin is unknown or was never cosigned.
    pub fn latest_checkpoint(&self, origin_hash: &str) -> Option<Arc<[u8]>> {
        let origin = self.by_hash.get(origin_hash)?;
        let log = self.logs.get(origin)?;
        log.served
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The spec's checks of a new checkpoint against the latest cosigned `(size, root)`, in the
/// spec's order after the signature: old size match (409), empty-tree root (422), no proof from
/// 0 (422), consistency proof (422; for equal sizes this requires equal roots).
///
/// # Errors
/// [`AddError::Conflict`], [`AddError::EmptyTreeRoot`], [`AddError::ProofFromZero`] or
/// [`AddError::Inconsistent`].
pub fn check_transition(
    current_size: u64,
    current_root: &Hash,
    old_size: u64,
    proof: &[Hash],
    new: &Checkpoint,
) -> Result<(), AddError> {
    if old_size != current_size {
        return Err(AddError::Conflict {
            old_size,
            current: current_size,
        });
    }
    if new.size() == 0 && new.root() != empty_root() {
        return Err(AddError::EmptyTreeRoot(new.root()));
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return Err(AddError::ProofFromZero(proof.len()));
        }
        return Ok(());
    }
    verify_consistency(old_size, new.size(), current_root, &new.root(), proof)
        .map_err(AddError::Inconsistent)
}

/// Reads one origin's stored checkpoint (and audit state) at start; also returns the stored
/// note to serve.
fn load_state(
    store: &Store,
    origin: &str,
    auditor: Option<&Auditor>,
    url: Option<&str>,
) -> Result<(LogState, Option<Vec<u8>>), StartError> {
    let corrupt = |defect: StoredDefect| StartError::CorruptState {
        origin: origin.to_owned(),
        defect,
    };
    let mut state = LogState {
        root: empty_root(),
        ..LogState::default()
    };
    let stored = store.load_checkpoint(origin)?;
    if let Some(bytes) = &stored {
        let note = Note::parse(bytes).map_err(|e| corrupt(e.into()))?;
        let cp = Checkpoint::parse(note.text()).map_err(|e| corrupt(e.into()))?;
        if cp.origin() != origin {
            return Err(corrupt(StoredDefect::OtherOrigin(cp.origin().to_owned())));
        }
        state.size = cp.size();
        state.root = cp.root();
    }
    if let Some(auditor) = auditor {
        let audit = auditor.load(store, origin, url, state.size)?;
        state.snapshot = audit.size();
        state.audit = Some(audit);
    }
    Ok((state, stored))
}
