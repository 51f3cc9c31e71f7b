//! Image strings as container runtimes and Kubernetes write them (`name[:tag][@digest]`), and
//! the one rule the front ends apply to a reference by digest alone.
//!
//! The containerd verifier's `-name` and a pod spec's `image` may carry a tag, a tag and a
//! digest, or only a digest. [`ImageRef::parse`] splits the digest off, then canonicalises the
//! name with [`TagRef::canonicalize`] (DESIGN §3.3: Docker Hub short names, `:latest` when no
//! tag and no digest are given).
//!
//! A tag (with or without a digest) is a question for the verification service. A reference
//! by digest alone (`repo@sha256:...`) names fixed bytes: there is no tag for the log to vouch
//! for, and it is exactly what the admission webhook writes into the pod templates it checks.
//! [`covered_repository`] decides whether the policy covers its repository: an *untagged*
//! `publisher` line must cover every tag of the repository (after untagged `remap` rules), so
//! that a digest reference is admitted only where the policy's owner chose taglog for the
//! whole repository; elsewhere the front end applies its `uncovered` setting.
//!
//! Out of scope: verifying that a bare digest was ever bound (the log indexes bindings by
//! tag, not by digest), IPv6 literals and other forms [`TagRef::canonicalize`] rejects.

use taglog_proofs::binding::{DigestError, DigestValue};
use taglog_proofs::policy::Policy;
use taglog_proofs::refs::{self, RefError, TagRef};

use crate::error::InputError;

/// Longest image string accepted: a name, a tag and a SHA-512 digest with room to spare.
pub const MAX_IMAGE_BYTES: usize = 1024;

/// Why an image string is not a usable reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// Longer than [`MAX_IMAGE_BYTES`].
    #[error("image reference is {len} bytes, more than the {MAX_IMAGE_BYTES} allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The part before `@` is not a reference.
    #[error("image {input:?}: {source}")]
    Name {
        /// The image string.
        input: String,
        /// Why the name was rejected.
        #[source]
        source: RefError,
    },
    /// The part after `@` is not a sha256 or sha512 digest.
    #[error(
        "image {input:?}: the part after '@' is not sha256:<64 hex> or sha512:<128 hex> ({source})"
    )]
    Digest {
        /// The image string.
        input: String,
        /// Why the digest was rejected.
        #[source]
        source: DigestError,
    },
    /// The digest is the word `withdrawn`, which names no content.
    #[error("image {input:?}: `withdrawn` is not a content digest")]
    Withdrawn {
        /// The image string.
        input: String,
    },
}

/// An image string, parsed and canonicalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `name[:tag]` (the tag defaults to `latest`).
    Tag(TagRef),
    /// `name:tag@digest`: the tag is verified and the digest must be its verified one.
    TagDigest(TagRef, DigestValue),
    /// `name@digest`: content-addressed, no tag.
    Digest {
        /// The name with the placeholder tag `latest` (only its repository is meaningful).
        name: TagRef,
        /// The digest.
        digest: DigestValue,
    },
}

impl ImageRef {
    /// Parses `name[:tag][@digest]`.
    ///
    /// # Errors
    /// [`ImageRefError`]: too long, a name [`TagRef::canonicalize`] rejects, or a digest that
    /// is not `sha256:`/`sha512:` lowercase hex of the right length.
    pub fn parse(input: &str) -> Result<ImageRef, ImageRefError> {
        if input.len() > MAX_IMAGE_BYTES {
            return Err(ImageRefError::TooLong { len: input.len() });
        }
        let name_error = |source| ImageRefError::Name {
            input: input.to_string(),
            source,
        };
        let Some((name, digest)) = input.split_once('@') else {
            return TagRef::canonicalize(input)
                .map(ImageRef::Tag)
                .map_err(name_error);
        };
        let digest = parse_digest(input, digest)?;
        // A second '@' stays in the name, where canonicalize rejects it.
        let tagged = has_tag(name);
        let name = TagRef::canonicalize(name).map_err(name_error)?;
        Ok(if tagged {
            ImageRef::TagDigest(name, digest)
        } else {
            ImageRef::Digest { name, digest }
        })
    }

    /// The digest the string names, if any.
    pub fn digest(&self) -> Option<&DigestValue> {
        match self {
            ImageRef::Tag(_) => None,
            ImageRef::TagDigest(_, d) | ImageRef::Digest { digest: d, .. } => Some(d),
        }
    }

    /// The canonical text: `name:tag`, `name:tag@digest` or `repository@digest`.
    pub fn canonical(&self) -> String {
        match self {
            ImageRef::Tag(t) => t.as_str().to_string(),
            ImageRef::TagDigest(t, d) => format!("{}@{d}", t.as_str()),
            ImageRef::Digest { name, digest } => format!("{}@{digest}", name.repository()),
        }
    }
}

/// The client's input error for an image string (so that refusals carry the usual class and
/// code: `bad-reference` or `bad-digest`).
pub fn input_error(e: ImageRefError) -> InputError {
    match e {
        ImageRefError::TooLong { len } => InputError::Reference {
            input: String::new(),
            source: RefError::TooLong {
                len,
                max: MAX_IMAGE_BYTES,
            },
        },
        ImageRefError::Name { input, source } => InputError::Reference { input, source },
        ImageRefError::Digest { input, .. } | ImageRefError::Withdrawn { input } => {
            InputError::Digest {
                what: "the image's digest (after '@') in",
                input,
            }
        }
    }
}

