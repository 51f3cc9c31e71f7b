//! A reverse proxy on a loopback port that forwards `GET` requests to a real server and
//! records every path it was asked for: put it between a reader (monitor, auditing witness,
//! client) and a log server to see which tiles the reader fetched.
//!
//! A `Range` header goes upstream; the upstream's status, `Content-Type` and body are passed
//! back unchanged (the body is buffered). Paths are recorded without the leading `/`, with their query string. It runs on
//! its own thread and runtime, so it works from `#[test]` and `#[tokio::test]` alike, and stops
//! when the handle drops. Built on axum and reqwest (what the workspace already uses). Out of
//! A test may also make it lie: [`RecordingProxy::set_rewrite`] passes every answer's body
//! through a function of the path and the body (e.g. to tamper with the proofs a page carries),
//! until [`RecordingProxy::clear_rewrite`]. Out of scope: any method but `GET`, streaming.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::oneshot;

/// A rewrite of the answers: (path with query, upstream body) -> body to send.
pub type Rewrite = Arc<dyn Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync>;

struct Shared {
    upstream: String,
    http: reqwest::Client,
    paths: Mutex<Vec<String>>,
    rewrite: Mutex<Option<Rewrite>>,
}

/// A running proxy, stopped on drop.
pub struct RecordingProxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn forward(State(s): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    s.paths
        .lock()
        .expect("paths lock")
        .push(path.trim_start_matches('/').to_owned());
    let mut request = s.http.get(format!("{}{path}", s.upstream));
    if let Some(range) = headers.get(header::RANGE) {
        request = request.header(reqwest::header::RANGE, range.as_bytes());
    }
    let answer = match request.send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream: {e}")).into_response(),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let rewrite = s.rewrite.lock().expect("rewrite lock").clone();
    match answer.bytes().await {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, content_type)],
            match rewrite {
                Some(f) => f(&path, body.to_vec()),
                None => body.to_vec(),
            },
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("upstream body: {e}")).into_response(),
    }
}

impl RecordingProxy {
    /// A proxy forwarding to `upstream` (`http://HOST:PORT`, no trailing `/`).
    ///
    /// # Panics
    /// When no loopback port can be bound or the HTTP client cannot be built.
    #[must_use]
    pub fn start(upstream: &str) -> RecordingProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(crate::http::TIMEOUT)
                .build()
                .expect("build an HTTP client"),
            paths: Mutex::new(Vec::new()),
            rewrite: Mutex::new(None),
        });
        let app = Router::new()
            .fallback(axum::routing::get(forward))
            .with_state(Arc::clone(&shared));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("the bound address");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the proxy");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        });
        RecordingProxy {
            url: format!("http://{addr}"),
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every path asked for so far, in order (without the leading `/`, with the query).
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        self.shared.paths.lock().expect("paths lock").clone()
    }

    /// Forgets the paths recorded so far.
    pub fn clear(&self) {
        self.shared.paths.lock().expect("paths lock").clear();
    }

    /// From now on, sends `f(path, body)` instead of each upstream body.
    pub fn set_rewrite(&self, f: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static) {
        *self.shared.rewrite.lock().expect("rewrite lock") = Some(Arc::new(f));
    }

    /// From now on, passes the upstream bodies unchanged again.
    pub fn clear_rewrite(&self) {
        *self.shared.rewrite.lock().expect("rewrite lock") = None;
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::static_server::StaticServer;

    #[test]
    fn forwards_answers_and_records_paths() {
        let upstream = StaticServer::start();
        upstream.put("tile/entries/000", b"bundle".to_vec());
        let proxy = RecordingProxy::start(&upstream.url);
        let r = crate::http::get(&format!("{}/tile/entries/000", proxy.url));
        assert_eq!((r.status, r.body.as_slice()), (200, &b"bundle"[..]));
        let r = crate::http::get(&format!("{}/lookup?ref=a", proxy.url));
        assert_eq!(r.status, 404);
        assert_eq!(proxy.paths(), ["tile/entries/000", "lookup?ref=a"]);
        proxy.clear();
        assert!(proxy.paths().is_empty());
        proxy.set_rewrite(|path, mut body| {
            body.extend_from_slice(path.as_bytes());
            body
        });
        let r = crate::http::get(&format!("{}/tile/entries/000", proxy.url));
        assert_eq!(r.body.as_slice(), &b"bundle/tile/entries/000"[..]);
        proxy.clear_rewrite();
        let r = crate::http::get(&format!("{}/tile/entries/000", proxy.url));
        assert_eq!(r.body.as_slice(), &b"bundle"[..]);
    }
}
