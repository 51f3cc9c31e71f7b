//! Log leaves: `Leaf::parse` (binding, state and publisher leaves) never panics and an
//! accepted leaf re-encodes to the same bytes; `StateLeaf::parse` and `PublisherLeaf::parse`
//! agree with the dispatcher and round-trip on their own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::leaves::{Leaf, PublisherLeaf, StateLeaf};

fuzz_target!(|data: &[u8]| {
    let leaf = Leaf::parse(data);
    if let Ok(l) = &leaf {
        assert_eq!(l.to_bytes(), data, "leaf does not re-encode");
        assert_eq!(l.leaf_hash(), taglog_proofs::hash::leaf_hash(data));
    }
    if let Ok(s) = StateLeaf::parse(data) {
        assert_eq!(
            s.to_text().as_bytes(),
            data,
            "state leaf does not re-encode"
        );
        s.validate().expect("a parsed state leaf validates");
        assert_eq!(leaf.as_ref().ok(), Some(&Leaf::State(s)));
    }
    if let Ok(p) = PublisherLeaf::parse(data) {
        assert_eq!(
            p.to_text().as_bytes(),
            data,
            "publisher leaf does not re-encode"
        );
        p.validate().expect("a parsed publisher leaf validates");
        assert_eq!(leaf.as_ref().ok(), Some(&Leaf::Publisher(p)));
    }
});
