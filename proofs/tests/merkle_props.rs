//! Property tests for the Merkle tree, proofs and tiles: roots against an independent oracle
//! (`rs_merkle` with an RFC 6962 hasher), every generated proof verifies, every corruption
//! fails, tile paths round-trip, and decoders never panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use taglog_proofs::consistency::{consistency_proof, verify_consistency};
use taglog_proofs::hash::{empty_root, leaf_hash, node_hash, sha256, Hash};
use taglog_proofs::inclusion::{inclusion_proof, inclusion_proof_indexes, verify_inclusion};
use taglog_proofs::tiles::{
    decode_entry_bundle, encode_entry_bundle, new_entry_bundles, new_tiles, partial_from_full,
    tile_data, tiles_for_size, TileError, TileHashReader, TileKind, TilePath, MAX_ENTRY_BYTES,
};
use taglog_proofs::tree::{root_of_leaves, tree_root, HashReader, MemoryTree};

/// RFC 6962 node hashing for `rs_merkle`. Leaves are given to it already hashed.
#[derive(Clone)]
struct Rfc6962;

impl rs_merkle::Hasher for Rfc6962 {
    type Hash = [u8; 32];
    fn hash(data: &[u8]) -> [u8; 32] {
        sha256(data).0
    }
    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(r) => node_hash(&Hash(*left), &Hash(*r)).0,
            // rs_merkle promotes a lone last node unchanged to the next layer.
            None => *left,
        }
    }
}

/// rs_merkle's root. It pairs nodes bottom-up and promotes a lone last node unchanged; for
/// RFC 6962 trees (split at the largest power of two below n) that builds the same shape, so
/// the roots agree for every size >= 1. rs_merkle has no root for 0 leaves (RFC: SHA-256("")).
fn rs_merkle_root(leaves: &[Hash]) -> Option<Hash> {
    let raw: Vec<[u8; 32]> = leaves.iter().map(|h| h.0).collect();
    rs_merkle::MerkleTree::<Rfc6962>::from_leaves(&raw)
        .root()
        .map(Hash)
}

fn entry(seed: u64, i: u64) -> Vec<u8> {
    [seed.to_be_bytes(), i.to_be_bytes()].concat()
}

fn build(seed: u64, size: u64) -> (MemoryTree, Vec<Hash>) {
    let mut t = MemoryTree::new();
    let mut leaves = Vec::with_capacity(size as usize);
    for i in 0..size {
        let e = entry(seed, i);
        leaves.push(leaf_hash(&e));
        t.append(&e).unwrap();
    }
    (t, leaves)
}

