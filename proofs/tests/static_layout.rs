//! Static objects (issue 15): a bundle rebuilt from a bucket of tiles, entry bundles, map
//! objects, edge objects and a checkpoint equals, field by field, the bundle `/lookup` builds
//! from storage for the same checkpoint (also from a bucket without edge objects); the one
//! verifier accepts it; every altered object is rejected before anything is read from it;
//! and with the edge object a reader that is warm at an earlier size fetches no tile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use taglog_proofs::binding::{sign_binding, Binding, DigestValue};
use taglog_proofs::bundle::{Bundle, ConsistencyMember, LeafProof, MapMember, Status};
use taglog_proofs::checkpoint::{sign_checkpoint, Checkpoint};
use taglog_proofs::consistency::consistency_proof;
use taglog_proofs::hash::{leaf_hash, Hash};
use taglog_proofs::inclusion::inclusion_proof;
use taglog_proofs::leaves::StateLeaf;
use taglog_proofs::map::{self, MapValue, MemoryMapStore};
use taglog_proofs::note::{KeyName, KeyType, SignerKey};
use taglog_proofs::policy::Policy;
use taglog_proofs::refs::TagRef;
use taglog_proofs::static_layout::{
    edge_path, map_objects, top_map_object, BundleBuilder, EdgeObject, Locator, MapObject,
    MapObjectError, ObjectPath, PackId, StaticError, EDGE_WINDOW_LEAVES, MAX_MAP_OBJECT_BYTES,
    PACK_ID_BYTES,
};
use taglog_proofs::tiles::{encode_entry_bundle, new_entry_bundles, new_tiles, tile_data};
use taglog_proofs::tree::MemoryTree;
use taglog_proofs::verify::{verify, VerifyRequest};

const ORIGIN: &str = "log.test/static";
const NOW: u64 = 1_764_000_000;

fn key(name: &str, n: u8) -> SignerKey {
    SignerKey::from_seed(name.parse::<KeyName>().unwrap(), KeyType::Ed25519, [n; 32])
}

fn reference(n: u16) -> TagRef {
    format!("registry.example/acme/app{}:v{}", n % 7, n)
        .parse()
        .unwrap()
}

/// A log kept the way the server keeps it: entries, tree hashes, the versioned map (one
/// version per checkpoint size) and signed checkpoints.
struct TestLog {
    log_key: SignerKey,
    publisher: SignerKey,
    entries: Vec<Vec<u8>>,
    tree: MemoryTree,
    map: MemoryMapStore,
    values: BTreeMap<Hash, MapValue>,
    checkpoints: Vec<(u64, Vec<u8>)>,
    bucket: BTreeMap<String, Vec<u8>>,
    published: Option<u64>,
    /// Publish map objects in packs, with locators (format 2), as taglog's publisher does.
    packed: bool,
    /// Where each published map object is (packed mode).
    locations: BTreeMap<Hash, Locator>,
    packs: u8,
}

impl TestLog {
    fn new() -> TestLog {
        TestLog {
            log_key: key(ORIGIN, 1),
            publisher: key("publisher.test", 2),
            entries: Vec::new(),
            tree: MemoryTree::new(),
            map: MemoryMapStore::new(),
            values: BTreeMap::new(),
            checkpoints: Vec::new(),
            bucket: BTreeMap::new(),
            published: None,
            packed: false,
            locations: BTreeMap::new(),
            packs: 0,
        }
    }

    /// Uploads the map objects of `size` newer than the last published version as one pack
    /// with locators, and the top one at its own address; returns the top one's bytes.
    fn publish_packed(&mut self, size: u64) -> Option<Vec<u8>> {
        let objects = map_objects(&self.map, size, self.published).unwrap();
        self.packs += 1;
        let pack = PackId([self.packs; PACK_ID_BYTES]);
        let mut offset = 0u32;
        for o in objects.iter().filter(|o| o.nibbles > 0) {
            let len = u32::try_from(o.located_len()).unwrap();
            self.locations
                .insert(o.address, Locator::Packed { pack, offset, len });
            offset += len;
        }
        let (mut bytes, mut top) = (Vec::new(), None);
        for o in &objects {
            let locators: Vec<Locator> = o
                .children
                .iter()
                .map(|(a, _, _)| self.locations[a])
                .collect();
            let located = o.located(&locators).unwrap();
            if o.nibbles == 0 {
                self.bucket
                    .insert(ObjectPath::Map(o.address).to_path(), located.clone());
                top = Some(located);
            } else {
                bytes.extend(located);
            }
        }
        if !bytes.is_empty() {
            self.bucket.insert(ObjectPath::Pack(pack).to_path(), bytes);
        }
        top
    }

