//! `taglog import notary GUN`: carry a repository's Docker Content Trust (Notary v1) tag
//! signatures into the log, one binding per tag, signed with the user's publisher key.
//!
//! Steps: read and verify the repository's Notary data ([`notary`]: from the root the user
//! already trusts, from a Notary server or the local trust directory); for each tag Docker
//! would pull, build its taglog reference and ask the log for its verified current binding;
//! decide ([`plan`]): version 1, the next version, or nothing; then publish each with
//! [`crate::publish::publish`], which succeeds only once a fresh verified bundle shows the
//! binding current. `--dry-run` stops after the decision and prints the plan.
//!
//! Guarantees: a tag whose Notary data does not verify is reported and never published; a
//! failure of one tag (Notary, the log, or the publication) does not stop the others; the
//! report lists every tag with what happened; running the same command again publishes only
//! what is still missing (the plan is read from the log each time). Out of scope: withdrawing
//! tags that Notary no longer lists, and tags of delegations other than `targets/releases`.

pub mod notary;
pub mod plan;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use taglog_proofs::policy::Policy;
use taglog_proofs::refs::TagRef;

use crate::config::log_client;
use crate::publish::{PublishOptions, VersionChoice};
use crate::remote::LogClient;
use crate::Failure;

pub use plan::{Action, Step};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Where the Notary data comes from and how it is trusted.
    pub notary: notary::NotaryOptions,
    /// The taglog repository to bind tags in (default: the GUN, canonicalised).
    pub repository: Option<String>,
    /// Publisher key file (not needed for a dry run).
    pub key: Option<PathBuf>,
    /// Only print the plan.
    pub dry_run: bool,
    /// `--log` URL override.
    pub log_url: Option<String>,
    /// How long each publication waits for the log to make it current.
    pub mmd: Duration,
    /// Poll interval while waiting.
    pub poll: Duration,
}

/// What happened to one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Dry run: would do the step's action.
    Planned,
    /// Published and verified current: (version, leaf index).
    Published {
        /// Version.
        version: u64,
        /// Leaf index.
        index: u64,
    },
    /// Nothing to do (already bound, or withdrawn in the log).
    Unchanged,
    /// Not imported, with why.
    Failed(String),
}

/// The result of an import: one entry per tag, sorted by tag.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// Where the Notary data came from.
    pub source: String,
    /// Notary root version used.
    pub root_version: u64,
    /// Notary timestamp version read.
    pub timestamp_version: u64,
    /// Every tag with its step and outcome.
    pub tags: Vec<(Step, Outcome)>,
}

impl ImportReport {
    /// How many tags failed.
    pub fn failed(&self) -> usize {
        self.tags
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
            .count()
    }

    /// How many tags were published.
    pub fn published(&self) -> usize {
        self.tags
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Published { .. }))
            .count()
    }
}

/// The repository to bind in: `--as`, else the GUN, canonicalised.
///
/// # Errors
/// A usage failure when it is not a taglog repository name.
pub fn repository(gun: &str, explicit: Option<&str>) -> Result<String, Failure> {
    let name = explicit.unwrap_or(gun);
    TagRef::canonicalize(&format!("{name}:latest"))
        .map(|r| r.repository().to_string())
        .map_err(|e| {
            Failure::usage(
                "bad-repository",
                format!("{name:?} is not a repository name taglog can bind tags in: {e}"),
            )
        })
}

/// Runs the import; `progress` receives one line per tag as it is done.
///
/// # Errors
/// Exit 2 for usage problems (no trusted root, no key, bad repository), exit 3 when the
/// Notary server is unreachable, exit 1 when the repository's top-level Notary data does not
/// verify. Per-tag failures are in the report, not errors.
pub async fn run(
    policy: &Policy,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(&Step, &Outcome),
) -> Result<ImportReport, Failure> {
    let repo = repository(&opts.notary.gun, opts.repository.as_deref())?;
    let key = match (&opts.key, opts.dry_run) {
        (Some(k), _) => {
            crate::keys::load_signer(k)?;
            Some(k.clone())
        }
        (None, true) => None,
        (None, false) => {
            return Err(Failure::usage(
                "no-key",
                "pass your publisher key with --key (or plan only with --dry-run)",
            ))
        }
    };
    let view = notary::read(&opts.notary).await?;
    let now = opts.notary.now;
    let mut clients: BTreeMap<String, LogClient> = BTreeMap::new();
    let mut tags = Vec::new();
    for (name, why) in &view.tags.failures {
        let step = plan::unverified(name, why);
        let outcome = Outcome::Failed(failure_text(&step));
        progress(&step, &outcome);
        tags.push((step, outcome));
    }
    for t in &view.tags.tags {
        let step = match plan::reference(&repo, &t.name) {
            Err(why) => plan::failed(&t.name, &t.role, None, why),
            Ok(r) => match current(policy, &mut clients, opts, &r, now).await {
                Ok(c) => plan::decide(t, r, &c),
                Err(f) => plan::failed(&t.name, &t.role, None, f.message),
            },
        };
        let outcome = execute(policy, opts, key.as_ref(), &step, now).await;
        progress(&step, &outcome);
        tags.push((step, outcome));
    }
    tags.sort_by(|a, b| a.0.tag.cmp(&b.0.tag));
    Ok(ImportReport {
        source: view.source,
        root_version: view.root_version,
        timestamp_version: view.timestamp_version,
        tags,
    })
}

