#!/usr/bin/env bash
# Registry mirror benchmark (issue 13), one run on loopback with release binaries:
#   - a docker-registry (Debian's), a log (taglog-server) with one witness (quorum 1), and
#     `taglog mirror` in front of the registry;
#   - two images pushed and published: acme/app:1 (a small image) and acme/big:1, whose layer is
#     a BENCH_BLOB_MIB MiB blob of random bytes;
#   - manifest by tag, warm cache: `GET /v2/acme/app/manifests/1` (OCI Accept), through the
#     mirror and, as the bound, direct from the registry; curl on one keep-alive connection,
#     BENCH_ROUNDS rounds of BENCH_REQUESTS requests, mirror and direct alternating so that
#     both see the same machine load; latency p50/p99/mean, and the mirror's extra time;
#   - blob throughput: `GET /v2/acme/big/blobs/<digest>` through the mirror and, as the bound,
#     direct, BENCH_ROUNDS times each, alternating; MiB/s (median) and the ratio.
# Every answer is checked: HTTP 200, the manifest's Docker-Content-Digest is the published
# digest, every blob download has the blob's full size, and one download through the mirror
# hashes to its digest. A wrong answer fails the run.
#
# Usage: scripts/bench-mirror.sh
# Env:   BENCH_REQUESTS (default 1000 per round), BENCH_ROUNDS (default 5), BENCH_BLOB_MIB
#        (default 256), BENCH_PORT (default 19180; uses 4 ports), CARGO_TARGET_DIR (default
#        ./target), BENCH_OUT (default $CARGO_TARGET_DIR/bench-mirror), BENCH_PROFILE (default
#        release; `dev` only checks that the script works: its figures mean nothing).
# Needs docker-registry, curl, python3 (Debian packages).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-mirror}"
requests="${BENCH_REQUESTS:-1000}"
rounds="${BENCH_ROUNDS:-5}"
blob_mib="${BENCH_BLOB_MIB:-256}"
port="${BENCH_PORT:-19180}"
mkdir -p "$out"

registry_bin=/usr/bin/docker-registry
[ -x "$registry_bin" ] || registry_bin=$(command -v docker-registry) || {
    echo "docker-registry is missing (apt-get install docker-registry)" >&2
    exit 1
}
for tool in curl python3; do
    command -v "$tool" >/dev/null || {
        echo "$tool is missing" >&2
        exit 1
    }
done

profile="${BENCH_PROFILE:-release}"
cargo build --profile "$profile" --locked -p taglog-server --bin taglog-server
cargo build --profile "$profile" --locked -p taglog-monitor --bin taglog-witness
cargo build --profile "$profile" --locked -p taglog --bin taglog
bin="$target/$([ "$profile" = dev ] && echo debug || echo "$profile")"
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

reg_port=$port log_port=$((port + 1)) w_port=$((port + 2)) m_port=$((port + 3))
reg="127.0.0.1:$reg_port"
mirror="127.0.0.1:$m_port"

# --- registry, log, witness -----------------------------------------------------------------
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $reg
  secret: taglog-bench
EOF
"$registry_bin" serve "$work/registry.yml" >"$out/registry.err" 2>&1 &
pids+=("$!")
reg_pid=$!
wait_port "$reg_port"

log_vkey=$("$bin/taglog" keygen --name localhost/taglog -o "$work/log.key" 2>/dev/null)
pub_vkey=$("$bin/taglog" keygen --name bench.example/publisher -o "$work/pub.key" 2>/dev/null)
"$bin/taglog-witness" --key "$work/w1.key" --init --name witness.example/w1 >"$work/w1.vkey"
w_vkey=$(tail -1 "$work/w1.vkey")
RUST_LOG=warn "$bin/taglog-witness" --key "$work/w1.key" --log "$log_vkey" \
    --listen "127.0.0.1:$w_port" --data-dir "$work/w1-data" >"$out/witness.err" 2>&1 &
