//! [`BundleBuilder`]: the DESIGN §3.10 bundle for one ref, rebuilt from static objects.
//!
//! The builder does no I/O: it says which objects it needs next ([`BundleBuilder::wanted`]),
//! the caller fetches them (all of one round may be fetched in parallel) and hands them back
//! ([`BundleBuilder::supply`]), and after the last round [`BundleBuilder::finish`] returns
//! the bundle. Rounds: the checkpoint; the edge object of its size (the state leaf's entry,
//! the right-edge tiles and the top map object, see [`super::EdgeObject`]); the tiles its
//! inclusion proof and the consistency proof from `since` need beyond the edge object (none
//! when `since` is within [`super::EDGE_WINDOW_LEAVES`] of the size and no tile on the path
//! was cached); one map object per 8 key bits from the state leaf's map root down to the
//! ref's key (the top one from the edge object); the binding's entry bundle and tiles. Each
//! object is checked when supplied, before anything is read from it (see the parent
//! module); objects already held are not asked for again.
//!
//! A bucket written before edge objects existed has none: the caller leaves the edge object
//! out of its round (it could not fetch it, e.g. HTTP 404), and the builder asks for the
//! state leaf's entry bundle and the right-edge tiles instead.
//!
//! The bundle equals, field by field, the one the log server's `/lookup` answers for the
//! same checkpoint and `since`: the same proof functions build it ([`inclusion_proof`],
//! [`consistency_proof`] and [`crate::map::prove`] over the groups the objects hold). It is
//! not a verdict: [`crate::verify::verify`] checks it like any bundle.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::edge::{EdgeObject, EdgeObjectError};
use super::map_object::{Locator, MapObject, MapObjectError};
use super::ObjectPath;
use crate::binding::SignedBinding;
use crate::bundle::{Bundle, ConsistencyMember, LeafProof, MapMember, Status};
use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::consistency::{consistency_proof, consistency_proof_indexes};
use crate::hash::{leaf_hash, Hash};
use crate::inclusion::{inclusion_proof, inclusion_proof_indexes};
use crate::leaves::{LeafError, StateLeaf};
use crate::map::{
    prove, MapLookup, MapProof, MapProofError, MapStore, MapStoreError, NodeGroup, NodeKey,
};
use crate::note::VerifierKey;
use crate::refs::TagRef;
use crate::tiles::{
    decode_entry_bundle, entry_bundle_for, entry_leaf_hashes, TileError, TileHashReader, TileKind,
    TilePath,
};
use crate::tree::{stored_hash_index, HashReader, TreeError};

