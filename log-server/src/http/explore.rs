//! The explorer's pages under `/explore` (the `taglog-explorer` crate renders them).
//!
//! Read-only: every page reads the newest published checkpoint and the proofs `/lookup` and
//! `/history` would give, and the explorer's in-memory index of refs and publisher keys
//! ([`taglog_explorer::Index`]), which is built from the log's leaves on the first page and
//! extended to each newer published checkpoint. The same request limits as the API apply (the
//! router is wrapped as a whole). Bad queries get an HTML error page with a 4xx status.

use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use taglog_explorer::query;
use taglog_explorer::{Head, Index, PageError, Site};
use taglog_proofs::bundle::History;

use super::{blocking, ApiError};
use crate::log::heads::PinnedHead;
use crate::log::{now_unix, Log};
use crate::store::LogStore;

/// Where the explorer is mounted.
pub const BASE: &str = "/explore";
/// Leaves read from the store at once while the index catches up.
const INDEX_CHUNK: u64 = 4096;

/// The explorer's state: the log and its index.
pub struct Explorer {
    log: Arc<Log>,
    index: Mutex<Index>,
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

/// The explorer's routes, to merge into the API router.
pub fn router<S: Clone + Send + Sync + 'static>(log: Arc<Log>) -> Router<S> {
    let x = Arc::new(Explorer {
        log,
        index: Mutex::new(Index::new()),
    });
    let at = |p: Page| move |State(x): State<Arc<Explorer>>, RawQuery(q): RawQuery| serve(x, p, q);
    Router::new()
        .route(BASE, get(at(Page::Home)))
        .route("/explore/", get(at(Page::Home)))
        .route("/explore/search", get(at(Page::Search)))
        .route("/explore/tag", get(at(Page::Tag)))
        .route("/explore/repo", get(at(Page::Repo)))
        .route("/explore/publisher", get(at(Page::Publisher)))
        .route("/explore/verify.js", get(verify_js))
        .route("/explore/verify.wasm", get(verify_wasm))
        .route("/explore/{*rest}", get(at(Page::Missing)))
        .with_state(x)
}

async fn verify_js() -> Response {
    super::typed_response(
        StatusCode::OK,
        taglog_explorer::VERIFY_JS.as_bytes().to_vec(),
        "text/javascript; charset=utf-8",
        "no-cache",
    )
}

async fn verify_wasm() -> Response {
    super::typed_response(
        StatusCode::OK,
        taglog_explorer::VERIFY_WASM.to_vec(),
        "application/wasm",
        "no-cache",
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
    // Nothing from elsewhere: the pages carry their CSS inline and load scripts only from here.
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

async fn serve(x: Arc<Explorer>, page: Page, q: Option<String>) -> Response {
    let now = now_unix();
    let site = Site {
        base: BASE,
        api: "",
        now,
    };
    let result = blocking(move || Ok(render(&x, page, q.as_deref(), now))).await;
    match result {
        Ok(Ok(body)) => html(StatusCode::OK, body),
        Ok(Err(e)) => error(&site, &e),
        Err(e) => error(&site, &from_api(&e)),
    }
}

fn error(site: &Site<'_>, e: &PageError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %e, "explorer page failed");
    }
    html(status, taglog_explorer::error_page(site, e))
}

fn from_api(e: &ApiError) -> PageError {
    let status = e.parts().status;
    let title = if status == StatusCode::SERVICE_UNAVAILABLE {
        "Not available yet"
    } else {
        "Server error"
    };
    PageError::other(status.as_u16(), title, e.to_string())
}

fn from_read(e: impl std::fmt::Display) -> PageError {
    PageError::other(500, "Server error", e.to_string())
}

/// Reads the leaves the index lacks, up to `size`.
fn catch_up(store: &dyn LogStore, index: &mut Index, size: u64) -> Result<(), PageError> {
    while index.size() < size {
        let start = index.size();
        let count = (size - start).min(INDEX_CHUNK);
        let entries = store.entries(start, count).map_err(from_read)?;
        for (i, entry) in (start..).zip(entries) {
            index.feed(i, &entry).map_err(from_read)?;
        }
    }
    Ok(())
}

fn render(x: &Explorer, page: Page, raw: Option<&str>, now: u64) -> Result<String, PageError> {
    let site = Site {
        base: BASE,
        api: "",
        now,
    };
    let allowed: &[&str] = match page {
        Page::Home | Page::Missing => &[],
        Page::Search => &["q"],
        Page::Tag => &["ref", "cursor"],
        Page::Repo => &["name"],
        Page::Publisher => &["key", "cursor"],
    };
    if let Page::Missing = page {
        return Err(PageError::not_found(
            "no such explorer page; try the search box".to_owned(),
        ));
    }
    let params = query::parse(raw, allowed)?;
    // Pinned: the tag page reads the map at this head's size.
    let head: PinnedHead = x.log.heads().published_pinned().ok_or_else(|| {
        PageError::other(
            503,
            "Not available yet",
            "the log has no published checkpoint yet; try again shortly".to_owned(),
        )
    })?;
    let store = x.log.store().as_ref();
    let mut index = x
        .index
        .lock()
        .map_err(|_| PageError::other(500, "Server error", "index lock poisoned".to_owned()))?;
    catch_up(store, &mut index, head.size)?;
    let h = Head {
        note: head.note.as_slice(),
        size: head.size,
        time: head.time,
    };
    match page {
        Page::Home | Page::Missing => Ok(taglog_explorer::home_page(&site, &h, &index)),
        Page::Search => {
            taglog_explorer::search_page(&site, &h, &index, params.get("q").unwrap_or_default())
        }
        Page::Repo => taglog_explorer::repo_page(&site, &h, &index, params.required("name")?),
        Page::Publisher => taglog_explorer::publisher_page(
            &site,
            &h,
            &index,
            params.required("key")?,
            params.number("cursor")?.unwrap_or(0),
        ),
        Page::Tag => {
            let r = taglog_explorer::pages::parse_ref(params.required("ref")?)?;
            let limit = taglog_explorer::limits::TIMELINE_PAGE;
            let timeline = index.timeline(r.as_str(), params.number("cursor")?, head.size, limit);
            // Other pages need not wait for this page's store reads: the index only grows, and
            // what it says below this head's size does not change.
            drop(index);
            let bundle = crate::log::reads::lookup(store, x.log.state_proofs(), &head, &r, None)
                .map_err(from_read)?;
            let mut history = History {
                reference: r.clone(),
                checkpoint: head.note.to_vec(),
                entries: Vec::new(),
                next_cursor: None,
            };
            // The proofs of the page's versions: `/history` pages from the page's first
            // version (one page when TIMELINE_PAGE ≤ HISTORY_PAGE).
            let mut from = timeline.from;
            loop {
                let page = crate::log::reads::history(store, &head, &r, from).map_err(from_read)?;
                history.entries.extend(page.entries);
                history.next_cursor = page.next_cursor;
                match history.next_cursor.as_deref().and_then(|c| c.parse().ok()) {
                    Some(next) if history.entries.len() < limit => from = next,
                    _ => break,
                }
            }
            // Versions are previous + 1, so the index's page and the store's agree.
            history.entries.truncate(limit);
            history.next_cursor = timeline.newer.map(|v| v.to_string());
            let index = x.index.lock().map_err(|_| {
                PageError::other(500, "Server error", "index lock poisoned".to_owned())
            })?;
            Ok(taglog_explorer::tag_page(
                &site, &h, &index, &bundle, &history, &timeline,
            ))
        }
    }
}