fn flip(h: &Hash, bit: usize) -> Hash {
    let mut b = h.0;
    b[(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash(b)
}

#[test]
fn rs_merkle_agrees_for_every_size_up_to_300() {
    let (tree, leaves) = build(7, 300);
    assert_eq!(rs_merkle_root(&[]), None);
    assert_eq!(tree.root_at(0).unwrap(), empty_root());
    for size in 1..=300usize {
        let ours = tree.root_at(size as u64).unwrap();
        assert_eq!(Some(ours), rs_merkle_root(&leaves[..size]), "size {size}");
        assert_eq!(ours, root_of_leaves(&leaves[..size]), "size {size}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn roots_match_rs_merkle(seed in any::<u64>(), size in 1u64..=10_000) {
        let (tree, leaves) = build(seed, size);
        let root = tree.root();
        prop_assert_eq!(Some(root), rs_merkle_root(&leaves));
        prop_assert_eq!(root, root_of_leaves(&leaves));
        prop_assert_eq!(tree_root(size, &tree).unwrap(), root);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn inclusion_proofs_verify_and_corruptions_fail(
        seed in any::<u64>(), size in 1u64..=2000, pick in any::<u64>(), bit in any::<usize>(),
    ) {
        // One tree of twice the size serves this size and the "other size" checks.
        let (tree, leaves) = build(seed, size * 2);
        let index = pick % size;
        let root = tree.root_at(size).unwrap();
        let leaf = leaves[index as usize];
        let proof = inclusion_proof(index, size, &tree).unwrap();
        prop_assert!(proof.len() <= 63);
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());

        // Bit flips in the leaf, the root and each proof hash.
        prop_assert!(verify_inclusion(index, size, &flip(&leaf, bit), &proof, &root).is_err());
        prop_assert!(verify_inclusion(index, size, &leaf, &proof, &flip(&root, bit)).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
        }
        // Truncation and extension.
        if let Some((_, short)) = proof.split_last() {
            prop_assert!(verify_inclusion(index, size, &leaf, short, &root).is_err());
            prop_assert!(verify_inclusion(index, size, &leaf, &proof[1..], &root).is_err());
        }
        for extra in [root, leaf, Hash::ZERO] {
            let mut long = proof.clone();
            long.push(extra);
            prop_assert!(verify_inclusion(index, size, &leaf, &long, &root).is_err());
            let mut long = vec![extra];
            long.extend_from_slice(&proof);
            prop_assert!(verify_inclusion(index, size, &leaf, &long, &root).is_err());
        }
        // Index ±1 and XOR 2, with the same leaf.
        for other in [index.wrapping_sub(1), index + 1, index ^ 2] {
            if other != index {
                prop_assert!(verify_inclusion(other, size, &leaf, &proof, &root).is_err());
            }
        }
        // Another size, checked against that size's real root.
        for other in [size - 1, size + 1, size / 2, size * 2] {
            if other != size && other > index {
                let other_root = tree.root_at(other).unwrap();
                prop_assert!(verify_inclusion(index, other, &leaf, &proof, &other_root).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_corruptions_fail(
        seed in any::<u64>(), new in 1u64..=2000, pick in any::<u64>(), bit in any::<usize>(),
    ) {
        let (tree, _) = build(seed, new + 2);
        let old = 1 + pick % new;
        let (old_root, new_root) = (tree.root_at(old).unwrap(), tree.root_at(new).unwrap());
        let proof = consistency_proof(old, new, &tree).unwrap();
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof).is_ok());
        prop_assert_eq!(proof.is_empty(), old == new);

        prop_assert!(verify_consistency(old, new, &flip(&old_root, bit), &new_root, &proof).is_err());
        prop_assert!(verify_consistency(old, new, &old_root, &flip(&new_root, bit), &proof).is_err());
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i], bit);
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
        }
        if let Some((_, short)) = proof.split_last() {
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, short).is_err());
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof[1..]).is_err());
        }
        for extra in [old_root, new_root, Hash::ZERO] {
            let mut long = proof.clone();
            long.push(extra);
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &long).is_err());
            let mut long = vec![extra];
            long.extend_from_slice(&proof);
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &long).is_err());
        }
        // Other sizes, each with its real root.
        for (o, n) in [(old - 1, new), (old + 1, new), (old, new - 1), (old, new + 1), (old / 2, new), (old, new * 2)] {
            if (o, n) != (old, new) && n <= new + 2 {
                let (ro, rn) = (tree.root_at(o).unwrap(), tree.root_at(n).unwrap());
                prop_assert!(verify_consistency(o, n, &ro, &rn, &proof).is_err(), "{} {}", o, n);
            }
        }
    }

    #[test]
    fn tile_paths_round_trip(
        hash_tile in any::<bool>(), level in 0u8..=63, index in any::<u64>(), width in 1u16..=256,
    ) {
        let kind = if hash_tile { TileKind::Hash { level } } else { TileKind::Entries };
        let tile = TilePath::new(kind, index, width).unwrap();
        let path = tile.to_path();
        prop_assert_eq!(TilePath::parse(&path), Ok(tile));
        prop_assert_eq!(path.parse::<TilePath>(), Ok(tile));
    }

    #[test]
    fn tile_path_parse_accepts_only_canonical(s in "tile/(entries|0|1|00|63|64)/(x[0-9]{3}/){0,3}[0-9]{2,4}(\\.p/[0-9]{1,3})?/?") {
        if let Ok(tile) = TilePath::parse(&s) {
            prop_assert_eq!(tile.to_path(), s);
        }
    }

    #[test]
    fn tile_path_parse_never_panics(s in "\\PC{0,80}") {
        if let Ok(tile) = TilePath::parse(&s) {
            prop_assert_eq!(tile.to_path(), s);
        }
    }

    #[test]
    fn entry_bundle_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048), count in 0usize..300) {
        if let Ok(entries) = decode_entry_bundle(&bytes, count) {
            prop_assert_eq!(entries.len(), count);
            let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(encode_entry_bundle(&refs).unwrap(), bytes);
        }
    }

    #[test]
    fn entry_bundles_round_trip(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..=256)) {
        let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
        let bytes = encode_entry_bundle(&refs).unwrap();
        prop_assert_eq!(decode_entry_bundle(&bytes, entries.len()).unwrap(), entries.clone());
        let mut trailing = bytes.clone();
        trailing.push(0);
        prop_assert!(decode_entry_bundle(&trailing, entries.len()).is_err());
        if !bytes.is_empty() {
            prop_assert!(decode_entry_bundle(&bytes[..bytes.len() - 1], entries.len()).is_err());
        }
    }
}

