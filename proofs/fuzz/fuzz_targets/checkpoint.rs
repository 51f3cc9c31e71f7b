//! Checkpoints: `Checkpoint::parse` round trip on any UTF-8 text; `SignedCheckpoint::open`
//! with the vector log key never panics and, when it accepts, re-encodes the same bytes and
//! checks the vector witness's cosignature without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::checkpoint::{Checkpoint, SignedCheckpoint};
use taglog_proofs_fuzz::{log_key, witness_key};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Checkpoint::parse(text) {
            assert_eq!(c.to_text(), text, "checkpoint text does not re-encode");
            let built = Checkpoint::new(c.origin(), c.size(), c.root())
                .expect("Checkpoint::new rejects a parsed checkpoint");
            assert_eq!(built, c);
        }
    }
    if let Ok(signed) = SignedCheckpoint::open(data, log_key()) {
        assert_eq!(
            signed.to_bytes(),
            data,
            "signed checkpoint does not re-encode"
        );
        assert_eq!(signed.checkpoint().to_text(), signed.note().text());
        if let Ok(cosigs) = signed.cosignatures(std::slice::from_ref(witness_key())) {
            assert!(cosigs.len() <= 1);
        }
    }
});
