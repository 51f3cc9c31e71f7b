//! Reference prefixes and `remap` rules (DESIGN §3.3, "Prefix matching"): whole-component
//! matching for `publisher`, `remap`, the server allowlist and watch lists.
//!
//! Out of scope: choosing among policy lines beyond "longest match wins" ([`longest_match`]).

use std::fmt;
use std::str::FromStr;

use super::{check_host_port, check_path, RefError, TagRef};
use super::{DOCKER_HUB_ALIASES, DOCKER_HUB_HOST, MAX_NAME_BYTES, MAX_REF_BYTES};

/// A canonical reference prefix: `host[:port]` and zero or more whole path components, or a
/// full canonical reference (which then matches only itself).
///
/// Nothing is folded or expanded: on `docker.io` at most two path components are allowed, and
/// `docker.io/nginx` is the namespace `nginx`, not `docker.io/library/nginx`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefPrefix {
    text: String,
    tagged: bool,
}

impl RefPrefix {
    /// Whether the prefix covers `r`: with R = `r` without `:tag`, an untagged prefix matches
    /// iff R = prefix or R starts with prefix + `/`; a tagged prefix matches only that ref.
    pub fn matches(&self, r: &TagRef) -> bool {
        if self.tagged {
            return self.text == r.as_str();
        }
        let repo = r.repository();
        repo == self.text
            || (repo.starts_with(&self.text) && repo.as_bytes().get(self.text.len()) == Some(&b'/'))
    }

    /// Length in bytes. Among prefixes that match one reference, the longer one is the more
    /// specific one (they lie on one chain of whole components), so this orders `remap` rules.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Always `false`: a prefix names at least a host.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Whether this is a full reference (with a tag).
    pub fn is_tagged(&self) -> bool {
        self.tagged
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `host[:port]` the prefix starts with.
    pub fn host(&self) -> &str {
        self.text.split('/').next().unwrap_or_default()
    }
}

impl FromStr for RefPrefix {
    type Err = RefError;

    /// Strict parse of a canonical prefix.
    ///
    /// # Errors
    /// [`RefError`]: no host first, a bad host or port, a Docker Hub alias host, a bad or
    /// empty path component, more than two path components on `docker.io`, a name longer than
    /// [`MAX_NAME_BYTES`], or a tag on something that is not a canonical reference.
    fn from_str(s: &str) -> Result<RefPrefix, RefError> {
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        if s.len() > MAX_REF_BYTES {
            return Err(RefError::TooLong {
                len: s.len(),
                max: MAX_REF_BYTES,
            });
        }
        let after_slash = s.rfind('/').map(|i| i + 1);
        if after_slash.is_some_and(|i| s.get(i..).is_some_and(|t| t.contains(':'))) {
            let r: TagRef = s.parse().map_err(|e| RefError::TaggedPrefix(Box::new(e)))?;
            return Ok(RefPrefix {
                text: r.text,
                tagged: true,
            });
        }
        let (host, path) = match s.split_once('/') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        if !(host.contains(['.', ':']) || host == "localhost") {
            return Err(RefError::PrefixWithoutHost(s.to_owned()));
        }
        let (hostname, port) = check_host_port(host)?;
        if port.is_none() && DOCKER_HUB_ALIASES.contains(&hostname) {
            return Err(RefError::DockerHubAlias(hostname.to_owned()));
        }
        if let Some(p) = path {
            let n = check_path(p)?;
            if host == DOCKER_HUB_HOST && n > 2 {
                return Err(RefError::DockerHubComponents(p.to_owned()));
            }
        }
        if s.len() > MAX_NAME_BYTES {
            return Err(RefError::NameTooLong(s.len()));
        }
        Ok(RefPrefix {
            text: s.to_owned(),
            tagged: false,
        })
    }
}

impl fmt::Display for RefPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for RefPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefPrefix({:?})", self.text)
    }
}

/// Why a `remap` rule could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemapError {
    /// The rule's pulled-side prefix does not cover the reference.
    #[error("remap prefix {from} does not cover {reference}")]
    NotCovered {
        /// The pulled-side prefix.
        from: String,
        /// The reference.
        reference: String,
    },
    /// The rule would change the tag (a remap never does).
    #[error("remap {from} -> {to} would change the tag of {reference}: a tagged target needs the same tagged source")]
    ChangesTag {
        /// The pulled-side prefix.
        from: String,
        /// The signed-side prefix.
        to: String,
        /// The reference.
        reference: String,
    },
    /// The rewritten reference is not canonical (e.g. a one-component path on `docker.io`).
    #[error(
        "remapping {reference} gives {result:?}, which is not a canonical reference: {source}"
    )]
    Invalid {
        /// The reference.
        reference: String,
        /// The rewritten text.
        result: String,
        /// Why it is not canonical.
        source: RefError,
    },
}

/// Applies one `remap` rule: replaces the `from` prefix of `r` by `to`, keeping the tag.
///
/// Pick the rule with [`longest_match`] first; the result is never remapped again.
///
/// # Errors
/// [`RemapError::NotCovered`] if `from` does not match `r`, [`RemapError::ChangesTag`] if `to`
/// carries a tag other than `r`'s or `from` has none, and [`RemapError::Invalid`] if the
/// rewritten text is not a canonical reference.
pub fn remap(r: &TagRef, from: &RefPrefix, to: &RefPrefix) -> Result<TagRef, RemapError> {
    if !from.matches(r) {
        return Err(RemapError::NotCovered {
            from: from.text.clone(),
            reference: r.text.clone(),
        });
    }
    let changes_tag = || RemapError::ChangesTag {
        from: from.text.clone(),
        to: to.text.clone(),
        reference: r.text.clone(),
    };
    let result = if to.tagged {
        // A tagged target names exactly one ref: only a tagged source with the same tag fits.
        let target: TagRef = to.text.parse().map_err(|_| changes_tag())?;
        if !from.tagged || target.tag() != r.tag() {
            return Err(changes_tag());
        }
        target.text
    } else {
        let rest = if from.tagged {
            ""
        } else {
            r.repository().get(from.text.len()..).unwrap_or_default()
        };
        format!("{}{}:{}", to.text, rest, r.tag())
    };
    result.parse().map_err(|source| RemapError::Invalid {
        reference: r.text.clone(),
        result,
        source,
    })
}

/// The item whose prefix matches `r` and is longest (the most specific rule), or `None`.
pub fn longest_match<'a, T>(
    items: &'a [T],
    prefix: impl Fn(&T) -> &RefPrefix,
    r: &TagRef,
) -> Option<&'a T> {
    items
        .iter()
        .filter(|it| prefix(it).matches(r))
        .fold(None, |best: Option<&T>, it| match best {
            Some(b) if prefix(b).len() >= prefix(it).len() => Some(b),
            _ => Some(it),
        })
}