/// Why a bundle could not be built from static objects.
#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    /// The checkpoint object is malformed or not signed by the log key.
    #[error("the checkpoint object does not open with the log key: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// The checkpoint is of the empty tree: there is no state leaf yet.
    #[error("the published checkpoint has size 0: wait for the log's first checkpoint")]
    EmptyLog,
    /// A tile or entry bundle that cannot be decoded.
    #[error("object {path}: {source}")]
    Object {
        /// The object's path.
        path: String,
        /// What is wrong with it.
        #[source]
        source: TileError,
    },
    /// The tiles (and the entry bundles hashed into level-0 tiles) do not hash to the
    /// checkpoint's root: an object was altered, or belongs to another tree.
    #[error("tile objects do not verify against the checkpoint of size {size}: {source}")]
    Tiles {
        /// The checkpoint's size.
        size: u64,
        /// What did not verify.
        #[source]
        source: TileError,
    },
    /// A proof could not be computed from the verified tiles (a bug, or a missing tile).
    #[error("building a proof from verified tiles: {0}")]
    Tree(#[from] TreeError),
    /// The checkpoint's last leaf is not a state leaf.
    #[error("leaf {index}, the last of the checkpoint, is not a state leaf: {source}")]
    NotAStateLeaf {
        /// The leaf index.
        index: u64,
        /// Why it does not parse.
        #[source]
        source: LeafError,
    },
    /// The edge object does not decode as the edge of the checkpoint's size.
    #[error("edge object of size {size}: {source}")]
    Edge {
        /// The checkpoint's size.
        size: u64,
        /// What is wrong with it.
        #[source]
        source: EdgeObjectError,
    },
    /// The edge object's entry does not hash to the leaf hash its verified tile records.
    #[error("the edge object's entry for leaf {index} does not hash to the leaf hash of the verified tiles")]
    EdgeEntry {
        /// The leaf index (the checkpoint's size − 1).
        index: u64,
    },
    /// A map object that does not open at its address.
    #[error("map object {address}: {source}")]
    MapObject {
        /// The address it was fetched by.
        address: Hash,
        /// Why it was rejected.
        #[source]
        source: MapObjectError,
    },
    /// The map path could not be proven from the objects' groups.
    #[error("proving the ref's key from the map objects: {0}")]
    Map(#[from] MapStoreError),
    /// The proof built from the objects does not verify against the state leaf's map root.
    #[error("the map objects give a proof that does not verify: {0}")]
    MapProof(#[from] MapProofError),
    /// The map names a binding leaf outside the checkpoint's tree.
    #[error("the map names leaf {index} as the current binding, outside the tree of size {size}")]
    BindingOutsideTree {
        /// The index the map value names.
        index: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// An object was supplied that the current round did not ask for.
    #[error("object {0} was supplied but not asked for")]
    Unexpected(String),
    /// An object the current round asked for was not supplied.
    #[error("object {0} was asked for but not supplied")]
    Missing(String),
    /// The same object was supplied twice in one round.
    #[error("object {0} was supplied twice")]
    Duplicate(String),
    /// [`BundleBuilder::finish`] was called while objects were still wanted.
    #[error("the bundle is not complete: objects are still wanted")]
    Unfinished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Checkpoint,
    Edge,
    State,
    Map { address: Hash, nibbles: u8 },
    Binding { index: u64 },
    Done,
}

#[derive(Debug, Clone)]
struct Head {
    note: Vec<u8>,
    size: u64,
    root: Hash,
}

/// Rebuilds the §3.10 bundle for one ref from static objects. See the module docs.
#[derive(Debug, Clone)]
pub struct BundleBuilder {
    log_key: VerifierKey,
    reference: TagRef,
    key: Hash,
    since: Option<u64>,
    stage: Stage,
    pending: Vec<ObjectPath>,
    head: Option<Head>,
    /// Hash tiles verified against the head, including level-0 tiles made from bundles.
    tiles: BTreeMap<TilePath, Vec<u8>>,
    /// Decoded entry bundles by bundle index (checked through their level-0 tiles).
    bundles: BTreeMap<u64, Vec<Vec<u8>>>,
    /// Single entries by leaf index (from the edge object; checked against their leaf hash
    /// in the verified level-0 tile when read).
    entries: BTreeMap<u64, Vec<u8>>,
    /// The edge object's top map object (opened against the state leaf's map root).
    edge_map: Option<Vec<u8>>,
    state: Option<LeafProof>,
    consistency: Option<ConsistencyMember>,
    map_root: Hash,
    path: Vec<(u8, NodeGroup)>,
    /// Where the pending map object is, as the verified object above it says.
    located: Locator,
    map_proof: Option<MapProof>,
    binding: Option<LeafProof>,
}

/// The groups on one key's path, by nibble depth, as [`prove`] reads them (version 0).
struct PathStore<'a>(&'a [(u8, NodeGroup)]);

impl MapStore for PathStore<'_> {
    fn get_group(&self, key: &NodeKey) -> Result<Option<Cow<'_, NodeGroup>>, MapStoreError> {
        Ok(self
            .0
            .iter()
            .find(|(n, _)| *n == key.nibbles())
            .map(|(_, g)| Cow::Borrowed(g)))
    }
}

impl BundleBuilder {
    /// A builder for `reference` in the log whose checkpoints `log_key` signs. With `since`
    /// (the size of the caller's cached checkpoint) the bundle carries a consistency proof
    /// from it when it is smaller than the published size, as `/lookup?since=` does.
    pub fn new(log_key: VerifierKey, reference: TagRef, since: Option<u64>) -> BundleBuilder {
        BundleBuilder {
            log_key,
            key: reference.key(),
            reference,
            since,
            stage: Stage::Checkpoint,
            pending: vec![ObjectPath::Checkpoint],
            head: None,
            tiles: BTreeMap::new(),
            bundles: BTreeMap::new(),
            entries: BTreeMap::new(),
            edge_map: None,
            state: None,
            consistency: None,
            map_root: Hash::ZERO,
            path: Vec::new(),
            located: Locator::Own,
            map_proof: None,
            binding: None,
        }
    }

