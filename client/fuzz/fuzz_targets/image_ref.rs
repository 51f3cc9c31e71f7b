//! Image strings (`name[:tag][@digest]`): `ImageRef::parse` never panics, its canonical text
//! parses to the same value (canonicalisation is idempotent), and the digest it reports is the
//! one after '@'.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_client::service::image::ImageRef;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(i) = ImageRef::parse(s) {
        let canonical = i.canonical();
        let again = ImageRef::parse(&canonical).expect("canonical text parses");
        assert_eq!(
            again, i,
            "canonical text {canonical:?} parses to another image"
        );
        assert_eq!(again.canonical(), canonical);
        if let Some(d) = i.digest() {
            assert!(
                s.ends_with(&d.to_string()),
                "digest {d} is not the text after '@'"
            );
        }
    }
});
