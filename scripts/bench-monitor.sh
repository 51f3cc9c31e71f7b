#!/usr/bin/env bash
# Monitor benchmark (issue 14), with release binaries:
#   - a generated log of BENCH_N bindings (distinct refs unless BENCH_REFS is set, a state
#     leaf every 1,000 bindings) served on loopback by the replay bench (TAGLOG_BENCH_SERVE);
#   - the taglog-monitor binary replaying the whole log (--once, fresh state directory),
#     BENCH_RUNS times (default 2), and each time the same with the binary BENCH_BEFORE if
#     given (an earlier monitor, for a before/after table on the same log);
#   - right before each replay, the bound: Ed25519 verify_strict/s on one core and on every
#     core at once (every binding costs exactly one), measured by the bench binary
#     (TAGLOG_BENCH_BOUND), so each ratio uses a bound taken under the same machine load;
#   - per replay: entries/s over the monitor's wall time (checkpoint verification, replay,
#     state saves), as ratios to both bounds, its CPU share, peak RSS (VmHWM, from
#     /usr/bin/time -v), the state directory's size and the load average (uptime) around it.
#
# Usage: scripts/bench-monitor.sh                   # 10^5 bindings
#        BENCH_LONG=1 scripts/bench-monitor.sh      # 10^6 bindings
# Env:   BENCH_N (bindings; overrides BENCH_LONG), BENCH_REFS (distinct refs), BENCH_RUNS,
#        BENCH_BEFORE (another taglog-monitor binary), CARGO_TARGET_DIR (default ./target),
#        BENCH_OUT (default $CARGO_TARGET_DIR/bench-monitor; summary.txt there).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-monitor}"
if [ "${BENCH_LONG:-0}" = 1 ]; then n_default=1000000; else n_default=100000; fi
n="${BENCH_N:-$n_default}"
runs="${BENCH_RUNS:-2}"
before="${BENCH_BEFORE:-}"
mkdir -p "$out"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is required (Debian package time)" >&2; exit 1; }
[ -z "$before" ] || [ -x "$before" ] || { echo "BENCH_BEFORE=$before is not executable" >&2; exit 1; }

# The executables cargo built (not the build scripts'), from its JSON messages.
executable() { { grep "\"kind\":\[\"$1\"\]" || true; } | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1; }
monitor_bin=$(cargo build --release --locked -p taglog-monitor --bin taglog-monitor --message-format=json |
    executable bin)
bench_bin=$(cargo bench --locked -p taglog-monitor --bench replay --no-run --message-format=json 2>/dev/null |
    executable bench)
[ -x "$monitor_bin" ] || { echo "taglog-monitor binary not found" >&2; exit 1; }
[ -x "$bench_bin" ] || { echo "replay bench binary not found" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

log() { echo "$*" | tee -a "$out/summary.txt"; }
: >"$out/summary.txt"
log "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); cpus: $(nproc)"

# The log server (holds the log; its input stays open until the end).
mkfifo "$work/hold"
TAGLOG_BENCH_SERVE="$work/info" TAGLOG_BENCH_ENTRIES="$n" ${BENCH_REFS:+TAGLOG_BENCH_REFS=$BENCH_REFS} \
    "$bench_bin" <"$work/hold" 2>"$out/serve.err" &
server_pid=$!
exec 3>"$work/hold"
while [ ! -s "$work/info" ]; do
    kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.err" >&2; exit 1; }
    sleep 1
done
info() { sed -n "s/^$1 //p" "$work/info"; }
url=$(info url); size=$(info size)
log "log: $n bindings ($size entries), refs ${BENCH_REFS:-$n}"

# replay NAME BINARY RUN: one replay from a fresh state directory, one summary line.
replay() {
    local name=$1 bin=$2 run=$3 state="$work/state-$1-$3"
    local bound b1 ball cores up0 up1 rc wall rss_kb cpu disk rate
    bound=$(TAGLOG_BENCH_BOUND=1 "$bench_bin")
    b1=$(echo "$bound" | sed -n 's/^bound_1 //p')
    ball=$(echo "$bound" | sed -n 's/^bound_all //p')
    cores=$(echo "$bound" | sed -n 's/^cores //p')
    up0=$(cut -d' ' -f1-3 /proc/loadavg)
    set +e
    /usr/bin/time -v -o "$out/$name-$run.time" "$bin" --once \
        --log "$url" --log-key "$(info vkey)" --state-dir "$state" --max-age 0 --mmd 0 \
        >"$out/$name-$run.out" 2>"$out/$name-$run.err"
    rc=$?
    set -e
    up1=$(cut -d' ' -f1-3 /proc/loadavg)
    [ "$rc" = 0 ] || { echo "$name: taglog-monitor exited $rc" >&2; tail -5 "$out/$name-$run.err" >&2; exit 1; }
    wall=$(sed -n 's/.*Elapsed (wall clock) time.*: \(.*\)$/\1/p' "$out/$name-$run.time" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/$name-$run.time")
    cpu=$(sed -n 's/.*Percent of CPU this job got: //p' "$out/$name-$run.time")
    disk=$(du -sb "$state" | cut -f1)
    rm -rf "$state"
    rate=$(awk -v n="$size" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
    log "run $run $name: $size entries in ${wall} s = $rate entries/s;" \
        "bound $b1/s (1 core), $ball/s ($cores cores);" \
        "ratio $(awk -v r="$rate" -v b="$ball" 'BEGIN { printf "%.2f", r / b }') of $cores cores," \
        "$(awk -v r="$rate" -v b="$b1" 'BEGIN { printf "%.2f", r / b }') of 1;" \
        "CPU $cpu; peak RSS $rss_kb kB ($(awk -v k="$rss_kb" -v n="$size" 'BEGIN { printf "%.0f", k * 1024 / n }') B/entry);" \
        "state dir $disk B; load $up0 -> $up1"
}

for run in $(seq 1 "$runs"); do
    replay after "$monitor_bin" "$run"
    [ -z "$before" ] || replay before "$before" "$run"
done