#[test]
fn tile_path_examples() {
    let ok = [
        ("tile/0/000", TileKind::Hash { level: 0 }, 0, 256),
        (
            "tile/0/x001/x234/067",
            TileKind::Hash { level: 0 },
            1_234_067,
            256,
        ),
        (
            "tile/63/x001/000.p/255",
            TileKind::Hash { level: 63 },
            1000,
            255,
        ),
        ("tile/entries/123.p/1", TileKind::Entries, 123, 1),
        (
            "tile/2/x018/x446/x744/x073/x709/x551/615",
            TileKind::Hash { level: 2 },
            u64::MAX,
            256,
        ),
    ];
    for (s, kind, index, width) in ok {
        let t = TilePath::parse(s).unwrap();
        assert_eq!(
            (t.kind(), t.index(), t.width()),
            (kind, index, width),
            "{s}"
        );
        assert_eq!(t.to_path(), s);
    }
    let bad = [
        "",
        "tile/",
        "tile/0",
        "tile/0/",
        "tile/0/00",
        "tile/0/0000",
        "tile/0/1",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/256/000",
        "tile/-1/000",
        "tile/0/x000/001",
        "tile/0/x001",
        "tile/0/001/002",
        "tile/0/X001/002",
        "tile/0/x1234/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/007",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000/",
        "/tile/0/000",
        "tile/0/000.p/5/",
        "tile/entries/000.p/300",
        "tile/ENTRIES/000",
        "tile/0/+00",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x001/x000/x000/x000/x000/x000/x000/000",
        "tile/0/000 ",
        "tile/0/000.p/1\n",
    ];
    for s in bad {
        assert!(TilePath::parse(s).is_err(), "{s:?} accepted");
    }
    assert!(matches!(
        TilePath::parse(&"tile/0/".repeat(20)),
        Err(TileError::PathTooLong { .. })
    ));
    assert_eq!(
        TilePath::new(TileKind::Entries, 0, 0),
        Err(TileError::BadWidth(0))
    );
    assert_eq!(
        TilePath::new(TileKind::Entries, 0, 257),
        Err(TileError::BadWidth(257))
    );
    assert_eq!(
        TilePath::new(TileKind::Hash { level: 64 }, 0, 1),
        Err(TileError::BadLevel(64))
    );
}

#[test]
fn entry_bundle_limits() {
    let big = vec![0u8; MAX_ENTRY_BYTES + 1];
    assert!(matches!(
        encode_entry_bundle(&[b"a", &big]),
        Err(TileError::EntryTooLarge { index: 1, .. })
    ));
    let max = vec![7u8; MAX_ENTRY_BYTES];
    let bytes = encode_entry_bundle(&[&max]).unwrap();
    assert_eq!(decode_entry_bundle(&bytes, 1).unwrap(), vec![max]);
    let many: Vec<&[u8]> = vec![b"x"; 257];
    assert!(matches!(
        encode_entry_bundle(&many),
        Err(TileError::TooManyEntries { .. })
    ));
    assert!(matches!(
        decode_entry_bundle(&[], 257),
        Err(TileError::TooManyEntries { .. })
    ));
    assert_eq!(decode_entry_bundle(&[], 0).unwrap(), Vec::<Vec<u8>>::new());
    assert!(matches!(
        decode_entry_bundle(&[0, 5, 1], 1),
        Err(TileError::BundleTruncated { index: 0, .. })
    ));
    assert!(matches!(
        decode_entry_bundle(&[0, 0], 2),
        Err(TileError::BundleTruncated { index: 1, .. })
    ));
    assert!(matches!(
        decode_entry_bundle(&[0, 0, 9], 1),
        Err(TileError::TrailingBytes { count: 1, .. })
    ));
}

