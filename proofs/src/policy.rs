//! Trust policy: C2SP tlog-policy (<https://c2sp.org/tlog-policy>) plus taglog's own lines
//! (DESIGN §3.9).
//!
//! C2SP lines keep their C2SP meaning: `log <vkey> [url]`, `witness <name> <vkey> [url]`,
//! `group <name> <k|any|all> <member>...`, `quorum <name|none>` (exactly one). taglog adds
//! `publisher <ref-prefix> <vkey> [log-origin]`, `remap <pulled-prefix> <signed-prefix>`,
//! `max-age <duration>` (default 1h), `pin <ref> <digest>`, `floor <origin> <size>` and
//! `insecure-registry <host[:port]>`.
//!
//! Guarantees: a [`Policy`] exists only if the whole file parsed strictly (every error names its
//! line), every name used by a group or the quorum was defined on an earlier line, log keys are
//! Ed25519 (type 0x01) keys, witness keys are cosignature/v1 (type 0x04) keys, no public key is
//! listed twice, and every limit below holds. Whitespace is ASCII space and tab only; comments
//! are whole lines starting with `#`.
//!
//! Out of scope: fetching anything (URLs are kept as opaque strings), and the file's location.
//! One deviation from C2SP: the file must be UTF-8 (names become Rust strings); C2SP allows
//! arbitrary high-bit octets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::binding::DigestValue;
use crate::note::{KeyType, VerifierKey};
use crate::refs::{RefPrefix, TagRef};

/// Largest policy file accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Most `log` lines (C2SP recommends supporting at least 32).
pub const MAX_LOGS: usize = 32;
/// Most `witness` lines.
pub const MAX_WITNESSES: usize = 32;
/// Most `group` lines.
pub const MAX_GROUPS: usize = 32;
/// Most members of one group.
pub const MAX_GROUP_MEMBERS: usize = 64;
/// Most `publisher` lines.
pub const MAX_PUBLISHERS: usize = 1024;
/// Most `remap` lines.
pub const MAX_REMAPS: usize = 256;
/// Most `pin` lines.
pub const MAX_PINS: usize = 1024;
/// Most `floor` lines.
pub const MAX_FLOORS: usize = 32;
/// Most `insecure-registry` lines.
pub const MAX_INSECURE_REGISTRIES: usize = 64;
/// Largest `max-age` (and `--accept-stale`) duration: 366 days, in seconds.
pub const MAX_DURATION_SECS: u64 = 366 * 24 * 3600;
/// `max-age` when the policy does not set one: one hour.
pub const DEFAULT_MAX_AGE_SECS: u64 = 3600;
/// Candidate witness sets `check()` enumerates before giving up on the disjointness check.
pub const MAX_QUORUM_SETS: usize = 4096;

/// Why a policy file was rejected. Line numbers start at 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The file is larger than [`MAX_POLICY_BYTES`].
    #[error("policy file is {found} bytes, at most {MAX_POLICY_BYTES} are allowed: shorten it")]
    TooLarge {
        /// Its size.
        found: usize,
    },
    /// The file is not UTF-8.
    #[error("policy line {line}: not valid UTF-8; write names and comments in UTF-8")]
    NotUtf8 {
        /// Line number.
        line: usize,
    },
    /// A byte outside tab, newline, 0x20-0x7E and 0x80-0xFF (C2SP character set).
    #[error("policy line {line}: control character 0x{byte:02x}; only tab and newline are allowed (CRLF files must be converted to LF)")]
    ControlCharacter {
        /// Line number.
        line: usize,
        /// The offending byte.
        byte: u8,
    },
    /// A line that does not follow its keyword's grammar.
    #[error("policy line {line}: {reason}; expected `{expected}`")]
    Syntax {
        /// Line number.
        line: usize,
        /// What is wrong.
        reason: String,
        /// The grammar of that line.
        expected: &'static str,
    },
    /// A line starting with an unknown keyword.
    #[error("policy line {line}: unknown keyword `{keyword}`; expected one of log, witness, group, quorum, publisher, remap, max-age, pin, floor, insecure-registry (comments are whole lines starting with #)")]
    UnknownKeyword {
        /// Line number.
        line: usize,
        /// The first word.
        keyword: String,
    },
    /// A vkey that does not parse or has the wrong type for its role.
    #[error("policy line {line}: bad {role} key `{key}`: {reason}")]
    BadKey {
        /// Line number.
        line: usize,
        /// log, witness or publisher.
        role: &'static str,
        /// The key text.
        key: String,
        /// Why.
        reason: String,
    },
    /// A second log or witness line wrapping an already listed public key.
    #[error("policy line {line}: the public key of `{key}` is already listed on line {first}; each log and witness key may appear once")]
    DuplicateKey {
        /// Line number.
        line: usize,
        /// The earlier line.
        first: usize,
        /// The key text.
        key: String,
    },
    /// A witness or group name defined twice, or the reserved name `none`.
    #[error("policy line {line}: the name `{name}` is {why}")]
    BadName {
        /// Line number.
        line: usize,
        /// The name.
        name: String,
        /// "already defined on line N" or "reserved".
        why: String,
    },
    /// A group member or quorum naming something not defined on an earlier line.
    #[error("policy line {line}: `{name}` is not a witness or group defined on an earlier line")]
    UndefinedName {
        /// Line number.
        line: usize,
        /// The name.
        name: String,
    },
    /// A limit was exceeded.
    #[error("policy line {line}: more than {limit} {what}")]
    Limit {
        /// Line number.
        line: usize,
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A second quorum, max-age, floor or pin for the same thing.
    #[error("policy line {line}: {what} is already set on line {first}")]
    Repeated {
        /// Line number.
        line: usize,
        /// The earlier line.
        first: usize,
        /// What was repeated.
        what: String,
    },
    /// No `quorum` line.
    #[error("policy has no `quorum` line: add `quorum <witness or group>` or `quorum none` (the log alone then vouches for freshness)")]
    MissingQuorum,
    /// A publisher line without a log origin although several logs are listed, or naming an
    /// unknown log.
    #[error("policy line {line}: {reason}")]
    PublisherLog {
        /// Line number.
        line: usize,
        /// Why.
        reason: String,
    },
}

