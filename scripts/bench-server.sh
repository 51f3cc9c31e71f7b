#!/usr/bin/env bash
# Server benchmark (issue 3), one run on loopback with release binaries:
#   - the bound: raw Ed25519 verify_strict on one core (criterion), before and after;
#   - 0 witnesses: durable submissions/s at peak, p50/p99 at 100 % and ~50 % of peak,
#     /lookup requests/s, then a fill to BENCH_FILL bindings and the server's RSS and disk
#     bytes per binding (WAL and table files apart);
#   - 2 witnesses (taglog-witness, quorum 2): peak and ~50 %.
# Every submission is durable when answered 200 (sequenced, integrated, synced, and with
# witnesses covered by a cosigned checkpoint). The load generator runs on the same machine.
#
# Usage: scripts/bench-server.sh
# Env:   BENCH_FILL (default 1000000 bindings), BENCH_PEAK (default 50000 submissions per
#        peak run), BENCH_CLIENTS (default 64), BENCH_PORT (default 18080; uses 4 ports),
#        CARGO_TARGET_DIR (default ./target), BENCH_OUT (default $CARGO_TARGET_DIR/bench-server).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-server}"
fill="${BENCH_FILL:-1000000}"
peak_n="${BENCH_PEAK:-50000}"
clients="${BENCH_CLIENTS:-64}"
port="${BENCH_PORT:-18080}"
mkdir -p "$out"

cargo build --release --locked -p taglog-server --bins
cargo build --release --locked -p taglog-monitor --bin taglog-witness
bin="$target/release"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

log() { echo "$*" | tee -a "$out/summary.txt"; }
: >"$out/summary.txt"
log "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); cpus: $(nproc) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

bound() {
    cargo bench --locked -p taglog-proofs --bench notes -- ed25519_verify_strict_96B 2>&1 |
        tee -a "$out/bound.log" |
        sed -n 's/^.*time: *\[[^ ]* [^ ]* \([0-9.]*\) \([µn]s\).*$/\1 \2/p' | head -1
}
b0=$(bound)
log "bound before: ed25519 verify_strict $b0 per verification (load $(cut -d' ' -f1-3 /proc/loadavg))"

wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}

loadgen() { "$bin/taglog-loadgen" --url "http://127.0.0.1:$1" --clients "$clients" "${@:2}" 2>>"$out/loadgen.err"; }
rate_of() { sed -n 's/.* = \([0-9]*\) submissions\/s.*/\1/p'; }

"$bin/taglog-loadgen" allowlist >"$work/publishers"

# --- 0 witnesses ---------------------------------------------------------------------------
d0="$work/d0"
RUST_LOG=warn "$bin/taglog-server" --data-dir "$d0" --listen "127.0.0.1:$port" \
    --publishers "$work/publishers" --publisher-rate 0 >"$out/server0.out" 2>"$out/server0.err" &
s0=$!
pids+=("$s0")
wait_port "$port"
r=$(loadgen "$port" --count "$peak_n")
log "0 witnesses, peak: $r"
peak=$(echo "$r" | rate_of)
half=$((peak / 2))
r=$(loadgen "$port" --count $((half * 20)) --rate "$half")
log "0 witnesses, ~50 % ($half/s paced): $r"
r=$(loadgen "$port" --count "$peak_n")
log "0 witnesses, peak again: $r"
r=$(loadgen "$port" --count 2000 --lookups 50000 | tail -1)
log "0 witnesses, lookups: $r"
done_n=$((2 * peak_n + half * 20 + 2000))
if [ "$fill" -gt "$done_n" ]; then
    r=$(loadgen "$port" --count $((fill - done_n)))
    log "0 witnesses, fill to $fill: $r"
fi
size=$(curl -s "http://127.0.0.1:$port/checkpoint" | sed -n 2p)
rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$s0/status")
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$s0/status")
disk=$(du -sb "$d0" | cut -f1)
wal=$(find "$d0/db" -name '*.log' -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
sst=$(find "$d0/db" -name '*.sst' -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
bindings=$((fill > done_n ? fill : done_n))
log "after $bindings bindings (tree size $size): RSS $rss kB (peak $hwm kB) = $((rss * 1024 / bindings)) B/binding; disk $disk B = $((disk / bindings)) B/binding (WAL $((wal / bindings)), tables $((sst / bindings)))"
kill -TERM "$s0"
wait "$s0" || true

# --- 2 witnesses ---------------------------------------------------------------------------
d2="$work/d2"
# First start generates the log key (printed as a vkey); the witnesses need it.
RUST_LOG=warn "$bin/taglog-server" --data-dir "$d2" --listen "127.0.0.1:$port" \
    --publishers "$work/publishers" >"$out/server2-init.out" 2>&1 &
p=$!
wait_port "$port"
kill -TERM "$p"
wait "$p" || true
vkey=$(grep -m1 '^localhost/taglog+' "$out/server2-init.out")
witness_args=()
for n in 1 2; do
    "$bin/taglog-witness" --key "$work/w$n.key" --init --name "witness.example/w$n" >"$work/w$n.vkey"
    RUST_LOG=warn "$bin/taglog-witness" --key "$work/w$n.key" --log "$vkey" \
        --listen "127.0.0.1:$((port + n))" --data-dir "$work/w$n-data" >"$out/w$n.err" 2>&1 &
    pids+=("$!")
    wait_port $((port + n))
    witness_args+=(--witness "$(tail -1 "$work/w$n.vkey")" "http://127.0.0.1:$((port + n))")
done
RUST_LOG=warn "$bin/taglog-server" --data-dir "$d2" --listen "127.0.0.1:$((port + 3))" \
    --publishers "$work/publishers" --publisher-rate 0 "${witness_args[@]}" --witness-quorum 2 \
    >"$out/server2.out" 2>"$out/server2.err" &
s2=$!
pids+=("$s2")
wait_port $((port + 3))
r=$(loadgen $((port + 3)) --count "$peak_n")
log "2 witnesses, peak: $r"
peak2=$(echo "$r" | rate_of)
half2=$((peak2 / 2))
r=$(loadgen $((port + 3)) --count $((half2 * 20)) --rate "$half2")
log "2 witnesses, ~50 % ($half2/s paced): $r"
r=$(loadgen $((port + 3)) --count "$peak_n")
log "2 witnesses, peak again: $r"
kill -TERM "$s2"
wait "$s2" || true

b1=$(bound)
log "bound after: ed25519 verify_strict $b1 per verification (load $(cut -d' ' -f1-3 /proc/loadavg))"
# Ratio of durable submissions/s to verifications/s on one core (bound in µs per verification).
ratio() { awk -v r="$1" -v t="${2% *}" 'BEGIN {printf "%.3f", r * t / 1e6}'; }
log "ratio to the bound: 0 witnesses $(ratio "$peak" "$b0") (bound before), 2 witnesses $(ratio "$peak2" "$b1") (bound after)"
echo "summary: $out/summary.txt"
