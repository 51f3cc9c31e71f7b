//! A log's static objects (issue 15) read as a verifier reads them: the bundle for a ref
//! rebuilt with proofs' [`BundleBuilder`] from any source of objects (a published directory,
//! an HTTP base URL), and waits for a bucket to reach a checkpoint size.
//!
//! Every object is checked by the builder before use, so a bundle that comes back is one the
//! objects prove; it still goes through the one verifier like any bundle.

use std::path::Path;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;
use taglog_proofs::bundle::Bundle;
use taglog_proofs::checkpoint::SignedCheckpoint;
use taglog_proofs::note::VerifierKey;

use taglog_proofs::static_layout::{BundleBuilder, Locator, ObjectPath, PackId};

/// The bytes `at` names in the pack `fetch` gives (whole: a test bucket's packs are small).
fn from_pack(
    fetch: &mut impl FnMut(&str) -> Result<Vec<u8>, String>,
    at: Locator,
) -> Result<Vec<u8>, String> {
    let Some((pack, range)) = at.range() else {
        return Err(format!("{at:?} names no pack"));
    };
    let bytes = fetch(&ObjectPath::Pack(pack).to_path())?;
    let r = usize::try_from(range.start).unwrap_or(usize::MAX)
        ..usize::try_from(range.end).unwrap_or(usize::MAX);
    bytes
        .get(r)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format!("{at:?} is past its pack"))
}

/// Rebuilds the bundle for `reference` from objects given by `fetch` (path relative to the
/// static prefix → bytes; an edge object it fails to give is left out, as by a bucket written
/// before edge objects; a map object in a pack is cut from the pack). Returns it and the
/// paths fetched (or tried), in order.
///
/// # Errors
/// The fetch error, or the builder's rejection of an object, as text.
pub fn bundle_from(
    mut fetch: impl FnMut(&str) -> Result<Vec<u8>, String>,
    log_key: &VerifierKey,
    reference: &str,
    since: Option<u64>,
) -> Result<(Bundle, Vec<String>), String> {
    let r = reference
        .parse()
        .map_err(|e| format!("ref {reference}: {e:?}"))?;
    let mut b = BundleBuilder::new(log_key.clone(), r, since);
    let mut fetched = Vec::new();
    while !b.is_done() {
        let mut round = Vec::new();
        for p in b.wanted().to_vec() {
            let at = b.locator(&p);
            let (path, got) = match at.range() {
                None => (p.to_path(), fetch(&p.to_path())),
                Some((pack, _)) => (ObjectPath::Pack(pack).to_path(), from_pack(&mut fetch, at)),
            };
            fetched.push(path);
            match got {
                // A bucket without edge objects: the builder asks for the tiles instead, as
                // the client does after a 404.
                Err(_) if matches!(p, ObjectPath::Edge(_)) => {}
                got => round.push((p, got?)),
            }
        }
        b = b.supply(round).map_err(|e| e.to_string())?;
    }
    Ok((b.finish().map_err(|e| e.to_string())?, fetched))
}

/// A fetch reading files under `dir`.
pub fn dir_fetch(dir: &Path) -> impl FnMut(&str) -> Result<Vec<u8>, String> + '_ {
    move |path| {
        std::fs::read(dir.join(path)).map_err(|e| format!("{}: {e}", dir.join(path).display()))
    }
}

/// A fetch by plain HTTP GET of `<base>/<path>` (200 only).
pub fn http_fetch(base: &str) -> impl FnMut(&str) -> Result<Vec<u8>, String> + '_ {
    move |path| {
        let r = crate::http::get(&format!("{base}/{path}"));
        if r.status == 200 {
            Ok(r.body)
        } else {
            Err(format!("GET {base}/{path}: {}", r.status))
        }
    }
}

/// The size of the checkpoint object `fetch` gives, if there is one signed by `log_key`.
pub fn checkpoint_size(
    mut fetch: impl FnMut(&str) -> Result<Vec<u8>, String>,
    log_key: &VerifierKey,
) -> Option<u64> {
    let note = fetch(&ObjectPath::Checkpoint.to_path()).ok()?;
    SignedCheckpoint::open(&note, log_key)
        .ok()
        .map(|c| c.checkpoint().size())
}

