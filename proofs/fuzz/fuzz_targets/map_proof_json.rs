//! Map proofs (§3.6 JSON): `MapProof::from_json` never panics; an accepted proof serialises
//! to JSON that parses back to the same proof and is a fixed point; `check_form` and `verify`
//! (for the terminal's own key, a key differing in its last bit, and a fixed key, against
//! the zero root and the root the proof recomputes) never panic, and a proof that verifies
//! passes `check_form`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::hash::{sha256, Hash};
use taglog_proofs::map::{MapLookup, MapProof, MapProofError, Terminal};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = MapProof::from_json(text) else {
        return;
    };
    let json = p.to_json();
    let again = MapProof::from_json(&json).expect("MapProof::to_json output parses");
    assert_eq!(again, p);
    assert_eq!(again.to_json(), json);
    let form = p.check_form();
    let _ = p.binary_len();
    let own = match &p.terminal {
        Terminal::Value { key, .. } | Terminal::ValueHash { key, .. } => *key,
        Terminal::Empty => sha256(b"taglog fuzz"),
    };
    let mut flipped = own;
    flipped.0[31] ^= 1;
    for key in [own, flipped, Hash::ZERO] {
        let root = match p.verify(&key, &Hash::ZERO) {
            Err(MapProofError::RootMismatch { computed, .. }) => computed,
            Err(_) => continue,
            Ok(_) => Hash::ZERO,
        };
        match p.verify(&key, &root) {
            Ok(lookup) => {
                assert!(form.is_ok(), "a proof that verifies fails check_form");
                if let MapLookup::Present(v) = lookup {
                    assert_eq!(
                        p.terminal,
                        Terminal::Value {
                            key,
                            value: v.to_bytes().to_vec()
                        }
                    );
                }
            }
            Err(e) => panic!("verify against its own recomputed root failed: {e}"),
        }
    }
});
