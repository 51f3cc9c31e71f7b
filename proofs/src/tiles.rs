//! C2SP tlog-tiles: tile paths, tile contents, entry bundles, and a [`HashReader`] over tiles
//! that are checked against a trusted tree head. <https://c2sp.org/tlog-tiles>
//!
//! Tiles have height 8: a hash tile at level `L` holds up to 256 hashes of tree level `8·L`.
//! Paths are `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]` (relative to the log's
//! URL prefix), with `<N>` in zero-padded 3-digit groups, all but the last prefixed with `x`
//! (`x001/x234/067`). A [`TilePath`] has width 1..=256; 256 is a full tile and carries no
//! `.p/` suffix.
//!
//! Guarantees: [`TilePath::parse`] accepts only the canonical spelling (the one
//! [`TilePath::to_path`] writes back byte for byte); [`decode_entry_bundle`] accepts exactly the
//! expected number of entries and no trailing bytes; [`TileHashReader`] hands out only hashes
//! from tiles that it verified against the trusted `(size, root)`, every check done before any
//! hash is returned. Out of scope: HTTP, caching headers and pruning (the server and client),
//! and which size is trusted (checkpoints).

use crate::hash::{Hash, HASH_LEN};
use crate::tree::{check_size, read_exact, stored_hash_index, HashReader, TreeError};

/// Hashes in a full tile (tile height 8).
pub const TILE_WIDTH: u16 = 256;
/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;
/// Highest tile level a path may name (tlog-tiles: 0..=63).
pub const MAX_TILE_LEVEL: u8 = 63;
/// Highest tile level that can hold a hash of a tree of at most 2⁶³−1 leaves.
pub const MAX_USED_TILE_LEVEL: u8 = 7;
/// Longest tile path accepted (the longest canonical one is 53 bytes).
pub const MAX_TILE_PATH_BYTES: usize = 64;
/// Largest entry an entry bundle can carry (its length is a big-endian u16).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;
/// Most entries in one bundle.
pub const MAX_BUNDLE_ENTRIES: usize = TILE_WIDTH as usize;
/// Largest possible entry bundle: 256 entries of the largest size with their prefixes.
pub const MAX_BUNDLE_BYTES: usize = MAX_BUNDLE_ENTRIES * (2 + MAX_ENTRY_BYTES);

