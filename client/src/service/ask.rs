//! How the containerd verifier and the admission webhook ask the service about image strings:
//! a tag (with or without a digest) becomes a [`Query`]; a reference by digest alone is
//! admitted only in a repository the policy covers ([`super::image::covered_repository`]);
//! a reference no `publisher` line covers follows the front end's [`Uncovered`] setting.
//!
//! Guarantees: every image gets exactly one [`Outcome`], in order; all tags are decided in one
//! [`Service::decide_all`] call (concurrently, one log verification per signed ref); nothing
//! here turns a refusal other than "uncovered" into a pass. Out of scope: rendering (each
//! front end's module).

use std::str::FromStr;
use std::sync::Arc;

use taglog_proofs::binding::DigestValue;
use taglog_proofs::refs::TagRef;

use super::image::{covered_repository, ImageRef};
use super::{Allowed, Basis, Decision, Query, Refusal, Served, Service, MAX_BATCH};
use crate::error::{Class, ConfigError, Error};

/// What a front end does with a reference that no `publisher` line covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Uncovered {
    /// Allow it unchanged (taglog then protects only the covered references).
    Allow,
    /// Refuse it (the default: only references the policy covers are used).
    #[default]
    Deny,
}

impl FromStr for Uncovered {
    type Err = String;

    /// `allow` or `deny`.
    ///
    /// # Errors
    /// A description for anything else.
    fn from_str(s: &str) -> Result<Uncovered, String> {
        match s {
            "allow" => Ok(Uncovered::Allow),
            "deny" => Ok(Uncovered::Deny),
            _ => Err("expected `allow` or `deny`".to_string()),
        }
    }
}

/// One image to decide: an image string and the digest that will be run for it, if known
/// (checked against the verified one). The two never disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    image: ImageRef,
    served: Option<DigestValue>,
}

/// A digest that differs from the one the image string names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{image} names digest {named}, but {served} is about to be used")]
pub struct DigestConflict {
    /// The image string (canonical).
    pub image: String,
    /// The digest the string names.
    pub named: String,
    /// The digest about to be used.
    pub served: String,
}

/// More images than one call may decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{count} images to decide, more than the {MAX_BATCH} one decision may cover")]
pub struct TooMany {
    /// How many were given.
    pub count: usize,
}

impl Ask {
    /// Asks about an image string as written: the digest it names (if any) is the one served.
    pub fn of(image: ImageRef) -> Ask {
        let served = image.digest().copied();
        Ask { image, served }
    }

    /// Asks about an image string for which `served` is about to be used.
    ///
    /// # Errors
    /// [`DigestConflict`] when the string names another digest.
    pub fn served(image: ImageRef, served: DigestValue) -> Result<Ask, DigestConflict> {
        match image.digest() {
            Some(named) if *named != served => Err(DigestConflict {
                image: image.canonical(),
                named: named.to_string(),
                served: served.to_string(),
            }),
            _ => Ok(Ask {
                image,
                served: Some(served),
            }),
        }
    }

    /// The image.
    pub fn image(&self) -> &ImageRef {
        &self.image
    }
}

/// The answer for one image.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The service verified the tag: use [`Allowed::pull`] (or check `served` against it).
    Verified(Box<Allowed>),
    /// A reference by digest alone in a repository the policy covers.
    ByDigest {
        /// The covering (signed) repository.
        repository: String,
        /// The digest.
        digest: DigestValue,
    },
    /// No `publisher` line covers the reference, and the setting is [`Uncovered::Allow`].
    UncoveredAllowed(Refusal),
    /// Refused (including uncovered under [`Uncovered::Deny`]).
    Refused(Refusal),
}

impl Outcome {
    /// Whether the image may be used.
    pub fn allowed(&self) -> bool {
        !matches!(self, Outcome::Refused(_))
    }

    /// One line saying why the image may be used, or why not.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Verified(a) => describe_allowed(a),
            Outcome::ByDigest { repository, digest } => format!(
                "{repository}@{digest} is a reference by digest (content-addressed) in a repository the policy covers"
            ),
            Outcome::UncoveredAllowed(r) => format!(
                "{} is not covered by the policy and uncovered references are allowed: {}",
                r.reference, r.error
            ),
            Outcome::Refused(r) => format!(
                "{} [{}]: {}; {}",
                r.reference,
                r.code(),
                r.error,
                r.advice()
            ),
        }
    }
}

