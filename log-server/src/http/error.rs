//! Every error answer of the HTTP API (DESIGN §5 "Errors"): one enum, mapped to its status,
//! `error` code, `Retry-After` and metrics outcome in one place ([`ApiError::parts`]). A
//! refusal by the log's rule book ([`Violation`]) becomes an [`ApiError`] in one place too
//! (`From<Violation>`), the same whether the early checks or the sequencer refused.
//!
//! Body: `{"error": "<code>", "detail": "<what was wrong and what to do>", ...}` plus
//! members some errors carry (`expected_version`, `current_version`, `tree_size`). Statuses:
//! 400 malformed (which line and why), 403 signature, key or prefix not allowed, 404 no such
//! tile, 409 version, 413 too large, 429 per-key quota or queue full, 503 shutting down,
//! halted, stale or no quorum yet (all with `Retry-After`), 500 for server faults (logged).
//! Out of scope: which check runs when (the handlers decide).

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use taglog_proofs::binding::{BindingError, VersionError};
use taglog_proofs::refs::RefError;
use taglog_proofs::rules::{NotAdmittedReason, Violation};
use taglog_proofs::tiles::TileError;
use taglog_proofs::tree::TreeError;
use taglog_serve::BodyError;

use crate::log::halt::HaltReason;
use crate::log::health::Stale;
use crate::log::reads::ReadError;
use crate::log::sequencer::Unavailable;
use crate::store::StoreError;

