#!/usr/bin/env bash
# The taglog demo: a whole deployment on loopback, an attack, and what catches it.
#
# Installs what a fresh Debian machine with Rust lacks, builds the workspace, and starts a
# registry, a "malicious mirror" registry, the log server (embedded RocksDB) with two witnesses
# (one auditing), a monitor with a watch list, and `taglog mirror` (the verifying pull-through
# proxy) in front of the malicious mirror. Then it publishes localhost:PORT/acme/heavylifter:1.5,
# verifies it, pulls it with skopeo through `taglog mirror`, moves the tag to a rebuilt image,
# lets the mirror replay the old image and shows the client's rejection, the pull itself
# refused (skopeo gets the mirror's DENIED), and the monitor's alerts.
#
#   scripts/demo.sh [--keep] [--release]
#
# --keep     leave the services running at the end and print how to use and stop them
# --release  build and run the release profile (the default debug build compiles faster)
#
# Everything lives in a temporary work directory, removed at exit unless --keep is given or a
# step failed (then it is kept for its logs). Set TAGLOG_DEMO_NO_INSTALL=1 to skip apt-get.
set -euo pipefail

keep=0
profile=debug
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    --release) profile=release ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "demo.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
started_at=$(date +%s)

if [ -t 1 ]; then
  bold=$'\e[1m' dim=$'\e[2m' red=$'\e[31m' green=$'\e[32m' off=$'\e[0m'
else
  bold='' dim='' red='' green='' off=''
fi
n=0
step() {
  n=$((n + 1))
  printf '\n%s%2d. %s%s\n' "$bold" "$n" "$*" "$off"
}
say() { printf '    %s\n' "$*"; }
show() { # show a command as the user would type it
  printf '    %s$ %s%s\n' "$dim" "$*" "$off"
}
more() { printf '    %s      %s%s\n' "$dim" "$*" "$off"; } # continuation of a shown command
indent() { sed 's/^/      /'; }
die() {
  printf '%sdemo.sh: %s%s\n' "$red" "$*" "$off" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
step "Checking prerequisites"
need=()
[ -x /usr/bin/docker-registry ] || command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
if [ "${#need[@]}" -gt 0 ]; then
  [ "${TAGLOG_DEMO_NO_INSTALL:-0}" = 1 ] && die "missing: ${need[*]} (and TAGLOG_DEMO_NO_INSTALL=1)"
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "missing: ${need[*]}; run as root or install them"
    sudo=(sudo)
  fi
  say "installing: ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" |
    indent
else
  say "docker-registry, skopeo, libclang-dev, clang, curl and jq are installed"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs)"
registry_bin=/usr/bin/docker-registry
[ -x "$registry_bin" ] || registry_bin=$(command -v docker-registry)

# ---------------------------------------------------------------------------------------------
step "Building taglog ($profile; the bundled RocksDB takes about 10 minutes the first time)"
cargo_args=(--workspace --bins --locked)
[ "$profile" = release ] && cargo_args+=(--release)
if [ -t 2 ]; then
  cargo build "${cargo_args[@]}" || die "cargo build failed"
else
  cargo build "${cargo_args[@]}" 2>&1 | { grep -v '^ *Compiling ' || true; } | indent ||
    die "cargo build failed"
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="$target_dir/$profile"
for b in taglog taglog-server taglog-witness taglog-monitor; do
  [ -x "$bin/$b" ] || die "$bin/$b was not built"
done
say "binaries in $bin"

