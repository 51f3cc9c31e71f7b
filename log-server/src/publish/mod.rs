//! Static publication (issue 15): after each published checkpoint, the objects a verifier
//! needs are uploaded to a bucket or directory, so that reads need no server (see proofs'
//! `static_layout` for the layout and how readers check each object).
//!
//! Fed by the log's two heads ([`crate::log::heads::Heads`]): the published head, which changes
//! after each synced commit (no quorum) or once a checkpoint meets the quorum (with its
//! cosignatures), and the committed head (each synced commit). For each new published head, in
//! this order: the hash tiles and entry bundles that grew (C2SP tlog-tiles paths), the map
//! objects written since the bucket's checkpoint (one pack per depth, with locators, and the top one
//! at its address; see the `packs` module), the edge object
//! of the new size (`edge/<N>`: the state leaf's entry, the right-edge hash tiles and the top
//! map object in one object, see proofs' `static_layout::EdgeObject`), then the
//! checkpoint. The map objects are those reachable from the new head's map root that were
//! written after the bucket's checkpoint (proofs' `map_objects`, the groups near the top read
//! through the `groups` module's cache): the groups of map versions between the two that a
//! later version replaced are never uploaded (a static reader proves only against the
//! bucket's checkpoint). The map objects are read at the head being uploaded,
//! pinned ([`crate::log::heads::PinnedHead`]) until they are up, so the log does not prune that
//! map version meanwhile (an outage of the bucket delays pruning).
//!
//! Two checkpoint uploads are at least the publish interval apart (`--publish-interval`,
//! [`crate::config::DEFAULT_PUBLISH_INTERVAL`]): heads that arrive within it are coalesced
//! into the newest, so the partial tiles, the partial entry bundle and the top of the map are
//! uploaded once per interval rather than once per commit. A stopping publisher uploads the
//! newest head at once.
//!
//! When the log has witnesses, the entry bundles of durable commits beyond the bucket go up
//! as they come (the full ones, and the partial one at each commit), not held back by the
//! interval, so a witness that audits from the bucket finds the entries of the checkpoint it
//! is asked to cosign. Without witnesses they go up with the next checkpoint.
//!
//! Tiles, packs and map objects are put with `PutMode::Create`: they never change, so an
//! object already there (from an earlier attempt) counts as uploaded (a pack id is random, so
//! a new pack never meets another's name). The checkpoint goes last and is
//! overwritten, so a reader never sees a checkpoint whose objects are missing, and never a
//! smaller one than the bucket held. Uploads are counted in `taglog_publish_checkpoints_total`,
//! `taglog_publish_objects_total` and `taglog_publish_bytes_total`.
//!
//! Guarantees: every upload is retried with backoff until it succeeds (a storage outage delays
//! publication and loses nothing; heads that arrive meanwhile are coalesced into the newest);
//! at start the publisher reads the bucket's checkpoint and uploads whatever the log's newest
//! published checkpoint has beyond it (idempotent after a crash between uploads). A bucket
//! checkpoint not signed by this log's key stops the publisher (it never overwrites another
//! log). Progress is in `/metrics` (`taglog_publish_*`) and `/healthz` (`bucket`).
//!
//! At start, the hash tiles and entry bundles of the bucket's checkpoint that the bucket lacks
//! (deleted by hand), and its edge object (also absent from a bucket written before edge
//! objects existed), are uploaded again and counted (`taglog_publish_repaired_total`). An
//! edge object rebuilt for a map version the log has pruned carries no map object (readers
//! then fetch the top map object by its address).
//!
//! Superseded objects are deleted (`--publish-grace`, [`crate::config::DEFAULT_PUBLISH_GRACE`]):
//! a partial hash tile or entry bundle once the bucket's checkpoint covers its full tile, an
//! edge object once the bucket's checkpoint is larger, each a grace period after it was
//! superseded (see the `retire` module). Readers of an older checkpoint fall back: a missing
//! partial tile is cut from its full tile, a missing edge object read from the tiles. A pack of
//! map objects goes the same way once no object of the bucket's map is in it (counted for the
//! packs this process made, see the `packs` module; a reader proves against the newest
//! checkpoint it fetched, so only one older than the grace would miss it). Deletions are
//! counted in `taglog_publish_deleted_total` and `taglog_publish_delete_failures_total`;
//! `taglog_publish_superseded` is how many wait. Top map objects at their own address are
//! never deleted.
//!
//! Out of scope: re-checking map objects below the bucket's checkpoint at start (a pack
//! deleted by hand is found when a publication needs the locator of an object in it, and the
//! whole map then goes up again, see [`Worker::upload_map`]).

mod groups;
mod packs;
mod retire;

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectKey;
use object_store::prefix::PrefixStore;
use object_store::{
    Attribute, Attributes, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig,
};
use rand_core::{OsRng, RngCore as _};
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::hash::Hash;
use taglog_proofs::leaves::{StateLeaf, STATE_HEADER};
use taglog_proofs::static_layout::{
    EdgeObject, Locator, MapObject, ObjectPath, PackId, EDGE_DIR, MAX_MAP_OBJECT_BYTES,
    OBJECT_NIBBLES, PACK_ID_BYTES,
};
use taglog_proofs::tiles::{
    encode_entry_bundle, entry_bundle_for, new_entry_bundles, new_tiles, tile_data, tiles_for_size,
    TileKind, TilePath, TILE_WIDTH,
};
use tokio::sync::{oneshot, watch};

