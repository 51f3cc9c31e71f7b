#!/usr/bin/env bash
# Explorer benchmark (issue 16), one run on loopback with release binaries:
#   - a log (taglog-server) with two witnesses (both must cosign); `taglog-loadgen --versions-of`
#     submits BENCH_VERSIONS (default 1000) versions of one ref in order, and one version of a
#     second ref (the small page);
#   - server time per tag page: `GET /explore/tag?ref=<big>` (the newest page of versions,
#     what a reader gets first) and `...&cursor=1` (the oldest page), with curl on one
#     keep-alive connection, BENCH_REQUESTS (default 200) requests after 5 warm-ups, time to
#     first byte (the page is rendered whole before it is sent); as the bound, in the same run
#     and the same way, the `GET /history?ref=<big>&cursor=<first version shown>` page whose
#     entries with inclusion proofs the tag page embeds, every `/history` page of the ref
#     (summed: what one page of all 1,000 versions embedded before the timeline was paged) and
#     `GET /lookup?ref=<big>`;
#   - in-browser verification time: headless Debian chromium driven by chromedriver (plain
#     WebDriver over HTTP from python3), the page's keys field filled with the log's and the
#     witnesses' keys, Verify pressed, BENCH_BROWSER_ROUNDS (default 5) times after one warm-up;
#     the figure is the page's own measure (`data-ms` of the verdict: the WebAssembly checks,
#     the report, the marks on every row), and click-to-verdict wall time; as the bound, the
#     same on the one-version ref (the fixed cost: checkpoint, cosignatures, map proof).
# Every answer is checked: pages and proofs HTTP 200, the big page shows its newest versions
# with the newest marked current, its "older" links reach every version, and every
# verification verdict is `ok`. A wrong answer fails the run.
#
# Usage: scripts/bench-explorer.sh
# Env:   BENCH_VERSIONS (default 1000), BENCH_REQUESTS (default 200), BENCH_BROWSER_ROUNDS
#        (default 5), BENCH_PORT (default 19280; uses 4 ports), CARGO_TARGET_DIR (default
#        ./target), BENCH_OUT (default $CARGO_TARGET_DIR/bench-explorer), BENCH_PROFILE (default
#        release; `dev` only checks that the script works: its figures mean nothing).
# Needs curl, python3, chromium, chromium-driver (Debian packages) and the
# wasm32-unknown-unknown target (the explorer embeds its verifier).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
out="${BENCH_OUT:-$target/bench-explorer}"
versions="${BENCH_VERSIONS:-1000}"
requests="${BENCH_REQUESTS:-200}"
rounds="${BENCH_BROWSER_ROUNDS:-5}"
port="${BENCH_PORT:-19280}"
mkdir -p "$out"
for tool in curl python3 chromium chromedriver; do
    command -v "$tool" >/dev/null || {
        echo "$tool is missing (apt-get install curl python3 chromium chromium-driver)" >&2
        exit 1
    }
done

profile="${BENCH_PROFILE:-release}"
cargo build --profile "$profile" --locked -p taglog-server --bin taglog-server --bin taglog-loadgen
cargo build --profile "$profile" --locked -p taglog-monitor --bin taglog-witness
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
log "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git rev-parse --short HEAD); profile $profile; cpus: $(nproc) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); load $(cut -d' ' -f1-3 /proc/loadavg)"

wait_port() {
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}

log_port=$port d_port=$((port + 3))
url="http://127.0.0.1:$log_port"
big="loadgen.example/bench/app:big"
small="loadgen.example/bench/app:small"

# --- log and witnesses ---------------------------------------------------------------------
"$bin/taglog-loadgen" allowlist >"$work/publishers"
# The first start generates the log key (printed as a vkey); the witnesses need it.
RUST_LOG=warn "$bin/taglog-server" --data-dir "$work/log" --listen "127.0.0.1:$log_port" \
    --publishers "$work/publishers" >"$out/server-init.out" 2>&1 &
