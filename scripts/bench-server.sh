#!/usr/bin/env bash
# Server benchmark (issues 3 and 14): one run on loopback with release binaries, the load
# generator (taglog-loadgen: pre-signed unique bindings, N concurrent HTTP/1.1 clients) on the
# same cores as the server. For the build under test ("after") and, with BENCH_BEFORE, an
# earlier build ("before"), back to back in the same run:
#   - the bound: Ed25519 verify_strict/s on one core and on every core at once, measured by
#     the monitor's replay bench binary (TAGLOG_BENCH_BOUND) at the start and end of each build;
#   - 0 witnesses: durable submissions/s at peak, p50/p99 at 100 % and ~50 % of peak, the
#     server's CPU time per durable submission (from /proc/<pid>/stat), /lookup requests/s;
#   - a fill to BENCH_FILL bindings (10^6; BENCH_LONG=1: 10^7) in BENCH_STEPS steps, each
#     sampled: submissions/s, p50/p99, CPU per submission, server RSS, disk per binding (WAL
#     and table files apart), so the cost curve as the log grows is visible;
#   - taglog-monitor replaying the filled log from the server's tiles (--once, fresh state):
#     entries/s, as a ratio to the every-core bound, and its peak RSS;
#   - 2 witnesses (taglog-witness, quorum 2): peak, ~50 %, peak, and for each run where a
#     submission's time at the server went (from the server's histograms, differences over the
#     run): arrival to synced commit (taglog_integration_seconds), commit to the quorum
#     checkpoint covering it (taglog_quorum_wait_seconds), and each witness's round trip.
# A submission counts only when answered 200: sequenced, integrated, in a synced write with its
# checkpoint, and with witnesses covered by a checkpoint cosigned by both.
#
# Usage: scripts/bench-server.sh                  # fill to 10^6
#        BENCH_LONG=1 scripts/bench-server.sh     # fill to 10^7
# Env:   BENCH_FILL, BENCH_STEPS (default 10), BENCH_PEAK (submissions per peak run, default
#        50000), BENCH_CLIENTS (default 64), BENCH_PORT (default 18080; uses 4 ports),
#        BENCH_BEFORE (a directory with an earlier build's taglog-server, taglog-witness and
#        taglog-monitor: run first, same phases), BENCH_MONITOR (0 skips the replay),
#        BENCH_ZERO (0 skips every 0-witness phase: peak, /lookup, fill, replay),
#        CARGO_TARGET_DIR (default ./target), BENCH_OUT (default $CARGO_TARGET_DIR/bench-server;
#        summary.txt there ends with a before/after table).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-server}"
if [ "${BENCH_LONG:-0}" = 1 ]; then fill_default=10000000; else fill_default=1000000; fi
fill="${BENCH_FILL:-$fill_default}"
steps="${BENCH_STEPS:-10}"
peak_n="${BENCH_PEAK:-50000}"
clients="${BENCH_CLIENTS:-64}"
port="${BENCH_PORT:-18080}"
before="${BENCH_BEFORE:-}"
with_monitor="${BENCH_MONITOR:-1}"
with_zero="${BENCH_ZERO:-1}"
mkdir -p "$out"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is required (Debian package time)" >&2; exit 1; }
if [ -n "$before" ]; then
    for b in taglog-server taglog-witness taglog-monitor; do
        [ -x "$before/$b" ] || { echo "BENCH_BEFORE: $before/$b is not executable" >&2; exit 1; }
    done
fi

