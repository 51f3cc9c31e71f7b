//! Map objects laid out in packs: one publication's new map objects go up as one object per
//! depth (more past [`MAX_PACK_BYTES`]) instead of one object each, and every object
//! carries a locator for each object below it (proofs' `static_layout::Locator`, map object
//! format 2). The top object also goes up at its own address, where a reader without an
//! edge object starts.
//!
//! [`Locations`] is what the publisher knows of where the bucket's newest map version keeps
//! each object: by position (nibble depth and key prefix), the object's address and locator.
//! A new object needs the locator of every object below it, also of those that did not
//! change; the publisher learns them as it publishes, and after a start reads them from the
//! bucket's objects (see `Worker::locate` in the parent module). Bounded by
//! [`MAX_LOCATIONS`]: past it the table is emptied and learned again from the bucket.
//!
//! It also counts, per pack laid out by this table ([`lay_out`]), the objects of the newest
//! map version in it: all of them were recorded when the pack was made, so the count is
//! exact. A pack whose count drops to zero is read by no reader of the bucket's newest
//! checkpoint: [`Locations::take_dead`] hands it to the publisher, which deletes it a grace
//! period after the checkpoint that superseded it went up. Packs of an earlier process (or
//! from before the table was emptied) are never counted, so never deleted: their objects
//! are not all known.
//!
//! Out of scope: I/O (the parent module uploads and reads), choosing pack ids (the caller
//! passes a source of fresh ones).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use taglog_proofs::hash::Hash;
use taglog_proofs::map::NodeKey;
use taglog_proofs::static_layout::{EncodedMapObject, Locator, ObjectPath, PackId, MAX_PACK_BYTES};

/// Most positions [`Locations`] keeps (~160 bytes each with the locators below them); a log
/// of 10⁶ keys has ~66,000 map objects.
pub const MAX_LOCATIONS: usize = 1 << 20;

/// A map object's position: its nibble depth and its key prefix (zero past the depth).
type Position = (u8, Hash);

fn position(path: &Hash, nibbles: u8) -> Position {
    (nibbles, *NodeKey::new(0, path, nibbles).path())
}

/// What [`Locations`] knows of the object at a position.
#[derive(Debug, Clone)]
struct Known {
    address: Hash,
    locator: Locator,
    /// The objects directly below it and their locators, in [`EncodedMapObject::children`]
    /// order, once this table laid it out. The object that replaces it has most of them
    /// below it too: its locators are found here in one pass, not one table lookup each
    /// (a publication's new objects near the top have ~65,000 children in all).
    below: Option<Arc<[(Hash, Locator)]>>,
}

/// Where the objects of the bucket's newest map version are (see the module docs).
#[derive(Debug, Default)]
pub struct Locations {
    at: HashMap<Position, Known>,
    /// Objects of the newest map version in each pack laid out since the table was last
    /// emptied.
    live: HashMap<PackId, u32>,
    /// Packs whose count dropped to zero, not yet taken.
    dead: Vec<PackId>,
    /// Packs of earlier processes seen in the bucket (see [`Locations::missing_packs`]).
    seen: HashSet<PackId>,
}

impl Locations {
    /// The locator of the object at `address`, on `path` at depth `nibbles`, if known.
    pub fn get(&self, address: &Hash, path: &Hash, nibbles: u8) -> Option<Locator> {
        match self.at.get(&position(path, nibbles)) {
            Some(k) if k.address == *address => Some(k.locator),
            _ => None,
        }
    }

    /// What is below the object at depth `nibbles` on `path` (see [`Known::below`]).
    fn below(&self, path: &Hash, nibbles: u8) -> Option<Arc<[(Hash, Locator)]>> {
        self.at
            .get(&position(path, nibbles))
            .and_then(|k| k.below.clone())
    }