# ---------------------------------------------------------------------------------------------
services_at=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/taglog-demo.XXXXXX")
pids=()
ok=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$keep" = 1 ] && [ "$ok" = 1 ]; then
    return
  fi
  if [ "${#pids[@]}" -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  if [ "$ok" = 1 ]; then
    rm -rf "$work"
  else
    printf '\n%sdemo.sh stopped early (exit %s); services stopped; logs kept in %s%s\n' \
      "$red" "$rc" "$work" "$off" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$work"/{keys,logs,client,registry,mirror,skopeo}
used_ports=" "
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    case $used_ports in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      used_ports+="$p "
      echo "$p"
      return
    fi
  done
}
# start NAME CMD...: runs CMD in the background, output in logs/NAME.log, remembers its pid.
start() {
  local name=$1
  shift
  "$@" >"$work/logs/$name.log" 2>&1 &
  pids+=($!)
  echo "$! $name" >>"$work/pids"
}
# wait_http NAME URL STATUS-REGEX: waits up to 60 s for the answer, fails if NAME died.
wait_http() {
  local name=$1 url=$2 want=$3 code i pid
  pid=$(awk -v n="$name" '$2 == n {print $1}' "$work/pids" | tail -1)
  for i in $(seq 1 600); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [[ $code =~ ^($want)$ ]] && return 0
    kill -0 "$pid" 2>/dev/null || {
      tail -20 "$work/logs/$name.log" >&2
      die "$name exited"
    }
    sleep 0.1
  done
  tail -20 "$work/logs/$name.log" >&2
  die "$name did not answer $url in 60 s"
}

reg_port=$(free_port)
mirror_port=$(free_port)
log_port=$(free_port)
w1_port=$(free_port)
w2_port=$(free_port)
mon_port=$(free_port)
tm_port=$(free_port)
registry="localhost:$reg_port"
mirror="localhost:$mirror_port"
log_url="http://127.0.0.1:$log_port"
origin="localhost/taglog-demo"
image="$registry/acme/heavylifter"

export TAGLOG_POLICY="$work/client/policy"
export TAGLOG_STATE_DIR="$work/client/state"
taglog() { "$bin/taglog" "$@"; }

# ---------------------------------------------------------------------------------------------
step "Generating keys (work directory $work)"
show "taglog keygen --name publisher.acme.example -o keys/publisher.key"
publisher_vkey=$("$bin/taglog" keygen --name publisher.acme.example -o "$work/keys/publisher.key" 2>/dev/null)
say "publisher: $publisher_vkey"
show "taglog-witness --init --name witness-1.example --key keys/witness-1.key"
w1_vkey=$("$bin/taglog-witness" --init --name witness-1.example --key "$work/keys/witness-1.key" 2>/dev/null)
say "witness 1: $w1_vkey"
w2_vkey=$("$bin/taglog-witness" --init --name witness-2.example --key "$work/keys/witness-2.key" 2>/dev/null)
say "witness 2: $w2_vkey  (will run with --audit)"
say "the log key is generated by taglog-server at its first start (next steps)"
say "key files: $(stat -c '%A %n' "$work"/keys/* | sed "s|$work/||" | paste -sd, - | sed 's/,/, /g')"

# ---------------------------------------------------------------------------------------------
step "Starting two registries: the publisher's ($registry) and a mirror ($mirror)"
for r in registry mirror; do
  port=$reg_port
  [ "$r" = mirror ] && port=$mirror_port
  cat >"$work/$r/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/$r/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: taglog-demo
EOF
  start "$r" "$registry_bin" serve "$work/$r/config.yml"
done
wait_http registry "http://127.0.0.1:$reg_port/v2/" 200
wait_http mirror "http://127.0.0.1:$mirror_port/v2/" 200
say "both answer /v2/ (Debian docker-registry, no auth, storage in the work directory)"

# ---------------------------------------------------------------------------------------------
step "Starting the log on $log_url with two witnesses (quorum 2)"
printf 'publisher %s/acme %s\n' "$registry" "$publisher_vkey" >"$work/publishers"
show "taglog-server --data-dir log-data --origin $origin --listen 127.0.0.1:$log_port \\"
more "--publishers publishers --witness <w1 vkey> <w1 url> --witness <w2 vkey> <w2 url>"
start log-server env RUST_LOG=warn "$bin/taglog-server" \
  --data-dir "$work/log-data" --origin "$origin" --listen "127.0.0.1:$log_port" \
  --publishers "$work/publishers" \
  --witness "$w1_vkey" "http://127.0.0.1:$w1_port" \
  --witness "$w2_vkey" "http://127.0.0.1:$w2_port" \
  --witness-quorum 2 --commit-timeout 10s
