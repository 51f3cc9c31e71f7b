//! Canonical tag references and reference prefixes (DESIGN §3.3).
//!
//! A canonical reference is `host[:port]/path:tag`, at most [`MAX_NAME_BYTES`] before `:tag`:
//! - the host is a lowercase DNS name (LDH labels of at most [`MAX_LABEL_BYTES`], at most
//!   [`MAX_HOST_BYTES`], no trailing dot) or a dotted IPv4 address (four decimal octets 0–255
//!   without leading zeros); a host made only of digits and dots is always read as IPv4, and a
//!   DNS name whose last label is all digits is rejected (RFC 3696 §2: no all-numeric TLD), so
//!   no resolver can read a canonical host as an address it does not spell;
//! - the port is decimal 1–65535 without leading zeros;
//! - the path follows the OCI distribution grammar (lowercase components separated by `/`);
//! - the tag is everything after the first `:` that follows the last `/`, and matches
//!   `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`;
//! - Docker Hub is `docker.io/ns/x` with exactly two path components.
//!
//! [`TagRef::from_str`] is the strict parser for servers and monitors: it accepts only text
//! that is byte-identical to its canonical form. [`TagRef::canonicalize`] is the client's
//! parser for what a user typed: it folds the host to lowercase (ASCII only), expands Docker
//! Hub short names and aliases, and adds `:latest`. Uppercase in the path is rejected, never
//! folded. [`RefPrefix`] is the whole-component prefix used by `publisher`, `remap`, the server
//! allowlist and watch lists.
//!
//! Out of scope: `@digest` references (rejected, they are not tag references), IPv6 literals
//! (rejected), IDNA processing (hosts must already be A-labels), and registry resolution.

use std::fmt;
use std::str::FromStr;

use crate::hash::{sha256, Hash};
use crate::num::parse_decimal;

mod prefix;

pub use prefix::{longest_match, remap, RefPrefix, RemapError};

/// Longest `host[:port]/path` of a reference (the part before `:tag`), in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 128;
/// Longest canonical reference: name, `:` and tag.
pub const MAX_REF_BYTES: usize = MAX_NAME_BYTES + 1 + MAX_TAG_BYTES;
/// Longest host name (without port), in bytes.
pub const MAX_HOST_BYTES: usize = 253;
/// Longest DNS label, in bytes.
pub const MAX_LABEL_BYTES: usize = 63;
/// Longest user input [`TagRef::canonicalize`] looks at. Rewriting an alias host removes at
/// most 11 bytes, so longer input can never have a canonical form of [`MAX_REF_BYTES`].
pub const MAX_INPUT_BYTES: usize = 512;
/// The canonical Docker Hub host.
pub const DOCKER_HUB_HOST: &str = "docker.io";
/// Host names that the client rewrites to [`DOCKER_HUB_HOST`] (and that no prefix may use).
pub const DOCKER_HUB_ALIASES: [&str; 2] = ["index.docker.io", "registry-1.docker.io"];
/// The Docker Hub namespace of one-component names.
pub const DOCKER_HUB_LIBRARY: &str = "library";
/// The tag a reference without one gets.
pub const DEFAULT_TAG: &str = "latest";

