//! tlog-witness bodies (the spec's examples, limits, malformations) and c2sp tlog-proof text.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, CheckpointError, SignedCheckpoint};
use taglog_proofs::hash::{sha256, Hash};
use taglog_proofs::note::{sign_note, KeyType, NoteError, SignerKey};
use taglog_proofs::tlogproof::{
    TlogProof, TlogProofError, MAX_EXTRA_BYTES, MAX_INCLUSION_PROOF_LINES, MAX_TLOG_PROOF_BYTES,
};
use taglog_proofs::witness::{
    encode_cosignature_response, encode_size_body, origin_hash_hex, parse_cosignature_response,
    parse_size_body, AddCheckpointRequest, WitnessError, MAX_ADD_CHECKPOINT_BYTES, MAX_PROOF_LINES,
    TLOG_SIZE_CONTENT_TYPE,
};

/// A predicate on an expected error.
type Check<E> = fn(&E) -> bool;

/// The example request body of C2SP tlog-witness.
const SPEC_REQUEST: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

/// The example 200 response body of C2SP tlog-witness.
const SPEC_RESPONSE: &str = "\u{2014} witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==
\u{2014} witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==
\u{2014} witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==
";

fn signed_checkpoint(size: u64) -> Vec<u8> {
    let k = SignerKey::from_seed(
        "log.example.org/taglog".parse().unwrap(),
        KeyType::Ed25519,
        [1; 32],
    );
    sign_checkpoint(
        &Checkpoint::new("log.example.org/taglog", size, sha256(&size.to_be_bytes())).unwrap(),
        &k,
    )
    .unwrap()
}

/// A validly signed note whose text has an extension line.
fn ext_checkpoint() -> Vec<u8> {
    let k = SignerKey::from_seed(
        "log.example.org/taglog".parse().unwrap(),
        KeyType::Ed25519,
        [1; 32],
    );
    let root = Hash([2; 32]).to_base64();
    sign_note(&format!("log.example.org/taglog\n3\n{root}\next\n"), &[&k]).unwrap()
}

#[test]
fn spec_request_and_response_examples() {
    let req = AddCheckpointRequest::parse(SPEC_REQUEST.as_bytes()).unwrap();
    assert_eq!(req.old_size, 20852014);
    assert_eq!(req.proof.len(), 4);
    assert_eq!(
        req.proof[0].to_base64(),
        "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw="
    );
    assert!(req
        .checkpoint
        .starts_with(b"example.com/behind-the-sofa\n20852163\n"));
    assert_eq!(req.to_bytes(), SPEC_REQUEST.as_bytes());

    let sigs = parse_cosignature_response(SPEC_RESPONSE.as_bytes()).unwrap();
    assert_eq!(sigs.len(), 3);
    assert_eq!(sigs[2].name.as_str(), "witness.example/w2");
    assert_eq!(encode_cosignature_response(&sigs), SPEC_RESPONSE.as_bytes());
}

#[test]
fn request_round_trip_and_limits() {
    let cp = signed_checkpoint(100);
    let full = AddCheckpointRequest {
        old_size: 0,
        proof: vec![],
        checkpoint: cp.clone(),
    };
    assert_eq!(AddCheckpointRequest::parse(&full.to_bytes()).unwrap(), full);
    let max = AddCheckpointRequest {
        old_size: 99,
        proof: (0..MAX_PROOF_LINES as u8).map(|i| Hash([i; 32])).collect(),
        checkpoint: cp.clone(),
    };
    assert_eq!(AddCheckpointRequest::parse(&max.to_bytes()).unwrap(), max);
    let mut over = max.clone();
    over.proof.push(Hash([0xaa; 32]));
    assert_eq!(
        AddCheckpointRequest::parse(&over.to_bytes()),
        Err(WitnessError::TooManyProofLines)
    );
    let big = vec![b'a'; MAX_ADD_CHECKPOINT_BYTES + 1];
    assert!(matches!(
        AddCheckpointRequest::parse(&big),
        Err(WitnessError::TooLarge { .. })
    ));
    // The request opens as a checkpoint.
    let k = SignerKey::from_seed(
        "log.example.org/taglog".parse().unwrap(),
        KeyType::Ed25519,
        [1; 32],
    );
    assert_eq!(
        SignedCheckpoint::open(&max.checkpoint, &k.verifier())
            .unwrap()
            .checkpoint()
            .size(),
        100
    );
}