fn parse_digest(input: &str, text: &str) -> Result<DigestValue, ImageRefError> {
    match text.parse::<DigestValue>() {
        Ok(DigestValue::Withdrawn) => Err(ImageRefError::Withdrawn {
            input: input.to_string(),
        }),
        Ok(d) => Ok(d),
        Err(source) => Err(ImageRefError::Digest {
            input: input.to_string(),
            source,
        }),
    }
}

/// Whether a name carries a tag: a `:` after its last `/` (Docker's rule, as in
/// [`TagRef::canonicalize`]).
fn has_tag(name: &str) -> bool {
    let last = name.rfind('/').map_or(0, |i| i + 1);
    name.get(last..).is_some_and(|s| s.contains(':'))
}

/// Whether the policy covers every tag of `name`'s repository, for a reference by digest
/// alone: the repository after the longest matching *untagged* `remap` rule must be covered by
/// an *untagged* `publisher` line. Returns the covering (signed) repository.
///
/// # Errors
/// A description naming the repository when no such line exists (the caller's `uncovered`
/// setting then applies), or when the remap result is not a valid reference.
pub fn covered_repository(policy: &Policy, name: &TagRef) -> Result<String, String> {
    let remaps: Vec<_> = policy
        .remaps()
        .iter()
        .filter(|r| !r.pulled.is_tagged() && !r.signed.is_tagged())
        .collect();
    let signed = match refs::longest_match(&remaps, |r| &r.pulled, name) {
        None => name.clone(),
        Some(rule) => refs::remap(name, &rule.pulled, &rule.signed).map_err(|e| e.to_string())?,
    };
    let covered = policy
        .publishers()
        .iter()
        .any(|p| !p.prefix.is_tagged() && p.prefix.matches(&signed));
    if covered {
        Ok(signed.repository().to_string())
    } else {
        Err(format!(
            "no untagged `publisher` line covers the repository {} of a reference by digest: add `publisher <prefix> <vkey>` for the repository, or name the tag",
            signed.repository()
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use taglog_proofs::note::{KeyType, SignerKey};

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn forms() {
        let t = ImageRef::parse("nginx").unwrap();
        assert_eq!(t.canonical(), "docker.io/library/nginx:latest");
        assert!(t.digest().is_none());
        let td = ImageRef::parse(&format!("r.example/a/b:1.5@{D}")).unwrap();
        assert!(matches!(&td, ImageRef::TagDigest(t, _) if t.as_str() == "r.example/a/b:1.5"));
        assert_eq!(td.canonical(), format!("r.example/a/b:1.5@{D}"));
        let d = ImageRef::parse(&format!("r.example:5000/a/b@{D}")).unwrap();
        assert!(matches!(&d, ImageRef::Digest { .. }));
        assert_eq!(d.canonical(), format!("r.example:5000/a/b@{D}"));
        assert_eq!(d.digest().unwrap().to_string(), D);
    }

    #[test]
    fn rejects() {
        let cases = [
            format!("r.example/a/b@{}", &D[..20]),
            "r.example/a/b@withdrawn".to_string(),
            format!("r.example/a/b@@{D}"),
            format!("r.example/a/b@{D}@{D}"),
            format!("R.example/A/b:1@{D}"),
            "r.example/a/b:bad tag".to_string(),
            String::new(),
            "x".repeat(MAX_IMAGE_BYTES + 1),
            format!("r.example/a/b@SHA256:{}", &D[7..]),
        ];
        for c in &cases {
            assert!(ImageRef::parse(c).is_err(), "{c:?} was accepted");
        }
    }

    fn policy(lines: &str) -> Policy {
        let log = SignerKey::from_seed("log.test".parse().unwrap(), KeyType::Ed25519, [7; 32]);
        let publ = SignerKey::from_seed("p.test".parse().unwrap(), KeyType::Ed25519, [8; 32]);
        let text = format!(
            "log {}\nquorum none\n{}\n",
            log.verifier(),
            lines.replace("KEY", &publ.verifier().to_string())
        );
        Policy::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn name(s: &str) -> TagRef {
        match ImageRef::parse(s).unwrap() {
            ImageRef::Digest { name, .. } => name,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn digest_refs_need_an_untagged_publisher_for_the_repository() {
        let p = policy(
            "publisher r.example/acme KEY\npublisher r.example/solo/app:1 KEY\nremap mirror.example/up r.example/acme",
        );
        let ok = |s: &str| covered_repository(&p, &name(&format!("{s}@{D}")));
        assert_eq!(ok("r.example/acme/app").unwrap(), "r.example/acme/app");
        assert_eq!(ok("mirror.example/up/app").unwrap(), "r.example/acme/app");
        // A tagged publisher line covers one tag, not the repository.
        assert!(ok("r.example/solo/app").is_err());
        assert!(ok("r.example/other/app").is_err());
        assert!(ok("r.example/acmex/app").is_err());
    }
}
