//! The verifier's command line, read with the rules of Go's `flag` package (which containerd's
//! own verifiers use): `-flag value`, `-flag=value`, `--flag value` and `--flag=value`; a
//! flag's value is the next argument even when it starts with `-`; `--` ends the flags.
//!
//! containerd passes exactly `-name <ref> -digest <digest> -stdin-media-type <type>`
//! (`pkg/imageverifier/bindir` in containerd 2.x). The other flags configure taglog and are
//! given by a wrapper script in containerd's `bin_dir` (see `docs/pull-path.md`); without them
//! the client's defaults apply (`$TAGLOG_POLICY`, `$TAGLOG_STATE_DIR`, ...).
//!
//! Stricter than Go on purpose: a repeated flag, an unknown flag, a positional argument or a
//! value that is not UTF-8 is an error (exit 2: containerd then blocks the pull), never
//! ignored, so a changed protocol fails closed and visibly.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use taglog_proofs::policy::parse_duration;

use crate::service::ask::Uncovered;

/// How long a verification may take by default: under containerd's default
/// `per_verifier_timeout` (10 s), so that a slow log gives a reason rather than a kill.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(8);
/// Most arguments accepted (containerd passes 6; a wrapper adds a few).
pub const MAX_ARGS: usize = 64;

/// Why the command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// A flag this verifier does not know.
    #[error("unknown flag {0:?}: containerd passes -name, -digest and -stdin-media-type; taglog adds -policy, -state-dir, -log, -insecure-registry, -uncovered, -timeout")]
    Unknown(String),
    /// A flag without its value.
    #[error("flag -{0} needs a value")]
    MissingValue(&'static str),
    /// A flag given twice.
    #[error("flag -{0} is given twice")]
    Repeated(&'static str),
    /// A required flag is absent.
    #[error("flag -{0} is missing: this program is called by containerd as `-name <ref> -digest <digest> -stdin-media-type <type>`")]
    Missing(&'static str),
    /// An argument that is not a flag.
    #[error("unexpected argument {0:?}: only flags are accepted")]
    Positional(String),
    /// An argument that is not UTF-8.
    #[error("an argument is not UTF-8")]
    NotUtf8,
    /// More than [`MAX_ARGS`] arguments.
    #[error("{0} arguments, more than the {MAX_ARGS} accepted")]
    TooMany(usize),
    /// A value that does not parse.
    #[error("flag -{flag} {value:?}: {reason}")]
    BadValue {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
}

/// taglog's settings for the verifier (from a wrapper script's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `-policy`: the trust policy file (default: the client's lookup).
    pub policy: Option<PathBuf>,
    /// `-state-dir`: the state directory (default: the client's lookup).
    pub state_dir: Option<PathBuf>,
    /// `-log`: overrides the URL on the policy's `log` line.
    pub log: Option<String>,
    /// `-insecure-registry` (repeatable): hosts reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// `-uncovered allow|deny` (default deny).
    pub uncovered: Uncovered,
    /// `-timeout`: the longest a verification may take.
    pub timeout: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            policy: None,
            state_dir: None,
            log: None,
            insecure_registries: Vec::new(),
            uncovered: Uncovered::Deny,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// One call by containerd, with taglog's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `-name`: the reference as containerd resolved it.
    pub name: String,
    /// `-digest`: the digest containerd is about to pull.
    pub digest: String,
    /// `-stdin-media-type`: the media type of the JSON on stdin.
    pub stdin_media_type: String,
    /// taglog's settings.
    pub settings: Settings,
}

#[derive(Default)]
struct Seen {
    name: Option<String>,
    digest: Option<String>,
    media_type: Option<String>,
    policy: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    log: Option<String>,
    uncovered: Option<Uncovered>,
    timeout: Option<Duration>,
}

/// Parses the arguments after the program name.
///
/// # Errors
/// [`ArgsError`] for an unknown, repeated or missing flag, a missing or bad value, a
/// positional argument, a non-UTF-8 argument or more than [`MAX_ARGS`] arguments.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Call, ArgsError> {
    let args: Vec<OsString> = args.into_iter().take(MAX_ARGS + 1).collect();
    if args.len() > MAX_ARGS {
        return Err(ArgsError::TooMany(args.len()));
    }
    let args = args
        .into_iter()
        .map(|a| a.into_string().map_err(|_| ArgsError::NotUtf8))
        .collect::<Result<Vec<String>, _>>()?;
    let mut seen = Seen::default();
    let mut insecure = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            if let Some(p) = it.next() {
                return Err(ArgsError::Positional(p));
            }
            break;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(ArgsError::Positional(arg));
        };
        let (key, inline) = match flag.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (flag.to_string(), None),
        };
        let key = known(&key).ok_or_else(|| ArgsError::Unknown(arg.clone()))?;
        let value = match inline {
            Some(v) => v,
            None => it.next().ok_or(ArgsError::MissingValue(key))?,
        };
        seen.set(key, value, &mut insecure)?;
    }
    seen.finish(insecure)
}