use crate::config::PublishTarget;
use crate::log::heads::Head;
use crate::log::Log;
use crate::metrics::{Histogram, PublishStatus};
use crate::store::{LogStore, StoredHashes};
use retire::Retired;

/// `Cache-Control` of the objects that never change.
pub const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of the checkpoint: caches may serve it a few seconds old.
pub const CHECKPOINT_CACHE: &str = "public, max-age=5";
/// Uploads in flight at once within one phase (tiles, then map objects).
pub const PUBLISH_CONCURRENCY: usize = 16;
/// First retry delay; doubled per failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest delay between two attempts of one upload.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Tries to read one map object back from the bucket (with backoff, ~3 s in all) before the
/// publisher gives up on locating it and uploads the whole map again.
pub const MAX_MAP_READ_TRIES: usize = 5;
/// Largest checkpoint object read back from the bucket.
pub const MAX_CHECKPOINT_BYTES: usize = 64 * 1024;
/// Most entries read at once to upload the entry bundles of durable commits.
pub const MAX_COMMIT_BUNDLE_ENTRIES: u64 = 8 * 1024;
/// Most superseded objects deleted in one round (concurrently, [`PUBLISH_CONCURRENCY`] at a
/// time) before the publisher looks at the log's heads again.
pub const MAX_DELETIONS_PER_ROUND: usize = 256;
/// Log checkpoints awaiting upload whose publication time is kept for the lag histogram;
/// beyond this many (a long outage) newer ones are not timed.
pub const MAX_TIMED_HEADS: usize = 65_536;

/// Why publishing could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The bucket or directory could not be opened (bad settings).
    #[error("--publish: cannot open the bucket: {0}")]
    Open(#[source] object_store::Error),
    /// The directory could not be created.
    #[error("--publish: cannot create {path}: {source}")]
    Dir {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bucket holds a checkpoint that this log's key does not open.
    #[error("the bucket's checkpoint is not one of this log's ({0}); refusing to overwrite it: publish to an empty prefix")]
    ForeignCheckpoint(String),
    /// The bucket's checkpoint is larger than anything this log published.
    #[error("the bucket holds checkpoint {bucket}, larger than the log's {log}: is the data directory a restored backup?")]
    BucketAhead {
        /// Size in the bucket.
        bucket: u64,
        /// Size published by the log.
        log: u64,
    },
    /// Reading the log's store failed.
    #[error("reading the log to publish: {0}")]
    Read(String),
}

/// An opened bucket.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// Whether the backend stores `Cache-Control` and `Content-Type` (S3 does, a directory
    /// does not: a file server in front of it sets them).
    attributes: bool,
    /// How the bucket is named in logs.
    name: String,
}

impl Bucket {
    /// Opens `target`: creates a directory if missing; for S3 reads the AWS environment and
    /// applies the endpoint and region flags. Nothing is read or written yet.
    ///
    /// # Errors
    /// [`PublishError::Open`], [`PublishError::Dir`].
    pub fn open(target: &PublishTarget) -> Result<Bucket, PublishError> {
        match target {
            PublishTarget::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| PublishError::Dir {
                    path: dir.display().to_string(),
                    source,
                })?;
                // Directories emptied by deleting superseded objects go too. Deletions and
                // uploads happen in turn in one task, so none races a put into that directory.
                let fs = LocalFileSystem::new_with_prefix(dir)
                    .map_err(PublishError::Open)?
                    .with_automatic_cleanup(true);
                Ok(Bucket {
                    store: Arc::new(fs),
                    attributes: false,
                    name: format!("file://{}", dir.display()),
                })
            }
            PublishTarget::S3 {
                bucket,
                prefix,
                endpoint,
                region,
            } => {
                // The client's own retries are kept short: the publisher retries every upload
                // itself, and reports each failure (a long silent retry would hide an outage).
                let retry = RetryConfig {
                    max_retries: 2,
                    retry_timeout: Duration::from_secs(10),
                    ..RetryConfig::default()
                };
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
                }
                if let Some(r) = region {
                    b = b.with_region(r);
                }
                let s3: Arc<dyn ObjectStore> = Arc::new(b.build().map_err(PublishError::Open)?);
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    s3
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                };
                Ok(Bucket {
                    store,
                    attributes: true,
                    name: format!("s3://{bucket}/{prefix}"),
                })
            }
        }
    }
}

/// The bytes of a hash tile or entry bundle of the durable tree.
fn read_tile(store: &dyn LogStore, tile: &TilePath) -> Result<Vec<u8>, String> {
    match tile.kind() {
        TileKind::Hash { .. } => {
            tile_data(tile, &StoredHashes::new(store)).map_err(|e| format!("tile {tile}: {e}"))
        }
        TileKind::Entries => {
            let start = tile.index() * u64::from(TILE_WIDTH);
            let entries = store
                .entries(start, u64::from(tile.width()))
                .map_err(|e| format!("entries of {tile}: {e}"))?;
            let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            encode_entry_bundle(&refs).map_err(|e| format!("bundle {tile}: {e}"))
        }
    }
}

