#!/usr/bin/env bash
# S1 and S3 (DESIGN §1) against Notary v1 and against taglog on this machine, side by side.
#
#   scripts/compare-notary.sh [--keep]
#
# Starts, on loopback ports chosen at run time: a docker-registry, a notary-server (its own
# TLS CA, in-memory storage, local signer), a taglog-server (no witnesses, max-age 1h) and two
# "malicious mirrors" replaying metadata captured earlier (one per system). Images are pushed
# through the distribution API with curl. For each case it runs a fresh client (empty trust or
# state directory) and a client that has already seen the newest version, and prints one line
# per case: accepted, or rejected with the exit code; the messages follow the table.
#
# Notary side: the check Docker Content Trust makes, `notary verify GUN TAG < manifest`
# (the bytes the registry or mirror served must be the signed target for TAG).
# taglog side: `taglog verify REF` (it asks the registry for the tag, then the log).
#
# Installs what is missing with apt-get (notary docker-registry hyperfine jq curl openssl),
# builds the taglog binaries (`cargo build --workspace --bins`; set TAGLOG_BIN_DIR to use
# binaries built elsewhere). Stops everything it started on exit; --keep keeps the work dir.
set -euo pipefail

keep=0
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "compare-notary.sh: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
die() {
  echo "compare-notary.sh: $*" >&2
  exit 1
}

# --- prerequisites ---------------------------------------------------------------------------
need=()
for c in notary:notary notary-server:notary docker-registry:docker-registry hyperfine:hyperfine \
  jq:jq curl:curl openssl:openssl python3:python3; do
  command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "installing: ${need[*]}" >&2
  $sudo apt-get install -y "${need[@]}" >&2 || {
    $sudo apt-get update >&2 && $sudo apt-get install -y "${need[@]}" >&2
  }
fi
if [ -n "${TAGLOG_BIN_DIR:-}" ]; then
  bin=$(cd "$TAGLOG_BIN_DIR" && pwd)
else
  (cd "$repo" && cargo build --workspace --bins --quiet) >&2
  bin=$repo/target/debug
fi
for b in taglog taglog-server; do
  [ -x "$bin/$b" ] || die "$bin/$b not found"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/taglog-vs-notary.XXXXXX")
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ $keep = 1 ] || [ $rc != 0 ]; then
    echo "work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
cd "$work"
mkdir -p logs

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_url() { # url [curl args...]: until it answers at all
  local url=$1
  shift
  for _ in $(seq 300); do
    if curl -s -o /dev/null --max-time 2 "$@" "$url"; then return 0; fi
    sleep 0.1
  done
  die "$url did not answer"
}

# --- a registry and the test images ----------------------------------------------------------
reg_port=$(free_port)
registry=127.0.0.1:$reg_port
cat >registry.yml <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $registry
  secret: compare-notary
EOF
docker-registry serve registry.yml >logs/registry.log 2>&1 &
pids+=($!)
wait_url "http://$registry/v2/"

# push_image REPO TAG SEED: pushes a tiny OCI image, writes manifest-SEED.json, prints its digest
push_image() {
  local repo=$1 tag=$2 seed=$3 layer config loc d
  layer=$(mktemp -p "$work")
  config=$(mktemp -p "$work")
  printf 'layer of %s\n' "$seed" >"$layer"
  printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"seed":"%s"}}}' "$seed" >"$config"
  for f in "$layer" "$config"; do
    d=sha256:$(sha256sum "$f" | cut -c1-64)
    loc=$(curl -fsS -X POST -D - -o /dev/null "http://$registry/v2/$repo/blobs/uploads/" |
      tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case $loc in http*) ;; *) loc=http://$registry$loc ;; esac
    case $loc in *\?*) loc="$loc&digest=$d" ;; *) loc="$loc?digest=$d" ;; esac
    curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$f" "$loc" >/dev/null
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$(sha256sum "$config" | cut -c1-64)" "$(stat -c %s "$config")" \
    "$(sha256sum "$layer" | cut -c1-64)" "$(stat -c %s "$layer")" >"manifest-$seed.json"
  put_manifest "$repo" "$tag" "$seed"
  echo "sha256:$(sha256sum "manifest-$seed.json" | cut -c1-64)"
}
# put_manifest REPO TAG SEED: (re)points TAG at the manifest of image SEED
put_manifest() {
  curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@manifest-$3.json" "http://$registry/v2/$1/manifests/$2" >/dev/null
}
# served REPO TAG: the manifest bytes the registry serves for TAG
served() {
  curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$registry/v2/$1/manifests/$2"
}

