//! Edge objects: what a reader needs at the right edge of a tree of one size, in one object.
//!
//! Every hash tile or entry bundle on the right edge of the tree changes whenever the log
//! grows, so a reader that verified at an earlier size would otherwise fetch each of them
//! again (the partial entry bundle for the state leaf, a partial hash tile per level, the
//! level-0 tile its cached checkpoint's consistency proof reads). For every checkpoint size
//! `N` it publishes, a log also writes the edge object `edge/<N>` (`N` spelled as a
//! tlog-tiles index, `edge/x001/234/567`), before the checkpoint that names `N`. It never
//! changes. It holds:
//!
//! - the entry of leaf `N − 1`, the state leaf;
//! - at every tile level `L`, the hash tiles (at their width at `N`) from the one holding
//!   the hashes of leaf `max(0, N − EDGE_WINDOW_LEAVES)` to the last one: on level 0 the
//!   partial tile and up to [`EDGE_WINDOW_LEAVES`]` / 256` full tiles before it, above it
//!   the partial tile (and the full one before it when the window starts there) — see
//!   [`edge_tiles`];
//! - the top map object of the state leaf's map root (8 key bits), or nothing (the empty
//!   map, or a map version the log no longer holds).
//!
//! With it, every stored hash of the tree of size `N` that an inclusion proof needs is in a
//! full tile or in the edge object, and so is every hash of a consistency proof from any
//! size `M ≥ N − EDGE_WINDOW_LEAVES`: a warm reader fetches the checkpoint, the edge object
//! and the map objects below the top that changed.
//!
//! Byte form (all integers big-endian):
//!
//! ```text
//! edge  = format (0x01) ‖ size (u64) ‖ entry length (u16) ‖ entry
//!         ‖ tile count (u8) ‖ tile* ‖ map object length (u32) ‖ map object
//! tile  = level (u8) ‖ index (u64) ‖ width (u16) ‖ width × 32 bytes of hashes
//! ```
//!
//! [`EdgeObject::parse`] checks the form only (nothing is trusted yet): at most
//! [`MAX_EDGE_OBJECT_BYTES`] (checked first), the size the reader asked for, a non-empty
//! entry, exactly the tiles of [`edge_tiles`] in that order, a map object of at most
//! [`MAX_MAP_OBJECT_BYTES`], no trailing bytes. The reader then checks the tiles against the
//! checkpoint's root like any fetched tile, the entry against its leaf hash in the level-0
//! tile, and the map object against the state leaf's map root ([`super::MapObject::open`]).
//!
//! Out of scope: fetching, and a bucket without edge objects (the reader falls back to the
//! tiles and entry bundle; see [`super::BundleBuilder`]).

use super::map_object::{map_objects, MAX_MAP_OBJECT_BYTES};
use crate::hash::HASH_LEN;
use crate::map::{MapStore, MapStoreError};
use crate::tiles::{
    index_path, nodes_at, parse_index, tile_data, width_for, TileKind, TilePath, MAX_ENTRY_BYTES,
    MAX_USED_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH,
};
use crate::tree::{HashReader, TreeError};

/// Format byte that opens every edge object.
pub const EDGE_OBJECT_FORMAT: u8 = 1;
/// Directory of the edge objects.
pub const EDGE_DIR: &str = "edge";
/// Leaves before the right edge whose hash tiles an edge object carries: a reader whose
/// cached checkpoint is at most this many leaves behind finds its consistency proof in it.
pub const EDGE_WINDOW_LEAVES: u64 = 2048;
/// Most tiles one edge object holds: on level 0 the window's full tiles and the partial one;
/// above it at most two per level.
pub const MAX_EDGE_TILES: usize =
    (EDGE_WINDOW_LEAVES / TILE_WIDTH as u64) as usize + 1 + 2 * MAX_USED_TILE_LEVEL as usize;
const TILE_HEADER: usize = 1 + 8 + 2;
const MAX_TILE_BYTES: usize = TILE_WIDTH as usize * HASH_LEN;
/// Largest edge object: the longest entry, every tile full, the largest map object.
pub const MAX_EDGE_OBJECT_BYTES: usize = 1
    + 8
    + 2
    + MAX_ENTRY_BYTES
    + 1
    + MAX_EDGE_TILES * (TILE_HEADER + MAX_TILE_BYTES)
    + 4
    + MAX_MAP_OBJECT_BYTES;