const FLAGS: [&str; 9] = [
    "name",
    "digest",
    "stdin-media-type",
    "policy",
    "state-dir",
    "log",
    "insecure-registry",
    "uncovered",
    "timeout",
];

fn known(key: &str) -> Option<&'static str> {
    FLAGS.iter().copied().find(|f| *f == key)
}

fn once<T>(slot: &mut Option<T>, flag: &'static str, v: T) -> Result<(), ArgsError> {
    if slot.is_some() {
        return Err(ArgsError::Repeated(flag));
    }
    *slot = Some(v);
    Ok(())
}

impl Seen {
    fn set(
        &mut self,
        flag: &'static str,
        value: String,
        insecure: &mut Vec<String>,
    ) -> Result<(), ArgsError> {
        let bad = |reason: String| ArgsError::BadValue {
            flag,
            value: value.clone(),
            reason,
        };
        match flag {
            "name" => once(&mut self.name, flag, value),
            "digest" => once(&mut self.digest, flag, value),
            "stdin-media-type" => once(&mut self.media_type, flag, value),
            "policy" => once(&mut self.policy, flag, PathBuf::from(value)),
            "state-dir" => once(&mut self.state_dir, flag, PathBuf::from(value)),
            "log" => once(&mut self.log, flag, value),
            "insecure-registry" => {
                insecure.push(value);
                Ok(())
            }
            "uncovered" => {
                let u = value.parse::<Uncovered>().map_err(bad)?;
                once(&mut self.uncovered, flag, u)
            }
            _ => {
                let secs = parse_duration(&value).map_err(bad)?;
                if secs == 0 {
                    return Err(bad("the timeout must be at least 1s".to_string()));
                }
                once(&mut self.timeout, flag, Duration::from_secs(secs))
            }
        }
    }

    fn finish(self, insecure_registries: Vec<String>) -> Result<Call, ArgsError> {
        Ok(Call {
            name: self.name.ok_or(ArgsError::Missing("name"))?,
            digest: self.digest.ok_or(ArgsError::Missing("digest"))?,
            stdin_media_type: self
                .media_type
                .ok_or(ArgsError::Missing("stdin-media-type"))?,
            settings: Settings {
                policy: self.policy,
                state_dir: self.state_dir,
                log: self.log,
                insecure_registries,
                uncovered: self.uncovered.unwrap_or_default(),
                timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<Call, ArgsError> {
        parse_args(args.iter().map(OsString::from))
    }

    const CONTAINERD: [&str; 6] = [
        "-name",
        "docker.io/library/nginx:1",
        "-digest",
        "sha256:00",
        "-stdin-media-type",
        "application/vnd.oci.descriptor.v1+json",
    ];

    #[test]
    fn containerd_form_and_go_variants() {
        let c = parse(&CONTAINERD).unwrap();
        assert_eq!(c.name, "docker.io/library/nginx:1");
        assert_eq!(c.digest, "sha256:00");
        assert_eq!(c.settings, Settings::default());
        let c = parse(&[
            "--policy=/p",
            "-state-dir",
            "/s",
            "-insecure-registry",
            "a:1",
            "--insecure-registry=b:2",
            "-uncovered",
            "allow",
            "-timeout=3s",
            "-name=-x",
            "--digest",
            "-y",
            "-stdin-media-type=t",
        ])
        .unwrap();
        assert_eq!(c.name, "-x");
        assert_eq!(c.digest, "-y");
        assert_eq!(c.settings.policy, Some(PathBuf::from("/p")));
        assert_eq!(c.settings.insecure_registries, ["a:1", "b:2"]);
        assert_eq!(c.settings.uncovered, Uncovered::Allow);
        assert_eq!(c.settings.timeout, Duration::from_secs(3));
    }

    #[test]
    fn refuses_what_containerd_never_sends() {
        let with = |extra: &[&str]| {
            let mut v = CONTAINERD.to_vec();
            v.extend_from_slice(extra);
            parse(&v).unwrap_err()
        };
        assert_eq!(with(&["-name", "x"]), ArgsError::Repeated("name"));
        assert!(matches!(with(&["-verbose", "x"]), ArgsError::Unknown(_)));
        assert!(matches!(with(&["extra"]), ArgsError::Positional(_)));
        assert!(matches!(with(&["--", "extra"]), ArgsError::Positional(_)));
        assert_eq!(with(&["-policy"]), ArgsError::MissingValue("policy"));
        assert!(matches!(
            with(&["-uncovered", "maybe"]),
            ArgsError::BadValue { .. }
        ));
        assert!(matches!(
            with(&["-timeout", "0s"]),
            ArgsError::BadValue { .. }
        ));
        assert_eq!(
            parse(&CONTAINERD[..4]).unwrap_err(),
            ArgsError::Missing("stdin-media-type")
        );
        assert_eq!(parse(&[]).unwrap_err(), ArgsError::Missing("name"));
        let many = vec!["-insecure-registry"; MAX_ARGS + 1];
        assert!(matches!(parse(&many), Err(ArgsError::TooMany(_))));
    }
}
