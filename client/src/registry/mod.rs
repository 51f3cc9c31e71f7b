//! The OCI distribution API as taglog reads it (OCI distribution spec, "Pulling manifests";
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>; Docker token
//! authentication, <https://distribution.github.io/distribution/spec/auth/token/>).
//!
//! Guarantees: the digest of a manifest is recomputed from the bytes received (never taken
//! from `Docker-Content-Digest`, which must agree when present); manifests above
//! [`MAX_MANIFEST_BYTES`] are refused before they are read in full; HTTPS is used unless the
//! host is listed as insecure (policy `insecure-registry` or `--insecure-registry`), and a
//! redirect never leads to plain HTTP on a host that is not. Authentication follows
//! [`auth`]: credentials belong to one registry host ([`crate::credentials`]) and go only to
//! that host or to the HTTPS token realm it names; token requests ask only for
//! `repository:<path>:pull`.
//!
//! Why not the `oci-client` crate (0.17, read for this decision): it reads manifests and
//! token answers with no size limit, sends the configured credential to whatever `realm` a
//! challenge names (any host, plain HTTP included), would add reqwest 0.13 next to our 0.12
//! and, with rustls, a second large C build (aws-lc via jsonwebtoken). It does recompute
//! manifest digests and stream blobs with their digest checked; we do both here in a few
//! hundred lines on the `reqwest` we already use, with the limits and the realm rule above.
//!
//! Out of scope: pushing (tests use the raw API), platform selection in image indexes (a tag
//! binds the index's digest).

mod auth;
mod blob;
mod challenge;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest as _, Sha256, Sha512};
use taglog_proofs::binding::DigestValue;
use taglog_proofs::refs::TagRef;

use crate::body::{error_chain, excerpt, read_limited, BodyError};
use crate::credentials::{CredentialError, CredentialStore};

pub use auth::{DEFAULT_TOKEN_LIFETIME, MAX_CACHED_AUTH, MAX_TOKEN_LIFETIME};
pub use challenge::{parse_www_authenticate, Challenge};

/// The `Accept` header for manifest requests: OCI and Docker manifests and indexes. Registry
/// 2.8 answers 404 to a request that does not list the OCI manifest type.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Largest manifest read (4 MiB, the limit registries apply to manifests).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest token-endpoint answer read.
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;
/// Largest `WWW-Authenticate` header parsed.
pub const MAX_CHALLENGE_BYTES: usize = 4096;
/// Largest error body read.
pub const MAX_ERROR_BYTES: u64 = 64 * 1024;
/// Per-request timeout for manifests and tokens (blob transfers have none: they stream).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connection timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the next bytes of any answer (blobs stream without an overall limit).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Most redirects followed.
pub const MAX_REDIRECTS: usize = 5;
/// Docker Hub's registry API host (references say `docker.io`).
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Why a registry request failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or answered with a server error.
    #[error("registry {url} is unavailable: {reason}; check the host, port and network, or use --digest / --offline")]
    Unavailable {
        /// The URL requested.
        url: String,
        /// Why.
        reason: String,
    },
    /// 404: no such repository, tag or digest.
    #[error("registry has no manifest for {reference} (HTTP 404 {code}); check the reference")]
    NotFound {
        /// The reference.
        reference: String,
        /// The registry's error code, if any.
        code: String,
    },
    /// 401 and no way to authenticate.
    #[error("registry {host} requires authentication for {reference}: {reason}")]
    AuthRequired {
        /// Registry host.
        host: String,
        /// The reference.
        reference: String,
        /// What is missing or what failed.
        reason: String,
    },
    /// The token realm a challenge names may not receive our request.
    #[error(
        "registry {host} names the token realm {realm:?}, which taglog will not use: {reason}"
    )]
    UnsafeRealm {
        /// Registry host.
        host: String,
        /// The realm.
        realm: String,
        /// Why.
        reason: String,
    },
    /// The credential for the host could not be read.
    #[error("credentials for registry {host}: {source}")]
    Credentials {
        /// Registry host.
        host: String,
        /// The cause.
        #[source]
        source: CredentialError,
    },
    /// The `WWW-Authenticate` header could not be parsed.
    #[error("registry sent an unusable WWW-Authenticate header {header:?}: {reason}")]
    BadChallenge {
        /// The header.
        header: String,
        /// Why.
        reason: String,
    },
    /// The manifest is larger than [`MAX_MANIFEST_BYTES`].
    #[error(
        "manifest for {reference} is larger than {MAX_MANIFEST_BYTES} bytes ({found}); refusing it"
    )]
    TooLarge {
        /// The reference.
        reference: String,
        /// Declared or read size.
        found: u64,
    },
    /// `Docker-Content-Digest` disagrees with the digest of the body.
    #[error("registry claims {header} for {reference} but the manifest it sent hashes to {computed}: the registry or a proxy is corrupting or substituting manifests")]
    DigestHeaderMismatch {
        /// The reference.
        reference: String,
        /// Header value.
        header: String,
        /// Recomputed digest.
        computed: String,
    },
    /// Any other unexpected answer.
    #[error("registry answered {status} for {url}: {detail}")]
    Protocol {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body excerpt or reason.
        detail: String,
    },
}