# --- the replaying "malicious mirror" (both systems) -------------------------------------------
cat >replay.py <<'PY'
# replay.py MODE DIR PORT [CERT KEY]: serve metadata frozen in DIR on loopback.
# MODE notary: GET /v2/ -> {}, GET /v2/<gun>/_trust/tuf/<file> -> DIR/<file> (TLS)
# MODE taglog: GET /checkpoint -> DIR/checkpoint, GET /lookup?... -> DIR/lookup.json
import http.server, os, ssl, sys
mode, root, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        path, name, body = self.path.split("?")[0], None, None
        if mode == "notary":
            if path.rstrip("/") == "/v2":
                body = b"{}"
            elif "/_trust/tuf/" in path:
                name = os.path.basename(path)
        else:
            name = {"/checkpoint": "checkpoint", "/lookup": "lookup.json"}.get(path)
        if name is not None and os.path.isfile(os.path.join(root, name)):
            body = open(os.path.join(root, name), "rb").read()
        if body is None:
            self.send_response(404); self.end_headers(); return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY

# outcome NAME CMD...: runs CMD (stdin from $stdin_file if set), records "accepted" or
# "rejected (exit N)" in result[NAME] and the first lines of its output in details.
declare -A result
stdin_file=
outcome() {
  local name=$1 rc=0
  shift
  if [ -n "$stdin_file" ]; then
    "$@" <"$stdin_file" >"out.$name" 2>&1 || rc=$?
  else
    "$@" </dev/null >"out.$name" 2>&1 || rc=$?
  fi
  if [ $rc = 0 ]; then
    result[$name]=accepted
  else
    local why
    why=$(grep -o -m1 -E 'checksum for [^ ]+ did not match|version [0-9]+ is lower than current version [0-9]+|stale view|stale checkpoint|the current binding \(version [0-9]+' "out.$name" | head -1 || true)
    case $why in
      checksum*) why="digest is not the signed target" ;;
      version*) why="rollback: $why" ;;
      "stale view") why="stale view: it verified a newer checkpoint" ;;
      "stale checkpoint") why="stale: log time older than max-age" ;;
      "the current binding"*) why="not ${why})" ;;
    esac
    result[$name]="rejected (exit $rc${why:+: $why})"
  fi
  {
    local shown="$*"
    echo "[$name] ${result[$name]}: ${shown//$bin\//}"
    grep -v '^[[:space:]]*$' "out.$name" | head -4 | sed 's/^/    /'  || true
  } >>details.txt
}

repo_path=acme/heavylifter
ref=$registry/$repo_path:1.5
old=$(push_image $repo_path 1.5 old)      # validly signed for 1.5, then replaced
ancient=$(push_image $repo_path 0.5.9 ancient) # validly signed for 0.5.9
new=$(push_image $repo_path 1.5 new)      # the current 1.5

# === Notary v1 ================================================================================
np=$(free_port)
nrp=$(free_port)
mkdir -p tls notary-trust
(
  cd tls
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=compare-notary root CA" -keyout root-ca.key -out root-ca.crt \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA root-ca.crt -CAkey root-ca.key -CAcreateserial \
    -days 30 -extfile server.ext -out server.crt 2>/dev/null
)
cat >notary-server.json <<EOF
{
  "server": {"http_addr": "127.0.0.1:$np",
             "tls_key_file": "tls/server.key", "tls_cert_file": "tls/server.crt"},
  "trust_service": {"type": "local"},
  "storage": {"backend": "memory"},
  "logging": {"level": "info"}
}
EOF
cat >notary-client.json <<EOF
{"trust_dir": "notary-trust", "remote_server": {"url": "https://127.0.0.1:$np", "root_ca": "tls/root-ca.crt"}}
EOF
export NOTARY_ROOT_PASSPHRASE=rootpass NOTARY_TARGETS_PASSPHRASE=targetspass \
  NOTARY_SNAPSHOT_PASSPHRASE=snapshotpass NOTARY_DELEGATION_PASSPHRASE=delegpass