p=$!
wait_port "$log_port"
kill -TERM "$p"
wait "$p" || true
log_vkey=$(grep -m1 '^localhost/taglog+' "$out/server-init.out")
witness_args=()
keys="$log_vkey"
for n in 1 2; do
    "$bin/taglog-witness" --key "$work/w$n.key" --init --name "witness.example/w$n" >"$work/w$n.vkey"
    RUST_LOG=warn "$bin/taglog-witness" --key "$work/w$n.key" --log "$log_vkey" \
        --listen "127.0.0.1:$((port + n))" --data-dir "$work/w$n-data" >"$out/w$n.err" 2>&1 &
    pids+=("$!")
    wait_port $((port + n))
    witness_args+=(--witness "$(tail -1 "$work/w$n.vkey")" "http://127.0.0.1:$((port + n))")
    keys="$keys"$'\n'"$(tail -1 "$work/w$n.vkey")"
done
RUST_LOG=warn "$bin/taglog-server" --data-dir "$work/log" --listen "127.0.0.1:$log_port" \
    --publishers "$work/publishers" --publisher-rate 0 --witness-refresh 1h \
    "${witness_args[@]}" --witness-quorum 2 >"$out/server.out" 2>"$out/server.err" &
pids+=("$!")
wait_port "$log_port"

r=$("$bin/taglog-loadgen" --url "$url" --versions-of "$big" --count "$versions")
log "published $versions versions of $big: $r"
case $r in *" 0 failed"*) ;; *) echo "some versions failed" >&2; exit 1 ;; esac
r=$("$bin/taglog-loadgen" --url "$url" --versions-of "$small" --count 1)
log "published 1 version of $small: $r"

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
page="$url/explore/tag?ref=$(enc "$big")"
# The newest page (at most 100 rows, the newest version current), and every version reachable
# by following the "older" links, as a reader would.
python3 - "$url" "$page" "$versions" <<'EOF' | tee -a "$out/summary.txt"
import html, re, sys, urllib.request
base, page, versions = sys.argv[1], sys.argv[2], int(sys.argv[3])
def get(u):
    with urllib.request.urlopen(u, timeout=60) as r:
        return r.read().decode()
text = get(page)
first = [int(v) for v in re.findall(r'data-version="(\d+)"', text)]
if not first or first[-1] != versions or 'class="current" data-index' not in text:
    sys.exit(f"the tag page does not show version {versions} as current: {first[-3:]}")
if text.count('class="current') != 1:
    sys.exit("more than one row marked current")
seen, pages, size = set(first), 1, len(text.encode())
while (m := re.search(r'<a id="older" href="([^"]+)"', text)):
    text = get(base + html.unescape(m.group(1)))
    seen.update(int(v) for v in re.findall(r'data-version="(\d+)"', text))
    pages += 1
    if pages > versions:
        sys.exit("the older links do not end")
if seen != set(range(1, versions + 1)):
    sys.exit(f"following the older links shows {len(seen)} of {versions} versions")
print(f"tag page of the big ref: {len(first)} rows (versions {first[0]}-{first[-1]}, {versions} current), "
      f"{size} bytes; all {versions} versions reachable over {pages} pages by the older links")
EOF
from_version=$(curl -fsS "$page" | grep -o 'data-version="[0-9]*"' | head -1 | tr -dc 0-9)
oldest_page="$page&cursor=1"

# --- server time per page ------------------------------------------------------------------
# Time to first byte of each request on one keep-alive connection (5 warm-ups first).
ttfb() { # URL -> one line: p50 p90 mean (ms)
    local args=() i
    for i in $(seq 1 $((requests + 5))); do args+=(-o /dev/null "$1"); done
    curl -fsS -w '%{http_code} %{time_starttransfer} %{time_pretransfer}\n' \
        "${args[@]}" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
bad = [r for r in rows if r[0] != "200"]
if bad:
    sys.exit(f"HTTP {bad[0][0]}")
t = sorted((float(r[1]) - float(r[2])) * 1e3 for r in rows[5:])
print(f"{t[len(t) // 2]:.2f} {t[int(len(t) * 0.9)]:.2f} {statistics.mean(t):.2f}")'
}
# The /history pages the tag page is built from (the server gives 100 entries a page).
hist_urls=()
cursor=0
while [ -n "$cursor" ]; do
    hist_urls+=("$url/history?ref=$(enc "$big")&cursor=$cursor")
    cursor=$(curl -fsS "${hist_urls[-1]}" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("next_cursor") or "")')