    fn append(&mut self, entry: Vec<u8>) -> u64 {
        let i = self.tree.append(&entry).unwrap();
        self.entries.push(entry);
        i
    }

    /// One checkpoint: bindings (ref number, digest byte; 0 = withdrawal), then a state leaf.
    fn commit(&mut self, bindings: &[(u16, u8)]) {
        let mut batch = Vec::new();
        for &(r, d) in bindings {
            let reference = reference(r);
            let version = self
                .values
                .get(&reference.key())
                .map_or(1, |v| v.version + 1);
            let digest = if d == 0 {
                DigestValue::Withdrawn
            } else {
                format!("sha256:{}", hex::encode([d; 32])).parse().unwrap()
            };
            let b = Binding {
                log: ORIGIN.into(),
                reference: reference.clone(),
                digest,
                version,
                time: NOW,
            };
            let entry = sign_binding(&b, &self.publisher).unwrap();
            let value = MapValue {
                index: self.tree.size(),
                version,
                leaf_hash: leaf_hash(&entry),
            };
            self.append(entry);
            self.values.insert(reference.key(), value);
            batch.push((reference.key(), value));
        }
        let size = self.tree.size() + 1;
        let base = self.checkpoints.last().map(|(s, _)| *s);
        let update = map::update(&self.map, base, size, &batch).unwrap();
        self.map.write(update.writes);
        let state = StateLeaf {
            size: size - 1,
            map_root: update.root,
            time: NOW,
        };
        self.append(state.to_text().into_bytes());
        let cp = Checkpoint::new(ORIGIN, size, self.tree.root()).unwrap();
        self.checkpoints
            .push((size, sign_checkpoint(&cp, &self.log_key).unwrap()));
    }

    /// Uploads what the newest checkpoint adds, as the publisher does: tiles and bundles,
    /// map objects newer than the last published version, the edge object, then the
    /// checkpoint.
    fn publish(&mut self) {
        let (size, note) = self.checkpoints.last().cloned().unwrap();
        let old = self.published.unwrap_or(0);
        for tile in new_tiles(old, size) {
            let data = tile_data(&tile, &self.tree).unwrap();
            self.bucket.insert(tile.to_path(), data);
        }
        for tile in new_entry_bundles(old, size) {
            let start = usize::try_from(tile.index() * 256).unwrap();
            let end = start + usize::from(tile.width());
            let entries: Vec<&[u8]> = self.entries[start..end].iter().map(Vec::as_slice).collect();
            self.bucket
                .insert(tile.to_path(), encode_entry_bundle(&entries).unwrap());
        }
        let top = if self.packed {
            self.publish_packed(size)
        } else {
            for object in map_objects(&self.map, size, self.published).unwrap() {
                self.bucket
                    .insert(ObjectPath::Map(object.address).to_path(), object.bytes);
            }
            top_map_object(&self.map, size).unwrap()
        };
        let entry = self.entries.last().unwrap().clone();
        let edge = EdgeObject::new(size, entry, &self.tree, top).unwrap();
        self.bucket
            .insert(edge_path(size), edge.to_bytes().unwrap());
        self.bucket.insert("checkpoint".into(), note);
        self.published = Some(size);
    }

    /// What the server's `/lookup` answers against the newest checkpoint.
    fn lookup(&self, reference: &TagRef, since: Option<u64>) -> Bundle {
        let (size, note) = self.checkpoints.last().cloned().unwrap();
        let leaf = |index: u64| LeafProof {
            index,
            entry: self.entries[usize::try_from(index).unwrap()].clone(),
            inclusion: inclusion_proof(index, size, &self.tree).unwrap(),
        };
        let proof = map::prove(&self.map, size, &reference.key()).unwrap();
        let value = map::get(&self.map, size, &reference.key()).unwrap();
        let binding = value.map(|v| leaf(v.index));
        let status = match &binding {
            None => Status::Unbound,
            Some(b) if String::from_utf8_lossy(&b.entry).contains("digest withdrawn") => {
                Status::Withdrawn
            }
            Some(_) => Status::Bound,
        };
        Bundle {
            reference: reference.clone(),
            status,
            checkpoint: note,
            state: leaf(size - 1),
            map: MapMember { proof },
            binding,
            consistency: since
                .filter(|&s| s > 0 && s < size)
                .map(|s| ConsistencyMember {
                    from_size: s,
                    proof: consistency_proof(s, size, &self.tree).unwrap(),
                }),
        }
    }
}