fn failure_text(step: &Step) -> String {
    match &step.action {
        Action::Failed { reason } => reason.clone(),
        _ => String::new(),
    }
}

async fn current(
    policy: &Policy,
    clients: &mut BTreeMap<String, LogClient>,
    opts: &ImportOptions,
    r: &TagRef,
    now: u64,
) -> Result<crate::publish::Current, Failure> {
    let log = policy.log_for(r).map_err(|reason| {
        Failure::usage(
            "not-covered",
            format!("your policy has no publisher line for it: {reason}"),
        )
    })?;
    let origin = log.origin().to_string();
    if !clients.contains_key(&origin) {
        clients.insert(origin.clone(), log_client(log, opts.log_url.as_deref())?);
    }
    let client = clients
        .get(&origin)
        .ok_or_else(|| Failure::usage("no-log-url", format!("no log client for {origin}")))?;
    Ok(crate::publish::current(policy, client, r, now).await?)
}

async fn execute(
    policy: &Policy,
    opts: &ImportOptions,
    key: Option<&PathBuf>,
    step: &Step,
    now: u64,
) -> Outcome {
    let (version, reference, digest) = match (&step.action, &step.reference, &step.digest) {
        (Action::Failed { reason }, _, _) => return Outcome::Failed(reason.clone()),
        (Action::AlreadyBound { .. } | Action::Withdrawn { .. }, _, _) => {
            return Outcome::Unchanged
        }
        (Action::Publish { version, .. }, Some(r), Some(d)) => (*version, r, d),
        (Action::Publish { .. }, _, _) => {
            return Outcome::Failed("no reference or digest to publish".into())
        }
    };
    let Some(key) = key.filter(|_| !opts.dry_run) else {
        return Outcome::Planned;
    };
    let p = PublishOptions {
        reference: reference.as_str().to_string(),
        digest: Some(digest.to_string()),
        withdraw: false,
        version: VersionChoice::Exact(version),
        key: key.clone(),
        log_url: opts.log_url.clone(),
        now,
        registry: crate::config::RegistryOptions::default(),
        mmd: opts.mmd,
        poll: opts.poll,
    };
    match crate::publish::publish(policy, &p).await {
        Ok(done) => Outcome::Published {
            version: done.version,
            index: done.index,
        },
        Err(f) => Outcome::Failed(format!("publishing failed: {}", f)),
    }
}

/// One report line: the step, and what happened when it differs from the plan.
pub fn line(step: &Step, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Published { version, index } => {
            format!("{step}: published version {version} (leaf {index}), verified current")
        }
        Outcome::Failed(why) if !matches!(step.action, Action::Failed { .. }) => {
            format!("{step}: FAILED, {why}")
        }
        _ => step.to_string(),
    }
}

/// The closing summary, and the failure to exit with when any tag failed.
pub fn summary(report: &ImportReport, dry_run: bool) -> (String, Option<Failure>) {
    let n = report.tags.len();
    let failed = report.failed();
    let head = format!(
        "{n} tag(s) signed in Notary ({}, root version {}, timestamp version {})",
        report.source, report.root_version, report.timestamp_version
    );
    let text = if dry_run {
        let planned = report
            .tags
            .iter()
            .filter(|(_, o)| *o == Outcome::Planned)
            .count();
        format!(
            "{head}: dry run, {planned} to publish, {failed} not importable; nothing was published"
        )
    } else {
        format!(
            "{head}: {} published, {} unchanged, {failed} failed",
            report.published(),
            n - report.published() - failed
        )
    };
    let failure = (failed > 0).then(|| {
        Failure::failed(
            "import-incomplete",
            format!("{failed} tag(s) were not imported (see above); fix what is said and run the same command again: tags already imported are left as they are"),
        )
    });
    (text, failure)
}
