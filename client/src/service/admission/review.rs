//! `admission.k8s.io/v1` `AdmissionReview` (Kubernetes "Dynamic Admission Control": the
//! request the API server posts to a webhook, and the response it expects back).
//!
//! Guarantees: a review is read only if it is at most [`MAX_REVIEW_BYTES`] (the API server's
//! own request limit), is JSON, says `apiVersion: admission.k8s.io/v1` and
//! `kind: AdmissionReview`, and carries a `request` with a `uid` of at most [`MAX_UID_BYTES`],
//! a known `operation` and a `kind`; a repeated member of these is rejected. Members this
//! webhook does not read (`userInfo`, `oldObject`, `options`, ...) are ignored. The response
//! echoes the request's `uid`, and carries a JSONPatch (base64) only when something is
//! rewritten. Out of scope: `v1beta1` reviews (the webhook configuration asks for `v1` only).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest review read: the API server refuses requests over 3 MiB itself, so a larger body
/// did not come from it.
pub const MAX_REVIEW_BYTES: usize = 3 * 1024 * 1024;
/// Longest request `uid` (the API server sends a UUID).
pub const MAX_UID_BYTES: usize = 128;
/// The only review version read and written.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The review kind.
pub const KIND: &str = "AdmissionReview";

/// Why a review was not read. Nothing is decided and no state changes.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Larger than [`MAX_REVIEW_BYTES`].
    #[error("the review is larger than {MAX_REVIEW_BYTES} bytes (the API server's limit): it was not read")]
    TooLarge,
    /// The body could not be read.
    #[error("the review could not be read: {0}")]
    Read(#[source] taglog_serve::BodyError),
    /// A `Content-Type` other than JSON.
    #[error("content type {0:?} is not application/json: send the AdmissionReview as JSON")]
    ContentType(String),
    /// Not JSON, or not the shape of an `AdmissionReview`.
    #[error("the body is not an AdmissionReview: {0}")]
    Malformed(#[source] serde_json::Error),
    /// Another `apiVersion`.
    #[error("apiVersion {0:?} is not {API_VERSION}: list only v1 in the webhook's admissionReviewVersions")]
    ApiVersion(String),
    /// Another `kind`.
    #[error("kind {0:?} is not {KIND}")]
    Kind(String),
    /// No `request`.
    #[error("the AdmissionReview has no request")]
    NoRequest,
    /// An empty or too long `uid`.
    #[error("request.uid is empty or longer than {MAX_UID_BYTES} bytes")]
    Uid,
    /// An unknown `operation`.
    #[error("request.operation {0:?} is not CREATE, UPDATE, DELETE or CONNECT")]
    Operation(String),
}

impl ReviewError {
    /// A short stable code for error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ReviewError::TooLarge => "review-too-large",
            ReviewError::Read(_) => "review-unreadable",
            ReviewError::ContentType(_) => "review-content-type",
            ReviewError::Malformed(_) => "review-malformed",
            ReviewError::ApiVersion(_) => "review-api-version",
            ReviewError::Kind(_) => "review-kind",
            ReviewError::NoRequest | ReviewError::Uid | ReviewError::Operation(_) => {
                "review-request"
            }
        }
    }
}

/// A resource's group, version and kind (`request.kind`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupVersionKind {
    /// The API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// The version.
    #[serde(default)]
    pub version: String,
    /// The kind.
    pub kind: String,
}

/// The operation under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `CREATE`.
    Create,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `CONNECT`.
    Connect,
}

/// The part of `request` this webhook reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `uid`, echoed in the response.
    pub uid: String,
    /// `kind` of the object.
    pub kind: GroupVersionKind,
    /// `subResource` (e.g. `ephemeralcontainers`).
    pub sub_resource: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `name` of the object (may be empty for generated names).
    pub name: Option<String>,
    /// `operation`.
    pub operation: Operation,
    /// `object` (absent for DELETE).
    pub object: Option<Value>,
    /// `oldObject` (present for UPDATE).
    pub old_object: Option<Value>,
    /// `dryRun`.
    pub dry_run: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewWire {
    api_version: String,
    kind: String,
    request: Option<RequestWire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestWire {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    operation: String,
    #[serde(default)]
    object: Option<Value>,
    #[serde(default)]
    old_object: Option<Value>,
    #[serde(default)]
    dry_run: Option<bool>,
}

/// Parses a review body (already bounded by the caller).
///
/// # Errors
/// [`ReviewError`]: too large, not JSON or not an `AdmissionReview` `v1`, no request, an
/// empty or too long `uid`, an unknown operation.
pub fn parse(body: &[u8]) -> Result<Request, ReviewError> {
    if body.len() > MAX_REVIEW_BYTES {
        return Err(ReviewError::TooLarge);
    }
    let w: ReviewWire = serde_json::from_slice(body).map_err(ReviewError::Malformed)?;
    if w.api_version != API_VERSION {
        return Err(ReviewError::ApiVersion(w.api_version));
    }
    if w.kind != KIND {
        return Err(ReviewError::Kind(w.kind));
    }
    let r = w.request.ok_or(ReviewError::NoRequest)?;
    if r.uid.is_empty() || r.uid.len() > MAX_UID_BYTES {
        return Err(ReviewError::Uid);
    }
    let operation = match r.operation.as_str() {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        "CONNECT" => Operation::Connect,
        _ => return Err(ReviewError::Operation(r.operation)),
    };
    Ok(Request {
        uid: r.uid,
        kind: r.kind,
        sub_resource: r.sub_resource.filter(|s| !s.is_empty()),
        namespace: r.namespace.filter(|s| !s.is_empty()),
        name: r.name.filter(|s| !s.is_empty()),
        operation,
        object: r.object.filter(|o| !o.is_null()),
        old_object: r.old_object.filter(|o| !o.is_null()),
        dry_run: r.dry_run.unwrap_or(false),
    })
}

/// The webhook's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The request's `uid`.
    pub uid: String,
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The JSONPatch (JSON text) to apply when allowed, if anything is rewritten.
    pub patch: Option<Vec<u8>>,
    /// For a denial: the HTTP-like code and the message shown to the user.
    pub denial: Option<(u16, String)>,
    /// Warnings shown to the user (each at most [`super::MAX_WARNING_BYTES`]).
    pub warnings: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<StatusOut<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[derive(Serialize)]
struct StatusOut<'a> {
    status: &'static str,
    code: u16,
    reason: &'static str,
    message: &'a str,
}

