//! The strict line parser behind [`Policy::parse`]: one method per keyword, limits checked
//! before anything is stored, every error naming its line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::binding::DigestValue;
use crate::note::{KeyType, VerifierKey};
use crate::refs::{RefPrefix, TagRef};

use super::{
    GroupEntry, LogEntry, PinRule, Policy, PolicyError, PublisherRule, Quorum, RemapRule,
    WitnessEntry, DEFAULT_MAX_AGE_SECS, MAX_DURATION_SECS, MAX_FLOORS, MAX_GROUPS,
    MAX_GROUP_MEMBERS, MAX_INSECURE_REGISTRIES, MAX_LOGS, MAX_PINS, MAX_POLICY_BYTES,
    MAX_PUBLISHERS, MAX_REMAPS, MAX_WITNESSES,
};

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
    /// Names listed as a group member -> the line of that group.
    members: BTreeMap<String, usize>,
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
            if let Some(first) = self.members.get(*m) {
                return Err(PolicyError::MemberOfTwoGroups {
                    line: n,
                    name: (*m).to_string(),
                    first: *first,
                });
            }
        }
        for m in members {
            self.members.insert((*m).to_string(), n);
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
}