cargo build --release --locked -p taglog-server --bins
cargo build --release --locked -p taglog-monitor --bins
# The replay bench binary measures the bound (the executable cargo built, from its JSON).
bench_bin=$(cargo bench --locked -p taglog-monitor --bench replay --no-run --message-format=json 2>/dev/null |
    { grep '"kind":\["bench"\]' || true; } | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$bench_bin" ] || { echo "replay bench binary not found" >&2; exit 1; }
after="$target/release"
loadgen_bin="$after/taglog-loadgen"
tck=$(getconf CLK_TCK)

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
log "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); cpus: $(nproc) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
log "fill $fill in $steps steps; $clients clients; $peak_n submissions per peak run"
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Figures for the closing table: fig[<build>.<name>].
declare -A fig

# bound BUILD WHEN: verify_strict/s on 1 core and on every core.
bound() {
    local r b1 ball
    r=$(TAGLOG_BENCH_BOUND=1 "$bench_bin")
    b1=$(echo "$r" | sed -n 's/^bound_1 //p')
    ball=$(echo "$r" | sed -n 's/^bound_all //p')
    log "$1: bound $2: verify_strict $b1/s on 1 core, $ball/s on $(echo "$r" | sed -n 's/^cores //p') cores (load $(load))"
    fig[$1.bound1_$2]=$b1
    fig[$1.boundall_$2]=$ball
}

wait_port() {
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
status_kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
rate_of() { sed -n 's/.* = \([0-9]*\) submissions\/s.*/\1/p'; }
durable_of() { sed -n 's/^submissions: \([0-9]*\) durable.*/\1/p'; }
p50_of() { sed -n 's/.*latency p50 \([0-9.]*\) ms.*/\1/p'; }
p99_of() { sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# submit PORT PID LOADGEN-ARGS...: one loadgen run; prints its line plus the server's CPU per
# durable submission; sets last_rate, last_durable, last_cpu, last_p50, last_p99.
submit() {
    local p=$1 pid=$2 t0 t1 r
    shift 2
    t0=$(ticks "$pid")
    r=$("$loadgen_bin" --url "http://127.0.0.1:$p" --clients "$clients" "$@" 2>>"$out/loadgen.err")
    t1=$(ticks "$pid")
    last_rate=$(echo "$r" | head -1 | rate_of)
    last_durable=$(echo "$r" | head -1 | durable_of)
    last_p50=$(echo "$r" | head -1 | p50_of)
    last_p99=$(echo "$r" | head -1 | p99_of)
    last_cpu=$(awk -v d="$((t1 - t0))" -v t="$tck" -v n="$last_durable" 'BEGIN { printf "%.0f", n ? d * 1e6 / t / n : 0 }')
    last_line="$r; server CPU $last_cpu µs/submission; load $(load)"
}

metrics() { curl -s "http://127.0.0.1:$1/metrics"; }
# stages BEFORE AFTER: from two /metrics snapshots, what each latency histogram recorded in
# between: mean, and p50 / p99 as the first bucket bound holding them.
stages() {
    awk '
        function name(l) { sub(/_(bucket|sum|count).*/, "", l); return l }
        function label(l,  w) { w = ""; if (match(l, /witness="[^"]*"/)) w = " " substr(l, RSTART + 9, RLENGTH - 10); return w }
        /^taglog_(integration|quorum_wait|witness_rtt)_seconds_/ {
            k = name($1) label($1); sign = FNR == NR ? -1 : 1
            if ($1 ~ /_bucket/) { match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
                if (!((k, le) in c)) { order[k, ++nb[k]] = le } c[k, le] += sign * $2 }
            else if ($1 ~ /_sum/) s[k] += sign * $2
            else if ($1 ~ /_count/) { n[k] += sign * $2; keys[k] = 1 }
        }
        END {
            for (k in keys) {
                if (n[k] <= 0) continue
                line = sprintf("%s: n %d, mean %.1f ms", k, n[k], 1000 * s[k] / n[k])
                split("0.5 0.99", qs, " ")
                for (qi = 1; qi <= 2; qi++) for (i = 1; i <= nb[k]; i++) {
                    le = order[k, i]
                    if (c[k, le] >= qs[qi] * n[k]) { line = line sprintf(", p%s <= %s s", qs[qi] * 100, le); break }
                }
                print line
            }
        }' "$1" "$2" | sed 's/^taglog_//; s/_seconds//' | sort
}

start_server() { # BIN DIR PORT OUT ARGS...
    local b=$1 d=$2 p=$3 o=$4
    shift 4
    RUST_LOG=warn "$b/taglog-server" --data-dir "$d" --listen "127.0.0.1:$p" \
        --publishers "$work/publishers" --publisher-rate 0 "$@" >"$out/$o.out" 2>"$out/$o.err" &
    server_pid=$!
    pids+=("$server_pid")
    wait_port "$p"
}
stop() { kill -TERM "$1"; wait "$1" || true; }

# sample BUILD PID DIR BINDINGS: the server's memory and disk after BINDINGS bindings.
sample() {
    local b=$1 pid=$2 d=$3 n=$4 size rss hwm disk wal sst
    size=$(curl -s "http://127.0.0.1:$port/checkpoint" | sed -n 2p)
    rss=$(status_kb "$pid" VmRSS)
    hwm=$(status_kb "$pid" VmHWM)
    disk=$(du -sb "$d" | cut -f1)
    wal=$(find "$d" -name '*.log' -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
    sst=$(find "$d" -name '*.sst' -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
    log "$b:   at $n bindings (tree size $size): RSS $((rss / 1024)) MiB (peak $((hwm / 1024)) MiB) = $((rss * 1024 / n)) B/binding;" \
        "disk $disk B = $((disk / n)) B/binding (WAL $((wal / n)), tables $((sst / n)))"
    fig[$b.rss]="$((rss / 1024)) MiB"
    fig[$b.disk]="$((disk / n)) B (tables $((sst / n)) B, WAL $((wal / n)) B)"
    fig[$b.size]=$size
}

# variant BUILD BINDIR: every phase with one build's binaries.
variant() {
    local b=$1 bin=$2 d0="$work/$1-d0" d2="$work/$1-d2" n=0 half i goal r s0 s2 vkey
    log "== $b: $bin"
    bound "$b" start

    # --- 0 witnesses --------------------------------------------------------------------
    if [ "$with_zero" != 0 ]; then
    start_server "$bin" "$d0" "$port" "$b-server0"
    s0=$server_pid
    submit "$port" "$s0" --count "$peak_n"
    log "$b: 0 witnesses, peak: $last_line"
    n=$((n + last_durable))
    fig[$b.peak0]=$last_rate
    fig[$b.cpu0]=$last_cpu
    fig[$b.lat0]="$last_p50 / $last_p99"
    half=$((last_rate / 2))
    submit "$port" "$s0" --count $((half * 20)) --rate "$half"
    log "$b: 0 witnesses, ~50 % ($half/s paced): $last_line"
    n=$((n + last_durable))
    fig[$b.half0]="$last_p50 / $last_p99 at $last_rate/s"
    submit "$port" "$s0" --count "$peak_n"
    log "$b: 0 witnesses, peak again: $last_line"
    n=$((n + last_durable))
    fig[$b.peak0b]=$last_rate
    r=$("$loadgen_bin" --url "http://127.0.0.1:$port" --clients "$clients" --count 2000 --lookups 50000 2>>"$out/loadgen.err")
    log "$b: 0 witnesses, /lookup: $(echo "$r" | tail -1); load $(load)"
    n=$((n + $(echo "$r" | head -1 | durable_of)))
    fig[$b.lookup]=$(echo "$r" | tail -1 | sed -n 's/.* = \([0-9]*\) lookups\/s.*/\1/p')
    sample "$b" "$s0" "$d0" "$n"
    for i in $(seq 1 "$steps"); do
        goal=$((fill * i / steps))
        [ "$goal" -gt "$n" ] || continue
        submit "$port" "$s0" --count $((goal - n))
        n=$((n + last_durable))
        log "$b: fill step $i/$steps: $last_line"
        sample "$b" "$s0" "$d0" "$n"
        [ -n "${fig[$b.fill_first]:-}" ] || fig[$b.fill_first]="$last_rate/s, $last_p50 / $last_p99 ms, $last_cpu µs"
        fig[$b.fill_last]="$last_rate/s, $last_p50 / $last_p99 ms, $last_cpu µs"
    done
    fig[$b.bindings]=$n

    if [ "$with_monitor" != 0 ]; then
        bound "$b" monitor
        vkey=$(grep -m1 '^localhost/taglog+' "$out/$b-server0.out")
        local up0 wall rss_kb cpu rate
        up0=$(load)
        /usr/bin/time -v -o "$out/$b-monitor.time" "$bin/taglog-monitor" --once \
            --log "http://127.0.0.1:$port" --log-key "$vkey" --state-dir "$work/$b-monitor" \
            --max-age 0 --mmd 0 >"$out/$b-monitor.out" 2>"$out/$b-monitor.err" ||
            { echo "$b: taglog-monitor failed" >&2; tail -5 "$out/$b-monitor.err" >&2; exit 1; }
        wall=$(sed -n 's/.*Elapsed (wall clock) time.*: \(.*\)$/\1/p' "$out/$b-monitor.time" |
            awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
        rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/$b-monitor.time")
        cpu=$(sed -n 's/.*Percent of CPU this job got: //p' "$out/$b-monitor.time")
        rate=$(awk -v n="${fig[$b.size]}" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
        log "$b: monitor replay: ${fig[$b.size]} entries in $wall s = $rate entries/s =" \
            "$(ratio "$rate" "${fig[$b.boundall_monitor]}") of the every-core bound; CPU $cpu;" \
            "peak RSS $((rss_kb / 1024)) MiB; state $(du -sb "$work/$b-monitor" | cut -f1) B; load $up0 -> $(load)"
        fig[$b.monitor]="$rate/s = $(ratio "$rate" "${fig[$b.boundall_monitor]}") of the bound"
        fig[$b.monitor_rss]="$((rss_kb / 1024)) MiB"
        rm -rf "$work/$b-monitor"
    fi
    stop "$s0"
    rm -rf "$d0"
    fi

    # --- 2 witnesses --------------------------------------------------------------------
    # The first start makes the log key (printed as a vkey), which the witnesses need.
    start_server "$bin" "$d2" "$port" "$b-server2-init"
    stop "$server_pid"
    vkey=$(grep -m1 '^localhost/taglog+' "$out/$b-server2-init.out")
    local witness_args=() wp=()
    for i in 1 2; do
        "$bin/taglog-witness" --key "$work/$b-w$i.key" --init --name "witness.example/w$i" >"$work/$b-w$i.vkey"
        RUST_LOG=warn "$bin/taglog-witness" --key "$work/$b-w$i.key" --log "$vkey" \
            --listen "127.0.0.1:$((port + i))" --data-dir "$work/$b-w$i-data" >"$out/$b-w$i.err" 2>&1 &
        wp+=("$!")
        pids+=("$!")
        wait_port $((port + i))
        witness_args+=(--witness "$(tail -1 "$work/$b-w$i.vkey")" "http://127.0.0.1:$((port + i))")
    done
    start_server "$bin" "$d2" $((port + 3)) "$b-server2" "${witness_args[@]}" --witness-quorum 2
    s2=$server_pid
    # witnessed LABEL LOADGEN-ARGS...: one run, then where its submissions' time went.
    witnessed() {
        local label=$1
        shift
        metrics $((port + 3)) >"$work/metrics.0"
        submit $((port + 3)) "$s2" "$@"
        log "$b: 2 witnesses, $label: $last_line"
        metrics $((port + 3)) >"$work/metrics.1"
        stages "$work/metrics.0" "$work/metrics.1" | while read -r l; do log "$b:   $l"; done
    }
    witnessed peak --count "$peak_n"
    fig[$b.peak2]=$last_rate
    fig[$b.cpu2]=$last_cpu
    fig[$b.lat2]="$last_p50 / $last_p99"
    half=$((last_rate / 2))
    witnessed "~50 % ($half/s paced)" --count $((half * 20)) --rate "$half"
    fig[$b.half2]="$last_p50 / $last_p99 at $last_rate/s"
    witnessed "peak again" --count "$peak_n"
    fig[$b.peak2b]=$last_rate
    stop "$s2"
    for p in "${wp[@]}"; do stop "$p"; done
    rm -rf "$d2" "$work/$b"-w*

    bound "$b" end
    log "$b: ratio of peak to the 1-core bound at the start: 0 witnesses $(ratio "${fig[$b.peak0]:-0}" "${fig[$b.bound1_start]}"), 2 witnesses $(ratio "${fig[$b.peak2]}" "${fig[$b.bound1_start]}")"
}

"$loadgen_bin" allowlist >"$work/publishers"
builds=()
[ -z "$before" ] || builds+=(before)
builds+=(after)
for b in "${builds[@]}"; do
    if [ "$b" = before ]; then variant before "$before"; else variant after "$after"; fi
done

# The closing table: one column per build.
row() { # LABEL KEY [ratio-to-bound1]
    local line="| $1 |" b v
    for b in "${builds[@]}"; do
        v="${fig[$b.$2]:-—}"
        if [ "${3:-}" = ratio ] && [ "$v" != — ]; then v="$v ($(ratio "$v" "${fig[$b.bound1_start]}"))"; fi
        line="$line $v |"
    done
    log "$line"
}
log ""
header="| figure |"
for b in "${builds[@]}"; do header="$header $b |"; done
log "$header"
log "|---|$(printf -- '---|%.0s' "${builds[@]}")"
row "bound: verify_strict/s on 1 core (start)" bound1_start
row "bound: verify_strict/s on every core (start)" boundall_start
row "0 witnesses: durable submissions/s at peak (ratio to 1 core)" peak0 ratio
row "0 witnesses: peak again" peak0b ratio
row "0 witnesses: server CPU µs per submission" cpu0
row "0 witnesses: p50 / p99 ms at peak" lat0
row "0 witnesses: p50 / p99 ms at ~50 %" half0
row "/lookup requests/s" lookup
row "fill: first step (rate, p50 / p99, CPU)" fill_first
row "fill: last step (rate, p50 / p99, CPU)" fill_last
row "bindings at the end of the fill" bindings
row "server RSS at the end of the fill" rss
row "disk per binding at the end of the fill" disk
row "monitor replay of the filled log" monitor
row "monitor peak RSS" monitor_rss
row "2 witnesses: durable submissions/s at peak (ratio)" peak2 ratio
row "2 witnesses: peak again" peak2b ratio
row "2 witnesses: server CPU µs per submission" cpu2
row "2 witnesses: p50 / p99 ms at peak" lat2
row "2 witnesses: p50 / p99 ms at ~50 %" half2
echo "summary: $out/summary.txt"