/// The edge object of the durable tree of `size` (see proofs' `static_layout::EdgeObject`),
/// with `map`, the top map object as the bucket holds it (`None` for the empty map, or when
/// the bucket lacks it).
fn edge_object(
    store: &dyn LogStore,
    size: u64,
    map: Option<Vec<u8>>,
) -> Result<(ObjectPath, Vec<u8>), String> {
    let entry = last_entry(store, size)?;
    let edge = EdgeObject::new(size, entry, &StoredHashes::new(store), map)
        .map_err(|e| format!("edge object of size {size}: {e}"))?;
    let bytes = edge
        .to_bytes()
        .map_err(|e| format!("edge object of size {size}: {e}"))?;
    Ok((ObjectPath::Edge(size), bytes))
}

/// The last entry of the log of `size` (its state leaf).
fn last_entry(store: &dyn LogStore, size: u64) -> Result<Vec<u8>, String> {
    store
        .entries(size - 1, 1)
        .map_err(|e| format!("entry {}: {e}", size - 1))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("entry {} is not stored", size - 1))
}

/// The map root of the log of `size` (its state leaf's).
fn map_root(store: &dyn LogStore, size: u64) -> Result<Hash, String> {
    let entry = last_entry(store, size)?;
    StateLeaf::parse(&entry)
        .map(|l| l.map_root)
        .map_err(|e| format!("entry {}: {e}", size - 1))
}

/// A new pack id: 128 random bits, so a pack never takes the name of another (one left by a
/// crash included). Never all zero (that locator means "at its own address").
fn fresh_pack_id() -> PackId {
    let mut id = [0u8; PACK_ID_BYTES];
    OsRng.fill_bytes(&mut id);
    id[0] |= u8::from(id == [0; PACK_ID_BYTES]);
    PackId(id)
}

/// The entry bundles a log that grew from `old` to `new` entries has beyond `old`: each full
/// bundle completed, and the partial bundle at every commit in between (a commit ends with its
/// state leaf) and at `new`.
fn commit_bundles(
    store: &dyn LogStore,
    old: u64,
    new: u64,
) -> Result<Vec<(ObjectPath, Vec<u8>)>, String> {
    let width = u64::from(TILE_WIDTH);
    let first = old / width * width;
    let entries = store
        .entries(first, new.saturating_sub(first))
        .map_err(|e| format!("entries {first}..{new}: {e}"))?;
    let header = format!("{STATE_HEADER}\n");
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let size = first + i as u64 + 1;
        let ends_commit = entry.starts_with(header.as_bytes()) || size == new;
        if size <= old || !(ends_commit || size.is_multiple_of(width)) {
            continue;
        }
        let tile = entry_bundle_for(size - 1, size).map_err(|e| e.to_string())?;
        let start = usize::try_from(tile.index() * width - first).map_err(|e| e.to_string())?;
        let refs: Vec<&[u8]> = entries
            .get(start..=i)
            .unwrap_or_default()
            .iter()
            .map(Vec::as_slice)
            .collect();
        let bytes = encode_entry_bundle(&refs).map_err(|e| format!("bundle {tile}: {e}"))?;
        out.push((ObjectPath::Tile(tile), bytes));
    }
    Ok(out)
}

/// What the bucket holds: the size and note of its checkpoint (0 and empty when none).
#[derive(Debug, Clone, Default)]
struct Published {
    size: u64,
    note: Vec<u8>,
}

/// Name of the publisher's thread and of its blocking threads: its CPU time is theirs (see
/// `scripts/bench-static.sh`).
pub const PUBLISHER_THREAD: &str = "publisher";
/// How long the publisher's runtime waits for its blocking reads and writes at the end.
const PUBLISHER_SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// A running publisher; [`Publisher::finish`] stops it, and dropping it stops it at once.
pub struct Publisher {
    stop: watch::Sender<bool>,
    /// Dropped or sent: the worker ends at its next await.
    abort: Option<oneshot::Sender<()>>,
    /// Resolves once the publisher's thread has ended its work.
    done: oneshot::Receiver<()>,
}

impl Publisher {
    /// Starts publishing `log`'s heads to `bucket`, checkpoint uploads at least `interval`
    /// apart, superseded objects deleted `grace` after they were superseded.
    ///
    /// The publisher runs on a thread of its own with its own runtime (blocking reads and
    /// writes on threads of the same name, [`PUBLISHER_THREAD`]), so that encoding a
    /// publication never holds up a request worker, and its CPU time can be told apart from the
    /// sequencer's and the request workers'.
    ///
    /// # Errors
    /// When the runtime or the thread cannot be created.
    pub fn spawn(
        log: Arc<Log>,
        bucket: Bucket,
        interval: Duration,
        grace: Duration,
    ) -> std::io::Result<Publisher> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(PUBLISHER_THREAD)
            .max_blocking_threads(PUBLISH_CONCURRENCY + 4)
            // Blocking threads stay, rather than come and go between publications.
            .thread_keep_alive(Duration::from_secs(3600))
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let (abort, aborted) = oneshot::channel::<()>();
        let (finished, done) = oneshot::channel();
        log.metrics().publish.enabled.store(true, Ordering::Relaxed);
        let worker = Worker {
            log,
            bucket,
            stopped,
            interval,
            grace,
            retired: Retired::default(),
            locations: packs::Locations::default(),
            groups: groups::GroupCache::default(),
        };
        std::thread::Builder::new()
            .name(PUBLISHER_THREAD.into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = worker.run() => {}
                        _ = aborted => {}
                    }
                });
                runtime.shutdown_timeout(PUBLISHER_SHUTDOWN_WAIT);
                let _ = finished.send(());
            })?;
        Ok(Publisher {
            stop,
            abort: Some(abort),
            done,
        })
    }

    /// Publishes the newest head (waiting at most `limit`), then stops.
    pub async fn finish(mut self, limit: Duration) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(limit, &mut self.done).await.is_err() {
            tracing::warn!(
                "the publisher did not finish within {limit:?}; the next start catches up"
            );
            drop(self.abort.take());
            let _ = tokio::time::timeout(PUBLISHER_SHUTDOWN_WAIT * 2, &mut self.done).await;
        }
    }
}

