#!/usr/bin/env bash
# Admission webhook benchmark (issue 13), one run on loopback with release binaries:
#   - a log (taglog-server) with one witness (taglog-witness, quorum 1), BENCH_REFS + 1 tags
#     published (with --digest: the webhook never asks a registry);
#   - `taglog admission` over HTTPS (the test certificate), driven by the example load generator
#     `admission_load` (keep-alive connections, closed loop) on the same 2 cores;
#   - warm: one single-container Pod review whose ref is cached, latency with 1 client and
#     admissions/s with BENCH_CLIENTS; also the 4-image Pod of tests/data/admission/pod.json;
#   - cold: a freshly started webhook, BENCH_REFS reviews each naming another ref (one /lookup
#     and one verification each), 1 client;
#   - the bounds, in the same run: the same review in a namespace the webhook skips (TLS, HTTP,
#     JSON parse and answer, nothing decided) for warm, and `GET /lookup` on the log for cold.
# Every answer is checked (HTTP 200, allowed, with a JSONPatch); a wrong one fails the run.
#
# Usage: scripts/bench-admission.sh
# Env:   BENCH_REFS (default 300), BENCH_REQUESTS (default 50000), BENCH_CLIENTS (default 32),
#        BENCH_PORT (default 19080; uses 3 ports), CARGO_TARGET_DIR (default ./target),
#        BENCH_OUT (default $CARGO_TARGET_DIR/bench-admission), BENCH_PROFILE (default release;
#        `dev` only checks that the script works: its figures mean nothing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-admission}"
refs="${BENCH_REFS:-300}"
requests="${BENCH_REQUESTS:-50000}"
clients="${BENCH_CLIENTS:-32}"
port="${BENCH_PORT:-19080}"
mkdir -p "$out"

profile="${BENCH_PROFILE:-release}"
cargo build --profile "$profile" --locked -p taglog-server --bin taglog-server
cargo build --profile "$profile" --locked -p taglog-monitor --bin taglog-witness
cargo build --profile "$profile" --locked -p taglog --bin taglog --example admission_load
bin="$target/$([ "$profile" = dev ] && echo debug || echo "$profile")"
load="$bin/examples/admission_load"
cert="$root/testkit/data/tls-cert.pem"
key="$root/testkit/data/tls-key.pem"
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
log "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD); cpus: $(nproc) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load $(cut -d' ' -f1-3 /proc/loadavg)"

wait_port() {
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}

# --- log, witness, publisher, bindings -----------------------------------------------------
host=registry.bench.example
log_vkey=$("$bin/taglog" keygen --name localhost/taglog -o "$work/log.key" 2>/dev/null)
pub_vkey=$("$bin/taglog" keygen --name bench.example/publisher -o "$work/pub.key" 2>/dev/null)
"$bin/taglog-witness" --key "$work/w1.key" --init --name witness.example/w1 >"$work/w1.vkey"
w_vkey=$(tail -1 "$work/w1.vkey")
RUST_LOG=warn "$bin/taglog-witness" --key "$work/w1.key" --log "$log_vkey" \
    --listen "127.0.0.1:$((port + 1))" --data-dir "$work/w1-data" >"$out/witness.err" 2>&1 &
pids+=("$!")
wait_port $((port + 1))
echo "publisher $host/acme $pub_vkey" >"$work/publishers"
RUST_LOG=warn "$bin/taglog-server" --data-dir "$work/log" --key "$work/log.key" \
    --listen "127.0.0.1:$port" --publishers "$work/publishers" --publisher-rate 0 \
    --witness "$w_vkey" "http://127.0.0.1:$((port + 1))" >"$out/server.err" 2>&1 &
pids+=("$!")
wait_port "$port"
cat >"$work/policy" <<EOF
log $log_vkey http://127.0.0.1:$port
witness w1 $w_vkey
quorum w1
publisher $host/acme $pub_vkey
EOF
start=$(date +%s)
# 16 publishers at a time (each waits until its binding is cosigned and current).
seq 0 "$refs" | BIN="$bin" WORK="$work" HOST="$host" xargs -P 16 -I{} bash -c \
    '"$BIN/taglog" --policy "$WORK/policy" --state-dir "$WORK/publisher-state-$1" publish \
        "$HOST/acme/app$1:1" --digest "$(printf "sha256:%064x" $(($1 + 1)))" --key "$WORK/pub.key" \
        >/dev/null' _ {} 2>>"$out/publish.err"
log "published $((refs + 1)) tags in $(( $(date +%s) - start )) s"

# --- reviews --------------------------------------------------------------------------------
review() { # $1 file, $2 image, $3 namespace
    sed -e "s|REGISTRY/acme/app:1|$2|" -e "s|\"namespace\": \"shop\"|\"namespace\": \"$3\"|g" \
        client/tests/data/admission/multi.json |
        python3 -c 'import json,sys; r=json.load(sys.stdin); c=r["request"]["object"]["spec"]["containers"]; r["request"]["object"]["spec"]["containers"]=c[:1]; print(json.dumps(r))' >"$1"
}
review "$work/warm.json" "$host/acme/app0:1" shop
review "$work/floor.json" "$host/acme/app0:1" bench-skipped
mkdir -p "$work/cold"
for i in $(seq 1 "$refs"); do review "$work/cold/$i.json" "$host/acme/app$i:1" shop; done
sed -e "s|REGISTRY/acme/app:1|$host/acme/app0:1|g" -e "s|REGISTRY/acme/init:1|$host/acme/app1:1|" \
    -e "s|REGISTRY/acme/side:2|$host/acme/app2:1|" -e "s|REGISTRY/acme/debug:1|$host/acme/app3:1|" \
    client/tests/data/admission/pod.json >"$work/pod4.json"

webhook() { # $1 port, $2 state dir
    RUST_LOG=warn "$bin/taglog" --policy "$work/policy" --state-dir "$2" admission \
        --listen "127.0.0.1:$1" --tls-cert "$cert" --tls-key "$key" \
        --skip-namespace bench-skipped >"$out/webhook-$1.err" 2>&1 &
    pids+=("$!")
    wait_port "$1"
}
run() { "$load" --ca "$cert" "$@" 2>>"$out/load.err"; }
url="https://127.0.0.1:$((port + 2))/mutate"

# --- cold first (empty cache), then warm ------------------------------------------------------
webhook $((port + 2)) "$work/webhook-state"
log "bound, cold: GET /lookup on the log, 1 client: $(run --url "http://127.0.0.1:$port/lookup?ref=$host%2Facme%2Fapp0%3A1" --get --clients 1 --requests 2000)"
log "cold admission (one /lookup + verification per review), 1 client: $(run --url "$url" --clients 1 --once "$work"/cold/*.json)"
run --url "$url" --clients 1 --requests 10 "$work/warm.json" >/dev/null
log "bound, warm: skipped-namespace review, 1 client: $(run --url "$url" --clients 1 --requests 5000 --no-patch "$work/floor.json")"
log "warm admission, 1 client: $(run --url "$url" --clients 1 --requests 5000 "$work/warm.json")"
log "bound, warm: skipped-namespace review, $clients clients: $(run --url "$url" --clients "$clients" --requests "$requests" --no-patch "$work/floor.json")"
log "warm admission, $clients clients: $(run --url "$url" --clients "$clients" --requests "$requests" "$work/warm.json")"
log "warm admission of a 4-image Pod (pod.json), $clients clients: $(run --url "$url" --clients "$clients" --requests "$requests" "$work/pod4.json")"
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "summary: $out/summary.txt"