/// `bucket` as one written before edge objects existed.
fn without_edges(bucket: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    bucket
        .iter()
        .filter(|(p, _)| !p.starts_with("edge/"))
        .map(|(p, b)| (p.clone(), b.clone()))
        .collect()
}

/// Drives a builder over `bucket` (an object it lacks is left out of its round, as a 404);
/// returns the bundle and the objects of every round fetched.
fn build(
    log: &TestLog,
    bucket: &BTreeMap<String, Vec<u8>>,
    reference: &TagRef,
    since: Option<u64>,
) -> (Result<Bundle, StaticError>, Vec<Vec<ObjectPath>>) {
    let mut b = BundleBuilder::new(log.log_key.verifier(), reference.clone(), since);
    let mut rounds = Vec::new();
    while !b.wanted().is_empty() {
        let round: Vec<(ObjectPath, Vec<u8>)> = b
            .wanted()
            .iter()
            .filter_map(|p| {
                let bytes = match b.locator(p).range() {
                    None => bucket.get(&p.to_path())?.clone(),
                    Some((pack, r)) => {
                        let pack = bucket.get(&ObjectPath::Pack(pack).to_path())?;
                        let r = usize::try_from(r.start).unwrap()..usize::try_from(r.end).unwrap();
                        pack.get(r)?.to_vec()
                    }
                };
                Some((*p, bytes))
            })
            .collect();
        rounds.push(round.iter().map(|(p, _)| *p).collect());
        b = match b.supply(round) {
            Ok(b) => b,
            Err(e) => return (Err(e), rounds),
        };
    }
    (b.finish(), rounds)
}

fn batches() -> impl Strategy<Value = Vec<Vec<(u16, u8)>>> {
    let binding = (0u16..400, 0u8..4);
    proptest::collection::vec(proptest::collection::vec(binding, 0..40), 1..12)
}

fn log_from(batches: &[Vec<(u16, u8)>], publish_every: usize) -> TestLog {
    log_with(batches, publish_every, false)
}

