//! The log's time: the `time` of each state leaf (DESIGN §3.5, non-decreasing).
//!
//! Guarantees: log time never decreases, and while the log runs it advances at most as fast
//! as the monotonic clock allows: by the time elapsed since the previous state leaf, plus
//! the larger of [`MAX_CLOCK_STEP`] and that elapsed time again (so a corrected clock is
//! caught up with at twice the real rate). A wall clock further ahead is a jump: the time
//! is capped, and the caller alerts. So one forward jump does not persist in every later
//! state leaf (auditing witnesses refuse leaf times more than 5 minutes ahead of theirs).
//!
//! Out of scope: the first state leaf after a start, which takes the wall clock as it is
//! (the process cannot tell a jump from downtime); operators start the server on a
//! synchronised clock.

use std::time::Instant;

/// How far log time may run ahead of the monotonic clock in one step, in seconds.
pub const MAX_CLOCK_STEP: u64 = 60;

/// A wall-clock reading that was ahead of what the monotonic clock allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jump {
    /// The wall clock read.
    pub wall: u64,
    /// The time used instead.
    pub capped: u64,
}

/// The log time of the newest state leaf and when (monotonic) it was taken.
#[derive(Debug, Clone, Copy)]
pub struct LogClock {
    last: u64,
    at: Option<Instant>,
}

impl LogClock {
    /// A clock continuing from the stored log time `last` (0 for a new log).
    pub fn new(last: u64) -> LogClock {
        LogClock { last, at: None }
    }

    /// The time for the next state leaf given the wall clock `wall` read at `now`, and the
    /// jump if it had to be capped. Does not advance the clock: call [`LogClock::commit`]
    /// once the leaf is durable.
    pub fn next(&self, wall: u64, now: Instant) -> (u64, Option<Jump>) {
        let Some(at) = self.at else {
            // First leaf since start: nothing to compare the wall clock with.
            return (wall.max(self.last), None);
        };
        let elapsed = now
            .saturating_duration_since(at)
            .as_secs()
            .saturating_add(1);
        let cap = self
            .last
            .saturating_add(elapsed)
            .saturating_add(elapsed.max(MAX_CLOCK_STEP));
        if wall > cap {
            (cap, Some(Jump { wall, capped: cap }))
        } else {
            (wall.max(self.last), None)
        }
    }

    /// Records that a state leaf with `time` was committed at `now`.
    pub fn commit(&mut self, time: u64, now: Instant) {
        self.last = self.last.max(time);
        self.at = Some(now);
    }

    /// The log time of the newest state leaf.
    pub fn last(&self) -> u64 {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn never_back_capped_ahead_and_catching_up() {
        let t0 = Instant::now();
        let mut c = LogClock::new(1000);
        assert_eq!(c.next(900, t0), (1000, None), "never back, even at start");
        assert_eq!(
            c.next(5000, t0),
            (5000, None),
            "the first leaf trusts the wall"
        );
        c.commit(1000, t0);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(c.next(1010, t1), (1010, None));
        let (time, jump) = c.next(1_000_000, t1);
        assert_eq!(time, 1000 + 11 + MAX_CLOCK_STEP);
        assert_eq!(jump.map(|j| j.wall), Some(1_000_000));
        c.commit(time, t1);
        // Much later, a large (real) correction is caught up at twice the real rate.
        let t2 = t1 + Duration::from_secs(600);
        let (time2, jump) = c.next(10_000, t2);
        assert!(jump.is_some());
        assert_eq!(time2, time + 601 + 601);
        c.commit(time2, t2);
        assert_eq!(c.next(time2 - 5, t2), (time2, None), "never back");
    }
}
