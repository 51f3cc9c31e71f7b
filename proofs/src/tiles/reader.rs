//! [`TileHashReader`]: stored hashes served from tiles verified against a trusted tree head.
//!
//! Verification (all before any hash is handed out): the right-edge (partial) tile of every
//! level must be present and together hash to the trusted root; every other tile is full and
//! must hash (as a complete 256-leaf subtree) to the entry recorded for it in its parent tile,
//! which is itself verified first. A tile wider than the trusted size calls for (e.g. a full
//! tile standing in for a deleted partial one) is cut to the width the size calls for; only
//! those hashes are verified and kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{
    nodes_at, tile_hashes_from_bytes, width_for, TileError, TileKind, TilePath,
    MAX_USED_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH,
};
use crate::hash::Hash;
use crate::tree::{
    check_size, root_of_leaves, split_stored_hash_index, tree_root_from_hashes, tree_root_indexes,
    HashReader, TreeError,
};

/// A tile's key: (tile level, tile index).
type Key = (u8, u64);

/// Verified hash tiles of one tree head; implements [`HashReader`] for every stored hash of
/// that tree that the tiles hold. Fetch [`TileHashReader::tiles_needed`] first, then build it
/// with [`TileHashReader::new`].
#[derive(Debug, Clone)]
pub struct TileHashReader {
    size: u64,
    root: Hash,
    tiles: HashMap<Key, Vec<Hash>>,
}

fn tile_path(size: u64, (level, index): Key) -> Result<TilePath, TileError> {
    let width = width_for(nodes_at(level, size), index);
    TilePath::new(TileKind::Hash { level }, index, width).map_err(|_| TileError::NotInTree {
        tile: format!("tile/{level}/#{index}"),
        size,
    })
}

/// The right-edge (partial) tiles of a tree of `size`: they hold its root's subtrees.
fn edge_tiles(size: u64) -> Vec<Key> {
    (0..=MAX_USED_TILE_LEVEL)
        .filter_map(|level| {
            let count = nodes_at(level, size);
            let t = count / u64::from(TILE_WIDTH);
            (width_for(count, t) > 0).then_some((level, t))
        })
        .collect()
}

/// Where stored hash `(tree_level, n)` lives: tile key, first position, hashes to fold.
fn locate(tree_level: u8, n: u64) -> (Key, usize, usize) {
    let level = tree_level / TILE_HEIGHT;
    let j = tree_level % TILE_HEIGHT;
    let start = n << j;
    let width = u64::from(TILE_WIDTH);
    let pos = usize::try_from(start % width).unwrap_or(0);
    ((level, start / width), pos, 1usize << j)
}

/// Checks that stored hash `index` belongs to the tree of `size`; returns `(tree_level, n)`.
fn in_tree(index: u64, size: u64) -> Result<(u8, u64), TreeError> {
    let (tree_level, n) = split_stored_hash_index(index);
    let covered = n
        .checked_add(1)
        .filter(|x| tree_level < 64 && x.leading_zeros() >= u32::from(tree_level))
        .map(|x| x << tree_level);
    match covered {
        Some(end) if end <= size => Ok((tree_level, n)),
        _ => Err(TreeError::HashBeyondSize { index, size }),
    }
}

/// The stored hash `(tree_level, n)` from `tiles`, if its tile is there and wide enough.
fn hash_from(tiles: &HashMap<Key, Vec<Hash>>, tree_level: u8, n: u64) -> Option<Hash> {
    let (key, pos, count) = locate(tree_level, n);
    let hashes = tiles.get(&key)?.get(pos..pos.checked_add(count)?)?;
    Some(root_of_leaves(hashes))
}

impl TileHashReader {
    /// The tiles (with their widths at `size`) needed to read and verify the stored hashes at
    /// `indexes` in the tree of `size` leaves: the tiles holding them, their parent tiles up to
    /// the right edge, and the right-edge tiles that hash to the root.
    ///
    /// # Errors
    /// [`TreeError::SizeTooLarge`]; [`TreeError::HashBeyondSize`] for an index not in the tree.
    pub fn tiles_needed(size: u64, indexes: &[u64]) -> Result<Vec<TilePath>, TreeError> {
        check_size(size)?;
        let mut keys: BTreeSet<Key> = edge_tiles(size).into_iter().collect();
        for &index in indexes {
            let (tree_level, n) = in_tree(index, size)?;
            let (mut key, _, _) = locate(tree_level, n);
            // Climb while the tile is full: a full tile is checked against its parent.
            loop {
                keys.insert(key);
                let (level, t) = key;
                if level >= MAX_USED_TILE_LEVEL || width_for(nodes_at(level, size), t) != TILE_WIDTH
                {
                    break;
                }
                key = (level + 1, t / u64::from(TILE_WIDTH));
            }
        }
        keys.into_iter()
            .map(|k| tile_path(size, k).map_err(TreeError::from))
            .collect()
    }

