//! A log read from its static objects (issue 15): a `log` line or `--log` naming
//! `static+https://host/prefix` (or `static+http://`) makes the client fetch the checkpoint,
//! the edge object of its size, tiles, entry bundles and map objects from that base URL (a
//! bucket, CDN or mirror) instead of asking the server's `/lookup`. A bucket without edge
//! objects (HTTP 404 for `edge/<N>`: written before they existed, or deleted once superseded)
//! is read from its tiles and entry bundles instead; a partial tile or entry bundle answered
//! 404 (deleted once its full tile exists) is cut from the full one. A map object that the
//! object above it locates in a pack (`map/pack/<id>`) is read with an HTTP `Range` request;
//! a server that ignores `Range` answers the whole pack (at most `MAX_PACK_BYTES`), and the
//! object is cut from it.
//!
//! The bundle is rebuilt by proofs' [`BundleBuilder`], which checks every object before using
//! it (the checkpoint by the log key, tiles against its root, map objects against their
//! address), and then goes through the same verifier as a `/lookup` bundle: it is handed over
//! as bundle bytes, exactly what `/lookup` would have answered for the same checkpoint.
//!
//! Cache: tiles, entry bundles, map objects and edge objects never change, so they are kept
//! on disk by path
//! under `<cache>/static/<hex sha256(origin)>/` (`TAGLOG_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/taglog`, else `~/.cache/taglog`); the checkpoint is always fetched. A
//! cached object is checked like a fetched one; if a build fails with cached objects in it,
//! they are dropped and the build is retried from the network once.
//!
//! Out of scope: `/history` (pins need the server), publishing (a static URL is read-only).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use taglog_proofs::note::{VerifierKey, MAX_NOTE_BYTES};
use taglog_proofs::refs::TagRef;
use taglog_proofs::static_layout::{
    BundleBuilder, Locator, ObjectPath, MAX_EDGE_OBJECT_BYTES, MAX_MAP_OBJECT_BYTES, MAX_PACK_BYTES,
};
use taglog_proofs::tiles::{
    partial_from_full, TileKind, MAX_BUNDLE_BYTES as MAX_ENTRY_BUNDLE_BYTES, TILE_WIDTH,
};

use crate::body::{error_chain, read_limited};
use crate::remote::RemoteError;

/// The URL prefix that names a static log.
pub const STATIC_SCHEME: &str = "static+";
/// Most objects one bundle may need (rounds × objects per round); a builder asking for more
/// is refused.
pub const MAX_OBJECTS_PER_BUNDLE: usize = 256;

/// Objects fetched for one bundle: from the network and from the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Objects fetched over HTTP.
    pub fetched: usize,
    /// Bytes fetched over HTTP.
    pub bytes: usize,
    /// Objects read from the cache.
    pub cached: usize,
}

/// A static log at one base URL.
#[derive(Debug, Clone)]
pub struct StaticLog {
    base: String,
    key: VerifierKey,
    http: reqwest::Client,
    cache: Option<PathBuf>,
}

/// Whether `url` names a static log.
pub fn is_static(url: &str) -> bool {
    url.starts_with(STATIC_SCHEME)
}

/// The default cache directory (see the module documentation), if any.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("TAGLOG_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("taglog")))
        .or_else(|| env("HOME").map(|p| p.join(".cache/taglog")))
}

fn limit_for(path: &ObjectPath) -> u64 {
    let n = match path {
        ObjectPath::Checkpoint => MAX_NOTE_BYTES,
        ObjectPath::Map(_) => MAX_MAP_OBJECT_BYTES,
        ObjectPath::Pack(_) => MAX_PACK_BYTES,
        ObjectPath::Edge(_) => MAX_EDGE_OBJECT_BYTES,
        ObjectPath::Tile(t) if t.kind() == TileKind::Entries => MAX_ENTRY_BUNDLE_BYTES,
        ObjectPath::Tile(_) => 32 * usize::from(TILE_WIDTH),
    };
    n as u64
}

