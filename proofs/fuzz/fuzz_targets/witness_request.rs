//! tlog-witness wire formats: the add-checkpoint request body, the 200 cosignature response
//! and the 409 size body never panic and an accepted body re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::witness::{
    encode_cosignature_response, encode_size_body, parse_cosignature_response, parse_size_body,
    AddCheckpointRequest,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = AddCheckpointRequest::parse(data) {
        assert_eq!(
            r.to_bytes(),
            data,
            "add-checkpoint request does not re-encode"
        );
    }
    if let Ok(sigs) = parse_cosignature_response(data) {
        assert!(!sigs.is_empty());
        assert_eq!(
            encode_cosignature_response(&sigs),
            data,
            "response does not re-encode"
        );
    }
    if let Ok(size) = parse_size_body(data) {
        assert_eq!(encode_size_body(size), data, "size body does not re-encode");
    }
});
