//! The signed envelope of every Notary metadata file (`{"signed": {...}, "signatures":
//! [...]}`), role thresholds, expiry and the file hashes that chain the roles together
//! (notary `tuf/signed/verify.go`, `tuf/data/types.go`).
//!
//! Guarantees: an [`Envelope`] came from at most [`MAX_METADATA_BYTES`] of JSON with at most
//! [`MAX_SIGNATURES`] signatures; a threshold counts each key once, only keys listed for the
//! role, only usable keys ([`super::keys`]), and only signatures over the canonical encoding of
//! the parsed `signed` value. Out of scope: which keys a role has (see [`super::roles`]).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256, Sha512};

use super::canonical::canonical_json;
use super::keys::KeyTable;
use super::NotaryError;
use crate::b64;

/// Largest metadata file accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 8 * 1024 * 1024;
/// Most signatures on one metadata file.
pub const MAX_SIGNATURES: usize = 64;
/// Most keys a role may list.
pub const MAX_ROLE_KEYS: usize = 64;
/// Largest signature accepted, in bytes (P-256 and Ed25519 signatures are 64).
pub const MAX_SIGNATURE_BYTES: usize = 512;

/// One signature line.
#[derive(Debug, Clone)]
struct Signature {
    keyid: String,
    method: String,
    sig: Vec<u8>,
}

/// A parsed metadata file: the `signed` value, its canonical bytes and the signatures.
#[derive(Debug, Clone)]
pub struct Envelope {
    role: String,
    signed: serde_json::Value,
    canonical: Vec<u8>,
    signatures: Vec<Signature>,
}

/// The keys and threshold of one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleKeys {
    /// Key IDs (distinct).
    pub keyids: BTreeSet<String>,
    /// Signatures needed (≥ 1).
    pub threshold: u64,
}

/// Length and hashes of a file (`meta` entries and targets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Length in bytes.
    pub length: u64,
    /// SHA-256, if listed.
    pub sha256: Option<[u8; 32]>,
    /// SHA-512, if listed.
    pub sha512: Option<[u8; 64]>,
}

fn malformed(role: &str, reason: impl Into<String>) -> NotaryError {
    NotaryError::Malformed {
        role: role.to_string(),
        reason: reason.into(),
    }
}

impl Envelope {
    /// Parses a metadata file of `role`.
    ///
    /// # Errors
    /// [`NotaryError::TooLarge`], or [`NotaryError::Malformed`] when it is not JSON of the
    /// envelope's shape, a signature is not base64 or too long, or `signed` has no canonical
    /// encoding (a floating-point number).
    pub fn open(role: &str, bytes: &[u8]) -> Result<Envelope, NotaryError> {
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(NotaryError::TooLarge {
                role: role.to_string(),
                len: bytes.len(),
                limit: MAX_METADATA_BYTES,
            });
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| malformed(role, e.to_string()))?;
        let signed = value
            .get_mut("signed")
            .filter(|s| s.is_object())
            .map(serde_json::Value::take)
            .ok_or_else(|| malformed(role, "no `signed` object"))?;
        let list = value
            .get("signatures")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| malformed(role, "no `signatures` array"))?;
        if list.len() > MAX_SIGNATURES {
            return Err(malformed(
                role,
                format!(
                    "{} signatures; at most {MAX_SIGNATURES} are read",
                    list.len()
                ),
            ));
        }
        let signatures = list
            .iter()
            .map(|s| signature(role, s))
            .collect::<Result<Vec<_>, _>>()?;
        let canonical = canonical_json(&signed).map_err(|e| malformed(role, e.to_string()))?;
        Ok(Envelope {
            role: role.to_string(),
            signed,
            canonical,
            signatures,
        })
    }

    /// The `signed` value (use only after [`Envelope::check_threshold`]).
    pub fn signed(&self) -> &serde_json::Value {
        &self.signed
    }

    /// The role this file was read as.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// Checks that at least `role.threshold` distinct keys of `role` signed the canonical
    /// bytes.
    ///
    /// # Errors
    /// [`NotaryError::Threshold`] with the number of valid signatures and, for each key of
    /// the role that did not count, why.
    pub fn check_threshold(&self, keys: &KeyTable, role: &RoleKeys) -> Result<(), NotaryError> {
        let mut valid = BTreeSet::new();
        let mut problems = Vec::new();
        for id in &role.keyids {
            let Some(key) = keys.usable.get(id) else {
                problems.push(keys.problems.get(id).map_or_else(
                    || format!("key {id} is not in the key table"),
                    ToString::to_string,
                ));
                continue;
            };
            let mine: Vec<&Signature> = self.signatures.iter().filter(|s| &s.keyid == id).collect();
            if mine
                .iter()
                .any(|s| key.verify(&s.method, &self.canonical, &s.sig))
            {
                valid.insert(id.clone());
            } else if mine.is_empty() {
                problems.push(format!("no signature by key {id}"));
            } else {
                problems.push(format!("the signature by key {id} does not verify"));
            }
        }
        let count = valid.len() as u64;
        if count < role.threshold {
            return Err(NotaryError::Threshold {
                role: self.role.clone(),
                valid: count,
                threshold: role.threshold,
                problems: problems.join("; "),
            });
        }
        Ok(())
    }
}

