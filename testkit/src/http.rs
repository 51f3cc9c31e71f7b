//! Small HTTP helpers: one blocking and one async client with timeouts, and a response type
//! that keeps status, content type and body.
//!
//! The blocking helpers run their own runtime: call them from plain `#[test]`s (or from
//! `spawn_blocking`), not from inside an async task.

use std::io::Read as _;
use std::time::Duration;

/// How long a test's HTTP request may take before it fails.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A response: status, content type and body.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header (empty if absent).
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as text (lossy).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON.
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A blocking client with [`TIMEOUT`].
///
/// # Panics
/// When the client cannot be built.
#[must_use]
pub fn blocking() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("build an HTTP client")
}

/// An async client with a 30 s timeout.
///
/// # Panics
/// When the client cannot be built.
#[must_use]
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build an HTTP client")
}

impl Resp {
    /// Reads a blocking response.
    ///
    /// # Panics
    /// When the body cannot be read.
    #[must_use]
    pub fn from_blocking(r: reqwest::blocking::Response) -> Resp {
        to_resp(r)
    }
}

fn to_resp(mut r: reqwest::blocking::Response) -> Resp {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut body = Vec::new();
    r.read_to_end(&mut body).expect("read the response body");
    Resp {
        status,
        content_type,
        body,
    }
}

/// `GET url`.
///
/// # Panics
/// When the request fails (no answer, timeout).
#[must_use]
pub fn get(url: &str) -> Resp {
    to_resp(
        blocking()
            .get(url)
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}")),
    )
}

/// `POST url` with `body`.
///
/// # Panics
/// When the request fails (no answer, timeout).
#[must_use]
pub fn post(url: &str, body: Vec<u8>) -> Resp {
    to_resp(
        blocking()
            .post(url)
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("POST {url}: {e}")),
    )
}

/// `GET url` that must answer 2xx; its body.
///
/// # Panics
/// When the request fails or the status is not a success.
#[must_use]
pub fn get_ok(url: &str) -> Vec<u8> {
    let r = get(url);
    assert!(
        (200..300).contains(&r.status),
        "GET {url}: {} {}",
        r.status,
        r.text()
    );
    r.body
}

/// `GET url` (async): status and body.
///
/// # Panics
/// When the request fails (no answer, timeout).
pub async fn get_async(c: &reqwest::Client, url: &str) -> (u16, Vec<u8>) {
    let r = c
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let body = r.bytes().await.expect("read the response body").to_vec();
    (status, body)
}

/// The hashes of a JSON array of base64 strings (the proofs in the server's `/proof` and
/// `/consistency` answers and in monitor evidence).
///
/// # Panics
/// When `v` is not an array of base64 hashes.
#[must_use]
pub fn hashes(v: &serde_json::Value) -> Vec<taglog_proofs::hash::Hash> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array of hashes: {v}"))
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(taglog_proofs::hash::Hash::from_base64)
                .unwrap_or_else(|| panic!("not a base64 hash: {h}"))
        })
        .collect()
}
