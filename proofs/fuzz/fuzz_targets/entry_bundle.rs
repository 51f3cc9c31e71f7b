//! Entry bundles: the first byte (plus one if the second byte is odd, so 0..=256 is reachable)
//! is the expected entry count, the rest the bundle; decoding never panics and an accepted
//! bundle re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::tiles::{decode_entry_bundle, encode_entry_bundle};

fuzz_target!(|data: &[u8]| {
    let [count, bump, bundle @ ..] = data else {
        return;
    };
    let count = usize::from(*count) + usize::from(bump & 1);
    let Ok(entries) = decode_entry_bundle(bundle, count) else {
        return;
    };
    assert_eq!(entries.len(), count);
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    let encoded = encode_entry_bundle(&refs).expect("decoded entries re-encode");
    assert_eq!(encoded, bundle, "entry bundle does not re-encode");
});
