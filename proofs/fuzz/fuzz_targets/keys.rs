//! Key strings: `KeyName`, vkeys and `PRIVATE+KEY+` strings parse without panicking and an
//! accepted string prints back byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::note::{KeyName, SignerKey, VerifierKey};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = s.parse::<KeyName>() {
        assert_eq!(name.to_string(), s);
        assert_eq!(name.as_str(), s);
    }
    if let Ok(key) = s.parse::<VerifierKey>() {
        assert_eq!(key.to_string(), s, "vkey does not print back");
        assert!(
            key.id()
                == taglog_proofs::note::KeyId::compute(
                    key.name(),
                    key.key_type(),
                    key.public_key().as_bytes()
                )
        );
    }
    if let Ok(key) = s.parse::<SignerKey>() {
        assert_eq!(key.to_string(), s, "private key does not print back");
        let v = key.verifier();
        assert_eq!(v.id(), key.id());
        let sig = key.sign(data);
        assert!(
            v.verify_raw(data, &sig),
            "a fresh signature does not verify"
        );
    }
});