/// `<pulled> -> <digest>: ...` with the basis, the checkpoint and the warnings.
pub fn describe_allowed(a: &Allowed) -> String {
    let cp = &a.checkpoint;
    let witnesses: Vec<&str> = cp.cosigners.iter().map(|(w, _)| w.as_str()).collect();
    let vouched = if witnesses.is_empty() {
        format!("log {} at size {}", cp.origin, cp.size)
    } else {
        format!(
            "log {} at size {}, cosigned by {}",
            cp.origin,
            cp.size,
            witnesses.join(", ")
        )
    };
    let basis = match (a.basis, a.current) {
        (Basis::Current { version }, _) => format!("the current binding (version {version})"),
        (Basis::Pinned { version, .. }, Some((now, _))) if now != version => {
            format!("pinned to version {version}; the current binding is version {now}")
        }
        (Basis::Pinned { version, .. }, _) => format!("pinned to version {version}"),
    };
    let signed = if a.signed == a.pulled {
        String::new()
    } else {
        format!(" (signed as {})", a.signed.as_str())
    };
    let mut line = format!(
        "{}{signed} -> {}: {basis}, {vouched}",
        a.pulled.as_str(),
        a.digest
    );
    for w in &a.warnings {
        line.push_str("; warning: ");
        line.push_str(w);
    }
    line
}

/// Decides every image (see the module documentation), in order; with `dry_run`, without
/// side effects ([`Service::decide_all_dry_run`]).
///
/// # Errors
/// [`TooMany`] for more than [`MAX_BATCH`] images (nothing is decided then).
pub async fn decide(
    service: &Service,
    asks: &[Ask],
    uncovered: Uncovered,
    dry_run: bool,
) -> Result<Vec<Outcome>, TooMany> {
    if asks.len() > MAX_BATCH {
        return Err(TooMany { count: asks.len() });
    }
    let queries: Vec<Query> = asks
        .iter()
        .filter_map(|a| match &a.image {
            ImageRef::Tag(t) | ImageRef::TagDigest(t, _) => Some(Query {
                reference: t.clone(),
                served: a.served.map(Served::Digest),
            }),
            ImageRef::Digest { .. } => None,
        })
        .collect();
    let decided = if dry_run {
        service.decide_all_dry_run(&queries).await
    } else {
        service.decide_all(&queries).await
    };
    let mut decisions = decided.into_iter();
    let outcomes = asks
        .iter()
        .map(|a| {
            let outcome = match &a.image {
                ImageRef::Digest { name, digest } => by_digest(service, a, name, digest),
                _ => match decisions.next() {
                    Some(Decision::Allow(allowed)) => Outcome::Verified(allowed),
                    Some(Decision::Refuse(r)) => Outcome::Refused(r),
                    // decide_all answers every query of a batch within MAX_BATCH.
                    None => Outcome::Refused(refusal(
                        a.image.canonical(),
                        Error::Runtime(std::io::Error::other("the service left a query undecided")),
                    )),
                },
            };
            match (outcome, uncovered) {
                (Outcome::Refused(r), Uncovered::Allow) if r.class() == Class::Uncovered => {
                    Outcome::UncoveredAllowed(r)
                }
                (o, _) => o,
            }
        })
        .collect();
    Ok(outcomes)
}

fn by_digest(service: &Service, a: &Ask, name: &TagRef, digest: &DigestValue) -> Outcome {
    let reference = a.image.canonical();
    match covered_repository(service.policy(), name) {
        Ok(repository) => Outcome::ByDigest {
            repository,
            digest: *digest,
        },
        Err(reason) => Outcome::Refused(refusal(
            reference.clone(),
            Error::Config(ConfigError::NotCovered { reference, reason }),
        )),
    }
}

fn refusal(reference: String, error: Error) -> Refusal {
    Refusal {
        reference,
        error: Arc::new(error),
    }
}
