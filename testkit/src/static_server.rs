//! A static HTTP file server on a loopback port whose files a test can change between
//! requests: serves a crafted log's checkpoint, tiles and lookups, a witness's checkpoint, or
//! any fixture directory, and records POST bodies (a webhook). [`StaticServer::over_dir`]
//! serves a directory as it is at each request instead (a bucket that a server publishes to).
//!
//! Paths are kept without the leading `/`; a query string is ignored (`/lookup?ref=...` is the
//! file `lookup`). A GET with one `Range: bytes=<first>-<last>` gets that part (206), as from
//! S3 or a CDN, unless [`StaticServer::set_ranges`] turned ranges off (then the whole file,
//! as from a server that ignores `Range`). A missing file is a 404 with a JSON error body. It runs on its own thread
//! and runtime, so it works from `#[test]` and `#[tokio::test]` alike, and stops when the
//! handle drops. Built on axum (the HTTP server the workspace already uses).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::oneshot;

/// Files by path (without the leading `/`).
pub type Files = HashMap<String, Vec<u8>>;

#[derive(Default)]
struct Shared {
    files: RwLock<Files>,
    posts: RwLock<Vec<(String, Vec<u8>)>>,
    delay_ms: AtomicU64,
    /// Whether `Range` requests are ignored.
    no_ranges: AtomicBool,
    /// A directory read at each request for a path not in `files`.
    dir: Option<PathBuf>,
}

/// The file at `path` under `dir`, if `path` is a plain relative path and the file exists.
fn read_under(dir: &Path, path: &str) -> Option<Vec<u8>> {
    let rel = Path::new(path);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    std::fs::read(dir.join(rel)).ok()
}

/// A running static server, stopped on drop.
pub struct StaticServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The one range of a `Range: bytes=<first>-<last>` header, if that is what it is.
fn byte_range(headers: &HeaderMap) -> Option<(usize, usize)> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let (first, last) = v.strip_prefix("bytes=")?.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?))
}

async fn serve_file(
    State(s): State<Arc<Shared>>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let delay = s.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let body = s.files.read().expect("files lock").get(&path).cloned();
    let body = body.or_else(|| s.dir.as_deref().and_then(|d| read_under(d, &path)));
    let range = byte_range(&headers).filter(|_| !s.no_ranges.load(Ordering::SeqCst));
    if let (Some(b), Some((first, last))) = (&body, range) {
        let Some(part) = b.get(first..=last.min(b.len().saturating_sub(1))) else {
            return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        };
        let end = first + part.len() - 1;
        let content_range = format!("bytes {first}-{end}/{}", b.len());
        return (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_RANGE, content_range),
            ],
            part.to_vec(),
        )
            .into_response();
    }
    match body {
        Some(b) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            b,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"not-found","detail":"not found"}"#,
        )
            .into_response(),
    }
}

async fn record(
    State(s): State<Arc<Shared>>,
    UrlPath(path): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    s.posts
        .write()
        .expect("posts lock")
        .push((path, body.to_vec()));
    StatusCode::OK
}

impl StaticServer {
    /// A server with no files yet.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn start() -> StaticServer {
        StaticServer::with_files(Files::new())
    }

    /// A server serving `files`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn with_files(files: Files) -> StaticServer {
        StaticServer::serve(Shared {
            files: RwLock::new(files),
            ..Shared::default()
        })
    }

    /// A server of the files under `dir` as they are at each request (`dir` may not exist
    /// yet: then every path is a 404). Files given with [`StaticServer::put`] take precedence.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn over_dir(dir: &Path) -> StaticServer {
        StaticServer::serve(Shared {
            dir: Some(dir.to_path_buf()),
            ..Shared::default()
        })
    }

    fn serve(shared: Shared) -> StaticServer {
        let shared = Arc::new(shared);
        let app = Router::new()
            .route("/{*path}", axum::routing::get(serve_file).post(record))
            .with_state(Arc::clone(&shared));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("the bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the static server");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        StaticServer {
            url: format!("http://{addr}"),
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Serves `bytes` at `path` (without the leading `/`), replacing any file there.
    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.shared
            .files
            .write()
            .expect("files lock")
            .insert(path.to_owned(), bytes);
    }

    /// Serves exactly `files` from now on.
    pub fn set_all(&self, files: Files) {
        *self.shared.files.write().expect("files lock") = files;
    }

    /// Serves nothing from now on.
    pub fn clear(&self) {
        self.shared.files.write().expect("files lock").clear();
    }

    /// The file served at `path`.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.shared
            .files
            .read()
            .expect("files lock")
            .get(path)
            .cloned()
    }

    /// Serves every file under `dir` at its relative path.
    pub fn put_dir(&self, dir: &Path) {
        for (path, bytes) in read_dir_files(dir) {
            self.put(&path, bytes);
        }
    }

    /// Answers `Range` requests with the part asked for (`true`, the default) or with the whole
    /// file (`false`, as a server that ignores `Range`).
    pub fn set_ranges(&self, on: bool) {
        self.shared.no_ranges.store(!on, Ordering::SeqCst);
    }

    /// Delays every later answer to a GET by `ms` milliseconds.
    pub fn set_delay_ms(&self, ms: u64) {
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// The POSTs received so far: (path, body).
    #[must_use]
    pub fn posts(&self) -> Vec<(String, Vec<u8>)> {
        self.shared.posts.read().expect("posts lock").clone()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every file under `dir`, by path relative to it (with `/`).
///
/// # Panics
/// When `dir` cannot be read.
#[must_use]
pub fn read_dir_files(dir: &Path) -> Files {
    fn walk(base: &Path, dir: &Path, out: &mut Files) {
        let entries =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for e in entries {
            let p = e.expect("a directory entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .expect("under the base")
                    .to_string_lossy()
                    .replace('\\', "/");
                let bytes =
                    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
                out.insert(rel, bytes);
            }
        }
    }
    let mut out = Files::new();
    walk(dir, dir, &mut out);
    out
}

/// The paths of the files under `dir` (relative, with `/`), read while a server may be
/// deleting some: a file or directory that vanishes during the walk is left out.
///
/// # Panics
/// When `dir` itself cannot be read.
#[must_use]
pub fn list_dir_paths(dir: &Path) -> std::collections::BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for p in entries.filter_map(Result::ok).map(|e| e.path()) {
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    assert!(dir.is_dir(), "{} is not a directory", dir.display());
    let mut out = std::collections::BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http;

    #[test]
    fn serves_changes_ignores_queries_and_records_posts() {
        let s = StaticServer::start();
        assert_eq!(http::get(&format!("{}/checkpoint", s.url)).status, 404);
        s.put("checkpoint", b"one".to_vec());
        s.put("lookup", b"bundle".to_vec());
        assert_eq!(http::get(&format!("{}/checkpoint", s.url)).body, b"one");
        assert_eq!(
            http::get(&format!("{}/lookup?ref=r.example/a:1", s.url)).body,
            b"bundle"
        );
        s.set_all(Files::from([("tile/0/000".to_owned(), b"t".to_vec())]));
        assert_eq!(http::get(&format!("{}/checkpoint", s.url)).status, 404);
        assert_eq!(http::get(&format!("{}/tile/0/000", s.url)).body, b"t");
        assert_eq!(
            http::post(&format!("{}/hook", s.url), b"alert".to_vec()).status,
            200
        );
        assert_eq!(s.posts(), [("hook".to_owned(), b"alert".to_vec())]);
    }
}
