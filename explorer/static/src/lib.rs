//! The explorer against a static mirror of a log: the pages `taglog-server` serves under
//! `/explore`, rendered here from the log's immutable objects alone (what
//! `taglog-server --publish` uploads, or any copy of it behind plain HTTP), so that a log's
//! history can be browsed and checked with no taglog server in the read path.
//!
//! How it reads the mirror:
//! - `checkpoint`, verified with the log key before anything else is read;
//! - the entry bundles (`tile/entries/...`), read once in order as the monitor reads them and
//!   kept in memory: the index of refs and publisher keys, the entries, and the Merkle tree
//!   rebuilt from them. A checkpoint is used only if the rebuilt tree has its root at its
//!   size; otherwise the page says the mirror does not match its checkpoint and everything
//!   read is dropped (read again on the next page);
//! - a tag page's current binding: the `/lookup` bundle rebuilt by proofs' `BundleBuilder`
//!   from the checkpoint, hash tiles and map objects (each checked as it arrives; one in a
//!   pack is read with a `Range` request), also
//!   served at `/lookup?ref=` for `taglog verify --bundle`; its timeline: the tag's entries
//!   with inclusion proofs computed from the rebuilt tree, against the bundle's checkpoint.
//!
//! The page is not a verdict: like the server's, it carries its proofs for the in-browser
//! verifier, which trusts neither the mirror nor this program.
//!
//! Memory: every entry and two hashes per leaf (about 0.6 KB per binding). Out of scope:
//! caching of tiles and map objects between pages, `/history` and `since` for other clients,
//! TLS on the listening side (put it behind a proxy).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use taglog_explorer::{query, Head, Index, PageError, Site};
use taglog_monitor::follow::{get_limited, get_located, FetchError, LogClient};
use taglog_proofs::bundle::{Bundle, History, LeafProof};
use taglog_proofs::checkpoint::{CheckpointError, SignedCheckpoint};
use taglog_proofs::inclusion::inclusion_proof;
use taglog_proofs::leaves::StateLeaf;
use taglog_proofs::note::VerifierKey;
use taglog_proofs::refs::TagRef;
use taglog_proofs::static_layout::{BundleBuilder, ObjectPath, StaticError};
use taglog_proofs::tree::{MemoryTree, TreeError};
use tokio::sync::Mutex;

