//! Where the policy lives and how the registry and log are reached (DESIGN §3.9, §4).
//!
//! The policy is `--policy`, else `$TAGLOG_POLICY`, else `$XDG_CONFIG_HOME/taglog/policy`,
//! else `~/.config/taglog/policy`. A missing policy is a usage error that explains how to
//! write one. Out of scope: the policy's syntax (see `taglog_proofs::policy`).

use std::path::{Path, PathBuf};

use taglog_proofs::policy::{LogEntry, Policy, MAX_POLICY_BYTES};

use crate::credentials::CredentialStore;
use crate::registry::Registry;
use crate::remote::LogClient;
use crate::Failure;

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
/// A usage failure (exit 2) if there is none, it cannot be read, or it does not parse.
pub fn load_policy(explicit: Option<&Path>) -> Result<Policy, Failure> {
    let path = policy_path(explicit)
        .ok_or_else(|| Failure::usage("no-policy", format!("no policy: {POLICY_HELP}")))?;
    let meta = std::fs::metadata(&path).map_err(|e| {
        Failure::usage(
            "no-policy",
            format!("cannot read policy {}: {e}; {POLICY_HELP}", path.display()),
        )
    })?;
    if meta.len() > MAX_POLICY_BYTES as u64 {
        return Err(Failure::usage(
            "bad-policy",
            format!(
                "policy {} is larger than {MAX_POLICY_BYTES} bytes",
                path.display()
            ),
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| {
        Failure::usage(
            "no-policy",
            format!("cannot read policy {}: {e}", path.display()),
        )
    })?;
    Policy::parse(&bytes)
        .map_err(|e| Failure::usage("bad-policy", format!("policy {}: {e}", path.display())))
}

/// The log client for a log: `--log` overrides the URL on the policy's `log` line.
///
/// # Errors
/// A usage failure if neither gives a URL.
pub fn log_client(log: &LogEntry, override_url: Option<&str>) -> Result<LogClient, Failure> {
    let url = override_url.or(log.url.as_deref()).ok_or_else(|| {
        Failure::usage(
            "no-log-url",
            format!(
                "the policy's `log` line for {} has no URL: add it (`log <vkey> <url>`) or pass --log <url>",
                log.origin()
            ),
        )
    })?;
    Ok(LogClient::new(url)?)
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
    /// Exit 3 if the HTTP client cannot be built.
    pub fn client(&self, policy: Option<&Policy>) -> Result<Registry, Failure> {
        let mut insecure = self.insecure.clone();
        if let Some(p) = policy {
            insecure.extend(p.insecure_registries().iter().cloned());
        }
        Ok(Registry::new(insecure, self.credentials.clone())?)
    }
}
