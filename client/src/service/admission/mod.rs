//! `taglog admission`: a Kubernetes mutating admission webhook (`admission.k8s.io/v1`
//! `AdmissionReview` over HTTPS, Kubernetes "Dynamic Admission Control") over the verification
//! service.
//!
//! For a CREATE or UPDATE of a Pod or of a workload with a pod template ([`pods`]), every
//! container, init container and ephemeral container image is decided by the service
//! ([`super::ask`]):
//! - a tag is rewritten to `repo@sha256:...` of its verified current binding (or of its pin)
//!   with a JSONPatch ([`patch`]);
//! - `name:tag@digest` is checked (`taglog verify --digest` semantics, pins honoured) and kept;
//! - `repo@digest` is kept when the policy covers the repository (this is what the webhook
//!   writes into templates, so the pods they create are admitted without a lookup);
//! - a reference no `publisher` line covers follows [`AdmissionConfig::uncovered`]
//!   (default deny);
//! - if any image is refused, the whole request is denied with one message naming each
//!   refused image, its container and the failed rule, and what to do;
//! - on UPDATE, only images that differ from the old object at the same place are decided
//!   (a metadata change or a finalizer removal never depends on the log; an ephemeral
//!   container added through `pods/ephemeralcontainers` is checked alone).
//!
//! Pinned and stale-accepted images, and uncovered images allowed by configuration, get a
//! warning. Namespaces can be opted in or out ([`Namespaces`]); a `dryRun` request gets the
//! answer a real one would, without side effects (the verifier's state is read but not
//! updated, and a fresh answer of the log is not cached); the response `uid` echoes the
//! request's. A review that
//! is too large, malformed, or not `AdmissionReview` `v1` gets an HTTP error saying so
//! ([`review::ReviewError`]) and nothing is decided. No path allows an image the service
//! refused, and a decision that does not finish within [`AdmissionConfig::decision_timeout`]
//! denies the request.
//!
//! Out of scope: validating webhooks, `v1beta1` reviews, pod templates of custom resources,
//! and anything but images (use a policy engine for the rest).

pub mod cli;
pub mod http;
pub mod patch;
pub mod pods;
pub mod review;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use super::ask::{self, Ask, Outcome, Uncovered};
use super::image::{input_error, ImageRef};
use super::{Basis, Refusal, Service};
use crate::error::Class;
use patch::Rewrite;
use pods::Site;
use review::{Answer, Operation, Request};

/// Default longest a decision may take: inside the webhook's `timeoutSeconds` (10 in the
/// example configuration), so that a slow log gives a denial that says so.
pub const DEFAULT_DECISION_TIMEOUT: Duration = Duration::from_secs(5);
/// The API server truncates warnings longer than this (`AdmissionResponse.warnings`).
pub const MAX_WARNING_BYTES: usize = 256;
/// Most warnings returned for one request.
pub const MAX_WARNINGS: usize = 16;
/// Most refused images described in one denial message.
pub const MAX_DENIALS_LISTED: usize = 8;

/// Which namespaces are checked: all but `skip`, or (when `only` is not empty) only those.
/// A request without a namespace is always checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// Opt-in: when not empty, only these namespaces are checked.
    pub only: BTreeSet<String>,
    /// Opt-out: these namespaces are never checked.
    pub skip: BTreeSet<String>,
}

impl Namespaces {
    /// Whether requests in `ns` are checked.
    pub fn checks(&self, ns: Option<&str>) -> bool {
        match ns {
            None => true,
            Some(ns) => !self.skip.contains(ns) && (self.only.is_empty() || self.only.contains(ns)),
        }
    }
}

/// The webhook's settings.
#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// What to do with references no `publisher` line covers.
    pub uncovered: Uncovered,
    /// Which namespaces are checked.
    pub namespaces: Namespaces,
    /// Longest a decision may take before the request is denied.
    pub decision_timeout: Duration,
}

impl Default for AdmissionConfig {
    fn default() -> AdmissionConfig {
        AdmissionConfig {
            uncovered: Uncovered::Deny,
            namespaces: Namespaces::default(),
            decision_timeout: DEFAULT_DECISION_TIMEOUT,
        }
    }
}

/// The webhook: the service and the settings (cheap to clone).
#[derive(Debug, Clone)]
pub struct Webhook {
    service: Service,
    config: std::sync::Arc<AdmissionConfig>,
}

/// What happened to one image.
struct Judged<'a> {
    site: &'a Site,
    /// Whether the image string is a tag without a digest (rewritten when verified).
    tag_only: bool,
    outcome: Outcome,
}

