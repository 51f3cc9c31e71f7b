#!/usr/bin/env bash
# Regenerates the Notary v1 vectors in this directory with the real Notary (Debian's `notary`
# 0.7 client and `notary-server`, in-memory storage, local signer, a throwaway TLS CA on
# loopback). Run by hand; the tests read only the files it writes:
#   good/          root, timestamp, snapshot, targets (tags 1.0, 1.5) and targets/releases
#                  (tag 2.0, signed by delegation key d1)
#   rotated/       the same repository after the delegation key was rotated to d2 without
#                  re-signing targets/releases: that file now misses its threshold
#   root-rotated/  after `notary key rotate GUN root`: 1.root.json (old) and root.json (new)
#   other/         root.json of another repository (other keys)
#   generated-at   the Unix time of the run (the tests' clock: certificates and expiry)
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill ${spid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
ec() { openssl req "$@" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes 2>/dev/null; }
ec -x509 -days 30 -subj "/CN=vectors CA" -keyout ca.key -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
ec -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
  -extfile server.ext -out server.crt 2>/dev/null
for k in d1 d2; do ec -x509 -days 3650 -subj "/CN=$k" -keyout $k.key -out $k.crt; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >server.json <<J
{"server": {"http_addr": "127.0.0.1:$port", "tls_key_file": "server.key", "tls_cert_file": "server.crt"},
 "trust_service": {"type": "local"}, "storage": {"backend": "memory"}, "logging": {"level": "error"}}
J
cat >client.json <<J
{"trust_dir": "trust", "remote_server": {"url": "https://127.0.0.1:$port", "root_ca": "ca.crt"}}
J
notary-server -config server.json >server.log 2>&1 &
spid=$!
for _ in $(seq 50); do curl -fs --cacert ca.crt "https://127.0.0.1:$port/_notary_server/health" >/dev/null && break; sleep 0.1; done
export NOTARY_ROOT_PASSPHRASE=r NOTARY_TARGETS_PASSPHRASE=t NOTARY_SNAPSHOT_PASSPHRASE=s NOTARY_DELEGATION_PASSPHRASE=d
gun=registry.example/acme/app
n() { notary -c client.json -d trust "$@" >/dev/null 2>&1; }
n init -p $gun
n addhash $gun 1.0 400 --sha256 "$(printf 'a%.0s' $(seq 64))"
n addhash -p $gun 1.5 401 --sha256 "$(printf 'b%.0s' $(seq 64))"
n delegation add -p $gun targets/releases d1.crt --all-paths
n key import d1.key -r targets/releases
n addhash -p $gun 2.0 402 --sha256 "$(printf 'c%.0s' $(seq 64))" -r targets/releases
meta=trust/tuf/$gun/metadata
copy() { n list $gun || true; rm -rf "${out:?}/$1"; mkdir -p "$out/$1/targets"; cp $meta/*.json "$out/$1/"; cp $meta/targets/*.json "$out/$1/targets/" 2>/dev/null || true; }
copy good
# `delegation remove` wants the ID `delegation list` shows (of the bare key, not the certificate).
id1=$(notary -c client.json -d trust delegation list $gun 2>/dev/null | grep -o '[0-9a-f]\{64\}' | head -1)
n delegation add -p $gun targets/releases d2.crt
n delegation remove -p $gun targets/releases "$id1"
copy rotated
rm -rf "$out/root-rotated"; mkdir -p "$out/root-rotated"
curl -fs --cacert ca.crt "https://127.0.0.1:$port/v2/$gun/_trust/tuf/root.json" -o "$out/root-rotated/1.root.json"
echo yes | notary -c client.json -d trust key rotate $gun root >/dev/null 2>&1
curl -fs --cacert ca.crt "https://127.0.0.1:$port/v2/$gun/_trust/tuf/root.json" -o "$out/root-rotated/root.json"
rm -rf "$out/other"; mkdir -p "$out/other"
n init -p registry.example/acme/other
cp trust/tuf/registry.example/acme/other/metadata/root.json "$out/other/root.json"
date +%s >"$out/generated-at"
echo "wrote vectors to $out"