    /// The objects to fetch in this round (empty when the bundle is complete). They do not
    /// depend on each other and may be fetched in parallel.
    pub fn wanted(&self) -> &[ObjectPath] {
        &self.pending
    }

    /// Where to fetch `path`, one of [`BundleBuilder::wanted`]: a map object below the top
    /// one may be a range of a pack ([`Locator::Packed`], as the object above it says); every
    /// other object is at its own path ([`Locator::Own`]). Whatever is fetched is handed to
    /// [`BundleBuilder::supply`] as `path`'s bytes and checked against its address.
    pub fn locator(&self, path: &ObjectPath) -> Locator {
        match (self.stage, path) {
            (Stage::Map { address, .. }, ObjectPath::Map(a)) if *a == address => self.located,
            _ => Locator::Own,
        }
    }

    /// Whether every round is done and [`BundleBuilder::finish`] will return the bundle.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Hands over this round's objects (exactly those [`BundleBuilder::wanted`] listed), checks
    /// each, and moves to the next round. The edge object alone may be left out (a bucket
    /// without edge objects): the next round then asks for the tiles it would have held.
    ///
    /// # Errors
    /// [`StaticError::Unexpected`], [`StaticError::Duplicate`], [`StaticError::Missing`] if the
    /// objects are not this round's; otherwise the check that failed: a checkpoint not signed
    /// by the log key, a tile or bundle that does not decode or verify against the
    /// checkpoint, a map object that does not open at its address, a state leaf that does not
    /// parse, a map value outside the tree. The builder is consumed: start again after an
    /// error.
    pub fn supply(
        mut self,
        fetched: impl IntoIterator<Item = (ObjectPath, Vec<u8>)>,
    ) -> Result<BundleBuilder, StaticError> {
        let mut got = BTreeMap::new();
        for (path, bytes) in fetched {
            if !self.pending.contains(&path) {
                return Err(StaticError::Unexpected(path.to_path()));
            }
            if got.insert(path, bytes).is_some() {
                return Err(StaticError::Duplicate(path.to_path()));
            }
        }
        let optional = |p: &ObjectPath| matches!(p, ObjectPath::Edge(_));
        if let Some(missing) = self
            .pending
            .iter()
            .find(|p| !got.contains_key(p) && !optional(p))
        {
            return Err(StaticError::Missing(missing.to_path()));
        }
        match self.stage {
            Stage::Checkpoint => {
                let note = got.remove(&ObjectPath::Checkpoint).unwrap_or_default();
                self.open_checkpoint(note)?;
            }
            Stage::Edge => self.edge_round(got)?,
            Stage::State => self.state_round(got)?,
            Stage::Map { address, nibbles } => {
                let bytes = got.remove(&ObjectPath::Map(address)).unwrap_or_default();
                self.map_round(address, nibbles, &bytes)?;
            }
            Stage::Binding { index } => self.binding_round(index, got)?,
            Stage::Done => {}
        }
        Ok(self)
    }

    /// The bundle, once [`BundleBuilder::is_done`].
    ///
    /// # Errors
    /// [`StaticError::Unfinished`] while objects are still wanted.
    pub fn finish(self) -> Result<Bundle, StaticError> {
        let (Stage::Done, Some(head), Some(state), Some(proof)) =
            (self.stage, self.head, self.state, self.map_proof)
        else {
            return Err(StaticError::Unfinished);
        };
        let status = match &self.binding {
            None => Status::Unbound,
            Some(b) => {
                let withdrawn =
                    SignedBinding::parse(&b.entry).is_ok_and(|s| s.binding().digest.is_withdrawn());
                if withdrawn {
                    Status::Withdrawn
                } else {
                    Status::Bound
                }
            }
        };
        Ok(Bundle {
            reference: self.reference,
            status,
            checkpoint: head.note,
            state,
            map: MapMember { proof },
            binding: self.binding,
            consistency: self.consistency,
        })
    }

    fn head(&self) -> Result<&Head, StaticError> {
        self.head.as_ref().ok_or(StaticError::Unfinished)
    }

