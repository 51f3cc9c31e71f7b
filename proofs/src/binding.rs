//! The binding statement: a publisher's signed `ref -> digest` claim (DESIGN §3.4).
//!
//! A binding is a C2SP signed note (parsed by [`crate::note`]) with exactly one signature
//! line, whose text is exactly these six lines, single spaces, `\n` endings:
//!
//! ```text
//! taglog/v1/binding
//! log <origin of the one log it is for>
//! ref <canonical reference>
//! digest sha256:<64 hex> | sha512:<128 hex> | withdrawn
//! version <1..2^63-1>
//! time <0..2^63-1>
//! ```
//!
//! This module guarantees that a [`SignedBinding`] came from bytes in exactly that form
//! (its `entry` is the leaf, byte for byte) and that [`SignedBinding::verify`] uses the one
//! signature predicate (`verify_strict`). It also holds the version rule as a pure function,
//! [`check_version`], shared by the server, monitor and witness.
//!
//! Out of scope, because they need log context: whether the signer was admitted for the ref
//! at the binding's index (publisher leaves, [`crate::leaves`]), which version was previous,
//! and the origin to compare with ([`SignedBinding::check_log`] takes it as an argument).

use std::fmt;
use std::str::FromStr;

use crate::hash::{leaf_hash, Hash};
use crate::note::{KeyError, KeyId, KeyName, KeyType, Note, NoteError, NoteSignature};
use crate::note::{SignerKey, VerifierKey, ED25519_SIGNATURE_LEN};
use crate::num::{parse_decimal, MAX_TEXT_NUMBER};
use crate::refs::{RefError, TagRef};

/// First line of every binding.
pub const BINDING_HEADER: &str = "taglog/v1/binding";
/// Largest binding entry accepted, in bytes: the longest valid binding (255-byte origin and
/// key name, 384-byte ref, sha512) is about 1.2 KiB. Checked before parsing.
pub const MAX_BINDING_BYTES: usize = 2048;
/// Smallest version.
pub const MIN_VERSION: u64 = 1;
/// Largest version a ref's first binding in a log may use (2³²). Later bindings are exactly
/// previous + 1, so no binding can push a tag's version out of reach.
pub const MAX_FIRST_VERSION: u64 = 1 << 32;
/// The name the shared contract used for [`MAX_FIRST_VERSION`].
pub const MAX_VERSION_FIRST: u64 = MAX_FIRST_VERSION;
/// The word that marks a withdrawal (S5).
pub const WITHDRAWN: &str = "withdrawn";

/// A malformed line-oriented text (binding statement or log-authored leaf).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The text is not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// A `\r`, tab or other control character: only `\n` line endings are allowed.
    #[error("control character 0x{0:02x}: use single spaces and \\n line endings only")]
    ControlCharacter(u8),
    /// The last line has no `\n`.
    #[error("the last line must end in \\n")]
    MissingFinalNewline,
    /// Too few or too many lines.
    #[error("{found} lines, expected exactly {expected}")]
    LineCount {
        /// Lines required.
        expected: usize,
        /// Lines present.
        found: usize,
    },
    /// A line does not have its required form.
    #[error("line {line} must be {expected:?} (one space, no trailing space)")]
    Line {
        /// 1-based line number.
        line: usize,
        /// The required form.
        expected: &'static str,
    },
}

/// Splits `text` into exactly `N` lines, each terminated by `\n`, with no control characters.
pub(crate) fn exact_lines<const N: usize>(text: &str) -> Result<[&str; N], TextError> {
    if let Some(b) = text.bytes().find(|&b| b < 0x20 && b != b'\n' || b == 0x7f) {
        return Err(TextError::ControlCharacter(b));
    }
    let body = text
        .strip_suffix('\n')
        .ok_or(TextError::MissingFinalNewline)?;
    let lines: Vec<&str> = body.split('\n').collect();
    let found = lines.len();
    <[&str; N]>::try_from(lines).map_err(|_| TextError::LineCount { expected: N, found })
}

/// Returns the value of a `<keyword> <value>` line (value non-empty; its own parser rejects
/// spaces inside it).
pub(crate) fn field<'a>(
    line: &'a str,
    keyword: &str,
    line_no: usize,
    expected: &'static str,
) -> Result<&'a str, TextError> {
    line.strip_prefix(keyword)
        .and_then(|rest| rest.strip_prefix(' '))
        .filter(|v| !v.is_empty() && !v.contains(' '))
        .ok_or(TextError::Line {
            line: line_no,
            expected,
        })
}

