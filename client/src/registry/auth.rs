//! Answering a registry's `401` (Docker token authentication,
//! <https://distribution.github.io/distribution/spec/auth/token/>; RFC 9110 §11).
//!
//! Rules, each kept whatever the challenge says:
//! - the credential used is the one stored for the *registry host being accessed*
//!   ([`CredentialStore::lookup`]), never one chosen by the challenge;
//! - a `Basic` challenge is answered with that credential, to that host only (the request
//!   URL is the host's own, HTTPS unless the host is marked insecure);
//! - a `Bearer` challenge's `realm` must be an `https` URL without user information, or
//!   `http` only when the realm's own `host[:port]` is marked insecure; the request to it
//!   follows no redirects and asks for `scope=repository:<path>:pull` of the repository
//!   being read, whatever `scope` the challenge (or a query in the realm) names;
//! - tokens are cached per repository for their `expires_in` (capped at
//!   [`MAX_TOKEN_LIFETIME`]), in a bounded cache.
//!
//! Out of scope: OAuth2 refresh-token grants (`POST` to the realm) and `identitytoken`s.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::{
    authority, parse_www_authenticate, Challenge, Registry, RegistryError, Repository,
    MAX_TOKEN_BYTES, REQUEST_TIMEOUT,
};
use crate::body::{error_chain, excerpt, read_limited};
use crate::credentials::Credentials;

/// Most cached authorizations (repositories); beyond it the cache is emptied.
pub const MAX_CACHED_AUTH: usize = 1024;
/// Token lifetime when the token endpoint names none (the token spec's default).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Longest a token (or a basic credential's acceptance) is reused.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// An `Authorization` header value and what it is (for messages).
pub(super) struct Authorization {
    pub(super) value: String,
    pub(super) what: &'static str,
    lifetime: Duration,
}

/// Authorizations per repository, until they expire. `Debug` shows no secret.
#[derive(Default)]
pub(super) struct AuthCache {
    map: Mutex<HashMap<Repository, (String, Instant)>>,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        write!(f, "AuthCache({n} entries)")
    }
}

impl AuthCache {
    pub(super) fn get(&self, repo: &Repository) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(repo)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(v, _)| v.clone())
    }

    pub(super) fn put(&self, repo: &Repository, a: Authorization) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_CACHED_AUTH {
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= MAX_CACHED_AUTH {
                map.clear();
            }
        }
        map.insert(repo.clone(), (a.value, Instant::now() + a.lifetime));
    }

    pub(super) fn forget(&self, repo: &Repository) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(repo);
    }
}

fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

impl Registry {
    /// The authorization answering the challenges in `headers` for `repo`.
    pub(super) async fn authorize(
        &self,
        repo: &Repository,
        shown: &str,
        headers: &reqwest::header::HeaderMap,
    ) -> Result<Authorization, RegistryError> {
        let auth_required = |reason: String| RegistryError::AuthRequired {
            host: repo.host().to_string(),
            reference: shown.to_string(),
            reason,
        };
        let values: Vec<&str> = headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(auth_required(
                "401 without a WWW-Authenticate header (no token endpoint)".into(),
            ));
        }
        let challenges = parse_www_authenticate(&values.join(", "))?;
        let credentials = self
            .credentials
            .lookup(repo.host(), repo.path())
            .await
            .map_err(|source| RegistryError::Credentials {
                host: repo.host().to_string(),
                source,
            })?
            .map(|(c, _)| c);
        for ch in &challenges {
            match ch {
                Challenge::Bearer { realm, service, .. } => {
                    return self
                        .fetch_token(repo, shown, realm, service.as_deref(), credentials.as_ref())
                        .await;
                }
                Challenge::Basic => {
                    if let Some(c) = &credentials {
                        return Ok(Authorization {
                            value: basic(c),
                            what: "credential",
                            lifetime: MAX_TOKEN_LIFETIME,
                        });
                    }
                }
            }
        }
        Err(auth_required(format!(
            "the registry asks for a user and password and none is stored for {h}: log in with `docker login {h}` or `podman login {h}`, or set TAGLOG_REGISTRY_HOST={h} with TAGLOG_REGISTRY_USER and TAGLOG_REGISTRY_PASSWORD",
            h = repo.host()
        )))
    }

    /// Checks a challenge's realm: `https` without user information, or `http` on a
    /// `host[:port]` marked insecure.
    ///
    /// # Errors
    /// [`RegistryError::UnsafeRealm`] saying which rule failed.
    pub fn check_realm(&self, host: &str, realm: &str) -> Result<reqwest::Url, RegistryError> {
        let unsafe_realm = |reason: &str| RegistryError::UnsafeRealm {
            host: host.to_string(),
            realm: realm.chars().take(200).collect(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(realm).map_err(|_| unsafe_realm("it is not a URL"))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(unsafe_realm("it names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(unsafe_realm("it carries user information"));
        }
        match url.scheme() {
            "https" => Ok(url),
            "http" if self.is_insecure(&authority(&url)) => Ok(url),
            "http" => Err(unsafe_realm(
                "it is plain http and its host is not marked insecure (credentials and tokens travel only over https)",
            )),
            _ => Err(unsafe_realm("it is neither https nor http")),
        }
    }

    async fn fetch_token(
        &self,
        repo: &Repository,
        shown: &str,
        realm: &str,
        service: Option<&str>,
        credentials: Option<&Credentials>,
    ) -> Result<Authorization, RegistryError> {
        let mut url = self.check_realm(repo.host(), realm)?;
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "scope" && k != "service")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.set_query(None);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in &kept {
                q.append_pair(k, v);
            }
            q.append_pair("scope", &format!("repository:{}:pull", repo.path()));
            if let Some(s) = service {
                q.append_pair("service", s);
            }
        }
        let shown_realm = format!("{}://{}{}", url.scheme(), authority(&url), url.path());
        let mut req = self.token_http.get(url).timeout(REQUEST_TIMEOUT);
        if let Some(c) = credentials {
            req = req.header(reqwest::header::AUTHORIZATION, basic(c));
        }
        let resp = req.send().await.map_err(|e| RegistryError::Unavailable {
            url: shown_realm.clone(),
            reason: error_chain(&e),
        })?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RegistryError::AuthRequired {
                host: repo.host().to_string(),
                reference: shown.to_string(),
                reason: format!(
                    "the token endpoint {shown_realm} refused {} ({status})",
                    if credentials.is_some() {
                        "the stored credential"
                    } else {
                        "an anonymous request: log in to the registry"
                    }
                ),
            });
        }
        let protocol = |detail: String| RegistryError::Protocol {
            url: shown_realm.clone(),
            status,
            detail,
        };
        let body = read_limited(resp, MAX_TOKEN_BYTES)
            .await
            .map_err(|e| protocol(e.to_string()))?;
        if status != 200 {
            return Err(protocol(excerpt(&body)));
        }
        parse_token(&body).map_err(|reason| protocol(reason.into()))
    }
}

