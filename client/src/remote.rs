//! The log's HTTP API as the client uses it (DESIGN §5 "Endpoints"): `GET /lookup`,
//! `GET /history`, `GET /checkpoint` and `POST /add-binding`.
//!
//! Guarantees: every answer is size-limited before it is read in full; connection failures,
//! timeouts and 5xx/429 answers are [`RemoteError::Unavailable`] (exit 3); JSON error bodies
//! (`{"error", "detail", ...}`) are surfaced with their code and detail. Nothing here verifies
//! anything: callers pass the bytes to `taglog_proofs`.
//!
//! Out of scope: tiles, `/proof` and `/consistency` (monitors use them), retries beyond the
//! publish loop in [`crate::publish`].

use std::time::Duration;

use taglog_proofs::bundle::{MAX_BUNDLE_BYTES, MAX_HISTORY_BYTES};
use taglog_proofs::note::MAX_NOTE_BYTES;
use taglog_proofs::refs::TagRef;

use crate::body::{error_chain, read_limited};
use crate::static_log::{is_static, StaticLog};

/// Per-request timeout (a publish may wait for the server's commit timeout).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Connection timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest error body read.
pub const MAX_ERROR_BYTES: u64 = 64 * 1024;

/// Why a log request failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The log could not be reached, timed out, or answered 5xx / 429.
    #[error("log {url} is unavailable: {reason}; retry later, or verify offline with --bundle")]
    Unavailable {
        /// URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The log refused the request (4xx other than 429).
    #[error("log {url} refused the request (HTTP {status} {code}): {detail}")]
    Rejected {
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The JSON `error` code.
        code: String,
        /// The JSON `detail`.
        detail: String,
        /// The JSON `expected_version`, on 409.
        expected_version: Option<u64>,
        /// The JSON `current_version`, on 409.
        current_version: Option<u64>,
    },
    /// An answer larger than its limit or otherwise unreadable.
    #[error("log {url} sent an unusable answer: {reason}")]
    BadAnswer {
        /// URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// What `/add-binding` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// 200 with a §3.10 bundle: committed and covered by a quorum checkpoint.
    Committed(Vec<u8>),
    /// 200: this exact binding was already logged.
    Duplicate {
        /// Its index.
        index: u64,
        /// A newer version of the ref, if any: (version, index).
        superseded_by: Option<(u64, u64)>,
    },
    /// 202: durably sequenced but not yet in a quorum checkpoint.
    Accepted {
        /// Its index, if given.
        index: Option<u64>,
        /// The raw answer (evidence for an MMD violation).
        body: Vec<u8>,
    },
}

/// A client for one log.
#[derive(Debug, Clone)]
pub struct LogClient {
    base: String,
    http: reqwest::Client,
    /// Set when the URL names a static log (`static+https://...`): reads come from objects.
    static_log: Option<std::sync::Arc<StaticLog>>,
}

impl LogClient {
    /// A client for the log at `base` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// [`RemoteError::Unavailable`] if the HTTP client cannot be built, or `base` is not an
    /// http(s) URL.
    pub fn new(base: &str) -> Result<LogClient, RemoteError> {
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(RemoteError::Unavailable {
                url: base.to_string(),
                reason: "the log URL must start with http:// or https://".into(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("taglog/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::Unavailable {
                url: base.to_string(),
                reason: e.to_string(),
            })?;
        Ok(LogClient {
            base: base.trim_end_matches('/').to_string(),
            http,
            static_log: None,
        })
    }

    /// A client for the log at `url` whose checkpoints `key` signs: a server URL, or a static
    /// log (`static+https://...`, see [`crate::static_log`]) cached under `cache_root`.
    ///
    /// # Errors
    /// As [`LogClient::new`].
    pub fn for_log(
        url: &str,
        key: &taglog_proofs::note::VerifierKey,
        cache_root: Option<&std::path::Path>,
    ) -> Result<LogClient, RemoteError> {
        if !is_static(url) {
            return LogClient::new(url);
        }
        let inner = url
            .strip_prefix(crate::static_log::STATIC_SCHEME)
            .unwrap_or(url);
        let mut c = LogClient::new(inner)?;
        c.static_log = Some(std::sync::Arc::new(StaticLog::new(
            url,
            key.clone(),
            c.http.clone(),
            cache_root,
        )?));
        Ok(c)
    }

    /// The static log this client reads, if its URL names one.
    pub fn static_log(&self) -> Option<&StaticLog> {
        self.static_log.as_deref()
    }

    fn read_only(&self, what: &str) -> RemoteError {
        RemoteError::Rejected {
            url: format!("{}{}", crate::static_log::STATIC_SCHEME, self.base),
            status: 405,
            code: "static-log".into(),
            detail: format!("{what} needs the log server; a static log URL serves only the objects bundles are built from"),
            expected_version: None,
            current_version: None,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /lookup?ref=&since=`: the raw bundle bytes.
    ///
    /// # Errors
    /// See [`RemoteError`].
    pub async fn lookup(&self, r: &TagRef, since: Option<u64>) -> Result<Vec<u8>, RemoteError> {
        if let Some(s) = &self.static_log {
            let (bytes, stats) = s.lookup(r, since).await?;
            tracing::debug!(reference = %r.as_str(), fetched = stats.fetched, bytes = stats.bytes, cached = stats.cached, "bundle built from static objects");
            return Ok(bytes);
        }
        let mut q = vec![("ref", r.as_str().to_string())];
        if let Some(s) = since {
            q.push(("since", s.to_string()));
        }
        self.get("/lookup", &q, MAX_BUNDLE_BYTES as u64).await
    }

    /// `GET /history?ref=&since=&cursor=`: one raw page.
    ///
    /// # Errors
    /// See [`RemoteError`].
    pub async fn history(
        &self,
        r: &TagRef,
        since: Option<u64>,
        cursor: Option<&str>,
    ) -> Result<Vec<u8>, RemoteError> {
        if self.static_log.is_some() {
            return Err(self.read_only("/history (a pinned ref)"));
        }
        let mut q = vec![("ref", r.as_str().to_string())];
        if let Some(s) = since {
            q.push(("since", s.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_string()));
        }
        self.get("/history", &q, MAX_HISTORY_BYTES as u64).await
    }

    /// `GET /checkpoint`: the newest quorum checkpoint note.
    ///
    /// # Errors
    /// See [`RemoteError`].
    pub async fn checkpoint(&self) -> Result<Vec<u8>, RemoteError> {
        if let Some(s) = &self.static_log {
            return s.checkpoint().await;
        }
        self.get("/checkpoint", &[], MAX_NOTE_BYTES as u64).await
    }

    /// `POST /add-binding` with a signed binding note.
    ///
    /// # Errors
    /// [`RemoteError::Rejected`] for 4xx (409 carries the expected version),
    /// [`RemoteError::Unavailable`] for 5xx/429 or no connection.
    pub async fn add_binding(&self, note: &[u8]) -> Result<AddOutcome, RemoteError> {
        if self.static_log.is_some() {
            return Err(self.read_only("publishing"));
        }
        let url = format!("{}/add-binding", self.base);
        let resp = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(note.to_vec())
            .send()
            .await
            .map_err(|e| unavailable(&url, &e))?;
        let status = resp.status().as_u16();
        if status != 200 && status != 202 {
            return Err(failure(&url, status, resp).await);
        }
        let body = read_limited(resp, MAX_BUNDLE_BYTES as u64)
            .await
            .map_err(|e| RemoteError::BadAnswer {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RemoteError::BadAnswer {
                url: url.clone(),
                reason: format!("not JSON: {e}"),
            })?;
        let index = json.get("index").and_then(serde_json::Value::as_u64);
        if status == 202 {
            return Ok(AddOutcome::Accepted {
                index,
                body: body.to_vec(),
            });
        }
        if json.get("duplicate").and_then(serde_json::Value::as_bool) == Some(true) {
            let superseded_by = json
                .get("superseded_by")
                .and_then(|s| Some((s.get("version")?.as_u64()?, s.get("index")?.as_u64()?)));
            return Ok(AddOutcome::Duplicate {
                index: index.unwrap_or(0),
                superseded_by,
            });
        }
        Ok(AddOutcome::Committed(body.to_vec()))
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        limit: u64,
    ) -> Result<Vec<u8>, RemoteError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .query(query)
            .send()
            .await
            .map_err(|e| unavailable(&url, &e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(failure(&url, status, resp).await);
        }
        read_limited(resp, limit)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| RemoteError::BadAnswer {
                url,
                reason: e.to_string(),
            })
    }
}

fn unavailable(url: &str, e: &reqwest::Error) -> RemoteError {
    RemoteError::Unavailable {
        url: url.to_string(),
        reason: error_chain(e),
    }
}

async fn failure(url: &str, status: u16, resp: reqwest::Response) -> RemoteError {
    let retry = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = read_limited(resp, MAX_ERROR_BYTES)
        .await
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let field = |k: &str| {
        json.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let detail = match field("detail") {
        d if d.is_empty() => String::from_utf8_lossy(&body).chars().take(300).collect(),
        d => d,
    };
    if status >= 500 || status == 429 {
        let mut reason = format!("HTTP {status} {}: {detail}", field("error"));
        if let Some(r) = retry {
            reason.push_str(&format!(" (Retry-After: {r}s)"));
        }
        return RemoteError::Unavailable {
            url: url.to_string(),
            reason,
        };
    }
    RemoteError::Rejected {
        url: url.to_string(),
        status,
        code: field("error"),
        detail,
        expected_version: json
            .get("expected_version")
            .and_then(serde_json::Value::as_u64),
        current_version: json
            .get("current_version")
            .and_then(serde_json::Value::as_u64),
    }
}