/// A digest that a registry reports for a manifest, lowercase hex, or a withdrawal.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestValue {
    /// `sha256:<64 lowercase hex>`.
    Sha256([u8; 32]),
    /// `sha512:<128 lowercase hex>`.
    Sha512([u8; 64]),
    /// `withdrawn`: the publisher withdrew the tag (S5).
    Withdrawn,
}

/// Why a digest string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Neither `sha256:`, `sha512:` nor the word `withdrawn`.
    #[error("digest {0:?}: expected sha256:<64 hex>, sha512:<128 hex> or withdrawn")]
    UnknownForm(String),
    /// Wrong length or not lowercase hex.
    #[error(
        "digest {0:?}: the hex must be lowercase and exactly as long as the algorithm's output"
    )]
    BadHex(String),
}

impl DigestValue {
    /// Whether this is a withdrawal.
    pub fn is_withdrawn(&self) -> bool {
        matches!(self, DigestValue::Withdrawn)
    }
}

fn lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl FromStr for DigestValue {
    type Err = DigestError;

    /// Strict: `sha256:`/`sha512:` with lowercase hex of the exact length, or `withdrawn`.
    ///
    /// # Errors
    /// [`DigestError`] for anything else (uppercase hex, other algorithms, `Withdrawn`).
    fn from_str(s: &str) -> Result<DigestValue, DigestError> {
        if s == WITHDRAWN {
            return Ok(DigestValue::Withdrawn);
        }
        let bad = || DigestError::BadHex(s.to_owned());
        match s.split_once(':') {
            Some(("sha256", h)) => lower_hex(h).map(DigestValue::Sha256).ok_or_else(bad),
            Some(("sha512", h)) => lower_hex(h).map(DigestValue::Sha512).ok_or_else(bad),
            _ => Err(DigestError::UnknownForm(s.to_owned())),
        }
    }
}

impl fmt::Display for DigestValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestValue::Sha256(d) => write!(f, "sha256:{}", hex::encode(d)),
            DigestValue::Sha512(d) => write!(f, "sha512:{}", hex::encode(d)),
            DigestValue::Withdrawn => f.write_str(WITHDRAWN),
        }
    }
}

impl fmt::Debug for DigestValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigestValue({self})")
    }
}

