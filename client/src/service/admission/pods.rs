//! Where the images of an admitted object are: the pod spec of a Pod, or the pod template of a
//! workload, and in it every `containers`, `initContainers` and `ephemeralContainers` entry's
//! `image` (Kubernetes API `core/v1` `PodSpec`).
//!
//! | group | kinds | pod spec at |
//! | --- | --- | --- |
//! | core (`""`) | Pod | `/spec` |
//! | core | PodTemplate | `/template/spec` |
//! | core | ReplicationController | `/spec/template/spec` |
//! | `apps` | Deployment, StatefulSet, DaemonSet, ReplicaSet | `/spec/template/spec` |
//! | `batch` | Job | `/spec/template/spec` |
//! | `batch` | CronJob | `/spec/jobTemplate/spec/template/spec` |
//!
//! Guarantees: every image string of the pod spec is found, with the JSON Pointer (RFC 6901)
//! of its `image` member; a member of the wrong JSON type is an error, never skipped; a
//! container without `image` (allowed in templates) has nothing to check; at most
//! [`MAX_IMAGES`] images are accepted. Other kinds carry no pod spec this webhook knows
//! ([`pod_spec_path`] is `None`). Out of scope: pod templates inside custom resources.

use serde_json::Value;

/// Most images checked in one object (the verification service decides at most this many
/// references at once).
pub const MAX_IMAGES: usize = crate::service::MAX_BATCH;

/// The container lists of a pod spec, in the order they are checked.
pub const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// Why an object's images could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodError {
    /// A member on the way to the images has the wrong JSON type.
    #[error("{path} is not {expected}")]
    Type {
        /// The JSON Pointer of the member.
        path: String,
        /// What it must be.
        expected: &'static str,
    },
    /// More than [`MAX_IMAGES`] images.
    #[error("the object has more than {MAX_IMAGES} container images")]
    TooMany,
}

/// One container image of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// JSON Pointer of the `image` member (e.g. `/spec/containers/0/image`).
    pub pointer: String,
    /// The container list (`containers`, `initContainers`, `ephemeralContainers`).
    pub list: &'static str,
    /// The container's `name` (empty if it has none).
    pub container: String,
    /// The image string as written.
    pub image: String,
}

impl Site {
    /// `container "app" (containers[0])`-style description for messages.
    pub fn describe(&self) -> String {
        let index = self.pointer.rsplit('/').nth(1).unwrap_or_default();
        format!(
            "container {:?} ({}[{}]) image {:?}",
            self.container, self.list, index, self.image
        )
    }
}

/// The JSON Pointer of the pod spec for a kind, or `None` for kinds without one.
pub fn pod_spec_path(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("", "Pod") => Some("/spec"),
        ("", "PodTemplate") => Some("/template/spec"),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("batch", "Job") => Some("/spec/template/spec"),
        ("batch", "CronJob") => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

/// Every image of the pod spec at `spec_path` in `object`, in document order within
/// [`CONTAINER_LISTS`]. A missing pod spec or container list has no images.
///
/// # Errors
/// [`PodError::Type`] for a member of the wrong type, [`PodError::TooMany`] past
/// [`MAX_IMAGES`].
pub fn image_sites(object: &Value, spec_path: &str) -> Result<Vec<Site>, PodError> {
    let type_error = |path: &str, expected| PodError::Type {
        path: path.to_string(),
        expected,
    };
    let Some(spec) = lookup(object, spec_path)? else {
        return Ok(Vec::new());
    };
    let spec = spec
        .as_object()
        .ok_or_else(|| type_error(spec_path, "an object"))?;
    let mut sites = Vec::new();
    for list in CONTAINER_LISTS {
        let list_path = format!("{spec_path}/{list}");
        let containers = match spec.get(list) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(a)) => a,
            Some(_) => return Err(type_error(&list_path, "an array")),
        };
        for (i, c) in containers.iter().enumerate() {
            let c_path = format!("{list_path}/{i}");
            let c = c
                .as_object()
                .ok_or_else(|| type_error(&c_path, "an object"))?;
            let container = match c.get("name") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(type_error(&format!("{c_path}/name"), "a string")),
            };
            let pointer = format!("{c_path}/image");
            let image = match c.get("image") {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(type_error(&pointer, "a string")),
            };
            if sites.len() == MAX_IMAGES {
                return Err(PodError::TooMany);
            }
            sites.push(Site {
                pointer,
                list,
                container,
                image,
            });
        }
    }
    Ok(sites)
}

/// The member at a pointer of plain names (no escapes), `None` where a member is absent or
/// null.
fn lookup<'v>(object: &'v Value, path: &str) -> Result<Option<&'v Value>, PodError> {
    let mut at = object;
    let mut walked = String::new();
    for name in path.split('/').skip(1) {
        let Some(map) = at.as_object() else {
            return Err(PodError::Type {
                path: if walked.is_empty() {
                    "/".to_string()
                } else {
                    walked
                },
                expected: "an object",
            });
        };
        walked.push('/');
        walked.push_str(name);
        match map.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => at = v,
        }
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_every_list_in_order() {
        let pod = json!({"spec": {
            "containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y@sha256:00"}],
            "initContainers": [{"name": "i", "image": "z"}],
            "ephemeralContainers": [{"name": "debug", "image": "busybox"}, {"name": "noimage"}],
        }});
        let s = image_sites(&pod, pod_spec_path("", "Pod").unwrap()).unwrap();
        let got: Vec<(&str, &str)> = s
            .iter()
            .map(|s| (s.pointer.as_str(), s.image.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/spec/initContainers/0/image", "z"),
                ("/spec/containers/0/image", "x:1"),
                ("/spec/containers/1/image", "y@sha256:00"),
                ("/spec/ephemeralContainers/0/image", "busybox"),
            ]
        );
        assert_eq!(
            s[2].describe(),
            "container \"b\" (containers[1]) image \"y@sha256:00\""
        );
    }

    #[test]
    fn templates_by_kind() {
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "c:1"}]}}}}}});
        let p = pod_spec_path("batch", "CronJob").unwrap();
        assert_eq!(
            image_sites(&cron, p).unwrap()[0].pointer,
            "/spec/jobTemplate/spec/template/spec/containers/0/image"
        );
        for (g, k) in [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("batch", "Job"),
            ("", "ReplicationController"),
        ] {
            assert_eq!(pod_spec_path(g, k), Some("/spec/template/spec"), "{g}/{k}");
        }
        assert_eq!(pod_spec_path("", "ConfigMap"), None);
        assert_eq!(pod_spec_path("apps", "Pod"), None);
        // No spec: nothing to check (the API server's validation rejects such objects).
        assert!(image_sites(&json!({}), "/spec").unwrap().is_empty());
    }

    #[test]
    fn wrong_types_are_errors() {
        let bad = [
            json!([]),
            json!({"spec": []}),
            json!({"spec": {"containers": {}}}),
            json!({"spec": {"containers": ["x"]}}),
            json!({"spec": {"containers": [{"image": 5}]}}),
            json!({"spec": {"containers": [{"name": 5, "image": "x"}]}}),
        ];
        for b in &bad {
            assert!(image_sites(b, "/spec").is_err(), "{b}");
        }
        let many: Vec<Value> = (0..=MAX_IMAGES).map(|_| json!({"image": "x"})).collect();
        assert_eq!(
            image_sites(&json!({"spec": {"containers": many}}), "/spec"),
            Err(PodError::TooMany)
        );
    }
}