fn log_with(batches: &[Vec<(u16, u8)>], publish_every: usize, packed: bool) -> TestLog {
    let mut log = TestLog::new();
    log.packed = packed;
    for (i, batch) in batches.iter().enumerate() {
        log.commit(batch);
        if i % publish_every == 0 || i + 1 == batches.len() {
            log.publish();
        }
    }
    log
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The bundle from static objects equals the `/lookup` bundle for the same checkpoint,
    /// for bound, rebound, withdrawn and unbound refs, with and without `since`.
    #[test]
    fn static_bundle_equals_lookup(
        batches in batches(),
        every in 1usize..4,
        probe in 0u16..420,
        since_pick in any::<proptest::sample::Index>(),
        packed in any::<bool>(),
    ) {
        let log = log_with(&batches, every, packed);
        let reference = reference(probe);
        let sizes: Vec<u64> = log.checkpoints.iter().map(|(s, _)| *s).collect();
        let old = without_edges(&log.bucket);
        for (bucket, since) in [
            (&log.bucket, None),
            (&log.bucket, Some(0)),
            (&log.bucket, Some(*since_pick.get(&sizes))),
            (&old, None),
            (&old, Some(*since_pick.get(&sizes))),
        ] {
            let (built, _) = build(&log, bucket, &reference, since);
            let built = built.unwrap();
            let expected = log.lookup(&reference, since);
            prop_assert_eq!(&built.checkpoint, &expected.checkpoint);
            prop_assert_eq!(&built.state, &expected.state);
            prop_assert_eq!(&built.map, &expected.map);
            prop_assert_eq!(&built.binding, &expected.binding);
            prop_assert_eq!(&built.consistency, &expected.consistency);
            prop_assert_eq!(built.status, expected.status);
            prop_assert_eq!(built, expected);
        }
    }

    /// Any change to any object a build reads makes the build fail, at that object.
    #[test]
    fn altered_objects_are_rejected(
        batches in batches(),
        probe in 0u16..420,
        pick in any::<proptest::sample::Index>(),
        at in any::<proptest::sample::Index>(),
        how in 0u8..4,
    ) {
        let log = log_from(&batches, 1);
        let reference = reference(probe);
        let (ok, rounds) = build(&log, &log.bucket, &reference, None);
        prop_assert!(ok.is_ok());
        let fetched: Vec<ObjectPath> = rounds.concat();
        let target = *pick.get(&fetched);
        let mut bucket = log.bucket.clone();
        let object = bucket.get_mut(&target.to_path()).unwrap();
        match how {
            0 => { let i = at.index(object.len()); object[i] ^= 0x01; }
            1 => { let i = at.index(object.len()); object.truncate(i); }
            2 => object.push(0),
            _ => { let i = at.index(object.len()); object[i] = object[i].wrapping_add(0x80); }
        }
        let (result, reached) = build(&log, &bucket, &reference, None);
        prop_assert!(result.is_err(), "altered {} was accepted", target);
        // Rejected in the round that fetched it: nothing was read from it before the check.
        prop_assert!(reached.last().unwrap().contains(&target), "{} rejected only later", target);
        let err = result.unwrap_err();
        let named = match (target, &err) {
            (ObjectPath::Checkpoint, StaticError::Checkpoint(_)) => true,
            (ObjectPath::Map(a), StaticError::MapObject { address, .. }) => a == *address,
            (ObjectPath::Tile(_), StaticError::Tiles { .. } | StaticError::Object { .. }) => true,
            (
                ObjectPath::Edge(_),
                StaticError::Edge { .. }
                | StaticError::Tiles { .. }
                | StaticError::EdgeEntry { .. }
                | StaticError::MapObject { .. },
            ) => true,
            _ => false,
        };
        prop_assert!(named, "altered {} gave {}", target, err);
    }

    /// With packs: any change to any object or pack a build reads (a locator included: it
    /// is a hint outside the hash) makes the build fail, or gives exactly the bundle of the
    /// unaltered bucket; never another bundle.
    #[test]
    fn altered_packs_and_locators_never_give_another_bundle(
        batches in batches(),
        probe in 0u16..420,
        pick in any::<proptest::sample::Index>(),
        at in any::<proptest::sample::Index>(),
        how in 0u8..4,
    ) {
        let log = log_with(&batches, 1, true);
        let reference = reference(probe);
        let (ok, _) = build(&log, &log.bucket, &reference, None);
        let expected = ok.unwrap();
        let paths: Vec<&String> = log.bucket.keys().collect();
        let target = *pick.get(&paths);
        let mut bucket = log.bucket.clone();
        let object = bucket.get_mut(target).unwrap();
        match how {
            0 => { let i = at.index(object.len()); object[i] ^= 0x01; }
            1 => { let i = at.index(object.len()); object.truncate(i); }
            2 => object.push(0),
            _ => { let i = at.index(object.len()); object[i] = object[i].wrapping_add(0x80); }
        }
        if let (Ok(b), _) = build(&log, &bucket, &reference, None) {
            prop_assert_eq!(b, expected, "altered {} gave another bundle", target);
        }
    }

    /// A packed bucket holds per publication one pack and the top map object at its own
    /// address, and nothing else under `map/`; every map object of the newest version is
    /// found by following locators from the top one.
    #[test]
    fn packed_publication_makes_one_pack_per_publication(batches in batches()) {
        let log = log_with(&batches, 1, true);
        let packs = log.bucket.keys().filter(|p| p.starts_with("map/pack/")).count();
        let own = log.bucket.keys().filter(|p| p.starts_with("map/") && !p.starts_with("map/pack/")).count();
        prop_assert!(packs <= log.checkpoints.len());
        prop_assert!(own <= log.checkpoints.len());
        let size = log.published.unwrap();
        let all = map_objects(&log.map, size, None).unwrap();
        let Some(root) = all.iter().find(|o| o.nibbles == 0) else { return Ok(()); };
        let mut queue = vec![(root.address, Hash::ZERO, 0u8, Locator::Own)];
        let mut found = 0;
        while let Some((address, path, nibbles, at)) = queue.pop() {
            let bytes = match at.range() {
                None => log.bucket[&ObjectPath::Map(address).to_path()].clone(),
                Some((pack, r)) => log.bucket[&ObjectPath::Pack(pack).to_path()]
                    [usize::try_from(r.start).unwrap()..usize::try_from(r.end).unwrap()]
                    .to_vec(),
            };
            let o = MapObject::open(&address, nibbles, &path, &bytes).unwrap();
            prop_assert_eq!(o.to_bytes(), bytes);
            found += 1;
            for (a, p, n) in o.children() {
                let l = o.locator(&a).unwrap();
                prop_assert!(l != Locator::Own, "a packed object below the top is at its own address");
                queue.push((a, p, n, l));
            }
        }
        prop_assert_eq!(found, all.len());
    }

    /// Every map object of every published version opens at its address, round-trips byte
    /// for byte, and no object's bytes open at another address.
    #[test]
    fn map_objects_open_and_round_trip(batches in batches()) {
        let log = log_from(&batches, 1);
        let size = log.published.unwrap();
        let objects = map_objects(&log.map, size, None).unwrap();
        let mut addresses = BTreeSet::new();
        for o in &objects {
            prop_assert!(o.bytes.len() <= MAX_MAP_OBJECT_BYTES);
            let path = object_path(&log, o.address, o.nibbles);
            let opened = MapObject::open(&o.address, o.nibbles, &path, &o.bytes).unwrap();
            prop_assert_eq!(opened.to_bytes(), o.bytes.clone());
            prop_assert!(addresses.insert(o.address));
            let other = Hash([0x5a; 32]);
            let wrong = MapObject::open(&other, o.nibbles, &path, &o.bytes).unwrap_err();
            let is_mismatch = matches!(wrong, MapObjectError::AddressMismatch { .. });
            prop_assert!(is_mismatch);
        }
    }
}

