//! taglog-server
