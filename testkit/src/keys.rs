//! Deterministic test keys and key files.
//!
//! Every key here comes from a fixed seed, so a test (and a fixture written by an earlier
//! version) always sees the same key. They are public test material: never use them elsewhere.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use taglog_proofs::note::{KeyName, KeyType, SignerKey};

/// An Ed25519 signing key named `name`, from 32 bytes of `seed`.
///
/// # Panics
/// When `name` is not a valid key name.
#[must_use]
pub fn ed25519(name: &str, seed: u8) -> SignerKey {
    let name: KeyName = name
        .parse()
        .unwrap_or_else(|e| panic!("key name {name:?}: {e}"));
    SignerKey::from_seed(name, KeyType::Ed25519, [seed; 32])
}

/// A witness cosignature key (C2SP tlog-cosignature) named `name`, from `seed`.
///
/// # Panics
/// When `name` is not a valid key name.
#[must_use]
pub fn cosigner(name: &str, seed: u8) -> SignerKey {
    let name: KeyName = name
        .parse()
        .unwrap_or_else(|e| panic!("key name {name:?}: {e}"));
    SignerKey::from_seed(name, KeyType::Cosignature, [seed; 32])
}

/// The log key of origin `log.test/taglog` from `seed` (a server started with
/// [`crate::log_server::LogServer::seeded`] signs with it).
#[must_use]
pub fn log(seed: u8) -> SignerKey {
    ed25519("log.test/taglog", seed)
}

/// The publisher a server started with the default allowlist admits for
/// [`crate::log_server::PREFIX`].
#[must_use]
pub fn publisher() -> SignerKey {
    ed25519("publisher.example/acme", 7)
}

/// A publisher key that is on no default allowlist.
#[must_use]
pub fn stranger() -> SignerKey {
    ed25519("stranger.example", 9)
}

/// Writes `key` to `path` as a private key file with mode 0600 (replacing any file there).
///
/// # Panics
/// When the file cannot be written.
pub fn write_key(path: &Path, key: &SignerKey) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("write key file {}: {e}", path.display()));
    writeln!(f, "{key}").expect("write the key");
}

/// Reads a private key file.
///
/// # Panics
/// When the file cannot be read or holds no key.
#[must_use]
pub fn read_key(path: &Path) -> SignerKey {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read key file {}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("key file {}: {e}", path.display()))
}

/// Two Ed25519 keys with the same name (`tenant.test`) and the same key ID (`4870f208`),
/// from the seeds `n.to_be_bytes() ‖ 0…` for n = 66 760 and 142 304 (found by a birthday
/// search over n): a tenant who grinds such a key must not shadow the other's.
///
/// # Panics
/// Never for these seeds (checked).
#[must_use]
pub fn colliding() -> (SignerKey, SignerKey) {
    let key = |n: u32| {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&n.to_be_bytes());
        let name: KeyName = "tenant.test".parse().expect("a valid key name");
        SignerKey::from_seed(name, KeyType::Ed25519, seed)
    };
    let (a, b) = (key(66_760), key(142_304));
    assert_eq!(a.id(), b.id(), "the two keys must share a key ID");
    assert_ne!(a.verifier(), b.verifier(), "the two keys must differ");
    (a, b)
}
