//! Notary v1 (TUF) metadata: no input panics any reader; an input accepted as a timestamp
//! under the vector root is exactly what that root's timestamp key signed (re-reading its
//! canonical form gives the same version); canonical JSON is idempotent where the output is
//! JSON again; key tables and unverified readers never panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use taglog_proofs::notary::canonical::canonical_json;
use taglog_proofs::notary::keys::KeyTable;
use taglog_proofs::notary::{claimed_targets, claimed_version, TrustedRoot};

const ROOT: &[u8] = include_bytes!("../../tests/vectors/notary/good/root.json");
const GENERATED_AT: &str = include_str!("../../tests/vectors/notary/generated-at");

/// The vector root, pinned once: pinning verifies its signatures, which would otherwise be
/// most of each execution's time.
fn vector_root(now: u64) -> &'static TrustedRoot {
    static ROOT_PINNED: OnceLock<TrustedRoot> = OnceLock::new();
    ROOT_PINNED.get_or_init(|| TrustedRoot::pin(ROOT, now).expect("the vector root verifies"))
}

fuzz_target!(|data: &[u8]| {
    let now: u64 = GENERATED_AT.trim().parse::<u64>().expect("generated-at") + 60;
    check(data, now);
});

fn check(data: &[u8], now: u64) {
    let _ = claimed_version(data);
    let _ = claimed_targets(data);
    if let Ok(root) = TrustedRoot::pin(data, now) {
        let _ = root.check_fresh(data, now);
        let _ = root.rotate(data, now);
    }
    let root = vector_root(now);
    let _ = root.rotate(data, now);
    for role in ["timestamp", "snapshot", "targets"] {
        let _ = root.signed_version(role, data);
    }
    if let Ok(ts) = root.timestamp(data, now, 0) {
        let again = root
            .timestamp(data, now, ts.version())
            .expect("its own version is a floor it meets");
        assert_eq!(again.version(), ts.version());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Some(keys) = value.get("keys").and_then(serde_json::Value::as_object) {
        let _ = KeyTable::from_json(keys, now);
    }
    if let Ok(c) = canonical_json(&value) {
        if let Ok(v2) = serde_json::from_slice::<serde_json::Value>(&c) {
            assert_eq!(
                canonical_json(&v2).expect("canonical again"),
                c,
                "canonical JSON is not idempotent"
            );
        }
    }
}