/// Why a tile path, tile or entry bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A tile path longer than any canonical one; rejected before parsing.
    #[error("tile path is {len} bytes, longer than the maximum {max}")]
    PathTooLong {
        /// Length of the path.
        len: usize,
        /// [`MAX_TILE_PATH_BYTES`].
        max: usize,
    },
    /// A tile path that is not the canonical spelling of a tile.
    #[error("malformed tile path {path:?}: {reason}")]
    MalformedPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A tile width outside 1..=256.
    #[error("tile width {0} is outside 1..=256")]
    BadWidth(u16),
    /// A tile level above [`MAX_TILE_LEVEL`].
    #[error("tile level {0} is above the maximum 63")]
    BadLevel(u8),
    /// An entry bundle was given where a hash tile is needed.
    #[error("{0} is an entry bundle, not a hash tile")]
    NotAHashTile(String),
    /// A tile that no tree of at most 2⁶³−1 leaves has.
    #[error("tile {0} lies beyond the largest tree taglog supports")]
    BeyondMaxTree(String),
    /// A tile whose byte length is not 32 times its width.
    #[error("tile {tile} is {got} bytes, but its width needs exactly {expected}")]
    WrongDataLength {
        /// The tile path.
        tile: String,
        /// Bytes the width calls for.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// An entry too large for a u16 length prefix.
    #[error("entry {index} is {len} bytes, more than the maximum {max}")]
    EntryTooLarge {
        /// Position of the entry in the bundle.
        index: usize,
        /// Its length.
        len: usize,
        /// [`MAX_ENTRY_BYTES`].
        max: usize,
    },
    /// More entries than a bundle holds.
    #[error("{count} entries, more than the {max} one bundle holds")]
    TooManyEntries {
        /// Entries given or expected.
        count: usize,
        /// [`MAX_BUNDLE_ENTRIES`].
        max: usize,
    },
    /// An entry bundle larger than [`MAX_BUNDLE_BYTES`]; rejected before decoding.
    #[error("entry bundle is {len} bytes, more than the maximum {max}")]
    BundleTooLarge {
        /// Length of the bundle.
        len: usize,
        /// [`MAX_BUNDLE_BYTES`].
        max: usize,
    },
    /// The bundle ends inside an entry or before the expected number of entries.
    #[error("entry bundle is truncated: entry {index} of {expected} is missing or cut short")]
    BundleTruncated {
        /// Position of the entry that is missing or short.
        index: usize,
        /// Entries expected.
        expected: usize,
    },
    /// Bytes after the expected number of entries.
    #[error("entry bundle has {count} trailing bytes after its {expected} entries")]
    TrailingBytes {
        /// Bytes left over.
        count: usize,
        /// Entries expected.
        expected: usize,
    },
    /// A tile that is not part of the tree of the trusted size.
    #[error("tile {tile} is not part of a tree of size {size}")]
    NotInTree {
        /// The tile path.
        tile: String,
        /// The trusted tree size.
        size: u64,
    },
    /// A tile narrower than the trusted size calls for (fetched for an older tree).
    #[error("tile {tile} is too narrow for size {size}: fetch width {needed}")]
    TooNarrow {
        /// The tile path.
        tile: String,
        /// The trusted tree size.
        size: u64,
        /// The width the size calls for.
        needed: u16,
    },
    /// The same tile was given twice.
    #[error("tile {0} was given twice")]
    DuplicateTile(String),
    /// A tile needed to verify the others (or to answer a read) was not given.
    #[error(
        "tile {0} is needed but was not given; fetch it first (see TileHashReader::tiles_needed)"
    )]
    MissingTile(String),
    /// The right-edge tiles do not hash to the trusted root.
    #[error("tiles for size {size} give root {computed}, not the trusted {expected}")]
    RootMismatch {
        /// The trusted tree size.
        size: u64,
        /// Root computed from the tiles.
        computed: Hash,
        /// The trusted root.
        expected: Hash,
    },
    /// A full tile whose hash differs from the one recorded in its (verified) parent tile.
    #[error("tile {0} does not match the hash in its parent tile")]
    TileMismatch(String),
}

/// What a tile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// Merkle tree hashes at tree level `8·level`.
    Hash {
        /// Tile level, 0..=63.
        level: u8,
    },
    /// An entry bundle (same indexing as level 0).
    Entries,
}

/// A tile's address: kind, index within its level, and width. Only valid values exist: build
/// with [`TilePath::new`] or [`TilePath::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TilePath {
    kind: TileKind,
    index: u64,
    width: u16,
}

impl TilePath {
    /// A tile path; `width` 256 is a full tile.
    ///
    /// # Errors
    /// [`TileError::BadWidth`] unless `1 <= width <= 256`; [`TileError::BadLevel`] above 63.
    pub fn new(kind: TileKind, index: u64, width: u16) -> Result<TilePath, TileError> {
        if width == 0 || width > TILE_WIDTH {
            return Err(TileError::BadWidth(width));
        }
        if let TileKind::Hash { level } = kind {
            if level > MAX_TILE_LEVEL {
                return Err(TileError::BadLevel(level));
            }
        }
        Ok(TilePath { kind, index, width })
    }

    /// What the tile holds.
    pub fn kind(&self) -> TileKind {
        self.kind
    }

    /// The tile's index within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of hashes (or entries), 1..=256.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile is full (256 wide).
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// The full tile at the same place (itself if full).
    pub fn full(&self) -> TilePath {
        TilePath {
            width: TILE_WIDTH,
            ..*self
        }
    }

    /// The tile's width in the tree of `size` leaves: 0 if the tree does not reach it yet,
    /// 256 once it is full. A partial tile whose width at `size` is 256 is superseded: C2SP
    /// tlog-tiles lets a log delete it then, and a reader finds its hashes (or entries) at the
    /// start of the full tile ([`partial_from_full`]).
    pub fn width_at(&self, size: u64) -> u16 {
        let level = match self.kind {
            TileKind::Hash { level } => level,
            TileKind::Entries => 0,
        };
        width_for(nodes_at(level, size), self.index)
    }