/// Why an edge object was rejected (or could not be encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeObjectError {
    /// More bytes than any edge object has; rejected before decoding.
    #[error("edge object is {len} bytes, more than the maximum {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_EDGE_OBJECT_BYTES`].
        max: usize,
    },
    /// The first byte is not [`EDGE_OBJECT_FORMAT`].
    #[error("edge object has format byte {0}, expected 1")]
    UnknownFormat(u8),
    /// The bytes end inside a field.
    #[error("edge object is truncated")]
    Truncated,
    /// Bytes after the map object.
    #[error("edge object has {0} trailing bytes")]
    TrailingBytes(usize),
    /// The tree size is not the one the object was fetched for (misfiled).
    #[error("edge object fetched for size {expected} is for size {found}")]
    WrongSize {
        /// The size asked for.
        expected: u64,
        /// The size it holds.
        found: u64,
    },
    /// A tree of size 0 has no edge.
    #[error("the tree of size 0 has no edge object")]
    EmptyTree,
    /// The last entry is empty (no leaf of a taglog tree is).
    #[error("edge object holds an empty last entry")]
    EmptyEntry,
    /// The entry is longer than any entry of an entry bundle.
    #[error("edge object's entry is {len} bytes, more than the maximum {max}")]
    EntryTooLong {
        /// Its length.
        len: usize,
        /// [`MAX_ENTRY_BYTES`].
        max: usize,
    },
    /// The tiles are not those [`edge_tiles`] lists for the size, in its order.
    #[error("edge object of size {size}: tile {position} is {found}, expected {expected}")]
    WrongTile {
        /// The tree size.
        size: u64,
        /// Position in the object.
        position: usize,
        /// What it holds there.
        found: String,
        /// What the size calls for.
        expected: String,
    },
    /// A tile of the wrong byte length was handed to the encoder.
    #[error("tile {tile} has {len} bytes, expected {expected}")]
    TileLength {
        /// The tile.
        tile: String,
        /// Its data length.
        len: usize,
        /// Width × 32.
        expected: usize,
    },
    /// The map object is longer than any map object.
    #[error("edge object's map object is {len} bytes, more than the maximum {max}")]
    MapTooLarge {
        /// Its length.
        len: usize,
        /// [`MAX_MAP_OBJECT_BYTES`].
        max: usize,
    },
}

/// The path of the edge object of the tree of `size`: `edge/<size as a tlog-tiles index>`.
pub fn edge_path(size: u64) -> String {
    format!("{EDGE_DIR}/{}", index_path(size))
}

/// Parses the part of an edge path after `edge/` (canonical spelling only).
pub(crate) fn parse_edge_index(rest: &str) -> Option<u64> {
    let n = parse_index(rest)?;
    (index_path(n) == rest).then_some(n)
}

/// The hash tiles an edge object of the tree of `size` holds, in order: level by level from
/// 0, on each level from the tile holding the hashes of leaf `max(0, size −
/// EDGE_WINDOW_LEAVES)` to the last tile of the tree (each at its width at `size`). Empty for
/// size 0.
pub fn edge_tiles(size: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    let first_leaf = size.saturating_sub(EDGE_WINDOW_LEAVES);
    let width = u64::from(TILE_WIDTH);
    for level in 0..=MAX_USED_TILE_LEVEL {
        let count = nodes_at(level, size);
        if count == 0 {
            break;
        }
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let from = first_leaf.checked_shr(shift).unwrap_or(0) / width;
        let last = (count - 1) / width;
        for t in from..=last {
            if let Ok(tile) = TilePath::new(TileKind::Hash { level }, t, width_for(count, t)) {
                out.push(tile);
            }
        }
    }
    out
}

/// A decoded edge object: its parts are not verified yet (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeObject {
    /// The tree size it is the edge of.
    pub size: u64,
    /// The entry of leaf `size − 1`.
    pub entry: Vec<u8>,
    /// The tiles of [`edge_tiles`]`(size)` with their data.
    pub tiles: Vec<(TilePath, Vec<u8>)>,
    /// The top map object of the state leaf's map root, if the log included it.
    pub map: Option<Vec<u8>>,
}

