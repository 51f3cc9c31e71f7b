//! Which objects of the bucket a newer checkpoint superseded, and when they may go.
//!
//! Two kinds of object are written for one checkpoint and needed by no later one:
//! - a partial hash tile or entry bundle (`.p/<W>`): C2SP tlog-tiles lets a log delete it once
//!   the full tile exists, because a reader of an older checkpoint finds its hashes or entries
//!   at the start of the full tile (proofs' `tiles::partial_from_full`). Here a partial tile
//!   is superseded once the bucket's checkpoint covers its full tile;
//! - an edge object `edge/<N>`, superseded once the bucket's checkpoint is larger than `N`:
//!   a reader that fetched checkpoint `N` and then finds no `edge/<N>` reads the tiles instead;
//! - a pack of map objects none of which is in the map of the bucket's checkpoint (the
//!   `packs` module says which, [`Retired::superseded`]): a reader proves against the newest
//!   checkpoint it fetched, so only one older by less than the grace reads it.
//!
//! A superseded object is deleted only after a grace period, so that a reader that fetched an
//! older checkpoint a moment ago (a CDN may serve one a few seconds old) finds everything it
//! names and does not need its fallback. The bookkeeping is in memory: at start the publisher
//! lists the bucket once and feeds what it finds through [`Retired::known`], so objects left
//! behind by a crash or a stop are found again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use taglog_proofs::static_layout::ObjectPath;
use taglog_proofs::tiles::TilePath;

/// Most superseded objects awaiting deletion; beyond it newer ones are forgotten (left in
/// the bucket until the next start lists them again).
pub const MAX_RETIRED: usize = 1 << 20;

/// Superseded objects and the partial tiles and edge objects that will be.
#[derive(Debug, Default)]
pub(super) struct Retired {
    /// Widths of the partial tiles in the bucket, by their full tile.
    partials: BTreeMap<TilePath, BTreeSet<u16>>,
    /// Sizes of the edge objects in the bucket.
    edges: BTreeSet<u64>,
    /// Superseded objects, in the order they were superseded, with when.
    queue: VecDeque<(Instant, ObjectPath)>,
}

impl Retired {
    /// Notes an object that is in the bucket (uploaded, or found by a listing). Only partial
    /// tiles and edge objects are ever superseded; anything else is ignored.
    pub(super) fn known(&mut self, path: &ObjectPath) {
        match path {
            ObjectPath::Tile(t) if !t.is_full() => {
                self.partials.entry(t.full()).or_default().insert(t.width());
            }
            ObjectPath::Edge(n) => {
                self.edges.insert(*n);
            }
            _ => {}
        }
    }

    /// The bucket's checkpoint is now of `size` (at `now`): every known partial tile whose
    /// full tile the tree of `size` has, and every edge object of a smaller size, is
    /// superseded.
    pub(super) fn supersede(&mut self, size: u64, now: Instant) {
        let later = self.edges.split_off(&size);
        for n in std::mem::replace(&mut self.edges, later) {
            self.push(now, ObjectPath::Edge(n));
        }
        let full: Vec<TilePath> = self
            .partials
            .keys()
            .filter(|t| t.width_at(size) == t.width())
            .copied()
            .collect();
        for t in full {
            for w in self.partials.remove(&t).unwrap_or_default() {
                if let Ok(p) = TilePath::new(t.kind(), t.index(), w) {
                    self.push(now, ObjectPath::Tile(p));
                }
            }
        }
    }

    /// `path` was superseded at `now` (a pack no map object of the bucket's checkpoint is in).
    pub(super) fn superseded(&mut self, path: ObjectPath, now: Instant) {
        self.push(now, path);
    }

    fn push(&mut self, at: Instant, path: ObjectPath) {
        if self.queue.len() < MAX_RETIRED {
            self.queue.push_back((at, path));
        }
    }

