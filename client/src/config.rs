//! Where the policy lives and how the registry and log are reached (DESIGN §3.9, §4).
//!
//! The policy is `--policy`, else `$TAGLOG_POLICY`, else `$XDG_CONFIG_HOME/taglog/policy`,
//! else `~/.config/taglog/policy`. A missing policy is a usage error that explains how to
//! write one. Out of scope: the policy's syntax (see `taglog_proofs::policy`).

use std::path::{Path, PathBuf};

use taglog_proofs::policy::{LogEntry, Policy, MAX_POLICY_BYTES};
use taglog_proofs::refs::TagRef;

use crate::credentials::CredentialStore;
use crate::error::{ConfigError, Error};
use crate::registry::Registry;
use crate::remote::LogClient;

/// How to write a first policy (shown when none is found).
pub const POLICY_HELP: &str = "write a policy file with at least:
  log <log vkey> <log URL>
  witness <name> <witness vkey>        (one line per witness)
  quorum <witness or group name>       (or `quorum none`: the log alone vouches for freshness)
  publisher <ref prefix> <publisher vkey>
and pass it with --policy, or save it as $XDG_CONFIG_HOME/taglog/policy";

/// The policy path to use.
pub fn policy_path(explicit: Option<&Path>) -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    explicit
        .map(Path::to_path_buf)
        .or_else(|| env("TAGLOG_POLICY"))
        .or_else(|| env("XDG_CONFIG_HOME").map(|p| p.join("taglog/policy")))
        .or_else(|| env("HOME").map(|p| p.join(".config/taglog/policy")))
}

/// Loads and parses the policy.
///
/// # Errors
/// A [`ConfigError`] if there is none, it cannot be read, or it does not parse.
pub fn load_policy(explicit: Option<&Path>) -> Result<Policy, ConfigError> {
    let path = policy_path(explicit).ok_or(ConfigError::NoPolicy { help: POLICY_HELP })?;
    let read = |source| ConfigError::PolicyRead {
        path: path.clone(),
        source,
        help: POLICY_HELP,
    };
    let meta = std::fs::metadata(&path).map_err(read)?;
    if meta.len() > MAX_POLICY_BYTES as u64 {
        return Err(ConfigError::PolicyTooLarge {
            path,
            limit: MAX_POLICY_BYTES,
        });
    }
    let bytes = std::fs::read(&path).map_err(read)?;
    Policy::parse(&bytes).map_err(|source| ConfigError::PolicyParse { path, source })
}

/// The signed reference of a pulled one (`remap` applied) and the log that covers it.
///
/// # Errors
/// [`ConfigError::Remap`] or [`ConfigError::NotCovered`].
pub fn signed_and_log<'p>(
    policy: &'p Policy,
    pulled: &TagRef,
) -> Result<(TagRef, &'p LogEntry), ConfigError> {
    let signed = policy
        .signed_ref(pulled)
        .map_err(|reason| ConfigError::Remap {
            reference: pulled.as_str().to_string(),
            reason,
        })?;
    let log = policy
        .log_for(&signed)
        .map_err(|reason| ConfigError::NotCovered {
            reference: signed.as_str().to_string(),
            reason,
        })?;
    Ok((signed, log))
}

/// The log client for a log: `--log` overrides the URL on the policy's `log` line; a
/// `static+https://` URL reads the log's static objects ([`crate::static_log`]).
///
/// # Errors
/// [`ConfigError::NoLogUrl`] if neither gives a URL; [`Error::Log`] for a URL that is not
/// http(s).
pub fn log_client(log: &LogEntry, override_url: Option<&str>) -> Result<LogClient, Error> {
    let url = override_url
        .or(log.url.as_deref())
        .ok_or_else(|| ConfigError::NoLogUrl {
            origin: log.origin().to_string(),
        })?;
    let cache = crate::static_log::default_cache_dir();
    Ok(LogClient::for_log(url, &log.key, cache.as_deref())?)
}

/// Registry access options from the command line and the environment.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `--insecure-registry` hosts (added to the policy's).
    pub insecure: Vec<String>,
    /// Where registry credentials come from (per host; see [`crate::credentials`]).
    pub credentials: CredentialStore,
}

impl RegistryOptions {
    /// A registry client honouring the policy's `insecure-registry` lines too.
    ///
    /// # Errors
    /// [`crate::registry::RegistryError::Unavailable`] if the HTTP client cannot be built.
    pub fn client(
        &self,
        policy: Option<&Policy>,
    ) -> Result<Registry, crate::registry::RegistryError> {
        let mut insecure = self.insecure.clone();
        if let Some(p) = policy {
            insecure.extend(p.insecure_registries().iter().cloned());
        }
        Registry::new(insecure, self.credentials.clone())
    }
}
