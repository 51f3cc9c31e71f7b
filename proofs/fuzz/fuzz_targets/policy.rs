//! Trust policies: `Policy::parse` never panics; an accepted policy's C2SP export parses
//! again and exports identically (the policy has no full encoder); `check()` and the
//! lookups never panic; `parse_duration` round-trips through `format_duration`.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use taglog_proofs::policy::{format_duration, parse_duration, Policy};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(secs) = parse_duration(s) {
            assert_eq!(parse_duration(&format_duration(secs)), Ok(secs));
        }
    }
    let Ok(p) = Policy::parse(data) else {
        return;
    };
    let c2sp = p.export_c2sp();
    let again = Policy::parse(c2sp.as_bytes()).expect("the C2SP export of a policy parses");
    assert_eq!(again.export_c2sp(), c2sp, "C2SP export is not stable");
    // Line numbers differ after the export; keys, names and URLs must not.
    let logs = |p: &Policy| -> Vec<_> {
        p.logs()
            .iter()
            .map(|l| (l.key.clone(), l.url.clone()))
            .collect()
    };
    let witnesses = |p: &Policy| -> Vec<_> {
        p.witnesses()
            .iter()
            .map(|w| (w.name.clone(), w.key.clone(), w.url.clone()))
            .collect()
    };
    assert_eq!(logs(&again), logs(&p));
    assert_eq!(witnesses(&again), witnesses(&p));
    let _ = p.check();
    let all: BTreeSet<String> = p.witnesses().iter().map(|w| w.name.clone()).collect();
    let _ = p.quorum_met(&all);
    let _ = p.quorum_met(&BTreeSet::new());
    for pin in p.pins() {
        let _ = p.log_for(&pin.reference);
        let _ = p.signed_ref(&pin.reference);
        let _ = p.publishers_for(&pin.reference);
    }
});
