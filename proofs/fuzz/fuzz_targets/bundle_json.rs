//! Proof bundles and history pages (strict JSON): parsing never panics; an accepted bundle
//! serialises to JSON that parses back to the same value, and that JSON is a fixed point
//! (JSON whitespace and member order are free, so byte identity with the input is not
//! expected).
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::bundle::{Bundle, History};

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Bundle::parse(data) {
        let json = b.to_json();
        let again = Bundle::parse(json.as_bytes()).expect("Bundle::to_json output parses");
        assert_eq!(again, b);
        assert_eq!(again.to_json(), json);
    }
    if let Ok(h) = History::parse(data) {
        let json = h.to_json();
        let again = History::parse(json.as_bytes()).expect("History::to_json output parses");
        assert_eq!(again, h);
        assert_eq!(again.to_json(), json);
    }
});