#[test]
fn malformed_requests() {
    let cp = String::from_utf8(signed_checkpoint(5)).unwrap();
    let h = Hash([3; 32]).to_base64();
    let cases: Vec<(String, Check<WitnessError>)> = vec![
        (format!("old 01\n\n{cp}"), |e| {
            *e == WitnessError::BadOldSizeLine
        }),
        (format!("old -1\n\n{cp}"), |e| {
            *e == WitnessError::BadOldSizeLine
        }),
        (format!("Old 1\n\n{cp}"), |e| {
            *e == WitnessError::BadOldSizeLine
        }),
        (format!("old  1\n\n{cp}"), |e| {
            *e == WitnessError::BadOldSizeLine
        }),
        (format!("old 1 \n\n{cp}"), |e| {
            *e == WitnessError::BadOldSizeLine
        }),
        (format!("old 1\r\n\n{cp}"), |e| {
            *e == WitnessError::BadOldSizeLine
        }),
        (format!("old 9223372036854775808\n\n{cp}"), |e| {
            *e == WitnessError::BadOldSizeLine
        }),
        ("old 1".to_owned(), |e| *e == WitnessError::BadOldSizeLine),
        (format!("\n{cp}"), |e| *e == WitnessError::BadOldSizeLine),
        (format!("old 1\n{}\n\n{cp}", h.trim_end_matches('=')), |e| {
            *e == WitnessError::BadProofLine { line: 1 }
        }),
        (format!("old 1\n{h} \n\n{cp}"), |e| {
            *e == WitnessError::BadProofLine { line: 1 }
        }),
        (
            format!("old 1\n{}\n\n{cp}", sha256(b"").to_base64().repeat(2)),
            |e| *e == WitnessError::BadProofLine { line: 1 },
        ),
        (format!("old 1\n{h}\n"), |e| {
            *e == WitnessError::MissingBlankLine
        }),
        (format!("old 1\n{h}"), |e| {
            *e == WitnessError::MissingBlankLine
        }),
        ("old 1\n\n".to_owned(), |e| {
            *e == WitnessError::Checkpoint(NoteError::MissingBlankLine)
        }),
        (format!("old 1\n\n{cp}x"), |e| {
            *e == WitnessError::Checkpoint(NoteError::MissingFinalNewline)
        }),
        (format!("old 1\n\n\n{cp}"), |e| {
            matches!(e, WitnessError::CheckpointText(_))
        }),
        (
            format!("old 1\n\n{}", String::from_utf8(ext_checkpoint()).unwrap()),
            |e| *e == WitnessError::CheckpointText(CheckpointError::ExtensionLines),
        ),
    ];
    let n = cases.len();
    for (body, check) in cases {
        match AddCheckpointRequest::parse(body.as_bytes()) {
            Ok(r) => panic!("accepted {body:?} as {r:?}"),
            Err(e) => assert!(check(&e), "{body:?}: {e:?}"),
        }
    }
    assert_eq!(n, 18);
}