for i in $(seq 1 600); do
  grep -q '^localhost/taglog-demo+' "$work/logs/log-server.log" 2>/dev/null && break
  sleep 0.1
done
log_vkey=$(grep -m1 '^localhost/taglog-demo+' "$work/logs/log-server.log") ||
  die "taglog-server printed no key: $(tail -5 "$work/logs/log-server.log")"
say "generated log key log-data/log.key ($(stat -c %A "$work/log-data/log.key")), vkey:"
say "  $log_vkey"
start witness-1 env RUST_LOG=warn "$bin/taglog-witness" --key "$work/keys/witness-1.key" \
  --log "$log_vkey" --listen "127.0.0.1:$w1_port" --data-dir "$work/witness-1"
start witness-2 env RUST_LOG=warn "$bin/taglog-witness" --key "$work/keys/witness-2.key" \
  --log "$log_vkey" --log-url "$origin=$log_url" --audit \
  --listen "127.0.0.1:$w2_port" --data-dir "$work/witness-2"
wait_http witness-1 "http://127.0.0.1:$w1_port/" '[0-9][0-9][0-9]'
wait_http witness-2 "http://127.0.0.1:$w2_port/" '[0-9][0-9][0-9]'
wait_http log-server "$log_url/checkpoint" 200
wait_http log-server "$log_url/healthz" 200
say "witness-1 on :$w1_port, witness-2 (--audit: replays every entry before cosigning) on :$w2_port"
say "/healthz: $(curl -s "$log_url/healthz")"

# The client's trust policy: this log, both witnesses, the publisher, and a remap rule that lets
# the mirror serve the publisher's repositories (the log is asked about the publisher's ref).
cat >"$TAGLOG_POLICY" <<EOF
log $log_vkey $log_url
witness w1 $w1_vkey http://127.0.0.1:$w1_port
witness w2 $w2_vkey http://127.0.0.1:$w2_port
group both 2 w1 w2
quorum both
publisher $registry/acme $publisher_vkey
remap $mirror/acme $registry/acme
insecure-registry $registry
insecure-registry $mirror
max-age 1h
EOF

# ---------------------------------------------------------------------------------------------
step "Starting the monitor (watch list: $registry/acme)"
show "taglog-monitor --log $log_url --log-key <log vkey> --witness-key <w1> --witness-key <w2> \\"
more "--watch-prefix $registry/acme --alert-file alerts.jsonl --interval 1 --listen 127.0.0.1:$mon_port"
start monitor env RUST_LOG=warn "$bin/taglog-monitor" --follow --interval 1 --max-interval 5 \
  --log "$log_url" --log-key "$log_vkey" --state-dir "$work/monitor" \
  --witness "http://127.0.0.1:$w1_port" --witness "http://127.0.0.1:$w2_port" \
  --witness-key "$w1_vkey" --witness-key "$w2_vkey" \
  --watch-prefix "$registry/acme" --alert-file "$work/alerts.jsonl" \
  --listen "127.0.0.1:$mon_port"
wait_http monitor "http://127.0.0.1:$mon_port/healthz" '[0-9][0-9][0-9]'
say "alerts go to stdout (logs/monitor.log) and alerts.jsonl; /healthz and /metrics on :$mon_port"

# ---------------------------------------------------------------------------------------------
step "Pushing heavylifter 1.4 and 1.5 to $registry (byte-reproducible: same digests every run)"
d14=$(scripts/lib/push-image.sh "$registry" acme/heavylifter 1.4 1.4)
d15=$(scripts/lib/push-image.sh "$registry" acme/heavylifter 1.5 1.5)
say "$image:1.4  $d14"
say "$image:1.5  $d15"