/// Why a reference or prefix was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// Nothing was given.
    #[error("empty reference: give host/path:tag")]
    Empty,
    /// The input is longer than any valid reference could be.
    #[error("reference is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The limit that applied.
        max: usize,
    },
    /// An `@digest` reference was given where a tag reference is needed.
    #[error("{0:?} has an @digest: it is not a tag reference; name the tag instead")]
    Digest(String),
    /// The tag does not match `[A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}`.
    #[error("bad tag {0:?}: a tag is 1-128 characters of A-Z a-z 0-9 _ . - and does not start with . or -")]
    BadTag(String),
    /// The port is not a decimal 1–65535 without leading zeros.
    #[error("bad port {0:?}: a port is decimal 1-65535 without leading zeros")]
    BadPort(String),
    /// The host is not a lowercase DNS name (or, for user input, not one after folding).
    #[error("bad host {host:?}: {why}")]
    BadHost {
        /// The offending host.
        host: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A host of only digits and dots that is not a dotted IPv4 address.
    #[error("bad host {0:?}: digits and dots but not a dotted IPv4 address (four decimal octets 0-255 without leading zeros)")]
    NotIpv4(String),
    /// A DNS label longer than [`MAX_LABEL_BYTES`].
    #[error("bad host {0:?}: a label is longer than 63 bytes")]
    LabelTooLong(String),
    /// A host longer than [`MAX_HOST_BYTES`].
    #[error("bad host: {0} bytes, more than the 253 allowed")]
    HostTooLong(usize),
    /// No path after the host.
    #[error("empty path: give host/path:tag")]
    EmptyPath,
    /// Two slashes in a row, or a leading or trailing slash.
    #[error("empty path component in {0:?}: remove the extra '/'")]
    EmptyComponent(String),
    /// Uppercase in a path component (rejected, never folded).
    #[error("uppercase in the path component {0:?}: repository paths are lowercase (not folded)")]
    UppercasePath(String),
    /// A path component outside the OCI distribution grammar.
    #[error("bad path component {0:?}: use a-z 0-9 separated by single '.', '_', '__' or dashes")]
    BadComponent(String),
    /// A Docker Hub name that does not have exactly two path components.
    #[error("Docker Hub path {0:?} has too many components: a ref has exactly two (namespace/repository), a prefix at most two")]
    DockerHubComponents(String),
    /// The name before `:tag` is longer than [`MAX_NAME_BYTES`].
    #[error("name is {0} bytes, more than the 255 allowed before :tag")]
    NameTooLong(usize),
    /// Valid as user input, but not byte-identical to its canonical form.
    #[error("reference is not canonical; its canonical form is {canonical:?}")]
    NotCanonical {
        /// What the client would have sent.
        canonical: String,
    },
    /// A prefix whose first component is not a host (it would be a Docker Hub path).
    #[error(
        "prefix {0:?} does not start with a host: write host[:port]/path (e.g. docker.io/{0})"
    )]
    PrefixWithoutHost(String),
    /// A prefix on a Docker Hub alias host.
    #[error("prefix host {0:?} is a Docker Hub alias: write docker.io instead")]
    DockerHubAlias(String),
    /// A prefix with a tag that is not a canonical reference.
    #[error("prefix with a tag must be a canonical reference: {0}")]
    TaggedPrefix(Box<RefError>),
}

/// A canonical tag reference `host[:port]/path:tag`.
///
/// Only canonical values exist: built by [`TagRef::from_str`] (strict) or
/// [`TagRef::canonicalize`] (client input).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagRef {
    text: String,
    /// Bytes of `host[:port]`.
    host_len: usize,
    /// Bytes of `host[:port]/path`.
    name_len: usize,
}

/// A name split into its parts, before validation.
struct Split<'a> {
    /// `host[:port]` when the first component is a host.
    host: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
}

/// Splits at the first `:` after the last `/`, then the host off the name (Docker's rule).
fn split(input: &str) -> Split<'_> {
    let after_slash = input.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match input.get(after_slash..).and_then(|t| t.find(':')) {
        Some(i) => (
            input.get(..after_slash + i),
            input.get(after_slash + i + 1..),
        ),
        None => (Some(input), None),
    };
    let name = name.unwrap_or(input);
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => Split {
            host: Some(first),
            path: rest,
            tag,
        },
        _ => Split {
            host: None,
            path: name,
            tag,
        },
    }
}

