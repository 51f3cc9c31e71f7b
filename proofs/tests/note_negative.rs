//! Every malformation of notes, keys, checkpoints and cosignatures is rejected with its cause.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::b64;
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint, CheckpointError, SignedCheckpoint};
use taglog_proofs::cosignature::{
    cosign, cosignature_message, verify_cosignature, CosignatureError,
};
use taglog_proofs::hash::{sha256, Hash};
use taglog_proofs::note::{
    sign_note, KeyError, KeyId, KeyName, KeyType, Note, NoteError, NoteSignature, SignerKey,
    VerifierKey, MAX_NOTE_BYTES, MAX_SIGNATURES,
};

/// A predicate on an expected error.
type Check<E> = fn(&E) -> bool;

const ORIGIN: &str = "log.example.org/taglog";
const TEXT: &str = "hello\nworld\n";

fn key(name: &str, t: KeyType, seed: u8) -> SignerKey {
    SignerKey::from_seed(name.parse().unwrap(), t, [seed; 32])
}

fn log_key() -> SignerKey {
    key(ORIGIN, KeyType::Ed25519, 1)
}

fn witness_key() -> SignerKey {
    key("witness.example", KeyType::Cosignature, 2)
}

fn signed() -> String {
    String::from_utf8(sign_note(TEXT, &[&log_key()]).unwrap()).unwrap()
}

/// An unknown key's signature line (valid form).
fn unknown_line(i: usize) -> String {
    NoteSignature {
        name: format!("other{i}.example").parse().unwrap(),
        id: KeyId([1, 2, 3, 4]),
        sig: vec![7; 64],
    }
    .to_line()
}

fn parse_err(s: &str) -> NoteError {
    Note::parse(s.as_bytes()).unwrap_err()
}