#[test]
fn tiles_for_size_matches_the_spec_example() {
    // tlog-tiles: size 70,000 has 273 full level-0 tiles, one partial of width 112, one full
    // level-1 tile, a partial level-1 tile of width 17, and a partial level-2 tile of width 1.
    let tiles = tiles_for_size(70_000);
    let at = |level| -> Vec<TilePath> {
        tiles
            .iter()
            .copied()
            .filter(|t| t.kind() == TileKind::Hash { level })
            .collect()
    };
    let l0 = at(0);
    assert_eq!(l0.len(), 274);
    assert_eq!(l0.iter().filter(|t| t.is_full()).count(), 273);
    assert_eq!((l0[273].index(), l0[273].width()), (273, 112));
    assert_eq!(
        at(1).iter().map(|t| t.width()).collect::<Vec<_>>(),
        vec![256, 17]
    );
    assert_eq!(
        at(2)
            .iter()
            .map(|t| (t.index(), t.width()))
            .collect::<Vec<_>>(),
        vec![(0, 1)]
    );
    assert_eq!(tiles.len(), 274 + 2 + 1);
    let size_256: Vec<String> = tiles_for_size(256).iter().map(TilePath::to_path).collect();
    assert_eq!(size_256, vec!["tile/0/000", "tile/1/000.p/1"]);
    assert!(tiles_for_size(0).is_empty());
    assert_eq!(
        new_tiles(69_999, 70_000)
            .iter()
            .map(TilePath::to_path)
            .collect::<Vec<_>>(),
        vec!["tile/0/273.p/112"]
    );
    assert_eq!(
        new_tiles(255, 256)
            .iter()
            .map(TilePath::to_path)
            .collect::<Vec<_>>(),
        vec!["tile/0/000", "tile/1/000.p/1"]
    );
}

/// Serves tiles from a tree the way a log would, at a given published size.
fn fetch(tree: &MemoryTree, tiles: &[TilePath]) -> Vec<(TilePath, Vec<u8>)> {
    tiles
        .iter()
        .map(|t| (*t, tile_data(t, tree).unwrap()))
        .collect()
}

#[test]
fn tile_hash_reader_proves_like_the_tree() {
    let (tree, _) = build(3, 70_000);
    for size in [1u64, 255, 256, 257, 65_535, 65_536, 65_537, 69_999, 70_000] {
        let root = tree.root_at(size).unwrap();
        for index in [0, size / 3, size - 1] {
            let want = inclusion_proof(index, size, &tree).unwrap();
            let needed = inclusion_proof_indexes(index, size).unwrap();
            let tiles = TileHashReader::tiles_needed(size, &needed).unwrap();
            let reader = TileHashReader::new(size, root, fetch(&tree, &tiles)).unwrap();
            assert_eq!(
                inclusion_proof(index, size, &reader).unwrap(),
                want,
                "{index}/{size}"
            );
            assert_eq!(tree_root(size, &reader).unwrap(), root);
            // Leaving out any one tile is detected.
            for skip in 0..tiles.len() {
                let mut fetched = fetch(&tree, &tiles);
                fetched.remove(skip);
                let partial = TileHashReader::new(size, root, fetched);
                if let Ok(r) = partial {
                    assert!(inclusion_proof(index, size, &r).is_err());
                }
            }
        }
        for old in [1u64, (size / 2).max(1), size] {
            let want = consistency_proof(old, size, &tree).unwrap();
            let needed = taglog_proofs::consistency::consistency_proof_indexes(old, size).unwrap();
            let tiles = TileHashReader::tiles_needed(size, &needed).unwrap();
            let reader = TileHashReader::new(size, root, fetch(&tree, &tiles)).unwrap();
            assert_eq!(consistency_proof(old, size, &reader).unwrap(), want);
        }
    }
}

