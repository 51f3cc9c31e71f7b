//! Docker's `config.json` and containers' `auth.json`: parsing and per-host look-up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::{helper, CredentialError, Credentials, Source, DOCKER_HUB};

/// Largest auth file read.
pub const MAX_AUTH_FILE_BYTES: u64 = 1024 * 1024;

/// Docker Hub's other names, folded to [`DOCKER_HUB`].
const HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// Which program's format (they differ only in what a key's path means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Docker's `config.json`: a key's path is ignored (`https://host/v1/` names `host`).
    Docker,
    /// containers' `auth.json`: a key without a scheme may name a namespace (`host/ns`).
    Containers,
}

/// One auth file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFile {
    path: PathBuf,
    kind: FileKind,
}

#[derive(Deserialize)]
struct RawFile {
    #[serde(default)]
    auths: BTreeMap<String, RawEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The (host, namespace) a credential key names, as Docker and containers fold it: scheme
/// dropped, host lowercased and checked (`[a-z0-9.-]` labels, optional `:port`), Docker Hub's
/// forms folded to `docker.io`; the path is kept only for a containers key without a scheme.
/// `None` for a key that names no host.
pub fn fold_host(key: &str, kind: FileKind) -> Option<(String, Option<String>)> {
    let lower = key.to_ascii_lowercase();
    let (had_scheme, rest) = match lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    {
        Some(r) => (true, r),
        None => (false, lower.as_str()),
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && !p.starts_with('0')
    });
    if !name_ok || !port_ok {
        return None;
    }
    let host = if HUB_ALIASES.contains(&host) {
        DOCKER_HUB.to_string()
    } else {
        host.to_string()
    };
    let path = path.trim_end_matches('/');
    let ns =
        (kind == FileKind::Containers && !had_scheme && !path.is_empty()).then(|| path.to_string());
    Some((host, ns))
}

