//! `taglog admission`'s flags and start-up: load the policy, build the service and the
//! webhook, serve over HTTPS on a multi-threaded runtime. Exit codes: 2 for a flag, policy,
//! state-directory, certificate or address error, 3 when the runtime cannot start; a running
//! webhook exits 0 after SIGTERM and a graceful drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::http::{serve, ServeError, ServeOptions, DEFAULT_REQUEST_TIMEOUT};
use super::{AdmissionConfig, Namespaces, Webhook};
use crate::config::{load_policy, RegistryOptions};
use crate::credentials::CredentialStore;
use crate::service::ask::Uncovered;
use crate::service::{Service, ServiceConfig};
use crate::state::StateDir;
use crate::{Error, EXIT_OK, EXIT_USAGE};

/// `taglog admission` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct AdmissionArgs {
    /// Address to listen on (HTTPS).
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// PEM certificate chain of the webhook's Service name (leaf first).
    #[arg(long)]
    pub tls_cert: PathBuf,
    /// PEM private key of that certificate.
    #[arg(long)]
    pub tls_key: PathBuf,
    /// References no publisher line covers: allow (unverified, with a warning) or deny.
    #[arg(long, value_enum, default_value = "deny")]
    pub uncovered: Uncovered,
    /// Check only these namespaces (repeatable; default: all).
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Never check these namespaces (repeatable).
    #[arg(long = "skip-namespace")]
    pub skip_namespaces: Vec<String>,
    /// Deny a request whose images are not decided within this time (keep it below the
    /// webhook's timeoutSeconds).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub decision_timeout: Duration,
    /// Longest a verified answer of the log is reused (never past the policy's max-age).
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub cache_ttl: Duration,
    /// Accept cosignatures up to this much older than the policy's max-age (reported as a
    /// warning on each image; never updates the state). For a witness outage only.
    #[arg(long, value_parser = duration)]
    pub accept_stale: Option<Duration>,
    /// Most connections open at once.
    #[arg(long, default_value_t = taglog_serve::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
}

/// The global flags of `taglog` the webhook uses.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `--policy`.
    pub policy: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--log`.
    pub log: Option<String>,
    /// `--insecure-registry`.
    pub insecure_registries: Vec<String>,
}

/// Why the webhook did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A flag, the policy, the state directory or the log URL.
    #[error(transparent)]
    Setup(#[from] Error),
    /// The certificate, key or listen address.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

impl StartError {
    /// The exit code (the one mapping for the webhook's start-up).
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Setup(e) => e.exit_code(),
            StartError::Serve(_) => EXIT_USAGE,
        }
    }
}

/// A duration flag (`90s`, `5m`, ...), at least one second.
fn duration(s: &str) -> Result<Duration, String> {
    match taglog_proofs::policy::parse_duration(s)? {
        0 => Err("give at least 1s".to_string()),
        secs => Ok(Duration::from_secs(secs)),
    }
}

/// Builds the webhook from the flags.
///
/// # Errors
/// [`Error`] for a bad policy, state directory, credential file or log URL.
pub fn webhook(args: &AdmissionArgs, g: &Globals) -> Result<Webhook, Error> {
    let policy = Arc::new(load_policy(g.policy.as_deref())?);
    let registry = RegistryOptions {
        insecure: g.insecure_registries.clone(),
        credentials: CredentialStore::from_env()?,
    }
    .client(Some(&policy))?;
    let mut cfg = ServiceConfig::new(policy, StateDir::resolve(g.state_dir.as_deref())?, registry);
    cfg.log_url.clone_from(&g.log);
    cfg.cache_ttl = args.cache_ttl;
    cfg.accept_stale = args.accept_stale.map_or(0, |d| d.as_secs());
    let config = AdmissionConfig {
        uncovered: args.uncovered,
        namespaces: Namespaces {
            only: args.namespaces.iter().cloned().collect(),
            skip: args.skip_namespaces.iter().cloned().collect(),
        },
        decision_timeout: args.decision_timeout,
    };
    Ok(Webhook::new(Service::new(cfg)?, config))
}

async fn start(args: &AdmissionArgs, g: &Globals) -> Result<(), StartError> {
    let w = webhook(args, g)?;
    let limits = taglog_serve::Limits {
        max_connections: args.max_connections,
        ..taglog_serve::Limits::default()
    };
    serve(
        w,
        ServeOptions {
            listen: args.listen,
            tls_cert: args.tls_cert.clone(),
            tls_key: args.tls_key.clone(),
            limits,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        },
    )
    .await?;
    Ok(())
}

/// Runs `taglog admission` to the end and returns the exit code (errors go to stderr).
pub fn main(args: &AdmissionArgs, g: &Globals) -> u8 {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(start(args, g)),
        Err(e) => Err(StartError::Setup(Error::Runtime(e))),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("taglog admission: {e}");
            e.exit_code()
        }
    }
}
