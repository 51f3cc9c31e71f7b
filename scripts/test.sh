#!/usr/bin/env bash
# Runs every test of the workspace: unit, vector, property and end-to-end tests.
# End-to-end tests start real processes on loopback (taglog-server, taglog-witness and
# Debian's docker-registry), so the binaries are built first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