/// Why a binding was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// Larger than [`MAX_BINDING_BYTES`].
    #[error("binding is {0} bytes, more than the {MAX_BINDING_BYTES} allowed")]
    TooLarge(usize),
    /// Not a well-formed signed note.
    #[error("binding is not a well-formed signed note: {0}")]
    Note(#[from] NoteError),
    /// Not exactly one signature line.
    #[error("binding has {0} signature lines; it must have exactly one (the publisher's)")]
    SignatureCount(usize),
    /// The signature is not an Ed25519 signature (64 bytes after the key ID).
    #[error("binding signature is {0} bytes; an Ed25519 publisher signature is 64")]
    SignatureLength(usize),
    /// The first line is not [`BINDING_HEADER`].
    #[error("first line must be {BINDING_HEADER:?}")]
    Header,
    /// Wrong line count, order, spacing or line endings.
    #[error("malformed binding text: {0}")]
    Text(#[from] TextError),
    /// The `log` value is not a valid origin (key name).
    #[error("log origin is not a valid key name: {0}")]
    Origin(KeyError),
    /// The `ref` is invalid or not canonical.
    #[error("ref: {0}")]
    Ref(#[from] RefError),
    /// The `digest` is invalid.
    #[error("{0}")]
    Digest(#[from] DigestError),
    /// A number with a sign, leading zero, non-digit, or above 2⁶³−1.
    #[error("{field} {value:?}: decimal without leading zeros, at most 2^63-1")]
    Number {
        /// `version` or `time`.
        field: &'static str,
        /// What was written.
        value: String,
    },
    /// The entry does not re-encode to itself (a guard on the note parser's promise).
    #[error("binding entry is not in its canonical encoding")]
    NotCanonical,
    /// Version 0.
    #[error("version 0: versions start at 1")]
    VersionZero,
    /// The binding is for another log.
    #[error("binding is for log {found:?}, not for this log {expected:?}")]
    WrongLog {
        /// This log's origin.
        expected: String,
        /// The origin in the binding.
        found: String,
    },
    /// The signature line names another key than the one given.
    #[error("binding is signed by {found_name}+{found_id}, not by {expected_name}+{expected_id}")]
    WrongSigner {
        /// Name of the key given.
        expected_name: String,
        /// ID of the key given.
        expected_id: KeyId,
        /// Name on the signature line.
        found_name: String,
        /// ID on the signature line.
        found_id: KeyId,
    },
    /// None of the given keys signed it.
    #[error("binding is signed by {name}+{id}, which is not among the allowed publisher keys")]
    UnknownSigner {
        /// Name on the signature line.
        name: String,
        /// ID on the signature line.
        id: KeyId,
    },
    /// The key is not an Ed25519 (type 0x01) key.
    #[error("publisher keys are Ed25519 (type 0x01); {0} is a cosigner key")]
    KeyType(String),
    /// The signature does not verify (Ed25519 `verify_strict`).
    #[error("the publisher signature by {name}+{id} does not verify")]
    BadSignature {
        /// Key name.
        name: String,
        /// Key ID.
        id: KeyId,
    },
}

/// The six fields of a binding statement.
///
/// Fields are public for building a statement to sign; [`Binding::validate`] (called by
/// [`sign_binding`] and by every parser) enforces the ranges. Values that came out of
/// [`SignedBinding::parse`] are always valid.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Binding {
    /// Origin of the one log this binding is for.
    pub log: String,
    /// The canonical tag reference.
    pub reference: TagRef,
    /// The digest, or a withdrawal.
    pub digest: DigestValue,
    /// 1..=2⁶³−1; the version rule needs log context ([`check_version`]).
    pub version: u64,
    /// The publisher's Unix time, informative only; at most 2⁶³−1.
    pub time: u64,
}

fn number(field: &'static str, value: &str) -> Result<u64, BindingError> {
    parse_decimal(value).ok_or_else(|| BindingError::Number {
        field,
        value: value.to_owned(),
    })
}

impl Binding {
    /// Checks the ranges the text format imposes: origin a valid key name, version
    /// 1..=2⁶³−1, time ≤ 2⁶³−1.
    ///
    /// # Errors
    /// [`BindingError::Origin`], [`BindingError::VersionZero`] or [`BindingError::Number`].
    pub fn validate(&self) -> Result<(), BindingError> {
        KeyName::from_str(&self.log).map_err(BindingError::Origin)?;
        if self.version == 0 {
            return Err(BindingError::VersionZero);
        }
        for (field, v) in [("version", self.version), ("time", self.time)] {
            if v > MAX_TEXT_NUMBER {
                return Err(BindingError::Number {
                    field,
                    value: v.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The statement text (six lines, each ending in `\n`) that the publisher signs.
    pub fn to_text(&self) -> String {
        format!(
            "{BINDING_HEADER}\nlog {}\nref {}\ndigest {}\nversion {}\ntime {}\n",
            self.log, self.reference, self.digest, self.version, self.time
        )
    }

    /// Parses a statement text strictly (the inverse of [`Binding::to_text`]).
    ///
    /// # Errors
    /// [`BindingError::Text`] / [`BindingError::Header`] for the wrong lines, order or
    /// spacing, and the field errors ([`BindingError::Origin`], [`BindingError::Ref`] —
    /// including a non-canonical ref —, [`BindingError::Digest`], [`BindingError::Number`],
    /// [`BindingError::VersionZero`]).
    pub fn parse_text(text: &str) -> Result<Binding, BindingError> {
        if text.len() > MAX_BINDING_BYTES {
            return Err(BindingError::TooLarge(text.len()));
        }
        let [header, log, reference, digest, version, time] = exact_lines::<6>(text)?;
        if header != BINDING_HEADER {
            return Err(BindingError::Header);
        }
        let log = field(log, "log", 2, "log <origin>")?;
        let reference = field(reference, "ref", 3, "ref <canonical reference>")?;
        let digest = field(
            digest,
            "digest",
            4,
            "digest <sha256:hex|sha512:hex|withdrawn>",
        )?;
        let version = field(version, "version", 5, "version <decimal>")?;
        let time = field(time, "time", 6, "time <decimal>")?;
        let binding = Binding {
            log: log.to_owned(),
            reference: reference.parse()?,
            digest: digest.parse()?,
            version: number("version", version)?,
            time: number("time", time)?,
        };
        binding.validate()?;
        Ok(binding)
    }
}

/// Signs a binding with a publisher key; the result is the complete leaf entry.
///
/// # Errors
/// [`BindingError::KeyType`] for a cosigner key, the [`Binding::validate`] errors, and
/// [`BindingError::Note`] if the note cannot be built.
pub fn sign_binding(binding: &Binding, key: &SignerKey) -> Result<Vec<u8>, BindingError> {
    if key.key_type() != KeyType::Ed25519 {
        return Err(BindingError::KeyType(key.verifier().to_string()));
    }
    binding.validate()?;
    Ok(crate::note::sign_note(&binding.to_text(), &[key])?)
}

/// A binding parsed from a leaf entry. The signature is not yet checked: call
/// [`SignedBinding::verify`] (or [`SignedBinding::verify_any`]) before relying on it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SignedBinding {
    binding: Binding,
    entry: Vec<u8>,
    signature: NoteSignature,
}

impl SignedBinding {
    /// Parses a leaf entry strictly: at most [`MAX_BINDING_BYTES`], a signed note in exact
    /// form with exactly one 64-byte signature line, and a statement in exact form.
    ///
    /// # Errors
    /// [`BindingError::TooLarge`] (checked first), [`BindingError::Note`],
    /// [`BindingError::SignatureCount`], [`BindingError::SignatureLength`], and every error of
    /// [`Binding::parse_text`].
    pub fn parse(entry: &[u8]) -> Result<SignedBinding, BindingError> {
        if entry.len() > MAX_BINDING_BYTES {
            return Err(BindingError::TooLarge(entry.len()));
        }
        let note = Note::parse(entry)?;
        let [signature] = note.signatures() else {
            return Err(BindingError::SignatureCount(note.signatures().len()));
        };
        if signature.sig().len() != ED25519_SIGNATURE_LEN {
            return Err(BindingError::SignatureLength(signature.sig().len()));
        }
        let binding = Binding::parse_text(note.text())?;
        // Note::parse accepts only its canonical encoding and parse_text only canonical
        // fields; these guard both promises, so the signed text is the re-encoded one.
        if note.to_bytes() != entry || binding.to_text() != note.text() {
            return Err(BindingError::NotCanonical);
        }
        Ok(SignedBinding {
            signature: signature.clone(),
            binding,
            entry: entry.to_vec(),
        })
    }

    /// The parsed statement.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// The leaf entry, byte for byte.
    pub fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// The RFC 6962 leaf hash of the entry.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.entry)
    }

    /// The (name, key ID) the signature line claims.
    pub fn signer(&self) -> (&KeyName, KeyId) {
        (self.signature.name(), self.signature.id())
    }

    /// The signed statement text (what the signature covers).
    pub fn text(&self) -> String {
        self.binding.to_text()
    }

    /// Checks that the binding is for the log with this origin.
    ///
    /// # Errors
    /// [`BindingError::WrongLog`] otherwise.
    pub fn check_log(&self, origin: &str) -> Result<(), BindingError> {
        if self.binding.log == origin {
            Ok(())
        } else {
            Err(BindingError::WrongLog {
                expected: origin.to_owned(),
                found: self.binding.log.clone(),
            })
        }
    }

    /// Verifies the one signature with `key` (Ed25519 `verify_strict`).
    ///
    /// # Errors
    /// [`BindingError::KeyType`] for a cosigner key, [`BindingError::WrongSigner`] if the line
    /// names another key (name or key ID), [`BindingError::BadSignature`] if it does not verify.
    pub fn verify(&self, key: &VerifierKey) -> Result<(), BindingError> {
        if key.key_type() != KeyType::Ed25519 {
            return Err(BindingError::KeyType(key.to_string()));
        }
        if !key.matches(&self.signature) {
            return Err(BindingError::WrongSigner {
                expected_name: key.name().to_string(),
                expected_id: key.id(),
                found_name: self.signature.name().to_string(),
                found_id: self.signature.id(),
            });
        }
        if !key.verify_raw(self.binding.to_text().as_bytes(), self.signature.sig()) {
            return Err(BindingError::BadSignature {
                name: key.name().to_string(),
                id: key.id(),
            });
        }
        Ok(())
    }

    /// Verifies with whichever of `keys` the signature line names, and returns that key.
    ///
    /// # Errors
    /// [`BindingError::UnknownSigner`] if no key matches, else the errors of
    /// [`SignedBinding::verify`].
    pub fn verify_any<'k>(&self, keys: &'k [VerifierKey]) -> Result<&'k VerifierKey, BindingError> {
        let key = keys
            .iter()
            .find(|k| k.matches(&self.signature))
            .ok_or_else(|| BindingError::UnknownSigner {
                name: self.signature.name().to_string(),
                id: self.signature.id(),
            })?;
        self.verify(key)?;
        Ok(key)
    }
}

/// A version that breaks the version rule (DESIGN §3.4). The server answers 409 with
/// [`VersionError::expected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// A ref's first binding in a log must use 1 ≤ version ≤ 2³².
    #[error("version {version} is out of range for the first binding of a ref: use 1..={MAX_FIRST_VERSION}")]
    FirstOutOfRange {
        /// The version given.
        version: u64,
    },
    /// A later binding must be exactly previous + 1.
    #[error("version {version}: the current version is {previous}, so the next binding must be version {expected}")]
    NotNext {
        /// The current version.
        previous: u64,
        /// previous + 1.
        expected: u64,
        /// The version given.
        version: u64,
    },
    /// The current version is 2⁶³−1: no next version can be written.
    #[error(
        "version {previous} is the largest number allowed; this ref cannot be rebound in this log"
    )]
    Exhausted {
        /// The current version.
        previous: u64,
    },
}

