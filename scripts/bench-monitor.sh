#!/usr/bin/env bash
# Monitor benchmark (issue 14), one run with release binaries:
#   - a generated log of BENCH_N bindings (distinct refs unless BENCH_REFS is set, a state
#     leaf every 1,000 bindings) served on loopback by the replay bench (TAGLOG_BENCH_SERVE);
#   - the bound, measured in the same run by that process: Ed25519 verify_strict/s on one
#     core and on every core at once (every binding costs exactly one);
#   - the taglog-monitor binary replaying the whole log once (--once, fresh state directory):
#     entries/s over its wall time, as ratios to both bounds, and its peak RSS (VmHWM, from
#     /usr/bin/time -v) and state directory size.
#
# Usage: scripts/bench-monitor.sh            # 10^5 bindings
#        BENCH_LONG=1 scripts/bench-monitor.sh   # 10^6 bindings
# Env:   BENCH_N (bindings; overrides BENCH_LONG), BENCH_REFS (distinct refs),
#        CARGO_TARGET_DIR (default ./target), BENCH_OUT (default $CARGO_TARGET_DIR/bench-monitor).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-monitor}"
if [ "${BENCH_LONG:-0}" = 1 ]; then n_default=1000000; else n_default=100000; fi
n="${BENCH_N:-$n_default}"
mkdir -p "$out"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is required (Debian package time)" >&2; exit 1; }

cargo build --release --locked -p taglog-monitor --bin taglog-monitor
bench_bin=$(cargo bench --locked -p taglog-monitor --bench replay --no-run --message-format=json 2>/dev/null |
    grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
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
url=$(info url); size=$(info size); b1=$(info bound_1); ball=$(info bound_all); cores=$(info cores)
log "log: $n bindings ($size entries), refs ${BENCH_REFS:-$n}"
log "bound: verify_strict $b1/s on 1 core, $ball/s on $cores cores (load $(cut -d' ' -f1-3 /proc/loadavg))"

state="$work/state"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
set +e
/usr/bin/time -v -o "$out/monitor.time" "$target/release/taglog-monitor" --once \
    --log "$url" --log-key "$(info vkey)" --state-dir "$state" --max-age 0 --mmd 0 \
    >"$out/monitor.out" 2>"$out/monitor.err"
rc=$?
set -e
load1=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$rc" = 0 ] || { echo "taglog-monitor exited $rc" >&2; tail -5 "$out/monitor.err" >&2; exit 1; }
wall=$(sed -n 's/.*Elapsed (wall clock) time.*: \(.*\)$/\1/p' "$out/monitor.time" |
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/monitor.time")
cpu=$(sed -n 's/.*Percent of CPU this job got: //p' "$out/monitor.time")
disk=$(du -sb "$state" | cut -f1)
rate=$(awk -v n="$size" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
log "monitor: $size entries in ${wall} s = $rate entries/s (CPU $cpu; load $load0 before, $load1 after)"
log "ratio to the bound: $(awk -v r="$rate" -v b="$b1" 'BEGIN { printf "%.2f", r / b }') of 1 core, $(awk -v r="$rate" -v b="$ball" 'BEGIN { printf "%.2f", r / b }') of $cores cores"
log "monitor peak RSS: $rss_kb kB ($(awk -v k="$rss_kb" -v n="$size" 'BEGIN { printf "%.0f", k * 1024 / n }') B per entry); state directory $disk B"