# ---------------------------------------------------------------------------------------------
step "Publishing the bindings (signed by the publisher, appended, cosigned by both witnesses)"
for tag in 1.4 1.5; do
  show "taglog publish $image:$tag --key keys/publisher.key"
  taglog publish "$image:$tag" --key "$work/keys/publisher.key" 2>&1 | indent
done

# ---------------------------------------------------------------------------------------------
step "Verifying $image:1.5"
show "taglog verify $image:1.5"
pull=$(taglog verify "$image:1.5" 2>"$work/verify.err") || {
  indent <"$work/verify.err"
  die "verify failed"
}
indent <"$work/verify.err"
say "${green}pull by digest:${off} $pull"
say "with Docker installed (it pulls from localhost registries over plain HTTP):"
show "docker pull \"\$(taglog verify $image:1.5)\""
show "taglog checkpoint"
taglog checkpoint 2>&1 | indent

# ---------------------------------------------------------------------------------------------
step "The mirror copies 1.5; a client pulling through the mirror verifies it too"
scripts/lib/push-image.sh "$mirror" acme/heavylifter 1.5 1.5 >/dev/null
say "policy rule: remap $mirror/acme $registry/acme"
show "taglog verify $mirror/acme/heavylifter:1.5"
taglog verify "$mirror/acme/heavylifter:1.5" 2>&1 | indent

# ---------------------------------------------------------------------------------------------
step "Pulling through taglog mirror with skopeo: the pull itself is verified"
tmirror="127.0.0.1:$tm_port"
say "taglog mirror proxies the mirror registry; --cache-ttl 0s makes this demo see the tag move"
say "at once (the default reuses a verified answer for 60 s, never beyond the policy's max-age)"
show "taglog mirror --listen $tmirror --upstream $mirror --cache-ttl 0s --state-dir mirror-state"
start taglog-mirror env RUST_LOG=warn "$bin/taglog" --state-dir "$work/mirror-state" \
  mirror --listen "$tmirror" --upstream "$mirror" --cache-ttl 0s
wait_http taglog-mirror "http://$tmirror/healthz" 200
# skopeo (containers/image) reads registries.conf: pulls of $mirror go to taglog mirror, and so
# does the fallback (location), so a refusal cannot turn into a direct, unverified pull.
skopeo_conf="$work/skopeo/registries.conf"
cat >"$skopeo_conf" <<EOF
unqualified-search-registries = []

[[registry]]
prefix = "$mirror"
location = "$tmirror"
insecure = true

[[registry.mirror]]
location = "$tmirror"
insecure = true
EOF
say "registries.conf (for podman, CRI-O and buildah too; containerd uses hosts.toml):"
indent <"$skopeo_conf"
# skopeo's own signature policy is not used (--insecure-policy): taglog decides.
# denied FILE: skopeo's error names the mirror's DENIED message once per place it tried (the
# mirror, then the location, here the mirror too); show it once, folded.
denied() {
  local msg
  msg=$(grep -o 'denied: taglog: [^]]*' "$1" | head -1)
  if [ -n "$msg" ]; then
    printf 'skopeo: ... reading manifest 1.5 in %s/acme/heavylifter: %s\n' "$tmirror" "$msg" |
      fold -s -w 92 | indent
  else
    indent <"$1"
  fi
}
tskopeo() {
  HOME="$work/skopeo" TMPDIR="$work/skopeo" skopeo --registries-conf "$skopeo_conf" \
    --insecure-policy "$@"
}
show "skopeo --registries-conf registries.conf copy docker://$mirror/acme/heavylifter:1.5 dir:pulled"
tskopeo copy -q "docker://$mirror/acme/heavylifter:1.5" "dir:$work/pulled" 2>&1 | indent ||
  die "skopeo copy through taglog mirror failed: $(tail -5 "$work/logs/taglog-mirror.log")"
pulled="sha256:$(sha256sum "$work/pulled/manifest.json" | cut -d' ' -f1)"
[ "$pulled" = "$d15" ] || die "skopeo pulled $pulled, expected $d15"
say "${green}pulled${off}: manifest $pulled, the digest the log binds to 1.5"

