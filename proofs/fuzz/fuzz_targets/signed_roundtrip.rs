//! Sign, then parse and verify: the encode-first direction that random inputs cannot reach
//! past a signature check. The first byte picks the format, the rest is the text:
//! 0 a note text signed with `sign_note`; 1 a binding statement parsed, signed with
//! `sign_binding`, reparsed and verified; 2 a checkpoint text parsed, signed by a log key named
//! after its origin, opened, cosigned and the cosignature checked; 3 a key seed, type byte and
//! key name, printed and parsed back. Every accepted value must verify and round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_proofs::binding::{sign_binding, Binding, SignedBinding};
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, SignedCheckpoint};
use taglog_proofs::cosignature::cosign;
use taglog_proofs::note::{sign_note, KeyName, KeyType, Note, SignerKey, VerifierKey};
use taglog_proofs::num::MAX_TEXT_NUMBER;

fn signer(name: &str, key_type: KeyType, seed: u8) -> Option<SignerKey> {
    let name: KeyName = name.parse().ok()?;
    Some(SignerKey::from_seed(name, key_type, [seed; 32]))
}

fn note(text: &str) {
    let key = signer("fuzz.example/signer", KeyType::Ed25519, 1).expect("fixed key name");
    let Ok(signed) = sign_note(text, &[&key]) else {
        return;
    };
    let parsed = Note::parse(&signed).expect("a signed note parses");
    assert_eq!(parsed.text(), text);
    assert_eq!(parsed.to_bytes(), signed);
    let verified = parsed
        .verify(&[key.verifier()])
        .expect("a signed note verifies");
    assert_eq!(verified, vec![key.verifier()]);
}

fn binding(text: &str) {
    let Ok(b) = Binding::parse_text(text) else {
        return;
    };
    let key = signer("publisher.example", KeyType::Ed25519, 2).expect("fixed key name");
    let entry = sign_binding(&b, &key).expect("a parsed statement signs");
    let sb = SignedBinding::parse(&entry).expect("a signed binding parses");
    assert_eq!(sb.binding(), &b);
    sb.verify(&key.verifier())
        .expect("a signed binding verifies");
    sb.check_log(&b.log).expect("binding names its log");
}

fn checkpoint(text: &str, time: u64) {
    let Ok(c) = Checkpoint::parse(text) else {
        return;
    };
    // The log key is named after the origin; an origin that is no key name cannot be signed.
    let Some(log) = signer(c.origin(), KeyType::Ed25519, 3) else {
        return;
    };
    let bytes = sign_checkpoint(&c, &log).expect("a parsed checkpoint signs");
    let opened =
        SignedCheckpoint::open(&bytes, &log.verifier()).expect("a signed checkpoint opens");
    assert_eq!(opened.checkpoint(), &c);
    let witness = signer("witness.example", KeyType::Cosignature, 4).expect("fixed key name");
    match cosign(&c, time, &witness) {
        Ok(sig) => {
            let with = opened
                .with_signatures(&[sig])
                .expect("two signatures fit in a note");
            let cosigs = with
                .cosignatures(&[witness.verifier()])
                .expect("a fresh cosignature verifies");
            assert_eq!(cosigs.len(), 1);
            assert_eq!(cosigs.first().map(|c| c.time), Some(time));
            let reopened = SignedCheckpoint::open(&with.to_bytes(), &log.verifier())
                .expect("a cosigned checkpoint opens");
            assert_eq!(reopened, with);
        }
        Err(_) => assert!(time > MAX_TEXT_NUMBER, "cosign failed for an in-range time"),
    }
}

fn key(data: &[u8]) {
    let Some((seed, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let Some((&kt, name)) = rest.split_first() else {
        return;
    };
    let Ok(key_type) = KeyType::from_byte(kt) else {
        return;
    };
    let Some(name) = std::str::from_utf8(name)
        .ok()
        .and_then(|n| n.parse::<KeyName>().ok())
    else {
        return;
    };
    let k = SignerKey::from_seed(name, key_type, *seed);
    let printed = k.to_string();
    let back: SignerKey = printed.parse().expect("a printed private key parses");
    assert_eq!(back.to_string(), printed);
    let v = k.verifier();
    let vprinted = v.to_string();
    let vback: VerifierKey = vprinted.parse().expect("a printed vkey parses");
    assert_eq!(vback, v);
    assert_eq!(vback.to_string(), vprinted);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        3 => key(rest),
        m => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            match m {
                0 => note(text),
                1 => binding(text),
                _ => {
                    let time = taglog_proofs::hash::sha256(rest).0[0..8]
                        .try_into()
                        .map(u64::from_be_bytes)
                        .unwrap_or(0);
                    checkpoint(text, time >> (time % 2));
                }
            }
        }
    }
});
