//! The mirror's answers: a manifest by tag (verified by the service, then exactly the bytes
//! whose digest the log binds), a manifest by digest (read in full, at most
//! `MAX_MANIFEST_BYTES`, and served only if its bytes hash to the digest), and a blob
//! (streamed, hashed on the way, the last chunk held back until the digest is checked, so a
//! mismatch aborts the transfer before the client has every byte).

use std::io;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt as _};
use sha2::{Digest as _, Sha256, Sha512};
use taglog_proofs::binding::DigestValue;
use taglog_proofs::refs::TagRef;

use super::errors::MirrorError;
use crate::error::Error;
use crate::registry::{Repository, Resolved};
use crate::service::{Decision, Query, Served, Service, Upstream};

/// The media type assumed for a manifest served without `Content-Type`.
pub const DEFAULT_MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

fn upstream_error(what: String, e: impl Into<Error>) -> MirrorError {
    MirrorError::Upstream {
        what,
        source: Box::new(e.into()),
    }
}

/// `GET`/`HEAD /v2/<name>/manifests/<tag>`: the upstream manifest, served only if the
/// service allows its digest for the tag.
///
/// # Errors
/// [`MirrorError::Upstream`] (registry), [`MirrorError::Refused`] (the service's refusal),
/// [`MirrorError::NotAccepted`].
pub async fn manifest_by_tag(
    svc: &Service,
    reference: TagRef,
    accept: Option<&str>,
    head: bool,
) -> Result<Response, MirrorError> {
    let repo = Repository::of(&reference);
    let started = Instant::now();
    let fetched = svc
        .registry()
        .manifest(&repo, reference.tag(), reference.as_str())
        .await;
    svc.metrics()
        .upstream(Upstream::Registry, started.elapsed());
    let resolved = fetched.map_err(|e| upstream_error(format!("manifest {reference}"), e))?;
    let query = Query {
        reference,
        served: Some(Served::Manifest {
            sha256: resolved.sha256,
            sha512: resolved.sha512,
        }),
    };
    match svc.decide(&query).await {
        Decision::Allow(ok) => manifest_response(&resolved, &ok.digest, accept, head),
        Decision::Refuse(r) => Err(MirrorError::Refused(r)),
    }
}

/// `GET`/`HEAD /v2/<name>/manifests/<digest>`.
///
/// # Errors
/// [`MirrorError::Upstream`], [`MirrorError::DigestMismatch`], [`MirrorError::NotAccepted`].
pub async fn manifest_by_digest(
    svc: &Service,
    repository: &TagRef,
    digest: &DigestValue,
    accept: Option<&str>,
    head: bool,
) -> Result<Response, MirrorError> {
    let repo = Repository::of(repository);
    let shown = format!("{repo}@{digest}");
    let started = Instant::now();
    let fetched = svc
        .registry()
        .manifest(&repo, &digest.to_string(), &shown)
        .await;
    svc.metrics()
        .upstream(Upstream::Registry, started.elapsed());
    let resolved = fetched.map_err(|e| upstream_error(format!("manifest {digest}"), e))?;
    let got = resolved.digest_like(Some(digest));
    if got != *digest {
        return Err(MirrorError::DigestMismatch {
            what: "manifest",
            expected: digest.to_string(),
            got: got.to_string(),
        });
    }
    manifest_response(&resolved, digest, accept, head)
}

/// Whether an `Accept` header admits `media_type` (no header, `*/*` or the type itself).
pub fn accepts(accept: Option<&str>, media_type: &str) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    accept.split(',').any(|item| {
        let t = item.split(';').next().unwrap_or("").trim();
        t == "*/*" || t.eq_ignore_ascii_case(media_type)
    })
}