/// A `log <vkey> [url]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The log key; its name is the log's origin.
    pub key: VerifierKey,
    /// Optional URL (opaque).
    pub url: Option<String>,
    /// Line number in the file.
    pub line: usize,
}

impl LogEntry {
    /// The log's origin (= the key name).
    pub fn origin(&self) -> &str {
        self.key.name().as_str()
    }
}

/// A `witness <name> <vkey> [url]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessEntry {
    /// Policy-local name.
    pub name: String,
    /// Cosigner key (type 0x04).
    pub key: VerifierKey,
    /// Optional URL.
    pub url: Option<String>,
    /// Line number.
    pub line: usize,
}

/// A `group <name> <k|any|all> <members...>` line, with `any`/`all` resolved to a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// The threshold word as written (`any`, `all` or a number), kept for export.
    pub threshold_text: String,
    /// How many members must witness: 1 ≤ k ≤ members.len().
    pub threshold: usize,
    /// Member names (witnesses or earlier groups), each at most once.
    pub members: Vec<String>,
}

/// The `quorum` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quorum {
    /// `quorum none`: no cosignature needed; the state leaf's time must be fresh instead.
    None,
    /// A witness or group name.
    Name(String),
}

/// A `publisher <prefix> <vkey> [log-origin]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherRule {
    /// Refs this key may bind.
    pub prefix: RefPrefix,
    /// Publisher key (type 0x01).
    pub key: VerifierKey,
    /// Origin of the log where refs under this prefix are looked up.
    pub log: String,
    /// Line number.
    pub line: usize,
}

/// A `remap <pulled-prefix> <signed-prefix>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemapRule {
    /// Prefix of the reference as pulled (e.g. a mirror).
    pub pulled: RefPrefix,
    /// Prefix the publisher signed.
    pub signed: RefPrefix,
}

/// A `pin <ref> <digest>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRule {
    /// The signed reference.
    pub reference: TagRef,
    /// The pinned digest (sha256 or sha512, never `withdrawn`).
    pub digest: DigestValue,
}

/// A warning from [`Policy::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyWarning {
    /// `quorum none`: freshness rests on the log alone.
    QuorumNone,
    /// Two witness sets without a common member each satisfy the quorum (a split view can be
    /// cosigned by each half).
    DisjointQuorums {
        /// One set.
        first: Vec<String>,
        /// Another set, disjoint from the first.
        second: Vec<String>,
    },
    /// The quorum is too complex for the disjointness check.
    TooComplexToCheck,
    /// No `publisher` line: every verification will fail with a policy error.
    NoPublishers,
}

impl std::fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyWarning::QuorumNone => f.write_str(
                "quorum none: no witness vouches for freshness; the log alone can replay an old view (as in Notary v1). Add witnesses and a quorum.",
            ),
            PolicyWarning::DisjointQuorums { first, second } => write!(
                f,
                "witness sets {{{}}} and {{{}}} share no member but each meets the quorum: a log could get two inconsistent views cosigned. Raise the thresholds so any two quorums overlap.",
                first.join(", "),
                second.join(", ")
            ),
            PolicyWarning::TooComplexToCheck => write!(
                f,
                "the quorum has more than {MAX_QUORUM_SETS} minimal witness sets; disjointness was not checked"
            ),
            PolicyWarning::NoPublishers => f.write_str(
                "no publisher lines: no reference is covered, so every verification fails. Add `publisher <ref-prefix> <vkey>`.",
            ),
        }
    }
}

/// A parsed, validated trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<LogEntry>,
    witnesses: Vec<WitnessEntry>,
    groups: Vec<GroupEntry>,
    quorum: Quorum,
    publishers: Vec<PublisherRule>,
    remaps: Vec<RemapRule>,
    max_age: u64,
    pins: Vec<PinRule>,
    floors: BTreeMap<String, u64>,
    insecure_registries: Vec<String>,
}

/// Parses a duration: one or more `<decimal><unit>` groups, units `s`, `m`, `h`, `d`
/// (e.g. `90s`, `15m`, `1h30m`, `14d`), at most [`MAX_DURATION_SECS`].
///
/// # Errors
/// Returns a description of the defect for empty input, a missing or unknown unit, a number
/// with leading zeros, or a total above the limit.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (num, tail) = rest.split_at_checked(digits).ok_or("bad duration")?;
        let mut chars = tail.chars();
        let unit = chars.next().ok_or_else(|| {
            format!("duration `{s}` lacks a unit: write e.g. 90s, 15m, 1h or 14d")
        })?;
        let n = crate::num::parse_decimal(num).ok_or_else(|| {
            format!("duration `{s}`: `{num}` is not a decimal number without leading zeros")
        })?;
        let mult = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            other => {
                return Err(format!(
                    "duration `{s}`: unknown unit `{other}` (use s, m, h or d)"
                ))
            }
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= MAX_DURATION_SECS)
            .ok_or_else(|| {
                format!(
                    "duration `{s}` is longer than {} days",
                    MAX_DURATION_SECS / 86400
                )
            })?;
        rest = chars.as_str();
    }
    Ok(total)
}

