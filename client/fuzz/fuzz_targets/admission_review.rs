//! Kubernetes AdmissionReviews: `review::parse` never panics; for an accepted review the pod
//! spec of every known kind is walked (`pods::image_sites`), every image string is parsed, and
//! a JSONPatch rewriting each found image applies to the object (with the json-patch crate) and
//! changes exactly those strings; the answer's JSON parses and echoes the uid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use taglog_client::service::admission::patch::{self, Rewrite};
use taglog_client::service::admission::pods::{image_sites, pod_spec_path};
use taglog_client::service::admission::review::{self, Answer};
use taglog_client::service::image::ImageRef;

const KINDS: [(&str, &str); 4] = [
    ("", "Pod"),
    ("apps", "Deployment"),
    ("batch", "CronJob"),
    ("", "PodTemplate"),
];

fuzz_target!(|data: &[u8]| {
    let Ok(req) = review::parse(data) else {
        return;
    };
    let answer = Answer {
        uid: req.uid.clone(),
        allowed: false,
        patch: None,
        denial: Some((403, "no".into())),
        warnings: Vec::new(),
    };
    let out: Value = serde_json::from_slice(&answer.to_json()).expect("the answer is JSON");
    assert_eq!(out["response"]["uid"], Value::String(req.uid.clone()));
    let Some(object) = &req.object else {
        return;
    };
    let mut kinds: Vec<(&str, &str)> = KINDS.to_vec();
    kinds.push((req.kind.group.as_str(), req.kind.kind.as_str()));
    for (group, kind) in kinds {
        let Some(path) = pod_spec_path(group, kind) else {
            continue;
        };
        let Ok(sites) = image_sites(object, path) else {
            continue;
        };
        let rewrites: Vec<Rewrite> = sites
            .iter()
            .map(|s| {
                let _ = ImageRef::parse(&s.image);
                Rewrite {
                    pointer: s.pointer.clone(),
                    from: s.image.clone(),
                    to: format!("{}@rewritten", s.image),
                }
            })
            .collect();
        let Some(p) = patch::build(&rewrites).expect("pointers of found images parse") else {
            assert!(sites.is_empty());
            continue;
        };
        let wire: json_patch::Patch =
            serde_json::from_slice(&patch::encode(&p).expect("encodes")).expect("decodes");
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &wire).expect("the patch applies to its object");
        for r in &rewrites {
            assert_eq!(
                patched.pointer(&r.pointer),
                Some(&Value::String(r.to.clone()))
            );
        }
    }
});