# ---------------------------------------------------------------------------------------------
step "Moving the tag: 1.5 is rebuilt with a security fix and published again (version 2)"
d15b=$(scripts/lib/push-image.sh "$registry" acme/heavylifter 1.5 1.5-security-fix)
say "$image:1.5  $d15  ->  $d15b"
show "taglog publish $image:1.5 --key keys/publisher.key"
taglog publish "$image:1.5" --key "$work/keys/publisher.key" 2>&1 | indent
show "taglog verify $image:1.5"
taglog verify "$image:1.5" 2>&1 | indent

# ---------------------------------------------------------------------------------------------
step "Attack: the mirror keeps serving the old 1.5 (validly signed, once current)"
say "the mirror still answers $mirror/acme/heavylifter:1.5 with $d15"
show "taglog verify $mirror/acme/heavylifter:1.5"
set +e
taglog verify "$mirror/acme/heavylifter:1.5" >"$work/attack.out" 2>"$work/attack.err"
rc=$?
set -e
indent <"$work/attack.err"
[ "$rc" = 1 ] || die "expected exit code 1, got $rc"
say "${red}rejected${off}: exit code $rc (1 = verification failed; only 0 means pull)"
say "a fresh client with no local state rejects it the same way (the log says version 2 is current):"
fresh="$work/fresh-state"
code=$(TAGLOG_STATE_DIR="$fresh" taglog verify "$mirror/acme/heavylifter:1.5" --json 2>/dev/null |
  jq -r '"\(.result) (\(.code)), exit \(.exit)"') || true
say "  $code"
say "a pull that does not go through taglog takes the old image without a word:"
show "skopeo copy --src-tls-verify=false docker://$mirror/acme/heavylifter:1.5 dir:direct"
HOME="$work/skopeo" TMPDIR="$work/skopeo" skopeo --insecure-policy copy -q --src-tls-verify=false \
  "docker://$mirror/acme/heavylifter:1.5" "dir:$work/direct" 2>&1 | indent ||
  die "the direct skopeo copy failed"
say "  got sha256:$(sha256sum "$work/direct/manifest.json" | cut -d' ' -f1) (the old 1.5)"
say "the same pull through taglog mirror is refused by the pull itself:"
show "skopeo --registries-conf registries.conf copy docker://$mirror/acme/heavylifter:1.5 dir:replayed"
set +e
tskopeo copy -q "docker://$mirror/acme/heavylifter:1.5" "dir:$work/replayed" >"$work/pull-attack.err" 2>&1
rc=$?
set -e
denied "$work/pull-attack.err"
[ "$rc" != 0 ] || die "skopeo pulled the replayed image through taglog mirror"
grep -q 'denied: taglog' "$work/pull-attack.err" || die "skopeo failed without the mirror's DENIED message"
say "${red}refused${off}: skopeo exit code $rc, with the mirror's DENIED message"

step "Attack: the mirror re-tags 1.5 to the 1.4 image (validly signed for 1.4)"
scripts/lib/push-image.sh "$mirror" acme/heavylifter 1.5 1.4 >/dev/null
show "taglog verify $mirror/acme/heavylifter:1.5"
set +e
taglog verify "$mirror/acme/heavylifter:1.5" >/dev/null 2>"$work/attack2.err"
rc=$?
set -e
indent <"$work/attack2.err"
[ "$rc" = 1 ] || die "expected exit code 1, got $rc"
say "${red}rejected${off}: exit code $rc: the signed statement names the full ref, tag included"
show "skopeo --registries-conf registries.conf copy docker://$mirror/acme/heavylifter:1.5 dir:retagged"
set +e
tskopeo copy -q "docker://$mirror/acme/heavylifter:1.5" "dir:$work/retagged" >"$work/pull-attack2.err" 2>&1
rc=$?
set -e
denied "$work/pull-attack2.err"
[ "$rc" != 0 ] || die "skopeo pulled the re-tagged image through taglog mirror"
grep -q 'denied: taglog' "$work/pull-attack2.err" || die "skopeo failed without the mirror's DENIED message"
say "${red}refused${off}: the pull through taglog mirror fails the same way"
say "denials counted by taglog mirror (/metrics):"
curl -s "http://$tmirror/metrics" | grep '^taglog_denials_total' | indent || true

