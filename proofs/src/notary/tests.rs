//! Tests against metadata written by the real Notary 0.7 client and server
//! (`proofs/tests/vectors/notary/make-vectors.sh`).

use super::keys::{KeyProblem, KeyTable};
use super::*;

macro_rules! vector {
    ($path:literal) => {
        include_bytes!(concat!("../../tests/vectors/notary/", $path)).as_slice()
    };
}

fn now() -> u64 {
    let t = include_str!("../../tests/vectors/notary/generated-at");
    t.trim().parse::<u64>().unwrap_or_default() + 60
}

struct Chain {
    root: TrustedRoot,
    snapshot: Snapshot,
    targets: Targets,
}

fn chain(dir: &str) -> Chain {
    let (root_b, ts_b, snap_b, targets_b) = match dir {
        "good" => (
            vector!("good/root.json"),
            vector!("good/timestamp.json"),
            vector!("good/snapshot.json"),
            vector!("good/targets.json"),
        ),
        _ => (
            vector!("rotated/root.json"),
            vector!("rotated/timestamp.json"),
            vector!("rotated/snapshot.json"),
            vector!("rotated/targets.json"),
        ),
    };
    let root = TrustedRoot::pin(root_b, now()).expect("root");
    root.check_fresh(root_b, now()).expect("fresh root");
    let ts = root.timestamp(ts_b, now(), 0).expect("timestamp");
    let snapshot = ts.snapshot(&root, snap_b, now(), 0).expect("snapshot");
    let targets = snapshot
        .targets(&root, targets_b, now(), 0)
        .expect("targets");
    Chain {
        root,
        snapshot,
        targets,
    }
}

fn digest(c: char) -> [u8; 32] {
    let hex = c.to_string().repeat(64);
    let mut out = [0u8; 32];
    out.copy_from_slice(&hex::decode(hex).expect("hex"));
    out
}

#[test]
fn a_good_repository_gives_docker_tags_with_releases_first() {
    let c = chain("good");
    assert!(c.targets.delegates(RELEASES_ROLE));
    assert!(c.snapshot.lists(RELEASES_ROLE));
    let releases = c
        .snapshot
        .delegation(
            &c.targets,
            RELEASES_ROLE,
            vector!("good/targets/releases.json"),
            now(),
        )
        .expect("releases");
    let t = docker_tags(&c.targets, &Releases::Verified(releases));
    let got: Vec<(&str, &str, [u8; 32], u64)> = t
        .tags
        .iter()
        .map(|t| (t.name.as_str(), t.role.as_str(), t.sha256, t.length))
        .collect();
    assert_eq!(
        got,
        vec![
            ("1.0", "targets", digest('a'), 400),
            ("1.5", "targets", digest('b'), 401),
            ("2.0", RELEASES_ROLE, digest('c'), 402),
        ]
    );
    assert!(t.failures.is_empty());
    assert_eq!(c.root.version(), 1);
}

#[test]
fn a_delegation_that_misses_its_threshold_fails_only_its_tags() {
    let c = chain("rotated");
    let err = c
        .snapshot
        .delegation(
            &c.targets,
            RELEASES_ROLE,
            vector!("rotated/targets/releases.json"),
            now(),
        )
        .expect_err("the rotated delegation key never re-signed releases");
    assert!(
        matches!(&err, NotaryError::Threshold { role, valid: 0, threshold: 1, .. } if role == RELEASES_ROLE),
        "{err}"
    );
    assert!(err.is_role_skippable());
    let claimed = claimed_targets(vector!("rotated/targets/releases.json"));
    let t = docker_tags(
        &c.targets,
        &Releases::Failed {
            error: err,
            claimed,
        },
    );
    let names: Vec<&str> = t.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["1.0", "1.5"]);
    assert_eq!(t.failures.len(), 1);
    assert_eq!(t.failures[0].0, "2.0");
    assert!(t.failures[0].1.to_string().contains("targets/releases"));
}

#[test]
fn a_failed_releases_role_blocks_the_same_tag_from_targets() {
    let c = chain("good");
    let t = docker_tags(
        &c.targets,
        &Releases::Failed {
            error: NotaryError::Expired {
                role: RELEASES_ROLE.into(),
                expires: "then".into(),
            },
            claimed: vec!["1.5".into()],
        },
    );
    let names: Vec<&str> = t.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["1.0"]);
    assert_eq!(t.failures[0].0, "1.5");
}

#[test]
fn a_rotated_root_needs_old_and_new_keys_and_a_higher_version() {
    let old = TrustedRoot::pin(vector!("root-rotated/1.root.json"), now()).expect("old");
    let new = old
        .rotate(vector!("root-rotated/root.json"), now())
        .expect("rotation signed by both");
    assert_eq!(new.version(), 2);
    let again = new.rotate(vector!("root-rotated/root.json"), now());
    assert!(
        matches!(again, Err(NotaryError::Rollback { .. })),
        "{again:?}"
    );
    // Another repository's root did not sign this repository's new root.
    let stranger = TrustedRoot::pin(vector!("other/root.json"), now()).expect("other");
    let e = stranger.rotate(vector!("root-rotated/root.json"), now());
    assert!(matches!(e, Err(NotaryError::Threshold { .. })), "{e:?}");
}

#[test]
fn metadata_under_another_root_is_rejected() {
    let stranger = TrustedRoot::pin(vector!("other/root.json"), now()).expect("root");
    let e = stranger.timestamp(vector!("good/timestamp.json"), now(), 0);
    assert!(
        matches!(&e, Err(NotaryError::Threshold { role, .. }) if role == "timestamp"),
        "{e:?}"
    );
}