    /// The canonical path, e.g. `tile/0/x001/234.p/7` or `tile/entries/000`.
    pub fn to_path(&self) -> String {
        let mut s = String::with_capacity(32);
        s.push_str("tile/");
        match self.kind {
            TileKind::Hash { level } => s.push_str(&level.to_string()),
            TileKind::Entries => s.push_str("entries"),
        }
        s.push('/');
        s.push_str(&index_path(self.index));
        if !self.is_full() {
            s.push_str(".p/");
            s.push_str(&self.width.to_string());
        }
        s
    }

    /// Parses a tile path relative to the log prefix (`tile/...`), canonical spelling only.
    ///
    /// # Errors
    /// [`TileError::PathTooLong`]; [`TileError::MalformedPath`] for anything that
    /// [`TilePath::to_path`] would not write: leading zeros, `x000` groups, a missing or extra
    /// `x`, level above 63, width 0, 256 or above, a trailing slash, other characters.
    pub fn parse(path: &str) -> Result<TilePath, TileError> {
        if path.len() > MAX_TILE_PATH_BYTES {
            return Err(TileError::PathTooLong {
                len: path.len(),
                max: MAX_TILE_PATH_BYTES,
            });
        }
        let bad = |reason| TileError::MalformedPath {
            path: path.to_owned(),
            reason,
        };
        let rest = path
            .strip_prefix("tile/")
            .ok_or(bad("does not start with tile/"))?;
        let (kind_str, rest) = rest.split_once('/').ok_or(bad("no tile index"))?;
        let kind = if kind_str == "entries" {
            TileKind::Entries
        } else {
            let level = crate::num::parse_decimal(kind_str)
                .and_then(|l| u8::try_from(l).ok())
                .filter(|&l| l <= MAX_TILE_LEVEL)
                .ok_or(bad("level is not a canonical decimal 0..=63 or 'entries'"))?;
            TileKind::Hash { level }
        };
        let (index_str, width) = match rest.split_once(".p/") {
            Some((index_str, w)) => {
                let w = crate::num::parse_decimal(w)
                    .and_then(|w| u16::try_from(w).ok())
                    .filter(|w| (1..TILE_WIDTH).contains(w))
                    .ok_or(bad("partial width is not a canonical decimal 1..=255"))?;
                (index_str, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(index_str).ok_or(bad("index is not x-prefixed 3-digit groups"))?;
        let tile = TilePath::new(kind, index, width)?;
        if tile.to_path() != path {
            return Err(bad("not the canonical spelling"));
        }
        Ok(tile)
    }
}

/// `index` in zero-padded 3-digit groups, all but the last prefixed with `x`
/// (`x001/x234/067`), as tlog-tiles paths spell it.
pub(crate) fn index_path(index: u64) -> String {
    let digits = index.to_string();
    let padded = format!("{:0>width$}", digits, width = digits.len().div_ceil(3) * 3);
    let groups = padded.len() / 3;
    let mut s = String::with_capacity(padded.len() + 2 * groups);
    for (i, chunk) in padded.as_bytes().chunks(3).enumerate() {
        if i > 0 {
            s.push('/');
        }
        if i + 1 < groups {
            s.push('x');
        }
        s.push_str(std::str::from_utf8(chunk).unwrap_or("000"));
    }
    s
}

/// Parses `x001/x234/067`; canonicality (no leading `x000`) is checked by the round trip.
pub(crate) fn parse_index(s: &str) -> Option<u64> {
    let mut groups = s.split('/').peekable();
    let mut n: u64 = 0;
    while let Some(g) = groups.next() {
        let last = groups.peek().is_none();
        let digits = if last { g } else { g.strip_prefix('x')? };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = digits.parse().ok()?;
        n = n.checked_mul(1000)?.checked_add(v)?;
    }
    Some(n)
}

impl std::fmt::Display for TilePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_path())
    }
}

impl std::str::FromStr for TilePath {
    type Err = TileError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TilePath::parse(s)
    }
}

