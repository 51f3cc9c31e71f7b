//! The rule book on arbitrary logs: the input is a sequence of entries, each `u16 BE length ‖
//! entry` (the entry-bundle encoding; a trailing partial entry is dropped). Checking them in
//! order never fails or panics and every violation names its own leaf; and while the log is
//! clean, deciding the same leaves (the sequencer's side) accepts each one, produces the same
//! publisher and state leaves byte for byte, and ends with the same map root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::leaves::Leaf;
use taglog_proofs::rules::{Grant, Ledger, MemoryMap};
use taglog_proofs_fuzz::ORIGIN;

/// Most entries taken from one input (each binding costs a signature check).
const MAX_ENTRIES: usize = 512;

fn entries(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while out.len() < MAX_ENTRIES {
        let Some((len, rest)) = data.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len));
        let Some((entry, rest)) = rest.split_at_checked(len) else {
            break;
        };
        out.push(entry);
        data = rest;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut checker = Ledger::new(ORIGIN, MemoryMap::new());
    let mut decider = Ledger::new(ORIGIN, MemoryMap::new());
    let mut clean = true;
    for (i, entry) in entries(data).into_iter().enumerate() {
        let index = i as u64;
        let checked = checker
            .check(index, entry, Some(u64::MAX / 2))
            .expect("an in-order check over an in-memory map cannot fail");
        for v in &checked.violations {
            assert_eq!(v.index(), index, "{v}");
            assert!(!v.to_string().is_empty());
        }
        clean &= checked.violations.is_empty();
        if !clean {
            continue;
        }
        match checked.leaf.expect("a leaf without violations parsed") {
            Leaf::Binding(b) => {
                let a = decider
                    .append_binding(&b, None)
                    .expect("a binding the checker accepts is appended");
                assert_eq!(a.index, index);
            }
            Leaf::Publisher(p) => {
                let grant = Grant {
                    prefix: p.prefix.clone(),
                    key: p.key.clone(),
                };
                let leaf = decider
                    .append_publisher(p.change, &grant, p.time)
                    .expect("a publisher leaf the checker accepts is appended");
                assert_eq!(leaf.to_text().as_bytes(), entry);
            }
            Leaf::State(s) => {
                let leaf = decider
                    .append_state(s.time)
                    .expect("a state leaf the checker accepts is appended");
                assert_eq!(leaf, s);
            }
        }
        assert_eq!(decider.head(), checker.head());
    }
    if clean {
        assert_eq!(decider.map().root(), checker.map().root());
    }
});
