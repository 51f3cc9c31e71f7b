//! The one signature predicate against the "Taming the many EdDSAs" (ed25519-speccheck)
//! cases: a strict verifier accepts only case 3.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use taglog_proofs::note::{ed25519_verify_strict, KeyError, KeyType, VerifierKey};

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn speccheck_cases_match_the_strict_predicate() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/ed25519-speccheck.json"
    );
    let j: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let cases = j["cases"].as_array().unwrap();
    let mut run = 0;
    let mut accepted = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        assert_eq!(c["index"].as_u64().unwrap() as usize, i);
        let msg = unhex(&c["message"]);
        let pk: [u8; 32] = unhex(&c["pub_key"]).try_into().unwrap();
        let sig = unhex(&c["signature"]);
        assert_eq!(sig.len(), 64);
        let got = match VerifyingKey::from_bytes(&pk) {
            Ok(key) => ed25519_verify_strict(&key, &msg, &sig),
            Err(_) => false,
        };
        let want = c["verify_strict_accepts"].as_bool().unwrap();
        assert_eq!(got, want, "case {i}: {}", c["description"]);
        if got {
            accepted.push(i);
        }
        run += 1;
    }
    assert_eq!(run, 12);
    assert_eq!(accepted, vec![3]);
}

#[test]
fn small_order_public_keys_are_refused_as_verifier_keys() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/ed25519-speccheck.json"
    );
    let j: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    // Cases 0 and 1 have a small-order A; 10 and 11 a non-canonical small-order A.
    let mut refused = 0;
    for i in [0usize, 1, 10, 11] {
        let pk: [u8; 32] = unhex(&j["cases"][i]["pub_key"]).try_into().unwrap();
        if let Ok(key) = VerifyingKey::from_bytes(&pk) {
            let r = VerifierKey::new("example.com/w".parse().unwrap(), KeyType::Ed25519, key);
            assert_eq!(r, Err(KeyError::WeakKey), "case {i}");
        }
        refused += 1;
    }
    assert_eq!(refused, 4);
}

#[test]
fn predicate_rejects_wrong_lengths_and_accepts_a_real_signature() {
    use ed25519_dalek::{Signer as _, SigningKey};
    let sk = SigningKey::from_bytes(&[9; 32]);
    let vk = sk.verifying_key();
    let sig = sk.sign(b"m").to_bytes();
    assert!(ed25519_verify_strict(&vk, b"m", &sig));
    assert!(!ed25519_verify_strict(&vk, b"n", &sig));
    assert!(!ed25519_verify_strict(&vk, b"m", &sig[..63]));
    assert!(!ed25519_verify_strict(
        &vk,
        b"m",
        &[sig.as_slice(), &[0]].concat()
    ));
    // S + L (non-canonical S) must be rejected even though S ≡ S + L (mod L). Pick the first
    // message whose S + L still fits in 253 bits, so that the check always runs.
    let l: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap()
            .try_into()
            .unwrap();
    let mut checked = 0;
    for m in 0u8..=255 {
        let sig = sk.sign(&[m]).to_bytes();
        let mut s = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
            s[i] = v as u8;
            carry = v >> 8;
        }
        if carry != 0 || s[31] & 0xe0 != 0 {
            continue;
        }
        let mut malleated = sig;
        malleated[32..].copy_from_slice(&s);
        assert!(ed25519_verify_strict(&vk, &[m], &sig));
        assert!(!ed25519_verify_strict(&vk, &[m], &malleated));
        checked += 1;
        break;
    }
    assert_eq!(checked, 1);
}