    /// Verifies `fetched` hash tiles against the trusted tree head `(size, root)`.
    ///
    /// # Errors
    /// [`TileError::NotAHashTile`], [`TileError::NotInTree`], [`TileError::TooNarrow`],
    /// [`TileError::WrongDataLength`], [`TileError::DuplicateTile`] for tiles that cannot be
    /// used; [`TileError::MissingTile`] if a right-edge tile or a needed parent is absent;
    /// [`TileError::RootMismatch`] and [`TileError::TileMismatch`] if the contents are wrong.
    pub fn new<I, B>(size: u64, root: Hash, fetched: I) -> Result<TileHashReader, TileError>
    where
        I: IntoIterator<Item = (TilePath, B)>,
        B: AsRef<[u8]>,
    {
        let not_in_tree = |t: &TilePath| TileError::NotInTree {
            tile: t.to_path(),
            size,
        };
        let mut tiles: BTreeMap<Key, Vec<Hash>> = BTreeMap::new();
        for (path, data) in fetched {
            let TileKind::Hash { level } = path.kind() else {
                return Err(TileError::NotAHashTile(path.to_path()));
            };
            if level > MAX_USED_TILE_LEVEL || check_size(size).is_err() {
                return Err(not_in_tree(&path));
            }
            let needed = width_for(nodes_at(level, size), path.index());
            if needed == 0 {
                return Err(not_in_tree(&path));
            }
            if path.width() < needed {
                return Err(TileError::TooNarrow {
                    tile: path.to_path(),
                    size,
                    needed,
                });
            }
            let mut hashes = tile_hashes_from_bytes(&path, data.as_ref())?;
            hashes.truncate(usize::from(needed));
            if tiles.insert((level, path.index()), hashes).is_some() {
                return Err(TileError::DuplicateTile(path.to_path()));
            }
        }
        let missing = |k: Key| {
            TileError::MissingTile(
                tile_path(size, k).map_or_else(|e| e.to_string(), |t| t.to_path()),
            )
        };
        // 1. The right edge against the root.
        let mut verified: HashMap<Key, Vec<Hash>> = HashMap::new();
        for key in edge_tiles(size) {
            let hashes = tiles.remove(&key).ok_or_else(|| missing(key))?;
            verified.insert(key, hashes);
        }
        let mut parts = Vec::new();
        for index in tree_root_indexes(size) {
            let (tree_level, n) = split_stored_hash_index(index);
            let (key, _, _) = locate(tree_level, n);
            parts.push(hash_from(&verified, tree_level, n).ok_or_else(|| missing(key))?);
        }
        let computed = tree_root_from_hashes(size, &parts).map_err(|_| missing((0, 0)))?;
        if computed != root {
            return Err(TileError::RootMismatch {
                size,
                computed,
                expected: root,
            });
        }
        // 2. Full tiles against their parents, top level first (parents are checked first).
        while let Some((key, hashes)) = tiles.pop_last() {
            let (level, t) = key;
            let parent = (level + 1, t / u64::from(TILE_WIDTH));
            let pos = usize::try_from(t % u64::from(TILE_WIDTH)).unwrap_or(0);
            let recorded = verified
                .get(&parent)
                .and_then(|p| p.get(pos))
                .ok_or_else(|| missing(parent))?;
            if root_of_leaves(&hashes) != *recorded {
                return Err(TileError::TileMismatch(
                    tile_path(size, key).map_or_else(|e| e.to_string(), |p| p.to_path()),
                ));
            }
            verified.insert(key, hashes);
        }
        Ok(TileHashReader {
            size,
            root,
            tiles: verified,
        })
    }

    /// The trusted tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The trusted root.
    pub fn root(&self) -> Hash {
        self.root
    }
}

impl HashReader for TileHashReader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes
            .iter()
            .map(|&index| {
                let (tree_level, n) = in_tree(index, self.size)?;
                hash_from(&self.tiles, tree_level, n).ok_or(TreeError::MissingHash { index })
            })
            .collect()
    }
}
