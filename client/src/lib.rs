//! taglog client