/// The top map object of map `version` (the one at the map root), or `None` for the empty
/// map. What a publisher puts in the edge object of that size.
///
/// # Errors
/// [`MapStoreError`] from reading the store ([`MapStoreError::MissingNode`] when the version
/// is not stored, e.g. pruned).
pub fn top_map_object<S: MapStore + ?Sized>(
    store: &S,
    version: u64,
) -> Result<Option<Vec<u8>>, MapStoreError> {
    // Nothing below the root is newer than the version itself: only the root object comes.
    Ok(map_objects(store, version, Some(version))?
        .into_iter()
        .find(|o| o.nibbles == 0)
        .map(|o| o.bytes))
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EdgeObjectError> {
        if self.0.len() < n {
            return Err(EdgeObjectError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EdgeObjectError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

impl EdgeObject {
    /// The edge object of the tree of `size` whose stored hashes `hashes` reads and whose
    /// last entry is `entry`, with the top map object `map` (see [`top_map_object`]).
    ///
    /// # Errors
    /// [`TreeError`] when a hash of the edge tiles cannot be read.
    pub fn new(
        size: u64,
        entry: Vec<u8>,
        hashes: &impl HashReader,
        map: Option<Vec<u8>>,
    ) -> Result<EdgeObject, TreeError> {
        let tiles = edge_tiles(size)
            .into_iter()
            .map(|t| tile_data(&t, hashes).map(|d| (t, d)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EdgeObject {
            size,
            entry,
            tiles,
            map,
        })
    }

    /// Decodes the edge object fetched for the tree of `size` (see the module documentation
    /// for what is checked; nothing in it is trusted until the reader checks it against the
    /// checkpoint).
    ///
    /// # Errors
    /// [`EdgeObjectError`] for anything but the exact encoding of an edge object of `size`.
    pub fn parse(bytes: &[u8], size: u64) -> Result<EdgeObject, EdgeObjectError> {
        if bytes.len() > MAX_EDGE_OBJECT_BYTES {
            return Err(EdgeObjectError::TooLarge {
                len: bytes.len(),
                max: MAX_EDGE_OBJECT_BYTES,
            });
        }
        if size == 0 {
            return Err(EdgeObjectError::EmptyTree);
        }
        let mut c = Cursor(bytes);
        let [format] = c.array::<1>()?;
        if format != EDGE_OBJECT_FORMAT {
            return Err(EdgeObjectError::UnknownFormat(format));
        }
        let found = u64::from_be_bytes(c.array()?);
        if found != size {
            return Err(EdgeObjectError::WrongSize {
                expected: size,
                found,
            });
        }
        let len = usize::from(u16::from_be_bytes(c.array()?));
        if len == 0 {
            return Err(EdgeObjectError::EmptyEntry);
        }
        let entry = c.take(len)?.to_vec();
        let expected = edge_tiles(size);
        let [count] = c.array::<1>()?;
        let mut tiles = Vec::with_capacity(expected.len());
        for position in 0..usize::from(count).max(expected.len()) {
            let want = expected.get(position);
            let got = if position < usize::from(count) {
                let [level] = c.array::<1>()?;
                let index = u64::from_be_bytes(c.array()?);
                let width = u16::from_be_bytes(c.array()?);
                Some((level, index, width))
            } else {
                None
            };
            let matches = match (want, got) {
                (Some(t), Some((level, index, width))) => {
                    t.kind() == (TileKind::Hash { level })
                        && t.index() == index
                        && t.width() == width
                }
                _ => false,
            };
            if !matches {
                return Err(EdgeObjectError::WrongTile {
                    size,
                    position,
                    found: got.map_or_else(
                        || "missing".to_owned(),
                        |(l, i, w)| format!("level {l} index {i} width {w}"),
                    ),
                    expected: want.map_or_else(|| "no tile".to_owned(), TilePath::to_path),
                });
            }
            if let Some(t) = want {
                let data = c.take(usize::from(t.width()) * HASH_LEN)?;
                tiles.push((*t, data.to_vec()));
            }
        }
        let map_len = usize::try_from(u32::from_be_bytes(c.array()?)).unwrap_or(usize::MAX);
        if map_len > MAX_MAP_OBJECT_BYTES {
            return Err(EdgeObjectError::MapTooLarge {
                len: map_len,
                max: MAX_MAP_OBJECT_BYTES,
            });
        }
        let map = (map_len > 0)
            .then(|| c.take(map_len).map(<[u8]>::to_vec))
            .transpose()?;
        if !c.0.is_empty() {
            return Err(EdgeObjectError::TrailingBytes(c.0.len()));
        }
        Ok(EdgeObject {
            size,
            entry,
            tiles,
            map,
        })
    }

    /// The object's bytes (what [`EdgeObject::parse`] accepts for its size).
    ///
    /// # Errors
    /// [`EdgeObjectError`] when the parts do not make an edge object of `self.size`: the
    /// tiles are not [`edge_tiles`], a tile's data has the wrong length, the entry is empty or
    /// too long, the map object too large.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EdgeObjectError> {
        if self.size == 0 {
            return Err(EdgeObjectError::EmptyTree);
        }
        if self.entry.is_empty() {
            return Err(EdgeObjectError::EmptyEntry);
        }
        let entry_len =
            u16::try_from(self.entry.len()).map_err(|_| EdgeObjectError::EntryTooLong {
                len: self.entry.len(),
                max: MAX_ENTRY_BYTES,
            })?;
        let expected = edge_tiles(self.size);
        let wrong = |position: usize, found: String| EdgeObjectError::WrongTile {
            size: self.size,
            position,
            found,
            expected: expected
                .get(position)
                .map_or_else(|| "no tile".to_owned(), TilePath::to_path),
        };
        if self.tiles.len() != expected.len() {
            return Err(wrong(
                self.tiles.len().min(expected.len()),
                format!("{} tiles", self.tiles.len()),
            ));
        }
        let map = self.map.as_deref().unwrap_or_default();
        if map.len() > MAX_MAP_OBJECT_BYTES {
            return Err(EdgeObjectError::MapTooLarge {
                len: map.len(),
                max: MAX_MAP_OBJECT_BYTES,
            });
        }
        let mut out = Vec::with_capacity(
            16 + self.entry.len() + self.tiles.len() * (TILE_HEADER + MAX_TILE_BYTES) + map.len(),
        );
        out.push(EDGE_OBJECT_FORMAT);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&entry_len.to_be_bytes());
        out.extend_from_slice(&self.entry);
        out.push(u8::try_from(expected.len()).unwrap_or(u8::MAX));
        for (position, ((tile, data), want)) in self.tiles.iter().zip(&expected).enumerate() {
            if tile != want {
                return Err(wrong(position, tile.to_path()));
            }
            let TileKind::Hash { level } = tile.kind() else {
                return Err(wrong(position, tile.to_path()));
            };
            let len = usize::from(tile.width()) * HASH_LEN;
            if data.len() != len {
                return Err(EdgeObjectError::TileLength {
                    tile: tile.to_path(),
                    len: data.len(),
                    expected: len,
                });
            }
            out.push(level);
            out.extend_from_slice(&tile.index().to_be_bytes());
            out.extend_from_slice(&tile.width().to_be_bytes());
            out.extend_from_slice(data);
        }
        let map_len = u32::try_from(map.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&map_len.to_be_bytes());
        out.extend_from_slice(map);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn object(size: u64) -> EdgeObject {
        let tiles = edge_tiles(size)
            .into_iter()
            .map(|t| (t, vec![7u8; usize::from(t.width()) * HASH_LEN]))
            .collect();
        EdgeObject {
            size,
            entry: b"taglog-state\nentry\n".to_vec(),
            tiles,
            map: Some(vec![1, 0, 0, 0, 0]),
        }
    }

    #[test]
    fn edge_tiles_cover_the_window_and_the_right_edge() {
        assert!(edge_tiles(0).is_empty());
        let paths = |n| {
            edge_tiles(n)
                .iter()
                .map(TilePath::to_path)
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(1), ["tile/0/000.p/1"]);
        assert_eq!(paths(256), ["tile/0/000", "tile/1/000.p/1"]);
        // 529,413 leaves: level 0 from tile (529,413 − 2,048) / 256 = 2,060 to the partial 2,068.
        let p = paths(529_413);
        assert_eq!(p.first().unwrap(), "tile/0/x002/060");
        assert!(p.contains(&"tile/0/x002/068.p/5".to_owned()), "{p:?}");
        assert!(p.contains(&"tile/1/008.p/20".to_owned()), "{p:?}");
        assert_eq!(p.last().unwrap(), "tile/2/000.p/8");
        assert_eq!(p.len(), 9 + 1 + 1);
        // The window starts in an earlier level-1 tile: that full tile comes too.
        let n = 65_536 * 3 + 256 * 2;
        let p = paths(n);
        assert!(p.contains(&"tile/1/002".to_owned()), "{p:?}");
        assert!(p.contains(&"tile/1/003.p/2".to_owned()), "{p:?}");
        for n in [1, 255, 256, 257, 2048, 2049, 65_536, 1 << 24, (1 << 40) + 3] {
            assert!(edge_tiles(n).len() <= MAX_EDGE_TILES, "{n}");
        }
        assert!(edge_tiles(u64::MAX >> 1).len() <= MAX_EDGE_TILES);
    }

    #[test]
    fn paths_round_trip() {
        assert_eq!(edge_path(5), "edge/005");
        assert_eq!(edge_path(1_234_567), "edge/x001/x234/567");
        assert_eq!(parse_edge_index("x001/x234/567"), Some(1_234_567));
        for bad in ["x000/005", "5", "005/", "x1/005", "x001/234/567"] {
            assert_eq!(parse_edge_index(bad), None, "{bad}");
        }
    }

    #[test]
    fn objects_round_trip_and_reject_every_malformation() {
        for size in [1, 300, 70_000] {
            let o = object(size);
            let bytes = o.to_bytes().unwrap();
            assert_eq!(EdgeObject::parse(&bytes, size).unwrap(), o);
            assert!(matches!(
                EdgeObject::parse(&bytes, size + 1),
                Err(EdgeObjectError::WrongSize { .. })
            ));
            for cut in [0, 1, 9, 12, bytes.len() - 1] {
                assert!(EdgeObject::parse(&bytes[..cut], size).is_err(), "{cut}");
            }
            let mut long = bytes.clone();
            long.push(0);
            assert_eq!(
                EdgeObject::parse(&long, size),
                Err(EdgeObjectError::TrailingBytes(1))
            );
        }
        let o = object(300);
        let bytes = o.to_bytes().unwrap();
        let mut bad = bytes.clone();
        bad[0] = 2;
        assert_eq!(
            EdgeObject::parse(&bad, 300),
            Err(EdgeObjectError::UnknownFormat(2))
        );
        assert!(matches!(
            EdgeObject::parse(&vec![0; MAX_EDGE_OBJECT_BYTES + 1], 300),
            Err(EdgeObjectError::TooLarge { .. })
        ));
        // A tile header that is not the one the size calls for.
        let at = 1 + 8 + 2 + o.entry.len() + 1 + 1 + 8 + 1;
        let mut bad = bytes.clone();
        bad[at] ^= 1;
        assert!(matches!(
            EdgeObject::parse(&bad, 300),
            Err(EdgeObjectError::WrongTile { position: 0, .. })
        ));
        // A tile count that is not the expected one.
        let mut bad = bytes.clone();
        bad[1 + 8 + 2 + o.entry.len()] += 1;
        assert!(EdgeObject::parse(&bad, 300).is_err());
        // Empty entry, oversized map length.
        let mut e = o.clone();
        e.entry.clear();
        assert_eq!(e.to_bytes(), Err(EdgeObjectError::EmptyEntry));
        let mut bad = bytes.clone();
        let map_at = bytes.len() - 5 - 4;
        bad[map_at..map_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            EdgeObject::parse(&bad, 300),
            Err(EdgeObjectError::MapTooLarge { .. })
        ));
        // The encoder refuses parts of another size.
        let mut e = o.clone();
        e.tiles.pop();
        assert!(matches!(
            e.to_bytes(),
            Err(EdgeObjectError::WrongTile { .. })
        ));
        let mut e = o;
        e.tiles[0].1.pop();
        assert!(matches!(
            e.to_bytes(),
            Err(EdgeObjectError::TileLength { .. })
        ));
        assert_eq!(EdgeObject::parse(&[], 0), Err(EdgeObjectError::EmptyTree));
        assert_eq!(MAX_EDGE_TILES, 23, "docs/formats.md names this limit");
        assert_eq!(
            MAX_EDGE_OBJECT_BYTES, 274_769,
            "docs/formats.md names this limit"
        );
    }
}