/// Where the pages are mounted (as on the server).
pub const BASE: &str = "/explore";
/// The largest static object read (tiles are 8 KiB, entry bundles at most 256 entries of
/// 64 KiB, map objects smaller).
pub const MAX_OBJECT_BYTES: usize = 17 * 1024 * 1024;
/// Leaves read from the mirror in one step while catching up.
pub const CATCH_UP_STEP: u64 = 256 * 16;
/// Longest time for one page, including catching up with the mirror.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a page could not be read from the mirror.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The mirror did not answer, or not with 200.
    #[error("reading the mirror: {0}")]
    Fetch(#[from] FetchError),
    /// An object the builder asked for is missing.
    #[error("the mirror has no {0}")]
    Missing(String),
    /// The checkpoint does not verify with the log key.
    #[error("the mirror's checkpoint does not verify with the log key: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The entries served do not rebuild the checkpoint's root.
    #[error(
        "the mirror's entries do not rebuild the root of its checkpoint of size {size}: the \
         mirror is damaged or not of this log"
    )]
    Root {
        /// The checkpoint's size.
        size: u64,
    },
    /// A tile, entry bundle or map object did not check out.
    #[error("the mirror's objects for this tag do not verify: {0}")]
    Static(#[from] StaticError),
    /// The tree refused a leaf or a proof (a log larger than the tree limit).
    #[error("the mirror's tree: {0}")]
    Tree(#[from] TreeError),
    /// An entry bundle held fewer entries than its width says.
    #[error("the mirror's entry bundles end at leaf {got}, its checkpoint has {size}")]
    Short {
        /// Leaves read.
        got: u64,
        /// The checkpoint's size.
        size: u64,
    },
}

impl MirrorError {
    fn page(&self) -> PageError {
        let title = match self {
            MirrorError::Fetch(FetchError::NotFound { .. }) | MirrorError::Missing(_) => {
                "Mirror incomplete"
            }
            MirrorError::Fetch(e) if !e.is_bad_content() => "Mirror unreachable",
            _ => "Mirror does not verify",
        };
        PageError::other(502, title, self.to_string())
    }
}

/// What has been read from the mirror: entries `0..tree.size()`.
#[derive(Default)]
struct Read {
    index: Index,
    tree: MemoryTree,
    entries: Vec<Vec<u8>>,
}

/// A mirror of one log and what has been read from it.
pub struct Mirror {
    log: LogClient,
    http: reqwest::Client,
    key: VerifierKey,
    read: Mutex<Read>,
}

/// A checkpoint that verified with the log key.
struct Checkpoint {
    note: Vec<u8>,
    size: u64,
    root: taglog_proofs::hash::Hash,
}

impl Mirror {
    /// The mirror at `base` (the URL prefix its `checkpoint` is under) of the log `key` signs.
    ///
    /// # Errors
    /// [`MirrorError::Fetch`] if the HTTP client cannot be built.
    pub fn new(base: &str, key: VerifierKey) -> Result<Mirror, MirrorError> {
        let http = taglog_monitor::follow::http_client()?;
        Ok(Mirror {
            log: LogClient::new(http.clone(), base),
            http,
            key,
            read: Mutex::new(Read::default()),
        })
    }

    async fn checkpoint(&self) -> Result<Checkpoint, MirrorError> {
        let note = self.log.checkpoint().await?;
        open(&note, &self.key)
    }

    /// Reads the entries up to `cp` and checks the tree against it; on a mismatch everything
    /// read is dropped.
    async fn catch_up(&self, read: &mut Read, cp: &Checkpoint) -> Result<(), MirrorError> {
        while read.tree.size() < cp.size {
            let start = read.tree.size();
            let end = cp.size.min(start.saturating_add(CATCH_UP_STEP));
            let entries = self.log.entries(start, end, cp.size).await?;
            if entries.len() as u64 != end - start {
                return Err(MirrorError::Short {
                    got: start + entries.len() as u64,
                    size: cp.size,
                });
            }
            for entry in entries {
                let i = read.tree.append(&entry)?;
                // In order by construction: the index and the tree grow together.
                let _ = read.index.feed(i, &entry);
                read.entries.push(entry);
            }
        }
        if read.tree.root_at(cp.size)? != cp.root {
            *read = Read::default();
            return Err(MirrorError::Root { size: cp.size });
        }
        Ok(())
    }

    /// Reads the mirror up to its current checkpoint (what the first page would do).
    ///
    /// # Errors
    /// [`MirrorError`].
    pub async fn warm(&self) -> Result<u64, MirrorError> {
        let cp = self.checkpoint().await?;
        let mut read = self.read.lock().await;
        self.catch_up(&mut read, &cp).await?;
        Ok(cp.size)
    }

    /// The `/lookup` bundle of `reference` at the mirror's checkpoint, from its objects.
    async fn bundle(&self, reference: &TagRef) -> Result<Bundle, MirrorError> {
        let mut b = BundleBuilder::new(self.key.clone(), reference.clone(), None);
        while !b.is_done() {
            let mut got = Vec::new();
            for p in b.wanted().to_vec() {
                // A map object below the top one may be a range of a pack.
                let at = b.locator(&p);
                let bytes = match at.range() {
                    None => {
                        let url = format!("{}/{}", self.log.base(), p.to_path());
                        get_limited(&self.http, &url, MAX_OBJECT_BYTES).await?
                    }
                    Some((pack, _)) => {
                        let path = ObjectPath::Pack(pack).to_path();
                        let url = format!("{}/{path}", self.log.base());
                        get_located(&self.http, &url, at, MAX_OBJECT_BYTES).await?
                    }
                };
                // A mirror of a bucket written before edge objects has none: the builder
                // asks for the tiles instead.
                if bytes.is_none() && matches!(p, ObjectPath::Edge(_)) {
                    continue;
                }
                got.push((p, bytes.ok_or_else(|| MirrorError::Missing(p.to_path()))?));
            }
            b = b.supply(got)?;
        }
        Ok(b.finish()?)
    }

    async fn render(&self, page: Page, raw: Option<&str>, now: u64) -> Result<String, PageError> {
        let site = Site {
            base: BASE,
            api: "",
            now,
        };
        let allowed: &[&str] = match page {
            Page::Home => &[],
            Page::Search => &["q"],
            Page::Tag => &["ref", "cursor"],
            Page::Repo => &["name"],
            Page::Publisher => &["key", "cursor"],
            Page::Missing => {
                return Err(PageError::not_found(
                    "no such explorer page; try the search box".to_owned(),
                ))
            }
        };
        let params = query::parse(raw, allowed)?;
        if let Page::Tag = page {
            let r = taglog_explorer::pages::parse_ref(params.required("ref")?)?;
            let cursor = params.number("cursor")?;
            let bundle = self.bundle(&r).await.map_err(|e| e.page())?;
            let cp = open(&bundle.checkpoint, &self.key).map_err(|e| e.page())?;
            let mut read = self.read.lock().await;
            self.catch_up(&mut read, &cp).await.map_err(|e| e.page())?;
            let timeline = read.index.timeline(
                r.as_str(),
                cursor,
                cp.size,
                taglog_explorer::limits::TIMELINE_PAGE,
            );
            let indexes = timeline.indexes.clone();
            let next = timeline.newer;
            let mut entries = Vec::with_capacity(indexes.len());
            for i in indexes {
                let entry = usize::try_from(i)
                    .ok()
                    .and_then(|i| read.entries.get(i))
                    .cloned()
                    .unwrap_or_default();
                let inclusion = inclusion_proof(i, cp.size, &read.tree)
                    .map_err(|e| MirrorError::Tree(e).page())?;
                entries.push(LeafProof {
                    index: i,
                    entry,
                    inclusion,
                });
            }
            let history = History {
                reference: r,
                checkpoint: bundle.checkpoint.clone(),
                entries,
                next_cursor: next.map(|n| n.to_string()),
            };
            let time = StateLeaf::parse(&bundle.state.entry).map_or(0, |s| s.time);
            let head = Head {
                note: &cp.note,
                size: cp.size,
                time,
            };
            return Ok(taglog_explorer::tag_page(
                &site,
                &head,
                &read.index,
                &bundle,
                &history,
                &timeline,
            ));
        }
        let cp = self.checkpoint().await.map_err(|e| e.page())?;
        let mut read = self.read.lock().await;
        self.catch_up(&mut read, &cp).await.map_err(|e| e.page())?;
        let index = &read.index;
        let head = Head {
            note: &cp.note,
            size: cp.size,
            time: cp
                .size
                .checked_sub(1)
                .and_then(|last| index.log_time(last))
                .unwrap_or(0),
        };
        match page {
            Page::Search => taglog_explorer::search_page(
                &site,
                &head,
                index,
                params.get("q").unwrap_or_default(),
            ),
            Page::Repo => taglog_explorer::repo_page(&site, &head, index, params.required("name")?),
            Page::Publisher => taglog_explorer::publisher_page(
                &site,
                &head,
                index,
                params.required("key")?,
                params.number("cursor")?.unwrap_or(0),
            ),
            Page::Home | Page::Tag | Page::Missing => {
                Ok(taglog_explorer::home_page(&site, &head, index))
            }
        }
    }
}

fn open(note: &[u8], key: &VerifierKey) -> Result<Checkpoint, MirrorError> {
    let signed = SignedCheckpoint::open(note, key)?;
    Ok(Checkpoint {
        note: note.to_vec(),
        size: signed.checkpoint().size(),
        root: signed.checkpoint().root(),
    })
}

#[derive(Clone, Copy)]
enum Page {
    Home,
    Search,
    Tag,
    Repo,
    Publisher,
    Missing,
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The routes: the explorer under [`BASE`], `/lookup?ref=` (the bundle for
/// `taglog verify --bundle`), and `/` redirecting to the explorer.
pub fn router(mirror: Arc<Mirror>) -> Router {
    let at = |p: Page| {
        move |State(m): State<Arc<Mirror>>, RawQuery(q): RawQuery| async move {
            let now = now_unix();
            let site = Site {
                base: BASE,
                api: "",
                now,
            };
            match m.render(p, q.as_deref(), now).await {
                Ok(body) => html(StatusCode::OK, body),
                Err(e) => error(&site, &e),
            }
        }
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/explore/") }))
        .route(BASE, get(at(Page::Home)))
        .route("/explore/", get(at(Page::Home)))
        .route("/explore/search", get(at(Page::Search)))
        .route("/explore/tag", get(at(Page::Tag)))
        .route("/explore/repo", get(at(Page::Repo)))
        .route("/explore/publisher", get(at(Page::Publisher)))
        .route("/explore/verify.js", get(verify_js))
        .route("/explore/verify.wasm", get(verify_wasm))
        .route("/explore/{*rest}", get(at(Page::Missing)))
        .route("/lookup", get(lookup))
        .with_state(mirror)
}

async fn lookup(State(m): State<Arc<Mirror>>, RawQuery(q): RawQuery) -> Response {
    let answer = async {
        let params = query::parse(q.as_deref(), &["ref"])?;
        let r = taglog_explorer::pages::parse_ref(params.required("ref")?)?;
        m.bundle(&r).await.map_err(|e| e.page())
    };
    match answer.await {
        Ok(b) => typed(StatusCode::OK, b.to_json().into_bytes(), "application/json"),
        Err(e) => typed(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY),
            format!("{e}\n").into_bytes(),
            "text/plain; charset=utf-8",
        ),
    }
}

fn typed(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn verify_js() -> Response {
    typed(
        StatusCode::OK,
        taglog_explorer::VERIFY_JS.as_bytes().to_vec(),
        "text/javascript; charset=utf-8",
    )
}

async fn verify_wasm() -> Response {
    typed(
        StatusCode::OK,
        taglog_explorer::VERIFY_WASM.to_vec(),
        "application/wasm",
    )
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // As on the server: nothing from elsewhere.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'self' 'wasm-unsafe-eval'; \
             connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn error(site: &Site<'_>, e: &PageError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!(error = %e, "explorer page failed");
    }
    html(status, taglog_explorer::error_page(site, e))
}
