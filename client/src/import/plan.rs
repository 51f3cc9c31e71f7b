//! What to publish for each Notary-signed tag, decided from the log's verified current
//! binding: version 1 for a ref the log has never bound, the next version where the log binds
//! another digest, nothing where it already binds this digest. A tag the log shows as
//! withdrawn is left alone (a withdrawal is a publisher's decision that an import must not
//! undo). The plan is recomputed from the log on every run, so an interrupted import resumes
//! by running it again.
//!
//! Out of scope: publishing (see [`super::run`]) and reading Notary data ([`super::notary`]).

use std::fmt;

use taglog_proofs::binding::DigestValue;
use taglog_proofs::notary::{SignedTag, TagFailure};
use taglog_proofs::refs::TagRef;

use crate::publish::Current;

/// What an import does for one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Publish `digest` as `version` (`previous` is the digest the log binds now, if any).
    Publish {
        /// The version to publish.
        version: u64,
        /// The log's current digest, when the tag is already bound to another one.
        previous: Option<DigestValue>,
    },
    /// Nothing: the log's current binding is this digest.
    AlreadyBound {
        /// Its version.
        version: u64,
    },
    /// Nothing: the log shows the tag withdrawn.
    Withdrawn {
        /// The withdrawal's version.
        version: u64,
    },
    /// Not imported, with why.
    Failed {
        /// Why (one line, says what to do where it can).
        reason: String,
    },
}

/// One tag of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The Notary target (tag) name.
    pub tag: String,
    /// The taglog reference, when the tag makes one.
    pub reference: Option<TagRef>,
    /// The digest Notary signed, when verified.
    pub digest: Option<DigestValue>,
    /// The Notary role that signed it (or that failed).
    pub role: String,
    /// What to do.
    pub action: Action,
}

/// The taglog reference for `tag` in repository `repo` (canonical).
///
/// # Errors
/// A sentence saying why `tag` is not a taglog tag (DESIGN §3.3 allows
/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
pub fn reference(repo: &str, tag: &str) -> Result<TagRef, String> {
    let text = format!("{repo}:{tag}");
    match TagRef::canonicalize(&text) {
        Ok(r) if r.tag() == tag && r.repository() == repo => Ok(r),
        Ok(r) => Err(format!(
            "{text:?} does not keep its tag as a taglog reference ({})",
            r.as_str()
        )),
        Err(e) => Err(format!("{text:?} is not a taglog reference: {e}")),
    }
}

/// The step for a verified tag, given the log's current binding of its ref.
pub fn decide(tag: &SignedTag, reference: TagRef, current: &Current) -> Step {
    let digest = DigestValue::Sha256(tag.sha256);
    let action = match *current {
        Current::Unbound => Action::Publish {
            version: 1,
            previous: None,
        },
        Current::Bound {
            version,
            digest: DigestValue::Withdrawn,
        } => Action::Withdrawn { version },
        Current::Bound { version, digest: d } if d == digest => Action::AlreadyBound { version },
        Current::Bound { version, digest: d } => match version.checked_add(1) {
            Some(next) => Action::Publish {
                version: next,
                previous: Some(d),
            },
            None => Action::Failed {
                reason: format!("the log's version {version} has no successor"),
            },
        },
    };
    Step {
        tag: tag.name.clone(),
        reference: Some(reference),
        digest: Some(digest),
        role: tag.role.clone(),
        action,
    }
}

/// The step for a tag that failed before the log was asked.
pub fn failed(tag: &str, role: &str, digest: Option<DigestValue>, reason: String) -> Step {
    Step {
        tag: tag.to_string(),
        reference: None,
        digest,
        role: role.to_string(),
        action: Action::Failed { reason },
    }
}

/// The step for a tag whose Notary data did not verify.
pub fn unverified(tag: &str, why: &TagFailure) -> Step {
    let role = match why {
        TagFailure::RoleFailed { role, .. } | TagFailure::NoSha256 { role } => role.clone(),
    };
    failed(
        tag,
        &role,
        None,
        format!("Notary data does not verify: {why}"),
    )
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest = self
            .digest
            .map_or_else(|| "-".to_string(), |d| d.to_string());
        write!(f, "{:<20} {digest:<71} ", self.tag)?;
        match &self.action {
            Action::Publish {
                version,
                previous: None,
            } => write!(f, "publish version {version} (new in the log)"),
            Action::Publish {
                version,
                previous: Some(p),
            } => write!(
                f,
                "publish version {version} (the log binds {p} at version {})",
                version - 1
            ),
            Action::AlreadyBound { version } => {
                write!(f, "nothing: already bound at version {version}")
            }
            Action::Withdrawn { version } => write!(
                f,
                "nothing: withdrawn in the log at version {version}; publish it by hand if you mean to undo that"
            ),
            Action::Failed { reason } => write!(f, "not imported: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(c: u8) -> SignedTag {
        SignedTag {
            name: "1.5".into(),
            role: "targets".into(),
            sha256: [c; 32],
            length: 1,
        }
    }

    fn r() -> TagRef {
        reference("registry.example/acme/app", "1.5").expect("ref")
    }

    #[test]
    fn versions_follow_the_log() {
        let d = DigestValue::Sha256([1; 32]);
        let other = DigestValue::Sha256([2; 32]);
        let cases = [
            (
                Current::Unbound,
                Action::Publish {
                    version: 1,
                    previous: None,
                },
            ),
            (
                Current::Bound {
                    version: 4,
                    digest: d,
                },
                Action::AlreadyBound { version: 4 },
            ),
            (
                Current::Bound {
                    version: 4,
                    digest: other,
                },
                Action::Publish {
                    version: 5,
                    previous: Some(other),
                },
            ),
            (
                Current::Bound {
                    version: 9,
                    digest: DigestValue::Withdrawn,
                },
                Action::Withdrawn { version: 9 },
            ),
        ];
        for (current, want) in cases {
            assert_eq!(decide(&tag(1), r(), &current).action, want, "{current:?}");
        }
    }

    #[test]
    fn tags_that_are_not_taglog_tags_are_refused() {
        assert!(reference("registry.example/acme/app", "1.5").is_ok());
        for bad in ["", "-x", "a b", "x@y", &"a".repeat(129), "UPPER/x"] {
            assert!(
                reference("registry.example/acme/app", bad).is_err(),
                "{bad:?}"
            );
        }
        assert!(reference("Registry.Example/acme/app", "1").is_err());
    }
}
