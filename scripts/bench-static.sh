#!/usr/bin/env bash
# Static publication benchmark (issue 15), one run on loopback with release binaries:
#   - publishing cost: three servers run side by side from empty logs, one that does not
#     publish (the bound), one publishing to a directory (--publish file://) and one to a real
#     S3 server (s3s-fs, if installed: --publish s3://); BENCH_ROUNDS rounds of the submission
#     benchmark's peak load (BENCH_PEAK submissions, BENCH_CLIENTS clients) go to each in turn,
#     so every publishing run has a bound run of the same round next to it;
#     the publisher's own CPU time is counted apart (its threads are named "publisher");
#   - publisher lag under that load: each publishing server's taglog_publish_lag_seconds
#     histogram (from a checkpoint's publication by the log to the upload of a bucket
#     checkpoint covering it), p50 and p99 as the bucket bound holding them;
#   - after a fill of the directory-publishing log to BENCH_FILL bindings: the bucket's objects
#     and bytes, then objects and bytes fetched by `taglog lookup` from the directory served
#     by a plain HTTP file server (python3's http.server, answering single `Range` requests
#     with 206 as S3 and CDNs do, for map objects in packs), counted from that server's request
#     log (every GET; bytes are the sizes of the files it answered 200 for and the ranges it
#     answered 206 for): cold
#     (empty cache) for a ref in the first and in the middle entry bundle, warm with the log
#     unchanged, and warm after BENCH_MOVE more bindings; then the bucket again once the
#     grace for deleting superseded objects (60 s) has passed;
#   - `taglog lookup` runs per second (a process per verification, warm cache, one at a time)
#     from the static objects and from the server's /lookup, BENCH_RUNS each.
# Everything it writes (logs, bucket, S3 root) is in a temp directory removed at exit.
#
# Usage: scripts/bench-static.sh
# Env:   BENCH_FILL (default 1000000), BENCH_PEAK (default 30000), BENCH_ROUNDS (default 3),
#        BENCH_RUNS (default 200), BENCH_MOVE (default 1000), BENCH_CLIENTS (default 64),
#        BENCH_SETTLE (seconds after each log's run, counted in its CPU time; default 3),
#        BENCH_PORT (default 19080; uses 5 ports), CARGO_TARGET_DIR (default ./target),
#        BENCH_OUT (default $CARGO_TARGET_DIR/bench-static), BENCH_NO_S3=1 to skip s3s-fs,
#        BENCH_PUBLISH_INTERVAL (--publish-interval of both publishing servers; default: the
#        server's default), BENCH_FILL=0 to skip the fill (the reads then run on the rounds' log),
#        BENCH_BIN (a directory holding release binaries of taglog-server, taglog-loadgen and
#        taglog to run instead of building this checkout: for runs of two builds in turn).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-static}"
fill="${BENCH_FILL:-1000000}"
peak_n="${BENCH_PEAK:-30000}"
rounds="${BENCH_ROUNDS:-3}"
runs="${BENCH_RUNS:-200}"
move="${BENCH_MOVE:-1000}"
clients="${BENCH_CLIENTS:-64}"
settle="${BENCH_SETTLE:-3}"
port="${BENCH_PORT:-19080}"
mkdir -p "$out"

if [ -n "${BENCH_BIN:-}" ]; then
    bin="$BENCH_BIN"
else
    cargo build --release --locked -p taglog-server --bins -p taglog
    bin="$target/release"
fi
s3s=""
if [ -z "${BENCH_NO_S3:-}" ]; then
    s3s="$(command -v s3s-fs || true)"
    [ -n "$s3s" ] || { echo "s3s-fs not installed (see .ci/run) and BENCH_NO_S3 not set" >&2; exit 1; }
fi
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

