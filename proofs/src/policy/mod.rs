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
//! line), every name used by a group or the quorum was defined on an earlier line, each name is
//! a member of at most one group (so no witness counts twice toward the quorum), log keys are
//! Ed25519 (type 0x01) keys, witness keys are cosignature/v1 (type 0x04) keys, no public key is
//! listed twice, and every limit below holds. Whitespace is ASCII space and tab only; comments
//! are whole lines starting with `#`.
//!
//! Out of scope: fetching anything (URLs are kept as opaque strings), and the file's location.
//! One deviation from C2SP: the file must be UTF-8 (names become Rust strings); C2SP allows
//! arbitrary high-bit octets.

mod parse;
#[cfg(test)]
mod tests;

pub use parse::{format_duration, parse_duration};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::binding::DigestValue;
use crate::note::VerifierKey;
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
    /// A name listed as a member of a second group (C2SP tlog-policy: each defined name is a
    /// group member at most once, so a witness contributes to the quorum in one way only).
    #[error("policy line {line}: `{name}` is already a member of the group on line {first}; list each witness or group in at most one group, so that it counts once toward the quorum")]
    MemberOfTwoGroups {
        /// Line number.
        line: usize,
        /// The member name.
        name: String,
        /// The line of the group that lists it first.
        first: usize,
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
impl Policy {
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
