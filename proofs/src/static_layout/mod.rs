//! Static publication: every object a verifier or monitor needs, as files under one URL
//! prefix that any object store, CDN or mirror can serve (DESIGN §9, issue 15).
//!
//! Layout, relative to the log's static prefix (see `docs/formats.md`, "Static objects"):
//!
//! | path | object | changes |
//! |---|---|---|
//! | `checkpoint` | the newest published checkpoint note, with its cosignatures | replaced |
//! | `tile/<L>/<N>[.p/<W>]` | C2SP tlog-tiles hash tile | never |
//! | `tile/entries/<N>[.p/<W>]` | C2SP tlog-tiles entry bundle | never |
//! | `map/<h0h1>/<h2…h63>` | map object ([`MapObject`]) whose address is the hex hash `h` | never |
//! | `map/pack/<p>` | pack of map objects ([`PackId`] `p`, 32 hex digits), read by [`Locator`] | never |
//! | `edge/<N>` | edge object ([`EdgeObject`]) of the tree of size `N` (a tlog-tiles index) | never |
//!
//! How a reader checks each object before using it: the checkpoint by the log key's
//! signature ([`crate::checkpoint::SignedCheckpoint::open`]); hash tiles against the
//! checkpoint's root ([`crate::tiles::TileHashReader`]); an entry bundle by hashing its
//! entries into the level-0 tile they stand for, which is then checked like any tile; a map
//! object by recomputing its root hash and comparing it with its address, which the reader
//! took from the verified state leaf or from a verified object above it ([`MapObject::open`]);
//! an edge object's parts like the objects they stand for (its tiles against the root, its
//! entry against its leaf hash, its map object against the state leaf's map root).
//!
//! [`BundleBuilder`] rebuilds from these objects the DESIGN §3.10 bundle that `/lookup`
//! answers for the same checkpoint, field by field, so that the one verifier
//! ([`crate::verify::verify`]) checks it. [`map_objects`] and the tile functions in
//! [`crate::tiles`] give a publisher what to upload.
//!
//! Out of scope: HTTP, object storage clients, caching and upload order (the publisher
//! uploads tiles, bundles and map objects before the checkpoint that needs them).

mod builder;
mod edge;
mod map_object;

pub use builder::{BundleBuilder, StaticError};
pub use edge::{
    edge_path, edge_tiles, top_map_object, EdgeObject, EdgeObjectError, EDGE_DIR,
    EDGE_OBJECT_FORMAT, EDGE_WINDOW_LEAVES, MAX_EDGE_OBJECT_BYTES, MAX_EDGE_TILES,
};
pub use map_object::{
    encode_map_object, map_objects, EncodedMapObject, Locator, MapObject, MapObjectError, PackId,
    LOCATOR_BYTES, MAP_OBJECT_FORMAT, MAP_OBJECT_FORMAT_LOCATED, MAX_MAP_OBJECT_BYTES,
    MAX_OBJECT_NIBBLES, MAX_PACK_BYTES, OBJECT_NIBBLES, PACK_ID_BYTES,
};

use crate::hash::Hash;
use crate::tiles::{TileError, TilePath};

/// Path of the checkpoint object.
pub const CHECKPOINT_PATH: &str = "checkpoint";
/// Directory of the map objects.
pub const MAP_DIR: &str = "map";
/// Directory of the packs of map objects.
pub const PACK_DIR: &str = "map/pack";
/// Longest object path accepted by [`ObjectPath::parse`] (map paths are 69 bytes).
pub const MAX_OBJECT_PATH_BYTES: usize = 80;

/// The address of one static object, relative to the log's static prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectPath {
    /// `checkpoint`: the only object that changes.
    Checkpoint,
    /// A hash tile or entry bundle at its tlog-tiles path.
    Tile(TilePath),
    /// A map object by its address.
    Map(Hash),
    /// A pack of map objects (read in parts, by [`Locator`]).
    Pack(PackId),
    /// The edge object of the tree of this size.
    Edge(u64),
}

/// Why an object path was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectPathError {
    /// Longer than [`MAX_OBJECT_PATH_BYTES`]; rejected before parsing.
    #[error("object path is {len} bytes, longer than the maximum {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A tile path that is not canonical.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// Neither `checkpoint`, a tile, a canonical map path nor an edge path.
    #[error(
        "{0:?} is not a static object path (checkpoint, tile/..., map/<2 hex>/<62 hex>, map/pack/<32 hex>, edge/<N>)"
    )]
    Unknown(String),
}