/// A repository on a registry: the canonical host (`docker.io` for Docker Hub) and path of a
/// parsed reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    host: String,
    path: String,
}

impl Repository {
    /// The repository of a reference.
    pub fn of(r: &TagRef) -> Repository {
        Repository {
            host: r.host().to_string(),
            path: r.path().to_string(),
        }
    }

    /// The registry host as references name it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl std::fmt::Display for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.host, self.path)
    }
}

/// A manifest as received: its exact bytes and their digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// SHA-256 of the manifest bytes.
    pub sha256: DigestValue,
    /// SHA-512 of the manifest bytes (for bindings that use sha512).
    pub sha512: DigestValue,
    /// The `Content-Type` the registry declared.
    pub media_type: String,
    /// Manifest size in bytes.
    pub size: u64,
    /// The bytes.
    pub body: Bytes,
}

impl Resolved {
    /// The digests of `body`.
    pub fn of(body: Bytes, media_type: String) -> Resolved {
        Resolved {
            sha256: DigestValue::Sha256(Sha256::digest(&body).into()),
            sha512: DigestValue::Sha512(Sha512::digest(&body).into()),
            media_type,
            size: body.len() as u64,
            body,
        }
    }

    /// The digest in the same algorithm as `like` (sha256 unless `like` is sha512).
    pub fn digest_like(&self, like: Option<&DigestValue>) -> DigestValue {
        match like {
            Some(DigestValue::Sha512(_)) => self.sha512,
            _ => self.sha256,
        }
    }
}

/// An async registry client for every host (cheap to clone; clones share connections and
/// cached authorizations).
#[derive(Debug, Clone)]
pub struct Registry {
    http: reqwest::Client,
    token_http: reqwest::Client,
    insecure: Arc<Vec<String>>,
    credentials: Arc<CredentialStore>,
    auth_cache: Arc<auth::AuthCache>,
}

