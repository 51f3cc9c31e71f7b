//! Verified log answers per signed reference, with single flight: concurrent requests for one
//! ref wait for the one verification in flight and share its answer; an answer is kept until
//! the expiry its producer gives (never past the policy's freshness bound, see
//! [`super::Service`]). Bounded: beyond [`DEFAULT_MAX_CACHED_REFS`] (or the configured
//! maximum) expired and idle entries are dropped first.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use taglog_proofs::refs::TagRef;

use crate::check::Checked;
use crate::error::Error;

/// Default most signed refs kept.
pub const DEFAULT_MAX_CACHED_REFS: usize = 100_000;

/// A verified answer of the log (or the failure to get one), shared by every waiter.
pub type Answer = Result<Arc<Checked>, Arc<Error>>;

#[derive(Debug)]
struct Entry {
    answer: Answer,
    until: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// The cache.
#[derive(Debug)]
pub struct Cache {
    slots: Mutex<HashMap<TagRef, Slot>>,
    max: usize,
}

impl Cache {
    /// A cache of at most `max` refs (at least 1).
    pub fn new(max: usize) -> Cache {
        Cache {
            slots: Mutex::new(HashMap::new()),
            max: max.max(1),
        }
    }

    /// Number of refs held.
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The answer held for `key` while it is valid, without producing one (waiting for a
    /// verification of `key` in flight). Never adds an entry.
    pub async fn peek(&self, key: &TagRef) -> Option<Answer> {
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.get(key).map(Arc::clone)
        }?;
        let entry = slot.lock().await;
        entry
            .as_ref()
            .filter(|e| e.until > Instant::now())
            .map(|e| e.answer.clone())
    }

    fn slot(&self, key: &TagRef) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = slots.get(key) {
            return Arc::clone(s);
        }
        if slots.len() >= self.max {
            let now = Instant::now();
            // Keep entries in use (someone holds the slot) or still valid.
            slots.retain(|_, s| {
                Arc::strong_count(s) > 1
                    || s.try_lock()
                        .map(|e| e.as_ref().is_some_and(|e| e.until > now))
                        .unwrap_or(true)
            });
            if slots.len() >= self.max {
                slots.retain(|_, s| Arc::strong_count(s) > 1);
            }
        }
        let s = Slot::default();
        slots.insert(key.clone(), Arc::clone(&s));
        s
    }

    /// The valid answer for `key`, or the one `produce` gives (which also says until when it
    /// is valid). Concurrent callers for one key run `produce` once. Returns whether the
    /// answer came from the cache.
    pub async fn get_or_produce<F, Fut>(&self, key: &TagRef, produce: F) -> (Answer, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (Answer, Instant)>,
    {
        let slot = self.slot(key);
        let mut entry = slot.lock().await;
        if let Some(e) = entry.as_ref() {
            if e.until > Instant::now() {
                return (e.answer.clone(), true);
            }
        }
        let (answer, until) = produce().await;
        *entry = Some(Entry {
            answer: answer.clone(),
            until,
        });
        (answer, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn failure() -> Answer {
        Err(Arc::new(Error::Runtime(std::io::Error::other("x"))))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn single_flight_and_expiry() {
        let cache = Arc::new(Cache::new(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let key: TagRef = "r.example/a/b:1".parse().unwrap();
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (cache, calls, key) = (Arc::clone(&cache), Arc::clone(&calls), key.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_produce(&key, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        (failure(), Instant::now() + Duration::from_secs(60))
                    })
                    .await
                    .1
            }));
        }
        let mut hits = 0;
        for t in tasks {
            hits += usize::from(t.await.unwrap());
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one produce for 32 callers"
        );
        assert_eq!(hits, 31);
        // An expired answer is produced again.
        let other: TagRef = "r.example/a/b:2".parse().unwrap();
        let past = Instant::now();
        let (first, hit) = cache
            .get_or_produce(&other, || async { (failure(), past) })
            .await;
        assert!(first.is_err() && !hit);
        let (_, hit) = cache
            .get_or_produce(&other, || async { (failure(), past) })
            .await;
        assert!(!hit);
    }

    #[tokio::test]
    async fn bounded() {
        let cache = Cache::new(3);
        let past = Instant::now();
        for i in 0..10 {
            let k: TagRef = format!("r.example/a/b:{i}").parse().unwrap();
            let (answer, _) = cache
                .get_or_produce(&k, || async { (failure(), past) })
                .await;
            assert!(answer.is_err());
            assert!(cache.len() <= 3, "{}", cache.len());
        }
    }
}
