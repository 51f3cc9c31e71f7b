//! Pure formats and proofs of the taglog transparency log.
//!
//! No I/O, no async and no clock: time is always an argument. Every format is parsed here
//! and every proof is verified here; the server, client, monitor and witness only move bytes.
//! See `docs/` for the format reference.

pub mod b64;
pub mod binding;
pub mod bundle;
pub mod checkpoint;
pub mod consistency;
pub mod cosignature;
pub mod hash;
pub mod inclusion;
pub mod leaves;
pub mod map;
pub mod notary;
pub mod note;
pub mod num;
pub mod policy;
pub mod refs;
pub mod rules;
pub mod static_layout;
pub mod tiles;
pub mod tlogproof;
pub mod tree;
pub mod verify;
pub mod witness;