    /// The locator of each object below `o`, in order (`None` where unknown): one of this
    /// publication's from `fresh`, one that `o` shares with the object it replaces from
    /// `replaced` (what was below that one, in order), any other from the table.
    fn below_of(
        &self,
        o: &EncodedMapObject,
        fresh: &HashMap<Hash, Locator>,
        replaced: Option<&[(Hash, Locator)]>,
    ) -> Vec<Option<Locator>> {
        let mut from = 0;
        o.children
            .iter()
            .map(|(a, p, n)| {
                if let Some(l) = fresh.get(a) {
                    return Some(*l);
                }
                // Both lists are in key order, so a shared object is found past the last.
                let rest = replaced.and_then(|r| r.get(from..)).unwrap_or_default();
                if let Some(i) = rest.iter().position(|(b, _)| b == a) {
                    from += i + 1;
                    return rest.get(i).map(|(_, l)| *l);
                }
                self.get(a, p, *n)
            })
            .collect()
    }

    /// The address and locator of the object at depth `nibbles` on `path`, if known.
    pub fn at(&self, path: &Hash, nibbles: u8) -> Option<(Hash, Locator)> {
        self.at
            .get(&position(path, nibbles))
            .map(|k| (k.address, k.locator))
    }

    /// Records that the object at `address` (on `path` at depth `nibbles`) is at `locator`.
    pub fn set(&mut self, address: Hash, path: &Hash, nibbles: u8, locator: Locator) {
        if self.at.len() >= MAX_LOCATIONS {
            self.clear();
        }
        let known = Known {
            address,
            locator,
            below: None,
        };
        let old = self.at.insert(position(path, nibbles), known);
        if let Some(Known {
            locator: Locator::Packed { pack, .. },
            ..
        }) = old
        {
            if let Some(n) = self.live.get_mut(&pack) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.live.remove(&pack);
                    self.dead.push(pack);
                }
            }
        }
    }

    /// Records what is below `o`, which this table has just laid out.
    fn set_below(&mut self, o: &EncodedMapObject, below: Arc<[(Hash, Locator)]>) {
        if let Some(k) = self.at.get_mut(&position(&o.path, o.nibbles)) {
            if k.address == o.address {
                k.below = Some(below);
            }
        }
    }

    /// Records that the object at `address` (on `path` at depth `nibbles`) was laid out in
    /// `pack`, a pack of this table: counted.
    fn place(&mut self, address: Hash, path: &Hash, nibbles: u8, locator: Locator) {
        self.set(address, path, nibbles, locator);
        if let Locator::Packed { pack, .. } = locator {
            *self.live.entry(pack).or_default() += 1;
        }
    }

    /// Forgets everything (it is learned again from the bucket), the counts too: the packs
    /// laid out so far are never deleted.
    pub fn clear(&mut self) {
        self.at.clear();
        self.live.clear();
        self.dead.clear();
        self.seen.clear();
    }

    /// The packs that the locators of `objects` (learned from the bucket) point into and that
    /// are not known to be there: neither laid out by this table nor seen. A parent's locator
    /// says where its child was put, not that it is still there.
    pub fn missing_packs(&self, objects: &[(Hash, Hash, u8)]) -> Vec<PackId> {
        let mut out: Vec<PackId> = objects
            .iter()
            .filter_map(|(a, p, n)| match self.get(a, p, *n) {
                Some(Locator::Packed { pack, .. }) => Some(pack),
                _ => None,
            })
            .filter(|pack| !self.live.contains_key(pack) && !self.seen.contains(pack))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Records that `pack` is in the bucket.
    pub fn seen(&mut self, pack: PackId) {
        if self.seen.len() >= MAX_LOCATIONS {
            self.seen.clear();
        }
        self.seen.insert(pack);
    }

    /// Whether a pack of this table holds an object of the newest map version.
    #[cfg(test)]
    pub fn is_live(&self, pack: &PackId) -> bool {
        self.live.contains_key(pack)
    }

    /// The packs no object of the newest map version is in any more, since the last call.
    pub fn take_dead(&mut self) -> Vec<PackId> {
        std::mem::take(&mut self.dead)
    }

    /// The same table without what is below each object (as after a start, learned from the
    /// bucket): every locator then comes from a lookup of its own.
    #[cfg(test)]
    fn without_below(&self) -> Locations {
        let mut at = self.at.clone();
        for k in at.values_mut() {
            k.below = None;
        }
        Locations {
            at,
            live: self.live.clone(),
            dead: self.dead.clone(),
            seen: self.seen.clone(),
        }
    }

    /// How many positions are known.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// The objects below `objects` (one publication's) whose locator is not known: those of
    /// earlier publications this process has not seen.
    pub fn unknown(&self, objects: &[EncodedMapObject]) -> Vec<(Hash, Hash, u8)> {
        // Only whether an object is fresh matters here, not where it goes.
        let fresh: HashMap<Hash, Locator> =
            objects.iter().map(|o| (o.address, Locator::Own)).collect();
        let mut out = Vec::new();
        for o in objects {
            let replaced = self.below(&o.path, o.nibbles);
            let found = self.below_of(o, &fresh, replaced.as_deref());
            for (l, c) in found.iter().zip(&o.children) {
                if l.is_none() {
                    out.push(*c);
                }
            }
        }
        out
    }
}

