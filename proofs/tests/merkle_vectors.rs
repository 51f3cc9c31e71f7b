//! Public Merkle vectors: every transparency-dev/merkle inclusion and consistency file, the
//! RFC 6962 reference tree, and the taglog log-small tiles and entry bundles.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use taglog_proofs::consistency::{consistency_proof, verify_consistency};
use taglog_proofs::hash::{empty_root, leaf_hash, Hash};
use taglog_proofs::inclusion::{inclusion_proof, verify_inclusion};
use taglog_proofs::tiles::{
    decode_entry_bundle, entry_leaf_hashes, tile_hashes_from_bytes, TileHashReader, TileKind,
    TilePath,
};
use taglog_proofs::tree::{root_of_leaves, tree_root, HashReader, MemoryTree};

/// Files per directory (a lost or added file fails the count).
const INCLUSION_FILES: usize = 98;
const CONSISTENCY_FILES: usize = 98;

/// Vectors whose placeholder values are not 32-byte hashes although they expect success.
/// taglog's verifiers take `Hash` (exactly 32 bytes), so these cannot even be expressed; they
/// are rejected at decoding, by policy (see tests/vectors/README.md).
const KNOWN_REJECTED: &[&str] =
    &["consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"];

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
}

/// A base64 value as a 32-byte hash; `None` for placeholders of other lengths.
fn b64_hash(v: &Value) -> Option<Hash> {
    Hash::from_base64(v.as_str().unwrap())
}

fn b64_proof(v: &Value) -> Option<Vec<Hash>> {
    match v {
        Value::Null => Some(vec![]),
        Value::Array(a) => a.iter().map(b64_hash).collect(),
        _ => panic!("proof is neither null nor an array"),
    }
}

fn hex_hash(s: &str) -> Hash {
    Hash::from_slice(&hex::decode(s).unwrap()).unwrap()
}

