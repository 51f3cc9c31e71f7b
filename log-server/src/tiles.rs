//! Serving C2SP tlog-tiles from storage: hash tiles `/tile/<L>/<N>[.p/<W>]` and entry
//! bundles `/tile/entries/<N>[.p/<W>]`.
//!
//! Paths are parsed by proofs' [`TilePath::parse`] (canonical only). A tile is served iff
//! every hash or entry it holds exists in the durable tree; others are 404. Out of scope:
//! cache headers (see [`crate::api`]).

use taglog_proofs::tiles::{
    encode_entry_bundle, tile_data, TileKind, TilePath, TILE_HEIGHT, TILE_WIDTH,
};

use crate::errors::ApiError;
use crate::store::{LogStore, StoredHashes};

/// Number of leaves a tile needs: `(index·256 + width) · 256^level`, `None` on overflow.
fn leaves_needed(tile: &TilePath) -> Option<u64> {
    let level = match tile.kind() {
        TileKind::Hash { level } => u32::from(level),
        TileKind::Entries => 0,
    };
    let nodes = tile
        .index()
        .checked_mul(u64::from(TILE_WIDTH))?
        .checked_add(u64::from(tile.width()))?;
    let shift = level.checked_mul(u32::from(TILE_HEIGHT))?;
    if shift >= 64 || nodes.leading_zeros() < shift {
        return None;
    }
    Some(nodes << shift)
}

/// Reads the tile at `path` (e.g. `tile/0/x001/234.p/7`) from a tree of `size` leaves.
/// Returns the bytes and whether the tile is full.
///
/// # Errors
/// 400 for a malformed path, 404 for a tile beyond the tree, 500 on storage faults.
pub fn read_tile(
    storage: &dyn LogStore,
    path: &str,
    size: u64,
) -> Result<(Vec<u8>, bool), ApiError> {
    let tile = TilePath::parse(path)
        .map_err(|e| ApiError::bad_request("malformed", format!("tile path {path:?}: {e}")))?;
    match leaves_needed(&tile) {
        Some(n) if n <= size => {}
        _ => {
            return Err(ApiError::not_found(format!(
                "tile {path} is beyond the tree of size {size}"
            )))
        }
    }
    let body = match tile.kind() {
        TileKind::Hash { .. } => {
            tile_data(&tile, &StoredHashes::new(storage)).map_err(ApiError::internal)?
        }
        TileKind::Entries => {
            let start = tile.index() * u64::from(TILE_WIDTH);
            let entries = storage
                .entries(start, u64::from(tile.width()))
                .map_err(ApiError::internal)?;
            let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            encode_entry_bundle(&refs).map_err(ApiError::internal)?
        }
    };
    Ok((body, tile.is_full()))
}