impl Answer {
    /// The `AdmissionReview` JSON for this answer.
    pub fn to_json(&self) -> Vec<u8> {
        let status = self.denial.as_ref().map(|(code, message)| StatusOut {
            status: "Failure",
            code: *code,
            reason: status_reason(*code),
            message,
        });
        let patch = self
            .patch
            .as_ref()
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p));
        let out = ReviewOut {
            api_version: API_VERSION,
            kind: KIND,
            response: ResponseOut {
                uid: &self.uid,
                allowed: self.allowed,
                patch_type: patch.as_ref().map(|_| "JSONPatch"),
                patch,
                status,
                warnings: &self.warnings,
            },
        };
        // Serialising plain strings, numbers and booleans cannot fail.
        serde_json::to_vec(&out).unwrap_or_default()
    }
}

/// The `metav1.StatusReason` for a denial code.
fn status_reason(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Forbidden",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn review(api: &str, kind: &str, request: &str) -> Vec<u8> {
        format!("{{\"apiVersion\":\"{api}\",\"kind\":\"{kind}\",\"request\":{request}}}")
            .into_bytes()
    }

    const REQ: &str = r#"{"uid":"u-1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"ns","operation":"CREATE","userInfo":{"username":"a"},"object":{"spec":{}},"oldObject":null,"dryRun":true,"options":{}}"#;

    #[test]
    fn reads_a_v1_review() {
        let r = parse(&review(API_VERSION, KIND, REQ)).unwrap();
        assert_eq!(r.uid, "u-1");
        assert_eq!(r.kind.kind, "Pod");
        assert_eq!(r.namespace.as_deref(), Some("ns"));
        assert_eq!(r.operation, Operation::Create);
        assert!(r.dry_run);
        assert!(r.object.is_some());
    }

    #[test]
    fn refuses_other_reviews() {
        let e = |b: &[u8]| parse(b).unwrap_err().code();
        assert_eq!(e(b"{"), "review-malformed");
        assert_eq!(e(b"[]"), "review-malformed");
        assert_eq!(
            e(&review("admission.k8s.io/v1beta1", KIND, REQ)),
            "review-api-version"
        );
        assert_eq!(e(&review(API_VERSION, "Pod", REQ)), "review-kind");
        assert_eq!(e(&review(API_VERSION, KIND, "null")), "review-request");
        assert_eq!(
            e(&review(API_VERSION, KIND, &REQ.replace("u-1", ""))),
            "review-request"
        );
        assert_eq!(
            e(&review(API_VERSION, KIND, &REQ.replace("CREATE", "PATCH"))),
            "review-request"
        );
        let twice = REQ.replace("\"uid\":\"u-1\"", "\"uid\":\"u-1\",\"uid\":\"u-2\"");
        assert_eq!(e(&review(API_VERSION, KIND, &twice)), "review-malformed");
        assert_eq!(e(&vec![b' '; MAX_REVIEW_BYTES + 1]), "review-too-large");
    }

    #[test]
    fn answers_echo_the_uid_and_encode_the_patch() {
        let a = Answer {
            uid: "u-9".into(),
            allowed: true,
            patch: Some(b"[]".to_vec()),
            denial: None,
            warnings: vec!["w".into()],
        };
        let v: Value = serde_json::from_slice(&a.to_json()).unwrap();
        assert_eq!(v["apiVersion"], API_VERSION);
        assert_eq!(v["response"]["uid"], "u-9");
        assert_eq!(v["response"]["patchType"], "JSONPatch");
        assert_eq!(v["response"]["patch"], "W10=");
        assert_eq!(v["response"]["warnings"][0], "w");
        let d = Answer {
            allowed: false,
            patch: None,
            denial: Some((403, "no".into())),
            warnings: vec![],
            ..a
        };
        let v: Value = serde_json::from_slice(&d.to_json()).unwrap();
        assert_eq!(v["response"]["allowed"], false);
        assert_eq!(v["response"]["status"]["code"], 403);
        assert_eq!(v["response"]["status"]["message"], "no");
        assert!(v["response"].get("patch").is_none());
        assert!(v["response"].get("warnings").is_none());
    }
}
