//! Following a log over HTTP through C2SP tlog-tiles only (DESIGN.md §3.8, §6).
//!
//! The monitor reads `GET <log>/checkpoint` and entry bundles `GET <log>/tile/entries/...`;
//! nothing else of the log's API, so any static mirror or CDN of the tiles works. It does not
//! trust hash tiles: it rebuilds the tree from the entries itself ([`extend_root`]), so a
//! checkpoint is accepted only if the entries served rebuild its root on top of the tree the
//! monitor verified before (which also proves consistency with every earlier verified
//! checkpoint). Witnesses are read at `GET <witness>/<hex sha256(origin)>/checkpoint`.
//!
//! Guarantees: every response is size-limited before it is buffered; a partial bundle that
//! is no longer served is read from the full bundle (C2SP allows a log to replace it); an
//! entry bundle is decoded with its exact width. Out of scope: what the entries mean (see
//! the replay checker) and alerts.

use std::time::Duration;

use taglog_proofs::hash::{sha256, Hash};
use taglog_proofs::note::MAX_NOTE_BYTES;
use taglog_proofs::static_layout::Locator;
use taglog_proofs::tiles::{
    decode_entry_bundle, entry_leaf_hashes, TileError, TileKind, TilePath, MAX_BUNDLE_BYTES,
    TILE_WIDTH,
};
use taglog_proofs::tree::{stored_hashes_for_leaf, tree_root, HashReader, MemoryTree, TreeError};

/// Per-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most entry bundles fetched concurrently.
pub const MAX_PARALLEL_FETCHES: usize = 8;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Transport error (connection refused, timeout, TLS).
    #[error("GET {url} failed: {source}; check that the server is reachable")]
    Http {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The HTTP client could not be built (TLS backend).
    #[error("the HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
    /// A tile's fetch task never reported (a bug).
    #[error("fetching tiles from {url}: no result for {path}")]
    TaskLost {
        /// The log's base URL.
        url: String,
        /// The tile path.
        path: String,
    },
    /// A parallel fetch task of a tile range failed (panicked or was cancelled).
    #[error("fetching tiles from {url}: a fetch task failed: {source}")]
    Task {
        /// The log's base URL.
        url: String,
        /// The cause.
        #[source]
        source: tokio::task::JoinError,
    },
    /// Unexpected HTTP status.
    #[error("GET {url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The resource does not exist (404).
    #[error("GET {url}: not found (404)")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// The response exceeded its limit.
    #[error("GET {url}: response larger than {max} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        max: usize,
    },
    /// A tile could not be decoded (a truncated or padded entry bundle, ...).
    #[error("tile {path}: {source}")]
    Tile {
        /// The tile path.
        path: String,
        /// The cause.
        #[source]
        source: TileError,
    },
}

impl FetchError {
    /// Whether the error is about the content served (not about reachability).
    pub fn is_bad_content(&self) -> bool {
        matches!(self, FetchError::Tile { .. } | FetchError::TooLarge { .. })
    }
}

/// Builds the HTTP client every fetch uses.
///
/// # Errors
/// [`FetchError::Client`] if the TLS backend cannot be initialised.
pub fn http_client() -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("taglog-monitor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(FetchError::Client)
}

/// Reads `url` into memory, at most `max` bytes. `Ok(None)` for 404.
///
/// # Errors
/// [`FetchError::Http`], [`FetchError::Status`], [`FetchError::TooLarge`].
pub async fn get_limited(
    http: &reqwest::Client,
    url: &str,
    max: usize,
) -> Result<Option<Vec<u8>>, FetchError> {
    match send(http, url, None).await? {
        Some(resp) => read_body(resp, url, max).await.map(Some),
        None => Ok(None),
    }
}

/// `GET url`, with `Range: range` if given: the answer (2xx), `None` for 404.
async fn send(
    http: &reqwest::Client,
    url: &str,
    range: Option<String>,
) -> Result<Option<reqwest::Response>, FetchError> {
    let mut req = http.get(url);
    if let Some(range) = range {
        req = req.header(reqwest::header::RANGE, range);
    }
    let resp = req.send().await.map_err(|source| FetchError::Http {
        url: url.to_owned(),
        source,
    })?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    Ok(Some(resp))
}

