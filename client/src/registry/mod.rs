//! Tag resolution at an OCI registry (OCI distribution spec, "Pulling manifests";
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>; Docker token
//! authentication, <https://distribution.github.io/distribution/spec/auth/token/>).
//!
//! Guarantees: the digest returned is recomputed from the manifest bytes received (never taken
//! from `Docker-Content-Digest`, which must agree when present); manifests above
//! [`MAX_MANIFEST_BYTES`] are refused before they are read in full; HTTPS is used unless the
//! host is listed as insecure (policy `insecure-registry` or `--insecure-registry`); a `401`
//! is answered once, with an anonymous or basic-authenticated bearer token from the realm in
//! `WWW-Authenticate`, or with basic credentials for a `Basic` challenge. Credentials are never
//! sent over plain HTTP to a host that is not marked insecure.
//!
//! Out of scope: pushing (tests do that with the raw API), pulling blobs, image indexes'
//! platform selection (the tag's digest is the index's digest, which is what a tag binds),
//! credential helpers and `~/.docker/config.json`.
//!
//! Why not the `oci-client` crate: it is async (the CLI is synchronous), brings ~60 crates,
//! and hides the manifest bytes behind its own types; we need exactly one GET, the exact
//! `Accept` list registry 2.8 requires, a size limit before reading, the digest recomputed from
//! raw bytes and errors that say which step failed. That is ~300 lines on top of `reqwest`.

use std::io::Read as _;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest as _, Sha256, Sha512};
use taglog_proofs::binding::DigestValue;
use taglog_proofs::refs::TagRef;

mod challenge;

pub use challenge::{parse_www_authenticate, Challenge};

/// The `Accept` header for manifest requests. Registry 2.8 answers 404 to a request that does
/// not list the OCI manifest type.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Largest manifest read (4 MiB, the limit registries apply to manifests).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest token-endpoint answer read.
pub const MAX_TOKEN_BYTES: u64 = 64 * 1024;
/// Largest `WWW-Authenticate` header parsed.
pub const MAX_CHALLENGE_BYTES: usize = 4096;
/// Per-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Docker Hub's registry API host (references say `docker.io`).
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Why a tag could not be resolved.
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
    /// 404: no such repository or tag.
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

impl RegistryError {
    /// Exit code class: 2 for a wrong reference or missing credentials (the user must change
    /// the command), 3 for a registry that is down or misbehaving.
    pub fn exit_code(&self) -> u8 {
        match self {
            RegistryError::NotFound { .. } | RegistryError::AuthRequired { .. } => 2,
            _ => 3,
        }
    }
}

/// Registry credentials (basic auth, also used at a bearer token realm).
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

impl Credentials {
    fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A resolved manifest: the digests of the exact bytes received.
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
}

impl Resolved {
    /// The digest in the same algorithm as `like` (sha256 unless `like` is sha512).
    pub fn digest_like(&self, like: Option<&DigestValue>) -> DigestValue {
        match like {
            Some(DigestValue::Sha512(_)) => self.sha512,
            _ => self.sha256,
        }
    }
}

/// A synchronous registry client.
#[derive(Debug, Clone)]
pub struct Registry {
    http: reqwest::blocking::Client,
    insecure: Vec<String>,
    credentials: Option<Credentials>,
}