impl TagRef {
    /// Canonicalises what a user typed: folds the host to lowercase (ASCII only), expands
    /// Docker Hub names (`nginx`, `ns/x`, `docker.io/x`, `index.docker.io/…`,
    /// `registry-1.docker.io/…`) to `docker.io/ns/x`, and adds `:latest` when no tag is given.
    ///
    /// # Errors
    /// [`RefError`] for anything that has no canonical form: `@digest`, a bad host, port,
    /// path or tag, a Docker Hub path without exactly two components, or a name longer than
    /// [`MAX_NAME_BYTES`].
    pub fn canonicalize(input: &str) -> Result<TagRef, RefError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(RefError::TooLong {
                len: input.len(),
                max: MAX_INPUT_BYTES,
            });
        }
        if input.is_empty() {
            return Err(RefError::Empty);
        }
        if input.contains('@') {
            return Err(RefError::Digest(input.to_owned()));
        }
        let parts = split(input);
        let (host, hub) = match parts.host {
            Some(h) => {
                let folded = h.to_ascii_lowercase();
                let (hostname, port) = check_host_port(&folded)?;
                let hub = port.is_none()
                    && (hostname == DOCKER_HUB_HOST || DOCKER_HUB_ALIASES.contains(&hostname));
                let host = if hub {
                    DOCKER_HUB_HOST.to_owned()
                } else {
                    folded
                };
                (host, hub)
            }
            None => (DOCKER_HUB_HOST.to_owned(), true),
        };
        let components = check_path(parts.path)?;
        // Docker Hub: one component means the `library` namespace; two are kept; more fail.
        let add_library = hub && components == 1;
        if hub && components > 2 {
            return Err(RefError::DockerHubComponents(parts.path.to_owned()));
        }
        let tag = parts.tag.unwrap_or(DEFAULT_TAG);
        check_tag(tag)?;
        let mut text = String::with_capacity(host.len() + parts.path.len() + tag.len() + 10);
        text.push_str(&host);
        text.push('/');
        if add_library {
            text.push_str(DOCKER_HUB_LIBRARY);
            text.push('/');
        }
        text.push_str(parts.path);
        let name_len = text.len();
        if name_len > MAX_NAME_BYTES {
            return Err(RefError::NameTooLong(name_len));
        }
        text.push(':');
        text.push_str(tag);
        Ok(TagRef {
            text,
            host_len: host.len(),
            name_len,
        })
    }

    /// The whole canonical reference.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The registry: `host[:port]`.
    pub fn host(&self) -> &str {
        self.text.get(..self.host_len).unwrap_or_default()
    }

    /// The port, if the reference names one.
    pub fn port(&self) -> Option<u16> {
        let (_, port) = self.host().split_once(':')?;
        port.parse().ok()
    }

    /// The repository path within the registry (`acme/app`, or `library/nginx` on Docker Hub).
    pub fn path(&self) -> &str {
        self.text
            .get(self.host_len + 1..self.name_len)
            .unwrap_or_default()
    }

    /// The repository: `host[:port]/path`, the reference without `:tag`.
    pub fn repository(&self) -> &str {
        self.text.get(..self.name_len).unwrap_or_default()
    }

    /// The tag (case kept).
    pub fn tag(&self) -> &str {
        self.text.get(self.name_len + 1..).unwrap_or_default()
    }

    /// The tag map key: SHA-256 of the reference bytes (DESIGN §3.6).
    pub fn key(&self) -> Hash {
        sha256(self.text.as_bytes())
    }

    /// Whether this is a Docker Hub reference (`docker.io` without a port).
    pub fn is_docker_hub(&self) -> bool {
        self.host() == DOCKER_HUB_HOST
    }
}

impl FromStr for TagRef {
    type Err = RefError;

    /// Strict parse for servers and monitors: the text must already be canonical.
    ///
    /// # Errors
    /// [`RefError::NotCanonical`] (with the canonical form) for valid but non-canonical
    /// input such as `nginx:1` or an uppercase host; any other [`RefError`] for invalid input.
    fn from_str(s: &str) -> Result<TagRef, RefError> {
        if s.len() > MAX_REF_BYTES {
            return Err(RefError::TooLong {
                len: s.len(),
                max: MAX_REF_BYTES,
            });
        }
        let r = TagRef::canonicalize(s)?;
        if r.text != s {
            return Err(RefError::NotCanonical { canonical: r.text });
        }
        Ok(r)
    }
}