/// Whether namespace `ns` covers repository `path` (whole components).
fn covers(ns: &str, path: &str) -> bool {
    path == ns
        || path
            .strip_prefix(ns)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl AuthFile {
    /// A file of the given kind (it need not exist).
    pub fn new(path: PathBuf, kind: FileKind) -> AuthFile {
        AuthFile { path, kind }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Option<RawFile>, CredentialError> {
        let io = |source| CredentialError::Io {
            path: self.path.clone(),
            source,
        };
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        if meta.len() > MAX_AUTH_FILE_BYTES {
            return Err(CredentialError::TooLarge {
                path: self.path.clone(),
            });
        }
        let bytes = std::fs::read(&self.path).map_err(io)?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CredentialError::Malformed {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }

    /// The credential this file gives for `host` and repository `path`: a `credHelpers`
    /// entry, else the most specific `auths` entry, else `credsStore`.
    ///
    /// # Errors
    /// See [`CredentialError`].
    pub async fn lookup(
        &self,
        host: &str,
        path: &str,
    ) -> Result<Option<(Credentials, Source)>, CredentialError> {
        let Some(raw) = self.read()? else {
            return Ok(None);
        };
        let helper_for_host = raw
            .cred_helpers
            .iter()
            .find(|(k, _)| fold_host(k, FileKind::Docker).is_some_and(|(h, _)| h == host))
            .map(|(_, name)| name.clone());
        if let Some(name) = helper_for_host {
            let found = helper::run_helper(&name, host).await?;
            return Ok(found.map(|c| (c, Source::Helper(name))));
        }
        let best = raw
            .auths
            .iter()
            .filter_map(|(k, e)| {
                let (h, ns) = fold_host(k, self.kind)?;
                let specificity = match &ns {
                    None => 0,
                    Some(ns) if covers(ns, path) => ns.len().saturating_add(1),
                    Some(_) => return None,
                };
                (h == host && !e.is_empty()).then_some((specificity, e))
            })
            .max_by_key(|(s, _)| *s);
        if let Some((_, entry)) = best {
            let c = entry
                .credentials()
                .map_err(|reason| CredentialError::BadEntry {
                    host: host.to_string(),
                    source_name: self.path.display().to_string(),
                    reason,
                })?;
            return Ok(Some((c, Source::File(self.path.clone()))));
        }
        match raw.creds_store.filter(|s| !s.is_empty()) {
            Some(name) => {
                let found = helper::run_helper(&name, host).await?;
                Ok(found.map(|c| (c, Source::Helper(name))))
            }
            None => Ok(None),
        }
    }
}

impl RawEntry {
    /// An entry that holds nothing (Docker writes `{}` when a `credsStore` keeps the secret).
    fn is_empty(&self) -> bool {
        let none = |v: &Option<String>| v.as_deref().is_none_or(str::is_empty);
        none(&self.auth) && none(&self.username) && none(&self.identitytoken)
    }

    fn credentials(&self) -> Result<Credentials, String> {
        if let Some(a) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|_| "`auth` is not base64".to_string())?;
            let text = String::from_utf8(raw).map_err(|_| "`auth` is not UTF-8".to_string())?;
            let (u, p) = text
                .split_once(':')
                .ok_or_else(|| "`auth` is not base64 of user:password".to_string())?;
            return Ok(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            });
        }
        if let Some(u) = self.username.as_deref().filter(|u| !u.is_empty()) {
            return Ok(Credentials {
                username: u.to_string(),
                password: self.password.clone().unwrap_or_default(),
            });
        }
        Err("it holds only an `identitytoken` (an OAuth refresh token), which taglog does not use: log in with a password or access token, or use a credential helper".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_keys_as_docker_and_containers_do() {
        let d = FileKind::Docker;
        let c = FileKind::Containers;
        for k in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
            "https://registry-1.docker.io/v2/",
            "Registry.Hub.Docker.Com",
        ] {
            assert_eq!(fold_host(k, d), Some(("docker.io".into(), None)), "{k}");
            assert_eq!(
                fold_host(k, c).map(|f| f.0),
                Some("docker.io".into()),
                "{k}"
            );
        }
        assert_eq!(
            fold_host("https://reg.example:5000/v1/", c),
            Some(("reg.example:5000".into(), None))
        );
        assert_eq!(
            fold_host("reg.example:5000/acme/app", c),
            Some(("reg.example:5000".into(), Some("acme/app".into())))
        );
        assert_eq!(
            fold_host("reg.example:5000/acme/app", d),
            Some(("reg.example:5000".into(), None))
        );
        // docker.io:443 is an ordinary host, not Docker Hub.
        assert_eq!(
            fold_host("docker.io:443", d),
            Some(("docker.io:443".into(), None))
        );
        for bad in [
            "",
            "https://",
            "a b",
            "host:0",
            "host:x",
            "host:123456",
            "ex@mple",
        ] {
            assert_eq!(fold_host(bad, d), None, "{bad}");
        }
    }

    #[test]
    fn namespaces_cover_whole_components() {
        assert!(covers("acme", "acme/app"));
        assert!(covers("acme/app", "acme/app"));
        assert!(!covers("acme", "acmeevil/app"));
        assert!(!covers("acme/app", "acme"));
    }

    #[test]
    fn entries_decode() {
        let e = |auth: Option<&str>, user: Option<&str>, tok: Option<&str>| RawEntry {
            auth: auth.map(str::to_string),
            username: user.map(str::to_string),
            password: Some("pw".into()),
            identitytoken: tok.map(str::to_string),
        };
        let c = e(Some("YWxpY2U6czNjcjp0"), None, None)
            .credentials()
            .unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("alice", "s3cr:t")
        );
        let c = e(None, Some("bob"), None).credentials().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("bob", "pw"));
        assert!(e(Some("!!"), None, None).credentials().is_err());
        assert!(e(Some("bm9jb2xvbg=="), None, None).credentials().is_err());
        let tok = e(None, None, Some("refresh"));
        assert!(!tok.is_empty());
        assert!(tok.credentials().unwrap_err().contains("identitytoken"));
        assert!(e(Some(""), None, None).is_empty());
        let dbg = format!("{:?}", e(None, Some("bob"), None).credentials().unwrap());
        assert!(!dbg.contains("pw"), "{dbg}");
    }
}
