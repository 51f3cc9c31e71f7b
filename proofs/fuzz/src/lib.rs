//! Shared fixtures for the fuzz targets: the public keys of the `log-small` vector log
//! (`proofs/tests/vectors/taglog/log-small/keys.json`) and its checkpoint text, so that
//! signature paths can be reached from seeds built from the same vectors.

use std::sync::OnceLock;

use taglog_proofs::note::VerifierKey;

/// The log's Ed25519 key (origin `log.example.org/taglog`).
pub const LOG_VKEY: &str =
    "log.example.org/taglog+53214941+AdDw7UtH2/V+5ocnma+5eu4mXDMYdWaogBZ/lJwUu/u1";
/// The witness's cosignature/v1 key.
pub const WITNESS_VKEY: &str =
    "witness.example+bf0ee454+BH9bCzhL+O2jNIFApXuf+SchU/Rk8qtFjq69cWEvQnFQ";
/// The publisher's Ed25519 key (the binding vectors' signer).
pub const PUBLISHER_VKEY: &str =
    "publisher.example+3b942ccf+ASG/kR3s9AYKwXkOcXRtgCuiZg/Se/OAnpXon/HsY3Ee";
/// The log's origin.
pub const ORIGIN: &str = "log.example.org/taglog";
/// The text of `log-small/checkpoint` (size 31), which the witness cosigned.
pub const CHECKPOINT_TEXT: &str =
    "log.example.org/taglog\n31\nir5Mbq3mQQ9a7RlG0xtcNbS7QRjqZECwKVegFu2VHpM=\n";

struct Keys {
    log: VerifierKey,
    witness: VerifierKey,
    publisher: VerifierKey,
    all: Vec<VerifierKey>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let parse = |s: &str| s.parse::<VerifierKey>().expect("fixture vkey parses");
        let (log, witness, publisher) =
            (parse(LOG_VKEY), parse(WITNESS_VKEY), parse(PUBLISHER_VKEY));
        let all = vec![log.clone(), witness.clone(), publisher.clone()];
        Keys {
            log,
            witness,
            publisher,
            all,
        }
    })
}

/// The log key.
pub fn log_key() -> &'static VerifierKey {
    &keys().log
}

/// The witness key.
pub fn witness_key() -> &'static VerifierKey {
    &keys().witness
}

/// The publisher key.
pub fn publisher_key() -> &'static VerifierKey {
    &keys().publisher
}

/// All three keys.
pub fn all_keys() -> &'static [VerifierKey] {
    &keys().all
}