impl Registry {
    /// A client; `insecure` lists `host[:port]`s reached over plain HTTP.
    ///
    /// # Errors
    /// [`RegistryError::Unavailable`] if the HTTP client cannot be built (TLS setup).
    pub fn new(
        insecure: Vec<String>,
        credentials: Option<Credentials>,
    ) -> Result<Registry, RegistryError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("taglog/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Unavailable {
                url: String::new(),
                reason: e.to_string(),
            })?;
        Ok(Registry {
            http,
            insecure,
            credentials,
        })
    }

    /// Whether a host is reached over plain HTTP.
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

    /// The manifest URL of a tag.
    pub fn manifest_url(&self, r: &TagRef) -> String {
        format!(
            "{}/v2/{}/manifests/{}",
            self.base_url(r.host()),
            r.path(),
            r.tag()
        )
    }

    /// Resolves a tag to the digests of its manifest.
    ///
    /// # Errors
    /// See [`RegistryError`]; every variant names the step that failed.
    pub fn resolve(&self, r: &TagRef) -> Result<Resolved, RegistryError> {
        let url = self.manifest_url(r);
        let mut resp = self.get_manifest(&url, None)?;
        if resp.status().as_u16() == 401 {
            let auth = self.authorize(r, &resp)?;
            resp = self.get_manifest(&url, Some(&auth))?;
            if resp.status().as_u16() == 401 {
                return Err(RegistryError::AuthRequired {
                    host: r.host().to_string(),
                    reference: r.as_str().to_string(),
                    reason:
                        "the registry refused the credentials or token (401 after authenticating)"
                            .into(),
                });
            }
        }
        self.read_manifest(r, &url, resp)
    }

    fn get_manifest(
        &self,
        url: &str,
        auth: Option<&str>,
    ) -> Result<reqwest::blocking::Response, RegistryError> {
        let mut req = self.http.get(url).header(reqwest::header::ACCEPT, ACCEPT);
        if let Some(a) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }
        req.send().map_err(|e| RegistryError::Unavailable {
            url: url.to_string(),
            reason: error_chain(&e),
        })
    }

    /// The `Authorization` value answering a 401.
    fn authorize(
        &self,
        r: &TagRef,
        resp: &reqwest::blocking::Response,
    ) -> Result<String, RegistryError> {
        let auth_required = |reason: String| RegistryError::AuthRequired {
            host: r.host().to_string(),
            reference: r.as_str().to_string(),
            reason,
        };
        let header = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                auth_required("401 without a WWW-Authenticate header (no token endpoint)".into())
            })?;
        let challenges = parse_www_authenticate(header)?;
        for ch in &challenges {
            match ch {
                Challenge::Bearer {
                    realm,
                    service,
                    scope,
                } => {
                    let scope = scope
                        .clone()
                        .unwrap_or_else(|| format!("repository:{}:pull", r.path()));
                    let token = self.fetch_token(r, realm, service.as_deref(), &scope)?;
                    return Ok(format!("Bearer {token}"));
                }
                Challenge::Basic => {
                    if let Some(c) = &self.credentials {
                        return Ok(c.basic_header());
                    }
                }
            }
        }
        Err(auth_required(
            "the registry asks for basic authentication: set TAGLOG_REGISTRY_USER and TAGLOG_REGISTRY_PASSWORD".into(),
        ))
    }

    fn fetch_token(
        &self,
        r: &TagRef,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String, RegistryError> {
        let auth_required = |reason: String| RegistryError::AuthRequired {
            host: r.host().to_string(),
            reference: r.as_str().to_string(),
            reason,
        };
        let allowed = realm.starts_with("https://")
            || (realm.starts_with("http://") && self.is_insecure(r.host()));
        if !allowed {
            return Err(auth_required(format!(
                "token realm {realm:?} is not an https URL (plain http is allowed only for registries marked insecure)"
            )));
        }
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(s) = service {
            query.push(("service", s));
        }
        let mut req = self.http.get(realm).query(&query);
        if let Some(c) = &self.credentials {
            req = req.header(reqwest::header::AUTHORIZATION, c.basic_header());
        }
        let resp = req.send().map_err(|e| RegistryError::Unavailable {
            url: realm.to_string(),
            reason: error_chain(&e),
        })?;
        let status = resp.status().as_u16();
        let body =
            read_limited(resp, MAX_TOKEN_BYTES).map_err(|reason| RegistryError::Protocol {
                url: realm.to_string(),
                status,
                detail: reason,
            })?;
        if status == 401 || status == 403 {
            return Err(auth_required(format!(
                "the token endpoint {realm} refused the request ({status})"
            )));
        }
        if status != 200 {
            return Err(RegistryError::Protocol {
                url: realm.to_string(),
                status,
                detail: excerpt(&body),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                url: realm.to_string(),
                status,
                detail: format!("token answer is not JSON with a token: {e}"),
            })?;
        let token = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Protocol {
                url: realm.to_string(),
                status,
                detail: "token answer has no `token` or `access_token`".into(),
            })?;
        if token.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(RegistryError::Protocol {
                url: realm.to_string(),
                status,
                detail: "token contains characters not allowed in a header".into(),
            });
        }
        Ok(token)
    }

    fn read_manifest(
        &self,
        r: &TagRef,
        url: &str,
        resp: reqwest::blocking::Response,
    ) -> Result<Resolved, RegistryError> {
        let status = resp.status().as_u16();
        let reference = r.as_str().to_string();
        if status == 404 {
            let body = read_limited(resp, 64 * 1024).unwrap_or_default();
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.pointer("/errors/0/code")
                        .and_then(|c| c.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            return Err(RegistryError::NotFound { reference, code });
        }
        if status >= 500 {
            return Err(RegistryError::Unavailable {
                url: url.to_string(),
                reason: format!("HTTP {status}"),
            });
        }
        if status != 200 {
            let body = read_limited(resp, 64 * 1024).unwrap_or_default();
            return Err(RegistryError::Protocol {
                url: url.to_string(),
                status,
                detail: excerpt(&body),
            });
        }
        if let Some(len) = resp.content_length() {
            if len > MAX_MANIFEST_BYTES {
                return Err(RegistryError::TooLarge {
                    reference,
                    found: len,
                });
            }
        }
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let media_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = read_limited(resp, MAX_MANIFEST_BYTES).map_err(|_| RegistryError::TooLarge {
            reference: reference.clone(),
            found: MAX_MANIFEST_BYTES.saturating_add(1),
        })?;
        let resolved = Resolved {
            sha256: DigestValue::Sha256(Sha256::digest(&body).into()),
            sha512: DigestValue::Sha512(Sha512::digest(&body).into()),
            media_type,
            size: body.len() as u64,
        };
        if let Some(h) = header_digest {
            check_header_digest(&reference, &h, &resolved)?;
        }
        Ok(resolved)
    }
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

/// Reads at most `limit` bytes; more is an error.
///
/// # Errors
/// A description if the body is longer or the read fails.
pub fn read_limited(resp: reqwest::blocking::Response, limit: u64) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    resp.take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the body: {e}"))?;
    if body.len() as u64 > limit {
        return Err(format!("body longer than {limit} bytes"));
    }
    Ok(body)
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

/// An error with its sources, for messages ("connection refused" is often two levels down).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_schemes() {
        let reg = Registry::new(vec!["localhost:5000".into()], None).unwrap();
        let r: TagRef = "localhost:5000/acme/app:1".parse().unwrap();
        assert_eq!(
            reg.manifest_url(&r),
            "http://localhost:5000/v2/acme/app/manifests/1"
        );
        let r: TagRef = "docker.io/library/nginx:1.25".parse().unwrap();
        assert_eq!(
            reg.manifest_url(&r),
            "https://registry-1.docker.io/v2/library/nginx/manifests/1.25"
        );
        let r: TagRef = "registry.example:5000/a/b:c".parse().unwrap();
        assert_eq!(
            reg.manifest_url(&r),
            "https://registry.example:5000/v2/a/b/manifests/c"
        );
    }

    #[test]
    fn header_digest_must_match_body() {
        let body = b"{}";
        let resolved = Resolved {
            sha256: DigestValue::Sha256(Sha256::digest(body).into()),
            sha512: DigestValue::Sha512(Sha512::digest(body).into()),
            media_type: String::new(),
            size: 2,
        };
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