# ---------------------------------------------------------------------------------------------
step "What the monitor saw"
# Three bindings under the watched prefix: 1.4, 1.5 (version 1) and 1.5 (version 2).
# (0 while the file is missing or its last line is still being written)
watched() {
  local n
  n=$(jq -s '[.[] | select(.kind == "watched-binding")] | length' "$work/alerts.jsonl" 2>/dev/null | tail -1)
  if [[ "$n" =~ ^[0-9]+$ ]]; then echo "$n"; else echo 0; fi
}
for i in $(seq 1 300); do
  [ "$(watched)" -ge 3 ] && break
  sleep 0.2
done
[ "$(watched)" -ge 3 ] || die "the monitor reported $(watched) of 3 watched bindings in 60 s"
say "alerts (alerts.jsonl; each carries the binding with its inclusion proof as evidence):"
jq -r '"  \(.severity) \(.kind) index \(.index // "-"): \(.message)"' "$work/alerts.jsonl" | indent
others=$(jq -s '[.[] | select(.kind != "watched-binding")] | length' "$work/alerts.jsonl")
if [ "$others" = 0 ]; then
  say "no fork, map, signature or version alerts: the log itself is honest, the mirror lied"
fi
say "the tag move (version 2) is an alert on the watch list: a stolen publisher key could not"
say "rebind a watched tag unnoticed"

# ---------------------------------------------------------------------------------------------
ok=1
elapsed=$(($(date +%s) - started_at))
step "Done in ${elapsed} s ($(($(date +%s) - services_at)) s after the build). Try next"
cat >"$work/env.sh" <<EOF
# source this file to use the demo's client
export TAGLOG_POLICY=$TAGLOG_POLICY
export TAGLOG_STATE_DIR=$TAGLOG_STATE_DIR
export PATH=$bin:\$PATH
EOF
cat >"$work/stop.sh" <<EOF
#!/bin/sh
# stops the demo's services and removes its work directory
kill $(printf '%s ' "${pids[@]}")2>/dev/null
sleep 1
rm -rf '$work'
EOF
chmod +x "$work/stop.sh"
if [ "$keep" = 1 ]; then
  say "the services keep running (--keep). In another shell:"
  show "source $work/env.sh"
  show "taglog verify $image:1.5"
  show "taglog bundle $image:1.5 -o $work/bundle.json      # S10: offline use"
  show "taglog verify $image:1.5 --bundle $work/bundle.json --offline"
  show "taglog publish $image:1.4 --key $work/keys/publisher.key --withdraw   # S5"
  show "taglog verify $image:1.4        # exit 1: withdrawn by publisher"
  show "taglog pin $image:1.5 $d15   # S6: stay on the old build"
  show "taglog verify $image:1.5 --digest $d15   # exit 0, reported as pinned"
  show "curl -s $log_url/metrics | grep ^taglog_; tail -f $work/logs/monitor.log"
  show "skopeo --registries-conf $skopeo_conf --insecure-policy inspect docker://$mirror/acme/heavylifter:1.5"
  show "curl -s http://$tmirror/metrics | grep ^taglog_   # taglog mirror: verifications, denials"
  say "logs: $work/logs/   policy: $TAGLOG_POLICY"
  say "stop everything with: $work/stop.sh"
else
  say "scripts/demo.sh --keep          leave the services running and experiment with the client"
  say "scripts/test.sh                 run every test, including client/tests/scenarios.rs (S1-S10)"
  say "docs/client.md                  withdraw a tag, pin an older build, offline bundles"
  say "docs/operations.md              run a log, witnesses and a monitor for real"
  say "stopping the services and removing $work"
fi