/// The RFC 6962 reference tree's leaves (the transparency-dev vectors use the same).
fn reference_tree() -> (Value, MemoryTree) {
    let text = std::fs::read_to_string(vectors().join("rfc6962-reference.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut t = MemoryTree::new();
    for leaf in v["leaves_hex"].as_array().unwrap() {
        t.append(&hex::decode(leaf.as_str().unwrap()).unwrap())
            .unwrap();
    }
    (v, t)
}

struct Outcome {
    name: String,
    want_err: bool,
    result: Result<(), String>,
}

fn check_outcomes(outcomes: &[Outcome], expected_files: usize) {
    assert_eq!(outcomes.len(), expected_files, "vector file count changed");
    let mut rejected_exceptions = 0;
    for o in outcomes {
        if KNOWN_REJECTED.contains(&o.name.as_str()) {
            assert!(!o.want_err, "{} is listed as a known exception", o.name);
            assert!(
                o.result.is_err(),
                "{}: known exception now accepted",
                o.name
            );
            rejected_exceptions += 1;
            continue;
        }
        match (&o.result, o.want_err) {
            (Ok(()), false) | (Err(_), true) => {}
            (Ok(()), true) => panic!("{}: accepted a corrupted vector", o.name),
            (Err(e), false) => panic!("{}: rejected a valid vector: {e}", o.name),
        }
    }
    let exceptions_here = KNOWN_REJECTED
        .iter()
        .filter(|k| outcomes.iter().any(|o| &o.name == *k))
        .count();
    assert_eq!(rejected_exceptions, exceptions_here);
}

fn relative_name(p: &Path) -> String {
    p.strip_prefix(vectors().join("transparency-dev-merkle"))
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn transparency_dev_inclusion_vectors() {
    let (_, tree) = reference_tree();
    let mut files = Vec::new();
    json_files(
        &vectors().join("transparency-dev-merkle/inclusion"),
        &mut files,
    );
    let mut outcomes = Vec::new();
    let mut happy = 0;
    for f in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let index = v["leafIdx"].as_u64().unwrap();
        let size = v["treeSize"].as_u64().unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let parsed = (
            b64_hash(&v["leafHash"]),
            b64_hash(&v["root"]),
            b64_proof(&v["proof"]),
        );
        let result = match parsed {
            (Some(leaf), Some(root), Some(proof)) => {
                let r = verify_inclusion(index, size, &leaf, &proof, &root);
                if r.is_ok() && size <= tree.size() && tree.leaf_hash(index) == Some(leaf) {
                    // A valid vector over the reference leaves: our generator agrees.
                    assert_eq!(inclusion_proof(index, size, &tree).unwrap(), proof, "{f:?}");
                    happy += 1;
                }
                r.map_err(|e| e.to_string())
            }
            _ => Err("not a 32-byte hash".to_owned()),
        };
        outcomes.push(Outcome {
            name: relative_name(f),
            want_err,
            result,
        });
    }
    check_outcomes(&outcomes, INCLUSION_FILES);
    assert_eq!(outcomes.iter().filter(|o| !o.want_err).count(), 6);
    assert_eq!(happy, 5, "happy paths regenerated from the reference tree");
}

#[test]
fn transparency_dev_consistency_vectors() {
    let (_, tree) = reference_tree();
    let mut files = Vec::new();
    json_files(
        &vectors().join("transparency-dev-merkle/consistency"),
        &mut files,
    );
    let mut outcomes = Vec::new();
    let mut happy = 0;
    for f in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let old = v["size1"].as_u64().unwrap();
        let new = v["size2"].as_u64().unwrap();
        let want_err = v["wantErr"].as_bool().unwrap();
        let parsed = (
            b64_hash(&v["root1"]),
            b64_hash(&v["root2"]),
            b64_proof(&v["proof"]),
        );
        let result = match parsed {
            (Some(r1), Some(r2), Some(proof)) => {
                let r = verify_consistency(old, new, &r1, &r2, &proof);
                if r.is_ok() && new <= tree.size() && r1 == tree.root_at(old).unwrap() {
                    assert_eq!(consistency_proof(old, new, &tree).unwrap(), proof, "{f:?}");
                    happy += 1;
                }
                r.map_err(|e| e.to_string())
            }
            _ => Err("not a 32-byte hash".to_owned()),
        };
        outcomes.push(Outcome {
            name: relative_name(f),
            want_err,
            result,
        });
    }
    check_outcomes(&outcomes, CONSISTENCY_FILES);
    assert_eq!(outcomes.iter().filter(|o| !o.want_err).count(), 6);
    assert_eq!(happy, 5, "happy paths regenerated from the reference tree");
}

#[test]
fn rfc6962_reference_tree() {
    let (v, tree) = reference_tree();
    assert_eq!(tree.size(), 8);
    assert_eq!(hex_hash(v["empty_root"].as_str().unwrap()), empty_root());
    assert_eq!(tree.root_at(0).unwrap(), empty_root());
    let roots = v["roots_by_size"].as_object().unwrap();
    assert_eq!(roots.len(), 8);
    let leaves: Vec<Hash> = (0..8).map(|i| tree.leaf_hash(i).unwrap()).collect();
    for (size, root) in roots {
        let size: u64 = size.parse().unwrap();
        let root = hex_hash(root.as_str().unwrap());
        assert_eq!(tree.root_at(size).unwrap(), root, "size {size}");
        assert_eq!(tree_root(size, &tree).unwrap(), root);
        assert_eq!(root_of_leaves(&leaves[..size as usize]), root);
    }
    let root_of = |s: u64| tree.root_at(s).unwrap();
    let inclusion = v["inclusion"].as_array().unwrap();
    assert_eq!(inclusion.len(), 5);
    for case in inclusion {
        let (index, size) = (
            case["index"].as_u64().unwrap(),
            case["size"].as_u64().unwrap(),
        );
        let proof: Vec<Hash> = case["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex_hash(h.as_str().unwrap()))
            .collect();
        assert_eq!(inclusion_proof(index, size, &tree).unwrap(), proof);
        let leaf = leaves[index as usize];
        verify_inclusion(index, size, &leaf, &proof, &root_of(size)).unwrap();
        assert!(verify_inclusion(index, size, &leaf, &proof, &root_of(size - 1)).is_err());
    }
    let consistency = v["consistency"].as_array().unwrap();
    assert_eq!(consistency.len(), 4);
    for case in consistency {
        let (old, new) = (
            case["old_size"].as_u64().unwrap(),
            case["size"].as_u64().unwrap(),
        );
        let proof: Vec<Hash> = case["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex_hash(h.as_str().unwrap()))
            .collect();
        assert_eq!(consistency_proof(old, new, &tree).unwrap(), proof);
        verify_consistency(old, new, &root_of(old), &root_of(new), &proof).unwrap();
        if old < new {
            assert!(verify_consistency(old, new, &root_of(old), &root_of(old), &proof).is_err());
        }
    }
}

fn log_small() -> PathBuf {
    vectors().join("taglog/log-small")
}

/// Root of `log-small/checkpoints/<size>`: the third line of the checkpoint text.
fn checkpoint_root(size: u64) -> Hash {
    let text = std::fs::read_to_string(log_small().join(format!("checkpoints/{size}"))).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], size.to_string());
    Hash::from_base64(lines[2]).unwrap()
}

#[test]
fn log_small_tiles_and_bundles() {
    let mut checked = 0;
    for size in [12u64, 21, 31] {
        let root = checkpoint_root(size);
        let width = u16::try_from(size).unwrap();
        let tile = TilePath::new(TileKind::Hash { level: 0 }, 0, width).unwrap();
        let path = format!("tile/0/000.p/{size}");
        assert_eq!(tile.to_path(), path);
        assert_eq!(TilePath::parse(&path).unwrap(), tile);
        let data = std::fs::read(log_small().join(&path)).unwrap();
        let leaves = tile_hashes_from_bytes(&tile, &data).unwrap();
        assert_eq!(leaves.len() as u64, size);
        assert_eq!(root_of_leaves(&leaves), root, "size {size}");

        // The verifying reader accepts the tile for this checkpoint and serves every leaf.
        let reader = TileHashReader::new(size, root, [(tile, data.clone())]).unwrap();
        assert_eq!(tree_root(size, &reader).unwrap(), root);
        let indexes: Vec<u64> = (0..size)
            .map(|i| taglog_proofs::tree::stored_hash_index(0, i))
            .collect();
        assert_eq!(reader.read_hashes(&indexes).unwrap(), leaves);
        // ... and rejects it against another checkpoint's root.
        let other = if size == 31 { 21 } else { 31 };
        assert!(TileHashReader::new(size, checkpoint_root(other), [(tile, data)]).is_err());

        let bundle_path = format!("tile/entries/000.p/{size}");
        let bundle = TilePath::parse(&bundle_path).unwrap();
        assert_eq!(bundle.kind(), TileKind::Entries);
        let bytes = std::fs::read(log_small().join(&bundle_path)).unwrap();
        let entries = decode_entry_bundle(&bytes, size as usize).unwrap();
        assert_eq!(entries.len() as u64, size);
        assert_eq!(entry_leaf_hashes(&entries), leaves);
        assert!(entries
            .iter()
            .map(|e| leaf_hash(e))
            .eq(leaves.iter().copied()));
        assert!(decode_entry_bundle(&bytes, size as usize - 1).is_err());
        assert!(decode_entry_bundle(&bytes, size as usize + 1).is_err());
        checked += 1;
    }
    assert_eq!(checked, 3);
    // Consistency of the three checkpoints, from a tree rebuilt out of the entry bundle.
    let bytes = std::fs::read(log_small().join("tile/entries/000.p/31")).unwrap();
    let mut tree = MemoryTree::new();
    for e in decode_entry_bundle(&bytes, 31).unwrap() {
        tree.append(&e).unwrap();
    }
    for (old, new) in [(12u64, 21u64), (12, 31), (21, 31)] {
        let proof = consistency_proof(old, new, &tree).unwrap();
        verify_consistency(
            old,
            new,
            &checkpoint_root(old),
            &checkpoint_root(new),
            &proof,
        )
        .unwrap();
    }
}
