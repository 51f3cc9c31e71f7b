//! The mirror's request targets (OCI distribution spec, "Endpoints"): `/v2/`,
//! `/v2/<name>/manifests/<tag or digest>` and `/v2/<name>/blobs/<digest>`, with the upstream
//! registry named by containerd's `?ns=<host>` or, without it, the mirror's default upstream.
//!
//! Guarantees: paths above [`MAX_PATH_BYTES`] and queries above [`MAX_QUERY_BYTES`] are refused
//! before parsing; the name is checked by building the canonical reference
//! (`taglog_proofs::refs::TagRef`), so it follows the OCI grammar; digests are `sha256` or
//! `sha512` in canonical hex; the upstream must be one the mirror was started with (the
//! mirror is not an open proxy: a request cannot name a host). Pure: no I/O.

use taglog_proofs::binding::DigestValue;
use taglog_proofs::refs::TagRef;

/// Longest request path accepted.
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest query string accepted.
pub const MAX_QUERY_BYTES: usize = 1024;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/v2/`: the API version check.
    Base,
    /// A manifest by tag: `reference` is the canonical pulled reference.
    ManifestByTag {
        /// The pulled reference (`<upstream>/<name>:<tag>`).
        reference: TagRef,
    },
    /// A manifest by digest in a repository (`repository` carries host and path).
    ManifestByDigest {
        /// A reference naming the repository (its tag is irrelevant).
        repository: TagRef,
        /// The digest asked for.
        digest: DigestValue,
    },
    /// A blob by digest.
    Blob {
        /// A reference naming the repository (its tag is irrelevant).
        repository: TagRef,
        /// The digest asked for.
        digest: DigestValue,
    },
}

/// Why a request target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Not an endpoint the mirror serves.
    #[error("{path:?} is not an endpoint this read-only mirror serves (GET or HEAD of /v2/, /v2/<name>/manifests/<reference>, /v2/<name>/blobs/<digest>)")]
    Unsupported {
        /// The path (truncated).
        path: String,
    },
    /// The path or query is too long.
    #[error("request target longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// The repository name (or tag) does not follow the OCI grammar.
    #[error("{name:?} is not a repository name and tag on {upstream}: {reason}")]
    Name {
        /// The upstream.
        upstream: String,
        /// The name (truncated).
        name: String,
        /// Why.
        reason: String,
    },
    /// Not a sha256 or sha512 digest.
    #[error("{digest:?} is not sha256:<64 hex> or sha512:<128 hex>")]
    Digest {
        /// The digest (truncated).
        digest: String,
    },
    /// `ns` names a registry the mirror does not proxy.
    #[error("this mirror proxies {allowed}, not {upstream:?}: start it with --upstream {upstream} to proxy that registry")]
    Upstream {
        /// The host asked for (truncated).
        upstream: String,
        /// The upstreams configured.
        allowed: String,
    },
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// The upstream for a request: `ns=<host>` from the query (Docker Hub's forms folded to
/// `docker.io`), else the first of `allowed`.
///
/// # Errors
/// [`RouteError::TooLong`], or [`RouteError::Upstream`] for a host not in `allowed`.
pub fn upstream_of<'a>(query: Option<&str>, allowed: &'a [String]) -> Result<&'a str, RouteError> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY_BYTES {
        return Err(RouteError::TooLong {
            limit: MAX_QUERY_BYTES,
        });
    }
    let ns = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "ns")
        .map(|(_, v)| percent_decode(v).to_ascii_lowercase());
    let refuse = |upstream: &str| RouteError::Upstream {
        upstream: clip(upstream),
        allowed: allowed.join(", "),
    };
    match ns {
        None => allowed
            .first()
            .map(String::as_str)
            .ok_or_else(|| refuse("")),
        Some(ns) => {
            let ns = match ns.as_str() {
                "index.docker.io" | "registry-1.docker.io" => "docker.io",
                other => other,
            };
            allowed
                .iter()
                .find(|a| *a == ns)
                .map(String::as_str)
                .ok_or_else(|| refuse(ns))
        }
    }
}

/// Decodes `%XX` escapes (Go's `url.Values.Encode` writes `ns=host%3Aport`); anything else
/// is kept as it is, and the result is only ever compared with the configured upstreams.
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i.saturating_add(1)..i.saturating_add(3))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(x)) => {
                out.push(x);
                i = i.saturating_add(3);
            }
            _ => {
                out.push(c);
                i = i.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a request path against `upstream`.
///
/// # Errors
/// A [`RouteError`] saying what is wrong.
pub fn parse_target(path: &str, upstream: &str) -> Result<Target, RouteError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(RouteError::TooLong {
            limit: MAX_PATH_BYTES,
        });
    }
    let unsupported = || RouteError::Unsupported { path: clip(path) };
    if path == "/v2/" || path == "/v2" {
        return Ok(Target::Base);
    }
    let rest = path.strip_prefix("/v2/").ok_or_else(unsupported)?;
    let (name, kind, last) = match (rest.rsplit_once("/manifests/"), rest.rsplit_once("/blobs/")) {
        (Some((n, r)), Some((bn, _))) if n.len() > bn.len() => (n, "manifests", r),
        (_, Some((n, r))) => (n, "blobs", r),
        (Some((n, r)), None) => (n, "manifests", r),
        (None, None) => return Err(unsupported()),
    };
    if name.is_empty() || last.is_empty() || last.contains('/') {
        return Err(unsupported());
    }
    let repo = |tag: &str| {
        TagRef::canonicalize(&format!("{upstream}/{name}:{tag}")).map_err(|e| RouteError::Name {
            upstream: upstream.to_string(),
            name: clip(&format!("{name}:{tag}")),
            reason: e.to_string(),
        })
    };
    // A docker.io name of one component would be expanded to library/...: refuse it, the
    // canonical name must be what the request said.
    let check_same = |r: &TagRef| {
        if r.path() == name {
            Ok(())
        } else {
            Err(RouteError::Name {
                upstream: upstream.to_string(),
                name: clip(name),
                reason: format!("its canonical name is {}", r.path()),
            })
        }
    };
    let digest = |d: &str| {
        d.parse::<DigestValue>()
            .ok()
            .filter(|v| !v.is_withdrawn() && v.to_string() == d)
            .ok_or_else(|| RouteError::Digest { digest: clip(d) })
    };
    let is_digest = last.contains(':');
    let target = match (kind, is_digest) {
        ("manifests", false) => {
            let reference = repo(last)?;
            check_same(&reference)?;
            Target::ManifestByTag { reference }
        }
        ("manifests", true) => {
            let repository = repo("latest")?;
            check_same(&repository)?;
            Target::ManifestByDigest {
                repository,
                digest: digest(last)?,
            }
        }
        (_, true) => {
            let repository = repo("latest")?;
            check_same(&repository)?;
            Target::Blob {
                repository,
                digest: digest(last)?,
            }
        }
        (_, false) => return Err(RouteError::Digest { digest: clip(last) }),
    };
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "registry.example:5000";

    fn d() -> String {
        format!("sha256:{}", "ab".repeat(32))
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("/v2/", H), Ok(Target::Base));
        let Ok(Target::ManifestByTag { reference }) = parse_target("/v2/acme/app/manifests/1.5", H)
        else {
            panic!()
        };
        assert_eq!(reference.as_str(), "registry.example:5000/acme/app:1.5");
        assert!(matches!(
            parse_target(&format!("/v2/acme/app/manifests/{}", d()), H),
            Ok(Target::ManifestByDigest { .. })
        ));
        let Ok(Target::Blob { repository, digest }) =
            parse_target(&format!("/v2/acme/manifests/blobs/{}", d()), H)
        else {
            panic!()
        };
        assert_eq!(repository.path(), "acme/manifests");
        assert_eq!(digest.to_string(), d());
        let Ok(Target::ManifestByTag { reference }) =
            parse_target("/v2/library/nginx/manifests/latest", "docker.io")
        else {
            panic!()
        };
        assert_eq!(reference.as_str(), "docker.io/library/nginx:latest");
    }

    #[test]
    fn refusals() {
        let long = format!("/v2/{}/manifests/x", "a/".repeat(600));
        for bad in [
            "/",
            "/v1/x",
            "/v2/_catalog",
            "/v2/acme/app/tags/list",
            "/v2/acme/app/manifests/",
            "/v2/acme/app/manifests/a/b",
            "/v2//manifests/x",
            "/v2/Acme/app/manifests/1",
            "/v2/acme/app/manifests/-bad",
            "/v2/acme/app/blobs/notadigest",
            "/v2/acme/app/blobs/sha256:AB",
            "/v2/acme/app/blobs/md5:00",
            long.as_str(),
        ] {
            assert!(parse_target(bad, H).is_err(), "{bad}");
        }
        assert!(
            parse_target(&format!("/v2/acme/app/blobs/sha256:{}", "AB".repeat(32)), H).is_err()
        );
        // Docker Hub one-component names are not silently expanded.
        assert!(parse_target("/v2/nginx/manifests/latest", "docker.io").is_err());
    }

    #[test]
    fn upstreams_are_the_configured_ones() {
        let allowed = vec!["registry.example:5000".to_string(), "docker.io".to_string()];
        assert_eq!(upstream_of(None, &allowed), Ok("registry.example:5000"));
        assert_eq!(upstream_of(Some("ns=docker.io"), &allowed), Ok("docker.io"));
        assert_eq!(
            upstream_of(Some("x=1&ns=registry-1.docker.io"), &allowed),
            Ok("docker.io")
        );
        assert_eq!(
            upstream_of(Some("ns=registry.example%3A5000"), &allowed),
            Ok("registry.example:5000")
        );
        assert!(upstream_of(Some("ns=169.254.169.254"), &allowed).is_err());
        assert!(upstream_of(Some("ns=%zz%"), &allowed).is_err());
        assert!(upstream_of(Some("ns=registry.example:5000.evil"), &allowed).is_err());
        assert!(upstream_of(None, &[]).is_err());
        assert!(upstream_of(Some(&"a".repeat(2000)), &allowed).is_err());
    }
}
