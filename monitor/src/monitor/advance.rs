//! Advancing the verified tree: a new checkpoint is accepted only if the entries served
//! rebuild its root on top of the tree verified before (DESIGN.md §6). A failure is
//! `tile-mismatch` (the log's own checkpoint), `fork-risk` (a checkpoint seen elsewhere) or,
//! when the log's tiles rebuild the new checkpoint from entry 0 but not the old one, `fork`.

use taglog_proofs::hash::Hash;

use super::{Monitor, MonitorError};
use crate::alerts::Alert;
use crate::checks::{self, SeenCheckpoint};
use crate::follow::{self, FetchError};
use crate::state::Verified;

/// The most entry bytes read while verifying a checkpoint that are kept for the replay
/// (beyond it, the replay reads the entries again).
pub const MAX_PREFETCH_BYTES: usize = 256 << 20;

impl Monitor {
    /// Tries to verify `target` from the tiles. `Err(reason, computed root)` if it fails.
    async fn try_advance(
        &mut self,
        target: &SeenCheckpoint,
    ) -> Result<Result<(), (String, Option<Hash>)>, MonitorError> {
        let from = self.dir.tree.size();
        let to = target.checkpoint.size();
        // Only leaf hashes are kept (32 bytes per entry); entries are read a range at a
        // time, and the first missing or malformed bundle stops the attempt.
        // When the replay is caught up, the entries read (up to MAX_PREFETCH_BYTES) are kept
        // for it, so each entry is fetched once.
        let mut leaves = Vec::new();
        let mut keep: Vec<Vec<u8>> = Vec::new();
        let mut keeping = from == self.dir.state.replayed;
        let mut kept_bytes = 0usize;
        let mut start = from;
        while start < to {
            let end = to.min(start.saturating_add(self.config.chunk.max(256)));
            match self.client.entries(start, end, to).await {
                Ok(e) => {
                    leaves.extend(follow::leaf_hashes(&e));
                    kept_bytes = kept_bytes.saturating_add(e.iter().map(Vec::len).sum());
                    keeping &= kept_bytes <= MAX_PREFETCH_BYTES;
                    if keeping {
                        keep.extend(e);
                    }
                }
                Err(e) if e.is_bad_content() || matches!(e, FetchError::NotFound { .. }) => {
                    return Ok(Err((e.to_string(), None)))
                }
                Err(e) => return Err(e.into()),
            }
            start = end;
        }
        let root = follow::extend_root(&self.dir.tree, &leaves).map_err(MonitorError::Tree)?;
        if root != target.checkpoint.root() {
            return Ok(Err((
                format!(
                    "entries {from}..{to} rebuild root {}, not the checkpoint's {}",
                    root.to_base64(),
                    target.checkpoint.root().to_base64()
                ),
                Some(root),
            )));
        }
        self.dir.append_leaves(&leaves)?;
        self.prefetched = (!keep.is_empty()).then_some((from, keep));
        if to > self.dir.state.replayed {
            self.dir.state.boundaries.insert(to);
        }
        self.dir.state.verified = Some(Verified {
            note: checks::note_text(&target.note),
            size: to,
            root: root.to_base64(),
        });
        self.dir.state.last_progress = self.now();
        self.dir.save()?;
        tracing::info!(size = to, source = %target.source, "verified checkpoint");
        Ok(Ok(()))
    }

    pub(super) async fn advance(
        &mut self,
        log_cp: &SeenCheckpoint,
        others: &[SeenCheckpoint],
        now: u64,
    ) -> Result<(), MonitorError> {
        let verified = self.dir.state.verified_size();
        let mut bigger: Vec<&SeenCheckpoint> = others
            .iter()
            .filter(|c| c.checkpoint.size() > verified.max(log_cp.checkpoint.size()))
            .collect();
        bigger.sort_by_key(|c| std::cmp::Reverse(c.checkpoint.size()));
        for other in bigger {
            match self.try_advance(other).await? {
                Ok(()) => break,
                Err((reason, computed)) => {
                    if let Some(fork) = self.diagnose_fork(other, computed, now).await? {
                        self.queue(fork);
                        continue;
                    }
                    let vnote = self.dir.state.verified.as_ref().map(|v| v.note.clone());
                    let a = checks::fork_risk(
                        &self.origin,
                        vnote.as_deref().map(str::as_bytes),
                        other,
                        &reason,
                        now,
                    );
                    self.queue(a);
                }
            }
        }
        if log_cp.checkpoint.size() > self.dir.state.verified_size()
            || (self.dir.state.verified.is_none() && log_cp.checkpoint.size() == 0)
        {
            if let Err((reason, computed)) = self.try_advance(log_cp).await? {
                if let Some(fork) = self.diagnose_fork(log_cp, computed, now).await? {
                    self.queue(fork);
                    return Ok(());
                }
                let a = checks::tile_mismatch(
                    &self.origin,
                    log_cp,
                    self.dir.tree.size(),
                    computed,
                    &reason,
                    now,
                );
                self.queue(a);
            }
        }
        Ok(())
    }

    /// After the new entries failed to extend the verified tree to `target`: if the log's
    /// tiles, read from entry 0, do rebuild `target`, the log rewrote history it had
    /// already signed. That is a `fork`, proven by a consistency proof from the rebuilt
    /// tree (it verifies against `target` and implies another root at the verified size).
    async fn diagnose_fork(
        &self,
        target: &SeenCheckpoint,
        computed: Option<Hash>,
        now: u64,
    ) -> Result<Option<Alert>, MonitorError> {
        let Some(verified) = self.dir.state.verified.clone() else {
            return Ok(None);
        };
        if computed.is_none() || verified.size == 0 {
            return Ok(None);
        }
        let size = target.checkpoint.size();
        let mut tree = taglog_proofs::tree::MemoryTree::new();
        let mut start = 0;
        while start < size {
            let end = size.min(start.saturating_add(self.config.chunk.max(256)));
            let entries = match self.client.entries(start, end, size).await {
                Ok(e) => e,
                Err(e) if e.is_bad_content() || matches!(e, FetchError::NotFound { .. }) => {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            };
            for e in &entries {
                tree.append(e).map_err(MonitorError::Tree)?;
            }
            start = end;
        }
        if tree.size() != size || tree.root() != target.checkpoint.root() {
            return Ok(None);
        }
        let ours = self
            .open_note(verified.note.as_bytes(), "verified")
            .map_err(MonitorError::StoredCheckpoint)?;
        Ok(checks::check_against_tree(
            &self.origin,
            &target.note,
            &tree,
            &ours,
            now,
        ))
    }
}
