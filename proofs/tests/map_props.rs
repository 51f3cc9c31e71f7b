//! Property tests of the tag map (DESIGN §3.6) against a naive reference: roots from recursive
//! bit splitting, proofs from a naive prover, corrupted proofs rejected, and the versioned
//! store (in memory and through the stored byte form) proving old versions against old roots.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use taglog_proofs::hash::Hash;
use taglog_proofs::map::{
    self, key_bit, map_leaf_hash, map_node_hash, naive_root, MapLookup, MapProof, MapStore,
    MapStoreError, MapValue, MemoryMapStore, NodeGroup, NodeKey, SparseMap, Terminal,
};

/// Four fixed bases; a key copies a base's first `shared` bits and takes the rest at random,
/// so key sets have long common prefixes (deep paths, long zero runs in bitmaps).
fn key_strategy() -> impl Strategy<Value = Hash> {
    (0usize..4, any::<[u8; 32]>(), 0usize..=256).prop_map(|(b, rnd, shared)| {
        let base = taglog_proofs::hash::sha256(&[b as u8]);
        let mut k = rnd;
        for i in 0..shared {
            let mask = 0x80u8 >> (i % 8);
            k[i / 8] = (k[i / 8] & !mask) | (base.0[i / 8] & mask);
        }
        Hash(k)
    })
}

