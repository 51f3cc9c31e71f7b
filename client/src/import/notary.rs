//! Reading a repository's Notary v1 trust data, from a Notary server or from the local trust
//! directory, and verifying it with [`taglog_proofs::notary`] from the root the user already
//! trusts.
//!
//! The trusted root is `--notary-root FILE`, else `<trust dir>/tuf/<GUN>/metadata/root.json`
//! (what `docker` and `notary` saved when they first trusted the repository); without one the
//! import stops: a root fetched from the server is never trusted on first use. From a server,
//! newer roots are walked version by version (`<v>.root.json`), and the trust directory's
//! cached timestamp, snapshot and targets (if they verify) set the lowest acceptable versions.
//!
//! Guarantees: every answer is read with a size limit ([`MAX_METADATA_BYTES`]) before it is
//! parsed; only HTTPS servers are read; TLS roots are the built-in web roots plus
//! `--notary-ca`. Out of scope: Docker
//! Hub's token authentication (use `--offline` after `docker trust inspect GUN` has filled the
//! trust directory), consistent-snapshot file names, writing to the trust directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use taglog_proofs::notary::{
    claimed_targets, claimed_version, docker_tags, DockerTags, NotaryError, Releases, TrustedRoot,
    MAX_METADATA_BYTES, MAX_ROOT_ROTATIONS, RELEASES_ROLE,
};

use crate::body::{error_chain, read_limited};
use crate::Failure;

/// Timeout of one request to the Notary server.
pub const NOTARY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the trust data comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Notary server base URL (`https://notary.example`).
    Server {
        /// Base URL.
        url: String,
        /// Extra TLS root certificate (PEM file).
        ca: Option<PathBuf>,
    },
    /// Only the local trust directory.
    TrustDir,
}

/// How to read and trust a repository's Notary data.
#[derive(Debug, Clone)]
pub struct NotaryOptions {
    /// The GUN exactly as Notary names it (e.g. `docker.io/acme/app`).
    pub gun: String,
    /// Server or trust directory.
    pub source: Source,
    /// Trust directory (`~/.docker/trust`).
    pub trust_dir: PathBuf,
    /// Trusted root file overriding the trust directory's.
    pub root: Option<PathBuf>,
    /// Unix time for expiry checks.
    pub now: u64,
}

/// The verified view of a repository.
#[derive(Debug, Clone)]
pub struct NotaryView {
    /// Tags and failures, as Docker Content Trust would see them.
    pub tags: DockerTags,
    /// Root version used.
    pub root_version: u64,
    /// Timestamp version read.
    pub timestamp_version: u64,
    /// Where it came from (for the report).
    pub source: String,
}

fn notary_failure(e: &NotaryError, gun: &str) -> Failure {
    Failure::failed(
        "notary-verification",
        format!("the Notary trust data of {gun} does not verify: {e}; nothing was imported"),
    )
}

/// Where metadata files are read from.
enum Fetch {
    Dir(Dir),
    Server(Server),
}

impl Fetch {
    /// A metadata file by name (`timestamp.json`, `targets/releases.json`); `None` if absent.
    async fn get(&self, file: &str) -> Result<Option<Vec<u8>>, Failure> {
        match self {
            Fetch::Dir(d) => d.get(file),
            Fetch::Server(s) => s.get(file).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            Fetch::Dir(d) => format!("trust directory {}", d.0.display()),
            Fetch::Server(s) => format!("Notary server {}", s.url),
        }
    }
}

struct Dir(PathBuf);

impl Dir {
    fn get(&self, file: &str) -> Result<Option<Vec<u8>>, Failure> {
        read_file(&self.0.join(file))
    }
}

fn read_file(path: &Path) -> Result<Option<Vec<u8>>, Failure> {
    let unreadable = |e: std::io::Error| {
        Failure::usage(
            "notary-trust-dir",
            format!("cannot read {}: {e}", path.display()),
        )
    };
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    if len > MAX_METADATA_BYTES as u64 {
        return Err(Failure::failed(
            "notary-too-large",
            format!(
                "{} is {len} bytes; at most {MAX_METADATA_BYTES} are read",
                path.display()
            ),
        ));
    }
    std::fs::read(path).map(Some).map_err(unreadable)
}