impl ObjectPath {
    /// The canonical path, e.g. `checkpoint`, `tile/0/x001/234.p/7`, `map/ab/cdef…`,
    /// `edge/x001/234`.
    pub fn to_path(&self) -> String {
        match self {
            ObjectPath::Checkpoint => CHECKPOINT_PATH.to_owned(),
            ObjectPath::Tile(t) => t.to_path(),
            ObjectPath::Map(h) => {
                let hex = hex::encode(h.0);
                let (a, b) = hex.split_at(2);
                format!("{MAP_DIR}/{a}/{b}")
            }
            ObjectPath::Edge(n) => edge_path(*n),
            ObjectPath::Pack(p) => format!("{PACK_DIR}/{}", hex::encode(p.0)),
        }
    }

    /// Parses a canonical object path (lowercase hex for map objects).
    ///
    /// # Errors
    /// [`ObjectPathError::TooLong`]; [`ObjectPathError::Tile`] for a non-canonical tile path;
    /// [`ObjectPathError::Unknown`] for anything else.
    pub fn parse(path: &str) -> Result<ObjectPath, ObjectPathError> {
        if path.len() > MAX_OBJECT_PATH_BYTES {
            return Err(ObjectPathError::TooLong {
                len: path.len(),
                max: MAX_OBJECT_PATH_BYTES,
            });
        }
        if path == CHECKPOINT_PATH {
            return Ok(ObjectPath::Checkpoint);
        }
        if path.starts_with("tile/") {
            return Ok(ObjectPath::Tile(TilePath::parse(path)?));
        }
        let unknown = || ObjectPathError::Unknown(path.to_owned());
        if let Some(rest) = path
            .strip_prefix(EDGE_DIR)
            .and_then(|r| r.strip_prefix('/'))
        {
            return edge::parse_edge_index(rest)
                .map(ObjectPath::Edge)
                .ok_or_else(unknown);
        }
        let lower = |s: &str| s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        if let Some(rest) = path
            .strip_prefix(PACK_DIR)
            .and_then(|r| r.strip_prefix('/'))
        {
            if rest.len() != 2 * PACK_ID_BYTES || !lower(rest) {
                return Err(unknown());
            }
            let bytes = hex::decode(rest).map_err(|_| unknown())?;
            return bytes
                .try_into()
                .map(|b| ObjectPath::Pack(PackId(b)))
                .map_err(|_| unknown());
        }
        let rest = path
            .strip_prefix(MAP_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(unknown)?;
        let (a, b) = rest.split_once('/').ok_or_else(unknown)?;
        if a.len() != 2 || b.len() != 62 || !lower(a) || !lower(b) {
            return Err(unknown());
        }
        let bytes = hex::decode(format!("{a}{b}")).map_err(|_| unknown())?;
        Hash::from_slice(&bytes)
            .map(ObjectPath::Map)
            .ok_or_else(unknown)
    }

    /// Whether the object never changes once written (everything but the checkpoint; a
    /// partial tile never changes either, though a log may delete it once the full tile
    /// exists).
    pub fn is_immutable(&self) -> bool {
        !matches!(self, ObjectPath::Checkpoint)
    }
}

impl std::fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiles::TileKind;

    #[test]
    fn paths_round_trip_and_reject_near_misses() {
        let h = Hash([0xab; 32]);
        let tile = TilePath::new(TileKind::Hash { level: 1 }, 1234, 7).unwrap();
        for p in [
            ObjectPath::Checkpoint,
            ObjectPath::Map(h),
            ObjectPath::Tile(tile),
            ObjectPath::Tile(TilePath::new(TileKind::Entries, 0, 256).unwrap()),
            ObjectPath::Edge(1),
            ObjectPath::Edge(1_234_567),
            ObjectPath::Pack(PackId([0x5a; PACK_ID_BYTES])),
        ] {
            assert_eq!(ObjectPath::parse(&p.to_path()).unwrap(), p);
        }
        assert_eq!(
            ObjectPath::Map(h).to_path(),
            format!("map/ab/{}", "ab".repeat(31))
        );
        for bad in [
            "checkpoint/",
            "Checkpoint",
            "map/ab",
            &format!("map/AB/{}", "ab".repeat(31)),
            &format!("map/ab/{}", "ab".repeat(30)),
            &format!("map/abab/{}", "ab".repeat(30)),
            &format!("map/ab/{}/", "ab".repeat(31)),
            &format!("map//{}", "ab".repeat(32)),
            "tile/0/01",
            "map/../checkpoint",
            "edge/",
            "edge/5",
            "edge/x000/005",
            "edge/005/",
            &format!("map/pack/{}", "5A".repeat(16)),
            &format!("map/pack/{}", "5a".repeat(15)),
            &format!("map/pack/{}/", "5a".repeat(16)),
            "map/pack/",
        ] {
            assert!(ObjectPath::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            ObjectPath::parse(&"m".repeat(81)),
            Err(ObjectPathError::TooLong { .. })
        ));
        assert!(!ObjectPath::Checkpoint.is_immutable());
        assert!(ObjectPath::Map(h).is_immutable());
    }
}
