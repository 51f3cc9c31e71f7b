//! RFC 6962 / RFC 9162 §2.1 hashing: the leaf and interior-node hashes of the log's Merkle tree.
//!
//! `leaf = SHA-256(0x00 ‖ entry)`, `node = SHA-256(0x01 ‖ left ‖ right)`, and the root of the
//! empty tree is `SHA-256("")`. Out of scope: the tag map's hashes (see [`crate::map`]).

use sha2::{Digest as _, Sha256};

/// Length in bytes of every hash in taglog.
pub const HASH_LEN: usize = 32;

/// A SHA-256 output. Equality is plain byte equality (hashes are public values).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The all-zero hash (the empty sparse-map subtree; never a valid tree root).
    pub const ZERO: Hash = Hash([0u8; HASH_LEN]);

    /// Builds a hash from a slice.
    ///
    /// # Errors
    /// Returns `None` unless `bytes` is exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Hash> {
        <[u8; HASH_LEN]>::try_from(bytes).ok().map(Hash)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Standard padded base64 (RFC 4648 §4), as used in checkpoints and bundles.
    pub fn to_base64(&self) -> String {
        crate::b64::encode(self.0)
    }

    /// Parses canonical standard padded base64 of exactly 32 bytes.
    ///
    /// # Errors
    /// Returns `None` for anything else (wrong length, missing padding, non-canonical bits).
    pub fn from_base64(s: &str) -> Option<Hash> {
        crate::b64::decode(s)
            .ok()
            .and_then(|b| Hash::from_slice(&b))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({})", hex::encode(self.0))
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// SHA-256 of arbitrary bytes.
pub fn sha256(data: &[u8]) -> Hash {
    Hash(Sha256::digest(data).into())
}

/// RFC 6962 leaf hash: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    Hash(h.finalize().into())
}

/// RFC 6962 interior node hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// Root of the empty tree: `SHA-256("")` (RFC 9162; older Go `tlog` used zeros).
pub fn empty_root() -> Hash {
    sha256(b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root().0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn leaf_and_node_are_domain_separated() {
        let l = leaf_hash(b"");
        assert_ne!(l, sha256(b""));
        assert_ne!(node_hash(&l, &l), leaf_hash(&[l.0, l.0].concat()));
    }
}
