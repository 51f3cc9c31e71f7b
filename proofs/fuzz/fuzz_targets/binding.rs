//! Bindings: `SignedBinding::parse` keeps the entry byte for byte and its statement
//! re-encodes to the signed text; `Binding::parse_text` and `DigestValue` round-trip; the
//! signature checks against the vector publisher key never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::binding::{Binding, DigestValue, SignedBinding};
use taglog_proofs::note::Note;
use taglog_proofs_fuzz::{all_keys, publisher_key, ORIGIN};

fuzz_target!(|data: &[u8]| {
    if let Ok(sb) = SignedBinding::parse(data) {
        assert_eq!(sb.entry(), data);
        let note = Note::parse(data).expect("a parsed binding is a note");
        assert_eq!(sb.text(), note.text(), "statement does not re-encode");
        assert_eq!(Binding::parse_text(&sb.text()).as_ref(), Ok(sb.binding()));
        sb.binding().validate().expect("a parsed binding validates");
        let _ = sb.check_log(ORIGIN);
        let _ = sb.verify(publisher_key());
        if let Ok(k) = sb.verify_any(all_keys()) {
            assert!(k == publisher_key());
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(b) = Binding::parse_text(text) {
        assert_eq!(b.to_text(), text, "binding statement does not re-encode");
        b.validate().expect("a parsed statement validates");
    }
    if let Ok(d) = text.parse::<DigestValue>() {
        assert_eq!(d.to_string(), text, "digest does not re-encode");
    }
});