impl fmt::Display for TagRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for TagRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagRef({:?})", self.text)
    }
}

impl serde::Serialize for TagRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for TagRef {
    /// Strict: only canonical references deserialize.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TagRef, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks `hostname[:port]` (already lowercase) and returns the hostname and port text.
fn check_host_port(host: &str) -> Result<(&str, Option<&str>), RefError> {
    let (hostname, port) = match host.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host, None),
    };
    check_hostname(hostname)?;
    if let Some(p) = port {
        match parse_decimal(p) {
            Some(n) if (1..=u64::from(u16::MAX)).contains(&n) => {}
            _ => return Err(RefError::BadPort(p.to_owned())),
        }
    }
    Ok((hostname, port))
}

/// Checks a lowercase DNS name or dotted IPv4 address.
fn check_hostname(host: &str) -> Result<(), RefError> {
    let bad = |why| RefError::BadHost {
        host: host.to_owned(),
        why,
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    if host.starts_with('[') || host.contains(']') {
        return Err(bad("IPv6 literals are not supported"));
    }
    if host.len() > MAX_HOST_BYTES {
        return Err(RefError::HostTooLong(host.len()));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return check_ipv4(host);
    }
    let mut last = "";
    for label in host.split('.') {
        check_label(host, label)?;
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "the last label is all digits (not an IPv4 address, not a DNS name)",
        ));
    }
    Ok(())
}

fn check_label(host: &str, label: &str) -> Result<(), RefError> {
    let bad = |why| RefError::BadHost {
        host: host.to_owned(),
        why,
    };
    if label.is_empty() {
        return Err(bad("empty label (a leading, trailing or double dot)"));
    }
    if label.len() > MAX_LABEL_BYTES {
        return Err(RefError::LabelTooLong(host.to_owned()));
    }
    if label.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad("uppercase: canonical hosts are lowercase"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad(
            "a label may hold only a-z, 0-9 and '-' (use the A-label form)",
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(bad("a label may not start or end with '-'"));
    }
    Ok(())
}

fn check_ipv4(host: &str) -> Result<(), RefError> {
    let octets: Vec<&str> = host.split('.').collect();
    let ok = octets.len() == 4
        && octets
            .iter()
            .all(|o| parse_decimal(o).is_some_and(|n| n <= 255));
    if ok {
        Ok(())
    } else {
        Err(RefError::NotIpv4(host.to_owned()))
    }
}

/// Checks a path of OCI components and returns the number of components.
fn check_path(path: &str) -> Result<usize, RefError> {
    if path.is_empty() {
        return Err(RefError::EmptyPath);
    }
    let mut n = 0;
    for c in path.split('/') {
        check_component(path, c)?;
        n += 1;
    }
    Ok(n)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_component(path: &str, c: &str) -> Result<(), RefError> {
    if c.is_empty() {
        return Err(RefError::EmptyComponent(path.to_owned()));
    }
    if c.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(RefError::UppercasePath(c.to_owned()));
    }
    let bad = || RefError::BadComponent(c.to_owned());
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    // Every maximal run of separators must be ".", "_", "__" or "-+", between alphanumerics.
    let mut i = 0;
    let mut prev_alnum = false;
    while let Some(&b) = bytes.get(i) {
        if alnum(b) {
            prev_alnum = true;
            i += 1;
            continue;
        }
        let start = i;
        while bytes.get(i).is_some_and(|&x| !alnum(x)) {
            i += 1;
        }
        let sep = c.get(start..i).ok_or_else(bad)?;
        let sep_ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !sep_ok || !prev_alnum || i >= bytes.len() {
            return Err(bad());
        }
        prev_alnum = false;
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`
fn check_tag(tag: &str) -> Result<(), RefError> {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let ok = tag.len() <= MAX_TAG_BYTES
        && tag.as_bytes().first().is_some_and(word)
        && tag.bytes().all(|b| word(&b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(RefError::BadTag(tag.to_owned()))
    }
}