/// A server fault behind a 500 answer.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A proof or bundle could not be built.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A blocking task failed.
    #[error("blocking task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A tile's hashes could not be read.
    #[error("tile: {0}")]
    Tree(#[source] TreeError),
    /// An entry bundle could not be built from stored entries.
    #[error("tile: {0}")]
    Tile(#[source] TileError),
    /// The rule book refused a binding for a reason no submission can have (a bug).
    #[error("unexpected refusal: {0}")]
    Rule(#[source] Box<Violation>),
}

/// An error answer; see the module documentation.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request body could not be read or is too large.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// The body's content type is not `text/plain`.
    #[error("content type {0:?} is not accepted; send the signed binding note as text/plain")]
    ContentType(String),
    /// The signed binding does not parse.
    #[error("{0}")]
    Malformed(#[source] BindingError),
    /// The binding names another log.
    #[error("{0}")]
    WrongLog(#[source] BindingError),
    /// A query parameter is not a canonical decimal.
    #[error("query parameter {name}={value:?} is not a canonical decimal number")]
    BadNumber {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A required query parameter is missing.
    #[error("query parameter {0} is required")]
    MissingParameter(&'static str),
    /// The `ref` parameter is not a canonical ref.
    #[error("ref {raw:?} is not canonical: {source}")]
    BadRef {
        /// The value sent.
        raw: String,
        /// Why.
        #[source]
        source: RefError,
    },
    /// A tile path is malformed.
    #[error("tile path {path:?}: {source}")]
    BadTilePath {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: TileError,
    },
    /// `/proof` asked for a leaf or size beyond the log.
    #[error("need index < size ≤ {tree_size} (the log's size); got index {index}, size {size}")]
    ProofOutOfRange {
        /// Asked index.
        index: u64,
        /// Asked size.
        size: u64,
        /// The log's size.
        tree_size: u64,
    },
    /// `/consistency` asked for sizes beyond the log or in the wrong order.
    #[error("need old ≤ new ≤ {tree_size} (the log's size); got old {old}, new {new}")]
    ConsistencyOutOfRange {
        /// Asked old size.
        old: u64,
        /// Asked new size.
        new: u64,
        /// The log's size.
        tree_size: u64,
    },
    /// A tile beyond the tree.
    #[error("tile {path} is beyond the tree of size {size}")]
    TileBeyondTree {
        /// The path.
        path: String,
        /// The tree size.
        size: u64,
    },
    /// The logged allowlist does not admit the signer for the ref.
    #[error("publisher key {signer} {}", match reason {
        NotAdmittedReason::UnknownKey => "is not on this log's allowlist".to_string(),
        NotAdmittedReason::NoPrefix => format!("may not bind {reference}: no allowlisted prefix of this key matches it"),
    })]
    NotAdmitted {
        /// Which part of admission failed.
        reason: NotAdmittedReason,
        /// The signer (`name+keyid`).
        signer: String,
        /// The ref.
        reference: String,
    },
    /// The publisher signature verifies under none of the allowlisted keys that may have
    /// made it.
    #[error("the signature of the binding for {reference} verifies under none of the {keys} allowlisted key(s) with its name and key ID")]
    BadSignature {
        /// The ref.
        reference: String,
        /// How many keys were tried.
        keys: usize,
    },
    /// The version rule failed.
    #[error("{error}")]
    VersionConflict {
        /// Version sent.
        got: u64,
        /// Current version, if bound.
        current: Option<u64>,
        /// The rule broken.
        error: VersionError,
    },
    /// The publisher key used up its quota.
    #[error("publisher key {key} has used its quota of new bindings (burst {burst}, refilled at {rate:.3} per second); retry in {retry_after}s")]
    QuotaExceeded {
        /// The key name.
        key: String,
        /// Burst size.
        burst: u32,
        /// Refill rate per second.
        rate: f64,
        /// Seconds until a token is available.
        retry_after: u64,
    },
    /// The submission queue is full.
    #[error("the submission queue is full; retry later")]
    QueueFull,
    /// The server is shutting down (or the sequencer stopped).
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Sequencing is halted.
    #[error("{0}")]
    Halted(Arc<HaltReason>),
    /// Sequencing waits at start until these witnesses have answered.
    #[error("sequencing waits until every witness has answered and proved consistent; waiting for {}", .0.join(", "))]
    AwaitingWitnesses(Vec<String>),
    /// The sequencer could not decide (a store read failed).
    #[error("{0}")]
    Unavailable(#[source] Unavailable),
    /// No published checkpoint (of the size asked for) yet.
    #[error("{}", match newest { Some(n) => format!("no quorum checkpoint of size ≥ {since} yet (newest is {n})"), None => "no checkpoint meets the witness quorum yet".to_string() })]
    NoQuorumCheckpoint {
        /// The size asked for (`since`, 0 if none).
        since: u64,
        /// The newest published size, if any.
        newest: Option<u64>,
    },
    /// Clients would not take the published checkpoint as fresh (`/healthz`).
    #[error(transparent)]
    Stale(#[from] Stale),
    /// A server fault.
    #[error("{0}")]
    Internal(#[from] Internal),
}

impl From<Unavailable> for ApiError {
    fn from(u: Unavailable) -> ApiError {
        match u {
            Unavailable::Halted(h) => ApiError::Halted(h),
            Unavailable::AwaitingWitnesses(w) => ApiError::AwaitingWitnesses(w),
            other => ApiError::Unavailable(other),
        }
    }
}

impl From<Violation> for ApiError {
    /// The one mapping of the rule book's refusals of a binding to answers.
    fn from(v: Violation) -> ApiError {
        match v {
            Violation::WrongLog {
                expected, found, ..
            } => ApiError::WrongLog(BindingError::WrongLog { expected, found }),
            Violation::NotAdmitted {
                reference,
                name,
                id,
                reason,
                ..
            } => ApiError::NotAdmitted {
                reason,
                signer: format!("{name}+{id}"),
                reference: reference.to_string(),
            },
            Violation::BadSignature {
                reference, keys, ..
            } => ApiError::BadSignature {
                reference: reference.to_string(),
                keys: keys.len(),
            },
            Violation::Version {
                previous,
                version,
                error,
                ..
            } => ApiError::VersionConflict {
                got: version,
                current: previous.map(|p| p.version),
                error,
            },
            other => ApiError::Internal(Internal::Rule(Box::new(other))),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Internal(Internal::Store(e))
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> ApiError {
        ApiError::Internal(Internal::Read(e))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::Internal(Internal::Task(e))
    }
}

/// How an error is answered.
pub struct Parts {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` member.
    pub code: &'static str,
    /// `Retry-After` seconds, if any.
    pub retry_after: Option<u64>,
    /// The `taglog_submissions_total` outcome when it answers `/add-binding`.
    pub outcome: &'static str,
}

impl ApiError {
    /// Status, code, `Retry-After` and metrics outcome: the one place they are chosen.
    pub fn parts(&self) -> Parts {
        use ApiError as E;
        use StatusCode as S;
        let (status, code, retry_after, outcome) = match self {
            E::Body(BodyError::TooLarge { .. }) => {
                (S::PAYLOAD_TOO_LARGE, "too_large", None, "too_large")
            }
            E::Body(BodyError::Read(_)) => (S::BAD_REQUEST, "body_unreadable", None, "malformed"),
            E::ContentType(_) => (S::BAD_REQUEST, "content_type", None, "malformed"),
            E::Malformed(_)
            | E::BadNumber { .. }
            | E::MissingParameter(_)
            | E::BadRef { .. }
            | E::BadTilePath { .. } => (S::BAD_REQUEST, "malformed", None, "malformed"),
            E::WrongLog(_) => (S::BAD_REQUEST, "wrong_log", None, "malformed"),
            E::ProofOutOfRange { .. } | E::ConsistencyOutOfRange { .. } => {
                (S::BAD_REQUEST, "out_of_range", None, "malformed")
            }
            E::TileBeyondTree { .. } => (S::NOT_FOUND, "not_found", None, "malformed"),
            E::NotAdmitted {
                reason: NotAdmittedReason::UnknownKey,
                ..
            } => (S::FORBIDDEN, "unknown_key", None, "forbidden"),
            E::NotAdmitted {
                reason: NotAdmittedReason::NoPrefix,
                ..
            } => (S::FORBIDDEN, "ref_not_allowed", None, "forbidden"),
            E::BadSignature { .. } => (S::FORBIDDEN, "bad_signature", None, "forbidden"),
            E::VersionConflict { .. } => (S::CONFLICT, "version_conflict", None, "conflict"),
            E::QuotaExceeded { retry_after, .. } => (
                S::TOO_MANY_REQUESTS,
                "quota_exceeded",
                Some(*retry_after),
                "quota_exceeded",
            ),
            E::QueueFull => (S::TOO_MANY_REQUESTS, "queue_full", Some(1), "queue_full"),
            E::ShuttingDown => (
                S::SERVICE_UNAVAILABLE,
                "shutting_down",
                Some(5),
                "unavailable",
            ),
            E::Halted(_) => (S::SERVICE_UNAVAILABLE, "halted", Some(60), "unavailable"),
            E::AwaitingWitnesses(_) => (
                S::SERVICE_UNAVAILABLE,
                "awaiting_witnesses",
                Some(5),
                "unavailable",
            ),
            E::Unavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                Some(5),
                "unavailable",
            ),
            E::NoQuorumCheckpoint { .. } => (
                S::SERVICE_UNAVAILABLE,
                "no_quorum_checkpoint",
                Some(1),
                "unavailable",
            ),
            E::Stale(_) => (S::SERVICE_UNAVAILABLE, "stale", Some(5), "unavailable"),
            E::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", None, "unavailable"),
        };
        Parts {
            status,
            code,
            retry_after,
            outcome,
        }
    }

    /// Members added to the body beside `error` and `detail`.
    fn extra(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            ApiError::VersionConflict { current, error, .. } => {
                // A first binding out of range: version 1 is always acceptable.
                let expected = match error {
                    VersionError::FirstOutOfRange { .. } => Some(1),
                    other => other.expected(),
                };
                if let Some(e) = expected {
                    m.insert("expected_version".into(), Value::from(e));
                }
                if let Some(c) = current {
                    m.insert("current_version".into(), Value::from(*c));
                }
            }
            ApiError::ProofOutOfRange { tree_size, .. }
            | ApiError::ConsistencyOutOfRange { tree_size, .. } => {
                m.insert("tree_size".into(), Value::from(*tree_size));
            }
            _ => {}
        }
        m
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let parts = self.parts();
        if parts.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "internal error");
        }
        let mut body = Map::new();
        body.insert("error".into(), Value::from(parts.code));
        body.insert("detail".into(), Value::from(self.to_string()));
        body.extend(self.extra());
        let mut resp = (parts.status, axum::Json(Value::Object(body))).into_response();
        if let Some(s) = parts.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use taglog_proofs::binding::{sign_binding, Binding, DigestValue, SignedBinding};
    use taglog_proofs::hash::Hash;
    use taglog_proofs::map::MapValue;
    use taglog_proofs::note::{KeyType, SignerKey};

    use super::*;

    fn signed() -> SignedBinding {
        let key = SignerKey::from_seed("p.example".parse().unwrap(), KeyType::Ed25519, [1; 32]);
        let b = Binding {
            log: "log.example/taglog".into(),
            reference: "registry.example/acme/app:1".parse().unwrap(),
            digest: DigestValue::Sha256([2; 32]),
            version: 2,
            time: 1,
        };
        SignedBinding::parse(&sign_binding(&b, &key).unwrap()).unwrap()
    }

    fn answer(v: Violation) -> (StatusCode, &'static str, Map<String, Value>) {
        let e = ApiError::from(v);
        let p = e.parts();
        (p.status, p.code, e.extra())
    }

    /// Every refusal of a binding by the rule book has its status and code; anything else
    /// the rule book could report is a server fault.
    #[test]
    fn rule_book_refusals_map_to_one_answer_each() {
        let b = signed();
        let reference = b.binding().reference.clone();
        let (name, id) = b.signer();
        let previous = MapValue {
            index: 5,
            version: 2,
            leaf_hash: Hash([3; 32]),
        };
        let (s, code, extra) = answer(Violation::Version {
            index: 9,
            reference: reference.clone(),
            previous: Some(previous),
            version: 2,
            error: VersionError::NotNext {
                previous: 2,
                expected: 3,
                version: 2,
            },
        });
        assert_eq!((s, code), (StatusCode::CONFLICT, "version_conflict"));
        assert_eq!(extra["expected_version"], 3);
        assert_eq!(extra["current_version"], 2);
        let (s, _, extra) = answer(Violation::Version {
            index: 9,
            reference: reference.clone(),
            previous: None,
            version: (1 << 32) + 1,
            error: VersionError::FirstOutOfRange {
                version: (1 << 32) + 1,
            },
        });
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(extra["expected_version"], 1);
        assert!(!extra.contains_key("current_version"));
        for (reason, want) in [
            (NotAdmittedReason::UnknownKey, "unknown_key"),
            (NotAdmittedReason::NoPrefix, "ref_not_allowed"),
        ] {
            let (s, code, _) = answer(Violation::NotAdmitted {
                index: 9,
                reference: reference.clone(),
                name: name.clone(),
                id,
                reason,
            });
            assert_eq!((s, code), (StatusCode::FORBIDDEN, want));
        }
        let (s, code, _) = answer(Violation::BadSignature {
            index: 9,
            reference,
            keys: Vec::new(),
        });
        assert_eq!((s, code), (StatusCode::FORBIDDEN, "bad_signature"));
        let (s, code, _) = answer(Violation::WrongLog {
            index: 9,
            expected: "a".into(),
            found: "b".into(),
        });
        assert_eq!((s, code), (StatusCode::BAD_REQUEST, "wrong_log"));
        let (s, code, _) = answer(Violation::StateSize { index: 9, size: 3 });
        assert_eq!((s, code), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
    }
}