pids+=("$!")
wait_port "$w_port"
echo "publisher $reg/acme $pub_vkey" >"$work/publishers"
RUST_LOG=warn "$bin/taglog-server" --data-dir "$work/log" --key "$work/log.key" \
    --listen "127.0.0.1:$log_port" --publishers "$work/publishers" \
    --witness "$w_vkey" "http://127.0.0.1:$w_port" >"$out/server.err" 2>&1 &
pids+=("$!")
wait_port "$log_port"
cat >"$work/policy" <<EOF
log $log_vkey http://127.0.0.1:$log_port
witness w1 $w_vkey
quorum w1
publisher $reg/acme $pub_vkey
insecure-registry $reg
max-age 1h
EOF

# --- images ----------------------------------------------------------------------------------
push_blob() { # REPO FILE DIGEST
    local base="http://$reg/v2/$1" location
    location=$(curl -fsS -X POST -o /dev/null -D - "$base/blobs/uploads/" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case $location in http*) ;; *) location="http://$reg$location" ;; esac
    case $location in *\?*) location="$location&digest=$3" ;; *) location="$location?digest=$3" ;; esac
    curl -fsS -X PUT -o /dev/null -H 'Content-Type: application/octet-stream' \
        --data-binary "@$2" "$location"
}
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
app_digest=$(scripts/lib/push-image.sh "$reg" acme/app 1 bench)
head -c "$((blob_mib * 1024 * 1024))" /dev/urandom >"$work/big.layer"
big_blob=$(sha "$work/big.layer")
blob_size=$(stat -c %s "$work/big.layer")
push_blob acme/big "$work/big.layer" "$big_blob"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$big_blob" >"$work/big.config"
push_blob acme/big "$work/big.config" "$(sha "$work/big.config")"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
    "$(sha "$work/big.config")" "$(stat -c %s "$work/big.config")" "$big_blob" "$blob_size" \
    >"$work/big.manifest"
curl -fsS -X PUT -o /dev/null -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@$work/big.manifest" "http://$reg/v2/acme/big/manifests/1"
rm -f "$work/big.layer"
for r in app big; do
    "$bin/taglog" --policy "$work/policy" --state-dir "$work/publisher-state" publish \
        "$reg/acme/$r:1" --key "$work/pub.key" >/dev/null 2>>"$out/publish.err"
done
log "published $reg/acme/app:1 ($app_digest) and acme/big:1 (one ${blob_mib} MiB layer $big_blob)"

# --- the mirror --------------------------------------------------------------------------------
RUST_LOG=warn "$bin/taglog" --policy "$work/policy" --state-dir "$work/mirror-state" mirror \
    --listen "$mirror" --upstream "$reg" --cache-ttl 10m >"$out/mirror.err" 2>&1 &
pids+=("$!")
m_pid=$!
wait_port "$m_port"
accept='Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json'

# The first request through the mirror verifies the tag with the log (cold); check its answer.
cold=$(curl -fsS -o /dev/null -D "$work/cold.headers" -H "$accept" -w '%{time_total}' \
    "http://$mirror/v2/acme/app/manifests/1")
served=$(tr -d '\r' <"$work/cold.headers" | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')
[ "$served" = "$app_digest" ] || {
    echo "the mirror served $served for acme/app:1, expected $app_digest" >&2
    exit 1
}
log "first manifest-by-tag request through the mirror (cold: one /lookup and verification): $(python3 -c "print(f'{$cold * 1000:.2f} ms')")"

# manifests HOST FILE: BENCH_REQUESTS GETs on one keep-alive connection; "code seconds" lines.
manifests() {
    local cfg="$work/curl-$1.cfg" i
    if [ ! -f "$cfg" ]; then
        for i in $(seq 1 "$requests"); do
            printf 'url = "http://%s/v2/acme/app/manifests/1"\noutput = "/dev/null"\n' "$1"
        done >"$cfg"
    fi
    curl -sS -H "$accept" -w '%{http_code} %{time_total}\n' --config "$cfg" >>"$2"
}
: >"$work/direct.txt"
: >"$work/mirror.txt"
for round in $(seq 1 "$rounds"); do
    manifests "$reg" "$work/direct.txt"
    manifests "$mirror" "$work/mirror.txt"
done

# CPU time (clock ticks, user + system) a process has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# blobs HOST FILE: one blob download; "code bytes seconds registry-ticks mirror-ticks" line (the
# CPU time the registry and the mirror spent during the download).
blob() {
    local r0 m0 line
    r0=$(ticks "$reg_pid") m0=$(ticks "$m_pid")
    line=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}' \
        "http://$1/v2/acme/big/blobs/$big_blob")
    echo "$line $(( $(ticks "$reg_pid") - r0 )) $(( $(ticks "$m_pid") - m0 ))" >>"$2"
}
through=$(curl -fsS "http://$mirror/v2/acme/big/blobs/$big_blob" | sha256sum | cut -d' ' -f1)
[ "sha256:$through" = "$big_blob" ] || {
    echo "the blob through the mirror hashes to sha256:$through, expected $big_blob" >&2
    exit 1
}
: >"$work/blob-direct.txt"
: >"$work/blob-mirror.txt"
for round in $(seq 1 "$rounds"); do
    blob "$reg" "$work/blob-direct.txt"
    blob "$mirror" "$work/blob-mirror.txt"