struct Server {
    url: String,
    base: String,
    http: reqwest::Client,
}

impl Server {
    fn new(url: &str, gun: &str, ca: Option<&Path>) -> Result<Server, Failure> {
        if !url.starts_with("https://") {
            return Err(Failure::usage(
                "notary-url",
                format!("--notary-server {url:?} must be an https:// URL"),
            ));
        }
        let mut b = reqwest::Client::builder()
            .timeout(NOTARY_TIMEOUT)
            .user_agent(concat!("taglog/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca {
            let pem = std::fs::read(path).map_err(|e| {
                Failure::usage(
                    "notary-ca",
                    format!("cannot read --notary-ca {}: {e}", path.display()),
                )
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                Failure::usage(
                    "notary-ca",
                    format!(
                        "--notary-ca {} is not a PEM certificate: {e}",
                        path.display()
                    ),
                )
            })?;
            b = b.add_root_certificate(cert);
        }
        let http = b.build().map_err(|e| {
            Failure::new(
                crate::EXIT_UNAVAILABLE,
                "notary-unavailable",
                error_chain(&e),
            )
        })?;
        Ok(Server {
            url: url.trim_end_matches('/').to_string(),
            base: format!("{}/v2/{gun}/_trust/tuf", url.trim_end_matches('/')),
            http,
        })
    }
}

impl Server {
    async fn get(&self, file: &str) -> Result<Option<Vec<u8>>, Failure> {
        let url = format!("{}/{file}", self.base);
        let unavailable = |reason: String| {
            Failure::new(
                crate::EXIT_UNAVAILABLE,
                "notary-unavailable",
                format!("Notary server: GET {url}: {reason}; retry later, or use --offline with your trust directory"),
            )
        };
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unavailable(error_chain(&e)))?;
        match resp.status().as_u16() {
            200 => read_limited(resp, MAX_METADATA_BYTES as u64)
                .await
                .map(|b| Some(b.to_vec()))
                .map_err(|e| unavailable(e.to_string())),
            404 => Ok(None),
            401 => Err(Failure::usage(
                "notary-auth",
                format!("Notary server: GET {url} needs authentication, which taglog does not do; run `docker trust inspect` for the repository and import with --offline"),
            )),
            s => Err(unavailable(format!("HTTP {s}"))),
        }
    }
}

/// Reads and verifies the repository's trust data and returns Docker's view of its tags.
///
/// # Errors
/// Exit 2 without a trusted root (or an unreadable trust directory), exit 3 when the server
/// is unreachable, exit 1 when the top-level metadata does not verify (nothing is imported).
pub async fn read(opts: &NotaryOptions) -> Result<NotaryView, Failure> {
    let cache = Dir(opts.trust_dir.join("tuf").join(&opts.gun).join("metadata"));
    let root_path = opts
        .root
        .clone()
        .unwrap_or_else(|| cache.0.join("root.json"));
    let trusted_bytes = read_file(&root_path)?.ok_or_else(|| {
        Failure::usage(
            "notary-no-root",
            format!(
                "no trusted Notary root for {} at {}: pass the root.json you trust with --notary-root, or pull the image once with DOCKER_CONTENT_TRUST=1 (or `docker trust inspect`) so that it is saved there",
                opts.gun,
                root_path.display()
            ),
        )
    })?;
    let gun = &opts.gun;
    let trusted = TrustedRoot::pin(&trusted_bytes, opts.now).map_err(|e| {
        Failure::usage(
            "notary-bad-root",
            format!(
                "the trusted root {} does not verify: {e}",
                root_path.display()
            ),
        )
    })?;
    let fetch = match &opts.source {
        Source::TrustDir => Fetch::Dir(Dir(cache.0.clone())),
        Source::Server { url, ca } => Fetch::Server(Server::new(url, gun, ca.as_deref())?),
    };
    let (root, root_bytes) = match &opts.source {
        Source::TrustDir => (trusted.clone(), trusted_bytes.clone()),
        Source::Server { .. } => newest_root(&fetch, trusted.clone(), &trusted_bytes, opts).await?,
    };
    let fail = |e: NotaryError| notary_failure(&e, gun);
    root.check_fresh(&root_bytes, opts.now).map_err(fail)?;
    let floors = match &opts.source {
        Source::Server { .. } => Floors::read(&cache, &root),
        Source::TrustDir => Floors::default(),
    };
    let ts = root
        .timestamp(
            &need(&fetch, "timestamp.json", gun).await?,
            opts.now,
            floors.timestamp,
        )
        .map_err(fail)?;
    let snapshot = ts
        .snapshot(
            &root,
            &need(&fetch, "snapshot.json", gun).await?,
            opts.now,
            floors.snapshot,
        )
        .map_err(fail)?;
    let targets = snapshot
        .targets(
            &root,
            &need(&fetch, "targets.json", gun).await?,
            opts.now,
            floors.targets,
        )
        .map_err(fail)?;
    let releases = if targets.delegates(RELEASES_ROLE) && snapshot.lists(RELEASES_ROLE) {
        let bytes = need(&fetch, &format!("{RELEASES_ROLE}.json"), gun).await?;
        match snapshot.delegation(&targets, RELEASES_ROLE, &bytes, opts.now) {
            Ok(t) => Releases::Verified(t),
            Err(e) if e.is_role_skippable() => Releases::Failed {
                claimed: claimed_targets(&bytes),
                error: e,
            },
            Err(e) => return Err(fail(e)),
        }
    } else {
        Releases::Absent
    };
    Ok(NotaryView {
        tags: docker_tags(&targets, &releases),
        root_version: root.version(),
        timestamp_version: ts.version(),
        source: fetch.describe(),
    })
}

