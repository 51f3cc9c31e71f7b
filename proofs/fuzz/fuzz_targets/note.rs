//! Signed notes: `Note::parse` never panics, an accepted note re-encodes to the same bytes,
//! `Note::new` accepts exactly what was parsed, and verification against the vector keys
//! (Ed25519 and cosignature/v1) never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::note::Note;
use taglog_proofs_fuzz::all_keys;

fuzz_target!(|data: &[u8]| {
    let Ok(note) = Note::parse(data) else {
        return;
    };
    assert_eq!(note.to_bytes(), data, "accepted note does not re-encode");
    let rebuilt = Note::new(note.text().to_owned(), note.signatures().to_vec())
        .expect("Note::new rejects a parsed note");
    assert_eq!(rebuilt, note);
    for sig in note.signatures() {
        let line = sig.to_line();
        let parsed = taglog_proofs::note::NoteSignature::parse_line(
            line.strip_suffix('\n').expect("to_line ends in a newline"),
            1,
        )
        .expect("a parsed signature line re-parses");
        assert_eq!(&parsed, sig);
    }
    if let Ok(verified) = note.verify(all_keys()) {
        assert!(!verified.is_empty());
    }
});
