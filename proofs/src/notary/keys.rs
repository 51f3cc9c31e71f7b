//! Notary v1 public keys and signatures (notary `tuf/data/keys.go`, `tuf/signed/verifiers.go`).
//!
//! A key is `{"keytype": T, "keyval": {"private": null, "public": B64}}`, named by its key ID,
//! the lowercase hex SHA-256 of the key object's canonical JSON. Supported key types:
//! `ecdsa` (public = DER SubjectPublicKeyInfo of a P-256 key), `ecdsa-x509` (public = a PEM
//! X.509 certificate holding a P-256 key, usable only within its validity period) and
//! `ed25519` (public = the 32-byte key). Signature methods: `ecdsa` (raw `r ‖ s`, 64 bytes,
//! over SHA-256 of the message) for the two ECDSA types and `eddsa` for Ed25519, checked with
//! taglog's one Ed25519 predicate ([`ed25519_verify_strict`]).
//!
//! Guarantees: a key is usable only if its stated ID is the ID of its content (so one key
//! cannot be counted twice under two IDs) and its type and encoding are supported; otherwise
//! the reason is kept so that a threshold failure can say why. Out of scope: RSA keys (Notary
//! supports them, Docker Content Trust does not create them), private keys.

use std::collections::BTreeMap;

use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePublicKey as _;
use sha2::{Digest as _, Sha256};
use x509_cert::der::DecodePem as _;

use crate::b64;
use crate::note::ed25519_verify_strict;

use super::canonical::canonical_json;

/// Largest encoded public key or certificate accepted, in bytes of base64.
pub const MAX_PUBLIC_KEY_B64: usize = 16 * 1024;

/// Why a listed key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// The key ID is not the SHA-256 of the key's canonical JSON.
    #[error("key {id} is listed under an ID that is not the hash of its content")]
    IdMismatch {
        /// The stated ID.
        id: String,
    },
    /// A key type other than `ecdsa`, `ecdsa-x509` or `ed25519`.
    #[error("key {id} has type {keytype:?}; only ecdsa, ecdsa-x509 and ed25519 are supported")]
    Unsupported {
        /// The key ID.
        id: String,
        /// Its type.
        keytype: String,
    },
    /// The public key or certificate does not decode.
    #[error("key {id} ({keytype}) does not decode: {reason}")]
    Malformed {
        /// The key ID.
        id: String,
        /// Its type.
        keytype: String,
        /// What failed.
        reason: String,
    },
    /// The certificate is outside its validity period at the given time.
    #[error("the certificate of key {id} is valid only from {not_before} to {not_after} (Unix time), not at {now}")]
    CertificateNotValid {
        /// The key ID.
        id: String,
        /// Start of validity.
        not_before: u64,
        /// End of validity.
        not_after: u64,
        /// The time of the check.
        now: u64,
    },
}

/// A usable public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// A P-256 ECDSA key (from SPKI or from a certificate).
    Ecdsa(p256::ecdsa::VerifyingKey),
    /// An Ed25519 key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Whether `sig` is a valid signature of `message` by this key with `method`.
    ///
    /// Returns false for a method that does not belong to the key type or a signature of the
    /// wrong length.
    pub fn verify(&self, method: &str, message: &[u8], sig: &[u8]) -> bool {
        match (self, method) {
            (PublicKey::Ecdsa(k), "ecdsa") => {
                p256::ecdsa::Signature::from_slice(sig).is_ok_and(|s| k.verify(message, &s).is_ok())
            }
            (PublicKey::Ed25519(k), "eddsa") => ed25519_verify_strict(k, message, sig),
            _ => false,
        }
    }
}

/// A key table (`keys` of a root, or `delegations.keys` of a targets file): the usable keys
/// by ID, and why the others are not usable.
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    /// Usable keys by ID.
    pub usable: BTreeMap<String, PublicKey>,
    /// Unusable keys by ID, with the reason.
    pub problems: BTreeMap<String, KeyProblem>,
}

impl KeyTable {
    /// Builds the table from the JSON object `keys` at time `now` (for certificates).
    ///
    /// Never fails as a whole: a key that cannot be used is recorded in `problems`.
    pub fn from_json(keys: &serde_json::Map<String, serde_json::Value>, now: u64) -> KeyTable {
        let mut table = KeyTable::default();
        for (id, value) in keys {
            match parse_key(id, value, now) {
                Ok(k) => {
                    table.usable.insert(id.clone(), k);
                }
                Err(p) => {
                    table.problems.insert(id.clone(), p);
                }
            }
        }
        table
    }
}

fn parse_key(id: &str, value: &serde_json::Value, now: u64) -> Result<PublicKey, KeyProblem> {
    let malformed = |keytype: &str, reason: String| KeyProblem::Malformed {
        id: id.to_string(),
        keytype: keytype.to_string(),
        reason,
    };
    let keytype = value
        .get("keytype")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let canonical = canonical_json(value).map_err(|e| malformed(keytype, e.to_string()))?;
    if hex::encode(Sha256::digest(&canonical)) != id {
        return Err(KeyProblem::IdMismatch { id: id.to_string() });
    }
    let public = value
        .get("keyval")
        .and_then(|v| v.get("public"))
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed(keytype, "no keyval.public string".into()))?;
    if public.len() > MAX_PUBLIC_KEY_B64 {
        return Err(malformed(
            keytype,
            format!("public key is {} bytes of base64", public.len()),
        ));
    }
    let bytes = b64::decode(public).map_err(|e| malformed(keytype, format!("base64: {e}")))?;
    match keytype {
        "ecdsa" => p256::ecdsa::VerifyingKey::from_public_key_der(&bytes)
            .map(PublicKey::Ecdsa)
            .map_err(|e| malformed(keytype, format!("not a P-256 public key: {e}"))),
        "ecdsa-x509" => certificate_key(id, &bytes, now).map(PublicKey::Ecdsa),
        "ed25519" => {
            let raw: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| malformed(keytype, format!("{} bytes, not 32", bytes.len())))?;
            ed25519_dalek::VerifyingKey::from_bytes(&raw)
                .map(PublicKey::Ed25519)
                .map_err(|e| malformed(keytype, e.to_string()))
        }
        other => Err(KeyProblem::Unsupported {
            id: id.to_string(),
            keytype: other.to_string(),
        }),
    }
}

fn certificate_key(
    id: &str,
    pem: &[u8],
    now: u64,
) -> Result<p256::ecdsa::VerifyingKey, KeyProblem> {
    let malformed = |reason: String| KeyProblem::Malformed {
        id: id.to_string(),
        keytype: "ecdsa-x509".into(),
        reason,
    };
    let cert = x509_cert::Certificate::from_pem(pem)
        .map_err(|e| malformed(format!("not a PEM certificate: {e}")))?;
    let validity = &cert.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if now < not_before || now > not_after {
        return Err(KeyProblem::CertificateNotValid {
            id: id.to_string(),
            not_before,
            not_after,
            now,
        });
    }
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let der = x509_cert::der::Encode::to_der(spki).map_err(|e| malformed(e.to_string()))?;
    p256::ecdsa::VerifyingKey::from_public_key_der(&der)
        .map_err(|e| malformed(format!("the certificate does not hold a P-256 key: {e}")))
}