    fn open_checkpoint(&mut self, note: Vec<u8>) -> Result<(), StaticError> {
        let cp = SignedCheckpoint::open(&note, &self.log_key).map_err(StaticError::Checkpoint)?;
        let (size, root) = (cp.checkpoint().size(), cp.checkpoint().root());
        if size == 0 {
            return Err(StaticError::EmptyLog);
        }
        self.head = Some(Head { note, size, root });
        self.pending = vec![ObjectPath::Edge(size)];
        self.stage = Stage::Edge;
        Ok(())
    }

    /// Takes the edge object (if the caller had one) and asks for what the state leaf's
    /// inclusion proof and the consistency proof still need; with nothing left to fetch, goes
    /// on to the map at once.
    fn edge_round(&mut self, mut got: BTreeMap<ObjectPath, Vec<u8>>) -> Result<(), StaticError> {
        let size = self.head()?.size;
        if let Some(bytes) = got.remove(&ObjectPath::Edge(size)) {
            let edge = EdgeObject::parse(&bytes, size)
                .map_err(|source| StaticError::Edge { size, source })?;
            self.tiles.extend(edge.tiles);
            self.entries.insert(size - 1, edge.entry);
            self.edge_map = edge.map;
        }
        let extra = match self.since {
            Some(s) if s > 0 && s < size => consistency_proof_indexes(s, size)?,
            _ => Vec::new(),
        };
        self.pending = self.leaf_objects(size - 1, &extra)?;
        self.stage = Stage::State;
        if self.pending.is_empty() {
            return self.state_round(BTreeMap::new());
        }
        Ok(())
    }

    /// The objects not yet held that leaf `index` needs: its entry bundle and the tiles for
    /// its inclusion proof (plus the stored hashes `extra`), except the level-0 tile that
    /// the entry bundle stands for.
    fn leaf_objects(&self, index: u64, extra: &[u64]) -> Result<Vec<ObjectPath>, StaticError> {
        let size = self.head()?.size;
        let bundle =
            entry_bundle_for(index, size).map_err(|source| StaticError::Tiles { size, source })?;
        let mut indexes = inclusion_proof_indexes(index, size)?;
        indexes.push(stored_hash_index(0, index));
        indexes.extend_from_slice(extra);
        let mut out = Vec::new();
        let have_entry =
            self.bundles.contains_key(&bundle.index()) || self.entries.contains_key(&index);
        if !have_entry {
            out.push(ObjectPath::Tile(bundle));
        }
        for tile in TileHashReader::tiles_needed(size, &indexes)? {
            let from_bundle = !have_entry
                && tile.kind() == TileKind::Hash { level: 0 }
                && tile.index() == bundle.index();
            if !from_bundle && !self.tiles.contains_key(&tile) {
                out.push(ObjectPath::Tile(tile));
            }
        }
        Ok(out)
    }

    /// Takes this round's tiles and bundles and verifies everything held against the head.
    fn absorb(
        &mut self,
        got: BTreeMap<ObjectPath, Vec<u8>>,
    ) -> Result<TileHashReader, StaticError> {
        let head = self.head()?.clone();
        for (path, bytes) in got {
            let ObjectPath::Tile(tile) = path else {
                return Err(StaticError::Unexpected(path.to_path()));
            };
            if tile.kind() != TileKind::Entries {
                self.tiles.insert(tile, bytes);
                continue;
            }
            let bad = |source| StaticError::Object {
                path: tile.to_path(),
                source,
            };
            let entries = decode_entry_bundle(&bytes, usize::from(tile.width())).map_err(bad)?;
            let level0 = TilePath::new(TileKind::Hash { level: 0 }, tile.index(), tile.width())
                .map_err(bad)?;
            let hashes: Vec<u8> = entry_leaf_hashes(&entries)
                .iter()
                .flat_map(|h| h.0)
                .collect();
            self.tiles.insert(level0, hashes);
            self.bundles.insert(tile.index(), entries);
        }
        let tiles = self.tiles.iter().map(|(p, b)| (*p, b.as_slice()));
        TileHashReader::new(head.size, head.root, tiles).map_err(|source| StaticError::Tiles {
            size: head.size,
            source,
        })
    }

