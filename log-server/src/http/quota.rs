//! Per-publisher-key submission quota (DESIGN §5 "429 per-key quota"): one token bucket per
//! allowlisted key, refilled at `--publisher-rate` bindings per second up to
//! `--publisher-burst`.
//!
//! A token is taken only for a submission that would add a leaf: after the signature verified
//! under an allowlisted key (so nobody can drain another publisher's bucket by sending
//! unsigned junk in its name) and after the duplicate and version checks (a replay of a
//! logged entry is answered from the index and costs nothing). The number of buckets is
//! therefore bounded by the allowlist. Unsigned floods are bounded by the connection and
//! request limits instead. Buckets live in memory: a restart refills them.
//! Out of scope: the order of checks on the submission path (see [`super::submit`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use taglog_proofs::note::{KeyId, KeyName};

/// A publisher key as the allowlist names it: (key name, key ID).
pub type Publisher = (KeyName, KeyId);

/// Per-key token buckets. A rate of 0 disables the quota.
#[derive(Debug)]
pub struct Quotas {
    rate: f64,
    burst: f64,
    burst_size: u32,
    buckets: Mutex<HashMap<Publisher, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Quotas {
    /// `rate` tokens per second (0 or less = unlimited), at most `burst` (at least 1) saved up.
    pub fn new(rate: f64, burst: u32) -> Quotas {
        Quotas {
            rate: if rate.is_finite() { rate } else { 0.0 },
            burst: f64::from(burst.max(1)),
            burst_size: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Refill rate, tokens per second (0 = unlimited).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Bucket size.
    pub fn burst(&self) -> u32 {
        self.burst_size
    }

    /// Takes one token for `key` at `now`.
    ///
    /// # Errors
    /// The time until a token is available, when the bucket is empty.
    pub fn take(&self, key: &Publisher, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock only means another thread panicked mid-update; failing open
            // here would be a quota bypass, failing closed a denial: refuse briefly.
            return Err(Duration::from_secs(1));
        };
        let b = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = b.at.max(now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::try_from_secs_f64((1.0 - b.tokens) / self.rate).unwrap_or(Duration::MAX))
        }
    }

    /// Gives back a token taken for a submission that was then not queued.
    pub fn refund(&self, key: &Publisher) {
        if self.rate <= 0.0 {
            return;
        }
        if let Ok(mut buckets) = self.buckets.lock() {
            if let Some(b) = buckets.get_mut(key) {
                b.tokens = (b.tokens + 1.0).min(self.burst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> Publisher {
        (n.parse().unwrap(), KeyId([0, 0, 0, 7]))
    }

    #[test]
    fn burst_then_refill_at_rate() {
        let q = Quotas::new(10.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(q.take(&key("a"), t0), Ok(()));
        }
        let wait = q.take(&key("a"), t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
        // Another key has its own bucket.
        assert_eq!(q.take(&key("b"), t0), Ok(()));
        // 100 ms at 10/s refills exactly one token.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(q.take(&key("a"), t1), Ok(()));
        assert!(q.take(&key("a"), t1).is_err());
        // Refill never exceeds the burst.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(q.take(&key("a"), t2), Ok(()));
        }
        assert!(q.take(&key("a"), t2).is_err());
    }

    #[test]
    fn refund_returns_a_token_and_zero_rate_is_unlimited() {
        let q = Quotas::new(1.0, 1);
        let t0 = Instant::now();
        assert_eq!(q.take(&key("a"), t0), Ok(()));
        assert!(q.take(&key("a"), t0).is_err());
        q.refund(&key("a"));
        assert_eq!(q.take(&key("a"), t0), Ok(()));
        let free = Quotas::new(0.0, 1);
        for _ in 0..10_000 {
            assert_eq!(free.take(&key("a"), t0), Ok(()));
        }
    }

    #[test]
    fn a_clock_that_goes_backwards_does_not_mint_tokens() {
        let q = Quotas::new(1000.0, 1);
        let t1 = Instant::now() + Duration::from_secs(5);
        assert_eq!(q.take(&key("a"), t1), Ok(()));
        assert!(q.take(&key("a"), t1 - Duration::from_secs(1)).is_err());
    }
}
