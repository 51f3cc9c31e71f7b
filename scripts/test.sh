#!/usr/bin/env bash
# Runs every test of the workspace: unit, vector, property and end-to-end tests.
# End-to-end tests start real processes on loopback (taglog-server, taglog-witness,
# taglog-monitor, taglog and Debian's docker-registry); `cargo test --workspace` builds every
# binary of the workspace before any test runs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