/// The token and its lifetime from a token endpoint's JSON answer.
fn parse_token(body: &[u8]) -> Result<Authorization, &'static str> {
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let t: TokenAnswer =
        serde_json::from_slice(body).map_err(|_| "token answer is not JSON with a token")?;
    let token = t
        .token
        .filter(|t| !t.is_empty())
        .or(t.access_token)
        .filter(|t| !t.is_empty())
        .ok_or("token answer has no `token` or `access_token`")?;
    if token.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        return Err("token contains characters not allowed in a header");
    }
    let lifetime = t
        .expires_in
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs)
        .min(MAX_TOKEN_LIFETIME);
    Ok(Authorization {
        value: format!("Bearer {token}"),
        what: "token",
        lifetime: lifetime.mul_f64(0.9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::CredentialStore;

    #[test]
    fn realms_must_be_https_or_an_insecure_host() {
        let reg =
            Registry::new(vec!["127.0.0.1:5001".into()], CredentialStore::anonymous()).unwrap();
        assert!(reg.check_realm("r", "https://auth.example/token").is_ok());
        assert!(reg.check_realm("r", "http://127.0.0.1:5001/token").is_ok());
        for bad in [
            "http://127.0.0.1:5002/token",
            "http://auth.example/token",
            "https://user:pw@auth.example/token",
            "ftp://auth.example/token",
            "/token",
            "",
        ] {
            assert!(
                matches!(
                    reg.check_realm("r", bad),
                    Err(RegistryError::UnsafeRealm { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn token_answers() {
        let a = parse_token(br#"{"token":"abc","expires_in":100}"#).unwrap();
        assert_eq!(a.value, "Bearer abc");
        assert_eq!(a.lifetime, Duration::from_secs(90));
        let a = parse_token(br#"{"access_token":"x","expires_in":100000}"#).unwrap();
        assert_eq!(a.lifetime, MAX_TOKEN_LIFETIME.mul_f64(0.9));
        assert!(parse_token(br#"{"token":""}"#).is_err());
        assert!(parse_token(br#"{"token":"a b"}"#).is_err());
        assert!(parse_token(b"nope").is_err());
    }

    #[test]
    fn cache_expires_and_is_bounded() {
        let c = AuthCache::default();
        let r: taglog_proofs::refs::TagRef = "h.example/a/b:1".parse().unwrap();
        let repo = Repository::of(&r);
        c.put(
            &repo,
            Authorization {
                value: "v".into(),
                what: "token",
                lifetime: Duration::from_secs(60),
            },
        );
        assert_eq!(c.get(&repo).as_deref(), Some("v"));
        c.forget(&repo);
        assert_eq!(c.get(&repo), None);
        c.put(
            &repo,
            Authorization {
                value: "v".into(),
                what: "token",
                lifetime: Duration::ZERO,
            },
        );
        assert_eq!(c.get(&repo), None, "expired");
        assert!(!format!("{c:?}").contains('v'));
    }
}