/// Formats seconds as the shortest `d`/`h`/`m`/`s` duration `parse_duration` reads back.
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [('d', 86400u64), ('h', 3600), ('m', 60), ('s', 1)] {
        let n = rest / size;
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
            rest %= size;
        }
    }
    out
}

const G_LOG: &str = "log <vkey> [url]";
const G_WITNESS: &str = "witness <name> <vkey> [url]";
const G_GROUP: &str = "group <name> <k|any|all> <member>...";
const G_QUORUM: &str = "quorum <name|none>";
const G_PUBLISHER: &str = "publisher <ref-prefix> <vkey> [log-origin]";
const G_REMAP: &str = "remap <pulled-prefix> <signed-prefix>";
const G_MAXAGE: &str = "max-age <duration, e.g. 1h>";
const G_PIN: &str = "pin <ref> <sha256:hex>";
const G_FLOOR: &str = "floor <origin> <size>";
const G_INSECURE: &str = "insecure-registry <host[:port]>";

fn syntax(line: usize, reason: impl Into<String>, expected: &'static str) -> PolicyError {
    PolicyError::Syntax {
        line,
        reason: reason.into(),
        expected,
    }
}

fn check_count(
    line: usize,
    len: usize,
    limit: usize,
    what: &'static str,
) -> Result<(), PolicyError> {
    if len >= limit {
        return Err(PolicyError::Limit { line, what, limit });
    }
    Ok(())
}

fn parse_key(
    line: usize,
    role: &'static str,
    text: &str,
    want: KeyType,
) -> Result<VerifierKey, PolicyError> {
    let key: VerifierKey = text.parse().map_err(|e| PolicyError::BadKey {
        line,
        role,
        key: text.to_string(),
        reason: format!("{e}"),
    })?;
    if key.key_type() != want {
        return Err(PolicyError::BadKey {
            line,
            role,
            key: text.to_string(),
            reason: format!(
                "a {role} key must have type {want:?}, found {:?}",
                key.key_type()
            ),
        });
    }
    Ok(key)
}

/// Intermediate state while parsing; publishers are resolved against logs at the end.
#[derive(Default)]
struct Builder {
    logs: Vec<LogEntry>,
    witnesses: Vec<WitnessEntry>,
    groups: Vec<GroupEntry>,
    quorum: Option<(Quorum, usize)>,
    publishers: Vec<(RefPrefix, VerifierKey, Option<String>, usize)>,
    remaps: Vec<RemapRule>,
    max_age: Option<(u64, usize)>,
    pins: Vec<(PinRule, usize)>,
    floors: BTreeMap<String, (u64, usize)>,
    insecure: Vec<String>,
    /// Witness and group names -> defining line.
    names: BTreeMap<String, usize>,
    /// Log and witness public keys -> first line.
    keys: BTreeMap<[u8; 32], usize>,
}

impl Builder {
    fn add_key(&mut self, line: usize, key: &VerifierKey, text: &str) -> Result<(), PolicyError> {
        let raw = key.public_key().to_bytes();
        if let Some(first) = self.keys.get(&raw) {
            return Err(PolicyError::DuplicateKey {
                line,
                first: *first,
                key: text.to_string(),
            });
        }
        self.keys.insert(raw, line);
        Ok(())
    }

    fn define_name(&mut self, line: usize, name: &str) -> Result<(), PolicyError> {
        if name == "none" {
            return Err(PolicyError::BadName {
                line,
                name: name.into(),
                why: "reserved (it means \"no quorum\")".into(),
            });
        }
        if let Some(first) = self.names.get(name) {
            return Err(PolicyError::BadName {
                line,
                name: name.into(),
                why: format!("already defined on line {first}"),
            });
        }
        self.names.insert(name.to_string(), line);
        Ok(())
    }

    fn line(&mut self, n: usize, words: &[&str]) -> Result<(), PolicyError> {
        match words {
            ["log", rest @ ..] => self.log(n, rest),
            ["witness", rest @ ..] => self.witness(n, rest),
            ["group", rest @ ..] => self.group(n, rest),
            ["quorum", rest @ ..] => self.quorum(n, rest),
            ["publisher", rest @ ..] => self.publisher(n, rest),
            ["remap", rest @ ..] => self.remap(n, rest),
            ["max-age", rest @ ..] => self.max_age(n, rest),
            ["pin", rest @ ..] => self.pin(n, rest),
            ["floor", rest @ ..] => self.floor(n, rest),
            ["insecure-registry", rest @ ..] => self.insecure(n, rest),
            [kw, ..] => Err(PolicyError::UnknownKeyword {
                line: n,
                keyword: (*kw).to_string(),
            }),
            [] => Ok(()),
        }
    }

    fn log(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let (key_text, url) = match w {
            [k] => (*k, None),
            [k, u] => (*k, Some((*u).to_string())),
            _ => return Err(syntax(n, format!("{} words after `log`", w.len()), G_LOG)),
        };
        check_count(n, self.logs.len(), MAX_LOGS, "log lines")?;
        let key = parse_key(n, "log", key_text, KeyType::Ed25519)?;
        self.add_key(n, &key, key_text)?;
        self.logs.push(LogEntry { key, url, line: n });
        Ok(())
    }

