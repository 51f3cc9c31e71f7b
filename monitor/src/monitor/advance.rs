//! Advancing the verified tree: a new checkpoint is accepted only if the entries served
//! rebuild its root on top of the tree verified before (DESIGN.md §6). A failure is
//! `tile-mismatch` (the log's own checkpoint), `fork-risk` (a checkpoint seen elsewhere) or,
//! when the log's tiles rebuild the new checkpoint from entry 0 but not the old one, `fork`.

use taglog_proofs::hash::Hash;

use super::{Monitor, MonitorError};
use crate::alerts::Alert;
use crate::checks::{self, SeenCheckpoint};
use crate::follow::{self, FetchError};
use crate::state::{StateError, Verified};
use crate::treefile::TreeFile;

/// The scratch file in the state directory that holds a tree rebuilt from entry 0 while a
/// fork is diagnosed.
const FORK_CHECK_FILE: &str = "fork-check.bin";

/// A scratch file, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover is replaced by the next diagnosis.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The most entry bytes read while verifying a checkpoint that are kept for the replay
/// (beyond it, the replay reads the entries again). Bounded so that the monitor's memory does
/// not grow with the range verified in one step.
pub const MAX_PREFETCH_BYTES: usize = 64 << 20;

impl Monitor {
    /// Tries to verify `target` from the tiles. `Err(reason, computed root)` if it fails.
    ///
    /// The entries' leaf hashes are appended to the verified tree's file chunk by chunk as
    /// they arrive (nothing of the range but the kept entries stays in memory), and the
    /// append is committed only if the new root is the checkpoint's; otherwise it is
    /// truncated away.
    async fn try_advance(
        &mut self,
        target: &SeenCheckpoint,
    ) -> Result<Result<(), (String, Option<Hash>)>, MonitorError> {
        let from = self.dir.tree.size();
        let to = target.checkpoint.size();
        self.dir.tree.begin().map_err(StateError::from)?;
        // Entries are read a range at a time, and the first missing or malformed bundle stops
        // the attempt. When the replay is caught up, the entries read (up to
        // MAX_PREFETCH_BYTES) are kept for it, so each entry is fetched once.
        let mut keep: Vec<Vec<u8>> = Vec::new();
        let mut keeping = from == self.dir.state.replayed;
        let mut kept_bytes = 0usize;
        let mut start = from;
        while start < to {
            let end = to.min(start.saturating_add(self.config.chunk.max(256)));
            match self.client.entries(start, end, to).await {
                Ok(e) => {
                    for h in follow::leaf_hashes(&e) {
                        self.dir.tree.push(h).map_err(StateError::from)?;
                    }
                    kept_bytes = kept_bytes.saturating_add(e.iter().map(Vec::len).sum());
                    keeping &= kept_bytes <= MAX_PREFETCH_BYTES;
                    if keeping {
                        keep.extend(e);
                    } else {
                        keep = Vec::new();
                    }
                }
                Err(e) if e.is_bad_content() || matches!(e, FetchError::NotFound { .. }) => {
                    self.dir.tree.begin().map_err(StateError::from)?;
                    return Ok(Err((e.to_string(), None)));
                }
                Err(e) => {
                    self.dir.tree.begin().map_err(StateError::from)?;
                    return Err(e.into());
                }
            }
            start = end;
        }
        let got = self.dir.tree.pending_size();
        let root = self.dir.tree.pending_root().map_err(MonitorError::Tree)?;
        if got != to || root != target.checkpoint.root() {
            self.dir.tree.begin().map_err(StateError::from)?;
            return Ok(Err((
                format!(
                    "entries {from}..{to} rebuild root {}, not the checkpoint's {}",
                    root.to_base64(),
                    target.checkpoint.root().to_base64()
                ),
                Some(root),
            )));
        }
        self.dir.tree.commit().map_err(StateError::from)?;
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
        // The rebuilt tree goes to a scratch file beside the verified one (removed after), so
        // memory does not grow with the log here either.
        let scratch = Scratch(self.dir.path().join(FORK_CHECK_FILE));
        let mut tree = TreeFile::create(&scratch.0).map_err(StateError::from)?;
        if !self.rebuild_from_zero(&mut tree, size).await?
            || tree.pending_size() != size
            || tree.pending_root().map_err(MonitorError::Tree)? != target.checkpoint.root()
        {
            return Ok(None);
        }
        let ours = self
            .open_note(verified.note.as_bytes(), "verified")
            .map_err(MonitorError::StoredCheckpoint)?;
        Ok(checks::check_against_tree(
            &self.origin,
            &target.note,
            &tree,
            size,
            &ours,
            now,
        ))
    }

    /// Appends the leaf hashes of entries `0..size` to `tree` (uncommitted). `Ok(false)` if
    /// the log does not serve them.
    async fn rebuild_from_zero(
        &self,
        tree: &mut TreeFile,
        size: u64,
    ) -> Result<bool, MonitorError> {
        let mut start = 0;
        while start < size {
            let end = size.min(start.saturating_add(self.config.chunk.max(256)));
            let entries = match self.client.entries(start, end, size).await {
                Ok(e) => e,
                Err(e) if e.is_bad_content() || matches!(e, FetchError::NotFound { .. }) => {
                    return Ok(false)
                }
                Err(e) => return Err(e.into()),
            };
            for h in follow::leaf_hashes(&entries) {
                tree.push(h).map_err(StateError::from)?;
            }
            start = end;
        }
        Ok(true)
    }
}
