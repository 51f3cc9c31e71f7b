//! cosignature/v1 verification on arbitrary signature lines. The input's first line is
//! parsed as a signature line (round trip asserted) and verified over the rest of the input
//! as checkpoint text (or the vector checkpoint if the rest is not UTF-8); the whole input
//! is also verified as raw signature bytes under the vector witness's name and key ID, which
//! reaches the length, time and signature checks directly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::cosignature::verify_cosignature;
use taglog_proofs::note::NoteSignature;
use taglog_proofs::num::MAX_TEXT_NUMBER;
use taglog_proofs_fuzz::{log_key, witness_key, CHECKPOINT_TEXT};

fn check(sig: &NoteSignature, text: &str) {
    for key in [witness_key(), log_key()] {
        if let Ok(time) = verify_cosignature(sig, text, key) {
            assert!(time <= MAX_TEXT_NUMBER);
            assert!(key.matches(sig));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = std::str::from_utf8(rest).unwrap_or(CHECKPOINT_TEXT);
    if let Ok(line) = std::str::from_utf8(line) {
        if let Ok(sig) = NoteSignature::parse_line(line, 1) {
            assert_eq!(
                sig.to_line(),
                format!("{line}\n"),
                "signature line does not re-encode"
            );
            check(&sig, text);
        }
    }
    let raw = NoteSignature {
        name: witness_key().name().clone(),
        id: witness_key().id(),
        sig: data.to_vec(),
    };
    check(&raw, CHECKPOINT_TEXT);
});