notary-server -config notary-server.json >logs/notary-server.log 2>&1 &
pids+=($!)
wait_url "https://127.0.0.1:$np/_notary_server/health" --cacert tls/root-ca.crt
gun=$registry/$repo_path
N=(notary -c notary-client.json -d notary-trust)        # the publisher's and stateful client's
fresh_notary() {                                          # a client with an empty trust dir
  local d
  d=$(mktemp -d -p "$work" fresh-notary.XXXX)
  notary -c notary-client.json -d "$d" "$@"
}
hexof() { echo "${1#sha256:}"; }
size_of() { stat -c %s "manifest-$1.json"; }
"${N[@]}" init -p "$gun" >logs/notary-publish.log 2>&1
"${N[@]}" addhash -p "$gun" 1.5 "$(size_of old)" --sha256 "$(hexof "$old")" >>logs/notary-publish.log 2>&1
"${N[@]}" addhash -p "$gun" 0.5.9 "$(size_of ancient)" --sha256 "$(hexof "$ancient")" >>logs/notary-publish.log 2>&1
# The mirror freezes the metadata that binds 1.5 to the old image.
mkdir -p notary-old
base="https://127.0.0.1:$np/v2/$gun/_trust/tuf"
for r in root timestamp snapshot targets; do
  curl -fsS --cacert tls/root-ca.crt "$base/$r.json" -o "notary-old/$r.json"
done
for r in snapshot targets; do # consistent snapshots: also fetched by content hash
  h=$(sha256sum "notary-old/$r.json" | cut -c1-64)
  cp "notary-old/$r.json" "notary-old/$r.$h.json"
done
notary_old_expires=$(jq -r .signed.expires notary-old/timestamp.json)
notary_old_captured=$(date +%s)
# The publisher moves 1.5 to the new image; this client sees it (it is the "client with state").
"${N[@]}" addhash -p "$gun" 1.5 "$(size_of new)" --sha256 "$(hexof "$new")" >>logs/notary-publish.log 2>&1
"${N[@]}" lookup "$gun" 1.5 >>logs/notary-publish.log 2>&1

# === taglog ===================================================================================
lp=$(free_port)
trp=$(free_port)
pub_vkey=$("$bin/taglog" keygen --name publisher.compare -o "$work/publisher.key" 2>/dev/null)
printf 'publisher %s/acme %s\n' "$registry" "$pub_vkey" >publishers
RUST_LOG=warn "$bin/taglog-server" --data-dir "$work/log-data" --origin localhost/taglog-compare \
  --listen "127.0.0.1:$lp" --publishers publishers --max-age 1h >logs/taglog-server.log 2>&1 &
pids+=($!)
wait_url "http://127.0.0.1:$lp/checkpoint"
for _ in $(seq 100); do
  log_vkey=$(grep -m1 '^localhost/taglog-compare+' logs/taglog-server.log || true)
  [ -n "$log_vkey" ] && break
  sleep 0.1
done
[ -n "$log_vkey" ] || die "taglog-server printed no key"
cat >policy <<EOF
log $log_vkey http://127.0.0.1:$lp
quorum none
max-age 1h
publisher $registry/acme $pub_vkey
insecure-registry $registry
EOF
T=("$bin/taglog" --policy policy --state-dir taglog-state) # publisher's and stateful client's
fresh_taglog() {
  local d
  d=$(mktemp -d -p "$work" fresh-taglog.XXXX)
  "$bin/taglog" --policy policy --state-dir "$d" "$@"
}
{
  put_manifest $repo_path 1.5 old
  "${T[@]}" publish "$ref" --key publisher.key --digest "$old"
  "${T[@]}" publish "$registry/$repo_path:0.5.9" --key publisher.key --digest "$ancient"
} >logs/taglog-publish.log 2>&1
mkdir -p taglog-old
curl -fsS "http://127.0.0.1:$lp/checkpoint" -o taglog-old/checkpoint
curl -fsS -G --data-urlencode "ref=$ref" "http://127.0.0.1:$lp/lookup" -o taglog-old/lookup.json
taglog_old_time=$(date +%s)
{
  "${T[@]}" publish "$ref" --key publisher.key --digest "$new"
  put_manifest $repo_path 1.5 new
  "${T[@]}" verify "$ref"
} >>logs/taglog-publish.log 2>&1