impl VersionError {
    /// The version the next binding must use, when there is exactly one.
    pub fn expected(&self) -> Option<u64> {
        match self {
            VersionError::NotNext { expected, .. } => Some(*expected),
            VersionError::FirstOutOfRange { .. } | VersionError::Exhausted { .. } => None,
        }
    }
}

/// The version rule: with no previous binding of the ref in this log, 1 ≤ version ≤ 2³²;
/// otherwise version = previous + 1 (withdrawals included).
///
/// # Errors
/// [`VersionError`] naming what was expected.
pub fn check_version(previous: Option<u64>, version: u64) -> Result<(), VersionError> {
    match previous {
        None if (MIN_VERSION..=MAX_FIRST_VERSION).contains(&version) => Ok(()),
        None => Err(VersionError::FirstOutOfRange { version }),
        Some(previous) => match previous.checked_add(1).filter(|&n| n <= MAX_TEXT_NUMBER) {
            None => Err(VersionError::Exhausted { previous }),
            Some(expected) if expected == version => Ok(()),
            Some(expected) => Err(VersionError::NotNext {
                previous,
                expected,
                version,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rule() {
        assert!(check_version(None, 1).is_ok());
        assert!(check_version(None, MAX_FIRST_VERSION).is_ok());
        assert_eq!(
            check_version(None, 0),
            Err(VersionError::FirstOutOfRange { version: 0 })
        );
        assert!(check_version(None, MAX_FIRST_VERSION + 1).is_err());
        assert!(check_version(Some(MAX_FIRST_VERSION), MAX_FIRST_VERSION + 1).is_ok());
        let e = check_version(Some(7), 9).unwrap_err();
        assert_eq!(e.expected(), Some(8));
        assert!(check_version(Some(7), 7).is_err());
        assert!(check_version(Some(MAX_TEXT_NUMBER - 1), MAX_TEXT_NUMBER).is_ok());
        assert_eq!(
            check_version(Some(MAX_TEXT_NUMBER), 0),
            Err(VersionError::Exhausted {
                previous: MAX_TEXT_NUMBER
            })
        );
        assert!(check_version(Some(u64::MAX), 0).is_err());
    }

    #[test]
    fn digests() {
        let h = "ab".repeat(32);
        let d: DigestValue = format!("sha256:{h}").parse().unwrap();
        assert_eq!(d.to_string(), format!("sha256:{h}"));
        assert!(format!("sha256:{}", h.to_uppercase())
            .parse::<DigestValue>()
            .is_err());
        assert!(format!("sha512:{h}").parse::<DigestValue>().is_err());
        assert!("Withdrawn".parse::<DigestValue>().is_err());
        assert!("withdrawn".parse::<DigestValue>().unwrap().is_withdrawn());
        assert!("sha256:".parse::<DigestValue>().is_err());
    }
}
