//! Replaying verified entries in checked ranges: each range is fetched again, every entry
//! is checked against its verified leaf hash, run through the replay checker, and the range,
//! the replay state and the alerts it raised are saved in one atomic write (DESIGN.md §6).
//!
//! No alert is dropped for want of evidence: an alert that refers back to an earlier entry
//! (rebind, version, merge delay) carries that entry's bytes, or, when the log no longer
//! serves them correctly, the leaf hash and inclusion proof from the verified tree and the
//! reason; a transient fetch failure fails the range without saving it, so a later poll
//! raises the alert.

use serde_json::Value;
use taglog_proofs::hash::leaf_hash;
use taglog_proofs::leaves::Leaf;
use taglog_proofs::tree::TreeError;

use super::{Monitor, MonitorError, PollReport};
use crate::alerts::Alert;
use crate::checks;
use crate::follow::FetchError;
use crate::replay::{Replayer, Violation};

impl Monitor {
    /// Entries `start..end` of the verified tree, each checked against its verified leaf
    /// hash. `Err(index)` names the first entry that differs.
    async fn verified_entries(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Result<Vec<Vec<u8>>, (u64, String)>, MonitorError> {
        let size = self.dir.state.verified_size();
        let cached = self.prefetched.as_ref().and_then(|(at, e)| {
            let lo = usize::try_from(start.checked_sub(*at)?).ok()?;
            let hi = usize::try_from(end.checked_sub(*at)?).ok()?;
            e.get(lo..hi).map(<[Vec<u8>]>::to_vec)
        });
        let fetched = match cached {
            Some(e) => Ok(e),
            None => self.client.entries(start, end, size).await,
        };
        let entries = match fetched {
            Ok(e) => e,
            Err(e) if e.is_bad_content() || matches!(e, FetchError::NotFound { .. }) => {
                return Ok(Err((start, e.to_string())))
            }
            Err(e) => return Err(e.into()),
        };
        for (i, e) in (start..end).zip(&entries) {
            let ours = match self.dir.tree.leaf_hash(i) {
                Ok(h) => Some(h),
                Err(TreeError::IndexOutOfRange { .. }) => None,
                Err(e) => return Err(MonitorError::Tree(e)),
            };
            if ours != Some(leaf_hash(e)) {
                return Ok(Err((i, format!("entry {i} differs from the verified one"))));
            }
        }
        if entries.len() as u64 != end - start {
            return Ok(Err((start, "short read".into())));
        }
        Ok(Ok(entries))
    }

    /// Evidence for an earlier verified entry (the previous binding of a rebind or version
    /// alert, the binding of a merge-delay alert): its bytes with an inclusion proof, or, if
    /// the log no longer serves them correctly, what the verified tree holds and why.
    ///
    /// # Errors
    /// A transient fetch failure (the log unreachable, a 5xx): the caller fails the range
    /// without saving progress, so the alert is raised by a later poll, never dropped.
    async fn entry_evidence(&self, index: u64) -> Result<Value, MonitorError> {
        let size = self.dir.state.verified_size();
        let tree = &self.dir.tree;
        Ok(match self.verified_entries(index, index + 1).await? {
            Ok(e) => match e.first() {
                Some(e) => checks::entry_evidence(index, e, tree, size),
                None => checks::unavailable_entry_evidence(index, "short read", tree, size),
            },
            Err((_, reason)) => checks::unavailable_entry_evidence(index, &reason, tree, size),
        })
    }

    /// Replays verified entries in checked ranges.
    pub(super) async fn replay(&mut self, report: &mut PollReport) -> Result<(), MonitorError> {
        let Some(verified) = self.dir.state.verified.clone() else {
            return Ok(());
        };
        let size = verified.size;
        let note = verified.note.into_bytes();
        let chunk = self.config.chunk.max(1);
        while self.dir.state.replayed < size {
            let start = self.dir.state.replayed;
            let mut end = size.min(start.saturating_add(chunk));
            if let Some(max) = self.config.max_entries {
                let left = max.saturating_sub(report.replayed_now);
                if left == 0 {
                    break;
                }
                end = end.min(start.saturating_add(left));
            }
            let entries = match self.verified_entries(start, end).await? {
                Ok(e) => e,
                Err((index, reason)) => {
                    let cp = self
                        .open_note(&note, "verified")
                        .map_err(MonitorError::StoredCheckpoint)?;
                    let a =
                        checks::tile_mismatch(&self.origin, &cp, index, None, &reason, self.now());
                    self.queue(a);
                    return Ok(());
                }
            };
            let alerts = match self.replay_range(start, &entries, size, &note).await {
                Ok(a) => a,
                Err(e) => {
                    // Undo the partial range in memory; the saved state is untouched (and so
                    // is the map version it names).
                    self.replayer =
                        Replayer::on_disk(&self.origin, &self.dir.state.replay, self.db.clone())?;
                    self.replayer.set_verify_threads(self.config.verify_threads);
                    return Err(e);
                }
            };
            for a in alerts {
                self.queue(a);
            }
            self.dir.state.replay = self.replayer.state();
            self.dir.state.replayed = end;
            self.dir.state.boundaries.retain(|&b| b > end);
            // Drop what the replay consumed from the prefetched entries.
            if let Some((at, e)) = &mut self.prefetched {
                let used = usize::try_from(end.saturating_sub(*at)).unwrap_or(usize::MAX);
                if used >= e.len() {
                    self.prefetched = None;
                } else {
                    e.drain(..used);
                    *at = end;
                }
            }
            // The map groups and notice rows this range wrote are durable before the state
            // that refers to them; the groups its map no longer uses go after.
            self.replayer.map().sync()?;
            self.dir.save()?;
            self.replayer.map_mut().saved()?;
            let n = end - start;
            report.replayed_now += n;
            self.metrics.entries_replayed += n;
            tracing::debug!(replayed = end, size, "checked entries");
            if self.config.progress {
                let pct = end.saturating_mul(100) / size.max(1);
                eprint!("\rchecked {end} of {size} entries ({pct}%)");
                if end == size {
                    eprintln!();
                }
            }
            self.deliver(report).await?;
        }
        Ok(())
    }

    /// Checks one range; returns its alerts and updates the replayer and notices in memory.
    async fn replay_range(
        &mut self,
        start: u64,
        entries: &[Vec<u8>],
        size: u64,
        note: &[u8],
    ) -> Result<Vec<Alert>, MonitorError> {
        let now = self.now();
        let mut alerts = Vec::new();
        let mut notices = self.dir.state.notices.clone();
        self.replayer.set_clock(Some(now));
        let checked = self.replayer.check_many(start, entries)?;
        for ((i, entry), checked) in (start..).zip(entries).zip(checked) {
            let (leaf, findings) = (checked.leaf, checked.violations);
            // Evidence (inclusion proof, base64) is built only for entries that alert.
            let tree = &self.dir.tree;
            let ev = || checks::entry_evidence(i, entry, tree, size);
            for f in &findings {
                let previous = match f {
                    Violation::Version {
                        previous: Some(p), ..
                    } => Some(self.entry_evidence(p.index).await?),
                    _ => None,
                };
                alerts.push(checks::finding_alert(
                    &self.origin,
                    f,
                    note,
                    ev(),
                    previous,
                    now,
                ));
            }
            match &leaf {
                Some(Leaf::Binding(b)) => {
                    if let Some(reason) = self.config.watch.reason(b) {
                        alerts.push(checks::watched_alert(
                            &self.origin,
                            b,
                            &reason,
                            note,
                            ev(),
                            now,
                        ));
                    }
                    if let Some(earlier) = checks::note_binding(&self.db, &mut notices, i, b)? {
                        let prev = self.entry_evidence(earlier).await?;
                        alerts.push(checks::rebind_alert(&self.origin, b, note, ev(), prev, now));
                    }
                }
                Some(Leaf::State(s)) => {
                    let late =
                        checks::settle(&mut notices, s.time, self.config.mmd.unwrap_or(u64::MAX));
                    if let Some(mmd) = self.config.mmd {
                        for (bi, t) in late {
                            let bev = self.entry_evidence(bi).await?;
                            alerts.push(checks::mmd_alert(
                                &self.origin,
                                &checks::LateBinding {
                                    index: bi,
                                    publisher_time: t,
                                    state_time: s.time,
                                    mmd,
                                },
                                note,
                                bev,
                                ev(),
                                now,
                            ));
                        }
                    }
                }
                _ => {}
            }
            // Every verified checkpoint size (not only the newest) must end in a state leaf.
            if i + 1 == size || self.dir.state.boundaries.contains(&(i + 1)) {
                if let Some(f) = self.replayer.end_checkpoint(i + 1) {
                    alerts.push(checks::finding_alert(
                        &self.origin,
                        &f,
                        note,
                        ev(),
                        None,
                        now,
                    ));
                }
            }
        }
        self.dir.state.notices = notices;
        Ok(alerts)
    }
}
