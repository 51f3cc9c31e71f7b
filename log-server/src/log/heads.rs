//! The log's two heads: the newest durable checkpoint (`committed`, written by the sequencer
//! only) and the newest checkpoint meeting the witness quorum, with its cosignatures
//! (`published`, what `/checkpoint`, `/lookup` and `/history` answer against).
//!
//! Guarantees: the published head has one writer ([`Heads::publish`]) and its size never
//! decreases; its cosignatures are durable before it is visible. A reader that reads the tag
//! map at a head holds it pinned ([`PinnedHead`]): the oldest map version still needed
//! ([`Heads::prune_floor`]: the published size, or the smallest pinned size if smaller) never
//! passes a pinned head, and a head below it can no longer be pinned ([`Heads::pin`]), so
//! pruning the map below it never pulls groups from under a reader.
//!
//! Out of scope: how cosignatures are collected ([`crate::log::witnesses`]).

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use taglog_proofs::hash::Hash;
use tokio::sync::watch;

use crate::store::{LogStore, StoreError};

/// A durable checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Signed note bytes (for `published`, with the stored cosignatures).
    pub note: Arc<Vec<u8>>,
    /// Time of its state leaf (log clock, Unix seconds).
    pub time: u64,
}

/// The map versions that readers hold, and the oldest version still readable.
#[derive(Debug, Default)]
struct Pins {
    /// Pinned head sizes and how many readers hold each.
    held: BTreeMap<u64, usize>,
    /// The largest [`Heads::prune_floor`] handed out: versions below it may be pruned.
    floor: u64,
}

/// A head held for reading the tag map at its size: while it lives, that map version is not
/// pruned. Dereferences to the [`Head`].
#[derive(Debug)]
pub struct PinnedHead {
    head: Head,
    pins: Arc<Mutex<Pins>>,
}

impl Deref for PinnedHead {
    type Target = Head;

    fn deref(&self) -> &Head {
        &self.head
    }
}

impl Drop for PinnedHead {
    fn drop(&mut self) {
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = pins.held.get_mut(&self.head.size) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                pins.held.remove(&self.head.size);
            }
        }
    }
}

/// The committed and published heads, observable.
#[derive(Debug)]
pub struct Heads {
    committed: watch::Sender<Option<Head>>,
    published: watch::Sender<Option<Head>>,
    publish_lock: Mutex<()>,
    pins: Arc<Mutex<Pins>>,
}

impl Default for Heads {
    fn default() -> Heads {
        Heads {
            committed: watch::channel(None).0,
            published: watch::channel(None).0,
            publish_lock: Mutex::new(()),
            pins: Arc::default(),
        }
    }
}

impl Heads {
    /// Newest durable checkpoint.
    pub fn committed(&self) -> Option<Head> {
        self.committed.borrow().clone()
    }

    /// Newest quorum checkpoint.
    pub fn published(&self) -> Option<Head> {
        self.published.borrow().clone()
    }

    /// Newest quorum checkpoint, pinned for reading the tag map at its size.
    pub fn published_pinned(&self) -> Option<PinnedHead> {
        // Under the pins lock: the floor cannot pass this head between reading and pinning.
        let mut pins = self.lock_pins();
        let head = self.published()?;
        *pins.held.entry(head.size).or_insert(0) += 1;
        Some(PinnedHead {
            head,
            pins: Arc::clone(&self.pins),
        })
    }

    /// Pins `head` (one taken from [`Heads::watch_published`], say) for reading the tag map
    /// at its size; `None` if its map version may be pruned already (a newer head is
    /// published: take that one).
    pub fn pin(&self, head: Head) -> Option<PinnedHead> {
        let mut pins = self.lock_pins();
        if head.size < pins.floor {
            return None;
        }
        *pins.held.entry(head.size).or_insert(0) += 1;
        Some(PinnedHead {
            head,
            pins: Arc::clone(&self.pins),
        })
    }

    /// The oldest map version still needed: the published size, or the smallest pinned head
    /// size if smaller (0 before anything is published). From now on no head below it can be
    /// pinned, so map groups superseded at or below it can be deleted. Never decreases.
    pub fn prune_floor(&self) -> u64 {
        let mut pins = self.lock_pins();
        let published = self.published().map_or(0, |h| h.size);
        let oldest = pins
            .held
            .keys()
            .next()
            .map_or(published, |&s| s.min(published));
        pins.floor = pins.floor.max(oldest);
        pins.floor
    }

    fn lock_pins(&self) -> std::sync::MutexGuard<'_, Pins> {
        self.pins.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follows the committed head.
    pub fn watch_committed(&self) -> watch::Receiver<Option<Head>> {
        self.committed.subscribe()
    }

    /// Follows the published head.
    pub fn watch_published(&self) -> watch::Receiver<Option<Head>> {
        self.published.subscribe()
    }

    /// Sets the committed head (the sequencer, after a durable commit).
    pub(crate) fn set_committed(&self, head: Head) {
        self.committed.send_replace(Some(head));
    }

    /// Publishes `head` unless a larger head is published (the one writer of the published
    /// head: startup, the sequencer without quorum, and the witness collector all call it):
    /// durably records its cosignature lines first when given (the store's published size
    /// follows), then makes it the published head. An equal size may be republished (with
    /// more cosignatures). Returns whether it was published.
    ///
    /// # Errors
    /// [`StoreError`] from recording the cosignatures; nothing was published then.
    pub fn publish(
        &self,
        store: &dyn LogStore,
        head: Head,
        cosignatures: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        // One writer at a time: the check, the durable write and the update happen under
        // this lock, so a slow smaller publish cannot overtake a larger one.
        let _writer = self
            .publish_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.published().is_some_and(|h| h.size > head.size) {
            return Ok(false);
        }
        if let Some(lines) = cosignatures {
            store.publish(head.size, lines)?;
        }
        self.published.send_replace(Some(head));
        Ok(true)
    }
}