    fn witness(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let (name, key_text, url) = match w {
            [name, k] => (*name, *k, None),
            [name, k, u] => (*name, *k, Some((*u).to_string())),
            _ => {
                return Err(syntax(
                    n,
                    format!("{} words after `witness`", w.len()),
                    G_WITNESS,
                ))
            }
        };
        check_count(n, self.witnesses.len(), MAX_WITNESSES, "witness lines")?;
        let key = parse_key(n, "witness", key_text, KeyType::Cosignature)?;
        self.define_name(n, name)?;
        self.add_key(n, &key, key_text)?;
        self.witnesses.push(WitnessEntry {
            name: name.to_string(),
            key,
            url,
            line: n,
        });
        Ok(())
    }

    fn group(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let [name, k, members @ ..] = w else {
            return Err(syntax(n, "missing name or threshold", G_GROUP));
        };
        if members.is_empty() {
            return Err(syntax(n, "a group needs at least one member", G_GROUP));
        }
        check_count(n, self.groups.len(), MAX_GROUPS, "group lines")?;
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(PolicyError::Limit {
                line: n,
                what: "group members",
                limit: MAX_GROUP_MEMBERS,
            });
        }
        let threshold = match *k {
            "any" => 1,
            "all" => members.len(),
            num => {
                let v = crate::num::parse_decimal(num).ok_or_else(|| {
                    syntax(
                        n,
                        format!("threshold `{num}` is not any, all or a decimal number"),
                        G_GROUP,
                    )
                })?;
                let v = usize::try_from(v).unwrap_or(usize::MAX);
                if v == 0 || v > members.len() {
                    return Err(syntax(
                        n,
                        format!(
                            "threshold {v} is outside 1..={} (the number of members)",
                            members.len()
                        ),
                        G_GROUP,
                    ));
                }
                v
            }
        };
        let mut seen = BTreeSet::new();
        for m in members {
            if !self.names.contains_key(*m) {
                return Err(PolicyError::UndefinedName {
                    line: n,
                    name: (*m).to_string(),
                });
            }
            if !seen.insert(*m) {
                return Err(syntax(n, format!("member `{m}` is listed twice"), G_GROUP));
            }
        }
        self.define_name(n, name)?;
        self.groups.push(GroupEntry {
            name: (*name).to_string(),
            threshold_text: (*k).to_string(),
            threshold,
            members: members.iter().map(|m| (*m).to_string()).collect(),
        });
        Ok(())
    }

    fn quorum(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let [name] = w else {
            return Err(syntax(
                n,
                format!("{} words after `quorum`", w.len()),
                G_QUORUM,
            ));
        };
        if let Some((_, first)) = &self.quorum {
            return Err(PolicyError::Repeated {
                line: n,
                first: *first,
                what: "the quorum".into(),
            });
        }
        let q = if *name == "none" {
            Quorum::None
        } else if self.names.contains_key(*name) {
            Quorum::Name((*name).to_string())
        } else {
            return Err(PolicyError::UndefinedName {
                line: n,
                name: (*name).to_string(),
            });
        };
        self.quorum = Some((q, n));
        Ok(())
    }

    fn publisher(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let (prefix, key_text, log) = match w {
            [p, k] => (*p, *k, None),
            [p, k, l] => (*p, *k, Some((*l).to_string())),
            _ => {
                return Err(syntax(
                    n,
                    format!("{} words after `publisher`", w.len()),
                    G_PUBLISHER,
                ))
            }
        };
        check_count(n, self.publishers.len(), MAX_PUBLISHERS, "publisher lines")?;
        let prefix: RefPrefix = prefix
            .parse()
            .map_err(|e| syntax(n, format!("bad ref prefix `{prefix}`: {e}"), G_PUBLISHER))?;
        let key = parse_key(n, "publisher", key_text, KeyType::Ed25519)?;
        self.publishers.push((prefix, key, log, n));
        Ok(())
    }

    fn remap(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let [from, to] = w else {
            return Err(syntax(
                n,
                format!("{} words after `remap`", w.len()),
                G_REMAP,
            ));
        };
        check_count(n, self.remaps.len(), MAX_REMAPS, "remap lines")?;
        let pulled: RefPrefix = from
            .parse()
            .map_err(|e| syntax(n, format!("bad pulled prefix `{from}`: {e}"), G_REMAP))?;
        let signed: RefPrefix = to
            .parse()
            .map_err(|e| syntax(n, format!("bad signed prefix `{to}`: {e}"), G_REMAP))?;
        if self.remaps.iter().any(|r| r.pulled == pulled) {
            return Err(syntax(
                n,
                format!("prefix `{from}` is already remapped"),
                G_REMAP,
            ));
        }
        self.remaps.push(RemapRule { pulled, signed });
        Ok(())
    }

    fn max_age(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let [d] = w else {
            return Err(syntax(
                n,
                format!("{} words after `max-age`", w.len()),
                G_MAXAGE,
            ));
        };
        if let Some((_, first)) = self.max_age {
            return Err(PolicyError::Repeated {
                line: n,
                first,
                what: "max-age".into(),
            });
        }
        let secs = parse_duration(d).map_err(|e| syntax(n, e, G_MAXAGE))?;
        if secs == 0 {
            return Err(syntax(
                n,
                "max-age 0 would reject every cosignature",
                G_MAXAGE,
            ));
        }
        self.max_age = Some((secs, n));
        Ok(())
    }

    fn pin(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let [r, d] = w else {
            return Err(syntax(n, format!("{} words after `pin`", w.len()), G_PIN));
        };
        check_count(n, self.pins.len(), MAX_PINS, "pin lines")?;
        let reference: TagRef = r
            .parse()
            .map_err(|e| syntax(n, format!("`{r}` is not a canonical reference: {e}"), G_PIN))?;
        let digest: DigestValue = d
            .parse()
            .map_err(|e| syntax(n, format!("bad digest `{d}`: {e}"), G_PIN))?;
        if matches!(digest, DigestValue::Withdrawn) {
            return Err(syntax(n, "cannot pin `withdrawn`", G_PIN));
        }
        if let Some((_, first)) = self.pins.iter().find(|(p, _)| p.reference == reference) {
            return Err(PolicyError::Repeated {
                line: n,
                first: *first,
                what: format!("a pin for {r}"),
            });
        }
        self.pins.push((PinRule { reference, digest }, n));
        Ok(())
    }

    fn floor(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let [origin, size] = w else {
            return Err(syntax(
                n,
                format!("{} words after `floor`", w.len()),
                G_FLOOR,
            ));
        };
        check_count(n, self.floors.len(), MAX_FLOORS, "floor lines")?;
        let size = crate::num::parse_decimal(size)
            .ok_or_else(|| syntax(n, format!("size `{size}` is not a decimal number"), G_FLOOR))?;
        if let Some((_, first)) = self.floors.get(*origin) {
            return Err(PolicyError::Repeated {
                line: n,
                first: *first,
                what: format!("a floor for {origin}"),
            });
        }
        self.floors.insert((*origin).to_string(), (size, n));
        Ok(())
    }

    fn insecure(&mut self, n: usize, w: &[&str]) -> Result<(), PolicyError> {
        let [host] = w else {
            return Err(syntax(
                n,
                format!("{} words after `insecure-registry`", w.len()),
                G_INSECURE,
            ));
        };
        check_count(
            n,
            self.insecure.len(),
            MAX_INSECURE_REGISTRIES,
            "insecure-registry lines",
        )?;
        // A registry host is a prefix of exactly the host component.
        let p: RefPrefix = host
            .parse()
            .map_err(|e| syntax(n, format!("bad registry host `{host}`: {e}"), G_INSECURE))?;
        if host.contains('/') || p.as_str() != *host {
            return Err(syntax(
                n,
                format!("`{host}` is not a bare host[:port]"),
                G_INSECURE,
            ));
        }
        self.insecure.push((*host).to_string());
        Ok(())
    }

    fn finish(self) -> Result<Policy, PolicyError> {
        let Some((quorum, _)) = self.quorum else {
            return Err(PolicyError::MissingQuorum);
        };
        let mut publishers = Vec::with_capacity(self.publishers.len());
        for (prefix, key, log, line) in self.publishers {
            let log = match (log, self.logs.as_slice()) {
                (Some(origin), logs) => {
                    if !logs.iter().any(|l| l.origin() == origin) {
                        return Err(PolicyError::PublisherLog {
                            line,
                            reason: format!("log `{origin}` is not listed on any `log` line"),
                        });
                    }
                    origin
                }
                (None, [only]) => only.origin().to_string(),
                (None, []) => {
                    return Err(PolicyError::PublisherLog {
                        line,
                        reason: "no `log` line: add `log <log vkey> [url]`".into(),
                    })
                }
                (None, _) => {
                    return Err(PolicyError::PublisherLog {
                        line,
                        reason: "several logs are listed: name the log origin as the third word"
                            .into(),
                    })
                }
            };
            publishers.push(PublisherRule {
                prefix,
                key,
                log,
                line,
            });
        }
        Ok(Policy {
            logs: self.logs,
            witnesses: self.witnesses,
            groups: self.groups,
            quorum,
            publishers,
            remaps: self.remaps,
            max_age: self.max_age.map_or(DEFAULT_MAX_AGE_SECS, |(s, _)| s),
            pins: self.pins.into_iter().map(|(p, _)| p).collect(),
            floors: self.floors.into_iter().map(|(k, (v, _))| (k, v)).collect(),
            insecure_registries: self.insecure,
        })
    }
}