/// A key path leading to the object at `address` (any key below it).
fn object_path(log: &TestLog, address: Hash, nibbles: u8) -> Hash {
    let size = log.published.unwrap();
    let root = map::root_hash(&log.map, size).unwrap();
    let mut frontier = vec![(root, 0u8, Hash::ZERO)];
    let objects: BTreeMap<Hash, Vec<u8>> = map_objects(&log.map, size, None)
        .unwrap()
        .into_iter()
        .map(|o| (o.address, o.bytes))
        .collect();
    while let Some((a, d, p)) = frontier.pop() {
        if a == address && d == nibbles {
            return p;
        }
        let o = MapObject::open(&a, d, &p, &objects[&a]).unwrap();
        frontier.extend(o.children().into_iter().map(|(a, p, d)| (a, d, p)));
    }
    panic!("object {address} not reachable");
}

#[test]
fn the_built_bundle_passes_the_one_verifier() {
    let mut log = TestLog::new();
    log.commit(&[(1, 7), (2, 9)]);
    log.commit(&[(1, 8), (3, 0)]);
    log.publish();
    let policy = Policy::parse(
        format!(
            "log {}\nquorum none\npublisher registry.example/acme {}\n",
            log.log_key.verifier(),
            log.publisher.verifier()
        )
        .as_bytes(),
    )
    .unwrap();
    let run = |r: u16, digest: Option<DigestValue>| {
        let reference = reference(r);
        let (bundle, _) = build(&log, &log.bucket, &reference, None);
        let bundle = bundle.unwrap();
        let req = VerifyRequest::stateless(&policy, &bundle, &reference, digest.as_ref(), NOW + 10);
        verify(&req)
            .map(|v| v.digest.to_string())
            .map_err(|e| e.code())
    };
    let d8: DigestValue = format!("sha256:{}", hex::encode([8u8; 32]))
        .parse()
        .unwrap();
    assert_eq!(run(1, Some(d8)), Ok(d8.to_string()));
    let d7: DigestValue = format!("sha256:{}", hex::encode([7u8; 32]))
        .parse()
        .unwrap();
    assert_eq!(run(1, Some(d7)), Err("digest-mismatch"));
    assert_eq!(run(3, None), Err("withdrawn"));
    assert_eq!(run(4, None), Err("unbound"));
}

#[test]
fn empty_map_and_one_key_map() {
    let mut log = TestLog::new();
    log.commit(&[]);
    log.publish();
    let (b, rounds) = build(&log, &log.bucket, &reference(1), None);
    assert_eq!(b.unwrap(), log.lookup(&reference(1), None));
    assert!(rounds
        .concat()
        .iter()
        .all(|p| !matches!(p, ObjectPath::Map(_))));
    log.commit(&[(1, 3)]);
    log.publish();
    for r in [1, 2] {
        let (b, _) = build(&log, &log.bucket, &reference(r), None);
        assert_eq!(b.unwrap(), log.lookup(&reference(r), None));
    }
}