fn signature(role: &str, s: &serde_json::Value) -> Result<Signature, NotaryError> {
    let field = |name: &str| {
        s.get(name)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| malformed(role, format!("a signature has no `{name}` string")))
    };
    let sig_b64 = field("sig")?;
    if sig_b64.len() > MAX_SIGNATURE_BYTES * 2 {
        return Err(malformed(role, "a signature is too long"));
    }
    let sig = b64::decode(sig_b64).map_err(|e| malformed(role, format!("signature: {e}")))?;
    Ok(Signature {
        keyid: field("keyid")?.to_string(),
        method: field("method")?.to_string(),
        sig,
    })
}

/// Reads `{"keyids": [...], "threshold": n}`.
///
/// # Errors
/// [`NotaryError::Malformed`] for a missing or duplicate key ID list, more than
/// [`MAX_ROLE_KEYS`] keys, or a threshold of 0 or above the number of keys.
pub fn role_keys(role: &str, v: &serde_json::Value) -> Result<RoleKeys, NotaryError> {
    let ids = v
        .get("keyids")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| malformed(role, "role has no `keyids` array"))?;
    if ids.len() > MAX_ROLE_KEYS {
        return Err(malformed(role, format!("role lists {} keys", ids.len())));
    }
    let mut keyids = BTreeSet::new();
    for id in ids {
        let id = id
            .as_str()
            .ok_or_else(|| malformed(role, "a key ID is not a string"))?;
        if !keyids.insert(id.to_string()) {
            return Err(malformed(role, format!("key {id} is listed twice")));
        }
    }
    let threshold = v
        .get("threshold")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| malformed(role, "role has no integer `threshold`"))?;
    if threshold == 0 || threshold > keyids.len() as u64 {
        return Err(malformed(
            role,
            format!(
                "threshold {threshold} with {} keys can never be met safely",
                keyids.len()
            ),
        ));
    }
    Ok(RoleKeys { keyids, threshold })
}

