//! Registry credentials, one per registry host, read from where users already keep them.
//!
//! Sources, in order (the first that has an entry for the host wins):
//! 1. `TAGLOG_REGISTRY_HOST` with `TAGLOG_REGISTRY_USER` and `TAGLOG_REGISTRY_PASSWORD`: one
//!    credential for exactly that host (a user or password without the host is refused);
//! 2. containers' `auth.json` (containers-auth.json(5)): `$REGISTRY_AUTH_FILE`, else
//!    `$XDG_RUNTIME_DIR/containers/auth.json` and `$XDG_CONFIG_HOME/containers/auth.json`
//!    (`~/.config/containers/auth.json`); its keys may name a namespace (`host/ns/repo`), the
//!    most specific one that covers the repository wins;
//! 3. Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`).
//!
//! In each file a `credHelpers` entry for the host runs `docker-credential-<name> get` (the
//! host on stdin, Docker Hub as `https://index.docker.io/v1/`), else an `auths` entry gives
//! `auth` (base64 `user:password`) or `username`/`password`, else `credsStore` runs its helper.
//! Keys are folded as Docker folds them: scheme and (in `config.json`) path dropped, host
//! lowercased, and Docker Hub's forms (`https://index.docker.io/v1/`, `index.docker.io`,
//! `registry-1.docker.io`, `registry.hub.docker.com`) all name `docker.io`.
//!
//! Guarantees: a credential is returned only for the exact host asked about (never by prefix,
//! never a default); files and helper output are size-limited before parsing; helper names are
//! plain words (no paths); messages never contain a secret. Where a credential may be *sent*
//! (that host, or the HTTPS token realm it names) is decided in [`crate::registry`].
//!
//! Out of scope: OAuth identity tokens (`identitytoken`, helper user `<token>`): refused with
//! an explanation; `docker login` itself (we only read).

mod files;
mod helper;

use std::path::PathBuf;

pub use files::{fold_host, AuthFile, FileKind, MAX_AUTH_FILE_BYTES};
pub use helper::{run_helper, HELPER_TIMEOUT, MAX_HELPER_OUTPUT_BYTES};

/// The registry host that Docker Hub references name.
pub const DOCKER_HUB: &str = "docker.io";
/// The server URL Docker passes to credential helpers for Docker Hub.
pub const DOCKER_HUB_HELPER_URL: &str = "https://index.docker.io/v1/";
/// Environment variable naming the one host the environment credential belongs to.
pub const ENV_HOST: &str = "TAGLOG_REGISTRY_HOST";
/// Environment variable with the user name for [`ENV_HOST`].
pub const ENV_USER: &str = "TAGLOG_REGISTRY_USER";
/// Environment variable with the password for [`ENV_HOST`].
pub const ENV_PASSWORD: &str = "TAGLOG_REGISTRY_PASSWORD";

/// A user name and password (or token) for one registry host. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or personal access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