#[test]
fn expiry_and_rollback_are_rejected() {
    let root = TrustedRoot::pin(vector!("good/root.json"), now()).expect("root");
    let ts = vector!("good/timestamp.json");
    let far = now() + 400 * 24 * 3600;
    assert!(matches!(
        root.timestamp(ts, far, 0),
        Err(NotaryError::Expired { .. })
    ));
    let v = root.timestamp(ts, now(), 0).expect("ts").version();
    assert!(matches!(
        root.timestamp(ts, now(), v + 1),
        Err(NotaryError::Rollback { found, trusted, .. }) if found == v && trusted == v + 1
    ));
    assert!(matches!(
        root.check_fresh(vector!("good/root.json"), far * 10),
        Err(NotaryError::Expired { .. })
    ));
}

#[test]
fn a_changed_child_file_fails_its_parents_hash() {
    let c = chain("good");
    let text = String::from_utf8(vector!("good/targets.json").to_vec()).expect("utf8");
    let bb = crate::b64::encode(digest('b'));
    let ba = crate::b64::encode(digest('a'));
    let tampered = text.replacen(&bb, &ba, 1);
    assert_ne!(tampered, text);
    let e = c.snapshot.targets(&c.root, tampered.as_bytes(), now(), 0);
    assert!(matches!(e, Err(NotaryError::HashMismatch { .. })), "{e:?}");
    let longer = format!("{text} ");
    let e = c.snapshot.targets(&c.root, longer.as_bytes(), now(), 0);
    assert!(
        matches!(e, Err(NotaryError::LengthMismatch { .. })),
        "{e:?}"
    );
}

#[test]
fn every_flipped_byte_of_a_signed_file_is_rejected() {
    let root = TrustedRoot::pin(vector!("good/root.json"), now()).expect("root");
    let ts = vector!("good/timestamp.json");
    root.timestamp(ts, now(), 0)
        .expect("the untouched file verifies");
    for i in 0..ts.len() {
        let mut b = ts.to_vec();
        b[i] ^= 0x01;
        assert!(
            root.timestamp(&b, now(), 0).is_err(),
            "flipping byte {i} of timestamp.json still verified"
        );
    }
}

#[test]
fn malformed_and_oversized_files_are_rejected_with_the_role() {
    let root = TrustedRoot::pin(vector!("good/root.json"), now()).expect("root");
    for (bytes, what) in [
        (b"not json".to_vec(), "not json"),
        (br#"{"signatures":[]}"#.to_vec(), "no signed"),
        (
            br#"{"signed":{"_type":"Timestamp","v":1.5},"signatures":[]}"#.to_vec(),
            "float",
        ),
        (vec![b' '; MAX_METADATA_BYTES + 1], "too large"),
    ] {
        let e = root.timestamp(&bytes, now(), 0).expect_err(what);
        assert!(
            matches!(
                e,
                NotaryError::Malformed { .. } | NotaryError::TooLarge { .. }
            ),
            "{what}: {e}"
        );
        assert!(e.to_string().contains("timestamp.json"), "{e}");
    }
}

#[test]
fn keys_under_a_wrong_id_or_with_an_expired_certificate_do_not_count() {
    let root: serde_json::Value = serde_json::from_slice(vector!("good/root.json")).expect("json");
    let keys = root["signed"]["keys"].as_object().expect("keys").clone();
    let table = KeyTable::from_json(&keys, now());
    assert_eq!(table.usable.len(), keys.len(), "{:?}", table.problems);
    let mut renamed = serde_json::Map::new();
    for (id, k) in &keys {
        renamed.insert(format!("x{}", &id[1..]), k.clone());
    }
    let t = KeyTable::from_json(&renamed, now());
    assert!(t.usable.is_empty());
    assert_eq!(t.problems.len(), keys.len());
    assert!(t
        .problems
        .values()
        .all(|p| matches!(p, KeyProblem::IdMismatch { .. })));
    let late = KeyTable::from_json(&keys, now() + 20 * 365 * 24 * 3600);
    assert!(late
        .problems
        .values()
        .any(|p| matches!(p, KeyProblem::CertificateNotValid { .. })));
}

#[test]
fn one_key_signing_twice_counts_once() {
    let mut v: serde_json::Value =
        serde_json::from_slice(vector!("good/timestamp.json")).expect("json");
    let sig = v["signatures"][0].clone();
    v["signatures"]
        .as_array_mut()
        .expect("array")
        .push(sig.clone());
    let env = signed::Envelope::open("timestamp", v.to_string().as_bytes()).expect("env");
    let keyid = sig["keyid"].as_str().expect("id").to_string();
    let root_json: serde_json::Value =
        serde_json::from_slice(vector!("good/root.json")).expect("json");
    let keys = KeyTable::from_json(root_json["signed"]["keys"].as_object().expect("k"), now());
    let twice = RoleKeys {
        keyids: [keyid].into_iter().collect(),
        threshold: 2,
    };
    assert!(matches!(
        env.check_threshold(&keys, &twice),
        Err(NotaryError::Threshold { valid: 1, .. })
    ));
}

#[test]
fn cached_files_give_version_floors_only_when_signed() {
    let root = TrustedRoot::pin(vector!("good/root.json"), now()).expect("root");
    let ts = vector!("good/timestamp.json");
    let v = root.signed_version("timestamp", ts).expect("signed");
    assert_eq!(v, root.timestamp(ts, now(), 0).expect("ts").version());
    assert!(root
        .signed_version("snapshot", vector!("good/snapshot.json"))
        .is_ok());
    assert!(root.signed_version("snapshot", ts).is_err());
    let other = TrustedRoot::pin(vector!("other/root.json"), now()).expect("other");
    assert!(other.signed_version("timestamp", ts).is_err());
    assert_eq!(claimed_version(vector!("root-rotated/root.json")), Some(2));
    assert_eq!(claimed_version(b"{}"), None);
}