fn split_words(line: &str) -> Vec<&str> {
    line.split([' ', '\t']).filter(|w| !w.is_empty()).collect()
}

impl Policy {
    /// Parses a policy file strictly.
    ///
    /// # Errors
    /// Returns the first [`PolicyError`], naming its line.
    pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge { found: bytes.len() });
        }
        let mut b = Builder::default();
        for (i, raw) in bytes.split(|c| *c == b'\n').enumerate() {
            let n = i.saturating_add(1);
            if let Some(bad) = raw
                .iter()
                .find(|c| **c != b'\t' && (**c < 0x20 || **c == 0x7f))
            {
                return Err(PolicyError::ControlCharacter {
                    line: n,
                    byte: *bad,
                });
            }
            let text = std::str::from_utf8(raw).map_err(|_| PolicyError::NotUtf8 { line: n })?;
            let trimmed = text.trim_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            b.line(n, &split_words(trimmed))?;
        }
        b.finish()
    }

    /// The `log` lines.
    pub fn logs(&self) -> &[LogEntry] {
        &self.logs
    }
    /// The log with this origin.
    pub fn log(&self, origin: &str) -> Option<&LogEntry> {
        self.logs.iter().find(|l| l.origin() == origin)
    }
    /// The `witness` lines.
    pub fn witnesses(&self) -> &[WitnessEntry] {
        &self.witnesses
    }
    /// The `group` lines.
    pub fn groups(&self) -> &[GroupEntry] {
        &self.groups
    }
    /// The quorum.
    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }
    /// The `publisher` lines.
    pub fn publishers(&self) -> &[PublisherRule] {
        &self.publishers
    }
    /// The `remap` lines.
    pub fn remaps(&self) -> &[RemapRule] {
        &self.remaps
    }
    /// Freshness bound in seconds (default [`DEFAULT_MAX_AGE_SECS`]).
    pub fn max_age(&self) -> u64 {
        self.max_age
    }
    /// The `pin` lines.
    pub fn pins(&self) -> &[PinRule] {
        &self.pins
    }
    /// The pinned digest for a signed reference, if any.
    pub fn pin_for(&self, r: &TagRef) -> Option<&DigestValue> {
        self.pins
            .iter()
            .find(|p| &p.reference == r)
            .map(|p| &p.digest)
    }
    /// The floor for a log origin (0 if none).
    pub fn floor(&self, origin: &str) -> u64 {
        self.floors.get(origin).copied().unwrap_or(0)
    }
    /// The `insecure-registry` hosts.
    pub fn insecure_registries(&self) -> &[String] {
        &self.insecure_registries
    }
    /// Whether `host[:port]` is marked insecure (plain HTTP).
    pub fn is_insecure_registry(&self, host: &str) -> bool {
        self.insecure_registries.iter().any(|h| h == host)
    }

    /// Applies the longest matching `remap` rule once (DESIGN §3.3): the reference the
    /// publisher signed for a reference as pulled. Without a matching rule it is unchanged.
    ///
    /// # Errors
    /// Returns a description when the remapped reference is not valid (e.g. too long).
    pub fn signed_ref(&self, pulled: &TagRef) -> Result<TagRef, String> {
        match crate::refs::longest_match(&self.remaps, |r| &r.pulled, pulled) {
            None => Ok(pulled.clone()),
            Some(rule) => crate::refs::remap(pulled, &rule.pulled, &rule.signed).map_err(|e| {
                format!(
                    "remapping {} with `remap {} {}`: {e}",
                    pulled.as_str(),
                    rule.pulled.as_str(),
                    rule.signed.as_str()
                )
            }),
        }
    }

    /// The publisher lines covering a signed reference. Every covering line's key is allowed
    /// (a union, as in the server's allowlist); all of them name the same log unless the
    /// policy is ambiguous, which [`Policy::log_for`] reports.
    pub fn publishers_for<'a>(
        &'a self,
        r: &'a TagRef,
    ) -> impl Iterator<Item = &'a PublisherRule> + 'a {
        self.publishers.iter().filter(move |p| p.prefix.matches(r))
    }

    /// The log in which a signed reference is looked up.
    ///
    /// # Errors
    /// Returns a description if no `publisher` line covers the reference (a policy error,
    /// never a pass), or if covering lines name different logs.
    pub fn log_for(&self, r: &TagRef) -> Result<&LogEntry, String> {
        let mut origins: Vec<&str> = self.publishers_for(r).map(|p| p.log.as_str()).collect();
        origins.sort_unstable();
        origins.dedup();
        match origins.as_slice() {
            [] => Err(format!(
                "no `publisher` line covers {}: add `publisher <prefix> <vkey>` for it to the policy",
                r.as_str()
            )),
            [one] => self
                .log(one)
                .ok_or_else(|| format!("log {one} is not listed")),
            many => Err(format!(
                "{} is covered by publisher lines of several logs ({}); keep one",
                r.as_str(),
                many.join(", ")
            )),
        }
    }

    /// Whether a set of witnesses (by policy name) satisfies the quorum. `quorum none` is
    /// satisfied by any set (the caller then checks the state leaf's time).
    pub fn quorum_met(&self, witnessed: &BTreeSet<String>) -> bool {
        match &self.quorum {
            Quorum::None => true,
            Quorum::Name(q) => self.name_met(q, witnessed),
        }
    }

    fn name_met(&self, name: &str, witnessed: &BTreeSet<String>) -> bool {
        // Groups reference only earlier names, so evaluating in definition order terminates.
        let mut met: BTreeSet<&str> = self
            .witnesses
            .iter()
            .filter(|w| witnessed.contains(&w.name))
            .map(|w| w.name.as_str())
            .collect();
        for g in &self.groups {
            let count = g
                .members
                .iter()
                .filter(|m| met.contains(m.as_str()))
                .count();
            if count >= g.threshold {
                met.insert(g.name.as_str());
            }
        }
        met.contains(name)
    }

    /// The C2SP subset (`log`, `witness`, `group`, `quorum` lines) for other C2SP tools.
    pub fn export_c2sp(&self) -> String {
        let mut out = String::new();
        for l in &self.logs {
            let _ = write!(out, "log {}", l.key);
            if let Some(u) = &l.url {
                let _ = write!(out, " {u}");
            }
            out.push('\n');
        }
        for w in &self.witnesses {
            let _ = write!(out, "witness {} {}", w.name, w.key);
            if let Some(u) = &w.url {
                let _ = write!(out, " {u}");
            }
            out.push('\n');
        }
        for g in &self.groups {
            let _ = writeln!(
                out,
                "group {} {} {}",
                g.name,
                g.threshold_text,
                g.members.join(" ")
            );
        }
        match &self.quorum {
            Quorum::None => out.push_str("quorum none\n"),
            Quorum::Name(n) => {
                let _ = writeln!(out, "quorum {n}");
            }
        }
        out
    }

    /// Warnings about a valid but weak policy: `quorum none`, two disjoint witness sets that
    /// each meet the quorum, no publishers.
    pub fn check(&self) -> Vec<PolicyWarning> {
        let mut out = Vec::new();
        if self.publishers.is_empty() {
            out.push(PolicyWarning::NoPublishers);
        }
        let q = match &self.quorum {
            Quorum::None => {
                out.push(PolicyWarning::QuorumNone);
                return out;
            }
            Quorum::Name(q) => q,
        };
        match self.minimal_sets(q) {
            None => out.push(PolicyWarning::TooComplexToCheck),
            Some(sets) => {
                'outer: for (i, a) in sets.iter().enumerate() {
                    for b in sets.iter().skip(i.saturating_add(1)) {
                        if a.is_disjoint(b) {
                            out.push(PolicyWarning::DisjointQuorums {
                                first: a.iter().cloned().collect(),
                                second: b.iter().cloned().collect(),
                            });
                            break 'outer;
                        }
                    }
                }
            }
        }
        out
    }

    /// Candidate witness sets satisfying `name`: for a witness, itself; for a group, the
    /// unions of one candidate of each of k members. Every satisfying set contains one of
    /// them (the quorum is monotone), so two disjoint satisfying sets exist iff two disjoint
    /// candidates do. `None` if more than [`MAX_QUORUM_SETS`] arise.
    fn minimal_sets(&self, name: &str) -> Option<Vec<BTreeSet<String>>> {
        let mut table: BTreeMap<&str, Vec<BTreeSet<String>>> = BTreeMap::new();
        for w in &self.witnesses {
            table.insert(w.name.as_str(), vec![BTreeSet::from([w.name.clone()])]);
        }
        for g in &self.groups {
            let member_sets: Vec<&Vec<BTreeSet<String>>> = g
                .members
                .iter()
                .filter_map(|m| table.get(m.as_str()))
                .collect();
            let mut result: Vec<BTreeSet<String>> = Vec::new();
            combine(&member_sets, g.threshold, 0, BTreeSet::new(), &mut result)?;
            result.sort();
            result.dedup();
            table.insert(g.name.as_str(), result);
        }
        table.remove(name)
    }
}