    /// Up to `max` objects superseded at least `grace` before `now`, oldest first, taken
    /// out of the queue.
    pub(super) fn due(&mut self, now: Instant, grace: Duration, max: usize) -> Vec<ObjectPath> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.queue.front() {
                Some(&(at, p)) if at + grace <= now => {
                    out.push(p);
                    self.queue.pop_front();
                }
                _ => break,
            }
        }
        out
    }

    /// Puts back objects whose deletion failed, to be tried again `delay` plus one grace
    /// period after `now` (so that a failing store is not retried in a tight loop when the
    /// grace is zero). Objects superseded meanwhile queue behind them.
    pub(super) fn retry(
        &mut self,
        paths: impl IntoIterator<Item = ObjectPath>,
        now: Instant,
        delay: Duration,
    ) {
        for p in paths {
            self.push(now + delay, p);
        }
    }

    /// When the oldest superseded object becomes due.
    pub(super) fn next_due(&self, grace: Duration) -> Option<Instant> {
        self.queue.front().map(|&(at, _)| at + grace)
    }

    /// Superseded objects awaiting deletion.
    pub(super) fn pending(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn tile(p: &str) -> ObjectPath {
        ObjectPath::Tile(TilePath::parse(p).unwrap())
    }

    fn paths(v: &[ObjectPath]) -> Vec<String> {
        v.iter().map(ObjectPath::to_path).collect()
    }

    #[test]
    fn partials_go_once_their_full_tile_is_covered_and_edges_once_passed() {
        let mut r = Retired::default();
        let t0 = Instant::now();
        for p in [
            "tile/entries/000.p/10",
            "tile/entries/000.p/200",
            "tile/0/000.p/200",
            "tile/entries/001.p/3",
            "tile/1/000.p/1",
            "tile/0/001",
        ] {
            r.known(&tile(p));
        }
        r.known(&ObjectPath::Edge(200));
        r.known(&ObjectPath::Edge(259));
        // At 259 (tile 0 full, tile 1 partial of width 3): the partials of tile 0 and the
        // edge of 200 are superseded; those of 259 and the level-1 partial are not.
        r.supersede(259, t0);
        assert_eq!(r.pending(), 4);
        let grace = Duration::from_secs(60);
        assert!(r.due(t0, grace, 100).is_empty(), "nothing before the grace");
        assert_eq!(r.next_due(grace), Some(t0 + grace));
        let due = r.due(t0 + grace, grace, 100);
        let mut got = paths(&due);
        got.sort();
        assert_eq!(
            got,
            [
                "edge/200",
                "tile/0/000.p/200",
                "tile/entries/000.p/10",
                "tile/entries/000.p/200"
            ]
        );
        assert_eq!(r.pending(), 0);
        // The same size again supersedes nothing more; a size past the level-1 tile does.
        r.supersede(259, t0);
        assert_eq!(r.pending(), 0);
        r.supersede(65_536, t0);
        let mut got = paths(&r.due(t0, Duration::ZERO, 100));
        got.sort();
        assert_eq!(got, ["edge/259", "tile/1/000.p/1", "tile/entries/001.p/3"]);
    }

    #[test]
    fn due_takes_at_most_max_and_failures_come_back_later() {
        let mut r = Retired::default();
        let t0 = Instant::now();
        for n in 1..=5 {
            r.known(&ObjectPath::Edge(n));
        }
        r.supersede(10, t0);
        let first = r.due(t0, Duration::ZERO, 2);
        assert_eq!(paths(&first), ["edge/001", "edge/002"]);
        let later = t0 + Duration::from_secs(1);
        r.retry(first, t0, Duration::from_secs(1));
        assert_eq!(
            paths(&r.due(t0, Duration::ZERO, 100)),
            ["edge/003", "edge/004", "edge/005"]
        );
        assert!(r.due(t0, Duration::ZERO, 100).is_empty());
        assert_eq!(paths(&r.due(later, Duration::ZERO, 100)).len(), 2);
    }
}
