//! The log's two heads: the newest durable checkpoint (`committed`, written by the sequencer
//! only) and the newest checkpoint meeting the witness quorum, with its cosignatures
//! (`published`, what `/checkpoint`, `/lookup` and `/history` answer against).
//!
//! Out of scope: how cosignatures are collected ([`crate::log::witnesses`]).

use std::sync::Arc;

use taglog_proofs::hash::Hash;
use tokio::sync::watch;

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
}

impl Default for Heads {
    fn default() -> Heads {
        Heads {
            committed: watch::channel(None).0,
            published: watch::channel(None).0,
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

    /// Sets the published head.
    pub(crate) fn set_published(&self, head: Head) {
        self.published.send_replace(Some(head));
    }
}
