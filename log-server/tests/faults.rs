//! The sequencer under storage faults, through the memory backend: after every injected
//! fault nothing signed or acknowledged is lost or contradicted, nothing unsigned is
//! published, and a new log on the same store (a restart) recovers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod inproc;

use std::sync::Arc;

use inproc::*;
use taglog_server::log::{Log, OpenError};
use taglog_server::metrics::Metrics;
use taglog_server::store::memory::{Effect, Fault, Op, Schedule};
use taglog_server::store::{LogStore, MemoryStore, StoreError};

/// A read error of the tree size at start must stop the start, not be taken for an empty
/// log: a sequencer that believed size 0 would sign a second tree (issue 12, finding 6).
#[tokio::test(flavor = "multi_thread")]
async fn a_size_read_error_at_start_is_not_an_empty_log() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    submit(running.log(), submission("app:1", 1, 1))
        .await
        .unwrap();
    running.stop().await.unwrap();
    let before = store.state();
    assert!(before.size > 2);

    // Every size read after the first one at start fails.
    store.inject(Fault {
        op: Op::Size,
        effect: Effect::Eio,
        schedule: Schedule::From(store.calls(Op::Size) + 2),
    });
    let started = Log::start(config(), store.clone(), Arc::new(Metrics::default()));
    let err = match started {
        Ok(running) => {
            running.stop().await.unwrap();
            panic!("the log started although its size could not be read");
        }
        Err(e) => e,
    };
    assert!(
        matches!(err, OpenError::Store(StoreError::Io(ref e)) if e.raw_os_error() == Some(5)),
        "{err}"
    );
    assert_eq!(store.state(), before, "a failed start changed the store");
    store.clear_faults();
    let running = Log::start(config(), store.clone(), Arc::new(Metrics::default())).unwrap();
    assert_eq!(running.log().heads().committed().unwrap().size, before.size);
    running.stop().await.unwrap();
    assert_eq!(check_log(store.as_ref() as &dyn LogStore), before.size);
}