done
cp "$work"/direct.txt "$work"/mirror.txt "$work"/blob-*.txt "$out/"

python3 - "$work" "$blob_size" "$requests" "$rounds" "$(getconf CLK_TCK)" <<'EOF' | tee -a "$out/summary.txt"
import statistics, sys
work, size, requests, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tck = int(sys.argv[5])

def rows(name, fields):
    out = []
    for line in open(f"{work}/{name}"):
        parts = line.split()
        if len(parts) != fields or parts[0] != "200":
            sys.exit(f"{name}: unexpected answer {line.strip()!r}")
        out.append([float(p) for p in parts[1:]])
    return out

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]

d = [r[0] * 1000 for r in rows("direct.txt", 2)]
m = [r[0] * 1000 for r in rows("mirror.txt", 2)]
assert len(d) == len(m) == requests * rounds, "missing answers"
print(f"manifest by tag, warm, 1 client, {len(d)} requests each (ms):")
print(f"  {'':28} {'p50':>8} {'p99':>8} {'mean':>8}")
for label, xs in (("direct (bound)", d), ("through the mirror", m)):
    print(f"  {label:28} {pct(xs, 50):8.3f} {pct(xs, 99):8.3f} {statistics.mean(xs):8.3f}")
print(f"  ratio mirror/direct:         {pct(m, 50) / pct(d, 50):8.2f} {pct(m, 99) / pct(d, 99):8.2f} {statistics.mean(m) / statistics.mean(d):8.2f}")
print(f"  mirror overhead (p50):       {pct(m, 50) - pct(d, 50):8.3f} ms")

mib = size / 1048576
bd = rows("blob-direct.txt", 5)
bm = rows("blob-mirror.txt", 5)
for name, rs in (("direct", bd), ("mirror", bm)):
    if any(int(r[0]) != size for r in rs):
        sys.exit(f"a {name} blob download was not {size} bytes")
sd = [mib / r[1] for r in bd]
sm = [mib / r[1] for r in bm]
print(f"blob of {mib:.0f} MiB, {len(sd)} downloads each (MiB/s): direct (bound) median {statistics.median(sd):.0f} "
      f"[{min(sd):.0f}-{max(sd):.0f}], through the mirror median {statistics.median(sm):.0f} [{min(sm):.0f}-{max(sm):.0f}]")
ratio = statistics.median(sm) / statistics.median(sd)
print(f"  ratio mirror/direct (medians): {ratio:.3f}  goal >= 0.90: {'met' if ratio >= 0.9 else 'missed'}")
# CPU seconds per GiB moved, summed over the downloads (what each byte costs on these cores).
gib = len(bd) * size / 2**30
cpu = lambda rs, i: sum(r[i] for r in rs) / tck / gib
print(f"  CPU s per GiB: registry serving direct {cpu(bd, 2):.2f}; through the mirror: registry {cpu(bm, 2):.2f} + mirror {cpu(bm, 3):.2f} (mirror during direct downloads {cpu(bd, 3):.2f})")
EOF
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "summary: $out/summary.txt"