fn manifest_response(
    m: &Resolved,
    digest: &DigestValue,
    accept: Option<&str>,
    head: bool,
) -> Result<Response, MirrorError> {
    let media_type = if m.media_type.is_empty() {
        DEFAULT_MANIFEST_TYPE
    } else {
        m.media_type.split(';').next().unwrap_or("").trim()
    };
    if !accepts(accept, media_type) {
        return Err(MirrorError::NotAccepted {
            media_type: media_type.chars().take(200).collect(),
        });
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(media_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        headers.insert("docker-content-digest", v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(m.size));
    let body = if head {
        Body::empty()
    } else {
        Body::from(m.body.clone())
    };
    Ok((StatusCode::OK, headers, body).into_response())
}

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`: streamed with its digest checked.
///
/// # Errors
/// [`MirrorError::Upstream`] before the first byte; after it, a mismatch (or an upstream
/// failure) ends the body with an error, which aborts the transfer.
pub async fn blob(
    svc: &Service,
    repository: &TagRef,
    digest: DigestValue,
    head: bool,
) -> Result<Response, MirrorError> {
    let repo = Repository::of(repository);
    let started = Instant::now();
    let answer = svc.registry().blob(&repo, &digest, head).await;
    svc.metrics()
        .upstream(Upstream::Registry, started.elapsed());
    let resp = answer.map_err(|e| upstream_error(format!("blob {digest}"), e))?;
    // The header, not `content_length()`: for HEAD that is the (empty) body's size.
    let length = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        headers.insert("docker-content-digest", v);
    }
    if let Some(n) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    if head {
        return Ok((StatusCode::OK, headers, Body::empty()).into_response());
    }
    let svc = svc.clone();
    let body = verified(resp.bytes_stream().boxed(), digest, length, move || {
        svc.metrics().aborted_transfer();
    });
    Ok((StatusCode::OK, headers, Body::from_stream(body)).into_response())
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(d: &DigestValue) -> Hasher {
        match d {
            DigestValue::Sha512(_) => Hasher::Sha512(Sha512::new()),
            _ => Hasher::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    fn finish(self) -> DigestValue {
        match self {
            Hasher::Sha256(h) => DigestValue::Sha256(h.finalize().into()),
            Hasher::Sha512(h) => DigestValue::Sha512(h.finalize().into()),
        }
    }
}

struct Flow {
    inner: BoxStream<'static, reqwest::Result<Bytes>>,
    hasher: Option<Hasher>,
    held: Option<Bytes>,
    expected: DigestValue,
    declared: Option<u64>,
    seen: u64,
    done: bool,
}

/// The upstream body, passed on chunk by chunk while hashed; the last chunk is released only
/// if the whole body hashes to `expected` (and matches the declared length), otherwise the
/// stream ends with an error and `on_abort` runs.
pub fn verified(
    inner: BoxStream<'static, reqwest::Result<Bytes>>,
    expected: DigestValue,
    declared: Option<u64>,
    on_abort: impl Fn() + Send + Sync + 'static,
) -> BoxStream<'static, io::Result<Bytes>> {
    let flow = Flow {
        inner,
        hasher: Some(Hasher::new(&expected)),
        held: None,
        expected,
        declared,
        seen: 0,
        done: false,
    };
    let on_abort: std::sync::Arc<dyn Fn() + Send + Sync> = std::sync::Arc::new(on_abort);
    futures_util::stream::unfold(flow, move |mut f| {
        let on_abort = std::sync::Arc::clone(&on_abort);
        async move {
            let item = step(&mut f).await;
            if matches!(item, Some(Err(_))) {
                on_abort();
            }
            item.map(|r| (r, f))
        }
    })
    .boxed()
}

/// The next item of a [`verified`] stream.
async fn step(f: &mut Flow) -> Option<io::Result<Bytes>> {
    let abort = |f: &mut Flow, why: String| {
        f.done = true;
        Some(Err(io::Error::other(why)))
    };
    if f.done {
        return None;
    }
    loop {
        match f.inner.next().await {
            Some(Ok(chunk)) => {
                f.seen = f.seen.saturating_add(chunk.len() as u64);
                if f.declared.is_some_and(|d| f.seen > d) {
                    return abort(f, "upstream sent more than its length".into());
                }
                if let Some(h) = f.hasher.as_mut() {
                    h.update(&chunk);
                }
                if let Some(previous) = f.held.replace(chunk) {
                    return Some(Ok(previous));
                }
            }
            Some(Err(e)) => return abort(f, format!("upstream failed: {e}")),
            None => {
                let got = f.hasher.take().map(Hasher::finish);
                if got != Some(f.expected) {
                    let got = got.map(|g| g.to_string()).unwrap_or_default();
                    return abort(
                        f,
                        format!("blob hashes to {got}, not {}: aborted", f.expected),
                    );
                }
                if f.declared.is_some_and(|d| f.seen != d) {
                    return abort(f, "upstream sent less than its length".into());
                }
                f.done = true;
                return f.held.take().map(Ok);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn chunks(parts: &[&'static [u8]]) -> BoxStream<'static, reqwest::Result<Bytes>> {
        let v: Vec<reqwest::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures_util::stream::iter(v).boxed()
    }

    async fn run(
        parts: &[&'static [u8]],
        expected: DigestValue,
        declared: Option<u64>,
    ) -> (Vec<u8>, bool, usize) {
        let aborted = Arc::new(AtomicUsize::new(0));
        let a = Arc::clone(&aborted);
        let mut s = verified(chunks(parts), expected, declared, move || {
            a.fetch_add(1, Ordering::SeqCst);
        });
        let (mut out, mut failed) = (Vec::new(), false);
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => failed = true,
            }
        }
        (out, failed, aborted.load(Ordering::SeqCst))
    }

    #[tokio::test]
    async fn blobs_pass_whole_or_lose_their_last_chunk() {
        let whole = b"hello, world";
        let d = DigestValue::Sha256(Sha256::digest(whole).into());
        let parts: &[&'static [u8]] = &[b"hello", b", ", b"world"];
        assert_eq!(run(parts, d, Some(12)).await, (whole.to_vec(), false, 0));
        assert_eq!(run(parts, d, None).await, (whole.to_vec(), false, 0));
        // Another blob: everything but the last chunk went out, then the error.
        let wrong: &[&'static [u8]] = &[b"hello", b", ", b"w0rld"];
        assert_eq!(
            run(wrong, d, Some(12)).await,
            (b"hello, ".to_vec(), true, 1)
        );
        // Longer or shorter than declared.
        assert!(run(parts, d, Some(5)).await.1);
        assert!(run(parts, d, Some(13)).await.1);
        // sha512 digests are checked in their own algorithm.
        let d512 = DigestValue::Sha512(Sha512::digest(whole).into());
        assert!(!run(parts, d512, None).await.1);
        // An empty blob.
        let empty = DigestValue::Sha256(Sha256::digest(b"").into());
        assert_eq!(run(&[], empty, Some(0)).await, (Vec::new(), false, 0));
    }

    #[test]
    fn accept_negotiation() {
        let oci = "application/vnd.oci.image.manifest.v1+json";
        assert!(accepts(None, oci));
        assert!(accepts(Some("*/*"), oci));
        assert!(accepts(
            Some("application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json; q=0.5"),
            oci
        ));
        assert!(!accepts(
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            oci
        ));
    }
}
