//! Tag references: the strict parse (`FromStr`) accepts only canonical text; `canonicalize`
//! is idempotent and its output passes the strict parse; the accessors split the text
//! consistently; `RefPrefix` round-trips, and matching and `remap` never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::refs::{remap, RefPrefix, TagRef};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = s.parse::<TagRef>() {
        assert_eq!(r.as_str(), s, "strict parse accepted non-canonical text");
        assert_eq!(TagRef::canonicalize(s).as_ref(), Ok(&r));
    }
    if let Ok(r) = TagRef::canonicalize(s) {
        let strict: TagRef = r
            .as_str()
            .parse()
            .expect("canonical output fails the strict parse");
        assert_eq!(strict, r);
        assert_eq!(TagRef::canonicalize(r.as_str()).as_ref(), Ok(&r));
        assert_eq!(format!("{}/{}", r.host(), r.path()), r.repository());
        assert_eq!(format!("{}:{}", r.repository(), r.tag()), r.as_str());
        let _ = r.port();
        let _ = r.key();
        let repo: RefPrefix = r
            .repository()
            .parse()
            .expect("a ref's repository is a prefix");
        assert!(repo.matches(&r));
        let full: RefPrefix = r.as_str().parse().expect("a canonical ref is a prefix");
        assert!(full.matches(&r));
        let host: RefPrefix = r.host().parse().expect("a ref's host is a prefix");
        assert!(host.matches(&r));
    }
    if let Ok(p) = s.parse::<RefPrefix>() {
        assert_eq!(p.to_string(), s, "prefix does not re-encode");
        // Remap a fixed ref under the prefix and back, when the prefix is untagged.
        if let Ok(r) = format!("{s}/x:1").parse::<TagRef>() {
            assert!(p.matches(&r));
            let _ = remap(&r, &p, &p);
        }
    }
});