/// When each log checkpoint not yet in the bucket was published by the log, oldest first: the
/// lag of a checkpoint runs from then until a bucket checkpoint at least as large is uploaded
/// (heads that arrive during an upload are coalesced into the next one, and their wait counts).
#[derive(Debug, Default)]
struct HeadTimes(Mutex<HeadQueue>);

#[derive(Debug, Default)]
struct HeadQueue {
    pending: VecDeque<(u64, Instant)>,
    uploaded: u64,
}

impl HeadTimes {
    /// Notes that the log published a checkpoint of `size` at `at` (a size already noted or
    /// already in the bucket is ignored).
    fn seen(&self, size: u64, at: Instant) {
        let Ok(mut q) = self.0.lock() else { return };
        let newest = q
            .pending
            .back()
            .map_or(q.uploaded, |&(s, _)| s.max(q.uploaded));
        if size > newest && q.pending.len() < MAX_TIMED_HEADS {
            q.pending.push_back((size, at));
        }
    }

    /// Notes that a bucket checkpoint of `size` was uploaded at `at`: observes in `lag` the lag
    /// of every log checkpoint it covers (`None`: the bucket held it already at start).
    fn uploaded(&self, size: u64, at: Instant, lag: Option<&Histogram>) {
        let Ok(mut q) = self.0.lock() else { return };
        q.uploaded = q.uploaded.max(size);
        while let Some(&(s, t)) = q.pending.front() {
            if s > size {
                break;
            }
            if let Some(lag) = lag {
                lag.observe(at.saturating_duration_since(t).as_secs_f64());
            }
            q.pending.pop_front();
        }
    }
}