log() { echo "$*" | tee -a "$out/summary.txt"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
: >"$out/summary.txt"
log "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)${BENCH_BIN:+, binaries of $BENCH_BIN}; cpus: $(nproc); fill $fill, $rounds rounds of $peak_n, $clients clients; --publish-interval ${BENCH_PUBLISH_INTERVAL:-default}; load $(load)"

wait_port() {
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}
loadgen() { "$bin/taglog-loadgen" --url "http://127.0.0.1:$1" --clients "$clients" "${@:2}" 2>>"$out/loadgen.err"; }
rate_of() { sed -n 's/.* = \([0-9]*\) submissions\/s.*/\1/p'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
"$bin/taglog-loadgen" allowlist >"$work/publishers"
server() { # NAME PORT ARGS...: starts a server, its output in $out/NAME.out
    local name=$1 p=$2
    shift 2
    RUST_LOG=warn "$bin/taglog-server" --data-dir "$work/$name" --listen "127.0.0.1:$p" \
        --publishers "$work/publishers" --publisher-rate 0 "$@" >"$out/$name.out" 2>&1 &
    pids+=("$!")
    eval "pid_$name=$!"
    wait_port "$p"
}

# --- three logs side by side: no publishing (the bound), a directory, an S3 server -----------
names=(plain dir)
server plain "$port"
bucket="$work/bucket"
interval=()
[ -n "${BENCH_PUBLISH_INTERVAL:-}" ] && interval=(--publish-interval "$BENCH_PUBLISH_INTERVAL")
server dir $((port + 1)) --publish "file://$bucket" "${interval[@]}"
if [ -n "$s3s" ]; then
    names+=(s3)
    mkdir -p "$work/s3root/taglog"
    RUST_LOG=warn "$s3s" --host 127.0.0.1 --port $((port + 3)) --access-key bench-access \
        --secret-key bench-secret-key "$work/s3root" >"$out/s3s-fs.out" 2>&1 &
    pids+=("$!")
    pid_s3s=$!
    wait_port $((port + 3))
    AWS_ACCESS_KEY_ID=bench-access AWS_SECRET_ACCESS_KEY=bench-secret-key \
        server s3 $((port + 4)) --publish s3://taglog/log \
        --publish-endpoint "http://127.0.0.1:$((port + 3))" --publish-region us-east-1 "${interval[@]}"
fi
port_of() { case $1 in plain) echo "$port" ;; dir) echo $((port + 1)) ;; s3) echo $((port + 4)) ;; esac; }