done
log "/history pages of $big: ${#hist_urls[@]}; the tag page shows versions from $from_version on"
for round in 1 2 3; do
    p=$(ttfb "$page")
    o=$(ttfb "$oldest_page")
    hp=$(ttfb "$url/history?ref=$(enc "$big")&cursor=$from_version")
    h=$(for u in "${hist_urls[@]}"; do ttfb "$u"; done | awk '{a += $1; b += $2; c += $3} END {printf "%.2f %.2f %.2f", a, b, c}')
    l=$(ttfb "$url/lookup?ref=$(enc "$big")")
    log "round $round, ms p50 p90 mean: tag page $p | oldest tag page $o | its /history page $hp | all /history pages (sum) $h | /lookup $l"
    echo "$p $o $hp $h $l" >>"$work/server-rounds"
done
python3 - "$work/server-rounds" <<'EOF' | tee -a "$out/summary.txt"
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
med = lambda i: statistics.median(r[i] for r in rows)
page, old, hist, allh, look = med(0), med(3), med(6), med(9), med(12)
print(f"server, median of round p50s: tag page {page:.2f} ms = {page / hist:.2f} x its /history page ({hist:.2f} ms) "
      f"= {page / allh:.2f} x all /history pages of the ref ({allh:.2f} ms), {page / look:.1f} x /lookup ({look:.2f} ms); "
      f"oldest tag page {old:.2f} ms = {old / hist:.2f} x")
EOF

# --- in-browser verification ---------------------------------------------------------------
chromedriver --port="$d_port" >"$out/chromedriver.log" 2>&1 &
pids+=("$!")
wait_port "$d_port"
KEYS="$keys" python3 - "http://127.0.0.1:$d_port" "$page" "$url/explore/tag?ref=$(enc "$small")" \
    "$rounds" "$work/profile" <<'EOF' | tee -a "$out/summary.txt"
import json, os, statistics, sys, urllib.request

driver, big, small, rounds, profile = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

def call(method, path, body=None):
    req = urllib.request.Request(driver + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.load(r)["value"]

caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
    "binary": "/usr/bin/chromium",
    "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--window-size=1200,900", "--user-data-dir=" + profile]}}}}
session = call("POST", "/session", caps)["sessionId"]
s = "/session/" + session
call("POST", s + "/timeouts", {"script": 300000, "pageLoad": 300000})
VERIFY = """
var keys = arguments[0], done = arguments[arguments.length - 1];
var box = document.getElementById('verify');
var t0 = performance.now();
(function ready() {
  if (box.getAttribute('data-state') !== 'ready' && box.getAttribute('data-state') !== 'ok' &&
      box.getAttribute('data-state') !== 'fail') { return setTimeout(ready, 5); }
  document.getElementById('keys').value = keys;
  var v = document.getElementById('verify-verdict');
  v.removeAttribute('data-result');
  var c0 = performance.now();
  document.getElementById('verify-button').click();
  (function poll() {
    var r = v.getAttribute('data-result');
    if (!r) { return setTimeout(poll, 1); }
    done({result: r, ms: Number(v.getAttribute('data-ms')), wall: performance.now() - c0,
          rows: document.querySelectorAll('#timeline tr[data-verified="ok"]').length,
          text: v.innerText});
  })();
})();
"""
def measure(page):
    call("POST", s + "/url", {"url": page})
    out = []
    for i in range(rounds + 1):
        r = call("POST", s + "/execute/async", {"script": VERIFY, "args": [os.environ["KEYS"]]})
        if r["result"] != "ok":
            sys.exit(f"verification failed on {page}: {r}")
        if i > 0:
            out.append(r)
    return out
try:
    b = measure(big)
    m = measure(small)
finally:
    call("DELETE", s)
for name, rs in (("big", b), ("small", m)):
    print(f"browser, {name} page ({rs[0]['rows']} rows verified): verify ms " +
          " ".join(f"{r['ms']:.1f}" for r in rs) + "; click-to-verdict ms " +
          " ".join(f"{r['wall']:.0f}" for r in rs))
bm = statistics.median(r["ms"] for r in b)
sm = statistics.median(r["ms"] for r in m)
bw = statistics.median(r["wall"] for r in b)
print(f"browser, medians: {bm:.0f} ms to verify the big page (click-to-verdict {bw:.0f} ms) = {bm / max(sm, 0.1):.1f} x the one-version page ({sm:.1f} ms)")
EOF
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
