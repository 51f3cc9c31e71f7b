//! `taglog`: publish and verify container image tag bindings. Flags only; the work is in the
//! `taglog_client` library. Exit codes: 0 verified, 1 verification failed, 2 usage or policy
//! error, 3 a service was unavailable.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use taglog_client::config::{load_policy, RegistryOptions};
use taglog_client::credentials::CredentialStore;
use taglog_client::error::InputError;
use taglog_client::publish::{PublishOptions, VersionChoice, DEFAULT_MMD_SECS};
use taglog_client::service::mirror::MirrorConfig;
use taglog_client::service::{Service, ServiceConfig};
use taglog_client::state::StateDir;
use taglog_client::verify::{self, Options};
use taglog_client::verify::{parse_digest, parse_reference};
use taglog_client::{import, inspect, keys, Error, EXIT_OK};
use taglog_proofs::policy::parse_duration;
use taglog_proofs::refs::TagRef;

#[derive(Parser)]
#[command(
    name = "taglog",
    version,
    about = "Publish and verify container image tag bindings in a taglog transparency log"
)]
struct Cli {
    /// Trust policy file (default: $TAGLOG_POLICY, $XDG_CONFIG_HOME/taglog/policy).
    #[arg(long, global = true, env = "TAGLOG_POLICY")]
    policy: Option<PathBuf>,
    /// Local state directory (default: $TAGLOG_STATE_DIR, $XDG_STATE_HOME/taglog).
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// Log URL, overriding the URL on the policy's `log` line.
    #[arg(long, global = true)]
    log: Option<String>,
    /// Registry host[:port] to reach over plain HTTP (repeatable; adds to the policy's).
    #[arg(long = "insecure-registry", global = true)]
    insecure_registry: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a publisher key: writes the private key file (mode 0600), prints the vkey.
    Keygen {
        /// Key name (e.g. your registry namespace).
        #[arg(long)]
        name: String,
        /// Private key file to create (never overwritten).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Bind a tag to a digest in the log, and verify that the log made it current.
    Publish {
        /// Reference, e.g. registry.example/acme/app:1.5.
        reference: String,
        /// Digest to bind (default: resolve the tag at its registry).
        #[arg(long)]
        digest: Option<String>,
        /// Withdraw the tag instead (digest `withdrawn`).
        #[arg(long, conflicts_with = "digest")]
        withdraw: bool,
        /// Version: a number, or `auto` (current + 1).
        #[arg(long, default_value = "auto")]
        version: String,
        /// Private key file.
        #[arg(long)]
        key: PathBuf,
        /// Save the verified bundle here.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// How long to wait for the log to make the binding current after a 202.
        #[arg(long, default_value = "5m")]
        mmd: String,
    },
    /// Verify a tag: prints the pullable `registry/repo@digest` on stdout.
    Verify {
        /// Reference as you pull it.
        reference: String,
        /// Check this digest instead of asking the registry.
        #[arg(long)]
        digest: Option<String>,
        /// Verify a saved bundle instead of asking the log.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// No network at all (needs --bundle).
        #[arg(long)]
        offline: bool,
        /// Accept cosignatures up to this much older than max-age (reported; never updates state).
        #[arg(long)]
        accept_stale: Option<String>,
        /// Print a JSON verdict on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show the current binding of a tag (verified; the registry is not asked).
    Lookup {
        /// Reference.
        reference: String,
        /// Verify a saved bundle instead of asking the log.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch and verify a bundle and save it for offline verification.
    Bundle {
        /// Reference.
        reference: String,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Export the current binding's inclusion proof.
    Export {
        /// Write C2SP tlog-proof@v1.
        #[arg(long, required = true)]
        tlog_proof: bool,
        /// Reference.
        reference: String,
        /// Use a saved bundle.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Pin a reference to a digest (S6): verify accepts it if the publisher ever bound it.
    Pin {
        /// Reference.
        reference: String,
        /// Digest.
        digest: String,
    },
    /// Remove a local pin.
    Unpin {
        /// Reference.
        reference: String,
    },
    /// Fetch and verify the log's checkpoint; show size, age and cosigners.
    Checkpoint {
        /// Log origin (if the policy lists several logs).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Run a verifying, read-only registry mirror (OCI pull-through proxy): a tag is served
    /// only as its verified current digest; see docs/pull-path.md.
    Mirror {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:5000")]
        listen: std::net::SocketAddr,
        /// Upstream registry host[:port] to proxy (repeatable; the first also serves requests
        /// that do not name one with ?ns=; docker.io for Docker Hub).
        #[arg(long = "upstream", required = true)]
        upstreams: Vec<String>,
        /// Longest a verified answer of the log is reused (also bounded by max-age freshness).
        #[arg(long, default_value = "60s")]
        cache_ttl: String,
        /// TLS certificate chain (PEM); plain HTTP without it.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Most client connections open at once.
        #[arg(long, default_value_t = taglog_serve::DEFAULT_MAX_CONNECTIONS)]
        max_connections: usize,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Import signed tags from another signing system.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
}

#[derive(Subcommand)]
enum ImportFrom {
    /// Docker Content Trust (Notary v1): bind every tag Notary signed for GUN, with your key.
    #[command(alias = "dct")]
    Notary {
        /// The repository as Notary names it (its GUN), e.g. docker.io/acme/app.
        gun: String,
        /// Your publisher key file (not needed with --dry-run).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Notary server.
        #[arg(
            long,
            env = "DOCKER_CONTENT_TRUST_SERVER",
            default_value = "https://notary.docker.io"
        )]
        notary_server: String,
        /// Extra TLS root certificate (PEM) for the Notary server.
        #[arg(long)]
        notary_ca: Option<PathBuf>,
        /// Trust directory holding the trusted root (default: ~/.docker/trust).
        #[arg(long)]
        trust_dir: Option<PathBuf>,
        /// The Notary root.json you trust (default: the trust directory's).
        #[arg(long)]
        notary_root: Option<PathBuf>,
        /// Read only the trust directory, not the Notary server.
        #[arg(long)]
        offline: bool,
        /// Bind the tags in this repository instead of the GUN.
        #[arg(long = "as")]
        repository: Option<String>,
        /// Print the plan; publish nothing.
        #[arg(long)]
        dry_run: bool,
        /// How long each publication waits for the log to make it current.
        #[arg(long, default_value = "5m")]
        mmd: String,
    },
}

#[derive(Subcommand)]
enum PolicyAction {
    /// Print the C2SP tlog-policy subset.
    ExportC2sp,
    /// Warn about weak settings.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = matches!(
        cli.command,
        Command::Verify { json: true, .. } | Command::Lookup { json: true, .. }
    );
    let reference = match &cli.command {
        Command::Verify { reference, .. } | Command::Lookup { reference, .. } => reference.clone(),
        _ => String::new(),
    };
    // Servers use every core; one-shot commands one thread.
    let runtime = if matches!(cli.command, Command::Mirror { .. }) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let result = match runtime {
        Ok(rt) => rt.block_on(run(cli)),
        Err(e) => Err(Error::Runtime(e)),
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            if json {
                println!("{}", verify::failure_json(&e, &reference));
            }
            eprintln!("taglog: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn duration(s: &str, what: &'static str) -> Result<u64, InputError> {
    parse_duration(s).map_err(|reason| InputError::Duration {
        what,
        input: s.to_string(),
        reason,
    })
}

fn write_file(p: &Path, bytes: &[u8]) -> Result<(), InputError> {
    std::fs::write(p, bytes).map_err(|source| InputError::Output {
        path: p.to_path_buf(),
        source,
    })
}

async fn run(cli: Cli) -> Result<(), Error> {
    let now = taglog_client::unix_now();
    let registry = RegistryOptions {
        insecure: cli.insecure_registry.clone(),
        credentials: CredentialStore::from_env()?,
    };
    let base = Options {
        now,
        log_url: cli.log.clone(),
        registry: registry.clone(),
        state_dir: cli.state_dir.clone(),
        ..Options::default()
    };
    let policy = || load_policy(cli.policy.as_deref()).map(std::sync::Arc::new);
    match cli.command {
        Command::Keygen { name, output } => {
            let v = keys::keygen(&name, &output)?;
            println!("{v}");
            eprintln!("wrote the private key to {} (mode 0600); publish the vkey above in your policy's publisher line", output.display());
        }
        Command::Publish {
            reference,
            digest,
            withdraw,
            version,
            key,
            output,
            mmd,
        } => {
            let version =
                match version.as_str() {
                    "auto" => VersionChoice::Auto,
                    v => VersionChoice::Exact(taglog_proofs::num::parse_decimal(v).ok_or_else(
                        || InputError::Version {
                            input: v.to_string(),
                        },
                    )?),
                };
            let opts = PublishOptions {
                reference,
                digest,
                withdraw,
                version,
                key,
                log_url: cli.log.clone(),
                now,
                registry,
                mmd: Duration::from_secs(if mmd.is_empty() {
                    DEFAULT_MMD_SECS
                } else {
                    duration(&mmd, "--mmd")?
                }),
                poll: Duration::from_millis(500),
            };
            let p = taglog_client::publish::publish(&*policy()?, &opts).await?;
            if let Some(o) = output {
                write_file(&o, &p.bundle)?;
            }
            if !p.digest.is_withdrawn() {
                println!("{}@{}", p.reference.repository(), p.digest);
            }
            eprintln!(
                "published {} -> {} as version {} (leaf {}), verified current",
                p.reference.as_str(),
                p.digest,
                p.version,
                p.index
            );
        }
        Command::Verify {
            reference,
            digest,
            bundle,
            offline,
            accept_stale,
            json,
        } => {
            let opts = Options {
                reference,
                digest,
                bundle,
                offline,
                accept_stale: accept_stale
                    .as_deref()
                    .map(|s| duration(s, "--accept-stale"))
                    .transpose()?
                    .unwrap_or(0),
                ..base
            };
            let r = verify::run(policy()?, &opts).await?;
            if json {
                println!("{}", verify::report_json(&r));
            } else {
                println!("{}", r.pull());
            }
            eprintln!("{}", verify::describe(&r, now));
        }
        Command::Lookup {
            reference,
            bundle,
            json,
        } => {
            let opts = Options {
                reference,
                bundle,
                skip_registry: true,
                ..base
            };
            let r = verify::run(policy()?, &opts).await?;
            if json {
                println!("{}", verify::report_json(&r));
            } else {
                println!("{}", verify::describe(&r, now));
            }
        }
        Command::Bundle { reference, output } => {
            let r = verify::run(
                policy()?,
                &Options {
                    reference,
                    skip_registry: true,
                    ..base
                },
            )
            .await?;
            write_file(&output, &r.bundle_bytes)?;
            eprintln!(
                "{}\nsaved the bundle to {}",
                verify::describe(&r, now),
                output.display()
            );
        }
        Command::Export {
            tlog_proof: _,
            reference,
            bundle,
            output,
        } => {
            let r = verify::run(
                policy()?,
                &Options {
                    reference,
                    bundle,
                    skip_registry: true,
                    ..base
                },
            )
            .await?;
            write_file(&output, &inspect::tlog_proof(&r)?)?;
            eprintln!(
                "wrote the tlog-proof of {} to {}",
                r.signed.as_str(),
                output.display()
            );
        }
        Command::Pin { reference, digest } => {
            let signed = signed_ref(&reference, cli.policy.as_deref())?;
            let d = parse_digest("pin", &digest)?;
            let mut l = StateDir::resolve(cli.state_dir.as_deref())?.lock()?;
            l.state.pins.insert(signed.as_str().to_string(), d);
            l.save()?;
            eprintln!(
                "pinned {} to {d}; `taglog verify` now accepts it if the publisher ever bound it",
                signed.as_str()
            );
        }
        Command::Unpin { reference } => {
            let signed = signed_ref(&reference, cli.policy.as_deref())?;
            let mut l = StateDir::resolve(cli.state_dir.as_deref())?.lock()?;
            if l.state.pins.remove(signed.as_str()).is_none() {
                return Err(InputError::NotPinned {
                    reference: signed.as_str().to_string(),
                }
                .into());
            }
            l.save()?;
            eprintln!("unpinned {}", signed.as_str());
        }
        Command::Checkpoint { origin } => {
            println!(
                "{}",
                inspect::checkpoint(&*policy()?, origin.as_deref(), cli.log.as_deref(), now)
                    .await?
            );
        }
        Command::Import {
            from:
                ImportFrom::Notary {
                    gun,
                    key,
                    notary_server,
                    notary_ca,
                    trust_dir,
                    notary_root,
                    offline,
                    repository,
                    dry_run,
                    mmd,
                },
        } => {
            let trust_dir = trust_dir
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/trust"))
                })
                .ok_or_else(|| {
                    taglog_client::Failure::usage(
                        "no-trust-dir",
                        "pass --trust-dir (HOME is not set)",
                    )
                })?;
            let opts = import::ImportOptions {
                notary: import::notary::NotaryOptions {
                    gun,
                    source: if offline {
                        import::notary::Source::TrustDir
                    } else {
                        import::notary::Source::Server {
                            url: notary_server,
                            ca: notary_ca,
                        }
                    },
                    trust_dir,
                    root: notary_root,
                    now,
                },
                repository,
                key,
                dry_run,
                log_url: cli.log.clone(),
                mmd: Duration::from_secs(duration(&mmd, "--mmd")?),
                poll: Duration::from_millis(500),
            };
            let report = import::run(&*policy()?, &opts, &mut |step, outcome| {
                println!("{}", import::line(step, outcome));
            })
            .await?;
            let (text, failure) = import::summary(&report, dry_run);
            eprintln!("{text}");
            if let Some(f) = failure {
                return Err(f.into());
            }
        }
        Command::Mirror {
            listen,
            upstreams,
            cache_ttl,
            tls_cert,
            tls_key,
            max_connections,
        } => {
            let tls = match (tls_cert, tls_key) {
                (Some(c), Some(k)) => Some(taglog_serve::load_tls(&c, &k)?),
                _ => None,
            };
            let policy = policy()?;
            let mut cfg = ServiceConfig::new(
                std::sync::Arc::clone(&policy),
                StateDir::resolve(cli.state_dir.as_deref())?,
                registry.client(Some(&policy))?,
            );
            cfg.log_url = cli.log.clone();
            cfg.cache_ttl = Duration::from_secs(duration(&cache_ttl, "--cache-ttl")?)
                .min(Duration::from_secs(policy.max_age()));
            let svc = Service::new(cfg)?;
            init_tracing();
            eprintln!(
                "taglog mirror: listening on {listen}, proxying {}",
                upstreams.join(", ")
            );
            let cfg = MirrorConfig {
                listen,
                upstreams,
                tls,
                limits: taglog_serve::Limits {
                    max_connections,
                    ..taglog_serve::Limits::default()
                },
            };
            taglog_client::service::mirror::run(svc, cfg, taglog_serve::shutdown_signal()).await?;
        }
        Command::Policy { action } => {
            let p = policy()?;
            match action {
                PolicyAction::ExportC2sp => print!("{}", p.export_c2sp()),
                PolicyAction::Check => {
                    let warnings = p.check();
                    for w in &warnings {
                        println!("warning: {w}");
                    }
                    if warnings.is_empty() {
                        println!("ok: no warnings");
                    }
                }
            }
        }
    }
    let _ = std::io::stdout().flush();
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The signed reference for pin/unpin: remapped by the policy when one is available.
fn signed_ref(input: &str, policy_path: Option<&Path>) -> Result<TagRef, Error> {
    let r = parse_reference(input)?;
    match load_policy(policy_path) {
        Ok(p) => p.signed_ref(&r).map_err(|reason| {
            taglog_client::error::ConfigError::Remap {
                reference: r.as_str().to_string(),
                reason,
            }
            .into()
        }),
        Err(_) => Ok(r),
    }
}