impl StaticLog {
    /// A static log at `base` (`static+http(s)://...`, the prefix is stripped) whose
    /// checkpoints `key` signs.
    ///
    /// # Errors
    /// [`RemoteError::Unavailable`] for a URL that is not `static+http(s)://` or an HTTP
    /// client that cannot be built.
    pub fn new(
        base: &str,
        key: VerifierKey,
        http: reqwest::Client,
        cache_root: Option<&Path>,
    ) -> Result<StaticLog, RemoteError> {
        let url = base.strip_prefix(STATIC_SCHEME).unwrap_or(base);
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RemoteError::Unavailable {
                url: base.to_string(),
                reason: "a static log URL must start with static+http:// or static+https://".into(),
            });
        }
        let origin = Sha256::digest(key.name().as_str().as_bytes());
        let cache = cache_root.map(|r| r.join("static").join(hex::encode(origin)));
        Ok(StaticLog {
            base: url.trim_end_matches('/').to_string(),
            key,
            http,
            cache,
        })
    }

    /// The base URL (without the `static+` prefix).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bundle for `r` (with a consistency proof from `since`), as `/lookup` bytes, and
    /// what was fetched for it.
    ///
    /// # Errors
    /// [`RemoteError::Unavailable`] when an object cannot be fetched (no answer, 404, 5xx);
    /// [`RemoteError::BadAnswer`] when an object is refused by its check.
    pub async fn lookup(
        &self,
        r: &TagRef,
        since: Option<u64>,
    ) -> Result<(Vec<u8>, FetchStats), RemoteError> {
        match self.build(r, since, true).await {
            // A pack deleted after our checkpoint was superseded (we read it more than the
            // log's grace period ago, or from a stale cache): once more, from the newest
            // checkpoint.
            Err(Failure::PackGone(_)) => self
                .build(r, since, true)
                .await
                .map_err(Failure::into_error),
            Err(Failure::WithCache(paths)) => {
                for p in paths {
                    if let Some(f) = self.cache_file(&p) {
                        let _ = std::fs::remove_file(f);
                    }
                }
                self.build(r, since, false)
                    .await
                    .map_err(Failure::into_error)
            }
            other => other.map_err(Failure::into_error),
        }
    }

    /// `checkpoint`: the newest published checkpoint note (unverified bytes).
    ///
    /// # Errors
    /// As [`StaticLog::lookup`].
    pub async fn checkpoint(&self) -> Result<Vec<u8>, RemoteError> {
        self.fetch(&ObjectPath::Checkpoint).await
    }

    async fn build(
        &self,
        r: &TagRef,
        since: Option<u64>,
        use_cache: bool,
    ) -> Result<(Vec<u8>, FetchStats), Failure> {
        let mut b = BundleBuilder::new(self.key.clone(), r.clone(), since);
        let mut stats = FetchStats::default();
        let mut from_cache = Vec::new();
        let mut asked = 0;
        while !b.is_done() {
            let wanted = b.wanted().to_vec();
            asked += wanted.len();
            if asked > MAX_OBJECTS_PER_BUNDLE {
                return Err(Failure::Error(self.bad(format!(
                    "the objects call for more than {MAX_OBJECTS_PER_BUNDLE} objects"
                ))));
            }
            let mut round = Vec::with_capacity(wanted.len());
            let mut to_fetch = Vec::new();
            for p in wanted {
                match self.cached(&p).filter(|_| use_cache) {
                    Some(bytes) => {
                        stats.cached += 1;
                        from_cache.push(p);
                        round.push((p, bytes));
                    }
                    None => to_fetch.push((p, b.locator(&p))),
                }
            }
            let got = futures_util::future::join_all(
                to_fetch.iter().map(|(p, at)| self.fetch_located(p, *at)),
            )
            .await;
            let to_fetch = to_fetch.into_iter().map(|(p, _)| p);
            for (p, bytes) in to_fetch.zip(got) {
                stats.fetched += 1;
                // Only an edge object may be absent (a bucket written before edge objects):
                // the builder then asks for the tiles instead.
                let Some(bytes) = bytes.map_err(Failure::Error)? else {
                    if let ObjectPath::Map(_) = p {
                        return Err(Failure::PackGone(p));
                    }
                    continue;
                };
                stats.bytes += bytes.len();
                self.store(&p, &bytes);
                round.push((p, bytes));
            }
            b = match b.supply(round) {
                Ok(b) => b,
                Err(_) if !from_cache.is_empty() => return Err(Failure::WithCache(from_cache)),
                Err(e) => return Err(Failure::Error(self.bad(e.to_string()))),
            };
        }
        let bundle = b
            .finish()
            .map_err(|e| Failure::Error(self.bad(e.to_string())))?;
        Ok((bundle.to_json().into_bytes(), stats))
    }

    fn bad(&self, reason: String) -> RemoteError {
        RemoteError::BadAnswer {
            url: format!("{STATIC_SCHEME}{}", self.base),
            reason: format!("static objects refused: {reason}"),
        }
    }

    fn cache_file(&self, p: &ObjectPath) -> Option<PathBuf> {
        let dir = self.cache.as_ref()?;
        p.is_immutable().then(|| dir.join(p.to_path()))
    }

    fn cached(&self, p: &ObjectPath) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.cache_file(p)?).ok()?;
        (bytes.len() as u64 <= limit_for(p)).then_some(bytes)
    }

    /// Keeps an immutable object (written to a temporary file, then renamed: a reader never
    /// sees half an object). A failure only costs a later fetch.
    fn store(&self, p: &ObjectPath, bytes: &[u8]) {
        let Some(file) = self.cache_file(p) else {
            return;
        };
        let Some(dir) = file.parent() else { return };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let tmp = dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, &file).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    async fn fetch(&self, p: &ObjectPath) -> Result<Vec<u8>, RemoteError> {
        let url = format!("{}/{}", self.base, p.to_path());
        self.fetch_opt(p).await?.ok_or(RemoteError::Unavailable {
            url,
            reason: "HTTP 404 for a static object".into(),
        })
    }

    /// `p` where `at` says it is: a range of a pack (`None` for a 404: the pack was deleted
    /// once superseded), or (for [`Locator::Own`]) at its path ([`StaticLog::fetch_opt`]).
    async fn fetch_located(
        &self,
        p: &ObjectPath,
        at: Locator,
    ) -> Result<Option<Vec<u8>>, RemoteError> {
        let (Some((pack, range)), Some(header)) = (at.range(), at.range_header()) else {
            return self.fetch_opt(p).await;
        };
        let url = format!("{}/{}", self.base, ObjectPath::Pack(pack).to_path());
        let resp = self
            .http
            .get(&url)
            .header(reqwest::header::RANGE, header)
            .send()
            .await
            .map_err(|e| RemoteError::Unavailable {
                url: url.clone(),
                reason: error_chain(&e),
            })?;
        let partial = match resp.status().as_u16() {
            404 => return Ok(None),
            206 => true,
            // A server that ignores Range answers the whole pack.
            200 => false,
            status => {
                return Err(RemoteError::Unavailable {
                    url,
                    reason: format!("HTTP {status} for a range of a static pack"),
                })
            }
        };
        let limit = if partial {
            range.end - range.start
        } else {
            MAX_PACK_BYTES as u64
        };
        let bad = |reason: String| RemoteError::BadAnswer {
            url: url.clone(),
            reason,
        };
        let body = read_limited(resp, limit)
            .await
            .map_err(|e| bad(e.to_string()))?;
        at.cut(partial, &body)
            .map(|b| Some(b.to_vec()))
            .ok_or_else(|| {
                bad(format!(
                    "the answer for bytes {}-{} of the pack does not hold them ({} bytes)",
                    range.start,
                    range.end - 1,
                    body.len()
                ))
            })
    }

    /// The object, or `None` for an edge object the base URL answers 404 for. A partial tile
    /// or entry bundle answered 404 was superseded and deleted (C2SP tlog-tiles allows it once
    /// the full tile exists): it is cut from the full tile, and checked like any other.
    async fn fetch_opt(&self, p: &ObjectPath) -> Result<Option<Vec<u8>>, RemoteError> {
        let url = format!("{}/{}", self.base, p.to_path());
        if let Some(bytes) = self.get(&url, limit_for(p)).await? {
            return Ok(Some(bytes));
        }
        let gone = || RemoteError::Unavailable {
            url: url.clone(),
            reason: "HTTP 404 for a static object".into(),
        };
        match p {
            ObjectPath::Edge(_) => Ok(None),
            ObjectPath::Tile(t) if !t.is_full() => {
                let full = ObjectPath::Tile(t.full());
                let full_url = format!("{}/{}", self.base, full.to_path());
                let bytes = self
                    .get(&full_url, limit_for(&full))
                    .await?
                    .ok_or_else(gone)?;
                partial_from_full(t, &bytes)
                    .map(Some)
                    .map_err(|e| RemoteError::BadAnswer {
                        url: full_url,
                        reason: e.to_string(),
                    })
            }
            _ => Err(gone()),
        }
    }

    /// `GET url`, at most `limit` bytes; `None` for 404.
    async fn get(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, RemoteError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| RemoteError::Unavailable {
                url: url.to_string(),
                reason: error_chain(&e),
            })?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(RemoteError::Unavailable {
                url: url.to_string(),
                reason: format!("HTTP {status} for a static object"),
            });
        }
        read_limited(resp, limit)
            .await
            .map(|b| Some(b.to_vec()))
            .map_err(|e| RemoteError::BadAnswer {
                url: url.to_string(),
                reason: e.to_string(),
            })
    }
}

/// Why a build failed: an error, a refusal with cached objects in it (retried fresh), or a
/// pack that is gone (retried from the newest checkpoint).
enum Failure {
    Error(RemoteError),
    WithCache(Vec<ObjectPath>),
    PackGone(ObjectPath),
}

impl Failure {
    fn into_error(self) -> RemoteError {
        match self {
            Failure::Error(e) => e,
            Failure::PackGone(p) => RemoteError::Unavailable {
                url: p.to_path(),
                reason: "HTTP 404 for the pack that holds this map object, twice: the bucket \
                         lacks an object its newest checkpoint needs"
                    .into(),
            },
            Failure::WithCache(_) => RemoteError::BadAnswer {
                url: String::new(),
                reason: "static objects refused".into(),
            },
        }
    }
}

/// Shared handle, so clones of a [`crate::remote::LogClient`] share one reader.
pub type SharedStaticLog = Arc<StaticLog>;