# === S1: the registry serves an older, validly signed image for 1.5 ===========================
# (the trust server / log is honest and current)
for attack in old ancient; do
  put_manifest $repo_path 1.5 $attack
  served $repo_path 1.5 >served.json
  stdin_file=served.json
  outcome "S1-$attack-notary-fresh" fresh_notary verify -q "$gun" 1.5
  outcome "S1-$attack-notary-state" "${N[@]}" verify -q "$gun" 1.5
  stdin_file=
  outcome "S1-$attack-taglog-fresh" fresh_taglog verify "$ref"
  outcome "S1-$attack-taglog-state" "${T[@]}" verify "$ref"
done

# === S3: a mirror replays the old binding (metadata captured while 1.5 was the old image) =====
python3 replay.py notary notary-old "$nrp" tls/server.crt tls/server.key >logs/notary-replay.log 2>&1 &
pids+=($!)
python3 replay.py taglog taglog-old "$trp" >logs/taglog-replay.log 2>&1 &
pids+=($!)
wait_url "https://127.0.0.1:$nrp/v2/" --cacert tls/root-ca.crt
wait_url "http://127.0.0.1:$trp/checkpoint"
put_manifest $repo_path 1.5 old
served $repo_path 1.5 >served.json
stdin_file=served.json
outcome S3-notary-fresh fresh_notary -s "https://127.0.0.1:$nrp" verify -q "$gun" 1.5
outcome S3-notary-state "${N[@]}" -s "https://127.0.0.1:$nrp" verify -q "$gun" 1.5
stdin_file=
outcome S3-taglog-fresh fresh_taglog --log "http://127.0.0.1:$trp" verify "$ref"
outcome S3-taglog-state "${T[@]}" --log "http://127.0.0.1:$trp" verify "$ref"
# The same replay once max-age (1h) has passed since the log's newest signed time: the debug
# build's test clock (TAGLOG_TEST_NOW, absent from release builds) moves the client's clock;
# Notary (Go) reads the real clock, so for it the table shows the expiry its replayed
# timestamp.json carries instead of a run.
later=$((taglog_old_time + 3600 + 400))
TAGLOG_TEST_NOW="$later" outcome S3late-taglog-fresh fresh_taglog --log "http://127.0.0.1:$trp" verify "$ref"
TAGLOG_TEST_NOW="$later" outcome S3late-taglog-state "${T[@]}" --log "http://127.0.0.1:$trp" verify "$ref"

notary_window=$((($(date -d "$notary_old_expires" +%s) - notary_old_captured + 43200) / 86400))

# === table ====================================================================================
cell() { echo "${result[$1]}"; }
echo
pkg() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo unknown; }
echo "$(date -u +%Y-%m-%d) on $(uname -sm): Notary v1 (Debian notary $(pkg notary)), docker-registry $(pkg docker-registry), taglog $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "| scenario | Notary v1 fresh client | Notary v1 client with state | taglog fresh client | taglog client with state |"
echo "|---|---|---|---|---|"
echo "| S1: registry serves 1.5's previous image (validly signed for 1.5 before) | $(cell S1-old-notary-fresh) | $(cell S1-old-notary-state) | $(cell S1-old-taglog-fresh) | $(cell S1-old-taglog-state) |"
echo "| S1: registry serves the image signed for 0.5.9 as 1.5 | $(cell S1-ancient-notary-fresh) | $(cell S1-ancient-notary-state) | $(cell S1-ancient-taglog-fresh) | $(cell S1-ancient-taglog-state) |"
echo "| S3: mirror replays the old binding of 1.5 with the old image, right away | $(cell S3-notary-fresh) | $(cell S3-notary-state) | $(cell S3-taglog-fresh) | $(cell S3-taglog-state) |"
echo "| S3: the same replay after max-age (taglog 1 h, run with the test clock TAGLOG_TEST_NOW) | not run (notary reads the real clock): the replayed timestamp.json expires $notary_window days after capture ($notary_old_expires) | not run | $(cell S3late-taglog-fresh) | $(cell S3late-taglog-state) |"
echo
echo "Messages (first lines):"
sed 's/^/  /' details.txt