impl Webhook {
    /// A webhook over `service`.
    pub fn new(service: Service, config: AdmissionConfig) -> Webhook {
        Webhook {
            service,
            config: std::sync::Arc::new(config),
        }
    }

    /// The service.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Decides one parsed request (see the module documentation).
    pub async fn admit(&self, req: &Request) -> Answer {
        let pass = Answer {
            uid: req.uid.clone(),
            allowed: true,
            patch: None,
            denial: None,
            warnings: Vec::new(),
        };
        if !matches!(req.operation, Operation::Create | Operation::Update)
            || !self.config.namespaces.checks(req.namespace.as_deref())
        {
            return pass;
        }
        let Some(spec_path) = pods::pod_spec_path(&req.kind.group, &req.kind.kind) else {
            return pass;
        };
        let Some(object) = &req.object else {
            return deny(req, 400, "request.object is missing".to_string());
        };
        let sites = match pods::image_sites(object, spec_path) {
            Ok(s) => changed(s, req.old_object.as_ref()),
            Err(e) => return deny(req, 400, format!("{}: {e}", subject(req))),
        };
        if sites.is_empty() {
            return pass;
        }
        let judged = match self.judge(&sites, req.dry_run).await {
            Ok(j) => j,
            Err(message) => return deny(req, 504, message),
        };
        render(req, &judged)
    }

    /// Decides every image of `sites`; `Err` with a message when the decision timed out.
    async fn judge<'s>(&self, sites: &'s [Site], dry_run: bool) -> Result<Vec<Judged<'s>>, String> {
        let parsed: Vec<Result<Ask, Refusal>> = sites
            .iter()
            .map(|s| {
                ImageRef::parse(&s.image).map(Ask::of).map_err(|e| Refusal {
                    reference: s.image.clone(),
                    error: std::sync::Arc::new(crate::Error::Input(input_error(e))),
                })
            })
            .collect();
        let asks: Vec<Ask> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
        let timeout = self.config.decision_timeout;
        let decided = tokio::time::timeout(
            timeout,
            ask::decide(&self.service, &asks, self.config.uncovered, dry_run),
        )
        .await
        .map_err(|_| {
            format!("taglog: no verdict within {timeout:?}: the log did not answer in time; nothing was admitted; retry once the log answers")
        })?
        .map_err(|e| format!("taglog: {e}"))?;
        let mut decided = decided.into_iter();
        Ok(sites
            .iter()
            .zip(parsed)
            .map(|(site, p)| {
                let tag_only = matches!(&p, Ok(a) if matches!(a.image(), ImageRef::Tag(_)));
                let outcome = match p {
                    Err(r) => Outcome::Refused(r),
                    Ok(_) => decided.next().unwrap_or_else(|| {
                        Outcome::Refused(Refusal {
                            reference: site.image.clone(),
                            error: std::sync::Arc::new(crate::Error::Runtime(
                                std::io::Error::other("an image was left undecided"),
                            )),
                        })
                    }),
                };
                Judged {
                    site,
                    tag_only,
                    outcome,
                }
            })
            .collect())
    }
}

/// The sites whose image is new: on UPDATE, an image string the old object already held at
/// the same place was admitted before (or predates the webhook) and is not decided again, so
/// a label change or a finalizer removal never depends on the log, and an ephemeral container
/// added to a running pod is checked alone.
fn changed(sites: Vec<Site>, old: Option<&serde_json::Value>) -> Vec<Site> {
    let Some(old) = old else {
        return sites;
    };
    sites
        .into_iter()
        .filter(|s| old.pointer(&s.pointer).and_then(|v| v.as_str()) != Some(s.image.as_str()))
        .collect()
}

/// `Deployment ns/name` for messages.
fn subject(req: &Request) -> String {
    format!(
        "{} {}/{}",
        req.kind.kind,
        req.namespace.as_deref().unwrap_or_default(),
        req.name.as_deref().unwrap_or("(generated name)")
    )
}

fn deny(req: &Request, code: u16, message: String) -> Answer {
    Answer {
        uid: req.uid.clone(),
        allowed: false,
        patch: None,
        denial: Some((code, message)),
        warnings: Vec::new(),
    }
}

/// The denial code for a refusal class (the one mapping): 503 when the log was unavailable,
/// 400 for a request or configuration error, 403 for a failed verification or an uncovered
/// reference.
pub fn denial_code(class: Class) -> u16 {
    match class {
        Class::Unavailable => 503,
        Class::Usage => 400,
        Class::Failed | Class::Security | Class::Uncovered => 403,
    }
}