/// Number of tree nodes at `tile_level`'s tree level in a tree of `size` leaves.
pub(crate) fn nodes_at(tile_level: u8, size: u64) -> u64 {
    size.checked_shr(u32::from(tile_level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

/// Width that tile `index` at a level with `count` nodes has (0 if it does not exist).
pub(crate) fn width_for(count: u64, index: u64) -> u16 {
    let start = index.saturating_mul(u64::from(TILE_WIDTH));
    let w = count.saturating_sub(start).min(u64::from(TILE_WIDTH));
    u16::try_from(w).unwrap_or(0)
}

/// The stored hash indexes (see [`crate::tree::stored_hash_index`]) of the hashes a hash tile
/// holds, in tile order.
///
/// # Errors
/// [`TileError::NotAHashTile`] for an entry bundle; [`TileError::BeyondMaxTree`] for a tile no
/// tree of at most 2⁶³−1 leaves has.
pub fn tile_hash_indexes(tile: &TilePath) -> Result<Vec<u64>, TileError> {
    let TileKind::Hash { level } = tile.kind else {
        return Err(TileError::NotAHashTile(tile.to_path()));
    };
    let beyond = || TileError::BeyondMaxTree(tile.to_path());
    if level > MAX_USED_TILE_LEVEL {
        return Err(beyond());
    }
    let tree_level = level * TILE_HEIGHT;
    let first = tile
        .index
        .checked_mul(u64::from(TILE_WIDTH))
        .ok_or_else(beyond)?;
    let end = first
        .checked_add(u64::from(tile.width))
        .ok_or_else(beyond)?;
    // The tile's last hash covers leaves up to end·2^tree_level.
    if nodes_at(level, crate::tree::MAX_TREE_SIZE) < end {
        return Err(beyond());
    }
    Ok((first..end)
        .map(|n| stored_hash_index(tree_level, n))
        .collect())
}

/// The bytes of a hash tile: its hashes concatenated, read from stored hashes.
///
/// # Errors
/// [`TreeError::Tile`] as [`tile_hash_indexes`]; errors of `r`.
pub fn tile_data(tile: &TilePath, r: &impl HashReader) -> Result<Vec<u8>, TreeError> {
    let hashes = read_exact(r, &tile_hash_indexes(tile)?)?;
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// Splits a hash tile's bytes into its hashes.
///
/// # Errors
/// [`TileError::WrongDataLength`] unless `data` is exactly `32 · width` bytes.
pub fn tile_hashes_from_bytes(tile: &TilePath, data: &[u8]) -> Result<Vec<Hash>, TileError> {
    let expected = usize::from(tile.width) * HASH_LEN;
    if data.len() != expected {
        return Err(TileError::WrongDataLength {
            tile: tile.to_path(),
            expected,
            got: data.len(),
        });
    }
    Ok(data
        .chunks_exact(HASH_LEN)
        .filter_map(Hash::from_slice)
        .collect())
}

/// Tiles of `kind` whose contents change when the tree grows from `old` to `new` leaves.
fn changed_tiles(kind: TileKind, tile_level: u8, old: u64, new: u64, out: &mut Vec<TilePath>) {
    let (old_count, new_count) = (nodes_at(tile_level, old), nodes_at(tile_level, new));
    let mut n = old_count / u64::from(TILE_WIDTH);
    loop {
        let w_new = width_for(new_count, n);
        if w_new == 0 || w_new <= width_for(old_count, n) {
            break;
        }
        if let Ok(t) = TilePath::new(kind, n, w_new) {
            out.push(t);
        }
        n += 1;
    }
}

/// Every hash tile of the tree of `size` leaves (full and partial, all levels), as a log
/// serves them. Empty for size 0 or sizes above 2⁶³−1.
pub fn tiles_for_size(size: u64) -> Vec<TilePath> {
    new_tiles(0, size)
}

/// The hash tiles a log writes when it grows from `old_size` to `new_size`: every tile whose
/// width grows, with its width at `new_size`. Empty unless `old_size < new_size <= 2⁶³−1`.
pub fn new_tiles(old_size: u64, new_size: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    if old_size >= new_size || check_size(new_size).is_err() {
        return out;
    }
    for level in 0..=MAX_USED_TILE_LEVEL {
        changed_tiles(
            TileKind::Hash { level },
            level,
            old_size,
            new_size,
            &mut out,
        );
    }
    out
}

/// The entry bundles a log writes when it grows from `old_size` to `new_size`.
pub fn new_entry_bundles(old_size: u64, new_size: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    if old_size < new_size && check_size(new_size).is_ok() {
        changed_tiles(TileKind::Entries, 0, old_size, new_size, &mut out);
    }
    out
}

/// The entry bundle that holds leaf `index` in the tree of `size` leaves.
///
/// # Errors
/// [`TileError::NotInTree`] unless `index < size`.
pub fn entry_bundle_for(index: u64, size: u64) -> Result<TilePath, TileError> {
    let n = index / u64::from(TILE_WIDTH);
    let not_in = || TileError::NotInTree {
        tile: format!("entry {index}"),
        size,
    };
    if index >= size {
        return Err(not_in());
    }
    TilePath::new(TileKind::Entries, n, width_for(size, n)).map_err(|_| not_in())
}

/// Encodes an entry bundle: each entry as `u16 BE length ‖ entry`.
///
/// # Errors
/// [`TileError::TooManyEntries`] above 256 entries, [`TileError::EntryTooLarge`] for an entry
/// over [`MAX_ENTRY_BYTES`].
pub fn encode_entry_bundle(entries: &[&[u8]]) -> Result<Vec<u8>, TileError> {
    if entries.len() > MAX_BUNDLE_ENTRIES {
        return Err(TileError::TooManyEntries {
            count: entries.len(),
            max: MAX_BUNDLE_ENTRIES,
        });
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for (index, e) in entries.iter().enumerate() {
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge {
            index,
            len: e.len(),
            max: MAX_ENTRY_BYTES,
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle holding exactly `expected_count` entries (the bundle's width).
///
/// # Errors
/// [`TileError::TooManyEntries`], [`TileError::BundleTooLarge`] before decoding;
/// [`TileError::BundleTruncated`] if it ends early; [`TileError::TrailingBytes`] if anything
/// follows the last entry.
pub fn decode_entry_bundle(bytes: &[u8], expected_count: usize) -> Result<Vec<Vec<u8>>, TileError> {
    if expected_count > MAX_BUNDLE_ENTRIES {
        return Err(TileError::TooManyEntries {
            count: expected_count,
            max: MAX_BUNDLE_ENTRIES,
        });
    }
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(TileError::BundleTooLarge {
            len: bytes.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    let truncated = |index| TileError::BundleTruncated {
        index,
        expected: expected_count,
    };
    let mut rest = bytes;
    let mut entries = Vec::with_capacity(expected_count);
    for index in 0..expected_count {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or(truncated(index))?;
        let (entry, tail) = tail
            .split_at_checked(usize::from(u16::from_be_bytes(*len)))
            .ok_or(truncated(index))?;
        entries.push(entry.to_vec());
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(TileError::TrailingBytes {
            count: rest.len(),
            expected: expected_count,
        });
    }
    Ok(entries)
}

/// The bytes of the partial tile `partial` cut from `full`, the bytes of the full tile at the
/// same place: its first `width` hashes, or its first `width` entries re-encoded. Both are
/// canonical, so the result equals the partial tile a log served. Nothing is verified here:
/// the reader checks the result against its checkpoint like a fetched partial tile.
///
/// # Errors
/// [`TileError::WrongDataLength`] for a hash tile that is not 256 hashes; the errors of
/// [`decode_entry_bundle`] for an entry bundle that is not 256 entries.
pub fn partial_from_full(partial: &TilePath, full: &[u8]) -> Result<Vec<u8>, TileError> {
    let width = usize::from(partial.width);
    match partial.kind {
        TileKind::Hash { .. } => {
            let expected = usize::from(TILE_WIDTH) * HASH_LEN;
            if full.len() != expected {
                return Err(TileError::WrongDataLength {
                    tile: partial.full().to_path(),
                    expected,
                    got: full.len(),
                });
            }
            Ok(full.get(..width * HASH_LEN).unwrap_or_default().to_vec())
        }
        TileKind::Entries => {
            let entries = decode_entry_bundle(full, MAX_BUNDLE_ENTRIES)?;
            let kept: Vec<&[u8]> = entries.iter().take(width).map(Vec::as_slice).collect();
            encode_entry_bundle(&kept)
        }
    }
}

/// The leaf hashes of a decoded entry bundle, to compare with its level-0 tile.
pub fn entry_leaf_hashes(entries: &[Vec<u8>]) -> Vec<Hash> {
    entries.iter().map(|e| crate::hash::leaf_hash(e)).collect()
}

mod reader;
pub use reader::TileHashReader;
