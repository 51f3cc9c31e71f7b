//! The log's two heads: the newest durable checkpoint (`committed`, written by the sequencer
//! only) and the newest checkpoint meeting the witness quorum, with its cosignatures
//! (`published`, what `/checkpoint`, `/lookup` and `/history` answer against).
//!
//! Guarantees: the published head has one writer ([`Heads::publish`]) and its size never
//! decreases; its cosignatures are durable before it is visible.
//!
//! Out of scope: how cosignatures are collected ([`crate::log::witnesses`]).

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

/// The committed and published heads, observable.
#[derive(Debug)]
pub struct Heads {
    committed: watch::Sender<Option<Head>>,
    published: watch::Sender<Option<Head>>,
    publish_lock: Mutex<()>,
}

impl Default for Heads {
    fn default() -> Heads {
        Heads {
            committed: watch::channel(None).0,
            published: watch::channel(None).0,
            publish_lock: Mutex::new(()),
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