/// Notes the time of every published head until the receiver closes.
async fn time_heads(mut heads: watch::Receiver<Option<Head>>, times: Arc<HeadTimes>) {
    loop {
        if let Some(size) = heads.borrow_and_update().as_ref().map(|h| h.size) {
            times.seen(size, Instant::now());
        }
        if heads.changed().await.is_err() {
            return;
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Worker {
    log: Arc<Log>,
    bucket: Bucket,
    stopped: watch::Receiver<bool>,
    /// Shortest time between the starts of two checkpoint uploads.
    interval: Duration,
    /// How long a superseded object stays in the bucket.
    grace: Duration,
    /// The superseded objects and those that will be.
    retired: Retired,
    /// Where the bucket's newest map version keeps its map objects.
    locations: packs::Locations,
    /// The map's groups near the top, read once rather than once per publication.
    groups: groups::GroupCache,
}

/// An upload that was given up because the publisher is stopping.
struct Stopping;

impl Worker {
    fn status(&self) -> &PublishStatus {
        &self.log.metrics().publish
    }

    async fn run(mut self) {
        let times = Arc::new(HeadTimes::default());
        let timer = tokio::spawn(time_heads(
            self.log.heads().watch_published(),
            Arc::clone(&times),
        ));
        let _timer = AbortOnDrop(timer.abort_handle());
        let mut heads = self.log.heads().watch_published();
        let mut bucket = match self.read_bucket().await {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, bucket = %self.bucket.name, "publishing stopped");
                self.set_error(Some(e.to_string()));
                return;
            }
        };
        tracing::info!(bucket = %self.bucket.name, size = bucket.size, "publishing static objects");
        times.uploaded(bucket.size, Instant::now(), None);
        if bucket.size > 0 {
            let listed = self.list_objects().await;
            if self
                .repair_tiles(bucket.size, listed.as_ref())
                .await
                .is_err()
                || self.repair_edge(bucket.size).await.is_err()
            {
                return;
            }
            // Objects a crash or an earlier version left behind are found again here.
            for p in listed.iter().flatten() {
                self.retired.known(p);
            }
            self.supersede(bucket.size);
        }
        let mut commits = self.log.heads().watch_committed();
        // The size up to which the bucket holds the entry bundles (at least its checkpoint's).
        let mut bundles = bucket.size;
        // When the last checkpoint upload started: the next starts `interval` later.
        let mut last_upload: Option<Instant> = None;
        loop {
            let head = heads.borrow_and_update().clone();
            let committed = commits.borrow_and_update().as_ref().map(|h| h.size);
            // The time the newest head has to wait before its upload (`None`: none waits).
            let mut wait_until = None;
            if let Some(head) = head {
                times.seen(head.size, Instant::now());
                self.status()
                    .target_size
                    .store(head.size, Ordering::Relaxed);
                if head.size < bucket.size {
                    let e = PublishError::BucketAhead {
                        bucket: bucket.size,
                        log: head.size,
                    };
                    tracing::warn!(error = %e, "waiting for the log to reach the bucket's checkpoint");
                    self.set_error(Some(e.to_string()));
                } else if head.size > bucket.size || *head.note != bucket.note {
                    // A stopping publisher does not wait.
                    let due = last_upload
                        .map(|t| t + self.interval)
                        .filter(|&d| d > Instant::now() && !*self.stopped.borrow());
                    if due.is_some() {
                        wait_until = due;
                    } else {
                        // The map of `head` is read while its objects go up: pinned, so that
                        // the sequencer does not prune it meanwhile. A head that can no longer
                        // be pinned has a newer published one: take that.
                        let Some(pinned) = self.log.heads().pin(head.clone()) else {
                            continue;
                        };
                        last_upload = Some(Instant::now());
                        if head.size > bucket.size
                            && self
                                .upload_objects(bucket.size, head.size, bundles)
                                .await
                                .is_err()
                        {
                            return;
                        }
                        drop(pinned);
                        bundles = bundles.max(head.size);
                        if self.upload_checkpoint(&head).await.is_err() {
                            return;
                        }
                        bucket = Published {
                            size: head.size,
                            note: head.note.to_vec(),
                        };
                        let s = self.status();
                        s.bucket_size.store(head.size, Ordering::Relaxed);
                        s.checkpoints.fetch_add(1, Ordering::Relaxed);
                        times.uploaded(head.size, Instant::now(), Some(&s.lag));
                        self.supersede(head.size);
                        continue;
                    }
                }
            }
            // Durable commits that no checkpoint covers yet (witnesses have not cosigned): their
            // entry bundles go up now, so that a witness auditing from the bucket (`--audit`
            // with the bucket's URL) can read them before it cosigns.
            // Without witnesses nobody audits before publication: the bundles wait for the
            // next head's upload (the interval coalesces them).
            let audited = !self.log.config().witnesses.is_empty();
            let uncovered = |c: &u64| audited && *c > bundles && *c >= bucket.size;
            if let Some(c) = committed.filter(uncovered) {
                if !*self.stopped.borrow() {
                    let end = c.min(bundles.saturating_add(MAX_COMMIT_BUNDLE_ENTRIES));
                    if self.upload_bundles(bundles, end).await.is_err() {
                        return;
                    }
                    bundles = end;
                    continue;
                }
            }
            if *self.stopped.borrow()
                && !heads.has_changed().unwrap_or(false)
                && wait_until.is_none()
            {
                return;
            }
            // Nothing to upload: superseded objects whose grace is over go now (a stopping
            // publisher leaves them to the next start).
            if !*self.stopped.borrow() && self.delete_due().await {
                continue;
            }
            let pause = async {
                match wait_until {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            let next_deletion = self.retired.next_due(self.grace);
            let deletions = async {
                match next_deletion {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = heads.changed() => if changed.is_err() { return },
                changed = commits.changed() => if changed.is_err() { return },
                _ = self.stopped.changed() => {}
                () = pause => {}
                () = deletions => {}
            }
        }
    }

    fn set_error(&self, e: Option<String>) {
        if let Ok(mut last) = self.status().last_error.lock() {
            *last = e;
        }
    }

    /// Reads the bucket's checkpoint (retrying), checked against the log key; `None` if the
    /// publisher is stopping.
    async fn read_bucket(&mut self) -> Result<Option<Published>, PublishError> {
        let key = ObjectKey::from(ObjectPath::Checkpoint.to_path());
        let mut backoff = FIRST_BACKOFF;
        let note = loop {
            let got = match self.bucket.store.get(&key).await {
                Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            };
            match got {
                Ok(n) => break n,
                Err(e) => {
                    if self.failed(&key, &e, &mut backoff).await.is_err() {
                        return Ok(None);
                    }
                }
            }
        };
        let Some(note) = note else {
            return Ok(Some(Published::default()));
        };
        if note.len() > MAX_CHECKPOINT_BYTES {
            return Err(PublishError::ForeignCheckpoint(format!(
                "{} bytes, more than {MAX_CHECKPOINT_BYTES}",
                note.len()
            )));
        }
        let cp = SignedCheckpoint::open(&note, &self.log.config().key.verifier())
            .map_err(|e| PublishError::ForeignCheckpoint(e.to_string()))?;
        let size = cp.checkpoint().size();
        self.status().bucket_size.store(size, Ordering::Relaxed);
        Ok(Some(Published { size, note }))
    }

    /// Records a failed attempt and sleeps its backoff; `Err` if the publisher is stopping
    /// (a stop cuts the backoff short).
    async fn failed(
        &mut self,
        key: &ObjectKey,
        e: &object_store::Error,
        backoff: &mut Duration,
    ) -> Result<(), Stopping> {
        self.status().failures.fetch_add(1, Ordering::Relaxed);
        let msg = format!("{key}: {e}");
        tracing::warn!(error = %msg, retry_in = ?*backoff, "upload to the bucket failed; retrying");
        self.set_error(Some(msg));
        let wait = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        if *self.stopped.borrow() {
            return Err(Stopping);
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            _ = self.stopped.changed() => Err(Stopping),
        }
    }

    /// At start: the bucket's tiles and edge objects (`None` if they cannot be listed). Keys
    /// that are not canonical object paths are left out (and left alone).
    async fn list_objects(&self) -> Option<HashSet<ObjectPath>> {
        let mut present = HashSet::new();
        let mut prefixes = vec![ObjectKey::from("tile"), ObjectKey::from(EDGE_DIR)];
        while let Some(prefix) = prefixes.pop() {
            match self.bucket.store.list_with_delimiter(Some(&prefix)).await {
                Ok(listed) => {
                    present.extend(
                        listed
                            .objects
                            .iter()
                            .filter_map(|o| ObjectPath::parse(o.location.as_ref()).ok()),
                    );
                    prefixes.extend(listed.common_prefixes);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the bucket; missing tiles are not checked, superseded objects not deleted");
                    return None;
                }
            }
        }
        Some(present)
    }

    /// At start: uploads again the hash tiles and entry bundles of the bucket's checkpoint
    /// (size `size`) that the bucket lacks (deleted by hand, or lost), and reports them;
    /// `present` is the bucket's listing (`None`: not checked). Map objects are not checked.
    async fn repair_tiles(
        &mut self,
        size: u64,
        present: Option<&HashSet<ObjectPath>>,
    ) -> Result<(), Stopping> {
        let Some(present) = present else {
            return Ok(());
        };
        let mut expected = tiles_for_size(size);
        expected.extend(new_entry_bundles(0, size));
        let missing: Vec<ObjectPath> = expected
            .into_iter()
            .map(ObjectPath::Tile)
            .filter(|p| !present.contains(p))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = missing.iter().take(8).map(ObjectPath::to_path).collect();
        tracing::warn!(
            count = missing.len(),
            first = ?names,
            "tiles of the bucket's checkpoint were missing from the bucket; uploading them again"
        );
        for chunk in missing.chunks(PUBLISH_CONCURRENCY) {
            let wanted = chunk.to_vec();
            let objects = self
                .read(move |store| {
                    wanted
                        .iter()
                        .map(|&p| match p {
                            ObjectPath::Tile(t) => read_tile(store, &t).map(|b| (p, b)),
                            _ => Err(format!("{p} is not a tile")),
                        })
                        .collect()
                })
                .await?;
            self.upload_all(objects).await?;
            self.status()
                .repaired
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// At start: uploads the edge object of the bucket's checkpoint (size `size`) if the
    /// bucket lacks it, and reports it.
    async fn repair_edge(&mut self, size: u64) -> Result<(), Stopping> {
        let key = ObjectKey::from(ObjectPath::Edge(size).to_path());
        match self.bucket.store.head(&key).await {
            Ok(_) => return Ok(()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the bucket's edge object; not repaired");
                return Ok(());
            }
        }
        tracing::warn!(object = %key, "the edge object of the bucket's checkpoint was missing; uploading it");
        let root = self.read(move |store| map_root(store, size)).await?;
        let top = if root == Hash::ZERO {
            None
        } else {
            self.fetch_map_object(&root, Locator::Own).await?
        };
        let edge = self
            .read(move |store| edge_object(store, size, top.clone()).map(|e| vec![e]))
            .await?;
        self.upload_all(edge).await?;
        self.status().repaired.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Uploads the entry bundles of the commits from size `old` to `new`
    /// ([`commit_bundles`]).
    async fn upload_bundles(&mut self, old: u64, new: u64) -> Result<(), Stopping> {
        let objects = self
            .read(move |store| commit_bundles(store, old, new))
            .await?;
        for chunk in objects.chunks(PUBLISH_CONCURRENCY) {
            self.upload_all(chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// Uploads the tiles, entry bundles and map objects that a log of size `new` has beyond
    /// one of size `old` (both committed sizes), then the edge object of `new`; the entry
    /// bundles up to size `bundles` are in the bucket already, except perhaps the partial one
    /// at `new`.
    async fn upload_objects(&mut self, old: u64, new: u64, bundles: u64) -> Result<(), Stopping> {
        let mut tiles = new_tiles(old, new);
        if new > bundles {
            tiles.extend(new_entry_bundles(old.max(bundles), new));
        } else if !new.is_multiple_of(u64::from(TILE_WIDTH)) {
            if let Ok(partial) = entry_bundle_for(new - 1, new) {
                tiles.push(partial);
            }
        }
        let tiles: Vec<ObjectPath> = tiles.into_iter().map(ObjectPath::Tile).collect();
        for chunk in tiles.chunks(PUBLISH_CONCURRENCY) {
            let wanted = chunk.to_vec();
            let objects = self
                .read(move |store| {
                    wanted
                        .iter()
                        .map(|&p| match p {
                            ObjectPath::Tile(t) => read_tile(store, &t).map(|b| (p, b)),
                            _ => Err(format!("{p} is not a tile")),
                        })
                        .collect()
                })
                .await?;
            self.upload_all(objects).await?;
        }
        let top = self.upload_map(old, new).await?;
        let edge = self
            .read(move |store| edge_object(store, new, top.clone()).map(|e| vec![e]))
            .await?;
        self.upload_all(edge).await?;
        tracing::debug!(size = new, "objects uploaded to the bucket");
        Ok(())
    }

    /// Uploads the map objects of version `new` written after the bucket's version `old`
    /// (0: none) as packs, then the top one at its own address (see the `packs` module);
    /// returns the top one's bytes for the edge object. Objects below them that an earlier
    /// publication uploaded are located first; one the bucket does not give back (deleted by
    /// hand, or a bucket of another layout gone wrong) makes the whole map of `new` go up
    /// again.
    async fn upload_map(&mut self, old: u64, new: u64) -> Result<Option<Vec<u8>>, Stopping> {
        let cache = self.groups.clone();
        let objects = |since: Option<u64>| {
            let cache = cache.clone();
            move |store: &dyn LogStore| {
                cache
                    .map_objects(store, new, since)
                    .map_err(|e| format!("map objects of version {new}: {e}"))
            }
        };
        let mut fresh = self.read(objects((old > 0).then_some(old))).await?;
        let unknown = self.locations.unknown(&fresh);
        let mut layout = None;
        if unknown.is_empty() || self.locate(old, &unknown).await? {
            layout = packs::lay_out(&fresh, &mut self.locations, fresh_pack_id).ok();
        }
        let layout = match layout {
            Some(l) => l,
            None => {
                tracing::warn!(
                    version = old,
                    "the bucket does not give back the map objects of its checkpoint; uploading the whole map again"
                );
                self.status().repaired.fetch_add(1, Ordering::Relaxed);
                self.locations.clear();
                fresh = self.read(objects(None)).await?;
                match packs::lay_out(&fresh, &mut self.locations, fresh_pack_id) {
                    Ok(l) => l,
                    Err(address) => {
                        let e = format!("map object {address} of version {new} is not stored");
                        tracing::error!(error = %e, "publishing stopped");
                        self.set_error(Some(e));
                        return Err(Stopping);
                    }
                }
            }
        };
        for chunk in layout.packs.chunks(PUBLISH_CONCURRENCY) {
            self.upload_all(chunk.to_vec()).await?;
        }
        let Some((path, bytes)) = layout.top else {
            return Ok(None);
        };
        self.upload_all(vec![(path, bytes.clone())]).await?;
        Ok(Some(bytes))
    }

    /// Learns from the bucket where its map version `old` keeps the objects `unknown` (each
    /// `(address, key path, depth)`): walks from its top object down to each, opening every
    /// object on the way at the address its parent names, and checks that the packs their
    /// locators point into are there (one `HEAD` per pack, once). `false` if the bucket does
    /// not give one back.
    async fn locate(&mut self, old: u64, unknown: &[(Hash, Hash, u8)]) -> Result<bool, Stopping> {
        if old == 0 {
            return Ok(false);
        }
        let root = self.read(move |store| map_root(store, old)).await?;
        let mut opened = HashSet::new();
        for (address, path, nibbles) in unknown {
            let mut depth = 0;
            while depth < *nibbles && self.locations.get(address, path, *nibbles).is_none() {
                let (at_address, at) = if depth == 0 {
                    (root, Locator::Own)
                } else {
                    match self.locations.at(path, depth) {
                        Some(found) => found,
                        None => return Ok(false),
                    }
                };
                if opened.insert(at_address) {
                    let Some(bytes) = self.fetch_map_object(&at_address, at).await? else {
                        return Ok(false);
                    };
                    let Ok(object) = MapObject::open(&at_address, depth, path, &bytes) else {
                        return Ok(false);
                    };
                    for (a, p, n) in object.children() {
                        let l = object.locator(&a).unwrap_or(Locator::Own);
                        self.locations.set(a, &p, n, l);
                    }
                }
                depth += OBJECT_NIBBLES;
            }
            if self.locations.get(address, path, *nibbles).is_none() {
                return Ok(false);
            }
        }
        // The packs those locators point into must still be there.
        for pack in self.locations.missing_packs(unknown) {
            if !self.pack_exists(pack).await? {
                return Ok(false);
            }
            self.locations.seen(pack);
        }
        tracing::info!(
            objects = opened.len(),
            "located the bucket's map objects below this publication"
        );
        Ok(true)
    }

    /// Whether the bucket has `pack` (a failing read is tried [`MAX_MAP_READ_TRIES`] times,
    /// then counts as no).
    async fn pack_exists(&mut self, pack: PackId) -> Result<bool, Stopping> {
        let key = ObjectKey::from(ObjectPath::Pack(pack).to_path());
        let mut backoff = FIRST_BACKOFF;
        for _ in 0..MAX_MAP_READ_TRIES {
            match self.bucket.store.head(&key).await {
                Ok(_) => return Ok(true),
                Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => self.failed(&key, &e, &mut backoff).await?,
            }
        }
        Ok(false)
    }

    /// The bytes of the map object at `address` as the bucket holds it (`at` says where);
    /// `None` if the bucket does not have it, or still fails to read it after
    /// [`MAX_MAP_READ_TRIES`] tries (a range past the end of a pack fails, not only a network):
    /// the caller then uploads the whole map again, which is always right.
    async fn fetch_map_object(
        &mut self,
        address: &Hash,
        at: Locator,
    ) -> Result<Option<Vec<u8>>, Stopping> {
        let (key, range) = match at.range() {
            None => (ObjectKey::from(ObjectPath::Map(*address).to_path()), None),
            Some((pack, r)) => (ObjectKey::from(ObjectPath::Pack(pack).to_path()), Some(r)),
        };
        let mut backoff = FIRST_BACKOFF;
        for _ in 0..MAX_MAP_READ_TRIES {
            let got = match &range {
                Some(r) => self.bucket.store.get_range(&key, r.clone()).await,
                None => match self.bucket.store.get(&key).await {
                    Ok(r) => r.bytes().await,
                    Err(e) => Err(e),
                },
            };
            match got {
                Ok(b) if b.len() <= MAX_MAP_OBJECT_BYTES => return Ok(Some(b.to_vec())),
                Ok(_) | Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => self.failed(&key, &e, &mut backoff).await?,
            }
        }
        Ok(None)
    }

    /// Uploads `head`'s checkpoint (its objects are in the bucket already).
    async fn upload_checkpoint(&mut self, head: &Head) -> Result<(), Stopping> {
        self.upload(ObjectPath::Checkpoint, head.note.to_vec())
            .await?;
        self.set_error(None);
        tracing::debug!(size = head.size, "checkpoint published to the bucket");
        Ok(())
    }

    /// Reads from the store off the runtime, retrying a failed read like an upload.
    async fn read<T: Send + 'static>(
        &mut self,
        f: impl Fn(&dyn LogStore) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<T, Stopping> {
        let f = Arc::new(f);
        let mut backoff = FIRST_BACKOFF;
        loop {
            let store = Arc::clone(self.log.store());
            let g = Arc::clone(&f);
            let res = tokio::task::spawn_blocking(move || g(store.as_ref()))
                .await
                .unwrap_or_else(|e| Err(format!("read task failed: {e}")));
            match res {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let e = PublishError::Read(e);
                    tracing::error!(error = %e, "publisher cannot read the log; retrying");
                    let key = ObjectKey::from("(log store)");
                    let err = object_store::Error::Generic {
                        store: "log",
                        source: Box::new(e),
                    };
                    self.failed(&key, &err, &mut backoff).await?;
                }
            }
        }
    }

    /// Uploads `objects` concurrently (each retried until it succeeds).
    async fn upload_all(&mut self, objects: Vec<(ObjectPath, Vec<u8>)>) -> Result<(), Stopping> {
        let mut pending = objects;
        let mut backoff = FIRST_BACKOFF;
        while !pending.is_empty() {
            let mut set = tokio::task::JoinSet::new();
            for (path, bytes) in pending.drain(..) {
                let store = Arc::clone(&self.bucket.store);
                let opts = self.options(&path);
                set.spawn(async move {
                    let r = put(store.as_ref(), &path, bytes.clone(), opts).await;
                    (path, bytes, r)
                });
            }
            let mut failure = None;
            while let Some(done) = set.join_next().await {
                let Ok((path, bytes, r)) = done else { continue };
                if let Err(e) = r {
                    failure = Some((path, e));
                    pending.push((path, bytes));
                } else {
                    let s = self.status();
                    s.objects.fetch_add(1, Ordering::Relaxed);
                    s.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    self.retired.known(&path);
                }
            }
            if let Some((path, e)) = failure {
                self.failed(&ObjectKey::from(path.to_path()), &e, &mut backoff)
                    .await?;
            }
        }
        Ok(())
    }

    /// The bucket's checkpoint is now of `size`: what it supersedes starts its grace period.
    fn supersede(&mut self, size: u64) {
        let now = Instant::now();
        self.retired.supersede(size, now);
        for pack in self.locations.take_dead() {
            self.retired.superseded(ObjectPath::Pack(pack), now);
        }
        self.status()
            .superseded
            .store(self.retired.pending() as u64, Ordering::Relaxed);
    }

    /// Deletes up to [`MAX_DELETIONS_PER_ROUND`] superseded objects whose grace is over
    /// (an object already gone counts as deleted); a failed deletion is tried again
    /// [`MAX_BACKOFF`] plus a grace period later. Returns whether more are due.
    async fn delete_due(&mut self) -> bool {
        let due = self
            .retired
            .due(Instant::now(), self.grace, MAX_DELETIONS_PER_ROUND);
        let mut failed = Vec::new();
        for chunk in due.chunks(PUBLISH_CONCURRENCY) {
            let mut set = tokio::task::JoinSet::new();
            for &path in chunk {
                let store = Arc::clone(&self.bucket.store);
                set.spawn(async move {
                    let key = ObjectKey::from(path.to_path());
                    match store.delete(&key).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => (path, None),
                        Err(e) => (path, Some(e)),
                    }
                });
            }
            while let Some(done) = set.join_next().await {
                let Ok((path, r)) = done else { continue };
                let s = self.status();
                match r {
                    None => {
                        s.deleted.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(e) => {
                        s.delete_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(object = %path, error = %e, "cannot delete a superseded object; trying again later");
                        failed.push(path);
                    }
                }
            }
        }
        self.retired.retry(failed, Instant::now(), MAX_BACKOFF);
        self.status()
            .superseded
            .store(self.retired.pending() as u64, Ordering::Relaxed);
        self.retired
            .next_due(self.grace)
            .is_some_and(|t| t <= Instant::now())
    }

    /// Uploads one object, retrying until it succeeds.
    async fn upload(&mut self, path: ObjectPath, bytes: Vec<u8>) -> Result<(), Stopping> {
        self.upload_all(vec![(path, bytes)]).await
    }

    fn options(&self, path: &ObjectPath) -> PutOptions {
        let mode = if path.is_immutable() {
            PutMode::Create
        } else {
            PutMode::Overwrite
        };
        let mut attributes = Attributes::new();
        if self.bucket.attributes {
            let (cache, ctype) = if path.is_immutable() {
                (IMMUTABLE_CACHE, "application/octet-stream")
            } else {
                (CHECKPOINT_CACHE, "text/plain; charset=utf-8")
            };
            attributes.insert(Attribute::CacheControl, cache.into());
            attributes.insert(Attribute::ContentType, ctype.into());
        }
        PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        }
    }
}

/// One put; an immutable object already there counts as uploaded.
async fn put(
    store: &dyn ObjectStore,
    path: &ObjectPath,
    bytes: Vec<u8>,
    opts: PutOptions,
) -> Result<(), object_store::Error> {
    let key = ObjectKey::from(path.to_path());
    match store.put_opts(&key, PutPayload::from(bytes), opts).await {
        Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
