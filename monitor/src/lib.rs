//! taglog monitor and witness (DESIGN.md §6).
//!
//! The monitor follows a log through its tiles, replays every entry with the [`replay`]
//! checker, compares the log's checkpoints with those of witnesses and clients, and raises
//! [`alerts`] with self-contained evidence. The witness (`taglog-witness`) lives in
//! [`witness`] and reuses the same replay checker for `--audit`.

pub mod alerts;
pub mod checks;
pub mod cli;
pub mod follow;
pub mod listen;
pub mod monitor;
pub mod replay;
pub mod serve;
pub mod state;
pub mod store;
pub mod treefile;
pub mod witness;

pub use monitor::{Config, Monitor, MonitorError, PollReport};