#[test]
fn objects_are_asked_once_and_supplies_must_match_the_round() {
    let mut log = TestLog::new();
    log.commit(&[(1, 3)]);
    log.publish();
    let b = BundleBuilder::new(log.log_key.verifier(), reference(1), None);
    assert!(matches!(
        b.clone().supply(Vec::new()),
        Err(StaticError::Missing(p)) if p == "checkpoint"
    ));
    let cp = log.bucket["checkpoint"].clone();
    assert!(matches!(
        b.clone().supply(vec![
            (ObjectPath::Checkpoint, cp.clone()),
            (ObjectPath::Checkpoint, cp.clone())
        ]),
        Err(StaticError::Duplicate(_))
    ));
    assert!(matches!(
        b.clone().supply(vec![
            (ObjectPath::Checkpoint, cp.clone()),
            (ObjectPath::Map(Hash::ZERO), Vec::new())
        ]),
        Err(StaticError::Unexpected(_))
    ));
    assert!(matches!(b.clone().finish(), Err(StaticError::Unfinished)));
    // Another log's key: the checkpoint is refused before any tile is asked for.
    let other = BundleBuilder::new(key("other.test/log", 9).verifier(), reference(1), None);
    assert!(matches!(
        other.supply(vec![(ObjectPath::Checkpoint, cp)]),
        Err(StaticError::Checkpoint(_))
    ));
}