fn value_strategy() -> impl Strategy<Value = MapValue> {
    (any::<u64>(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(index, version, h)| MapValue {
        index,
        version,
        leaf_hash: Hash(h),
    })
}

fn batches() -> impl Strategy<Value = Vec<Vec<(Hash, MapValue)>>> {
    prop::collection::vec(
        prop::collection::vec((key_strategy(), value_strategy()), 0..16),
        1..6,
    )
}

/// Final contents after applying batches in order (later pairs win).
fn contents(batches: &[Vec<(Hash, MapValue)>]) -> BTreeMap<Hash, MapValue> {
    let mut m = BTreeMap::new();
    for b in batches {
        for (k, v) in b {
            m.insert(*k, *v);
        }
    }
    m
}

fn hashes(m: &BTreeMap<Hash, MapValue>) -> BTreeMap<Hash, Hash> {
    m.iter().map(|(k, v)| (*k, v.value_hash())).collect()
}

fn naive_subtree(items: &[(Hash, MapValue)], depth: usize) -> Hash {
    match items {
        [] => Hash::ZERO,
        [(k, v)] => map_leaf_hash(k, &v.value_hash()),
        _ => {
            let (l, r) = items.split_at(items.partition_point(|(k, _)| !key_bit(k, depth)));
            map_node_hash(&naive_subtree(l, depth + 1), &naive_subtree(r, depth + 1))
        }
    }
}

/// The §3.6 proof computed directly from the sorted contents.
fn naive_prove(m: &BTreeMap<Hash, MapValue>, key: &Hash) -> MapProof {
    let all: Vec<(Hash, MapValue)> = m.iter().map(|(k, v)| (*k, *v)).collect();
    let mut set = &all[..];
    let (mut depth, mut bits, mut siblings) = (0usize, vec![], vec![]);
    let terminal = loop {
        match set {
            [] => break Terminal::Empty,
            [(k, v)] if k == key => {
                break Terminal::Value {
                    key: *k,
                    value: v.to_bytes().to_vec(),
                }
            }
            [(k, v)] => {
                break Terminal::ValueHash {
                    key: *k,
                    value_hash: v.value_hash(),
                }
            }
            _ => {
                let (l, r) = set.split_at(set.partition_point(|(k, _)| !key_bit(k, depth)));
                let (mine, other) = if key_bit(key, depth) { (r, l) } else { (l, r) };
                let s = naive_subtree(other, depth + 1);
                bits.push(s != Hash::ZERO);
                if s != Hash::ZERO {
                    siblings.push(s);
                }
                set = mine;
                depth += 1;
            }
        }
    };
    let mut bitmap = vec![0u8; depth.div_ceil(8)];
    for (i, b) in bits.iter().enumerate() {
        if *b {
            bitmap[i / 8] |= 0x80 >> (i % 8);
        }
    }
    MapProof {
        depth: depth as u16,
        bitmap,
        siblings,
        terminal,
    }
}

/// Every way we corrupt a valid proof; each yields a proof that differs from the original.
fn corruptions(p: &MapProof, pick: usize) -> Vec<MapProof> {
    let mut out = vec![];
    let mut c = p.clone();
    c.depth += 1;
    out.push(c);
    if p.depth > 0 {
        let mut c = p.clone();
        c.depth -= 1;
        out.push(c);
        // Clear a set bit and drop its sibling (the count stays consistent).
        let set: Vec<usize> = (0..p.depth as usize)
            .filter(|i| p.bitmap[i / 8] & (0x80 >> (i % 8)) != 0)
            .collect();
        if let Some(&i) = set.get(pick % set.len().max(1)) {
            let mut c = p.clone();
            c.bitmap[i / 8] &= !(0x80 >> (i % 8));
            let pos = set.iter().position(|x| *x == i).unwrap();
            c.siblings.remove(pos);
            out.push(c);
        }
        let unset: Vec<usize> = (0..p.depth as usize)
            .filter(|i| p.bitmap[i / 8] & (0x80 >> (i % 8)) == 0)
            .collect();
        if let Some(&i) = unset.get(pick % unset.len().max(1)) {
            let mut c = p.clone();
            c.bitmap[i / 8] |= 0x80 >> (i % 8);
            let pos = set.iter().filter(|x| **x < i).count();
            c.siblings.insert(pos, Hash([7; 32]));
            out.push(c);
        }
    }
    if !p.siblings.is_empty() {
        let j = pick % p.siblings.len();
        let mut c = p.clone();
        c.siblings[j].0[pick % 32] ^= 1 << (pick % 8);
        out.push(c);
        let mut c = p.clone();
        c.siblings.remove(j);
        out.push(c);
        let mut c = p.clone();
        c.siblings.push(Hash([1; 32]));
        out.push(c);
        if p.siblings.len() > 1 && p.siblings.first() != p.siblings.last() {
            let mut c = p.clone();
            c.siblings.reverse();
            out.push(c);
        }
    }
    let mut c = p.clone();
    c.bitmap.push(0);
    out.push(c);
    match &p.terminal {
        Terminal::Value { key, value } => {
            let mut c = p.clone();
            c.terminal = Terminal::ValueHash {
                key: *key,
                value_hash: taglog_proofs::hash::sha256(value),
            };
            out.push(c);
            let mut v = value.clone();
            v[pick % 48] ^= 1;
            let mut c = p.clone();
            c.terminal = Terminal::Value {
                key: *key,
                value: v,
            };
            out.push(c);
            let mut c = p.clone();
            c.terminal = Terminal::Empty;
            out.push(c);
        }
        Terminal::ValueHash { key, value_hash } => {
            let mut h = *value_hash;
            h.0[pick % 32] ^= 1;
            let mut c = p.clone();
            c.terminal = Terminal::ValueHash {
                key: *key,
                value_hash: h,
            };
            out.push(c);
            let mut c = p.clone();
            c.terminal = Terminal::Empty;
            out.push(c);
        }
        Terminal::Empty => {
            let mut c = p.clone();
            c.terminal = Terminal::ValueHash {
                key: Hash([9; 32]),
                value_hash: Hash([9; 32]),
            };
            out.push(c);
        }
    }
    out
}

/// The server's path: groups stored as bytes under byte keys.
#[derive(Default)]
struct ByteStore(HashMap<Vec<u8>, Vec<u8>>);

impl MapStore for ByteStore {
    fn get_group(&self, key: &NodeKey) -> Result<Option<Cow<'_, NodeGroup>>, MapStoreError> {
        self.0
            .get(&key.to_bytes())
            .map(|b| NodeGroup::from_bytes(b).map(Cow::Owned))
            .transpose()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn roots_and_proofs_match_the_naive_reference(
        batches in batches(),
        absent in prop::collection::vec(key_strategy(), 0..8),
        pick in any::<usize>(),
    ) {
        let mut sparse = SparseMap::new();
        for b in &batches {
            sparse.insert_batch(b).unwrap();
        }
        let m = contents(&batches);
        prop_assert_eq!(sparse.root(), naive_root(&hashes(&m)));
        prop_assert_eq!(sparse.len(), m.len() as u64);
        let root = sparse.root();
        let queries = m.keys().copied().chain(absent.iter().copied());
        for key in queries {
            let proof = sparse.prove(&key).unwrap();
            prop_assert_eq!(&proof, &naive_prove(&m, &key));
            let expected = m.get(&key).map_or(MapLookup::Absent, |v| MapLookup::Present(*v));
            prop_assert_eq!(proof.verify(&key, &root).unwrap(), expected);
            prop_assert_eq!(sparse.get(&key).unwrap(), m.get(&key).copied());
            prop_assert_eq!(&MapProof::from_json(&proof.to_json()).unwrap(), &proof);
            for bad in corruptions(&proof, pick) {
                prop_assert!(bad.verify(&key, &root).is_err(), "accepted {:?}", bad);
            }
            let mut other_root = root;
            other_root.0[pick % 32] ^= 1;
            prop_assert!(proof.verify(&key, &other_root).is_err());
            if let MapLookup::Present(_) = expected {
                let mut other = key;
                other.0[31] ^= 1;
                prop_assert!(proof.verify(&other, &root).is_err());
            }
        }
    }

    #[test]
    fn old_versions_prove_against_old_roots(batches in batches(), pick in any::<usize>()) {
        let mut mem = MemoryMapStore::new();
        let mut bytes = ByteStore::default();
        let mut base = None;
        let mut history = vec![];
        let mut stale_by_version = vec![];
        for (i, b) in batches.iter().enumerate() {
            let version = 10 + 3 * i as u64; // versions need not be contiguous
            let u = map::update(&mem, base, version, b).unwrap();
            let ub = map::update(&bytes, base, version, b).unwrap();
            prop_assert_eq!(u.root, ub.root);
            prop_assert_eq!(&u.writes, &ub.writes);
            for (k, g) in &u.writes {
                prop_assert_eq!(&NodeGroup::from_bytes(&g.to_bytes()).unwrap(), g);
                prop_assert_eq!(NodeKey::from_bytes(&k.to_bytes()).unwrap(), *k);
                bytes.0.insert(k.to_bytes(), g.to_bytes());
            }
            stale_by_version.push(u.stale.clone());
            mem.write(u.writes);
            prop_assert_eq!(map::root_hash(&mem, version).unwrap(), u.root);
            history.push((version, u.root, contents(&batches[..=i])));
            base = Some(version);
        }
        for (version, root, m) in &history {
            prop_assert_eq!(*root, naive_root(&hashes(m)));
            let mut keys: Vec<Hash> = m.keys().copied().collect();
            keys.push(Hash([pick as u8; 32]));
            if let Some((_, _, last)) = history.last() {
                keys.extend(last.keys().copied()); // keys added later are absent here
            }
            for key in keys {
                let p = map::prove(&mem, *version, &key).unwrap();
                prop_assert_eq!(&p, &map::prove(&bytes, *version, &key).unwrap());
                let expected = m.get(&key).map_or(MapLookup::Absent, |v| MapLookup::Present(*v));
                prop_assert_eq!(p.verify(&key, root).unwrap(), expected);
                prop_assert_eq!(map::get(&mem, *version, &key).unwrap(), m.get(&key).copied());
            }
        }
        // Pruning everything stale leaves the newest version whole and old roots unreadable.
        for s in &stale_by_version {
            mem.prune(s);
        }
        let (last_version, last_root, last) = history.last().unwrap();
        for key in last.keys() {
            let p = map::prove(&mem, *last_version, key).unwrap();
            prop_assert!(p.verify(key, last_root).is_ok());
        }
        if history.len() > 1 {
            let missing = matches!(
                map::root_hash(&mem, history[0].0),
                Err(MapStoreError::MissingNode(_))
            );
            prop_assert!(missing);
        }
        let again = map::update(&mem, Some(*last_version), *last_version, &[]);
        let not_increasing = matches!(again, Err(MapStoreError::VersionNotIncreasing { .. }));
        prop_assert!(not_increasing);
    }

    #[test]
    fn parsing_arbitrary_json_never_panics(text in ".{0,200}", pick in any::<usize>()) {
        let _ = MapProof::from_json(&text);
        let valid = r#"{"depth":2,"bitmap":"wA==","siblings":["AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="],"terminal":{"key":"AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=","value_hash":"BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="}}"#;
        prop_assert!(MapProof::from_json(valid).is_ok());
        let mut b = valid.as_bytes().to_vec();
        let i = pick % b.len();
        b[i] = b[i].wrapping_add((pick >> 8) as u8 | 1);
        if let Ok(s) = std::str::from_utf8(&b) {
            let _ = MapProof::from_json(s);
        }
    }
}

#[test]
fn empty_and_single_key_maps() {
    let mut m = SparseMap::new();
    assert_eq!(m.root(), Hash::ZERO);
    let k = Hash([5; 32]);
    let p = m.prove(&k).unwrap();
    assert_eq!(p.verify(&k, &Hash::ZERO).unwrap(), MapLookup::Absent);
    let v = MapValue {
        index: 1,
        version: 1,
        leaf_hash: Hash([1; 32]),
    };
    m.insert(k, v).unwrap();
    assert_eq!(m.root(), map_leaf_hash(&k, &v.value_hash()));
    assert_eq!(
        m.prove(&k).unwrap().verify(&k, &m.root()).unwrap(),
        MapLookup::Present(v)
    );
    // An empty batch keeps the root and still writes a new version.
    let r = m.root();
    assert_eq!(m.insert_batch(&[]).unwrap(), r);
    assert_eq!(m.len(), 1);
    // Two keys equal in their first 255 bits split at depth 255; their leaves are at 256.
    let mut k2 = k;
    k2.0[31] ^= 1;
    m.insert(k2, v).unwrap();
    let p = m.prove(&k2).unwrap();
    assert_eq!(p.depth, 256);
    assert_eq!(p.siblings.len(), 1);
    assert_eq!(p.verify(&k2, &m.root()).unwrap(), MapLookup::Present(v));
}
