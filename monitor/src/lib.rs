//! taglog monitor