    /// Leaf `index` with its inclusion proof, from held (verified) objects.
    fn leaf_proof(&self, index: u64, reader: &TileHashReader) -> Result<LeafProof, StaticError> {
        let size = reader.size();
        let tile =
            entry_bundle_for(index, size).map_err(|source| StaticError::Tiles { size, source })?;
        let from_bundle = self
            .bundles
            .get(&tile.index())
            .and_then(|b| b.get(usize::try_from(index % 256).unwrap_or(usize::MAX)));
        let entry = match (from_bundle, self.entries.get(&index)) {
            // A bundle's entries made its level-0 tile: they are checked with it.
            (Some(e), _) => e.clone(),
            (None, Some(e)) => {
                let recorded = reader.read_hashes(&[stored_hash_index(0, index)])?;
                if recorded.first() != Some(&leaf_hash(e)) {
                    return Err(StaticError::EdgeEntry { index });
                }
                e.clone()
            }
            (None, None) => return Err(StaticError::Missing(tile.to_path())),
        };
        Ok(LeafProof {
            index,
            entry,
            inclusion: inclusion_proof(index, size, reader)?,
        })
    }

    fn state_round(&mut self, got: BTreeMap<ObjectPath, Vec<u8>>) -> Result<(), StaticError> {
        let reader = self.absorb(got)?;
        let size = reader.size();
        let state = self.leaf_proof(size - 1, &reader)?;
        let leaf = StateLeaf::parse(&state.entry).map_err(|source| StaticError::NotAStateLeaf {
            index: size - 1,
            source,
        })?;
        self.consistency = match self.since {
            Some(s) if s > 0 && s < size => Some(ConsistencyMember {
                from_size: s,
                proof: consistency_proof(s, size, &reader)?,
            }),
            _ => None,
        };
        self.state = Some(state);
        self.map_root = leaf.map_root;
        if leaf.map_root == Hash::ZERO {
            self.path = vec![(0, NodeGroup::default())];
            return self.after_map();
        }
        if let Some(top) = self.edge_map.take() {
            return self.map_round(leaf.map_root, 0, &top);
        }
        self.stage = Stage::Map {
            address: leaf.map_root,
            nibbles: 0,
        };
        self.pending = vec![ObjectPath::Map(leaf.map_root)];
        Ok(())
    }

    fn map_round(&mut self, address: Hash, nibbles: u8, bytes: &[u8]) -> Result<(), StaticError> {
        let object = MapObject::open(&address, nibbles, &self.key, bytes)
            .map_err(|source| StaticError::MapObject { address, source })?;
        self.path.extend(object.groups_on_path(&self.key));
        match object.next_for(&self.key) {
            Some((next, depth)) => {
                self.located = object.locator(&next).unwrap_or(Locator::Own);
                self.stage = Stage::Map {
                    address: next,
                    nibbles: depth,
                };
                self.pending = vec![ObjectPath::Map(next)];
                Ok(())
            }
            None => self.after_map(),
        }
    }

    /// Proves the key from the groups collected and moves to the binding (if any).
    fn after_map(&mut self) -> Result<(), StaticError> {
        let proof = prove(&PathStore(&self.path), 0, &self.key)?;
        let lookup = proof.verify(&self.key, &self.map_root)?;
        self.map_proof = Some(proof);
        let MapLookup::Present(value) = lookup else {
            self.stage = Stage::Done;
            self.pending = Vec::new();
            return Ok(());
        };
        let size = self.head()?.size;
        if value.index >= size {
            return Err(StaticError::BindingOutsideTree {
                index: value.index,
                size,
            });
        }
        self.stage = Stage::Binding { index: value.index };
        self.pending = self.leaf_objects(value.index, &[])?;
        if self.pending.is_empty() {
            return self.binding_round(value.index, BTreeMap::new());
        }
        Ok(())
    }

    fn binding_round(
        &mut self,
        index: u64,
        got: BTreeMap<ObjectPath, Vec<u8>>,
    ) -> Result<(), StaticError> {
        let reader = self.absorb(got)?;
        self.binding = Some(self.leaf_proof(index, &reader)?);
        self.stage = Stage::Done;
        self.pending = Vec::new();
        Ok(())
    }
}