/// Chooses `k` more members from `members[start..]`, one candidate set each, unioned into
/// `acc`. Returns `None` when the result grows beyond [`MAX_QUORUM_SETS`].
fn combine(
    members: &[&Vec<BTreeSet<String>>],
    k: usize,
    start: usize,
    acc: BTreeSet<String>,
    out: &mut Vec<BTreeSet<String>>,
) -> Option<()> {
    if k == 0 {
        if out.len() >= MAX_QUORUM_SETS {
            return None;
        }
        out.push(acc);
        return Some(());
    }
    for i in start..members.len() {
        let Some(sets) = members.get(i) else { break };
        for s in sets.iter() {
            let mut next = acc.clone();
            next.extend(s.iter().cloned());
            combine(members, k.saturating_sub(1), i.saturating_add(1), next, out)?;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::SignerKey;

    fn vkey(name: &str, t: KeyType, seed: u8) -> String {
        SignerKey::from_seed(name.parse().unwrap(), t, [seed; 32])
            .verifier()
            .to_string()
    }

    fn base() -> String {
        format!(
            "log {}\nwitness a {}\nwitness b {}\nwitness c {}\n",
            vkey("log.example/taglog", KeyType::Ed25519, 1),
            vkey("wa", KeyType::Cosignature, 2),
            vkey("wb", KeyType::Cosignature, 3),
            vkey("wc", KeyType::Cosignature, 4)
        )
    }

    fn publisher() -> String {
        format!(
            "publisher registry.example/acme {}\n",
            vkey("pub", KeyType::Ed25519, 5)
        )
    }

    #[test]
    fn parses_all_lines() {
        let text = format!(
            "  # comment\n\n{}group two 2 a b c\ngroup q all two\nquorum q\n{}remap mirror.local/acme registry.example/acme\nmax-age 1h30m\t\npin registry.example/acme/app:1 sha256:{}\nfloor log.example/taglog 10\ninsecure-registry localhost:5000\n",
            base(),
            publisher(),
            "ab".repeat(32)
        );
        let p = Policy::parse(text.as_bytes()).unwrap();
        assert_eq!(p.logs().len(), 1);
        assert_eq!(p.witnesses().len(), 3);
        assert_eq!(p.groups()[0].threshold, 2);
        assert_eq!(p.groups()[1].threshold, 1);
        assert_eq!(p.max_age(), 5400);
        assert_eq!(p.floor("log.example/taglog"), 10);
        assert_eq!(p.floor("other"), 0);
        assert!(p.is_insecure_registry("localhost:5000"));
        assert_eq!(p.publishers()[0].log, "log.example/taglog");
        let pulled: TagRef = "mirror.local/acme/app:1".parse().unwrap();
        assert_eq!(
            p.signed_ref(&pulled).unwrap().as_str(),
            "registry.example/acme/app:1"
        );
        let signed = p.signed_ref(&pulled).unwrap();
        assert!(p.pin_for(&signed).is_some());
        assert_eq!(p.log_for(&signed).unwrap().origin(), "log.example/taglog");
        let other: TagRef = "registry.example/other/app:1".parse().unwrap();
        assert!(p.log_for(&other).is_err());
        let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert!(p.quorum_met(&set(&["a", "c"])));
        assert!(!p.quorum_met(&set(&["a"])));
        assert!(p.check().is_empty(), "{:?}", p.check());
        // export is C2SP only and parses again (with a publisher-free check).
        let c2sp = p.export_c2sp();
        assert!(!c2sp.contains("publisher") && !c2sp.contains("max-age"));
        let again = Policy::parse(c2sp.as_bytes()).unwrap();
        assert_eq!(again.export_c2sp(), c2sp);
        assert_eq!(again.groups(), p.groups());
    }

    #[test]
    fn check_warns() {
        let p =
            Policy::parse(format!("{}quorum none\n{}", base(), publisher()).as_bytes()).unwrap();
        assert_eq!(p.check(), vec![PolicyWarning::QuorumNone]);
        let p = Policy::parse(
            format!("{}group g any a b c\nquorum g\n{}", base(), publisher()).as_bytes(),
        )
        .unwrap();
        assert!(matches!(
            p.check().as_slice(),
            [PolicyWarning::DisjointQuorums { .. }]
        ));
        let p = Policy::parse(
            format!("{}group g 2 a b c\nquorum g\n{}", base(), publisher()).as_bytes(),
        )
        .unwrap();
        assert!(p.check().is_empty());
        let p = Policy::parse(format!("{}group g 2 a b c\nquorum g\n", base()).as_bytes()).unwrap();
        assert_eq!(p.check(), vec![PolicyWarning::NoPublishers]);
        // Nested: (a and b) or c — {a,b} and {c} are disjoint.
        let p = Policy::parse(
            format!(
                "{}group ab all a b\ngroup q any ab c\nquorum q\n{}",
                base(),
                publisher()
            )
            .as_bytes(),
        )
        .unwrap();
        match p.check().as_slice() {
            [PolicyWarning::DisjointQuorums { first, second }] => {
                assert_eq!(first.len() + second.len(), 3);
            }
            w => panic!("{w:?}"),
        }
    }

    #[test]
    fn errors_name_their_line() {
        let cases: Vec<(String, usize)> = vec![
            (format!("{}quorum x\n", base()), 5),
            (format!("{}quorum none\nquorum none\n", base()), 6),
            (format!("{}group g 4 a b c\nquorum g\n", base()), 5),
            (format!("{}group g 0 a b c\nquorum g\n", base()), 5),
            (format!("{}group g any a a\nquorum g\n", base()), 5),
            (format!("{}group a any b\nquorum a\n", base()), 5),
            (format!("{}group none any b\nquorum none\n", base()), 5),
            (
                format!(
                    "{}witness d {}\nquorum none\n",
                    base(),
                    vkey("wa", KeyType::Cosignature, 2)
                ),
                5,
            ),
            (
                format!(
                    "{}witness d {}\nquorum none\n",
                    base(),
                    vkey("wd", KeyType::Ed25519, 9)
                ),
                5,
            ),
            (format!("{}quorum none\nmax-age 1x\n", base()), 6),
            (format!("{}quorum none\nmax-age 01h\n", base()), 6),
            (format!("{}quorum none\nmax-age 367d\n", base()), 6),
            (
                format!("{}quorum none\nmax-age 1h\nmax-age 2h\n", base()),
                7,
            ),
            (format!("{}quorum none\nfrobnicate\n", base()), 6),
            (
                format!(
                    "{}quorum none\npublisher Registry.example/acme {}\n",
                    base(),
                    vkey("p", KeyType::Ed25519, 5)
                ),
                6,
            ),
            (
                format!(
                    "{}quorum none\npublisher registry.example/acme {} other.log\n",
                    base(),
                    vkey("p", KeyType::Ed25519, 5)
                ),
                6,
            ),
            (
                format!(
                    "{}quorum none\npin registry.example/a:1 withdrawn\n",
                    base()
                ),
                6,
            ),
            (
                format!(
                    "{}quorum none\npin nginx sha256:{}\n",
                    base(),
                    "ab".repeat(32)
                ),
                6,
            ),
            (format!("{}quorum none\nfloor o 01\n", base()), 6),
            (
                format!(
                    "{}quorum none\ninsecure-registry localhost:5000/x\n",
                    base()
                ),
                6,
            ),
            (format!("{}quorum none\nremap a.example/x\n", base()), 6),
            (format!("{}quorum none\nlog a b c\n", base()), 6),
            (format!("{}quorum none # trailing comment\n", base()), 5),
            (format!("{}quorum none\r\n", base()), 5),
        ];
        for (text, line) in &cases {
            let e = Policy::parse(text.as_bytes()).unwrap_err();
            assert!(
                e.to_string().contains(&format!("line {line}")),
                "{e} (want line {line})\n{text}"
            );
        }
        assert_eq!(
            Policy::parse(base().as_bytes()).unwrap_err(),
            PolicyError::MissingQuorum
        );
        let big = vec![b'#'; MAX_POLICY_BYTES + 1];
        assert!(matches!(
            Policy::parse(&big),
            Err(PolicyError::TooLarge { .. })
        ));
        // Two logs: a publisher must name one.
        let two = format!(
            "{}log {}\nquorum none\n{}",
            base(),
            vkey("log2.example/taglog", KeyType::Ed25519, 8),
            publisher()
        );
        assert!(matches!(
            Policy::parse(two.as_bytes()),
            Err(PolicyError::PublisherLog { line: 7, .. })
        ));
        let named = two.trim_end().to_string() + " log2.example/taglog\n";
        let p = Policy::parse(named.as_bytes()).unwrap();
        assert_eq!(p.publishers()[0].log, "log2.example/taglog");
    }

    #[test]
    fn limits_are_enforced() {
        let mut text = String::new();
        for i in 0..=MAX_WITNESSES {
            text.push_str(&format!(
                "witness w{i} {}\n",
                vkey(&format!("w{i}"), KeyType::Cosignature, i as u8)
            ));
        }
        assert!(matches!(
            Policy::parse(text.as_bytes()),
            Err(PolicyError::Limit {
                what: "witness lines",
                ..
            })
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("14d"), Ok(14 * 86400));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        for bad in [
            "",
            "h",
            "1",
            "1y",
            "-1h",
            "1h ",
            "366d1s",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for s in [1u64, 59, 60, 3600, 5400, 86400 + 61] {
            assert_eq!(parse_duration(&format_duration(s)), Ok(s));
        }
    }
}
