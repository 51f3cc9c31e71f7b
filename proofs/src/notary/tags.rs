//! The tags Docker Content Trust would pull: each target of the `targets/releases`
//! delegation, else of the top-level `targets` role (docker/cli `trust.ReleasesRole` then
//! `data.CanonicalTargetsRole`), with the SHA-256 manifest digest it signed.
//!
//! Notary skips a delegation whose signatures miss the threshold or that has expired, and
//! then falls back to `targets`. Taglog is stricter: a tag that such a failed
//! `targets/releases` file names is reported as failed and not imported, even when `targets`
//! also lists it, because the role Docker prefers could not vouch for it. Other delegations
//! (`targets/<signer>`) are not read: Docker does not pull from them.
//!
//! Out of scope: whether a target name is a valid taglog tag (the client builds the reference
//! and rejects it there).

use super::roles::Targets;
use super::NotaryError;

/// The delegation Docker Content Trust signs releases into.
pub const RELEASES_ROLE: &str = "targets/releases";

/// A tag with the digest Notary signed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTag {
    /// Target (tag) name.
    pub name: String,
    /// The role whose verified file listed it.
    pub role: String,
    /// SHA-256 of the manifest.
    pub sha256: [u8; 32],
    /// Manifest length in bytes.
    pub length: u64,
}

/// Why a tag is not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagFailure {
    /// The role that lists it failed verification.
    #[error("its Notary role {role} failed verification: {error}")]
    RoleFailed {
        /// The role.
        role: String,
        /// Why.
        error: NotaryError,
    },
    /// The target lists no SHA-256 hash (only SHA-512), so it names no registry digest.
    #[error(
        "its Notary target (role {role}) has no sha256 hash, so it names no image manifest digest"
    )]
    NoSha256 {
        /// The role.
        role: String,
    },
}

/// What the `targets/releases` delegation gave.
#[derive(Debug, Clone)]
pub enum Releases {
    /// Not delegated, or not listed in the snapshot.
    Absent,
    /// Verified.
    Verified(Targets),
    /// Failed verification with a skippable error ([`NotaryError::is_role_skippable`]);
    /// `claimed` are the target names its file claims (unverified).
    Failed {
        /// Why.
        error: NotaryError,
        /// Names it claims.
        claimed: Vec<String>,
    },
}

/// Docker's view of a repository: tags to import and tags that failed, both sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerTags {
    /// Tags with their signed digest.
    pub tags: Vec<SignedTag>,
    /// Tags that are not imported, with why.
    pub failures: Vec<(String, TagFailure)>,
}

/// Combines the verified top-level `targets` with the outcome of `targets/releases`.
pub fn docker_tags(targets: &Targets, releases: &Releases) -> DockerTags {
    let mut out = DockerTags::default();
    let mut seen = std::collections::BTreeSet::new();
    match releases {
        Releases::Absent => {}
        Releases::Verified(r) => collect(r, &mut out, &mut seen),
        Releases::Failed { error, claimed } => {
            for name in claimed {
                if seen.insert(name.clone()) {
                    out.failures.push((
                        name.clone(),
                        TagFailure::RoleFailed {
                            role: RELEASES_ROLE.into(),
                            error: error.clone(),
                        },
                    ));
                }
            }
        }
    }
    collect(targets, &mut out, &mut seen);
    out.tags.sort_by(|a, b| a.name.cmp(&b.name));
    out.failures.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn collect(t: &Targets, out: &mut DockerTags, seen: &mut std::collections::BTreeSet<String>) {
    for (name, meta) in &t.targets {
        if !seen.insert(name.clone()) {
            continue;
        }
        match meta.sha256 {
            Some(sha256) => out.tags.push(SignedTag {
                name: name.clone(),
                role: t.role.clone(),
                sha256,
                length: meta.length,
            }),
            None => out.failures.push((
                name.clone(),
                TagFailure::NoSha256 {
                    role: t.role.clone(),
                },
            )),
        }
    }
}