async fn need(fetch: &Fetch, file: &str, gun: &str) -> Result<Vec<u8>, Failure> {
    fetch.get(file).await?.ok_or_else(|| {
        Failure::failed(
            "notary-missing",
            format!(
                "{} has no {file} for {gun}; is it a Notary repository?",
                fetch.describe()
            ),
        )
    })
}

/// Walks from the trusted root to the server's newest root, one version at a time.
async fn newest_root(
    fetch: &Fetch,
    trusted: TrustedRoot,
    trusted_bytes: &[u8],
    opts: &NotaryOptions,
) -> Result<(TrustedRoot, Vec<u8>), Failure> {
    let gun = &opts.gun;
    let newest = need(fetch, "root.json", gun).await?;
    let claimed = claimed_version(&newest).unwrap_or(0);
    if claimed <= trusted.version() {
        // Same or older: the trusted root stays (an older server root is not a reason to
        // trust less, and the roles below are checked against the trusted keys).
        return Ok((trusted, trusted_bytes.to_vec()));
    }
    let ahead = claimed - trusted.version();
    if ahead > MAX_ROOT_ROTATIONS {
        return Err(notary_failure(
            &NotaryError::TooManyRotations { found: ahead },
            gun,
        ));
    }
    let mut root = trusted;
    let mut bytes = trusted_bytes.to_vec();
    for v in root.version().saturating_add(1)..=claimed {
        let next = if v == claimed {
            newest.clone()
        } else {
            fetch.get(&format!("{v}.root.json")).await?.ok_or_else(|| {
                Failure::failed(
                    "notary-missing",
                    format!(
                        "{} has no {v}.root.json for {gun} to walk the root rotation",
                        fetch.describe()
                    ),
                )
            })?
        };
        root = root
            .rotate(&next, opts.now)
            .map_err(|e| notary_failure(&e, gun))?;
        bytes = next;
    }
    Ok((root, bytes))
}

/// Lowest acceptable versions, from the trust directory's cached files that verify.
#[derive(Debug, Default)]
struct Floors {
    timestamp: u64,
    snapshot: u64,
    targets: u64,
}

impl Floors {
    fn read(cache: &Dir, root: &TrustedRoot) -> Floors {
        let v = |role: &str| {
            cache
                .get(&format!("{role}.json"))
                .ok()
                .flatten()
                .and_then(|b| root.signed_version(role, &b).ok())
                .unwrap_or(0)
        };
        Floors {
            timestamp: v("timestamp"),
            snapshot: v("snapshot"),
            targets: v("targets"),
        }
    }
}
