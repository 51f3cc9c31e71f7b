#!/usr/bin/env bash
# Crash soak: the kill -9 crash test (log-server/tests/crash.rs) with more rounds than CI runs,
# against release binaries. Each round loads the server from 8 clients (new refs, rebinds of
# refs acknowledged earlier, withdrawals), kills it with SIGKILL at a random moment and
# restarts it. After the last restart the test checks that every acknowledged binding is at
# its index, answers 200 with its index when submitted again, that /lookup of every
# acknowledged ref verifies with the client verifier, that every checkpoint seen is consistent
# with the final one, and that `taglog-monitor --once` replays the whole log with no alert.
#
# Usage: scripts/crash-soak.sh
# Env:   CRASH_ROUNDS (default 50), CRASH_PROFILE (release, the default, or dev: the binaries
#        killed and checked), CARGO_TARGET_DIR (default ./target),
#        CRASH_OUT (default $CARGO_TARGET_DIR/crash-soak).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${CRASH_OUT:-$target/crash-soak}"
rounds="${CRASH_ROUNDS:-50}"
profile="${CRASH_PROFILE:-release}"
case "$profile" in
release) build=(--release) dir=release ;;
dev) build=() dir=debug ;;
*) echo "CRASH_PROFILE must be release or dev, not $profile" >&2; exit 2 ;;
esac
mkdir -p "$out"

cargo build "${build[@]}" --locked -p taglog-server -p taglog-monitor --bins
# The test itself runs in the dev profile (it only drives and checks); the processes it kills
# and checks with are the $profile binaries.
export TAGLOG_SERVER_BIN="$target/$dir/taglog-server"
export TAGLOG_MONITOR_BIN="$target/$dir/taglog-monitor"
cargo test --locked -p taglog-server --test crash --no-run
start=$(date +%s)
TAGLOG_CRASH_ROUNDS="$rounds" cargo test --locked -p taglog-server --test crash -- \
    --nocapture --test-threads 1 2>&1 | tee "$out/crash.log"
end=$(date +%s)
line=$(grep -m1 -o 'crash test: .*' "$out/crash.log")
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); cpus: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg); binaries: $profile; rounds: $rounds"
    echo "$line"
    echo "wall time: $((end - start)) s"
} | tee "$out/summary.txt"
