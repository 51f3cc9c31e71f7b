//! The published head has one writer and never goes back, whatever the order in which
//! cosignature quorums complete and whatever the backend (issue 12, finding 6: it had three
//! writers and a check outside its lock).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taglog_proofs::hash::Hash;
use taglog_server::log::heads::{Head, Heads};
use taglog_server::store::{Batch, HistoryItem, LogStore, MemoryStore, StoreError};

/// A backend whose `publish` keeps no order of its own (it records every call) and, for one
/// chosen size, waits until the test lets it go: it widens the window between a publisher's
/// check and its write, as a slow disk would.
struct SlowPublish {
    reads: MemoryStore,
    published: Mutex<Vec<u64>>,
    hold: u64,
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl LogStore for SlowPublish {
    fn size(&self) -> Result<u64, StoreError> {
        self.reads.size()
    }
    fn last_time(&self) -> Result<u64, StoreError> {
        self.reads.last_time()
    }
    fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.reads.entry(index)
    }
    fn entries(&self, start: u64, count: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        self.reads.entries(start, count)
    }
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, StoreError> {
        self.reads.hashes(indexes)
    }
    fn map_node(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.reads.map_node(key)
    }
    fn dedup(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        self.reads.dedup(leaf)
    }
    fn ref_latest(&self, k: &Hash) -> Result<Option<HistoryItem>, StoreError> {
        self.reads.ref_latest(k)
    }
    fn ref_history(&self, k: &Hash, v: u64, n: usize) -> Result<Vec<HistoryItem>, StoreError> {
        self.reads.ref_history(k, v, n)
    }
    fn checkpoint(&self, size: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.reads.checkpoint(size)
    }
    fn cosignatures(&self, size: u64) -> Result<Vec<u8>, StoreError> {
        self.reads.cosignatures(size)
    }
    fn published_size(&self) -> Result<u64, StoreError> {
        Ok(self.published.lock().unwrap().last().copied().unwrap_or(0))
    }
    fn publishers(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.reads.publishers()
    }
    fn halt(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.reads.halt()
    }
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        self.reads.commit(batch)
    }
    fn publish(&self, size: u64, _cosignatures: &[u8]) -> Result<(), StoreError> {
        if size == self.hold {
            if let Some(tx) = self.entered.lock().unwrap().take() {
                tx.send(()).unwrap();
            }
            let _ = self
                .release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10));
        }
        self.published.lock().unwrap().push(size);
        Ok(())
    }
    fn set_halt(&self, record: Option<&[u8]>) -> Result<(), StoreError> {
        self.reads.set_halt(record)
    }
}

fn head(size: u64) -> Head {
    Head {
        size,
        root: Hash([size as u8; 32]),
        note: Arc::new(format!("checkpoint {size}").into_bytes()),
        time: 1000 + size,
    }
}

#[test]
fn a_slow_smaller_publish_never_overtakes_a_larger_one() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let store = Arc::new(SlowPublish {
        reads: MemoryStore::new(),
        published: Mutex::new(Vec::new()),
        hold: 5,
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(release_rx),
    });
    let heads = Arc::new(Heads::default());

    // Quorum for size 5 completes first, but its write is slow.
    let (h, s) = (Arc::clone(&heads), Arc::clone(&store));
    let slow = std::thread::spawn(move || h.publish(s.as_ref(), head(5), Some(b"c5\n")));
    entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // Meanwhile quorum for size 10 completes.
    let (h, s) = (Arc::clone(&heads), Arc::clone(&store));
    let fast = std::thread::spawn(move || h.publish(s.as_ref(), head(10), Some(b"c10\n")));
    std::thread::sleep(Duration::from_millis(300));
    release_tx.send(()).unwrap();
    slow.join().unwrap().unwrap();
    fast.join().unwrap().unwrap();

    assert_eq!(
        heads.published().unwrap().size,
        10,
        "the published head went back"
    );
    let writes = store.published.lock().unwrap().clone();
    assert!(
        writes.windows(2).all(|w| w[0] <= w[1]),
        "the stored published size went back: {writes:?}"
    );
    assert_eq!(store.published_size().unwrap(), 10);

    // A smaller head offered later is not published.
    assert!(!heads
        .publish(store.as_ref(), head(7), Some(b"c7\n"))
        .unwrap());
    assert_eq!(heads.published().unwrap().size, 10);
    assert_eq!(store.published_size().unwrap(), 10);
}