/// The body of `resp` (an answer for `url`), at most `max` bytes.
async fn read_body(
    mut resp: reqwest::Response,
    url: &str,
    max: usize,
) -> Result<Vec<u8>, FetchError> {
    let http_err = |source: reqwest::Error| FetchError::Http {
        url: url.to_owned(),
        source,
    };
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        max,
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(http_err)? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The map object `at` locates in a pack, fetched with a `Range` request for its bytes from
/// the pack at `url` (a server that ignores `Range` answers the whole pack, at most `max`
/// bytes, and the object is cut from it). `None` for 404.
///
/// # Errors
/// As [`get_limited`]; [`FetchError::TooLarge`] also when the answer does not hold the range.
pub async fn get_located(
    http: &reqwest::Client,
    url: &str,
    at: Locator,
    max: usize,
) -> Result<Option<Vec<u8>>, FetchError> {
    let Some(resp) = send(http, url, at.range_header()).await? else {
        return Ok(None);
    };
    let status = resp.status();
    let partial = status == reqwest::StatusCode::PARTIAL_CONTENT;
    let body = read_body(resp, url, max).await?;
    at.cut(partial, &body)
        .map(|b| Some(b.to_vec()))
        .ok_or(FetchError::TooLarge {
            url: url.to_owned(),
            max,
        })
}

/// A log (or a mirror of its tiles) at a base URL.
#[derive(Clone, Debug)]
pub struct LogClient {
    http: reqwest::Client,
    base: String,
}

impl LogClient {
    /// A client for the log at `base` (with or without a trailing `/`).
    pub fn new(http: reqwest::Client, base: &str) -> LogClient {
        LogClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /checkpoint`.
    ///
    /// # Errors
    /// [`FetchError`]; 404 is [`FetchError::NotFound`].
    pub async fn checkpoint(&self) -> Result<Vec<u8>, FetchError> {
        let url = format!("{}/checkpoint", self.base);
        get_limited(&self.http, &url, MAX_NOTE_BYTES)
            .await?
            .ok_or(FetchError::NotFound { url })
    }

    /// The entries of bundle `tile`, decoded with their exact width. If the partial bundle
    /// is gone, the full bundle is read and cut to the width.
    ///
    /// # Errors
    /// [`FetchError`]; [`FetchError::Tile`] for a bundle that does not decode.
    pub async fn entry_bundle(&self, tile: &TilePath) -> Result<Vec<Vec<u8>>, FetchError> {
        let width = usize::from(tile.width());
        let url = format!("{}/{}", self.base, tile.to_path());
        if let Some(bytes) = get_limited(&self.http, &url, MAX_BUNDLE_BYTES).await? {
            return decode_entry_bundle(&bytes, width).map_err(|source| FetchError::Tile {
                path: tile.to_path(),
                source,
            });
        }
        if tile.is_full() {
            return Err(FetchError::NotFound { url });
        }
        let full =
            TilePath::new(TileKind::Entries, tile.index(), TILE_WIDTH).map_err(|source| {
                FetchError::Tile {
                    path: tile.to_path(),
                    source,
                }
            })?;
        let full_url = format!("{}/{}", self.base, full.to_path());
        let bytes = get_limited(&self.http, &full_url, MAX_BUNDLE_BYTES)
            .await?
            .ok_or(FetchError::NotFound { url })?;
        let mut entries =
            decode_entry_bundle(&bytes, usize::from(TILE_WIDTH)).map_err(|source| {
                FetchError::Tile {
                    path: full.to_path(),
                    source,
                }
            })?;
        entries.truncate(width);
        Ok(entries)
    }

    /// Entries `start..end` of the tree of `size` leaves (`end ≤ size`), in order, read
    /// from the bundles as they are at `size`; up to [`MAX_PARALLEL_FETCHES`] at a time.
    ///
    /// # Errors
    /// [`FetchError`] for the first bundle that fails.
    pub async fn entries(
        &self,
        start: u64,
        end: u64,
        size: u64,
    ) -> Result<Vec<Vec<u8>>, FetchError> {
        let width = u64::from(TILE_WIDTH);
        let mut out = Vec::new();
        if start >= end || end > size {
            return Ok(out);
        }
        let first = start / width;
        let last = (end - 1) / width;
        let mut bundles = Vec::new();
        for n in first..=last {
            let w = size.saturating_sub(n * width).min(width);
            let w = u16::try_from(w).unwrap_or(TILE_WIDTH);
            let tile =
                TilePath::new(TileKind::Entries, n, w).map_err(|source| FetchError::Tile {
                    path: format!("tile/entries/#{n}"),
                    source,
                })?;
            bundles.push(tile);
        }
        for group in bundles.chunks(MAX_PARALLEL_FETCHES) {
            let mut set = tokio::task::JoinSet::new();
            for (i, tile) in group.iter().enumerate() {
                let me = self.clone();
                let tile = *tile;
                set.spawn(async move { (i, me.entry_bundle(&tile).await) });
            }
            let mut results: Vec<Option<Result<Vec<Vec<u8>>, FetchError>>> =
                (0..group.len()).map(|_| None).collect();
            while let Some(joined) = set.join_next().await {
                let (i, r) = joined.map_err(|source| FetchError::Task {
                    url: self.base.clone(),
                    source,
                })?;
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(r);
                }
            }
            for (tile, r) in group.iter().zip(results) {
                let entries = r.unwrap_or_else(|| {
                    Err(FetchError::TaskLost {
                        url: self.base.clone(),
                        path: tile.to_path(),
                    })
                })?;
                let base = tile.index() * width;
                for (j, e) in entries.into_iter().enumerate() {
                    let idx = base + j as u64;
                    if idx >= start && idx < end {
                        out.push(e);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// `GET <witness>/<hex sha256(origin)>/checkpoint`: the witness's latest cosigned checkpoint
/// of this log. `Ok(None)` if the witness has none (404).
///
/// # Errors
/// [`FetchError`].
pub async fn witness_checkpoint(
    http: &reqwest::Client,
    witness_url: &str,
    origin: &str,
) -> Result<Option<Vec<u8>>, FetchError> {
    let url = format!(
        "{}/{}/checkpoint",
        witness_url.trim_end_matches('/'),
        hex::encode(sha256(origin.as_bytes()).0)
    );
    get_limited(http, &url, MAX_NOTE_BYTES).await
}

/// A [`HashReader`] over a verified tree plus stored hashes appended after it.
struct Overlay<'a> {
    base: &'a MemoryTree,
    base_count: u64,
    extra: Vec<Hash>,
}

impl HashReader for Overlay<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes
            .iter()
            .map(|&i| {
                if i < self.base_count {
                    self.base.stored_hash(i)
                } else {
                    usize::try_from(i - self.base_count)
                        .ok()
                        .and_then(|j| self.extra.get(j))
                        .copied()
                }
                .ok_or(TreeError::MissingHash { index: i })
            })
            .collect()
    }
}

/// The root of `tree` extended by `leaves` (leaf hashes), computed without changing `tree`.
///
/// # Errors
/// [`TreeError`] if the tree would exceed its maximum size.
pub fn extend_root(tree: &MemoryTree, leaves: &[Hash]) -> Result<Hash, TreeError> {
    let base_count = taglog_proofs::tree::stored_hash_count(tree.size());
    let mut overlay = Overlay {
        base: tree,
        base_count,
        extra: Vec::new(),
    };
    let mut n = tree.size();
    for leaf in leaves {
        let new = stored_hashes_for_leaf(n, *leaf, &overlay)?;
        overlay.extra.extend(new);
        n += 1;
    }
    tree_root(n, &overlay)
}

/// Leaf hashes of entries.
pub fn leaf_hashes(entries: &[Vec<u8>]) -> Vec<Hash> {
    entry_leaf_hashes(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::hash::leaf_hash;

    #[test]
    fn extend_root_matches_memory_tree() {
        let mut full = MemoryTree::new();
        let mut base = MemoryTree::new();
        for i in 0..300u32 {
            full.append(&i.to_be_bytes()).unwrap();
            if i < 77 {
                base.append(&i.to_be_bytes()).unwrap();
            }
        }
        let rest: Vec<Hash> = (77..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        assert_eq!(extend_root(&base, &rest).unwrap(), full.root());
        assert_eq!(
            extend_root(&MemoryTree::new(), &[]).unwrap(),
            MemoryTree::new().root()
        );
    }
}