fn render(req: &Request, judged: &[Judged<'_>]) -> Answer {
    let refused: Vec<(&Site, &Refusal)> = judged
        .iter()
        .filter_map(|j| match &j.outcome {
            Outcome::Refused(r) => Some((j.site, r)),
            _ => None,
        })
        .collect();
    if !refused.is_empty() {
        let codes: Vec<&str> = refused.iter().map(|(_, r)| r.code()).collect();
        tracing::info!(
            uid = %req.uid,
            object = %subject(req),
            dry_run = req.dry_run,
            codes = ?codes,
            "admission denied"
        );
        return deny(req, worst_code(&refused), denial_message(req, &refused));
    }
    let mut rewrites = Vec::new();
    let mut warnings = Vec::new();
    for j in judged {
        match &j.outcome {
            Outcome::Verified(a) => {
                if j.tag_only {
                    rewrites.push(Rewrite {
                        pointer: j.site.pointer.clone(),
                        from: j.site.image.clone(),
                        to: a.pull(),
                    });
                }
                if let Basis::Pinned { version, moved } = a.basis {
                    let now = a.current.map(|(v, _)| format!("; current is version {v}"));
                    warnings.push(format!(
                        "taglog: {} runs pinned version {version}{}{}",
                        j.site.image,
                        if moved { " (the tag has moved)" } else { "" },
                        now.unwrap_or_default()
                    ));
                }
                if a.stale_accepted {
                    warnings.push(format!(
                        "taglog: {} was verified with --accept-stale: the log's checkpoint is older than the policy's max-age",
                        j.site.image
                    ));
                }
                for w in &a.warnings {
                    warnings.push(format!("taglog: {}: {w}", j.site.image));
                }
            }
            Outcome::UncoveredAllowed(_) => warnings.push(format!(
                "taglog: {} is not covered by the trust policy and was admitted unverified",
                j.site.image
            )),
            Outcome::ByDigest { .. } | Outcome::Refused(_) => {}
        }
    }
    match patch::build(&rewrites).and_then(|p| p.as_ref().map(patch::encode).transpose()) {
        Ok(patch) => Answer {
            uid: req.uid.clone(),
            allowed: true,
            patch,
            denial: None,
            warnings: bounded_warnings(warnings),
        },
        Err(e) => deny(req, 500, format!("taglog: {e}")),
    }
}

fn worst_code(refused: &[(&Site, &Refusal)]) -> u16 {
    refused
        .iter()
        .map(|(_, r)| denial_code(r.class()))
        .max_by_key(|c| match c {
            503 => 2,
            403 => 1,
            _ => 0,
        })
        .unwrap_or(403)
}

fn denial_message(req: &Request, refused: &[(&Site, &Refusal)]) -> String {
    let mut m = format!("taglog denied {}:", subject(req));
    for (site, r) in refused.iter().take(MAX_DENIALS_LISTED) {
        let _ = write!(
            m,
            " {}: {} [{}]; {}.",
            site.describe(),
            r.error,
            r.code(),
            r.advice()
        );
    }
    if refused.len() > MAX_DENIALS_LISTED {
        let _ = write!(
            m,
            " ...and {} more refused images.",
            refused.len() - MAX_DENIALS_LISTED
        );
    }
    m
}

/// At most [`MAX_WARNINGS`] warnings of at most [`MAX_WARNING_BYTES`] each.
fn bounded_warnings(ws: Vec<String>) -> Vec<String> {
    ws.into_iter()
        .take(MAX_WARNINGS)
        .map(|mut w| {
            if w.len() > MAX_WARNING_BYTES {
                let mut end = MAX_WARNING_BYTES - 3;
                while !w.is_char_boundary(end) {
                    end -= 1;
                }
                w.truncate(end);
                w.push_str("...");
            }
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_scope() {
        let all = Namespaces::default();
        assert!(all.checks(Some("a")) && all.checks(None));
        let out = Namespaces {
            skip: ["kube-system".to_string()].into(),
            ..Namespaces::default()
        };
        assert!(!out.checks(Some("kube-system")) && out.checks(Some("a")));
        let only = Namespaces {
            only: ["prod".to_string()].into(),
            ..Namespaces::default()
        };
        assert!(only.checks(Some("prod")) && !only.checks(Some("dev")) && only.checks(None));
    }

    #[test]
    fn warnings_are_bounded() {
        let w = bounded_warnings(vec!["é".repeat(400); MAX_WARNINGS + 3]);
        assert_eq!(w.len(), MAX_WARNINGS);
        assert!(w.iter().all(|w| w.len() <= MAX_WARNING_BYTES));
    }
}
