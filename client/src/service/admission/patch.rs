//! The JSONPatch (RFC 6902) that rewrites verified images, built with the `json-patch` crate
//! (the API server applies it with its own RFC 6902 implementation).
//!
//! Guarantees: each rewrite is a `test` of the image string that was verified followed by a
//! `replace` with the digest reference, at the image's JSON Pointer; so the patch changes
//! nothing but those strings, and fails to apply (the API server then rejects the request)
//! if the object it is applied to holds another image there. Out of scope: other members.

use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation, ReplaceOperation, TestOperation};
use serde_json::Value;

/// Why a patch could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// A pointer that is not an RFC 6901 JSON Pointer (a bug in the caller).
    #[error("{pointer:?} is not a JSON Pointer: {reason}")]
    Pointer {
        /// The pointer.
        pointer: String,
        /// Why.
        reason: String,
    },
    /// The patch could not be serialised.
    #[error("cannot encode the JSONPatch: {0}")]
    Encode(#[source] serde_json::Error),
}

/// One image to rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The JSON Pointer of the `image` member.
    pub pointer: String,
    /// The image string that was verified.
    pub from: String,
    /// The digest reference to run instead.
    pub to: String,
}

/// The patch for `rewrites`, or `None` when there is nothing to rewrite.
///
/// # Errors
/// [`PatchError`] for a pointer that does not parse, or a patch that cannot be encoded.
pub fn build(rewrites: &[Rewrite]) -> Result<Option<Patch>, PatchError> {
    if rewrites.is_empty() {
        return Ok(None);
    }
    let mut ops = Vec::with_capacity(rewrites.len() * 2);
    for r in rewrites {
        let path = PointerBuf::parse(r.pointer.clone()).map_err(|e| PatchError::Pointer {
            pointer: r.pointer.clone(),
            reason: e.to_string(),
        })?;
        ops.push(PatchOperation::Test(TestOperation {
            path: path.clone(),
            value: Value::String(r.from.clone()),
        }));
        ops.push(PatchOperation::Replace(ReplaceOperation {
            path,
            value: Value::String(r.to.clone()),
        }));
    }
    Ok(Some(Patch(ops)))
}

/// The patch as JSON text.
///
/// # Errors
/// [`PatchError::Encode`].
pub fn encode(p: &Patch) -> Result<Vec<u8>, PatchError> {
    serde_json::to_vec(p).map_err(PatchError::Encode)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrites_only_the_images_it_verified() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "image": "r.example/a:1", "env": [{"name": "X", "value": "r.example/a:1"}]},
            {"name": "b", "image": "r.example/b:2"}]}});
        let p = build(&[Rewrite {
            pointer: "/spec/containers/1/image".into(),
            from: "r.example/b:2".into(),
            to: "r.example/b@sha256:11".into(),
        }])
        .unwrap()
        .unwrap();
        let wire: Patch = serde_json::from_slice(&encode(&p).unwrap()).unwrap();
        json_patch::patch(&mut pod, &wire).unwrap();
        assert_eq!(
            pod,
            json!({"spec": {"containers": [
                {"name": "a", "image": "r.example/a:1", "env": [{"name": "X", "value": "r.example/a:1"}]},
                {"name": "b", "image": "r.example/b@sha256:11"}]}})
        );
        // Applied to an object whose image changed in between, the patch fails.
        let mut other = json!({"spec": {"containers": [{}, {"image": "r.example/evil:1"}]}});
        assert!(json_patch::patch(&mut other, &wire).is_err());
        assert!(build(&[]).unwrap().is_none());
    }
}
