//! C2SP tlog-tiles (placeholder; filled in by the next commit).

/// Why a tile could not be parsed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {}
