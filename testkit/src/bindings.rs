//! Digests and signed bindings (`taglog/v1/binding` notes) for tests.

use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::hash::sha256;
use taglog_proofs::note::SignerKey;

/// A fixed binding time (2025-11-24) for tests that do not care about freshness.
pub const T0: u64 = 1_764_000_000;

/// A sha256 digest whose 32 bytes are all `byte`.
#[must_use]
pub fn filled(byte: u8) -> DigestValue {
    DigestValue::Sha256([byte; 32])
}

/// A sha256 digest that differs for every `n` (the SHA-256 of its big-endian bytes).
#[must_use]
pub fn digest(n: u64) -> DigestValue {
    DigestValue::Sha256(sha256(&n.to_be_bytes()).0)
}

/// A binding note for the log `log`, signed by `key`.
///
/// # Panics
/// When `reference` is not a canonical tag reference or signing fails.
#[must_use]
pub fn sign(
    key: &SignerKey,
    log: &str,
    reference: &str,
    digest: DigestValue,
    version: u64,
    time: u64,
) -> Vec<u8> {
    let b = Binding {
        log: log.to_owned(),
        reference: reference
            .parse()
            .unwrap_or_else(|e| panic!("reference {reference:?}: {e}")),
        digest,
        version,
        time,
    };
    sign_binding(&b, key).expect("sign the binding")
}

/// A binding note for a server with a generated key ([`crate::log_server::ORIGIN`]), at
/// [`T0`], with the digest [`filled`] with `digest_byte`.
///
/// # Panics
/// As [`sign`].
#[must_use]
pub fn binding(key: &SignerKey, reference: &str, version: u64, digest_byte: u8) -> Vec<u8> {
    sign(
        key,
        crate::log_server::ORIGIN,
        reference,
        filled(digest_byte),
        version,
        T0,
    )
}