#[test]
fn tile_hash_reader_rejects_bad_tiles() {
    let (tree, _) = build(4, 70_000);
    let size = 69_900;
    let root = tree.root_at(size).unwrap();
    let needed = inclusion_proof_indexes(5, size).unwrap();
    let tiles = TileHashReader::tiles_needed(size, &needed).unwrap();
    let good = fetch(&tree, &tiles);
    assert!(TileHashReader::new(size, root, good.clone()).is_ok());
    // Any flipped byte in any tile is caught.
    for i in 0..good.len() {
        let mut bad = good.clone();
        let last = bad[i].1.len() - 1;
        bad[i].1[last] ^= 1;
        assert!(TileHashReader::new(size, root, bad).is_err(), "tile {i}");
    }
    // Wrong root, duplicate tile, wrong length, entry bundle, tile beyond the size.
    assert!(matches!(
        TileHashReader::new(size, tree.root_at(size - 1).unwrap(), good.clone()),
        Err(TileError::RootMismatch { .. })
    ));
    let mut dup = good.clone();
    dup.push(good[0].clone());
    assert!(matches!(
        TileHashReader::new(size, root, dup),
        Err(TileError::DuplicateTile(_))
    ));
    let mut short = good.clone();
    short[0].1.pop();
    assert!(matches!(
        TileHashReader::new(size, root, short),
        Err(TileError::WrongDataLength { .. })
    ));
    let mut entries = good.clone();
    entries.push((TilePath::parse("tile/entries/000").unwrap(), vec![]));
    assert!(matches!(
        TileHashReader::new(size, root, entries),
        Err(TileError::NotAHashTile(_))
    ));
    let mut beyond = good.clone();
    beyond.push((TilePath::parse("tile/0/300").unwrap(), vec![0; 8192]));
    assert!(matches!(
        TileHashReader::new(size, root, beyond),
        Err(TileError::NotInTree { .. })
    ));
    // A partial tile from an older size is too narrow; one from a newer size stands in.
    let edge = TilePath::parse("tile/0/273.p/12").unwrap();
    assert!(good.iter().any(|(t, _)| *t == edge));
    let wider = TilePath::parse("tile/0/273.p/112").unwrap();
    let mut newer: Vec<_> = good.iter().filter(|(t, _)| *t != edge).cloned().collect();
    newer.push((wider, tile_data(&wider, &tree).unwrap()));
    let reader = TileHashReader::new(size, root, newer).unwrap();
    assert_eq!(tree_root(size, &reader).unwrap(), root);
    let narrower = TilePath::parse("tile/0/273.p/11").unwrap();
    let mut older: Vec<_> = good.iter().filter(|(t, _)| *t != edge).cloned().collect();
    older.push((narrower, tile_data(&narrower, &tree).unwrap()));
    assert!(matches!(
        TileHashReader::new(size, root, older),
        Err(TileError::TooNarrow { .. })
    ));
    // Reads outside the tree are refused, not guessed.
    let reader = TileHashReader::new(size, root, good).unwrap();
    let outside = taglog_proofs::tree::stored_hash_index(0, size);
    assert!(reader.read_hashes(&[outside]).is_err());
}

#[test]
fn a_superseded_partial_tile_is_the_start_of_its_full_tile() {
    // A log may delete a partial tile once its full tile exists (C2SP tlog-tiles); a reader
    // then cuts the partial tile from the full one and must get the bytes the log served.
    const FINAL: u64 = 65_800;
    let (tree, _) = build(7, FINAL);
    let entries: Vec<Vec<u8>> = (0..FINAL).map(|i| entry(7, i)).collect();
    let bundle = |t: &TilePath| -> Vec<u8> {
        let start = (t.index() * 256) as usize;
        let refs: Vec<&[u8]> = entries[start..start + usize::from(t.width())]
            .iter()
            .map(Vec::as_slice)
            .collect();
        encode_entry_bundle(&refs).unwrap()
    };
    let mut checked = 0;
    for size in [1, 2, 255, 257, 300, 511, 1_000, 40_000, 65_535, 65_537] {
        let mut partials: Vec<TilePath> = tiles_for_size(size);
        partials.extend(new_entry_bundles(0, size));
        partials.retain(|t| !t.is_full());
        for p in partials {
            assert_eq!(p.width_at(size), p.width(), "{p} at {size}");
            assert!(p.width_at(FINAL) >= p.width());
            if p.width_at(FINAL) != 256 {
                continue;
            }
            let (served, full) = match p.kind() {
                TileKind::Entries => (bundle(&p), bundle(&p.full())),
                TileKind::Hash { .. } => (
                    tile_data(&p, &tree).unwrap(),
                    tile_data(&p.full(), &tree).unwrap(),
                ),
            };
            assert_eq!(partial_from_full(&p, &full).unwrap(), served, "{p}");
            checked += 1;
            // Anything but a full tile is refused.
            assert!(partial_from_full(&p, &served).is_err());
            assert!(partial_from_full(&p, &full[..full.len() - 1]).is_err());
        }
    }
    // Level-0 and level-1 hash tiles and entry bundles were all exercised.
    assert!(checked >= 20, "{checked}");
    assert_eq!(
        TilePath::parse("tile/1/000.p/3").unwrap().width_at(65_535),
        255
    );
    assert_eq!(
        TilePath::parse("tile/1/000.p/3").unwrap().width_at(65_536),
        256
    );
    assert_eq!(
        TilePath::parse("tile/entries/001.p/3")
            .unwrap()
            .width_at(100),
        0
    );
}
