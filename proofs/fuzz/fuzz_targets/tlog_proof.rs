//! c2sp.org/tlog-proof@v1: `TlogProof::parse` never panics, an accepted proof re-encodes to
//! the same bytes and `TlogProof::new` accepts its parts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::tlogproof::TlogProof;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = TlogProof::parse(data) else {
        return;
    };
    assert_eq!(p.to_bytes(), data, "tlog-proof does not re-encode");
    let built = TlogProof::new(
        p.extra().map(<[u8]>::to_vec),
        p.index(),
        p.proof().to_vec(),
        p.checkpoint().to_vec(),
    )
    .expect("TlogProof::new rejects a parsed proof");
    assert_eq!(built, p);
});