/// One publication's map objects, ready to upload.
#[derive(Debug, Default)]
pub struct Layout {
    /// The packs, to upload first.
    pub packs: Vec<(ObjectPath, Vec<u8>)>,
    /// The top object at its own address (none for the empty map), to upload after them;
    /// it also goes into the edge object.
    pub top: Option<(ObjectPath, Vec<u8>)>,
}

/// Lays out `objects` (one publication's, root first, breadth first, as proofs'
/// `map_objects` lists them): every object below the top into packs named by `fresh_id`, one
/// per depth (more past [`MAX_PACK_BYTES`]), each object with its locators, and records
/// where they went in `locations`.
///
/// # Errors
/// The first object below one of `objects` whose locator is neither among `objects` nor in
/// `locations` (the caller learns it from the bucket first, see [`Locations::unknown`]).
pub fn lay_out(
    objects: &[EncodedMapObject],
    locations: &mut Locations,
    mut fresh_id: impl FnMut() -> PackId,
) -> Result<Layout, Hash> {
    let mut placed = Vec::with_capacity(objects.len());
    let mut replaced = Vec::with_capacity(objects.len());
    let mut fresh = HashMap::with_capacity(objects.len());
    let (mut pack, mut offset) = (fresh_id(), 0usize);
    let mut depth = None;
    for o in objects {
        replaced.push(locations.below(&o.path, o.nibbles));
        if o.nibbles == 0 {
            locations.set(o.address, &o.path, 0, Locator::Own);
            placed.push(None);
            continue;
        }
        let len = o.located_len();
        // One pack per depth: the objects near the top are replaced by nearly every
        // publication, those at the bottom live long, so their packs die at different times.
        if offset > 0 && (offset + len > MAX_PACK_BYTES || depth != Some(o.nibbles)) {
            (pack, offset) = (fresh_id(), 0);
        }
        depth = Some(o.nibbles);
        // Both fit in u32: a pack is at most MAX_PACK_BYTES (16 MiB).
        let at = Locator::Packed {
            pack,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
            len: u32::try_from(len).unwrap_or(u32::MAX),
        };
        locations.place(o.address, &o.path, o.nibbles, at);
        fresh.insert(o.address, at);
        placed.push(Some(pack));
        offset += len;
    }
    let mut layout = Layout::default();
    let mut current: Option<(PackId, Vec<u8>)> = None;
    for ((o, pack), replaced) in objects.iter().zip(placed).zip(replaced) {
        let found = locations.below_of(o, &fresh, replaced.as_deref());
        let locators = found
            .iter()
            .zip(&o.children)
            .map(|(l, (a, _, _))| l.ok_or(*a))
            .collect::<Result<Vec<_>, _>>()?;
        let below = o
            .children
            .iter()
            .map(|(a, _, _)| *a)
            .zip(locators.iter().copied());
        locations.set_below(o, below.collect());
        let bytes = o.located(&locators).map_err(|_| o.address)?;
        let Some(pack) = pack else {
            layout.top = Some((ObjectPath::Map(o.address), bytes));
            continue;
        };
        match &mut current {
            Some((id, buf)) if *id == pack => buf.extend_from_slice(&bytes),
            _ => {
                if let Some((id, buf)) = current.replace((pack, bytes)) {
                    layout.packs.push((ObjectPath::Pack(id), buf));
                }
            }
        }
    }
    if let Some((id, buf)) = current {
        layout.packs.push((ObjectPath::Pack(id), buf));
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taglog_proofs::map::{self, MapValue, MemoryMapStore};
    use taglog_proofs::static_layout::{map_objects, MapObject};

    fn store(keys: u32, versions: u64) -> MemoryMapStore {
        let mut s = MemoryMapStore::new();
        for v in 1..=versions {
            let mut updates: Vec<_> = (0..keys)
                .filter(|k| u64::from(*k) % versions == v - 1 || v == 1)
                .map(|k| {
                    let key = taglog_proofs::hash::sha256(&k.to_be_bytes());
                    let value = MapValue {
                        index: u64::from(k),
                        version: v,
                        leaf_hash: Hash([1; 32]),
                    };
                    (key, value)
                })
                .collect();
            updates.sort_by_key(|(k, _)| *k);
            let base = (v > 1).then_some(v - 1);
            let update = map::update(&s, base, v, &updates).unwrap();
            s.write(update.writes);
        }
        s
    }

    /// Opens every object of version `v` by following locators through `bucket`.
    fn walk(bucket: &HashMap<String, Vec<u8>>, root: &EncodedMapObject) -> usize {
        let mut queue = vec![(root.address, root.path, 0u8, Locator::Own)];
        let mut n = 0;
        while let Some((a, p, d, at)) = queue.pop() {
            let bytes = match at.range() {
                None => bucket[&ObjectPath::Map(a).to_path()].clone(),
                Some((pack, r)) => bucket[&ObjectPath::Pack(pack).to_path()]
                    [r.start as usize..r.end as usize]
                    .to_vec(),
            };
            let o = MapObject::open(&a, d, &p, &bytes).unwrap();
            n += 1;
            for (c, cp, cd) in o.children() {
                queue.push((c, cp, cd, o.locator(&c).unwrap()));
            }
        }
        n
    }

    #[test]
    fn a_later_publication_points_into_earlier_packs() {
        let s = store(3000, 3);
        let mut locations = Locations::default();
        let mut bucket = HashMap::new();
        let next = std::cell::Cell::new(0u8);
        let id = || {
            next.set(next.get() + 1);
            PackId([next.get(); 16])
        };
        let mut published = None;
        for v in 1..=3 {
            let objects = map_objects(&s, v, published).unwrap();
            if v > 1 {
                assert!(locations.unknown(&objects).is_empty());
                assert!(locations.without_below().unknown(&objects).is_empty());
            }
            // What is below each replaced object only saves lookups: the layout is the one
            // every locator looked up on its own gives.
            let mut slow = locations.without_below();
            let before = next.get();
            let same_ids = {
                let mut n = before;
                move || {
                    n += 1;
                    PackId([n; 16])
                }
            };
            let expected = lay_out(&objects, &mut slow, same_ids).unwrap();
            let layout = lay_out(&objects, &mut locations, id).unwrap();
            assert_eq!(layout.packs, expected.packs, "version {v}");
            assert_eq!(layout.top, expected.top, "version {v}");
            let mut depths: Vec<u8> = objects.iter().skip(1).map(|o| o.nibbles).collect();
            depths.dedup();
            assert_eq!(layout.packs.len(), depths.len(), "one pack per depth");
            for (p, b) in layout.packs.into_iter().chain(layout.top) {
                bucket.insert(p.to_path(), b);
            }
            published = Some(v);
            let all = map_objects(&s, v, None).unwrap();
            assert_eq!(walk(&bucket, &all[0]), all.len());
            // A dead pack is no longer read by the walk of the newest version: deleting it
            // changes nothing.
            for dead in locations.take_dead() {
                bucket.remove(&ObjectPath::Pack(dead).to_path());
            }
            assert_eq!(walk(&bucket, &all[0]), all.len());
        }

        // A new process knows nothing: lay_out names the first object it cannot locate.
        let objects = map_objects(&s, 3, Some(2)).unwrap();
        let mut empty = Locations::default();
        let unknown = empty.unknown(&objects);
        assert!(!unknown.is_empty());
        assert!(unknown
            .iter()
            .all(|(a, _, _)| objects.iter().all(|o| o.address != *a)));
        let missing = lay_out(&objects, &mut empty, || PackId([99; 16])).unwrap_err();
        assert!(unknown.iter().any(|(a, _, _)| *a == missing));
    }

    #[test]
    fn a_pack_dies_when_its_last_object_is_replaced_and_only_its_own() {
        let mut l = Locations::default();
        let (a, b, older) = (PackId([1; 16]), PackId([2; 16]), PackId([3; 16]));
        let packed = |pack, offset| Locator::Packed {
            pack,
            offset,
            len: 10,
        };
        let (p1, p2, p3) = (Hash([0x10; 32]), Hash([0x20; 32]), Hash([0x30; 32]));
        // A pack of an earlier process, learned from the bucket: never counted, and checked
        // for once before it is relied on.
        l.set(Hash([9; 32]), &p3, 2, packed(older, 0));
        let learned = [(Hash([9; 32]), p3, 2)];
        assert_eq!(l.missing_packs(&learned), [older]);
        l.seen(older);
        assert!(l.missing_packs(&learned).is_empty());
        l.place(Hash([1; 32]), &p1, 2, packed(a, 0));
        l.place(Hash([2; 32]), &p2, 2, packed(a, 10));
        l.place(Hash([3; 32]), &p1, 2, packed(b, 0));
        assert!(l.take_dead().is_empty(), "a still holds p2");
        l.place(Hash([4; 32]), &p3, 2, packed(b, 10));
        assert!(
            l.take_dead().is_empty(),
            "the older pack is not known whole"
        );
        l.place(Hash([5; 32]), &p2, 2, packed(b, 20));
        assert_eq!(l.take_dead(), [a]);
        assert!(!l.is_live(&a) && l.is_live(&b));
        assert!(l.take_dead().is_empty());
        l.clear();
        l.place(Hash([6; 32]), &p1, 2, packed(a, 0));
        assert!(
            l.take_dead().is_empty(),
            "counts of before the clear are gone"
        );
    }

    #[test]
    fn packs_are_cut_at_the_limit_and_the_table_is_bounded() {
        let s = store(40_000, 1);
        let objects = map_objects(&s, 1, None).unwrap();
        let total: usize = objects
            .iter()
            .skip(1)
            .map(EncodedMapObject::located_len)
            .sum();
        let mut locations = Locations::default();
        let mut next = 0u8;
        let layout = lay_out(&objects, &mut locations, || {
            next += 1;
            PackId([next; 16])
        })
        .unwrap();
        assert!(layout.packs.iter().all(|(_, b)| b.len() <= MAX_PACK_BYTES));
        assert_eq!(
            layout.packs.iter().map(|(_, b)| b.len()).sum::<usize>(),
            total
        );
        let mut depths: Vec<u8> = objects.iter().skip(1).map(|o| o.nibbles).collect();
        depths.dedup();
        assert!(layout.packs.len() >= total.div_ceil(MAX_PACK_BYTES).max(depths.len()));
        assert!(layout.packs.len() <= total.div_ceil(MAX_PACK_BYTES) + depths.len());
        let bucket: HashMap<_, _> = layout
            .packs
            .into_iter()
            .chain(layout.top)
            .map(|(p, b)| (p.to_path(), b))
            .collect();
        assert_eq!(walk(&bucket, &objects[0]), objects.len());
        assert_eq!(locations.len(), objects.len());

        let mut l = Locations::default();
        for i in 0..=MAX_LOCATIONS {
            let h = taglog_proofs::hash::sha256(&(i as u64).to_be_bytes());
            l.set(h, &h, 64, Locator::Own);
        }
        assert!(l.len() <= MAX_LOCATIONS);
    }
}