#[test]
fn malformed_notes_are_rejected_with_their_cause() {
    let good = signed();
    let sig_line = good
        .strip_prefix(TEXT)
        .unwrap()
        .strip_prefix('\n')
        .unwrap()
        .to_owned();
    let b64sig = sig_line.trim_end().rsplit(' ').next().unwrap().to_owned();
    let cases: Vec<(&str, String, Check<NoteError>)> = vec![
        ("missing blank line", format!("{TEXT}{sig_line}"), |e| {
            *e == NoteError::MissingBlankLine
        }),
        ("only signatures", sig_line.clone(), |e| {
            *e == NoteError::MissingBlankLine
        }),
        (
            "CR in text",
            good.replacen("hello\n", "hello\r\n", 1),
            |e| matches!(e, NoteError::ControlCharacter { byte: 0x0d, .. }),
        ),
        ("CRLF after signature", good.replace("=\n", "=\r\n"), |e| {
            matches!(e, NoteError::ControlCharacter { byte: 0x0d, .. })
        }),
        ("tab in text", good.replacen("hello", "hel\tlo", 1), |e| {
            matches!(e, NoteError::ControlCharacter { byte: 0x09, .. })
        }),
        ("NUL", good.replacen("hello", "hel\0lo", 1), |e| {
            matches!(e, NoteError::ControlCharacter { byte: 0, .. })
        }),
        ("trailing bytes", format!("{good}xyz"), |e| {
            *e == NoteError::MissingFinalNewline
        }),
        ("trailing line", format!("{good}xyz\n"), |e| {
            matches!(e, NoteError::BadSignatureLine { line: 2, .. })
        }),
        ("trailing blank line", format!("{good}\n"), |e| {
            *e == NoteError::NoSignatures
        }),
        (
            "no final newline",
            good.trim_end_matches('\n').to_owned(),
            |e| *e == NoteError::MissingFinalNewline,
        ),
        ("no signatures", format!("{TEXT}\n"), |e| {
            *e == NoteError::NoSignatures
        }),
        (
            "hyphen instead of em dash",
            good.replace('\u{2014}', "-"),
            |e| matches!(e, NoteError::BadSignatureLine { line: 1, .. }),
        ),
        (
            "no space after dash",
            good.replace("\u{2014} ", "\u{2014}"),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
        (
            "double space",
            good.replace(&format!("{ORIGIN} "), &format!("{ORIGIN}  ")),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
        ("trailing space", good.replace("=\n", "= \n"), |e| {
            matches!(e, NoteError::BadSignatureLine { .. })
        }),
        (
            "no signature field",
            format!("{TEXT}\n\u{2014} {ORIGIN}\n"),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
        ("unpadded base64", good.replace("=\n", "\n"), |e| {
            matches!(e, NoteError::BadSignatureLine { .. })
        }),
        (
            "invalid base64 char",
            good.replacen(&b64sig[..4], "!!!!", 1),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
        (
            "url-safe base64",
            format!("{TEXT}\n\u{2014} {ORIGIN} ____AAAA\n"),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
        (
            "non-canonical trailing bits",
            format!("{TEXT}\n\u{2014} {ORIGIN} AAAAAAB=\n"),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
        (
            "4-byte signature",
            format!("{TEXT}\n\u{2014} {ORIGIN} AAAAAA==\n"),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
        ("'+' in key name", good.replace(ORIGIN, "log+x"), |e| {
            matches!(e, NoteError::BadSignatureLine { .. })
        }),
        (
            "NBSP in key name",
            good.replace(ORIGIN, "log\u{a0}x"),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
        (
            "empty key name",
            good.replace(&format!("{ORIGIN} "), " "),
            |e| matches!(e, NoteError::BadSignatureLine { .. }),
        ),
    ];
    let n = cases.len();
    for (name, input, check) in cases {
        let e = parse_err(&input);
        assert!(check(&e), "{name}: got {e:?}");
    }
    assert_eq!(n, 24);
    assert!(Note::parse(b"\xff\xfe\n\n").unwrap_err() == NoteError::NotUtf8);
}

#[test]
fn signature_count_limit() {
    let good = signed();
    let mut at_limit = good.clone();
    for i in 1..MAX_SIGNATURES {
        at_limit.push_str(&unknown_line(i));
    }
    let note = Note::parse(at_limit.as_bytes()).unwrap();
    assert_eq!(note.signatures().len(), MAX_SIGNATURES);
    assert_eq!(note.verify(&[log_key().verifier()]).unwrap().len(), 1);
    let over = format!("{at_limit}{}", unknown_line(99));
    assert_eq!(parse_err(&over), NoteError::TooManySignatures);
    let sigs: Vec<NoteSignature> = (0..=MAX_SIGNATURES)
        .map(|i| NoteSignature::parse_line(unknown_line(i).trim_end(), 1).unwrap())
        .collect();
    assert_eq!(
        Note::new(TEXT.into(), sigs),
        Err(NoteError::TooManySignatures)
    );
    let signers: Vec<SignerKey> = (0..=MAX_SIGNATURES as u8)
        .map(|i| key(&format!("k{i}"), KeyType::Ed25519, i))
        .collect();
    let refs: Vec<&SignerKey> = signers.iter().collect();
    assert_eq!(sign_note(TEXT, &refs), Err(NoteError::TooManySignatures));
    assert!(sign_note(TEXT, &refs[..MAX_SIGNATURES]).is_ok());
    assert_eq!(sign_note(TEXT, &[]), Err(NoteError::NoSignatures));
}

#[test]
fn size_limit() {
    let k = log_key();
    let sig_len = signed().len() - TEXT.len();
    // A text that makes the note exactly MAX_NOTE_BYTES long.
    let fill = MAX_NOTE_BYTES - sig_len - 1;
    let text = format!("{}\n", "a".repeat(fill));
    let exact = sign_note(&text, &[&k]).unwrap();
    assert_eq!(exact.len(), MAX_NOTE_BYTES);
    assert!(Note::parse(&exact).unwrap().verify(&[k.verifier()]).is_ok());
    let text = format!("{}\n", "a".repeat(fill + 1));
    assert_eq!(
        sign_note(&text, &[&k]),
        Err(NoteError::TooLarge {
            len: MAX_NOTE_BYTES + 1
        })
    );
    let mut over = exact.clone();
    over.insert(0, b'a');
    assert_eq!(
        Note::parse(&over),
        Err(NoteError::TooLarge {
            len: MAX_NOTE_BYTES + 1
        })
    );
    // Checked before anything else: invalid UTF-8 beyond the limit still reports the size.
    assert_eq!(
        Note::parse(&vec![0xff; MAX_NOTE_BYTES + 1]),
        Err(NoteError::TooLarge {
            len: MAX_NOTE_BYTES + 1
        })
    );
}

#[test]
fn verification_failures() {
    let k = log_key();
    let v = k.verifier();
    let good = signed();
    let note = Note::parse(good.as_bytes()).unwrap();
    let line = note.signatures()[0].clone();

    // Wrong key ID with the known name: not our key, so ignored, so nothing verified.
    let mut wrong_id = line.clone();
    wrong_id.id.0[0] ^= 1;
    let n = Note::new(TEXT.into(), vec![wrong_id]).unwrap();
    assert_eq!(
        n.verify(std::slice::from_ref(&v)),
        Err(NoteError::NoTrustedSignature)
    );
    // Same key ID, another name: also unknown.
    let renamed = NoteSignature {
        name: "other.example".parse().unwrap(),
        ..line.clone()
    };
    let n = Note::new(TEXT.into(), vec![renamed]).unwrap();
    assert_eq!(
        n.verify(std::slice::from_ref(&v)),
        Err(NoteError::NoTrustedSignature)
    );

    // Every single-bit flip of the signature is rejected.
    let mut flips = 0;
    for bit in 0..64 * 8 {
        let mut bad = line.clone();
        bad.sig[bit / 8] ^= 1 << (bit % 8);
        let n = Note::new(TEXT.into(), vec![bad]).unwrap();
        assert!(
            matches!(
                n.verify(std::slice::from_ref(&v)),
                Err(NoteError::InvalidSignature { .. })
            ),
            "bit {bit}"
        );
        flips += 1;
    }
    assert_eq!(flips, 512);
    // A flipped bit in the text.
    let tampered = good.replacen("hello", "hellp", 1);
    let n = Note::parse(tampered.as_bytes()).unwrap();
    assert!(matches!(
        n.verify(std::slice::from_ref(&v)),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Wrong length for a known Ed25519 key.
    let mut long = line.clone();
    long.sig.push(0);
    let n = Note::new(TEXT.into(), vec![long]).unwrap();
    assert!(matches!(
        n.verify(std::slice::from_ref(&v)),
        Err(NoteError::InvalidSignature { .. })
    ));

    // A good signature followed by a duplicated known line with a bad signature.
    let mut bad = line.clone();
    bad.sig[5] ^= 0x10;
    for sigs in [
        vec![line.clone(), bad.clone()],
        vec![bad.clone(), line.clone()],
        vec![line.clone(), line.clone()],
    ] {
        let n = Note::new(TEXT.into(), sigs).unwrap();
        let e = n.verify(std::slice::from_ref(&v)).unwrap_err();
        assert!(
            matches!(
                e,
                NoteError::InvalidSignature { .. } | NoteError::DuplicateSignature { .. }
            ),
            "{e:?}"
        );
    }
    // A failing known signature rejects the note even when another trusted key verified.
    let other = key("other.example", KeyType::Ed25519, 3);
    let both = Note::parse(&sign_note(TEXT, &[&other]).unwrap()).unwrap();
    let n = Note::new(TEXT.into(), vec![both.signatures()[0].clone(), bad]).unwrap();
    assert!(matches!(
        n.verify(&[other.verifier(), v]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn key_type_mismatches() {
    let log = log_key();
    let w = witness_key();
    // Plain notes are signed by 0x01 keys only.
    assert!(matches!(
        sign_note(TEXT, &[&w]),
        Err(NoteError::WrongKeyType { .. })
    ));
    // The same Ed25519 key as a 0x04 key has another key ID: its 0x01 signature is unknown.
    let seed_twin = key(ORIGIN, KeyType::Cosignature, 1);
    assert_ne!(seed_twin.id(), log.id());
    let note = Note::parse(signed().as_bytes()).unwrap();
    assert_eq!(
        note.verify(&[seed_twin.verifier()]),
        Err(NoteError::NoTrustedSignature)
    );
    // Checkpoints: log key must be 0x01, witness keys 0x04.
    let cp = Checkpoint::new(ORIGIN, 5, Hash([1; 32])).unwrap();
    let bytes = sign_checkpoint(&cp, &log).unwrap();
    assert!(matches!(
        sign_checkpoint(&cp, &seed_twin),
        Err(CheckpointError::WrongKeyType { .. })
    ));
    assert!(matches!(
        SignedCheckpoint::open(&bytes, &seed_twin.verifier()),
        Err(CheckpointError::WrongKeyType { .. })
    ));
    let sc = SignedCheckpoint::open(&bytes, &log.verifier()).unwrap();
    assert!(matches!(
        sc.cosignatures(&[log.verifier()]),
        Err(CheckpointError::WrongKeyType { .. })
    ));
    assert!(matches!(
        cosign(&cp, 1, &log),
        Err(CosignatureError::WrongKeyType { .. })
    ));
    let cosig = cosign(&cp, 1, &w).unwrap();
    assert!(matches!(
        verify_cosignature(&cosig, &cp.to_text(), &log.verifier()),
        Err(CosignatureError::WrongKeyType { .. })
    ));
    // A vkey whose type byte was changed no longer matches its key ID.
    let vk = log.verifier().to_string();
    let (head, material) = vk.rsplit_once('+').unwrap();
    let mut raw = b64::decode(material).unwrap();
    raw[0] = 0x04;
    let retyped = format!("{head}+{}", b64::encode(&raw));
    assert!(matches!(
        retyped.parse::<VerifierKey>(),
        Err(KeyError::IdMismatch { .. })
    ));
    raw[0] = 0x02;
    let unsupported = format!("{head}+{}", b64::encode(&raw));
    assert_eq!(
        unsupported.parse::<VerifierKey>(),
        Err(KeyError::UnsupportedType(0x02))
    );
}

#[test]
fn malformed_keys() {
    let vk = log_key().verifier().to_string();
    let (name, rest) = vk.split_once('+').unwrap();
    let (id, material) = rest.split_once('+').unwrap();
    let raw = b64::decode(material).unwrap();
    let cases: Vec<(String, Check<KeyError>)> = vec![
        (format!("{name}+{}+{material}", id.to_uppercase()), |e| {
            *e == KeyError::BadKeyIdHex
        }),
        (format!("{name}+{}+{material}", &id[..7]), |e| {
            *e == KeyError::BadKeyIdHex
        }),
        (format!("{name}+0{id}+{material}"), |e| {
            *e == KeyError::BadKeyIdHex
        }),
        (format!("{name}+{id}"), |e| {
            matches!(e, KeyError::Malformed { .. })
        }),
        (name.to_owned(), |e| matches!(e, KeyError::Malformed { .. })),
        (format!("+{id}+{material}"), |e| *e == KeyError::InvalidName),
        (format!("a b+{id}+{material}"), |e| {
            *e == KeyError::InvalidName
        }),
        (format!("{name}+{id}+{material}="), |e| {
            *e == KeyError::BadBase64
        }),
        (format!("{name}+{id}+{}", b64::encode(&raw[..32])), |e| {
            *e == KeyError::BadKeyLength(31)
        }),
        (
            format!("{name}+{id}+{}", b64::encode([&raw[..], &[0]].concat())),
            |e| *e == KeyError::BadKeyLength(33),
        ),
        (format!("{name}+{id}+"), |e| *e == KeyError::BadKeyLength(0)),
        (format!("{name}+00000000+{material}"), |e| {
            matches!(e, KeyError::IdMismatch { .. })
        }),
        (format!("other.example+{id}+{material}"), |e| {
            matches!(e, KeyError::IdMismatch { .. })
        }),
        (format!("{name}+{id}+{material} "), |e| {
            *e == KeyError::BadBase64
        }),
    ];
    let n = cases.len();
    for (input, check) in cases {
        match input.parse::<VerifierKey>() {
            Ok(_) => panic!("accepted {input:?}"),
            Err(e) => assert!(check(&e), "{input:?}: {e:?}"),
        }
    }
    assert_eq!(n, 14);
    // A small-order point (the identity, y = 1) is refused.
    let mut weak = vec![0x01];
    weak.extend_from_slice(&{
        let mut p = [0u8; 32];
        p[0] = 1;
        p
    });
    let weak_id = KeyId::compute(
        &"w.example".parse().unwrap(),
        KeyType::Ed25519,
        weak[1..].try_into().unwrap(),
    );
    let s = format!("w.example+{weak_id}+{}", b64::encode(&weak));
    assert_eq!(s.parse::<VerifierKey>(), Err(KeyError::WeakKey));

    let sk = log_key().to_string();
    assert!(matches!(
        sk.trim_start_matches("PRIVATE+KEY+").parse::<SignerKey>(),
        Err(KeyError::Malformed { .. })
    ));
    assert!(matches!(
        sk.replacen(id, "00000000", 1).parse::<SignerKey>(),
        Err(KeyError::IdMismatch { .. })
    ));
    assert!(matches!(
        vk.parse::<SignerKey>(),
        Err(KeyError::Malformed { .. })
    ));
    assert_eq!(sk.parse::<SignerKey>().unwrap().to_string(), sk);

    for bad in ["", "a b", "a+b", "a\tb", "a\nb", "a\u{2003}b", "a\u{a0}b"] {
        assert_eq!(
            bad.parse::<KeyName>(),
            Err(KeyError::InvalidName),
            "{bad:?}"
        );
    }
    assert!("a".repeat(255).parse::<KeyName>().is_ok());
    assert_eq!(
        "a".repeat(256).parse::<KeyName>(),
        Err(KeyError::InvalidName)
    );
}

#[test]
fn malformed_checkpoints() {
    let root = Hash([9; 32]).to_base64();
    let cases: Vec<(String, CheckpointError)> = vec![
        (
            format!("{ORIGIN}\n5\n{root}\nextension\n"),
            CheckpointError::ExtensionLines,
        ),
        (
            format!("{ORIGIN}\n5\n{root}\n\n"),
            CheckpointError::ExtensionLines,
        ),
        (format!("{ORIGIN}\n5\n"), CheckpointError::BadLineCount),
        (
            format!("{ORIGIN}\n5\n{root}"),
            CheckpointError::BadLineCount,
        ),
        (format!("\n5\n{root}\n"), CheckpointError::BadOrigin),
        (
            format!("{ORIGIN}\r\n5\n{root}\n"),
            CheckpointError::BadOrigin,
        ),
        (format!("{ORIGIN}\n05\n{root}\n"), CheckpointError::BadSize),
        (format!("{ORIGIN}\n+5\n{root}\n"), CheckpointError::BadSize),
        (
            format!("{ORIGIN}\n9223372036854775808\n{root}\n"),
            CheckpointError::BadSize,
        ),
        (
            format!("{ORIGIN}\n5\n{}\n", root.trim_end_matches('=')),
            CheckpointError::BadRoot,
        ),
        (
            format!("{ORIGIN}\n5\n{}\n", b64::encode([1u8; 31])),
            CheckpointError::BadRoot,
        ),
        (
            format!("{ORIGIN}\n5\n{}\n", hex::encode([1u8; 32])),
            CheckpointError::BadRoot,
        ),
        (format!("{ORIGIN}\n5\n{root} \n"), CheckpointError::BadRoot),
    ];
    let n = cases.len();
    for (text, want) in cases {
        assert_eq!(Checkpoint::parse(&text), Err(want), "{text:?}");
    }
    assert_eq!(n, 13);
    assert_eq!(
        Checkpoint::new("", 1, Hash::ZERO),
        Err(CheckpointError::BadOrigin)
    );
    assert_eq!(
        Checkpoint::new(ORIGIN, 1 << 63, Hash::ZERO),
        Err(CheckpointError::BadSize)
    );

    // A checkpoint text with an extension line, validly signed, is still refused by open.
    let log = log_key();
    let ext = sign_note(&format!("{ORIGIN}\n5\n{root}\nextension\n"), &[&log]).unwrap();
    assert_eq!(
        SignedCheckpoint::open(&ext, &log.verifier()),
        Err(CheckpointError::ExtensionLines)
    );
    // The origin must be the log key's name.
    let other = sign_note(&format!("other.example/log\n5\n{root}\n"), &[&log]).unwrap();
    assert!(matches!(
        SignedCheckpoint::open(&other, &log.verifier()),
        Err(CheckpointError::OriginMismatch { .. })
    ));
    let cp = Checkpoint::new("other.example/log", 5, Hash([9; 32])).unwrap();
    assert!(matches!(
        sign_checkpoint(&cp, &log),
        Err(CheckpointError::OriginMismatch { .. })
    ));
    // A bad log signature.
    let good = sign_checkpoint(&Checkpoint::new(ORIGIN, 5, Hash([9; 32])).unwrap(), &log).unwrap();
    let bad = String::from_utf8(good)
        .unwrap()
        .replacen("\n5\n", "\n6\n", 1);
    assert!(matches!(
        SignedCheckpoint::open(bad.as_bytes(), &log.verifier()),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));
}

#[test]
fn cosignature_failures() {
    let log = log_key();
    let w = witness_key();
    let cp = Checkpoint::new(ORIGIN, 7, sha256(b"x")).unwrap();
    let text = cp.to_text();
    let good = cosign(&cp, 1_700_000_000, &w).unwrap();
    assert_eq!(
        verify_cosignature(&good, &text, &w.verifier()),
        Ok(1_700_000_000)
    );
    assert_eq!(
        cosign(&cp, 1 << 63, &w),
        Err(CosignatureError::TimeOutOfRange { time: 1 << 63 })
    );
    assert!(cosign(&cp, (1 << 63) - 1, &w).is_ok());

    // A validly signed timestamp above 2^63-1 is still rejected.
    let t = 1u64 << 63;
    let mut sig = t.to_be_bytes().to_vec();
    sig.extend_from_slice(&w.sign(&cosignature_message(&text, t)));
    let high = NoteSignature {
        sig,
        ..good.clone()
    };
    assert_eq!(
        verify_cosignature(&high, &text, &w.verifier()),
        Err(CosignatureError::TimeOutOfRange { time: t })
    );
    // Length.
    let short = NoteSignature {
        sig: good.sig[..71].to_vec(),
        ..good.clone()
    };
    assert_eq!(
        verify_cosignature(&short, &text, &w.verifier()),
        Err(CosignatureError::BadLength { len: 71 })
    );
    // Every bit of time and signature matters.
    for bit in 0..72 * 8 {
        let mut bad = good.clone();
        bad.sig[bit / 8] ^= 1 << (bit % 8);
        assert!(
            verify_cosignature(&bad, &text, &w.verifier()).is_err(),
            "bit {bit}"
        );
    }
    // Another checkpoint, another key.
    let other = Checkpoint::new(ORIGIN, 8, sha256(b"x")).unwrap();
    assert!(matches!(
        verify_cosignature(&good, &other.to_text(), &w.verifier()),
        Err(CosignatureError::InvalidSignature { .. })
    ));
    let w2 = key("witness2.example", KeyType::Cosignature, 4);
    assert!(matches!(
        verify_cosignature(&good, &text, &w2.verifier()),
        Err(CosignatureError::KeyMismatch { .. })
    ));

    // In a checkpoint: a bad line by a trusted witness, and a witness with two lines.
    let sc = SignedCheckpoint::open(&sign_checkpoint(&cp, &log).unwrap(), &log.verifier()).unwrap();
    let mut bad = good.clone();
    bad.sig[20] ^= 1;
    let with_bad = sc.with_signatures(&[bad]).unwrap();
    assert!(matches!(
        with_bad.cosignatures(&[w.verifier()]),
        Err(CheckpointError::Cosignature(_))
    ));
    assert!(with_bad.cosignatures(&[w2.verifier()]).unwrap().is_empty());
    let later = cosign(&cp, 1_700_000_001, &w).unwrap();
    let twice = sc.with_signatures(&[good, later]).unwrap();
    assert!(matches!(
        twice.cosignatures(&[w.verifier()]),
        Err(CheckpointError::DuplicateCosignature { .. })
    ));
}