/// The objects under `dir` that a bucket checkpoint of `size` superseded (a publisher may
/// delete them): partial tiles and entry bundles whose full tile the tree of `size` has, and
/// edge objects of smaller sizes. Read while a server may be deleting them.
#[must_use]
pub fn superseded_objects(dir: &Path, size: u64) -> Vec<String> {
    crate::static_server::list_dir_paths(dir)
        .into_iter()
        .filter(|p| match ObjectPath::parse(p) {
            Ok(ObjectPath::Tile(t)) => !t.is_full() && t.width_at(size) == t.full().width(),
            Ok(ObjectPath::Edge(n)) => n < size,
            _ => false,
        })
        .collect()
}

/// Waits until `dir` holds nothing that a bucket checkpoint of `size` superseded.
///
/// # Panics
/// When some are still there after `wait`.
pub fn wait_until_superseded_deleted(dir: &Path, size: u64, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let left = superseded_objects(dir, size);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "superseded objects under {} not deleted within {wait:?}: {left:?}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the checkpoint under `dir` has at least `size` leaves.
///
/// # Panics
/// When it does not within `wait` (with the size reached).
pub fn wait_for_dir(dir: &Path, log_key: &VerifierKey, size: u64, wait: Duration) -> u64 {
    let deadline = Instant::now() + wait;
    loop {
        let got = checkpoint_size(dir_fetch(dir), log_key);
        if got.is_some_and(|g| g >= size) {
            return got.unwrap_or(0);
        }
        assert!(
            Instant::now() < deadline,
            "the published checkpoint under {} did not reach size {size} within {wait:?} (it is {got:?})",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What [`check_complete`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complete {
    /// The checkpoint's size.
    pub size: u64,
    /// Hash tiles and entry bundles read.
    pub tiles: usize,
    /// Map objects read.
    pub map_objects: usize,
    /// Keys in the map.
    pub map_keys: usize,
    /// The packs the map objects were read from (their paths).
    pub packs: std::collections::BTreeSet<String>,
}

/// Checks that the objects `fetch` gives hold the whole log of their checkpoint: every hash
/// tile of its size verifies against its root, every entry bundle hashes to its level-0 tile,
/// the last entry is the state leaf, the edge object of its size holds the bucket's tiles of
/// its edge, the last entry and a map object that opens as the top one (if any), and every
/// map object under its map root, reached by either top object's locators, is there and
/// opens at its address.
///
/// # Errors
/// What is missing or does not verify, as text.
pub fn check_complete(
    mut fetch: impl FnMut(&str) -> Result<Vec<u8>, String>,
    log_key: &VerifierKey,
) -> Result<Complete, String> {
    use taglog_proofs::hash::Hash;
    use taglog_proofs::leaves::StateLeaf;
    use taglog_proofs::static_layout::{EdgeObject, MapObject};
    use taglog_proofs::tiles::{
        decode_entry_bundle, entry_leaf_hashes, new_entry_bundles, tiles_for_size, TileHashReader,
        TileKind, TilePath,
    };
    let note = fetch("checkpoint")?;
    let cp = SignedCheckpoint::open(&note, log_key).map_err(|e| format!("checkpoint: {e}"))?;
    let (size, root) = (cp.checkpoint().size(), cp.checkpoint().root());
    let mut hash_tiles = Vec::new();
    for t in tiles_for_size(size) {
        hash_tiles.push((t, fetch(&t.to_path())?));
    }
    TileHashReader::new(
        size,
        root,
        hash_tiles.iter().map(|(p, b)| (*p, b.as_slice())),
    )
    .map_err(|e| format!("tiles of size {size}: {e}"))?;
    let mut last = None;
    let bundles = new_entry_bundles(0, size);
    for b in &bundles {
        let bytes = fetch(&b.to_path())?;
        let entries =
            decode_entry_bundle(&bytes, usize::from(b.width())).map_err(|e| format!("{b}: {e}"))?;
        let level0 = TilePath::new(TileKind::Hash { level: 0 }, b.index(), b.width())
            .map_err(|e| e.to_string())?;
        let hashes: Vec<u8> = entry_leaf_hashes(&entries)
            .iter()
            .flat_map(|h| h.0)
            .collect();
        let tile = hash_tiles
            .iter()
            .find(|(p, _)| *p == level0)
            .map(|(_, d)| d.as_slice());
        if tile != Some(hashes.as_slice()) {
            return Err(format!("{b} does not hash to {level0}"));
        }
        last = entries.last().cloned();
    }
    let last = last.ok_or("the log has no entries")?;
    let state = StateLeaf::parse(&last).map_err(|e| format!("the last entry: {e}"))?;
    let edge_path = ObjectPath::Edge(size).to_path();
    let edge =
        EdgeObject::parse(&fetch(&edge_path)?, size).map_err(|e| format!("{edge_path}: {e}"))?;
    if edge.entry != last {
        return Err(format!("{edge_path}: its entry is not the last entry"));
    }
    for (t, data) in &edge.tiles {
        if !hash_tiles.iter().any(|(p, d)| p == t && d == data) {
            return Err(format!("{edge_path}: its {t} is not the bucket's"));
        }
    }
    // The edge object's top map object and the one at its own address hold the same
    // subtree, but their locators may differ: a start after kill -9 lays its packs out anew,
    // while the object at its own address, put once, keeps the first layout. Readers follow
    // either, so both are walked (each (address, locator) once).
    let mut tops = Vec::new();
    match &edge.map {
        Some(m) => tops.push((edge_path.clone(), m.clone())),
        None if state.map_root != Hash::ZERO => {
            return Err(format!("{edge_path}: no map object"));
        }
        None => {}
    }
    if state.map_root != Hash::ZERO {
        let own = ObjectPath::Map(state.map_root).to_path();
        let bytes = fetch(&own)?;
        tops.push((own, bytes));
    }
    let (mut map_objects, mut map_keys) = (0, 0);
    let mut counted = std::collections::HashSet::new();
    let mut walked = std::collections::HashSet::new();
    let mut queue = Vec::new();
    for (name, bytes) in &tops {
        let o = MapObject::open(&state.map_root, 0, &Hash::ZERO, bytes)
            .map_err(|e| format!("{name}: not the top map object of {size}: {e}"))?;
        if counted.insert(o.address()) {
            map_objects += 1;
            map_keys += o.leaves().len();
        }
        for (a, p, n) in o.children() {
            queue.push((a, p, n, o.locator(&a).unwrap_or(Locator::Own)));
        }
    }
    // Each pack is read once, however many objects it holds.
    let mut packs: BTreeMap<PackId, Vec<u8>> = BTreeMap::new();
    while let Some((address, path, nibbles, at)) = queue.pop() {
        if !walked.insert((address, at)) {
            continue;
        }
        let bytes = match at.range() {
            None => fetch(&ObjectPath::Map(address).to_path())?,
            Some((pack, _)) => {
                if let std::collections::btree_map::Entry::Vacant(e) = packs.entry(pack) {
                    e.insert(fetch(&ObjectPath::Pack(pack).to_path())?);
                }
                let mut cached = |_: &str| Ok(packs.get(&pack).cloned().unwrap_or_default());
                from_pack(&mut cached, at).map_err(|e| format!("map object {address}: {e}"))?
            }
        };
        let o = MapObject::open(&address, nibbles, &path, &bytes)
            .map_err(|e| format!("map object {address}: {e}"))?;
        if counted.insert(address) {
            map_objects += 1;
            map_keys += o.leaves().len();
        }
        for (a, p, n) in o.children() {
            queue.push((a, p, n, o.locator(&a).unwrap_or(Locator::Own)));
        }
    }
    Ok(Complete {
        size,
        tiles: hash_tiles.len() + bundles.len(),
        map_objects,
        map_keys,
        packs: packs
            .keys()
            .map(|p| ObjectPath::Pack(*p).to_path())
            .collect(),
    })
}