/// Where a credential came from (for messages; never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The `TAGLOG_REGISTRY_*` variables.
    Environment,
    /// An `auths` entry of this file.
    File(PathBuf),
    /// `docker-credential-<name>`.
    Helper(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Environment => write!(f, "{ENV_HOST}/{ENV_USER}/{ENV_PASSWORD}"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Helper(n) => write!(f, "docker-credential-{n}"),
        }
    }
}

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A user or password variable without the host variable.
    #[error("{ENV_USER}/{ENV_PASSWORD} are set but {ENV_HOST} is not: name the one registry host[:port] they belong to (credentials are never sent to other hosts)")]
    EnvWithoutHost,
    /// The host variable without a user.
    #[error("{ENV_HOST} is set but {ENV_USER} is not")]
    EnvWithoutUser,
    /// The host variable is not a host.
    #[error("{ENV_HOST}={value:?} is not a registry host[:port]")]
    BadEnvHost {
        /// The value.
        value: String,
    },
    /// An auth file could not be read.
    #[error("cannot read registry auth file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An auth file is larger than [`MAX_AUTH_FILE_BYTES`].
    #[error("registry auth file {path} is larger than {MAX_AUTH_FILE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// An auth file is not JSON of the expected shape.
    #[error("registry auth file {path} is malformed: {reason}; fix it or move it away")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// One entry is unusable.
    #[error("the entry for {host} in {source_name} is unusable: {reason}")]
    BadEntry {
        /// The host.
        host: String,
        /// Where it came from.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A credential helper failed.
    #[error("credential helper docker-credential-{name} failed for {host}: {reason}")]
    Helper {
        /// The helper's name.
        name: String,
        /// The host asked about.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

/// Every credential source of this process, consulted per host on demand (files are re-read
/// at each look-up, so a `docker login` is seen without a restart).
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    env: Option<(String, Credentials)>,
    files: Vec<AuthFile>,
}

impl CredentialStore {
    /// No credentials at all (anonymous access only).
    pub fn anonymous() -> CredentialStore {
        CredentialStore::default()
    }

    /// The sources named by the process environment (see the module documentation).
    ///
    /// # Errors
    /// [`CredentialError::EnvWithoutHost`], [`CredentialError::EnvWithoutUser`] or
    /// [`CredentialError::BadEnvHost`] for an incomplete environment credential.
    pub fn from_env() -> Result<CredentialStore, CredentialError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let env = match (var(ENV_HOST), var(ENV_USER), var(ENV_PASSWORD)) {
            (None, None, None) => None,
            (None, _, _) => return Err(CredentialError::EnvWithoutHost),
            (Some(_), None, _) => return Err(CredentialError::EnvWithoutUser),
            (Some(host), Some(username), password) => {
                let folded = fold_host(&host, FileKind::Docker)
                    .filter(|(h, path)| path.is_none() && *h == host.to_ascii_lowercase())
                    .map(|(h, _)| h)
                    .ok_or(CredentialError::BadEnvHost { value: host })?;
                Some((
                    folded,
                    Credentials {
                        username,
                        password: password.unwrap_or_default(),
                    },
                ))
            }
        };
        Ok(CredentialStore {
            env,
            files: default_files(),
        })
    }

    /// Sources given explicitly (tests, or an embedding program).
    pub fn with_files(env: Option<(String, Credentials)>, files: Vec<AuthFile>) -> Self {
        CredentialStore { env, files }
    }

    /// The files consulted, in order.
    pub fn files(&self) -> &[AuthFile] {
        &self.files
    }

    /// The credential for registry `host` (as in a reference: `docker.io` for Docker Hub),
    /// for repository `path` on it, and where it came from; `None` if no source has one.
    ///
    /// # Errors
    /// A [`CredentialError`] when a source that has an entry for this host cannot be read or
    /// its helper fails (never silently anonymous instead).
    pub async fn lookup(
        &self,
        host: &str,
        path: &str,
    ) -> Result<Option<(Credentials, Source)>, CredentialError> {
        if let Some((h, c)) = &self.env {
            if h == host {
                return Ok(Some((c.clone(), Source::Environment)));
            }
        }
        for file in &self.files {
            if let Some(found) = file.lookup(host, path).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

/// The auth files of the environment, in the order they are consulted.
fn default_files() -> Vec<AuthFile> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = env("HOME");
    let mut files = Vec::new();
    if let Some(p) = env("REGISTRY_AUTH_FILE") {
        files.push(AuthFile::new(p, FileKind::Containers));
    } else {
        if let Some(d) = env("XDG_RUNTIME_DIR") {
            files.push(AuthFile::new(
                d.join("containers/auth.json"),
                FileKind::Containers,
            ));
        }
        let config = env("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
        if let Some(c) = config {
            files.push(AuthFile::new(
                c.join("containers/auth.json"),
                FileKind::Containers,
            ));
        }
    }
    let docker = env("DOCKER_CONFIG").or_else(|| home.as_ref().map(|h| h.join(".docker")));
    if let Some(d) = docker {
        files.push(AuthFile::new(d.join("config.json"), FileKind::Docker));
    }
    files
}