#[test]
fn map_objects_reject_non_canonical_forms() {
    let mut log = TestLog::new();
    let refs: Vec<(u16, u8)> = (0..300).map(|r| (r, 1)).collect();
    log.commit(&refs);
    log.publish();
    let size = log.published.unwrap();
    let objects = map_objects(&log.map, size, None).unwrap();
    let root = &objects[0];
    assert_eq!(root.nibbles, 0);
    assert_eq!(
        MAX_MAP_OBJECT_BYTES, 20_549,
        "docs/formats.md names this limit"
    );
    let open =
        |bytes: &[u8], nibbles: u8| MapObject::open(&root.address, nibbles, &Hash::ZERO, bytes);
    assert!(open(&root.bytes, 0).is_ok());
    assert!(matches!(
        open(&root.bytes, 1),
        Err(MapObjectError::BadDepth(1))
    ));
    assert!(matches!(
        open(&root.bytes, 64),
        Err(MapObjectError::BadDepth(64))
    ));
    // The root object opened as if it lay deeper: its leaves do not lead there.
    assert!(open(&root.bytes, 2).is_err());
    let mut v = root.bytes.clone();
    v[0] = 3;
    assert!(matches!(open(&v, 0), Err(MapObjectError::UnknownFormat(3))));
    // Format 2: exactly one canonical locator per object below, and nothing after them.
    let below = root.children.len();
    assert!(below > 1, "the test needs objects below the root");
    v[0] = 2;
    assert!(matches!(open(&v, 0), Err(MapObjectError::Truncated)));
    let own = vec![Locator::Own; below];
    assert!(root.located(&own[1..]).is_err());
    let located = root.located(&own).unwrap();
    assert_eq!(located.len(), root.located_len());
    let opened = open(&located, 0).unwrap();
    assert_eq!(opened.to_bytes(), located);
    assert_eq!(opened.locator(&root.children[0].0), Some(Locator::Own));
    assert_eq!(opened.locator(&Hash([7; 32])), None);
    let pack = PackId([9; PACK_ID_BYTES]);
    let mut packed = own.clone();
    packed[below - 1] = Locator::Packed {
        pack,
        offset: 5,
        len: 100,
    };
    let o = open(&root.located(&packed).unwrap(), 0).unwrap();
    assert_eq!(
        o.locator(&root.children[below - 1].0),
        Some(packed[below - 1])
    );
    assert_eq!(packed[below - 1].range(), Some((pack, 5..105)));
    let mut extra = located.clone();
    extra.push(0);
    assert!(matches!(
        open(&extra, 0),
        Err(MapObjectError::TrailingBytes(1))
    ));
    for (offset, len) in [(0, 0), (0, 20_550), (16 << 20, 1), ((16 << 20) - 10, 11)] {
        packed[0] = Locator::Packed { pack, offset, len };
        assert!(
            matches!(
                open(&root.located(&packed).unwrap(), 0),
                Err(MapObjectError::BadLocator { index: 0, .. })
            ),
            "{offset}+{len}"
        );
    }
    // A zero pack id means "at its own address": with an offset or a length it is refused.
    let mut zero_id = located.clone();
    let at = located.len() - 24 * below + 16;
    zero_id[at + 3] = 1;
    assert!(matches!(
        open(&zero_id, 0),
        Err(MapObjectError::BadLocator {
            index: 0,
            offset: 1,
            len: 0
        })
    ));
    assert!(matches!(
        open(&[1, 0, 0, 0, 0], 0),
        Err(MapObjectError::Empty)
    ));
    assert!(matches!(
        open(&[1, 0, 1, 0, 2], 0),
        Err(MapObjectError::LeafMaskOutsideChildren)
    ));
    assert!(matches!(
        open(&vec![0; MAX_MAP_OBJECT_BYTES + 1], 0),
        Err(MapObjectError::TooLarge { .. })
    ));
    // A one-leaf group: fine as the whole map, refused below the root and inline.
    let k = Hash([0x10; 32]);
    let mut one = vec![1, 0, 0b10, 0, 0b10];
    one.extend_from_slice(&k.0);
    one.extend_from_slice(&[0; 48]);
    let leaf_addr = MapObject::open(&Hash::ZERO, 0, &k, &one).unwrap_err();
    let MapObjectError::AddressMismatch { computed, .. } = leaf_addr else {
        panic!("{leaf_addr:?}");
    };
    assert!(MapObject::open(&computed, 0, &k, &one).is_ok());
    assert!(matches!(
        MapObject::open(&computed, 2, &k, &one),
        Err(MapObjectError::SingleLeaf { nibbles: 2 })
    ));
    // The same leaf in slot 2: its key's first nibble is 1, so it is misplaced.
    let mut wrong_slot = vec![1, 0, 0b100, 0, 0b100];
    wrong_slot.extend_from_slice(&one[5..]);
    assert!(matches!(
        MapObject::open(&computed, 0, &k, &wrong_slot),
        Err(MapObjectError::MisplacedLeaf { slot: 2, .. })
    ));
    // An inline group holding one leaf would be that leaf.
    let mut inline_one = vec![1, 0, 0b10, 0, 0, 0, 0b1, 0, 0b1];
    let mut k2 = k;
    k2.0[0] = 0x10;
    inline_one.extend_from_slice(&k2.0);
    inline_one.extend_from_slice(&[0; 48]);
    assert!(matches!(
        MapObject::open(&computed, 0, &k, &inline_one),
        Err(MapObjectError::InnerTooSmall { slot: 1 })
    ));
    // A zero subtree hash.
    let mut zero = vec![1, 0, 0b10, 0, 0, 0, 0b11, 0, 0b1];
    zero.extend_from_slice(&k2.0);
    zero.extend_from_slice(&[0; 48]);
    zero.extend_from_slice(&[0; 32]);
    assert!(matches!(
        MapObject::open(&computed, 0, &k, &zero),
        Err(MapObjectError::ZeroSubtree)
    ));
}

#[test]
fn only_new_map_objects_are_published_again() {
    let mut log = TestLog::new();
    let refs: Vec<(u16, u8)> = (0..400).map(|r| (r, 1)).collect();
    log.commit(&refs);
    log.publish();
    let all_before = map_objects(&log.map, log.published.unwrap(), None)
        .unwrap()
        .len();
    let before = log.published;
    log.commit(&[(5, 2)]);
    let size = log.checkpoints.last().unwrap().0;
    let fresh = map_objects(&log.map, size, before).unwrap();
    // One key changed: only the objects on its path are new.
    assert!(
        !fresh.is_empty() && fresh.len() <= 3,
        "{} new objects",
        fresh.len()
    );
    assert!(all_before > fresh.len());
    log.publish();
    let (b, _) = build(&log, &log.bucket, &reference(5), None);
    assert_eq!(b.unwrap(), log.lookup(&reference(5), None));
}