#[test]
fn responses_and_size_bodies() {
    for bad in [
        "",
        "\n",
        SPEC_RESPONSE.trim_end(),
        "\u{2014} w AAAAAA==\n",
        "junk\n",
    ] {
        assert!(
            parse_cosignature_response(bad.as_bytes()).is_err(),
            "{bad:?}"
        );
    }
    let crlf = SPEC_RESPONSE.replace('\n', "\r\n");
    assert!(parse_cosignature_response(crlf.as_bytes()).is_err());
    let line = SPEC_RESPONSE.lines().next().unwrap();
    let many = format!("{line}\n").repeat(33);
    assert_eq!(
        parse_cosignature_response(many.as_bytes()),
        Err(WitnessError::BadResponse(NoteError::TooManySignatures))
    );
    assert_eq!(
        parse_cosignature_response(format!("{line}\n").repeat(32).as_bytes())
            .unwrap()
            .len(),
        32
    );

    assert_eq!(TLOG_SIZE_CONTENT_TYPE, "text/x.tlog.size");
    for n in [0u64, 1, 20852163, (1 << 63) - 1] {
        assert_eq!(parse_size_body(&encode_size_body(n)), Ok(n));
    }
    assert_eq!(encode_size_body(12), b"12\n");
    for bad in [
        "",
        "\n",
        "12",
        "012\n",
        "12\n\n",
        " 12\n",
        "12 \n",
        "-1\n",
        "9223372036854775808\n",
        "12\r\n",
        "123456789012345678901\n",
    ] {
        assert!(parse_size_body(bad.as_bytes()).is_err(), "{bad:?}");
    }
    assert_eq!(
        origin_hash_hex(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn tlog_proof_round_trip() {
    let cp = signed_checkpoint(109482);
    let proof: Vec<Hash> = (0..5u8).map(|i| Hash([i; 32])).collect();
    for extra in [None, Some(b"age-v1.2.1-darwin-arm64.tar.gz".to_vec())] {
        let p = TlogProof::new(extra.clone(), 73894, proof.clone(), cp.clone()).unwrap();
        let bytes = p.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\n"));
        assert_eq!(text.contains("\nextra "), extra.is_some());
        let back = TlogProof::parse(&bytes).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.extra(), extra.as_deref());
        assert_eq!(back.index(), 73894);
        assert_eq!(back.proof(), &proof[..]);
        assert_eq!(back.checkpoint(), &cp[..]);
    }
    // The spec's example text, with a checkpoint we can sign in place of its elided one.
    let spec = format!(
        "c2sp.org/tlog-proof@v1\nextra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\nindex 73894\n\
         gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\nB95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\n{}",
        String::from_utf8(cp.clone()).unwrap()
    );
    let p = TlogProof::parse(spec.as_bytes()).unwrap();
    assert_eq!(p.to_bytes(), spec.as_bytes());
    assert_eq!(p.proof().len(), 2);
    // Zero proof lines (a one-leaf tree).
    let p = TlogProof::new(None, 0, vec![], cp.clone()).unwrap();
    assert_eq!(TlogProof::parse(&p.to_bytes()).unwrap(), p);
}

#[test]
fn malformed_tlog_proofs() {
    let cp = String::from_utf8(signed_checkpoint(9)).unwrap();
    let h = Hash([3; 32]).to_base64();
    let cases: Vec<(String, TlogProofError)> = vec![
        (
            format!("c2sp.org/tlog-proof@v2\nindex 1\n\n{cp}"),
            TlogProofError::BadHeader,
        ),
        (
            format!("c2sp.org/tlog-proof@v1 \nindex 1\n\n{cp}"),
            TlogProofError::BadHeader,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\r\nindex 1\n\n{cp}"),
            TlogProofError::BadHeader,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nextra \nindex 1\n\n{cp}"),
            TlogProofError::BadExtra,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nextra YQ\nindex 1\n\n{cp}"),
            TlogProofError::BadExtra,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nextra YR==\nindex 1\n\n{cp}"),
            TlogProofError::BadExtra,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 1\nextra YQ==\n\n{cp}"),
            TlogProofError::BadProofLine { line: 1 },
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 01\n\n{cp}"),
            TlogProofError::BadIndex,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex -1\n\n{cp}"),
            TlogProofError::BadIndex,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex  1\n\n{cp}"),
            TlogProofError::BadIndex,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\n\n{cp}"),
            TlogProofError::BadIndex,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\n{h}\n\n{cp}"),
            TlogProofError::BadIndex,
        ),
        (
            format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{}\n\n{cp}",
                h.trim_end_matches('=')
            ),
            TlogProofError::BadProofLine { line: 1 },
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 1\n{h}\n{h}"),
            TlogProofError::MissingBlankLine,
        ),
        (
            format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{}\n{cp}",
                format!("{h}\n").repeat(MAX_INCLUSION_PROOF_LINES + 1)
            ),
            TlogProofError::TooManyProofLines,
        ),
        (
            format!("c2sp.org/tlog-proof@v1\nindex 1\n\n{cp}\n"),
            TlogProofError::Checkpoint(NoteError::NoSignatures),
        ),
        (
            "c2sp.org/tlog-proof@v1".to_owned(),
            TlogProofError::BadHeader,
        ),
    ];
    let n = cases.len();
    for (text, want) in cases {
        assert_eq!(TlogProof::parse(text.as_bytes()), Err(want), "{text:?}");
    }
    assert_eq!(n, 17);
    let ext = [
        b"c2sp.org/tlog-proof@v1\nindex 1\n\n".as_slice(),
        &ext_checkpoint(),
    ]
    .concat();
    assert_eq!(
        TlogProof::parse(&ext),
        Err(TlogProofError::CheckpointText(
            CheckpointError::ExtensionLines
        ))
    );
    assert!(matches!(
        TlogProof::parse(&vec![b'a'; MAX_TLOG_PROOF_BYTES + 1]),
        Err(TlogProofError::TooLarge { .. })
    ));
    let cpb = cp.clone().into_bytes();
    assert_eq!(
        TlogProof::new(Some(vec![]), 1, vec![], cpb.clone()),
        Err(TlogProofError::BadExtra)
    );
    assert_eq!(
        TlogProof::new(Some(vec![0; MAX_EXTRA_BYTES + 1]), 1, vec![], cpb.clone()),
        Err(TlogProofError::BadExtra)
    );
    assert!(TlogProof::new(Some(vec![0; MAX_EXTRA_BYTES]), 1, vec![], cpb.clone()).is_ok());
    assert_eq!(
        TlogProof::new(None, 1 << 63, vec![], cpb.clone()),
        Err(TlogProofError::BadIndex)
    );
    assert_eq!(
        TlogProof::new(None, 1, vec![Hash::ZERO; 64], cpb),
        Err(TlogProofError::TooManyProofLines)
    );
    assert!(matches!(
        TlogProof::new(None, 1, vec![], b"x\n".to_vec()),
        Err(TlogProofError::Checkpoint(_))
    ));
    // The largest extra still fits within the byte limit.
    let big = TlogProof::new(
        Some(vec![0xff; MAX_EXTRA_BYTES]),
        (1 << 63) - 1,
        vec![Hash::ZERO; 63],
        cp.into_bytes(),
    )
    .unwrap();
    assert_eq!(TlogProof::parse(&big.to_bytes()).unwrap(), big);
}