/// The common header of `signed`: checks `_type`, returns the version, and checks that the
/// file has not expired at `now`.
///
/// # Errors
/// [`NotaryError::Malformed`] for a wrong `_type`, a version that is not a positive integer
/// or an `expires` that is not RFC 3339; [`NotaryError::Expired`] after `expires`.
pub fn header(env: &Envelope, expected_type: &str, now: u64) -> Result<u64, NotaryError> {
    let role = env.role();
    let s = env.signed();
    let ty = s.get("_type").and_then(serde_json::Value::as_str);
    if ty != Some(expected_type) {
        return Err(malformed(
            role,
            format!("`_type` is {ty:?}, expected {expected_type:?}"),
        ));
    }
    let version = s
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .filter(|v| *v >= 1)
        .ok_or_else(|| malformed(role, "`version` is not a positive integer"))?;
    let expires_text = s
        .get("expires")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed(role, "no `expires` string"))?;
    let expires =
        time::OffsetDateTime::parse(expires_text, &time::format_description::well_known::Rfc3339)
            .map_err(|e| malformed(role, format!("`expires` {expires_text:?}: {e}")))?
            .unix_timestamp();
    if i128::from(now) > i128::from(expires) {
        return Err(NotaryError::Expired {
            role: role.to_string(),
            expires: expires_text.to_string(),
        });
    }
    Ok(version)
}

/// Reads a `meta` entry or a target: `{"length": n, "hashes": {"sha256": b64, ...}}`.
///
/// # Errors
/// [`NotaryError::Malformed`] for a missing length, a hash that is not base64 of the right
/// length, or neither `sha256` nor `sha512`.
pub fn file_meta(role: &str, what: &str, v: &serde_json::Value) -> Result<FileMeta, NotaryError> {
    let length = v
        .get("length")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| malformed(role, format!("{what} has no integer `length`")))?;
    let hashes = v
        .get("hashes")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| malformed(role, format!("{what} has no `hashes` object")))?;
    let hash = |alg: &str| -> Result<Option<Vec<u8>>, NotaryError> {
        hashes
            .get(alg)
            .map(|h| {
                h.as_str()
                    .and_then(|s| b64::decode(s).ok())
                    .ok_or_else(|| malformed(role, format!("{what}: {alg} is not base64")))
            })
            .transpose()
    };
    let sha256 = hash("sha256")?
        .map(|h| <[u8; 32]>::try_from(h.as_slice()))
        .transpose()
        .map_err(|_| malformed(role, format!("{what}: sha256 is not 32 bytes")))?;
    let sha512 = hash("sha512")?
        .map(|h| <[u8; 64]>::try_from(h.as_slice()))
        .transpose()
        .map_err(|_| malformed(role, format!("{what}: sha512 is not 64 bytes")))?;
    if sha256.is_none() && sha512.is_none() {
        return Err(malformed(
            role,
            format!("{what} lists neither sha256 nor sha512"),
        ));
    }
    Ok(FileMeta {
        length,
        sha256,
        sha512,
    })
}

impl FileMeta {
    /// Checks that `bytes` (the file of `role`) has this length and every listed hash.
    ///
    /// # Errors
    /// [`NotaryError::LengthMismatch`] or [`NotaryError::HashMismatch`].
    pub fn check(&self, role: &str, bytes: &[u8]) -> Result<(), NotaryError> {
        if bytes.len() as u64 != self.length {
            return Err(NotaryError::LengthMismatch {
                role: role.to_string(),
                expected: self.length,
                found: bytes.len() as u64,
            });
        }
        let sha256_ok = match self.sha256 {
            Some(h) => Sha256::digest(bytes).as_slice() == h,
            None => true,
        };
        let sha512_ok = match self.sha512 {
            Some(h) => Sha512::digest(bytes).as_slice() == h,
            None => true,
        };
        if !(sha256_ok && sha512_ok) {
            return Err(NotaryError::HashMismatch {
                role: role.to_string(),
            });
        }
        Ok(())
    }
}

/// Reads an object member as a map of [`FileMeta`] (a snapshot's or timestamp's `meta`).
///
/// # Errors
/// [`NotaryError::Malformed`] for a missing object or a malformed entry.
pub fn meta_map(env: &Envelope) -> Result<BTreeMap<String, FileMeta>, NotaryError> {
    let role = env.role();
    let meta = env
        .signed()
        .get("meta")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| malformed(role, "no `meta` object"))?;
    meta.iter()
        .map(|(name, v)| Ok((name.clone(), file_meta(role, name, v)?)))
        .collect()
}