/// A reader warm at an earlier size (its tiles and map objects cached) fetches, once the log
/// has grown by up to the edge window, only the checkpoint, the edge object and the map
/// objects below the top that changed; further behind, the one level-0 tile its consistency
/// proof reads besides. The edge object's parts are each checked: a wrong entry, tile or map
/// object in it is refused.
#[test]
fn a_warm_reader_needs_no_tile_within_the_edge_window() {
    let mut log = TestLog::new();
    let mut n = 0u16;
    let mut batch = |k: u16| {
        let b: Vec<(u16, u8)> = (0..k).map(|i| (n.wrapping_add(i), 5)).collect();
        n = n.wrapping_add(k);
        b
    };
    for _ in 0..30 {
        log.commit(&batch(100));
    }
    log.publish();
    let probe = reference(3);
    let since = log.published.unwrap();
    let (cold, rounds) = build(&log, &log.bucket, &probe, None);
    cold.unwrap();
    let cached: BTreeSet<ObjectPath> = rounds.concat().into_iter().collect();
    let warm = |log: &TestLog, bucket: &BTreeMap<String, Vec<u8>>| {
        let held: BTreeMap<String, Vec<u8>> = bucket
            .iter()
            .filter(|(p, _)| {
                let p = ObjectPath::parse(p).unwrap();
                p == ObjectPath::Checkpoint || !cached.contains(&p)
            })
            .map(|(p, b)| (p.clone(), b.clone()))
            .collect();
        // Cached objects are supplied from the cache; only the others count as fetched.
        let mut all = held.clone();
        for p in &cached {
            if let Some(b) = bucket.get(&p.to_path()) {
                all.insert(p.to_path(), b.clone());
            }
        }
        let (b, rounds) = build(log, &all, &probe, Some(since));
        let fetched: Vec<ObjectPath> = rounds
            .concat()
            .into_iter()
            .filter(|p| held.contains_key(&p.to_path()))
            .collect();
        (b, fetched)
    };
    // Grown by less than the window: no tile.
    log.commit(&batch(40));
    log.commit(&batch(40));
    log.publish();
    assert!(log.published.unwrap() - since <= EDGE_WINDOW_LEAVES);
    let (b, fetched) = warm(&log, &log.bucket);
    assert_eq!(b.unwrap(), log.lookup(&probe, Some(since)));
    assert!(
        fetched.iter().all(|p| matches!(
            p,
            ObjectPath::Checkpoint | ObjectPath::Edge(_) | ObjectPath::Map(_)
        )),
        "{fetched:?}"
    );
    assert!(fetched.len() <= 3, "{fetched:?}");

    // A lying edge object: its entry, a tile of it, its map object.
    let size = log.published.unwrap();
    let good = EdgeObject::parse(&log.bucket[&edge_path(size)], size).unwrap();
    let mut entry = good.clone();
    entry.entry[0] ^= 1;
    let mut tile = good.clone();
    tile.tiles[0].1[5] ^= 1;
    let mut map = good.clone();
    map.map.as_mut().unwrap()[7] ^= 1;
    for (what, bad) in [("entry", entry), ("tile", tile), ("map", map)] {
        let mut bucket = log.bucket.clone();
        bucket.insert(edge_path(size), bad.to_bytes().unwrap());
        let (b, _) = build(&log, &bucket, &probe, Some(since));
        let err = b.unwrap_err();
        let refused = matches!(
            (what, &err),
            ("entry", StaticError::EdgeEntry { .. })
                | ("tile", StaticError::Tiles { .. })
                | ("map", StaticError::MapObject { .. })
        );
        assert!(refused, "{what}: {err}");
    }
    // One of another size is refused as misfiled.
    let mut bucket = log.bucket.clone();
    bucket.insert(edge_path(size), log.bucket[&edge_path(since)].clone());
    assert!(matches!(
        build(&log, &bucket, &probe, Some(since)).0,
        Err(StaticError::Edge { .. })
    ));

    // Further behind than the window: the level-0 tile of the cached size comes too.
    for _ in 0..25 {
        log.commit(&batch(100));
    }
    log.publish();
    assert!(log.published.unwrap() - since > EDGE_WINDOW_LEAVES);
    let (b, fetched) = warm(&log, &log.bucket);
    assert_eq!(b.unwrap(), log.lookup(&probe, Some(since)));
    assert!(
        fetched.iter().any(|p| matches!(p, ObjectPath::Tile(_))),
        "{fetched:?}"
    );
}