impl Registry {
    /// A client; `insecure` lists the `host[:port]`s reached over plain HTTP (registries and
    /// token realms alike).
    ///
    /// # Errors
    /// [`RegistryError::Unavailable`] if the HTTP client cannot be built (TLS setup).
    pub fn new(
        insecure: Vec<String>,
        credentials: CredentialStore,
    ) -> Result<Registry, RegistryError> {
        let insecure = Arc::new(insecure);
        let allowed = Arc::clone(&insecure);
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            let url = attempt.url();
            let plain_ok = url.scheme() == "https"
                || (url.scheme() == "http" && allowed.iter().any(|h| *h == authority(url)));
            if plain_ok {
                attempt.follow()
            } else {
                attempt.error("redirect to plain HTTP on a host not marked insecure")
            }
        });
        let build = |policy| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
                .redirect(policy)
                .user_agent(concat!("taglog/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| RegistryError::Unavailable {
                    url: String::new(),
                    reason: error_chain(&e),
                })
        };
        Ok(Registry {
            http: build(redirect)?,
            token_http: build(reqwest::redirect::Policy::none())?,
            insecure,
            credentials: Arc::new(credentials),
            auth_cache: Arc::new(auth::AuthCache::default()),
        })
    }

    /// Whether `host[:port]` is reached over plain HTTP.
    pub fn is_insecure(&self, host: &str) -> bool {
        self.insecure.iter().any(|h| h == host)
    }

    /// `scheme://host` of the registry API for a reference's host.
    pub fn base_url(&self, host: &str) -> String {
        let api = if host == "docker.io" {
            DOCKER_HUB_API
        } else {
            host
        };
        let scheme = if self.is_insecure(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{api}")
    }

    /// The manifest URL of a tag or digest in a repository.
    pub fn manifest_url(&self, repo: &Repository, reference: &str) -> String {
        format!(
            "{}/v2/{}/manifests/{reference}",
            self.base_url(repo.host()),
            repo.path()
        )
    }

    /// The blob URL of a digest in a repository.
    pub fn blob_url(&self, repo: &Repository, digest: &str) -> String {
        format!(
            "{}/v2/{}/blobs/{digest}",
            self.base_url(repo.host()),
            repo.path()
        )
    }

    /// Resolves a tag to its manifest (bytes and digests).
    ///
    /// # Errors
    /// See [`RegistryError`]; every variant names the step that failed.
    pub async fn resolve(&self, r: &TagRef) -> Result<Resolved, RegistryError> {
        self.manifest(&Repository::of(r), r.tag(), r.as_str()).await
    }

    /// Fetches the manifest `reference` (a tag or a digest) of `repo`; `shown` names it in
    /// errors. For a digest reference the caller compares the digest with [`Resolved`].
    ///
    /// # Errors
    /// See [`RegistryError`].
    pub async fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
        shown: &str,
    ) -> Result<Resolved, RegistryError> {
        let url = self.manifest_url(repo, reference);
        let resp = self
            .send(repo, shown, || {
                self.http
                    .get(&url)
                    .timeout(REQUEST_TIMEOUT)
                    .header(reqwest::header::ACCEPT, ACCEPT)
            })
            .await?;
        read_manifest(shown, &url, resp).await
    }

    /// Sends the request `make` builds, answering one 401 with the authorization the
    /// challenge asks for (see [`auth`]); a cached authorization for the repository is sent
    /// up front.
    ///
    /// # Errors
    /// [`RegistryError::Unavailable`] when nothing answers; the authentication errors of
    /// [`auth`]; [`RegistryError::AuthRequired`] when the registry refuses the credential.
    pub async fn send(
        &self,
        repo: &Repository,
        shown: &str,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let cached = self.auth_cache.get(repo);
        let first = self.send_once(&make, cached.as_deref()).await?;
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        self.auth_cache.forget(repo);
        let authorization = self.authorize(repo, shown, first.headers()).await?;
        let second = self.send_once(&make, Some(&authorization.value)).await?;
        if second.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(RegistryError::AuthRequired {
                host: repo.host().to_string(),
                reference: shown.to_string(),
                reason: format!(
                    "the registry refused the {} (401 after authenticating)",
                    authorization.what
                ),
            });
        }
        self.auth_cache.put(repo, authorization);
        Ok(second)
    }

    async fn send_once(
        &self,
        make: &impl Fn() -> reqwest::RequestBuilder,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut req = make();
        if let Some(a) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        let req = req.build().map_err(|e| RegistryError::Unavailable {
            url: String::new(),
            reason: error_chain(&e),
        })?;
        let url = req.url().to_string();
        self.http
            .execute(req)
            .await
            .map_err(|e| RegistryError::Unavailable {
                url,
                reason: error_chain(&e),
            })
    }
}

