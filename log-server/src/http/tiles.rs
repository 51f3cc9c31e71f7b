//! Serving C2SP tlog-tiles from storage: hash tiles `/tile/<L>/<N>[.p/<W>]` and entry
//! bundles `/tile/entries/<N>[.p/<W>]`.
//!
//! Paths are parsed by proofs' [`TilePath::parse`] (canonical only). A tile is served iff
//! every hash or entry it holds exists in the durable tree; others are 404. Full tiles are
//! immutable (`Cache-Control: public, max-age=31536000, immutable`), partial ones cached for a
//! minute. Out of scope: the tile format (proofs `tiles`).

use taglog_proofs::tiles::{
    encode_entry_bundle, tile_data, TileKind, TilePath, TILE_HEIGHT, TILE_WIDTH,
};

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::error::Internal;
use super::{blocking, typed_response, ApiError, AppState};
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

/// `GET /tile/<path>`.
pub async fn tile(
    State(s): State<Arc<AppState>>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let size = s.log.heads().committed().map_or(0, |h| h.size);
    let store = Arc::clone(s.log.store());
    let (body, full) =
        blocking(move || read_tile(store.as_ref(), &format!("tile/{path}"), size)).await?;
    let cache = if full {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=60"
    };
    Ok(typed_response(
        StatusCode::OK,
        body,
        "application/octet-stream",
        cache,
    ))
}

/// Reads the tile at `path` (e.g. `tile/0/x001/234.p/7`) from a tree of `size` leaves.
/// Returns the bytes and whether the tile is full.
///
/// # Errors
/// [`ApiError::BadTilePath`], [`ApiError::TileBeyondTree`], [`ApiError::Internal`] on
/// store faults.
pub fn read_tile(store: &dyn LogStore, path: &str, size: u64) -> Result<(Vec<u8>, bool), ApiError> {
    let tile = TilePath::parse(path).map_err(|source| ApiError::BadTilePath {
        path: path.to_owned(),
        source,
    })?;
    match leaves_needed(&tile) {
        Some(n) if n <= size => {}
        _ => {
            return Err(ApiError::TileBeyondTree {
                path: path.to_owned(),
                size,
            })
        }
    }
    let body = match tile.kind() {
        TileKind::Hash { .. } => {
            tile_data(&tile, &StoredHashes::new(store)).map_err(Internal::Tree)?
        }
        TileKind::Entries => {
            let start = tile.index() * u64::from(TILE_WIDTH);
            let entries = store.entries(start, u64::from(tile.width()))?;
            let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            encode_entry_bundle(&refs).map_err(Internal::Tile)?
        }
    };
    Ok((body, tile.is_full()))
}
