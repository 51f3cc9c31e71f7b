#!/usr/bin/env bash
# Runs the taglog-proofs criterion benchmarks (release) and the Go sumdb tlog/note peer in one
# run, then prints one table: operation, taglog ns, Go ns, taglog/Go, and the ratio to the bound
# measured in the same run (one raw SHA-256 node hash for tree and map operations, one raw
# Ed25519 verify_strict for signature operations; DESIGN rev 2 forbids batch verification).
#
# Usage: scripts/bench.sh [--table-only]   (--table-only re-prints the table of the last run)
# Env:   CARGO_TARGET_DIR (default ./target), TAGLOG_MAP_BENCH_KEYS (default 1000000),
#        BENCH_OUT (default $CARGO_TARGET_DIR/bench-run) for the raw logs.
# Needs: cargo, python3, Debian golang-go + golang-golang-x-mod-dev (Go column left empty
#        without them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-run}"
mkdir -p "$out"

if [[ "${1:-}" != "--table-only" ]]; then
    date -u +%s >"$out/start"
    {
        echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "cpus: $(nproc)  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "load before: $(uptime | sed 's/.*load average: //')"
    } >"$out/env"
    cargo bench -p taglog-proofs --benches 2>&1 | tee "$out/cargo-bench.log"
    date -u +%s >"$out/end"
    echo "load after cargo bench: $(uptime | sed 's/.*load average: //')" >>"$out/env"
    if command -v go >/dev/null; then
        "$root/scripts/bench-go.sh" 2>&1 | tee "$out/go.txt"
    else
        echo "go not installed: Go column left empty" | tee "$out/go.txt"
    fi
    echo "load after go: $(uptime | sed 's/.*load average: //')" >>"$out/env"
fi

python3 - "$target/criterion" "$out" <<'PY'
import json, os, sys

crit, out = sys.argv[1], sys.argv[2]
def stamp(name, default):
    path = os.path.join(out, name)
    return int(open(path).read().strip()) if os.path.exists(path) else default

# Only results written between the start and the end of this run's cargo bench.
start, end = stamp("start", 0), stamp("end", 1 << 62)

# taglog criterion id -> median ns, only from results written by this run.
tl = {}
for d, _, files in os.walk(crit):
    if os.path.basename(d) != "new" or "estimates.json" not in files:
        continue
    est = os.path.join(d, "estimates.json")
    if not start - 1 <= os.path.getmtime(est) <= end + 1:
        continue
    try:
        full_id = json.load(open(os.path.join(d, "benchmark.json")))["full_id"]
    except (OSError, KeyError, ValueError):
        full_id = os.path.relpath(os.path.dirname(d), crit)
    tl[full_id] = json.load(open(est))["median"]["point_estimate"]

go = {}
for line in open(os.path.join(out, "go.txt")):
    p = line.split()
    if len(p) == 2:
        try:
            go[p[0]] = float(p[1])
        except ValueError:
            pass

def find(suffix):
    for k in sorted(tl):
        if k == suffix or k.endswith("/" + suffix):
            return k, tl[k]
    return None, None

_, hash_bound = find("sha256_node_hash")
_, sig_bound = find("ed25519_verify_strict_96B")
_, bundle_bound = find("bundle_bound_ed25519_verify_strict")
map_update = next((k for k in tl if k.startswith("map/update_batch_")), None)
per_update = 1000.0
if map_update:
    try:
        per_update = float(map_update.split("_")[2])
    except (IndexError, ValueError):
        pass

# (label, taglog id, divisor, Go name, bound kind)
rows = [
    ("sha256 node hash (bound H)", "merkle_1e6/sha256_node_hash", 1, "sha256_node_hash", "H"),
    ("append at 1e6", "merkle_1e6/append", 1, "append", "H"),
    ("inclusion proof at 1e6", "merkle_1e6/inclusion_proof", 1, "inclusion_prove", "H"),
    ("verify inclusion at 1e6", "merkle_1e6/verify_inclusion", 1, "inclusion_verify", "H"),
    ("consistency proof at 1e6", "merkle_1e6/consistency_proof", 1, "consistency_prove", "H"),
    ("verify consistency at 1e6", "merkle_1e6/verify_consistency", 1, "consistency_verify", "H"),
    ("ed25519 verify_strict (bound V)", "ed25519_verify_strict_96B", 1, "ed25519_verify", "V"),
    ("checkpoint sign", "checkpoint_sign", 1, "checkpoint_sign", "V"),
    ("checkpoint open+verify", "checkpoint_open_verify", 1, "checkpoint_open_verify", "V"),
    ("checkpoint open+verify+cosig", "checkpoint_open_verify_with_cosignature", 1, None, "V"),
    ("cosignature verify", "cosignature_verify", 1, None, "V"),
    ("map update (per key, batch)", map_update or "map/update_batch", per_update, None, "H"),
    ("map prove (present)", "map/prove_present", 1, None, "H"),
    ("map verify (present)", "map/verify_present", 1, None, "H"),
    ("map verify (absent)", "map/verify_absent", 1, None, "H"),
    ("ed25519 verify_strict (bound B)", "bundle_bound_ed25519_verify_strict", 1, None, "B"),
    ("bundle parse+verify (3 sigs)", "bundle_parse_verify", 1, None, "B"),
    ("bundle policy+parse+verify", "bundle_policy_parse_verify", 1, None, "B"),
]

def fmt(x):
    return "-" if x is None else (f"{x:,.1f}" if x < 1e5 else f"{x:,.0f}")

print()
print(open(os.path.join(out, "env")).read().rstrip())
print("taglog: criterion median; Go: testing.Benchmark mean. H = raw SHA-256 node hash, V = raw Ed25519 verify_strict (notes bench), B = the same verify_strict timed inside the bundle bench; all from this run.")
hdr = ("operation", "taglog ns", "Go ns", "taglog/Go", "x bound")
w = (38, 12, 12, 10, 12)
print("| " + " | ".join(h.ljust(n) for h, n in zip(hdr, w)) + " |")
print("|" + "|".join("-" * (n + 2) for n in w) + "|")
for label, tid, div, gname, kind in rows:
    _, t = find(tid)
    if t is not None:
        t = t / div
    g = go.get(gname) if gname else None
    bound = {"H": hash_bound, "V": sig_bound, "B": bundle_bound}[kind]
    ratio_go = f"{t / g:.2f}" if t is not None and g else "-"
    ratio_b = f"{t / bound:.2f} {kind}" if t is not None and bound else "-"
    cells = (label, fmt(t), fmt(g), ratio_go, ratio_b)
    print("| " + " | ".join(c.ljust(n) for c, n in zip(cells, w)) + " |")
if go.get("sha256_node_hash") and go.get("ed25519_verify"):
    print(f"Go's own bounds in this run: node hash {go['sha256_node_hash']:.1f} ns, ed25519 verify {go['ed25519_verify']:.1f} ns")
PY
grep -h '^map: ' "$out/cargo-bench.log" 2>/dev/null || true