/// `host[:port]` of a URL, as `insecure` lists it.
fn authority(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// Reads a manifest answer: status, size limit, digests, `Docker-Content-Digest` check.
async fn read_manifest(
    reference: &str,
    url: &str,
    resp: reqwest::Response,
) -> Result<Resolved, RegistryError> {
    let status = resp.status().as_u16();
    if status == 404 {
        let body = read_limited(resp, MAX_ERROR_BYTES)
            .await
            .unwrap_or_default();
        return Err(RegistryError::NotFound {
            reference: reference.to_string(),
            code: error_code(&body),
        });
    }
    if status >= 500 || status == 429 {
        return Err(RegistryError::Unavailable {
            url: url.to_string(),
            reason: format!("HTTP {status}"),
        });
    }
    if status != 200 {
        let body = read_limited(resp, MAX_ERROR_BYTES)
            .await
            .unwrap_or_default();
        return Err(RegistryError::Protocol {
            url: url.to_string(),
            status,
            detail: excerpt(&body),
        });
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let header_digest = header("docker-content-digest");
    let media_type = header("content-type").unwrap_or_default();
    let body = read_limited(resp, MAX_MANIFEST_BYTES)
        .await
        .map_err(|e| match e {
            BodyError::TooLong { .. } => RegistryError::TooLarge {
                reference: reference.to_string(),
                found: MAX_MANIFEST_BYTES.saturating_add(1),
            },
            BodyError::Read(reason) => RegistryError::Unavailable {
                url: url.to_string(),
                reason,
            },
        })?;
    let resolved = Resolved::of(body, media_type);
    if let Some(h) = header_digest {
        check_header_digest(reference, &h, &resolved)?;
    }
    Ok(resolved)
}

/// The first `errors[].code` of an OCI error body, or "".
pub fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/errors/0/code")
                .and_then(|c| c.as_str())
                .map(|c| c.chars().take(64).collect())
        })
        .unwrap_or_default()
}

/// Compares `Docker-Content-Digest` with the recomputed digests.
///
/// # Errors
/// [`RegistryError::DigestHeaderMismatch`] if it names another digest (or is unparsable).
pub fn check_header_digest(
    reference: &str,
    header: &str,
    resolved: &Resolved,
) -> Result<(), RegistryError> {
    let claimed: Result<DigestValue, _> = header.trim().parse();
    let ok = match claimed {
        Ok(d @ DigestValue::Sha256(_)) => d == resolved.sha256,
        Ok(d @ DigestValue::Sha512(_)) => d == resolved.sha512,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(RegistryError::DigestHeaderMismatch {
            reference: reference.to_string(),
            header: header.chars().take(140).collect(),
            computed: resolved.sha256.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_schemes() {
        let reg =
            Registry::new(vec!["localhost:5000".into()], CredentialStore::anonymous()).unwrap();
        let url = |r: &str| {
            let r: TagRef = r.parse().unwrap();
            reg.manifest_url(&Repository::of(&r), r.tag())
        };
        assert_eq!(
            url("localhost:5000/acme/app:1"),
            "http://localhost:5000/v2/acme/app/manifests/1"
        );
        assert_eq!(
            url("docker.io/library/nginx:1.25"),
            "https://registry-1.docker.io/v2/library/nginx/manifests/1.25"
        );
        assert_eq!(
            url("registry.example:5000/a/b:c"),
            "https://registry.example:5000/v2/a/b/manifests/c"
        );
    }

    #[test]
    fn header_digest_must_match_body() {
        let resolved = Resolved::of(Bytes::from_static(b"{}"), String::new());
        let good = resolved.sha256.to_string();
        assert!(check_header_digest("r", &good, &resolved).is_ok());
        assert!(check_header_digest("r", &resolved.sha512.to_string(), &resolved).is_ok());
        let bad = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            check_header_digest("r", &bad, &resolved),
            Err(RegistryError::DigestHeaderMismatch { .. })
        ));
        assert!(check_header_digest("r", "md5:abc", &resolved).is_err());
        assert_eq!(
            resolved.digest_like(Some(&resolved.sha512)),
            resolved.sha512
        );
        assert_eq!(resolved.digest_like(None), resolved.sha256);
    }
}
