//! The mirror's errors and their one mapping to an HTTP status and an OCI error body
//! (`{"errors":[{"code","message","detail"}]}`, OCI distribution spec "Error Codes"; `UNAVAILABLE`
//! as in distribution's registry for 503).
//!
//! | cause | status | code |
//! | --- | --- | --- |
//! | verification failed (S1, S2, S3, S5, ...), a reference no policy line covers, a manifest whose `Docker-Content-Digest` disagrees with its bytes | 403 | `DENIED` |
//! | the log or the registry unavailable, upstream credentials refused | 503 | `UNAVAILABLE` |
//! | upstream has no such manifest or blob | 404 | `MANIFEST_UNKNOWN` / `BLOB_UNKNOWN` |
//! | upstream sent bytes that do not hash to the digest asked for | 502 | `DIGEST_INVALID` |
//! | the client's `Accept` excludes the manifest's type | 404 | `MANIFEST_UNKNOWN` |
//! | bad name, digest or upstream | 400 | `NAME_INVALID` / `DIGEST_INVALID` / `NAME_UNKNOWN` |
//! | a write or an endpoint the mirror does not serve | 405 | `UNSUPPORTED` |

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::routes::RouteError;
use crate::error::{Class, Error};
use crate::registry::RegistryError;
use crate::service::Refusal;

/// Why the mirror did not serve a request.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The request target is unusable.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A method other than GET and HEAD.
    #[error("this mirror is read-only: {method} is not supported (GET and HEAD only)")]
    Method {
        /// The method.
        method: String,
    },
    /// The service refused the tag (verification, policy, or an unavailable service).
    #[error("{}", .0.message())]
    Refused(Refusal),
    /// An upstream request for content addressed by digest failed.
    #[error("upstream {what}: {source}")]
    Upstream {
        /// What was asked (`manifest sha256:...`, `blob sha256:...`).
        what: String,
        /// The cause.
        #[source]
        source: Box<Error>,
    },
    /// Upstream bytes do not hash to the digest asked for.
    #[error("upstream sent a {what} whose bytes hash to {got}, not {expected}: refused")]
    DigestMismatch {
        /// `manifest` or `blob`.
        what: &'static str,
        /// The digest asked for.
        expected: String,
        /// The digest of the bytes.
        got: String,
    },
    /// The client's `Accept` header excludes the manifest's media type.
    #[error("the manifest is {media_type}, which the request's Accept header does not list")]
    NotAccepted {
        /// The manifest's media type.
        media_type: String,
    },
}

impl MirrorError {
    /// The one mapping to a status and an OCI error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            MirrorError::Route(e) => match e {
                RouteError::Unsupported { .. } => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
                RouteError::TooLong { .. } | RouteError::Name { .. } => {
                    (StatusCode::BAD_REQUEST, "NAME_INVALID")
                }
                RouteError::Digest { .. } => (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
                RouteError::Upstream { .. } => (StatusCode::BAD_REQUEST, "NAME_UNKNOWN"),
            },
            MirrorError::Method { .. } => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
            MirrorError::Refused(r) => by_class(&r.error, "MANIFEST_UNKNOWN"),
            MirrorError::Upstream { what, source } => {
                let unknown = if what.starts_with("blob") {
                    "BLOB_UNKNOWN"
                } else {
                    "MANIFEST_UNKNOWN"
                };
                by_class(source, unknown)
            }
            MirrorError::DigestMismatch { .. } => (StatusCode::BAD_GATEWAY, "DIGEST_INVALID"),
            MirrorError::NotAccepted { .. } => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
        }
    }

    fn detail(&self) -> serde_json::Value {
        match self {
            MirrorError::Refused(r) => json!({
                "reference": r.reference,
                "reason": r.code(),
                "advice": r.advice(),
            }),
            MirrorError::Upstream { source, .. } => json!({ "reason": source.code() }),
            _ => serde_json::Value::Null,
        }
    }
}

/// Status and code of a client error: not found upstream is 404, a failed verification 403,
/// anything else (outage, credentials) 503.
fn by_class(e: &Error, unknown: &'static str) -> (StatusCode, &'static str) {
    if matches!(e, Error::Registry(RegistryError::NotFound { .. })) {
        return (StatusCode::NOT_FOUND, unknown);
    }
    match e.class() {
        Class::Failed | Class::Security | Class::Uncovered => (StatusCode::FORBIDDEN, "DENIED"),
        Class::Usage | Class::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
    }
}

impl IntoResponse for MirrorError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut message = self.to_string();
        if let MirrorError::Refused(r) = &self {
            message.push_str("; what to do: ");
            message.push_str(r.advice());
        }
        let body = json!({"errors": [{"code": code, "message": message, "detail": self.detail()}]});
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}