wait_bucket() { # PORT: until the bucket holds the log's newest checkpoint
    for _ in $(seq 1 1200); do
        [ "$(curl -s "http://127.0.0.1:$1/healthz" | sed -n 's/.*"lag_entries":\([0-9]*\).*/\1/p')" = "0" ] && return 0
        sleep 0.5
    done
    echo "the bucket of port $1 did not catch up" >&2
    return 1
}
# CPU time (user + system) a process has used, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The same for the threads of a process named "publisher" (the publisher's own thread and its
# blocking reads and writes; they stay for the server's lifetime).
publisher_ticks() { cat /proc/"$1"/task/*/stat 2>/dev/null | awk '$2 == "(publisher)" {s += $14 + $15} END {print s + 0}'; }
hz=$(getconf CLK_TCK)
micros() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN {printf "%.0f", t * 1e6 / hz / n}'; }
declare -A sum cpu pcpu
for n in "${names[@]}"; do sum[$n]=0; cpu[$n]=0; pcpu[$n]=0; done
cpu[s3s]=0
for r in $(seq 1 "$rounds"); do
    line="round $r (load $(load)):"
    declare -A rate
    # Each round starts with the next log in turn, so that no log always runs first (on a
    # fresh page cache) or always right after another one.
    k=$(((r - 1) % ${#names[@]}))
    for n in "${names[@]:k}" "${names[@]:0:k}"; do
        pid_var="pid_$n"
        c0=$(ticks "${!pid_var}")
        p0=$(publisher_ticks "${!pid_var}")
        [ -n "$s3s" ] && b0=$(ticks "$pid_s3s")
        res=$(loadgen "$(port_of "$n")" --count "$peak_n")
        echo "round $r $n: $res" >>"$out/runs.txt"
        rate[$n]=$(echo "$res" | rate_of)
        # The next run starts once this log's bucket has caught up (no upload left behind)
        # and, for every log alike, BENCH_SETTLE seconds more, so that its RocksDB flushes and
        # compactions are counted as its own CPU time and do not run into the next log's load.
        [ "$n" = plain ] || wait_bucket "$(port_of "$n")"
        sleep "$settle"
        cpu[$n]=$((cpu[$n] + $(ticks "${!pid_var}") - c0))
        pcpu[$n]=$((pcpu[$n] + $(publisher_ticks "${!pid_var}") - p0))
        [ "$n" = s3 ] && cpu[s3s]=$((cpu[s3s] + $(ticks "$pid_s3s") - b0))
        sum[$n]=$((sum[$n] + rate[$n]))
        line="$line $n ${rate[$n]}/s"
    done
    for n in "${names[@]:1}"; do line="$line, $n/plain $(ratio "${rate[$n]}" "${rate[plain]}")"; done
    log "$line"
done
for n in "${names[@]:1}"; do
    log "$n: mean of $rounds rounds $((sum[$n] / rounds))/s vs plain $((sum[plain] / rounds))/s: ratio $(ratio "${sum[$n]}" "${sum[plain]}")"
done
# CPU per submission is steadier than a rate on shared cores: the publishing cost as the
# server's extra CPU time, with the S3 server's own (elsewhere in a deployment) apart.
line="server CPU per submission over the rounds (until the bucket caught up, and BENCH_SETTLE s more):"
for n in "${names[@]}"; do line="$line $n $(micros "${cpu[$n]}" $((rounds * peak_n))) µs"; done
for n in "${names[@]:1}"; do line="$line, $n/plain $(ratio "${cpu[$n]}" "${cpu[plain]}")"; done
[ -n "$s3s" ] && line="$line; s3s-fs $(micros "${cpu[s3s]}" $((rounds * peak_n))) µs"
log "$line"
# The publisher's threads on their own: their CPU time as a share of the rest of the same
# server's, and of the non-publishing server's (two servers' totals differ by more than this
# from run to run: RocksDB's compactions fall into one run or the next).
line="publisher threads' CPU per submission:"
for n in "${names[@]:1}"; do
    line="$line $n $(micros "${pcpu[$n]}" $((rounds * peak_n))) µs = $(ratio "${pcpu[$n]}" $((cpu[$n] - pcpu[$n]))) of the rest of its server, $(ratio "${pcpu[$n]}" "${cpu[plain]}") of plain's;"
done
log "$line"

# p50/p99 from the cumulative histogram: the first bucket bound holding the quantile.
quantile() { # PORT Q
    curl -s "http://127.0.0.1:$1/metrics" | awk -v q="$2" '
        /^taglog_publish_lag_seconds_bucket/ { split($0, a, "le=\""); split(a[2], b, "\""); le[n] = b[1]; c[n++] = $2 }
        /^taglog_publish_lag_seconds_count/ { total = $2 }
        END { for (i = 0; i < n; i++) if (c[i] >= q * total) { print "<= " le[i] " s"; exit } }'
}
lag_count() { curl -s "http://127.0.0.1:$1/metrics" | sed -n 's/^taglog_publish_lag_seconds_count //p'; }
counter() { curl -s "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"; }
lag_mean() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^taglog_publish_lag_seconds_sum/ {s = $2} /^taglog_publish_lag_seconds_count/ {c = $2} END {if (c) printf "%.3f s", s / c}'; }
for n in "${names[@]:1}"; do
    p=$(port_of "$n")
    wait_bucket "$p"
    log "$n: publisher lag over the rounds: p50 $(quantile "$p" 0.5), p99 $(quantile "$p" 0.99), mean $(lag_mean "$p") ($(lag_count "$p") log checkpoints)"
    log "$n: uploaded $(counter "$p" taglog_publish_checkpoints_total) bucket checkpoints, $(counter "$p" taglog_publish_objects_total) objects, $(counter "$p" taglog_publish_bytes_total) bytes"
done

# Only the directory-publishing log goes on: the others' data is removed.
kill -TERM "$pid_plain"
wait "$pid_plain" || true
rm -rf "$work/plain"
if [ -n "$s3s" ]; then
    kill -TERM "$pid_s3"
    wait "$pid_s3" || true
    log "s3 bucket after the rounds: $(find "$work/s3root/taglog" -type f | wc -l) objects, $(du -sb "$work/s3root/taglog" | cut -f1) bytes"
    rm -rf "$work/s3" "$work/s3root"
fi

# --- fill ---------------------------------------------------------------------------------------
dport=$(port_of dir)
url="http://127.0.0.1:$dport"
done_n=$((rounds * peak_n))
if [ "$fill" -gt "$done_n" ]; then
    log "fill to $fill: $(loadgen "$dport" --count $((fill - done_n))) (load $(load))"
fi
wait_bucket "$dport"
size=$(sed -n 2p "$bucket/checkpoint")
log "bucket at tree size $size: $(find "$bucket" -type f | wc -l) objects ($(find "$bucket/tile" -type f | wc -l) tiles and entry bundles), $(du -sb "$bucket" | cut -f1) bytes; log data directory $(du -sb "$work/dir" | cut -f1) bytes; df: $(df -h / | awk 'NR == 2 {print $4 " free"}')"

# --- reading the objects ------------------------------------------------------------------------
# python3's file server, plus single byte ranges (206), as S3 and CDNs answer them.
range_server='
import http.server, os, re, sys
class Files(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
        path = self.translate_path(self.path)
        if not m or not os.path.isfile(path):
            return super().do_GET()
        first, last = int(m[1]), int(m[2])
        with open(path, "rb") as f:
            f.seek(first)
            data = f.read(last - first + 1)
        self.send_response_only(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Range", f"bytes {first}-{first + len(data) - 1}/{os.path.getsize(path)}")
        self.end_headers()
        self.wfile.write(data)
        self.log_request(206, len(data))
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Files).serve_forever()
'
(cd "$bucket" && exec python3 -c "$range_server" $((port + 2)) >/dev/null 2>"$work/files.log") &
pids+=("$!")
wait_port $((port + 2))
vkey=$(grep -a -m1 '^localhost/taglog+' "$out/dir.out")
pubkey=$(cut -d' ' -f3 "$work/publishers")
ref_in() { # BUNDLE: the first ref bound in entry bundle BUNDLE (a full one: tile/entries/NNN)
    grep -a -m1 -o 'ref loadgen.example/bench/[^[:space:]]*' "$bucket/tile/entries/$1" | cut -d' ' -f2
}
mid=$((size / 2 / 256))
mid_path=$(printf '%03d' $((mid % 1000)))
[ "$mid" -ge 1000 ] && mid_path=$(printf 'x%03d/%03d' $((mid / 1000)) $((mid % 1000)))
ref_first=$(ref_in 000)
ref_mid=$(ref_in "$mid_path")
printf 'log %s static+http://127.0.0.1:%s\nquorum none\npublisher loadgen.example/bench %s\n' \
    "$vkey" $((port + 2)) "$pubkey" >"$work/policy-static"
printf 'log %s %s\nquorum none\npublisher loadgen.example/bench %s\n' "$vkey" "$url" "$pubkey" \
    >"$work/policy-server"
client() { # POLICY STATE REF
    TAGLOG_CACHE_DIR="$2/cache" "$bin/taglog" --policy "$work/$1" --state-dir "$2" lookup "$3"
}
static_run() { # STATE REF LABEL: one verification, with the requests it made
    local o before
    before=$(wc -l <"$work/files.log")
    o=$(client policy-static "$1" "$2" 2>&1) || { echo "$o" >&2; return 1; }
    sleep 0.2
    tail -n +$((before + 1)) "$work/files.log" | grep '"GET ' >"$work/requests" || true
    local n ok bytes paths
    n=$(wc -l <"$work/requests")
    ok=$(grep -c '" 20[06] ' "$work/requests" || true)
    bytes=0
    paths=$(sed -n 's/.*"GET \/\([^ ]*\) HTTP[^"]*" 200 .*/\1/p' "$work/requests")
    for f in $paths; do bytes=$((bytes + $(stat -c %s "$bucket/$f"))); done
    for r in $(sed -n 's/.*"GET \/[^ ]* HTTP[^"]*" 206 \([0-9]*\).*/\1/p' "$work/requests"); do
        bytes=$((bytes + r))
    done
    log "$3: $n requests ($ok answered 200 or 206), $bytes bytes: $(sed -n 's/.*"GET \/\([^ ]*\) HTTP[^"]*" \([0-9]*\) .*/\1 \2/p' "$work/requests" | sed 's/ 200$//; s/ 206$/ (range)/' | sed 's/^map\/\(.\{8\}\).*/map\/\1.../' | tr '\n' ' ')"
}
static_run "$work/c1" "$ref_first" "cold static verification, ref of entry bundle 000 ($ref_first)"
static_run "$work/c2" "$ref_mid" "cold static verification, ref of entry bundle $mid_path ($ref_mid)"
static_run "$work/c1" "$ref_first" "warm, log unchanged"
static_run "$work/c2" "$ref_mid" "warm, log unchanged"
loadgen "$dport" --count "$move" >/dev/null
wait_bucket "$dport"
static_run "$work/c1" "$ref_first" "warm after $move more bindings (tree size $(sed -n 2p "$bucket/checkpoint"))"
static_run "$work/c2" "$ref_mid" "warm after $move more bindings"
# What the bucket keeps: superseded objects (partial tiles, edge objects, unused packs) go a
# grace period (the server's default, 60 s) after the checkpoint that superseded them.
sleep 65
log "bucket after the grace: $(find "$bucket" -type f | wc -l) objects ($(find "$bucket/map/pack" -type f | wc -l) packs), $(du -sb "$bucket" | cut -f1) bytes ($(du -sb "$bucket/map/pack" | cut -f1) in packs)"

per_second() { # POLICY STATE
    local t0 t1
    client "$1" "$2" "$ref_mid" >/dev/null 2>&1
    t0=$(date +%s.%N)
    for _ in $(seq 1 "$runs"); do client "$1" "$2" "$ref_mid" >/dev/null 2>&1; done
    t1=$(date +%s.%N)
    awk -v n="$runs" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n / (b - a)}'
}
st=$(per_second policy-static "$work/c3")
sv=$(per_second policy-server "$work/c4")
log "taglog lookup runs/s ($runs, a process each, warm, one at a time; load $(load)): static $st, /lookup $sv, static/lookup $(ratio "$st" "$sv")"
st=$(per_second policy-static "$work/c3")
sv=$(per_second policy-server "$work/c4")
log "again (load $(load)): static $st, /lookup $sv, static/lookup $(ratio "$st" "$sv")"
kill -TERM "$pid_dir"
wait "$pid_dir" || true
echo "summary: $out/summary.txt"
